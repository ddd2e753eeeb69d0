// payload-validator's verdicts and its RFC 9457 problem details. Pure logic, tested by as-pect.
import { jsonEscape } from "../../../assembly/json";

export const REASON_BODY_TOO_LARGE = "body_too_large";
export const REASON_UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type";
export const REASON_BODY_REQUIRED = "body_required";
export const REASON_BODY_FORBIDDEN = "body_forbidden";
export const REASON_INVALID_JSON = "invalid_json";
export const REASON_SCHEMA = "schema";
export const REASON_DENIED = "denied";

export const REASONS: string[] = [
  REASON_BODY_TOO_LARGE,
  REASON_UNSUPPORTED_MEDIA_TYPE,
  REASON_BODY_REQUIRED,
  REASON_BODY_FORBIDDEN,
  REASON_INVALID_JSON,
  REASON_SCHEMA,
  REASON_DENIED,
];

export const PROBLEM_TYPE_BASE = "https://graft.dev/problems/";
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The most characters of client input a problem detail or a log line quotes. */
export const EXCERPT_CHARS: i32 = 32;

export function statusOf(reason: string): u32 {
  if (reason == REASON_BODY_TOO_LARGE) return 413;
  if (reason == REASON_UNSUPPORTED_MEDIA_TYPE) return 415;
  if (reason == REASON_SCHEMA) return 422;
  if (reason == REASON_DENIED) return 403;
  return 400;
}

export function titleOf(reason: string): string {
  if (reason == REASON_BODY_TOO_LARGE) return "Request body too large";
  if (reason == REASON_UNSUPPORTED_MEDIA_TYPE) return "Unsupported media type";
  if (reason == REASON_BODY_REQUIRED) return "Request body required";
  if (reason == REASON_BODY_FORBIDDEN) return "Request body not allowed";
  if (reason == REASON_INVALID_JSON) return "Request body is not valid JSON";
  if (reason == REASON_SCHEMA) return "Request body does not match the schema";
  return "Request denied";
}

/** Why a request is (or would be) rejected. `detail` may quote client input: only as excerpt() made it. */
export class Verdict {
  constructor(
    public reason: string,
    public detail: string,
  ) {}

  status(): u32 {
    return statusOf(this.reason);
  }

  /** The RFC 9457 body. */
  problemJson(): string {
    return (
      '{"type":"' +
      PROBLEM_TYPE_BASE +
      this.reason +
      '","title":"' +
      titleOf(this.reason) +
      '","status":' +
      this.status().toString() +
      ',"reason":"' +
      this.reason +
      '","detail":"' +
      jsonEscape(this.detail) +
      '"}'
    );
  }

  toString(): string {
    return this.reason + ": " + jsonEscape(this.detail);
  }
}

@inline function isLowSurrogate(c: i32): bool {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** At most EXCERPT_CHARS characters of `s` from its start, "…" marking a cut; never splits a surrogate pair. */
export function excerpt(s: string): string {
  if (s.length <= EXCERPT_CHARS) return s;
  let end = EXCERPT_CHARS - 1;
  if (isLowSurrogate(s.charCodeAt(end))) end--;
  return s.substring(0, end) + "…";
}

/** At most EXCERPT_CHARS characters of `s` from its end (for JSON Pointers: the innermost part counts). */
export function excerptTail(s: string): string {
  if (s.length <= EXCERPT_CHARS) return s;
  let start = s.length - (EXCERPT_CHARS - 1);
  if (isLowSurrogate(s.charCodeAt(start))) start++;
  return "…" + s.substring(start);
}

/** A JSON Pointer for a detail: "/" for the root, the tail when long. */
export function pointerExcerpt(pointer: string): string {
  return pointer.length == 0 ? "/" : excerptTail(pointer);
}
