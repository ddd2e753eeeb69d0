// One simulated Envoy worker: a Wasm instance of the module with the host functions of Envoy 1.40
// (proxy-wasm ABI 0.2.0/0.2.1 and the WASI subset Envoy gives), its root context, and the streams
// it runs. Streams, host-call semantics and failure handling follow what Envoy does; where the
// emulator differs, src/host/README.md says so.
import { getRandomValues, randomUUID } from "node:crypto";
import {
  BufferType,
  Errno,
  FilterDataStatus,
  FilterHeadersStatus,
  HeaderMapType,
  LOG_LEVELS,
  StreamType,
  SUPPORTED_ABI_VERSIONS,
  WasmResult,
} from "./abi.ts";
import { HeaderMap } from "./headers.ts";
import {
  incrementMetric,
  logLevelName,
  MetricIds,
  recordMetric,
  type Clock,
  type LogEntry,
  type MetricStore,
  type QueueOwner,
  type SharedDataStore,
  type SharedQueues,
} from "./state.ts";

export type FailurePolicy = "FAIL_CLOSED" | "FAIL_OPEN" | "FAIL_RELOAD";

/** What a plugin is: Envoy's PluginConfig fields the host needs. */
export interface PluginSpec {
  /** Filter/plugin name (`plugin_name`; first word of stream log lines). */
  name: string;
  rootId: string;
  vmId: string;
  configuration: Uint8Array;
  vmConfiguration: Uint8Array;
  failurePolicy: FailurePolicy;
  env: Record<string, string>;
}

/** A request or callout the upstream answers. */
export interface UpstreamRequest {
  method: string;
  path: string;
  authority: string;
  /** Every header as sent upstream, pseudo-headers first. */
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap;
}

export interface UpstreamResponse {
  status: number;
  headers?: HeaderMap;
  body?: Uint8Array;
  trailers?: HeaderMap;
}

export type Upstream = (request: UpstreamRequest) => UpstreamResponse;

/** A callout target: `cluster` is the uri argument of proxy_http_call. */
export type HttpCallHandler = (
  cluster: string,
  request: UpstreamRequest,
  timeoutMs: number,
) => UpstreamResponse | "timeout" | undefined;

/** What every VM of one emulated process shares. */
export interface VmHost {
  metrics: MetricStore;
  sharedData: SharedDataStore;
  queues: SharedQueues;
  clock: Clock;
  /** proxy_get_log_level and the level below which proxy_log is dropped (0 trace … 5 critical). */
  logLevel: number;
  log(entry: LogEntry): void;
  /** Callouts; undefined answers BadArgument (an unknown cluster in Envoy). */
  httpCall: HttpCallHandler;
  /** Extra properties by dotted path (`node.id`), as strings, numbers or bytes. */
  properties: Map<string, string | number | bigint | Uint8Array>;
}

/** The serialized request a stream starts from. */
export interface StreamRequest {
  method: string;
  path: string;
  authority: string;
  scheme: string;
  headers: HeaderMap;
  /** Body chunks as the client sends them; more than one means chunked transfer encoding. */
  body: Uint8Array[];
  trailers?: HeaderMap;
}

export interface LocalReply {
  status: number;
  details: string;
  body: Uint8Array;
  headers: HeaderMap;
}

export type StreamOutcome = "continued" | "local_reply" | "failed" | "paused" | "bypassed";

/** Everything one stream did, from the client's and the upstream's side. */
export interface StreamResult {
  worker: number;
  outcome: StreamOutcome;
  /** The request as it reached the upstream (absent when the filter answered or paused). */
  upstreamRequest?: UpstreamRequest;
  status: number;
  /** Response headers as the client gets them (pseudo-headers included). */
  responseHeaders: HeaderMap;
  responseBody: Uint8Array;
  responseTrailers: HeaderMap;
  /** Envoy's %RESPONSE_CODE_DETAILS%: `via_upstream`, a local reply's details, or `wasm_fail_stream`. */
  details: string;
  localReply?: LocalReply;
}

/** The module failed (trap, exception, or a call the host could not complete). */
export class VmFailure extends Error {
  constructor(
    readonly functionName: string,
    readonly failure: unknown,
  ) {
    super(`Function: ${functionName} failed: Uncaught ${describeError(failure)}`);
  }
}

/** Instantiation refused: no ABI marker, or an import Envoy does not give. */
export class ModuleLoadError extends Error {}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

/** Strings the host writes into guest memory again and again (header names and values). */
const encodeCache = new Map<string, Uint8Array>();
export function encodeUtf8(text: string): Uint8Array {
  let bytes = encodeCache.get(text);
  if (bytes === undefined) {
    bytes = encoder.encode(text);
    if (encodeCache.size >= 4096) encodeCache.clear();
    if (text.length <= 256) encodeCache.set(text, bytes);
  }
  return bytes;
}

function decodeBytes(bytes: Uint8Array): string {
  return bytes.length === 0 ? "" : decoder.decode(bytes);
}

interface Stream {
  id: number;
  request: StreamRequest;
  requestHeaders: HeaderMap;
  requestTrailers: HeaderMap;
  responseHeaders: HeaderMap;
  responseTrailers: HeaderMap;
  /** The body buffer the filter sees in the current body callback. */
  requestBody: Uint8Array;
  responseBody: Uint8Array;
  localReply?: LocalReply;
  /** Set by proxy_continue_stream while the stream waits. */
  continued: [boolean, boolean];
  closed: boolean;
  properties: Map<string, Uint8Array>;
  status: number;
  details: string;
  sourcePort: number;
  startMs: number;
  requestId: string;
  /** Set once the request has gone upstream. */
  upstreamRequest?: UpstreamRequest;
}

interface Callout {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap;
}

const ENV_FUNCTIONS = [
  "proxy_log",
  "proxy_get_status",
  "proxy_set_property",
  "proxy_get_property",
  "proxy_send_local_response",
  "proxy_get_shared_data",
  "proxy_set_shared_data",
  "proxy_register_shared_queue",
  "proxy_resolve_shared_queue",
  "proxy_enqueue_shared_queue",
  "proxy_dequeue_shared_queue",
  "proxy_get_header_map_value",
  "proxy_add_header_map_value",
  "proxy_replace_header_map_value",
  "proxy_remove_header_map_value",
  "proxy_get_header_map_pairs",
  "proxy_set_header_map_pairs",
  "proxy_get_header_map_size",
  "proxy_get_buffer_status",
  "proxy_get_buffer_bytes",
  "proxy_set_buffer_bytes",
  "proxy_http_call",
  "proxy_grpc_call",
  "proxy_grpc_stream",
  "proxy_grpc_close",
  "proxy_grpc_cancel",
  "proxy_grpc_send",
  "proxy_set_tick_period_milliseconds",
  "proxy_get_current_time_nanoseconds",
  "proxy_define_metric",
  "proxy_increment_metric",
  "proxy_record_metric",
  "proxy_get_metric",
  "proxy_set_effective_context",
  "proxy_done",
  "proxy_call_foreign_function",
  "proxy_continue_stream",
  "proxy_close_stream",
  "proxy_get_log_level",
] as const;

