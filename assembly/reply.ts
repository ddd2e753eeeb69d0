// Local replies: answer the client from the filter without reaching the upstream.
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { GrpcStatusValues } from "@solo-io/proxy-runtime/assembly";

/**
 * Sends `status` with `body` and a content type. `details` shows in Envoy's access log as
 * %RESPONSE_CODE_DETAILS%, so operators can tell graft's replies apart (e.g. `graft_rate_limited`).
 * `extraHeaders` is a flat list: name, value, name, value…
 */
export function sendReply(
  status: u32,
  details: string,
  body: string,
  contentType: string,
  extraHeaders: string[] = [],
): void {
  // The headers as the ABI serializes a header map: the pair count, each name's and value's
  // length, then each name and value with a NUL after it.
  const pairs = 1 + (extraHeaders.length >> 1);
  const texts = new StaticArray<ArrayBuffer>(pairs << 1);
  texts[0] = String.UTF8.encode("content-type");
  texts[1] = String.UTF8.encode(contentType);
  for (let i = 2; i < texts.length; i++) texts[i] = String.UTF8.encode(extraHeaders[i - 2]);
  let size = 4 + (texts.length << 2);
  for (let i = 0; i < texts.length; i++) size += texts[i].byteLength + 1;
  const map = new ArrayBuffer(size);
  const start = changetype<usize>(map);
  store<u32>(start, pairs);
  let at = start + 4 + ((<usize>texts.length) << 2);
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    const length = <usize>text.byteLength;
    store<u32>(start + 4 + ((<usize>i) << 2), <u32>length);
    memory.copy(at, changetype<usize>(text), length);
    store<u8>(at + length, 0);
    at += length + 1;
  }
  const detailBytes = String.UTF8.encode(details);
  const bodyBytes = String.UTF8.encode(body);
  imports.proxy_send_local_response(
    status,
    changetype<usize>(detailBytes),
    detailBytes.byteLength,
    changetype<usize>(bodyBytes),
    bodyBytes.byteLength,
    start,
    size,
    GrpcStatusValues.InvalidCode,
  );
}
