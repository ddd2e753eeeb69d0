// One simulated Envoy worker: a Wasm instance of the module with the host functions of Envoy 1.40
// (proxy-wasm ABI 0.2.0/0.2.1 and the WASI subset Envoy gives), its root context, and the streams
// it runs. Streams, host-call semantics and failure handling follow what Envoy does; where the
// emulator differs, src/host/README.md says so.
import { randomUUID } from "node:crypto";
import { SUPPORTED_ABI_VERSIONS } from "./abi.ts";
import { HeaderMap } from "./headers.ts";
import { hostImports } from "./host-calls.ts";
import { GuestMemory } from "./memory.ts";
import { runStream } from "./streams.ts";
import {
  logLevelName,
  MetricIds,
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
  /** The server refused the request before its handler ran (see StreamResult.upstreamRefused). */
  refused?: boolean;
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
  /** Chunked transfer encoding; unset: more than one chunk. */
  chunked?: boolean;
  /** End of stream on the last chunk (HTTP/2) instead of an empty call after it (HTTP/1.1). */
  endStreamWithLastChunk?: boolean;
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
  /**
   * The upstream's HTTP server refused the request before its handler saw it (the echo's Node
   * server past its 16 KiB header limit): it reached the upstream, but not the echo's history.
   */
  upstreamRefused?: boolean;
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

export interface Stream {
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

export interface Callout {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap;
}

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

  instance!: WebAssembly.Instance;
  mem!: GuestMemory;
  readonly metricIds: MetricIds;
  readonly rootContextId = 1;
  nextContextId = 2;
  readonly streams = new Map<number, Stream>();
  /** The stream host calls act on (the current callback's, or set by proxy_set_effective_context). */
  current: Stream | undefined;
  rootProperties = new Map<string, Uint8Array>();
  callout: Callout | undefined;
  nextCalloutToken = 1;
  readonly pending: (() => void)[] = [];
  draining = false;
  readonly abi: string;
  readonly logPrefixStream: string;
  readonly logPrefixRoot: string;

  // Exports, looked up once.
  onContextCreate!: (id: number, root: number) => void;
  onRequestHeaders?: (id: number, n: number, eos: number) => number;
  onRequestBody?: (id: number, size: number, eos: number) => number;
  onRequestTrailers?: (id: number, n: number) => number;
  onResponseHeaders?: (id: number, n: number, eos: number) => number;
  onResponseBody?: (id: number, size: number, eos: number) => number;
  onResponseTrailers?: (id: number, n: number) => number;
  onDone?: (id: number) => number;
  onLog?: (id: number) => void;
  onDelete?: (id: number) => void;

  constructor(
    readonly module: WebAssembly.Module,
    readonly plugin: PluginSpec,
    readonly host: VmHost,
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

  /** The size of the VM's linear memory (Wasm memory grows and never shrinks). */
  memoryBytes(): number {
    return this.mem.memory.buffer.byteLength;
  }

  /**
   * Instantiates the module and starts the plugin: _initialize, the root context, on_vm_start and
   * on_configure. Returns false when the plugin refuses its configuration; throws VmFailure on a trap.
   */
  start(): boolean {
    this.instance = new WebAssembly.Instance(this.module, hostImports(this));
    const exports = this.instance.exports as Record<string, unknown>;
    const memory = exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new ModuleLoadError("the module exports no memory");
    const malloc = (exports.malloc ?? exports.proxy_on_memory_allocate) as (size: number) => number;
    this.mem = new GuestMemory(memory, malloc);
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
  // Streams (streams.ts)

  /** Runs one HTTP stream through the filter and the upstream. */
  runStream(request: StreamRequest, upstream: Upstream): StreamResult {
    return runStream(this, request, upstream);
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

  guard<T>(name: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw this.fail(name, error);
    }
  }

  fail(name: string, error: unknown): VmFailure {
    if (error instanceof VmFailure) return error;
    const failure = new VmFailure(name, error);
    if (!this.failed) {
      this.failed = true;
      this.failedAtMs = this.host.clock.now();
      this.emitLog(4, "wasm", failure.message, failure.message);
    }
    return failure;
  }

  call1(name: string, fn: (id: number) => unknown, stream: Stream): number {
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

  call2(name: string, fn: (id: number, a: number) => number, stream: Stream, a: number): number {
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

  call3(
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
  // Logs

  emitLog(level: number, logger: "wasm" | "host", message: string, text: string): void {
    this.host.log({ level, levelName: logLevelName(level), logger, message, text, worker: this.worker });
  }

  logPrefix(): string {
    return this.current ? this.logPrefixStream : this.logPrefixRoot;
  }
}

export { encodeUtf8 } from "./memory.ts";

/** A fresh x-request-id, as Envoy's connection manager adds one to every request. */
export function requestId(): string {
  return randomUUID();
}
