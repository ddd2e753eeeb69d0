// Local replies: answer the client from the filter without reaching the upstream.
import { send_local_response, GrpcStatusValues, HeaderPair, Headers } from "@solo-io/proxy-runtime/assembly";

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
  const headers: Headers = [];
  headers.push(new HeaderPair(String.UTF8.encode("content-type"), String.UTF8.encode(contentType)));
  for (let i = 0; i + 1 < extraHeaders.length; i += 2) {
    headers.push(
      new HeaderPair(String.UTF8.encode(extraHeaders[i]), String.UTF8.encode(extraHeaders[i + 1])),
    );
  }
  send_local_response(status, details, String.UTF8.encode(body), headers, GrpcStatusValues.InvalidCode);
}