type Fn = (...args: never[]) => unknown;

/** Checks a module the way Envoy does before instantiating it: ABI marker, then every import. */
export function checkModule(module: WebAssembly.Module): { abi: string } {
  const exports = WebAssembly.Module.exports(module).map((entry) => entry.name);
  const abi = exports.find((name) => name.startsWith("proxy_abi_version_"));
  if (!abi || !(SUPPORTED_ABI_VERSIONS as readonly string[]).includes(abi)) {
    throw new ModuleLoadError(
      `Missing or unknown Proxy-Wasm ABI version${abi ? ` (${abi})` : ""}: the emulator speaks ${SUPPORTED_ABI_VERSIONS.join(" and ")}`,
    );
  }
  if (!exports.includes("malloc") && !exports.includes("proxy_on_memory_allocate")) {
    throw new ModuleLoadError("the module exports neither malloc nor proxy_on_memory_allocate");
  }
  return { abi };
}

export class WorkerVm implements QueueOwner {
  readonly worker: number;
  failed = false;
  failedAtMs = 0;
  /** 0 when no tick is set. */
  tickPeriodMs = 0;
  nextTickMs = 0;

  private instance!: WebAssembly.Instance;
  private memory!: WebAssembly.Memory;
  private u8 = new Uint8Array(0);
  private view = new DataView(new ArrayBuffer(0));
  private malloc!: (size: number) => number;
  private readonly metricIds: MetricIds;
  private readonly rootContextId = 1;
  private nextContextId = 2;
  private readonly streams = new Map<number, Stream>();
  /** The stream host calls act on (the current callback's, or set by proxy_set_effective_context). */
  private current: Stream | undefined;
  private rootProperties = new Map<string, Uint8Array>();
  private callout: Callout | undefined;
  private nextCalloutToken = 1;
  private readonly pending: (() => void)[] = [];
  private draining = false;
  private readonly abi: string;
  private readonly logPrefixStream: string;
  private readonly logPrefixRoot: string;

  // Exports, looked up once.
  private onContextCreate!: (id: number, root: number) => void;
  private onRequestHeaders?: (id: number, n: number, eos: number) => number;
  private onRequestBody?: (id: number, size: number, eos: number) => number;
  private onRequestTrailers?: (id: number, n: number) => number;
  private onResponseHeaders?: (id: number, n: number, eos: number) => number;
  private onResponseBody?: (id: number, size: number, eos: number) => number;
  private onResponseTrailers?: (id: number, n: number) => number;
  private onDone?: (id: number) => number;
  private onLog?: (id: number) => void;
  private onDelete?: (id: number) => void;

  constructor(
    private readonly module: WebAssembly.Module,
    readonly plugin: PluginSpec,
    private readonly host: VmHost,
    worker: number,
  ) {
    this.worker = worker;
    this.abi = checkModule(module).abi;
    this.metricIds = new MetricIds(host.metrics);
    this.logPrefixStream = `${plugin.name} ${plugin.rootId} ${plugin.vmId}`;
    this.logPrefixRoot = `${plugin.rootId} ${plugin.vmId}`;
  }

  get abiVersion(): string {
    return this.abi;
  }

  /**
   * Instantiates the module and starts the plugin: _initialize, the root context, on_vm_start and
   * on_configure. Returns false when the plugin refuses its configuration; throws VmFailure on a trap.
   */
  start(): boolean {
    this.instance = new WebAssembly.Instance(this.module, this.imports());
    const exports = this.instance.exports as Record<string, unknown>;
    const memory = exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new ModuleLoadError("the module exports no memory");
    this.memory = memory;
    this.refreshViews();
    const malloc = (exports.malloc ?? exports.proxy_on_memory_allocate) as (size: number) => number;
    this.malloc = malloc;
    const fn = <T>(name: string): T | undefined => exports[name] as T | undefined;
    this.onContextCreate = fn("proxy_on_context_create") ?? (() => {});
    this.onRequestHeaders = fn("proxy_on_request_headers");
    this.onRequestBody = fn("proxy_on_request_body");
    this.onRequestTrailers = fn("proxy_on_request_trailers");
    this.onResponseHeaders = fn("proxy_on_response_headers");
    this.onResponseBody = fn("proxy_on_response_body");
    this.onResponseTrailers = fn("proxy_on_response_trailers");
    this.onDone = fn("proxy_on_done");
    this.onLog = fn("proxy_on_log");
    this.onDelete = fn("proxy_on_delete");

    const initialize = fn<() => void>("_initialize") ?? fn<() => void>("_start");
    if (initialize) this.guard(initialize.name === "_start" ? "_start" : "_initialize", () => initialize());
    const root = this.rootContextId;
    this.guard("proxy_on_context_create", () => this.onContextCreate(root, 0));
    const vmStart = fn<(id: number, size: number) => number>("proxy_on_vm_start");
    if (vmStart && !this.guard("proxy_on_vm_start", () => vmStart(root, this.plugin.vmConfiguration.length)))
      return false;
    const configure = fn<(id: number, size: number) => number>("proxy_on_configure");
    const ok = configure
      ? this.guard("proxy_on_configure", () => configure(root, this.plugin.configuration.length))
      : 1;
    this.drain();
    return ok !== 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Streams

  /** Runs one HTTP stream through the filter and the upstream. */
  runStream(request: StreamRequest, upstream: Upstream): StreamResult {
    if (this.failed) {
      if (this.plugin.failurePolicy === "FAIL_OPEN") return this.bypass(request, upstream);
      return this.failReply(undefined);
    }
    const id = this.nextContextId++;
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
      startMs: this.host.clock.now(),
      requestId: requestHeaders.get("x-request-id") ?? "",
    };
    this.streams.set(id, stream);
    this.current = stream;
    try {
      this.guard("proxy_on_context_create", () => this.onContextCreate(id, this.rootContextId));
      const result = this.runFilter(stream, upstream);
      this.finish(stream);
      return result;
    } catch (error) {
      if (!(error instanceof VmFailure)) throw error;
      this.streams.delete(id);
      this.current = undefined;
      return this.failReply(stream);
    }
  }

