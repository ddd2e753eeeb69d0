// Stream lifecycle on one emulated worker: a request's headers, body chunks and trailers through
// the filter as Envoy's codecs deliver them, the upstream, the response phase, local replies,
// FAIL_OPEN bypass and failed streams, then on_done, on_log and on_delete.
import { FilterDataStatus, FilterHeadersStatus } from "./abi.ts";
import { HeaderMap } from "./headers.ts";
import { concat, EMPTY } from "./memory.ts";
import {
  VmFailure,
  type LocalReply,
  type Stream,
  type StreamRequest,
  type StreamResult,
  type Upstream,
  type UpstreamRequest,
  type WorkerVm,
} from "./vm.ts";

/** Runs one HTTP stream through the filter and the upstream. */
export function runStream(vm: WorkerVm, request: StreamRequest, upstream: Upstream): StreamResult {
  if (vm.failed) {
    if (vm.plugin.failurePolicy === "FAIL_OPEN") return bypass(vm, request, upstream);
    return failReply(vm, undefined);
  }
  const id = vm.nextContextId++;
  const requestHeaders = request.headers;
  const stream: Stream = {
    id,
    request,
    requestHeaders,
    requestTrailers: request.trailers ?? new HeaderMap(),
    responseHeaders: new HeaderMap(),
    responseTrailers: new HeaderMap(),
    requestBody: EMPTY,
    responseBody: EMPTY,
    continued: [false, false],
    closed: false,
    properties: new Map(),
    status: 0,
    details: "",
    sourcePort: 30000 + (id % 30000),
    startMs: vm.host.clock.now(),
    requestId: requestHeaders.get("x-request-id") ?? "",
  };
  vm.streams.set(id, stream);
  vm.current = stream;
  try {
    vm.guard("proxy_on_context_create", () => vm.onContextCreate(id, vm.rootContextId));
    const result = runFilter(vm, stream, upstream);
    finish(vm, stream);
    return result;
  } catch (error) {
    if (!(error instanceof VmFailure)) throw error;
    vm.streams.delete(id);
    vm.current = undefined;
    return failReply(vm, stream);
  }
}

