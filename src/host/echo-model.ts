// The echo upstream (src/upstream/echo.ts) as a function, so a scenario means the same thing in the
// emulator and in real Envoy: it answers with what it received as JSON, adds
// `x-echo-upstream: graft-echo`, takes its status from `x-echo-status` and adds response header
// <name> for each request header `x-echo-response-<name>`.
import type { EchoedRequest } from "../upstream/echo.ts";
import { HeaderMap } from "./headers.ts";
import type { UpstreamRequest, UpstreamResponse } from "./vm.ts";

/** Headers Node's HTTP parser keeps once (the first wins) when a message repeats them. */
const SINGLE_VALUED = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/**
 * Headers as Node's `IncomingMessage.headers` shows them: lowercase, repeated values joined with
 * ", " (cookie with "; ", set-cookie as a list), single-valued headers keeping their first value;
 * pseudo-headers dropped.
 */
export function nodeHeaders(map: HeaderMap): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (let i = 0; i < map.size; i++) {
    const name = map.names[i]!;
    const value = map.values[i]!;
    if (name.startsWith(":")) continue;
    const existing = record[name];
    if (existing === undefined) record[name] = name === "set-cookie" ? [value] : value;
    else if (name === "set-cookie") (existing as string[]).push(value);
    else if (name === "cookie") record[name] = `${existing as string}; ${value}`;
    else if (!SINGLE_VALUED.has(name)) record[name] = `${existing as string}, ${value}`;
  }
  return record;
}

/** The request headers the echo's HTTP server receives: Envoy turns :authority back into host. */
export function upstreamHeaderMap(request: UpstreamRequest): HeaderMap {
  const map = new HeaderMap();
  map.add("host", request.authority);
  for (let i = 0; i < request.headers.size; i++) {
    const name = request.headers.names[i]!;
    if (!name.startsWith(":")) map.add(name, request.headers.values[i]!);
  }
  return map;
}

const encoder = new TextEncoder();

/** Node's --max-http-header-size default: the echo's server refuses a larger request head with 431. */
export const NODE_MAX_HEADER_BYTES = 16 * 1024;

export function echoUpstream(request: UpstreamRequest): UpstreamResponse {
  const map = upstreamHeaderMap(request);
  // Node's parser counts the URL and every header name and value (llhttp's header_nread).
  let headBytes = request.path.length;
  for (let i = 0; i < map.size; i++) headBytes += map.names[i]!.length + map.values[i]!.length;
  if (headBytes >= NODE_MAX_HEADER_BYTES)
    return { status: 431, headers: new HeaderMap(), body: new Uint8Array(0), refused: true };
  const received = nodeHeaders(map);
  const echoed: EchoedRequest = {
    method: request.method,
    path: request.path,
    headers: received,
    bodyBase64: Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength).toString(
      "base64",
    ),
  };
  const answer: Record<string, string> = {
    "content-type": "application/json",
    "x-echo-upstream": "graft-echo",
  };
  for (const [name, value] of Object.entries(received)) {
    if (name.startsWith("x-echo-response-") && typeof value === "string")
      answer[name.slice("x-echo-response-".length)] = value;
  }
  const headers = HeaderMap.from(answer);
  const statusHeader = received["x-echo-status"];
  const status = Number(typeof statusHeader === "string" ? statusHeader : 200);
  return { status, headers, body: encoder.encode(JSON.stringify(echoed)) };
}
