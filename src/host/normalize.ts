// What Envoy 1.40's HTTP/1 codec and connection manager do to a client's request headers before
// any filter sees them, settled against the real binary (tests/host/parity.test.ts): repeated
// inline headers joined with ",", a Referer that is not a valid URI without fragment dropped,
// header count and size limits (431), and codec errors (400) for control characters and a
// repeated content-length. The request then never reaches the filter.
import { HeaderMap } from "./headers.ts";

/** Envoy's defaults: max_request_headers_kb 60, max_headers_count 100. */
export const MAX_REQUEST_HEADERS_BYTES = 60 * 1024;
export const MAX_REQUEST_HEADERS_COUNT = 100;

/**
 * Inline (O(1)) request headers Envoy keeps one entry for, joining repeats with ",". Other
 * headers stay separate entries (each reaches the filter and the upstream on its own).
 */
export const JOINED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  "accept",
  "accept-encoding",
  "authorization",
  "content-type",
  "referer",
  "te",
  "user-agent",
  "via",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
]);

export interface CodecRejection {
  status: 400 | 431;
  details: string;
  body: string;
}

/** The headers as Envoy hands them on, or the codec's local reply. Names are lowercase. */
export function normalizeRequestHeaders(input: HeaderMap): HeaderMap | CodecRejection {
  let bytes = 0;
  for (let i = 0; i < input.size; i++) bytes += input.names[i]!.length + input.values[i]!.length;
  // Order as Envoy 1.40 answers (settled by the differential): the size limit while the header
  // block arrives, then codec errors on single headers, then the count of the map's entries
  // (joined headers are one entry; Host counts).
  if (bytes > MAX_REQUEST_HEADERS_BYTES) return tooLarge("http1.headers_too_large");
  const out = new HeaderMap();
  let contentLengths = 0;
  for (let i = 0; i < input.size; i++) {
    const name = input.names[i]!;
    // Values are trimmed of surrounding spaces and tabs, as the codec does.
    const value = input.values[i]!.replace(/^[ \t]+|[ \t]+$/g, "");
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return badRequest("http1.invalid_characters");
    if (name === "content-length" && ++contentLengths > 1)
      return badRequest("http1.content_length_not_allowed");
    if (JOINED_REQUEST_HEADERS.has(name)) {
      const index = out.names.indexOf(name);
      if (index >= 0) {
        // HeaderMapImpl::appendToHeader: an empty value adds nothing, and no delimiter follows an empty value.
        if (value !== "")
          out.values[index] = out.values[index] === "" ? value : `${out.values[index]},${value}`;
        continue;
      }
    }
    out.add(name, value);
  }
  // The connection manager drops a Referer that is not a valid URI reference, after the joining.
  if (out.size + 1 > MAX_REQUEST_HEADERS_COUNT) return tooLarge("http1.too_many_headers");
  const referer = out.names.indexOf("referer");
  if (referer >= 0 && !validReferer(out.values[referer]!)) out.remove("referer");
  return out;
}

/**
 * Envoy's Utility::isValidRefererValue: an absolute URL without fragment or userinfo, or a relative
 * reference with no ':' before its first '/' and only RFC 3986 query characters (no '#', space,
 * '"', '<', '>', '[', '\\', ']', '^', '`', '{', '|', '}' or bytes above 0x7e). An empty value is valid.
 */
export function validReferer(value: string): boolean {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(value)) {
    try {
      const url = new URL(value);
      return !value.includes("#") && url.username === "" && url.password === "" && url.host !== "";
    } catch {
      // Not an absolute URL: judged as a relative reference below.
    }
  }
  let seenSlash = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x3a /* : */) {
      if (!seenSlash) return false;
      continue;
    }
    if (c === 0x2f /* / */) {
      seenSlash = true;
      continue;
    }
    if (!QUERY_CHARS[c]) return false;
  }
  return true;
}

/** RFC 3986 query characters (pchar / "/" / "?"), Envoy's kUriQueryAndFragmentCharTable. */
const QUERY_CHARS: boolean[] = Array.from(
  { length: 256 },
  (_, c) => c < 0x7f && /[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/.test(String.fromCharCode(c)),
);

function tooLarge(details: string): CodecRejection {
  return { status: 431, details, body: "Request Header Fields Too Large" };
}

function badRequest(details: string): CodecRejection {
  return { status: 400, details, body: "Bad Request" };
}
