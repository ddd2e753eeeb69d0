// payload-validator's checks on one request, as events: headers, body chunks, end of stream. Free
// of host calls (the filter feeds it), so as-pect can drive whole requests through it.
import { StreamMatcher, matchesDecoded, matchesPlain, pathPart, queryPart } from "./deny";
import { RequestView, lowerAscii } from "../../../assembly/request";
import { decimal } from "../../../assembly/text";
import {
  REASON_BODY_FORBIDDEN,
  REASON_BODY_REQUIRED,
  REASON_BODY_TOO_LARGE,
  REASON_DENIED,
  REASON_UNSUPPORTED_MEDIA_TYPE,
  Verdict,
  excerpt,
} from "./problem";
import { JsonBodyValidator } from "./schema";
import { PayloadConfig } from "./settings";

export { RequestView };

/** The media type of a content-type value: without parameters, trimmed, lowercase. */
export function mediaType(value: string): string {
  const semicolon = value.indexOf(";");
  return lowerAscii(trimOws(semicolon < 0 ? value : value.substring(0, semicolon)));
}

/** `text` without leading and trailing HTTP whitespace (spaces and tabs, RFC 9110 OWS). */
function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) == 32 || text.charCodeAt(start) == 9)) start++;
  while (end > start && (text.charCodeAt(end - 1) == 32 || text.charCodeAt(end - 1) == 9)) end--;
  return start == 0 && end == text.length ? text : text.substring(start, end);
}

/** application/json and every `…+json` type (application/merge-patch+json, …). */
export function isJsonMediaType(type: string): bool {
  return type == "application/json" || (type.endsWith("+json") && type.indexOf("/") > 0);
}

export function mediaTypeAllowed(config: PayloadConfig, type: string): bool {
  if (config.jsonTypesOnly) return isJsonMediaType(type);
  const allowed = config.contentTypes;
  if (allowed.length == 0) return true;
  for (let i = 0; i < allowed.length; i++) {
    const entry = allowed[i];
    if (entry == type) return true;
    if (entry.endsWith("/*") && type.startsWith(entry.substring(0, entry.length - 1))) return true;
  }
  return false;
}

/** A content-length value, or -1 when absent or not a plain decimal number. */
export function parseContentLength(value: string | null): i64 {
  if (value === null || value.length == 0 || value.length > 15) return -1;
  let n: i64 = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + <i64>(c - 48);
  }
  return n;
}

export class RequestCheck {
  /** Why the request is (or would be) refused; set once. */
  verdict: Verdict | null = null;
  /** Body bytes seen so far. */
  bodyBytes: i64 = 0;
  /** A verdict was reached, or the request passed every check. */
  finished: bool = false;
  /** The content-length header's value, or -1 when absent or unread. */
  contentLength: i64 = -1;
  /**
   * A body verdict reached while the body's size is still unknown (no content-length): it waits
   * for the end of the body, because a body over max_body_bytes gets body_too_large whatever else
   * is wrong with it (size first), so the reason cannot depend on how the body was chunked.
   */
  private pending: Verdict | null = null;
  private json: JsonBodyValidator | null = null;
  private matcher: StreamMatcher | null = null;
  private forbidBody: bool = false;
  private requireBody: bool = false;
  private method: string = "";

  constructor(public config: PayloadConfig) {}

  /** Whether body bytes must be read (not only counted). */
  readsBody(): bool {
    return this.json !== null || this.matcher !== null;
  }

  /**
   * Whether the next `length` body bytes must be read: false when only their count matters (no
   * body check, a verdict already waiting, a forbidden body) or when they would take the body past
   * max_body_bytes, so an oversized chunk is refused without being copied into the VM.
   */
  needsBytes(length: i32): bool {
    if (this.finished || this.pending !== null || this.forbidBody || !this.readsBody()) return false;
    const limit = this.config.maxBodyBytes;
    return !(limit > 0 && this.bodyBytes + <i64>length > limit);
  }

  /** The size of the body is known to be within max_body_bytes: a body verdict can stand now. */
  private sizeSettled(): bool {
    return this.config.maxBodyBytes == 0 || this.contentLength >= 0;
  }

  /** A body verdict: now when the body's size is settled, else kept until the body ends. */
  private bodyVerdict(reason: string, detail: string): Verdict | null {
    if (this.sizeSettled()) return this.refuse(reason, detail);
    this.pending = new Verdict(reason, detail);
    this.release();
    return null;
  }

  private refuse(reason: string, detail: string): Verdict {
    const verdict = new Verdict(reason, detail);
    this.verdict = verdict;
    this.finished = true;
    return verdict;
  }