function runFilter(vm: WorkerVm, stream: Stream, upstream: Upstream): StreamResult {
  const request = stream.request;
  const chunks = request.body;
  const hasTrailers = request.trailers !== undefined && request.trailers.size > 0;
  const endAfterHeaders = chunks.length === 0 && !hasTrailers;

  // Request headers.
  let headersStatus = FilterHeadersStatus.Continue as number;
  if (vm.onRequestHeaders) {
    const fn = vm.onRequestHeaders;
    headersStatus = vm.call3(
      "proxy_on_request_headers",
      fn,
      stream,
      stream.requestHeaders.size,
      endAfterHeaders ? 1 : 0,
    );
  }
  if (stream.localReply) return respondLocally(vm, stream);
  const stopAll =
    headersStatus === FilterHeadersStatus.StopAllIterationAndBuffer ||
    headersStatus === FilterHeadersStatus.StopAllIterationAndWatermark;
  let requestPaused =
    headersStatus !== FilterHeadersStatus.Continue &&
    headersStatus !== FilterHeadersStatus.ContinueAndEndStream &&
    !stream.continued[0];

  // Request body: Envoy's HTTP/1 codec hands a chunked body over chunk by chunk and ends it with
  // an empty end-of-stream call; a body with content-length arrives whole, with end of stream.
  const forwarded: Uint8Array[] = [];
  let buffered: Uint8Array[] = [];
  const deliveries: { data: Uint8Array; end: boolean }[] = [];
  // With endStreamWithLastChunk (HTTP/2), end of stream comes with the last chunk.
  const chunked = request.chunked ?? chunks.length > 1;
  if ((!chunked || request.endStreamWithLastChunk) && !hasTrailers) {
    chunks.forEach((chunk, i) => deliveries.push({ data: chunk, end: i === chunks.length - 1 }));
  } else {
    for (const chunk of chunks) deliveries.push({ data: chunk, end: false });
    if (chunks.length > 0 && !hasTrailers) deliveries.push({ data: EMPTY, end: true });
  }
  const deliver = (data: Uint8Array, end: boolean): void => {
    buffered.push(data);
    if (stopAll && !stream.continued[0]) {
      if (end) requestPaused = true;
      return;
    }
    stream.requestBody = concat(buffered);
    let status = FilterDataStatus.Continue as number;
    if (vm.onRequestBody)
      status = vm.call3(
        "proxy_on_request_body",
        vm.onRequestBody,
        stream,
        stream.requestBody.length,
        end ? 1 : 0,
      );
    if (status === FilterDataStatus.Continue || stream.continued[0]) {
      forwarded.push(stream.requestBody);
      buffered = [];
      if (status === FilterDataStatus.Continue) requestPaused = requestPaused && !stream.continued[0];
    } else if (status === FilterDataStatus.StopIterationNoBuffer) {
      buffered = [];
    } else {
      buffered = [stream.requestBody];
    }
    if (end && status !== FilterDataStatus.Continue && !stream.continued[0]) requestPaused = true;
    stream.requestBody = EMPTY;
  };
  for (const delivery of deliveries) {
    deliver(delivery.data, delivery.end);
    if (stream.localReply) return respondLocally(vm, stream);
  }
  if (hasTrailers && vm.onRequestTrailers) {
    const status = vm.call2(
      "proxy_on_request_trailers",
      vm.onRequestTrailers,
      stream,
      stream.requestTrailers.size,
    );
    if (stream.localReply) return respondLocally(vm, stream);
    if (status !== 0 && !stream.continued[0]) requestPaused = true;
  }
  if (buffered.length > 0) forwarded.push(concat(buffered));
  if (stream.closed) return resetResult(vm, stream);
  if (requestPaused && !stream.continued[0]) {
    return {
      worker: vm.worker,
      outcome: "paused",
      status: 0,
      responseHeaders: new HeaderMap(),
      responseBody: EMPTY,
      responseTrailers: new HeaderMap(),
      details: "",
    };
  }

  // The upstream (Envoy's router adds the route timeout header).
  const upstreamHeaders = stream.requestHeaders.clone();
  upstreamHeaders.add("x-envoy-expected-rq-timeout-ms", "10000");
  const upstreamRequest: UpstreamRequest = {
    method: upstreamHeaders.get(":method") ?? request.method,
    path: upstreamHeaders.get(":path") ?? request.path,
    authority: upstreamHeaders.get(":authority") ?? request.authority,
    headers: upstreamHeaders,
    body: concat(forwarded),
    trailers: stream.requestTrailers,
  };
  stream.upstreamRequest = upstreamRequest;
  const response = upstream(upstreamRequest);
  stream.status = response.status;
  stream.details = "via_upstream";
  const responseHeaders = stream.responseHeaders;
  responseHeaders.add(":status", String(response.status));
  if (response.headers)
    for (let i = 0; i < response.headers.size; i++)
      responseHeaders.add(response.headers.names[i]!, response.headers.values[i]!);
  responseHeaders.add("x-envoy-upstream-service-time", "0");
  stream.responseTrailers = response.trailers ?? new HeaderMap();
  const result = runResponse(vm, stream, response.body ?? EMPTY);
  result.upstreamRequest = upstreamRequest;
  if (response.refused) result.upstreamRefused = true;
  return result;
}

/** Response phase: headers, body and trailers through the filter, then to the client. */
function runResponse(vm: WorkerVm, stream: Stream, body: Uint8Array): StreamResult {
  const hasTrailers = stream.responseTrailers.size > 0;
  const endAfterHeaders = body.length === 0 && !hasTrailers;
  const replyBefore = stream.localReply;
  if (vm.onResponseHeaders) {
    vm.call3(
      "proxy_on_response_headers",
      vm.onResponseHeaders,
      stream,
      stream.responseHeaders.size,
      endAfterHeaders ? 1 : 0,
    );
  }
  if (stream.localReply !== replyBefore) return replaceWithLocalReply(vm, stream);
  let outBody = body;
  if (body.length > 0 && vm.onResponseBody) {
    stream.responseBody = body;
    vm.call3("proxy_on_response_body", vm.onResponseBody, stream, body.length, hasTrailers ? 0 : 1);
    outBody = stream.responseBody;
    stream.responseBody = EMPTY;
    if (stream.localReply !== replyBefore) return replaceWithLocalReply(vm, stream);
  }
  if (hasTrailers && vm.onResponseTrailers) {
    vm.call2("proxy_on_response_trailers", vm.onResponseTrailers, stream, stream.responseTrailers.size);
    if (stream.localReply !== replyBefore) return replaceWithLocalReply(vm, stream);
  }
  if (stream.closed) return resetResult(vm, stream);
  const status = Number(stream.responseHeaders.get(":status") ?? stream.status);
  return {
    worker: vm.worker,
    outcome: replyBefore ? "local_reply" : "continued",
    status,
    responseHeaders: stream.responseHeaders,
    responseBody: outBody,
    responseTrailers: stream.responseTrailers,
    details: stream.details,
    localReply: replyBefore,
  };
}

