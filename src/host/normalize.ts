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
  if (input.size > MAX_REQUEST_HEADERS_COUNT) return tooLarge("http1.too_many_headers");
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
    if (name === "referer" && !validReferer(value)) continue;
    if (JOINED_REQUEST_HEADERS.has(name)) {
      const index = out.names.indexOf(name);
      if (index >= 0) {
        out.values[index] = `${out.values[index]},${value}`;
        continue;
      }
    }
    out.add(name, value);
  }
  return out;
}

/** Envoy keeps a Referer that is an absolute URI or a relative reference, without a fragment. */
export function validReferer(value: string): boolean {
  if (value.includes("#") || /\s/.test(value) || value.length === 0) return false;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(value)) {
    try {
      new URL(value);
      return true;
    } catch {
      return false;
    }
  }
  return !value.startsWith(":");
}

function tooLarge(details: string): CodecRejection {
  return { status: 431, details, body: "Request Header Fields Too Large" };
}

function badRequest(details: string): CodecRejection {
  return { status: 400, details, body: "Bad Request" };
}