  /** The request headers; `endOfStream` when no body follows. A verdict, or null to go on. */
  headers(view: RequestView, endOfStream: bool): Verdict | null {
    const config = this.config;
    for (let i = 0; i < config.headerRules.length; i++) {
      const rule = config.headerRules[i];
      const values = view.headerValues(rule.name);
      for (let j = 0; j < values.length; j++) {
        if (matchesPlain(values[j], rule)) return this.refuse(REASON_DENIED, rule.describe());
      }
    }
    if (config.pathRules.length > 0 || config.queryRules.length > 0) {
      const target = view.path();
      const path = pathPart(target);
      for (let i = 0; i < config.pathRules.length; i++) {
        if (matchesDecoded(path, config.pathRules[i], false))
          return this.refuse(REASON_DENIED, config.pathRules[i].describe());
      }
      const query = queryPart(target);
      for (let i = 0; i < config.queryRules.length && query.length > 0; i++) {
        if (matchesDecoded(query, config.queryRules[i], true))
          return this.refuse(REASON_DENIED, config.queryRules[i].describe());
      }
    }

    // Each header read is a host call: read only what a configured check needs.
    if (config.bodyForbiddenMethods.length > 0 || config.bodyRequiredMethods.length > 0) {
      const method = view.method();
      this.method = method;
      this.forbidBody = config.bodyForbiddenMethods.includes(method);
      this.requireBody = config.bodyRequiredMethods.includes(method);
    }
    const needsLength = this.forbidBody || this.requireBody || config.maxBodyBytes > 0;
    const length = needsLength ? parseContentLength(view.header("content-length")) : -1;
    this.contentLength = length;
    if (endOfStream || length == 0) {
      if (endOfStream) this.finished = true;
      if (this.requireBody)
        return this.refuse(REASON_BODY_REQUIRED, excerpt(this.method) + " requires a request body");
      return null;
    }
    if (this.forbidBody && length > 0) return this.forbidden();
    if (config.maxBodyBytes > 0 && length > config.maxBodyBytes) {
      return this.refuse(
        REASON_BODY_TOO_LARGE,
        "content-length " +
          decimal(length) +
          " exceeds the limit of " +
          decimal(config.maxBodyBytes) +
          " bytes",
      );
    }
    let type = "";
    if (config.jsonTypesOnly || config.contentTypes.length > 0) {
      const header = view.header("content-type");
      if (header === null) return this.refuse(REASON_UNSUPPORTED_MEDIA_TYPE, "content-type is missing");
      type = mediaType(header);
      if (!mediaTypeAllowed(config, type)) {
        return this.refuse(
          REASON_UNSUPPORTED_MEDIA_TYPE,
          "content-type " + excerpt(type) + " is not allowed",
        );
      }
    }
    const json = config.json;
    if (json !== null && isJsonMediaType(type)) this.json = json.validator();
    if (config.bodyRules.length > 0) this.matcher = new StreamMatcher(config.bodyRules);
    return null;
  }

  private forbidden(): Verdict {
    return this.refuse(REASON_BODY_FORBIDDEN, excerpt(this.method) + " must not carry a request body");
  }

  /**
   * `length` more body bytes at `ptr` (`ptr` may be 0 when needsBytes(length) is false). Size
   * first: the bytes are counted before anything reads them, and a body past max_body_bytes is
   * body_too_large even when an earlier byte already failed another check.
   */
  body(ptr: usize, length: i32): Verdict | null {
    if (this.finished || length <= 0) return null;
    this.bodyBytes += length;
    const limit = this.config.maxBodyBytes;
    if (limit > 0 && this.bodyBytes > limit) {
      this.pending = null;
      return this.refuse(REASON_BODY_TOO_LARGE, "body exceeds the limit of " + decimal(limit) + " bytes");
    }
    if (this.pending !== null) return null;
    if (this.forbidBody)
      return this.bodyVerdict(REASON_BODY_FORBIDDEN, excerpt(this.method) + " must not carry a request body");
    const matcher = this.matcher;
    if (matcher !== null) {
      const rule = matcher.feed(ptr, length);
      if (rule !== null) return this.bodyVerdict(REASON_DENIED, rule.describe());
    }
    const json = this.json;
    if (json !== null && !json.feedBytes(ptr, length))
      return this.bodyVerdict(json.verdict!.reason, json.verdict!.detail);
    return null;
  }

  /**
   * Every byte the content-length announced has arrived. Envoy's codecs refuse a body that
   * overruns its content-length, so the body is complete before the end of stream is signalled.
   */
  bodyComplete(): bool {
    return this.contentLength >= 0 && this.bodyBytes == this.contentLength;
  }

  /** The request is over for the filter: hands its body validator back for the next request. */
  release(): void {
    const json = this.json;
    if (json === null) return;
    this.json = null;
    this.config.json!.recycle(json);
  }

  bodyChunk(bytes: Uint8Array): Verdict | null {
    return this.body(bytes.dataStart, bytes.length);
  }

  /** The request ended (end of stream in a body callback, or trailers). A verdict, or null: it passed. */
  end(): Verdict | null {
    if (this.finished) return this.verdict;
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      return this.refuse(pending.reason, pending.detail);
    }
    this.finished = true;
    if (this.bodyBytes == 0) {
      if (this.requireBody)
        return this.refuse(REASON_BODY_REQUIRED, excerpt(this.method) + " requires a request body");
      return null;
    }
    const json = this.json;
    if (json !== null && !json.finish()) return this.refuse(json.verdict!.reason, json.verdict!.detail);
    return null;
  }
}