/** A local reply sent while decoding: Envoy encodes it through this filter too (seen in 1.40). */
function respondLocally(vm: WorkerVm, stream: Stream): StreamResult {
  const reply = stream.localReply!;
  stream.status = reply.status;
  stream.details = reply.details;
  stream.responseHeaders = localReplyHeaders(reply);
  stream.responseTrailers = new HeaderMap();
  return runResponse(vm, stream, reply.body);
}

/** A local reply sent while encoding replaces the response; this filter is not called again. */
function replaceWithLocalReply(vm: WorkerVm, stream: Stream): StreamResult {
  const reply = stream.localReply!;
  return {
    worker: vm.worker,
    outcome: "local_reply",
    status: reply.status,
    responseHeaders: localReplyHeaders(reply),
    responseBody: reply.body,
    responseTrailers: new HeaderMap(),
    details: reply.details,
    localReply: reply,
  };
}

function resetResult(vm: WorkerVm, _stream: Stream): StreamResult {
  return {
    worker: vm.worker,
    outcome: "paused",
    status: 0,
    responseHeaders: new HeaderMap(),
    responseBody: EMPTY,
    responseTrailers: new HeaderMap(),
    details: "closed_by_filter",
  };
}

/** on_done, on_log, on_delete: the order Envoy calls them when a stream ends. */
function finish(vm: WorkerVm, stream: Stream): void {
  const id = stream.id;
  vm.current = stream;
  if (vm.onDone) vm.call1("proxy_on_done", vm.onDone, stream);
  if (vm.onLog) vm.call1("proxy_on_log", vm.onLog, stream);
  if (vm.onDelete) vm.call1("proxy_on_delete", vm.onDelete, stream);
  vm.streams.delete(id);
  vm.current = undefined;
}

/** Under FAIL_OPEN a failed VM's filter is left out of the chain: the request goes straight upstream. */
function bypass(vm: WorkerVm, request: StreamRequest, upstream: Upstream): StreamResult {
  const headers = request.headers.clone();
  headers.add("x-envoy-expected-rq-timeout-ms", "10000");
  const upstreamRequest: UpstreamRequest = {
    method: request.method,
    path: request.path,
    authority: request.authority,
    headers,
    body: concat(request.body),
    trailers: request.trailers ?? new HeaderMap(),
  };
  const response = upstream(upstreamRequest);
  const responseHeaders = new HeaderMap();
  responseHeaders.add(":status", String(response.status));
  if (response.headers)
    for (let i = 0; i < response.headers.size; i++)
      responseHeaders.add(response.headers.names[i]!, response.headers.values[i]!);
  responseHeaders.add("x-envoy-upstream-service-time", "0");
  return {
    worker: vm.worker,
    outcome: "bypassed",
    upstreamRequest,
    status: response.status,
    responseHeaders,
    responseBody: response.body ?? EMPTY,
    responseTrailers: response.trailers ?? new HeaderMap(),
    details: "via_upstream",
  };
}

/** Envoy's failStream: 503, no body, details wasm_fail_stream; the filter is not called for it. */
function failReply(vm: WorkerVm, stream: Stream | undefined): StreamResult {
  const headers = new HeaderMap();
  headers.add(":status", "503");
  headers.add("content-length", "0");
  return {
    worker: vm.worker,
    outcome: "failed",
    upstreamRequest: stream?.upstreamRequest,
    status: 503,
    responseHeaders: headers,
    responseBody: EMPTY,
    responseTrailers: new HeaderMap(),
    details: "wasm_fail_stream",
  };
}

/** A local reply's headers as Envoy sends them: status, the filter's headers, a length. */
function localReplyHeaders(reply: LocalReply): HeaderMap {
  const headers = new HeaderMap();
  headers.add(":status", String(reply.status));
  for (let i = 0; i < reply.headers.size; i++) headers.add(reply.headers.names[i]!, reply.headers.values[i]!);
  if (reply.body.length > 0 && !reply.headers.has("content-type")) headers.add("content-type", "text/plain");
  headers.add("content-length", String(reply.body.length));
  return headers;
}