  private runFilter(stream: Stream, upstream: Upstream): StreamResult {
    const request = stream.request;
    const chunks = request.body;
    const hasTrailers = request.trailers !== undefined && request.trailers.size > 0;
    const endAfterHeaders = chunks.length === 0 && !hasTrailers;

    // Request headers.
    let headersStatus = FilterHeadersStatus.Continue as number;
    if (this.onRequestHeaders) {
      const fn = this.onRequestHeaders;
      headersStatus = this.call3(
        "proxy_on_request_headers",
        fn,
        stream,
        stream.requestHeaders.size,
        endAfterHeaders ? 1 : 0,
      );
    }
    if (stream.localReply) return this.respondLocally(stream);
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
    if (chunks.length === 1 && !hasTrailers) deliveries.push({ data: chunks[0]!, end: true });
    else {
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
      if (this.onRequestBody)
        status = this.call3(
          "proxy_on_request_body",
          this.onRequestBody,
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
      if (stream.localReply) return this.respondLocally(stream);
    }
    if (hasTrailers && this.onRequestTrailers) {
      const status = this.call2(
        "proxy_on_request_trailers",
        this.onRequestTrailers,
        stream,
        stream.requestTrailers.size,
      );
      if (stream.localReply) return this.respondLocally(stream);
      if (status !== 0 && !stream.continued[0]) requestPaused = true;
    }
    if (buffered.length > 0) forwarded.push(concat(buffered));
    if (stream.closed) return this.resetResult(stream);
    if (requestPaused && !stream.continued[0]) {
      return {
        worker: this.worker,
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
    const result = this.runResponse(stream, response.body ?? EMPTY);
    result.upstreamRequest = upstreamRequest;
    return result;
  }

  /** Response phase: headers, body and trailers through the filter, then to the client. */
  private runResponse(stream: Stream, body: Uint8Array): StreamResult {
    const hasTrailers = stream.responseTrailers.size > 0;
    const endAfterHeaders = body.length === 0 && !hasTrailers;
    const replyBefore = stream.localReply;
    if (this.onResponseHeaders) {
      this.call3(
        "proxy_on_response_headers",
        this.onResponseHeaders,
        stream,
        stream.responseHeaders.size,
        endAfterHeaders ? 1 : 0,
      );
    }
    if (stream.localReply !== replyBefore) return this.replaceWithLocalReply(stream);
    let outBody = body;
    if (body.length > 0 && this.onResponseBody) {
      stream.responseBody = body;
      this.call3("proxy_on_response_body", this.onResponseBody, stream, body.length, hasTrailers ? 0 : 1);
      outBody = stream.responseBody;
      stream.responseBody = EMPTY;
      if (stream.localReply !== replyBefore) return this.replaceWithLocalReply(stream);
    }
    if (hasTrailers && this.onResponseTrailers) {
      this.call2("proxy_on_response_trailers", this.onResponseTrailers, stream, stream.responseTrailers.size);
      if (stream.localReply !== replyBefore) return this.replaceWithLocalReply(stream);
    }
    if (stream.closed) return this.resetResult(stream);
    const status = Number(stream.responseHeaders.get(":status") ?? stream.status);
    return {
      worker: this.worker,
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
  private respondLocally(stream: Stream): StreamResult {
    const reply = stream.localReply!;
    stream.status = reply.status;
    stream.details = reply.details;
    stream.responseHeaders = localReplyHeaders(reply);
    stream.responseTrailers = new HeaderMap();
    return this.runResponse(stream, reply.body);
  }

  /** A local reply sent while encoding replaces the response; this filter is not called again. */
  private replaceWithLocalReply(stream: Stream): StreamResult {
    const reply = stream.localReply!;
    return {
      worker: this.worker,
      outcome: "local_reply",
      status: reply.status,
      responseHeaders: localReplyHeaders(reply),
      responseBody: reply.body,
      responseTrailers: new HeaderMap(),
      details: reply.details,
      localReply: reply,
    };
  }

  private resetResult(_stream: Stream): StreamResult {
    return {
      worker: this.worker,
      outcome: "paused",
      status: 0,
      responseHeaders: new HeaderMap(),
      responseBody: EMPTY,
      responseTrailers: new HeaderMap(),
      details: "closed_by_filter",
    };
  }

  /** on_done, on_log, on_delete: the order Envoy calls them when a stream ends. */
  private finish(stream: Stream): void {
    const id = stream.id;
    this.current = stream;
    if (this.onDone) this.call1("proxy_on_done", this.onDone, stream);
    if (this.onLog) this.call1("proxy_on_log", this.onLog, stream);
    if (this.onDelete) this.call1("proxy_on_delete", this.onDelete, stream);
    this.streams.delete(id);
    this.current = undefined;
  }

  /** Under FAIL_OPEN a failed VM's filter is left out of the chain: the request goes straight upstream. */
  private bypass(request: StreamRequest, upstream: Upstream): StreamResult {
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
      worker: this.worker,
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
  private failReply(stream: Stream | undefined): StreamResult {
    const headers = new HeaderMap();
    headers.add(":status", "503");
    headers.add("content-length", "0");
    return {
      worker: this.worker,
      outcome: "failed",
      upstreamRequest: stream?.upstreamRequest,
      status: 503,
      responseHeaders: headers,
      responseBody: EMPTY,
      responseTrailers: new HeaderMap(),
      details: "wasm_fail_stream",
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Root-context events

  /** Fires proxy_on_tick if the tick is due at `nowMs`; returns whether it fired. */
  tick(nowMs: number): boolean {
    if (this.failed || this.tickPeriodMs <= 0 || nowMs < this.nextTickMs) return false;
    this.nextTickMs = nowMs + this.tickPeriodMs;
    const onTick = (this.instance.exports as Record<string, unknown>).proxy_on_tick as
      ((id: number) => void) | undefined;
    if (!onTick) return false;
    this.current = undefined;
    try {
      this.guard("proxy_on_tick", () => onTick(this.rootContextId));
      this.drain();
    } catch (error) {
      if (!(error instanceof VmFailure)) throw error;
    }
    return true;
  }

  /** QueueOwner: on_queue_ready runs after the current callback, as Envoy posts it to the worker. */
  notify(token: number): void {
    this.pending.push(() => {
      if (this.failed) return;
      const fn = (this.instance.exports as Record<string, unknown>).proxy_on_queue_ready as
        ((id: number, token: number) => void) | undefined;
      if (!fn) return;
      const saved = this.current;
      this.current = undefined;
      try {
        this.guard("proxy_on_queue_ready", () => fn(this.rootContextId, token));
      } finally {
        this.current = saved;
      }
    });
  }

  /** Runs events posted during a callback (queue ready, callout answers) once it has returned. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.pending.length > 0) this.pending.shift()!();
    } finally {
      this.draining = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Calling into the module

  private guard<T>(name: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw this.fail(name, error);
    }
  }

  private fail(name: string, error: unknown): VmFailure {
    if (error instanceof VmFailure) return error;
    const failure = new VmFailure(name, error);
    if (!this.failed) {
      this.failed = true;
      this.failedAtMs = this.host.clock.now();
      this.emitLog(4, "wasm", failure.message, failure.message);
    }
    return failure;
  }

  private call1(name: string, fn: (id: number) => unknown, stream: Stream): number {
    this.current = stream;
    let result: unknown;
    try {
      result = fn(stream.id);
    } catch (error) {
      throw this.fail(name, error);
    }
    if (this.pending.length > 0) this.drain();
    return result as number;
  }

  private call2(name: string, fn: (id: number, a: number) => number, stream: Stream, a: number): number {
    this.current = stream;
    let result: number;
    try {
      result = fn(stream.id, a);
    } catch (error) {
      throw this.fail(name, error);
    }
    if (this.pending.length > 0) this.drain();
    return result;
  }

  private call3(
    name: string,
    fn: (id: number, a: number, b: number) => number,
    stream: Stream,
    a: number,
    b: number,
  ): number {
    this.current = stream;
    let result: number;
    try {
      result = fn(stream.id, a, b);
    } catch (error) {
      throw this.fail(name, error);
    }
    if (this.pending.length > 0) this.drain();
    return result;
  }

  // ---------------------------------------------------------------------------------------------
  // Guest memory

  private refreshViews(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  /** The byte view, re-made when the memory has grown (growth detaches the old buffer). */
  private bytes(): Uint8Array {
    if (this.u8.byteLength === 0 || this.u8.buffer !== this.memory.buffer) this.refreshViews();
    return this.u8;
  }

  private dv(): DataView {
    if (this.view.byteLength === 0 || this.view.buffer !== this.memory.buffer) this.refreshViews();
    return this.view;
  }

  private inBounds(ptr: number, size: number): boolean {
    return ptr >= 0 && size >= 0 && ptr + size <= this.bytes().length;
  }

  private readString(ptr: number, size: number): string {
    const u8 = this.bytes();
    if (size <= 64) {
      let text = "";
      for (let i = 0; i < size; i++) {
        const c = u8[ptr + i]!;
        if (c >= 0x80) return decoder.decode(u8.subarray(ptr, ptr + size));
        text += String.fromCharCode(c);
      }
      return text;
    }
    return decoder.decode(u8.subarray(ptr, ptr + size));
  }

  private readBytes(ptr: number, size: number): Uint8Array {
    return this.bytes().slice(ptr, ptr + size);
  }

  private writeU32(ptr: number, value: number): void {
    this.dv().setUint32(ptr, value >>> 0, true);
  }

  private writeU64(ptr: number, value: bigint): void {
    this.dv().setBigUint64(ptr, value, true);
  }

  /** Hands bytes to the module: allocated by its malloc, pointer and size written out (Envoy's copyToPointerSize). */
  private copyOut(data: Uint8Array, ptrPtr: number, sizePtr: number): number {
    let pointer = 0;
    if (data.length > 0) {
      pointer = this.malloc(data.length) >>> 0;
      const u8 = this.bytes();
      if (pointer === 0 || pointer + data.length > u8.length) return WasmResult.InvalidMemoryAccess;
      u8.set(data, pointer);
    }
    if (!this.inBounds(ptrPtr, 4) || !this.inBounds(sizePtr, 4)) return WasmResult.InvalidMemoryAccess;
    this.writeU32(ptrPtr, pointer);
    this.writeU32(sizePtr, data.length);
    return WasmResult.Ok;
  }

  private copyOutString(text: string, ptrPtr: number, sizePtr: number): number {
    return this.copyOut(encodeUtf8(text), ptrPtr, sizePtr);
  }

  // ---------------------------------------------------------------------------------------------
  // Host functions

  private headerMap(type: number): HeaderMap | undefined {
    const stream = this.current;
    switch (type) {
      case HeaderMapType.RequestHeaders:
        return stream?.requestHeaders;
      case HeaderMapType.RequestTrailers:
        return stream?.requestTrailers;
      case HeaderMapType.ResponseHeaders:
        return stream?.responseHeaders;
      case HeaderMapType.ResponseTrailers:
        return stream?.responseTrailers;
      case HeaderMapType.HttpCallResponseHeaders:
        return this.callout?.headers;
      case HeaderMapType.HttpCallResponseTrailers:
        return this.callout?.trailers;
      default:
        return undefined;
    }
  }

  private emitLog(level: number, logger: "wasm" | "host", message: string, text: string): void {
    this.host.log({ level, levelName: logLevelName(level), logger, message, text, worker: this.worker });
  }

  private logPrefix(): string {
    return this.current ? this.logPrefixStream : this.logPrefixRoot;
  }

  private serializePairs(map: HeaderMap): Uint8Array {
    const names = map.names.map(encodeUtf8);
    const values = map.values.map(encodeUtf8);
    let size = 4;
    for (let i = 0; i < names.length; i++) size += 8 + names[i]!.length + values[i]!.length + 2;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, names.length, true);
    let offset = 4;
    for (let i = 0; i < names.length; i++) {
      view.setUint32(offset, names[i]!.length, true);
      view.setUint32(offset + 4, values[i]!.length, true);
      offset += 8;
    }
    for (let i = 0; i < names.length; i++) {
      out.set(names[i]!, offset);
      offset += names[i]!.length + 1;
      out.set(values[i]!, offset);
      offset += values[i]!.length + 1;
    }
    return out;
  }

  /** Reads the ABI's serialized pairs; undefined when malformed. */
  private deserializePairs(ptr: number, size: number): HeaderMap | undefined {
    const map = new HeaderMap();
    if (size === 0) return map;
    if (!this.inBounds(ptr, size) || size < 4) return undefined;
    const view = this.dv();
    const count = view.getUint32(ptr, true);
    let sizes = ptr + 4;
    let data = sizes + count * 8;
    if (data > ptr + size) return undefined;
    for (let i = 0; i < count; i++) {
      const nameSize = view.getUint32(sizes, true);
      const valueSize = view.getUint32(sizes + 4, true);
      sizes += 8;
      if (data + nameSize + valueSize + 2 > ptr + size) return undefined;
      const name = this.readString(data, nameSize);
      data += nameSize + 1;
      const value = this.readString(data, valueSize);
      data += valueSize + 1;
      map.add(name.toLowerCase(), value);
    }
    return map;
  }

  private buffer(type: number): Uint8Array | undefined {
    switch (type) {
      case BufferType.HttpRequestBody:
        return this.current?.requestBody;
      case BufferType.HttpResponseBody:
        return this.current?.responseBody;
      case BufferType.HttpCallResponseBody:
        return this.callout?.body;
      case BufferType.PluginConfiguration:
        return this.plugin.configuration;
      case BufferType.VmConfiguration:
        return this.plugin.vmConfiguration;
      default:
        return undefined;
    }
  }

  /** Envoy's body buffer writes: replace from 0, prepend (length 0 at 0), or append (start at the end). */
  private setBuffer(type: number, start: number, length: number, data: Uint8Array): number {
    const stream = this.current;
    if (!stream || (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody))
      return WasmResult.BadArgument;
    const current = type === BufferType.HttpRequestBody ? stream.requestBody : stream.responseBody;
    let next: Uint8Array;
    if (start === 0) {
      if (length === 0) next = concat([data, current]);
      else if (length >= current.length) next = data;
      else return WasmResult.BadArgument;
    } else if (start >= current.length) next = concat([current, data]);
    else return WasmResult.BadArgument;
    if (type === BufferType.HttpRequestBody) stream.requestBody = next;
    else stream.responseBody = next;
    return WasmResult.Ok;
  }

  private propertyValue(path: string): Uint8Array | undefined {
    const stream = this.current;
    const custom = stream?.properties.get(path) ?? this.rootProperties.get(path);
    if (custom) return custom;
    switch (path) {
      case "plugin_root_id":
        return encodeUtf8(this.plugin.rootId);
      case "plugin_name":
        return encodeUtf8(this.plugin.name);
      case "plugin_vm_id":
        return encodeUtf8(this.plugin.vmId);
    }
    const extra = this.host.properties.get(path.split("\0").join("."));
    if (extra !== undefined) return propertyBytes(extra);
    if (!stream) return undefined;
    const headers = stream.requestHeaders;
    const requestPath = headers.get(":path") ?? "";
    const query = requestPath.indexOf("?");
    switch (path) {
      case "request\0path":
        return encodeUtf8(requestPath);
      case "request\0url_path":
        return encodeUtf8(query < 0 ? requestPath : requestPath.slice(0, query));
      case "request\0query":
        return encodeUtf8(query < 0 ? "" : requestPath.slice(query + 1));
      case "request\0method":
        return encodeUtf8(headers.get(":method") ?? "");
      case "request\0host":
        return encodeUtf8(headers.get(":authority") ?? "");
      case "request\0scheme":
        return encodeUtf8(headers.get(":scheme") ?? "http");
      case "request\0protocol":
        return encodeUtf8("HTTP/1.1");
      case "request\0id":
        return encodeUtf8(stream.requestId);
      case "request\0useragent":
        return encodeUtf8(headers.get("user-agent") ?? "");
      case "request\0referer":
        return encodeUtf8(headers.get("referer") ?? "");
      case "request\0time":
        return int64Bytes(BigInt(Math.round(stream.startMs * 1e6)));
      case "request\0headers":
        return this.serializePairs(headers);
      case "response\0code":
        return stream.status ? int64Bytes(BigInt(stream.status)) : undefined;
      case "response\0code_details":
        return stream.details ? encodeUtf8(stream.details) : undefined;
      case "response\0headers":
        return this.serializePairs(stream.responseHeaders);
      case "source\0address":
        return encodeUtf8(`127.0.0.1:${stream.sourcePort}`);
      case "source\0port":
        return int64Bytes(BigInt(stream.sourcePort));
      case "destination\0address":
        return encodeUtf8("127.0.0.1:10000");
      case "destination\0port":
        return int64Bytes(10000n);
    }
    if (path.startsWith("request\0headers\0")) {
      const value = headers.get(path.slice("request\0headers\0".length).toLowerCase());
      return value === undefined ? undefined : encodeUtf8(value);
    }
    if (path.startsWith("response\0headers\0")) {
      const value = stream.responseHeaders.get(path.slice("response\0headers\0".length).toLowerCase());
      return value === undefined ? undefined : encodeUtf8(value);
    }
    return undefined;
  }

  private sendLocalResponse(status: number, details: string, body: Uint8Array, headers: HeaderMap): number {
    const stream = this.current;
    if (!stream) return WasmResult.BadArgument;
    stream.localReply = { status, details, body, headers };
    return WasmResult.Ok;
  }

  private httpCall(
    cluster: string,
    headers: HeaderMap,
    body: Uint8Array,
    trailers: HeaderMap,
    timeoutMs: number,
  ): number | undefined {
    const method = headers.get(":method");
    const path = headers.get(":path");
    const authority = headers.get(":authority");
    if (!method || !path || !authority) return undefined;
    const request: UpstreamRequest = { method, path, authority, headers, body, trailers };
    const token = this.nextCalloutToken++;
    const answer = this.host.httpCall(cluster, request, timeoutMs);
    if (answer === undefined) return undefined;
    this.pending.push(() => {
      if (this.failed) return;
      const fn = (this.instance.exports as Record<string, unknown>).proxy_on_http_call_response as
        ((id: number, token: number, headers: number, body: number, trailers: number) => void) | undefined;
      if (!fn) return;
      const callout: Callout =
        answer === "timeout"
          ? { headers: new HeaderMap(), body: EMPTY, trailers: new HeaderMap() }
          : {
              headers: withStatus(answer.status, answer.headers),
              body: answer.body ?? EMPTY,
              trailers: answer.trailers ?? new HeaderMap(),
            };
      const saved = this.current;
      this.current = undefined;
      this.callout = callout;
      try {
        this.guard("proxy_on_http_call_response", () =>
          fn(this.rootContextId, token, callout.headers.size, callout.body.length, callout.trailers.size),
        );
      } finally {
        this.callout = undefined;
        // The callback may have chosen a stream with proxy_set_effective_context; the stream resumes with its own.
        this.current = saved;
      }
    });
    return token;
  }

  private imports(): WebAssembly.Imports {
    // The host functions are plain functions the module calls; they close over this VM.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const host = this.host;
    const env: Record<string, Fn> = {
      proxy_log(level: number, ptr: number, size: number): number {
        if (level < host.logLevel) return WasmResult.Ok;
        if (!self.inBounds(ptr, size)) return WasmResult.InvalidMemoryAccess;
        const message = self.readString(ptr, size);
        self.emitLog(
          Math.min(level, LOG_LEVELS.length - 1),
          "wasm",
          message,
          `wasm log ${self.logPrefix()}: ${message}`,
        );
        return WasmResult.Ok;
      },
      proxy_get_log_level(ptr: number): number {
        if (!self.inBounds(ptr, 4)) return WasmResult.InvalidMemoryAccess;
        self.writeU32(ptr, host.logLevel);
        return WasmResult.Ok;
      },
      proxy_get_status(codePtr: number, messagePtr: number, messageSize: number): number {
        if (!self.inBounds(codePtr, 4)) return WasmResult.InvalidMemoryAccess;
        self.writeU32(codePtr, 0);
        return self.copyOut(EMPTY, messagePtr, messageSize);
      },
      proxy_set_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number): number {
        if (!self.inBounds(pathPtr, pathSize) || !self.inBounds(valuePtr, valueSize))
          return WasmResult.InvalidMemoryAccess;
        const path = self.readString(pathPtr, pathSize);
        (self.current?.properties ?? self.rootProperties).set(path, self.readBytes(valuePtr, valueSize));
        return WasmResult.Ok;
      },
      proxy_get_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number): number {
        if (!self.inBounds(pathPtr, pathSize)) return WasmResult.InvalidMemoryAccess;
        const value = self.propertyValue(self.readString(pathPtr, pathSize));
        if (value === undefined) return WasmResult.NotFound;
        return self.copyOut(value, valuePtr, valueSize);
      },
      proxy_send_local_response(
        status: number,
        detailsPtr: number,
        detailsSize: number,
        bodyPtr: number,
        bodySize: number,
        headersPtr: number,
        headersSize: number,
        _grpcStatus: number,
      ): number {
        if (!self.inBounds(detailsPtr, detailsSize) || !self.inBounds(bodyPtr, bodySize))
          return WasmResult.InvalidMemoryAccess;
        const headers = self.deserializePairs(headersPtr, headersSize);
        if (!headers) return WasmResult.BadArgument;
        return self.sendLocalResponse(
          status,
          self.readString(detailsPtr, detailsSize),
          self.readBytes(bodyPtr, bodySize),
          headers,
        );
      },
      proxy_get_shared_data(
        keyPtr: number,
        keySize: number,
        valuePtr: number,
        valueSize: number,
        casPtr: number,
      ): number {
        if (!self.inBounds(keyPtr, keySize) || !self.inBounds(casPtr, 4))
          return WasmResult.InvalidMemoryAccess;
        const entry = host.sharedData.get(self.plugin.vmId, self.readString(keyPtr, keySize));
        if (!entry) return WasmResult.NotFound;
        const result = self.copyOut(entry.value, valuePtr, valueSize);
        if (result === WasmResult.Ok) self.writeU32(casPtr, entry.cas);
        return result;
      },
      proxy_set_shared_data(
        keyPtr: number,
        keySize: number,
        valuePtr: number,
        valueSize: number,
        cas: number,
      ): number {
        if (!self.inBounds(keyPtr, keySize) || !self.inBounds(valuePtr, valueSize))
          return WasmResult.InvalidMemoryAccess;
        const key = self.readString(keyPtr, keySize);
        const value = self.readBytes(valuePtr, valueSize);
        return host.sharedData.set(self.plugin.vmId, key, value, cas >>> 0);
      },
      proxy_register_shared_queue(namePtr: number, nameSize: number, tokenPtr: number): number {
        if (!self.inBounds(namePtr, nameSize) || !self.inBounds(tokenPtr, 4))
          return WasmResult.InvalidMemoryAccess;
        self.writeU32(
          tokenPtr,
          host.queues.register(self.plugin.vmId, self.readString(namePtr, nameSize), self),
        );
        return WasmResult.Ok;
      },
      proxy_resolve_shared_queue(
        vmPtr: number,
        vmSize: number,
        namePtr: number,
        nameSize: number,
        tokenPtr: number,
      ): number {
        if (!self.inBounds(vmPtr, vmSize) || !self.inBounds(namePtr, nameSize) || !self.inBounds(tokenPtr, 4))
          return WasmResult.InvalidMemoryAccess;
        const token = host.queues.resolve(self.readString(vmPtr, vmSize), self.readString(namePtr, nameSize));
        if (token === undefined) return WasmResult.NotFound;
        self.writeU32(tokenPtr, token);
        return WasmResult.Ok;
      },
      proxy_enqueue_shared_queue(token: number, dataPtr: number, dataSize: number): number {
        if (!self.inBounds(dataPtr, dataSize)) return WasmResult.InvalidMemoryAccess;
        return host.queues.enqueue(token >>> 0, self.bytes().subarray(dataPtr, dataPtr + dataSize));
      },
      proxy_dequeue_shared_queue(token: number, dataPtr: number, dataSize: number): number {
        const { result, data } = host.queues.dequeue(token >>> 0);
        if (result !== WasmResult.Ok || !data) return result;
        return self.copyOut(data, dataPtr, dataSize);
      },
      proxy_get_header_map_value(
        type: number,
        keyPtr: number,
        keySize: number,
        valuePtr: number,
        valueSize: number,
      ): number {
        const map = self.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        if (!self.inBounds(keyPtr, keySize)) return WasmResult.InvalidMemoryAccess;
        const value = map.get(self.readString(keyPtr, keySize).toLowerCase());
        if (value === undefined) return WasmResult.NotFound;
        return self.copyOutString(value, valuePtr, valueSize);
      },
      proxy_add_header_map_value(
        type: number,
        keyPtr: number,
        keySize: number,
        valuePtr: number,
        valueSize: number,
      ): number {
        const map = self.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        if (!self.inBounds(keyPtr, keySize) || !self.inBounds(valuePtr, valueSize))
          return WasmResult.InvalidMemoryAccess;
        map.add(self.readString(keyPtr, keySize).toLowerCase(), self.readString(valuePtr, valueSize));
        return WasmResult.Ok;
      },
      proxy_replace_header_map_value(
        type: number,
        keyPtr: number,
        keySize: number,
        valuePtr: number,
        valueSize: number,
      ): number {
        const map = self.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        if (!self.inBounds(keyPtr, keySize) || !self.inBounds(valuePtr, valueSize))
          return WasmResult.InvalidMemoryAccess;
        map.replace(self.readString(keyPtr, keySize).toLowerCase(), self.readString(valuePtr, valueSize));
        return WasmResult.Ok;
      },
      proxy_remove_header_map_value(type: number, keyPtr: number, keySize: number): number {
        const map = self.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        if (!self.inBounds(keyPtr, keySize)) return WasmResult.InvalidMemoryAccess;
        map.remove(self.readString(keyPtr, keySize).toLowerCase());
        return WasmResult.Ok;
      },
      proxy_get_header_map_pairs(type: number, ptrPtr: number, sizePtr: number): number {
        const map = self.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        return self.copyOut(self.serializePairs(map), ptrPtr, sizePtr);
      },
      proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
        const map = self.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        const pairs = self.deserializePairs(ptr, size);
        if (!pairs) return WasmResult.BadArgument;
        // Envoy removes every header the pairs name... and keeps the rest; then adds the pairs.
        for (const name of new Set(pairs.names)) map.remove(name);
        for (let i = 0; i < pairs.size; i++) map.add(pairs.names[i]!, pairs.values[i]!);
        return WasmResult.Ok;
      },
      proxy_get_header_map_size(type: number, sizePtr: number): number {
        const map = self.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        if (!self.inBounds(sizePtr, 4)) return WasmResult.InvalidMemoryAccess;
        self.writeU32(sizePtr, map.byteSize());
        return WasmResult.Ok;
      },
      proxy_get_buffer_status(type: number, lengthPtr: number, flagsPtr: number): number {
        const buffer = self.buffer(type);
        if (!buffer) return WasmResult.NotFound;
        if (!self.inBounds(lengthPtr, 4) || !self.inBounds(flagsPtr, 4))
          return WasmResult.InvalidMemoryAccess;
        self.writeU32(lengthPtr, buffer.length);
        self.writeU32(flagsPtr, 0);
        return WasmResult.Ok;
      },
      proxy_get_buffer_bytes(
        type: number,
        start: number,
        length: number,
        ptrPtr: number,
        sizePtr: number,
      ): number {
        const buffer = self.buffer(type);
        if (!buffer) return WasmResult.NotFound;
        start >>>= 0;
        length >>>= 0;
        if (start > buffer.length) return WasmResult.BadArgument;
        if (start + length > buffer.length) length = buffer.length - start;
        if (length === 0) return WasmResult.Ok;
        return self.copyOut(buffer.subarray(start, start + length), ptrPtr, sizePtr);
      },
      proxy_set_buffer_bytes(
        type: number,
        start: number,
        length: number,
        dataPtr: number,
        dataSize: number,
      ): number {
        if (!self.inBounds(dataPtr, dataSize)) return WasmResult.InvalidMemoryAccess;
        return self.setBuffer(type, start >>> 0, length >>> 0, self.readBytes(dataPtr, dataSize));
      },
      proxy_http_call(
        uriPtr: number,
        uriSize: number,
        headersPtr: number,
        headersSize: number,
        bodyPtr: number,
        bodySize: number,
        trailersPtr: number,
        trailersSize: number,
        timeoutMs: number,
        tokenPtr: number,
      ): number {
        if (
          !self.inBounds(uriPtr, uriSize) ||
          !self.inBounds(bodyPtr, bodySize) ||
          !self.inBounds(tokenPtr, 4)
        )
          return WasmResult.InvalidMemoryAccess;
        const headers = self.deserializePairs(headersPtr, headersSize);
        const trailers = self.deserializePairs(trailersPtr, trailersSize);
        if (!headers || !trailers) return WasmResult.BadArgument;
        const token = self.httpCall(
          self.readString(uriPtr, uriSize),
          headers,
          self.readBytes(bodyPtr, bodySize),
          trailers,
          timeoutMs >>> 0,
        );
        if (token === undefined) return WasmResult.BadArgument;
        self.writeU32(tokenPtr, token);
        return WasmResult.Ok;
      },
      proxy_grpc_call: () => WasmResult.Unimplemented,
      proxy_grpc_stream: () => WasmResult.Unimplemented,
      proxy_grpc_close: () => WasmResult.Unimplemented,
      proxy_grpc_cancel: () => WasmResult.Unimplemented,
      proxy_grpc_send: () => WasmResult.Unimplemented,
      proxy_set_tick_period_milliseconds(period: number): number {
        self.tickPeriodMs = period >>> 0;
        self.nextTickMs = host.clock.now() + self.tickPeriodMs;
        return WasmResult.Ok;
      },
      proxy_get_current_time_nanoseconds(ptr: number): number {
        if (!self.inBounds(ptr, 8)) return WasmResult.InvalidMemoryAccess;
        self.writeU64(ptr, BigInt(Math.round(host.clock.now() * 1e6)));
        return WasmResult.Ok;
      },
      proxy_define_metric(type: number, namePtr: number, nameSize: number, idPtr: number): number {
        if (!self.inBounds(namePtr, nameSize) || !self.inBounds(idPtr, 4))
          return WasmResult.InvalidMemoryAccess;
        const id = self.metricIds.define(type, self.readString(namePtr, nameSize));
        if (id === undefined) return WasmResult.BadArgument;
        self.writeU32(idPtr, id);
        return WasmResult.Ok;
      },
      proxy_increment_metric(id: number, offset: bigint): number {
        return incrementMetric(self.metricIds.get(id >>> 0), offset);
      },
      proxy_record_metric(id: number, value: bigint): number {
        return recordMetric(self.metricIds.get(id >>> 0), BigInt.asUintN(64, value));
      },
      proxy_get_metric(id: number, resultPtr: number): number {
        const metric = self.metricIds.get(id >>> 0);
        if (!metric) return WasmResult.NotFound;
        if (metric.kind === "histogram") return WasmResult.BadArgument;
        if (!self.inBounds(resultPtr, 8)) return WasmResult.InvalidMemoryAccess;
        self.writeU64(resultPtr, BigInt.asUintN(64, BigInt(metric.value)));
        return WasmResult.Ok;
      },
      proxy_set_effective_context(id: number): number {
        if (id === self.rootContextId) {
          self.current = undefined;
          return WasmResult.Ok;
        }
        const stream = self.streams.get(id);
        if (!stream) return WasmResult.BadArgument;
        self.current = stream;
        return WasmResult.Ok;
      },
      proxy_done: () => WasmResult.Ok,
      proxy_call_foreign_function(
        namePtr: number,
        nameSize: number,
        argPtr: number,
        argSize: number,
        resultsPtr: number,
        resultsSize: number,
      ): number {
        if (!self.inBounds(namePtr, nameSize) || !self.inBounds(argPtr, argSize))
          return WasmResult.InvalidMemoryAccess;
        const name = self.readString(namePtr, nameSize);
        if (name === "clear_route_cache") return WasmResult.Ok;
        if (name === "declare_property" || name === "set_envoy_filter_state") return WasmResult.Ok;
        void resultsPtr;
        void resultsSize;
        return WasmResult.NotFound;
      },
      proxy_continue_stream(type: number): number {
        const stream = self.current;
        if (!stream) return WasmResult.BadArgument;
        if (type === StreamType.Request) stream.continued[0] = true;
        else if (type === StreamType.Response) stream.continued[1] = true;
        else return WasmResult.BadArgument;
        return WasmResult.Ok;
      },
      proxy_close_stream(type: number): number {
        const stream = self.current;
        if (!stream) return WasmResult.BadArgument;
        if (type !== StreamType.Request && type !== StreamType.Response) return WasmResult.BadArgument;
        stream.closed = true;
        return WasmResult.Ok;
      },
    };
    const wasi: Record<string, Fn> = {
      fd_write(fd: number, iovs: number, iovsLength: number, writtenPtr: number): number {
        if (!self.inBounds(iovs, iovsLength * 8) || !self.inBounds(writtenPtr, 4)) return Errno.Inval;
        const view = self.dv();
        const parts: Uint8Array[] = [];
        let total = 0;
        for (let i = 0; i < iovsLength; i++) {
          const ptr = view.getUint32(iovs + i * 8, true);
          const length = view.getUint32(iovs + i * 8 + 4, true);
          if (!self.inBounds(ptr, length)) return Errno.Inval;
          parts.push(self.readBytes(ptr, length));
          total += length;
        }
        self.writeU32(writtenPtr, total);
        if (fd !== 1 && fd !== 2) return Errno.Badf;
        const message = decodeBytes(concat(parts)).replace(/\n$/, "");
        const level = fd === 1 ? 2 : 4;
        if (level >= host.logLevel)
          self.emitLog(level, "wasm", message, `wasm log ${self.logPrefix()}: ${message}`);
        return Errno.Success;
      },
      fd_read: () => Errno.Nosys,
      fd_seek: () => Errno.Nosys,
      fd_close: () => Errno.Success,
      fd_fdstat_get(fd: number, ptr: number): number {
        if (fd > 2) return Errno.Badf;
        if (!self.inBounds(ptr, 24)) return Errno.Inval;
        const view = self.dv();
        view.setUint8(ptr, 2); // character device
        view.setUint16(ptr + 2, 0, true);
        view.setBigUint64(ptr + 8, 0n, true);
        view.setBigUint64(ptr + 16, 0n, true);
        return Errno.Success;
      },
      fd_fdstat_set_flags: () => Errno.Nosys,
      fd_prestat_get: () => Errno.Badf,
      fd_prestat_dir_name: () => Errno.Nosys,
      path_open: () => Errno.Nosys,
      environ_sizes_get(countPtr: number, sizePtr: number): number {
        const entries = environ(self.plugin.env);
        if (!self.inBounds(countPtr, 4) || !self.inBounds(sizePtr, 4)) return Errno.Inval;
        self.writeU32(countPtr, entries.length);
        self.writeU32(
          sizePtr,
          entries.reduce((sum, entry) => sum + entry.length, 0),
        );
        return Errno.Success;
      },
      environ_get(environPtr: number, bufferPtr: number): number {
        const entries = environ(self.plugin.env);
        let offset = bufferPtr;
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[i]!;
          if (!self.inBounds(offset, entry.length) || !self.inBounds(environPtr + i * 4, 4))
            return Errno.Inval;
          self.writeU32(environPtr + i * 4, offset);
          self.bytes().set(entry, offset);
          offset += entry.length;
        }
        return Errno.Success;
      },
      args_sizes_get(countPtr: number, sizePtr: number): number {
        if (!self.inBounds(countPtr, 4) || !self.inBounds(sizePtr, 4)) return Errno.Inval;
        self.writeU32(countPtr, 0);
        self.writeU32(sizePtr, 0);
        return Errno.Success;
      },
      args_get: () => Errno.Success,
      clock_time_get(_id: number, _precision: bigint, resultPtr: number): number {
        if (!self.inBounds(resultPtr, 8)) return Errno.Inval;
        self.writeU64(resultPtr, BigInt(Math.round(host.clock.now() * 1e6)));
        return Errno.Success;
      },
      clock_res_get(_id: number, resultPtr: number): number {
        if (!self.inBounds(resultPtr, 8)) return Errno.Inval;
        self.writeU64(resultPtr, 1n);
        return Errno.Success;
      },
      random_get(ptr: number, length: number): number {
        if (!self.inBounds(ptr, length)) return Errno.Inval;
        const target = self.bytes().subarray(ptr, ptr + length);
        for (let offset = 0; offset < length; offset += 65536)
          getRandomValues(target.subarray(offset, Math.min(length, offset + 65536)));
        return Errno.Success;
      },
      // Envoy's proc_exit only logs: the module goes on (an AssemblyScript abort traps right after).
      proc_exit(code: number): void {
        self.emitLog(1, "host", `proc_exit(${code})`, `wasi proc_exit(${code}) called; Envoy ignores it`);
      },
      sched_yield: () => Errno.Success,
      poll_oneoff: () => Errno.Nosys,
    };
    const provided: Record<string, Record<string, Fn>> = {
      env,
      wasi_snapshot_preview1: wasi,
      wasi_unstable: wasi,
    };
    const imports: WebAssembly.Imports = {};
    for (const entry of WebAssembly.Module.imports(this.module)) {
      const fn = provided[entry.module]?.[entry.name];
      if (entry.kind !== "function" || fn === undefined) {
        throw new ModuleLoadError(
          `Failed to load Wasm module due to a missing import: ${entry.module}.${entry.name}`,
        );
      }
      (imports[entry.module] ??= {})[entry.name] = fn as unknown as WebAssembly.ImportValue;
    }
    return imports;
  }
}

/** The names the emulator provides in `env` (kept in step with Envoy's list in src/compile/envoy-abi.ts). */
export const EMULATED_ENV_FUNCTIONS: readonly string[] = ENV_FUNCTIONS;

function environ(env: Record<string, string>): Uint8Array[] {
  return Object.entries(env).map(([key, value]) => encoder.encode(`${key}=${value}\0`));
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 0) return EMPTY;
  if (parts.length === 1) return parts[0]!;
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function int64Bytes(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, value, true);
  return out;
}

function propertyBytes(value: string | number | bigint | Uint8Array): Uint8Array {
  if (typeof value === "string") return encodeUtf8(value);
  if (typeof value === "number") return int64Bytes(BigInt(Math.trunc(value)));
  if (typeof value === "bigint") return int64Bytes(value);
  return value;
}

function withStatus(status: number, headers: HeaderMap | undefined): HeaderMap {
  const map = new HeaderMap();
  map.add(":status", String(status));
  if (headers) for (let i = 0; i < headers.size; i++) map.add(headers.names[i]!, headers.values[i]!);
  return map;
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

/** A fresh x-request-id, as Envoy's connection manager adds one to every request. */
export function requestId(): string {
  return randomUUID();
}
