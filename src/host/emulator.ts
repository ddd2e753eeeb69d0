// graft's proxy-wasm host emulator: one emulated Envoy process running a Wasm filter on N simulated
// workers, each with its own VM, in front of an upstream function (the echo upstream by default).
import { readFile } from "node:fs/promises";
import { logLevelNumber, type LogLevelName } from "./abi.ts";
import { echoUpstream } from "./echo-model.ts";
import { HeaderMap, type HeaderInput } from "./headers.ts";
import { normalizeRequestHeaders, type CodecRejection } from "./normalize.ts";
import {
  formatLogEntry,
  ManualClock,
  MetricStore,
  SharedDataStore,
  SharedQueues,
  type Clock,
  type LogEntry,
} from "./state.ts";
import {
  checkModule,
  requestId,
  WorkerVm,
  type FailurePolicy,
  type HttpCallHandler,
  type StreamResult,
  type Upstream,
  type UpstreamRequest,
  type UpstreamResponse,
  type VmHost,
} from "./vm.ts";

export interface EmulatorOptions {
  /** The module: a path to a .wasm file, its bytes, or a compiled module. */
  module: string | Uint8Array | WebAssembly.Module;
  /** Root id the module registers (graft filters use the filter name). */
  rootId: string;
  /** Plugin name (`plugin_name`, log prefix); the root id unless set. */
  name?: string;
  /** vm_id: the key space of shared data and queues; the name unless set (as graft's Envoy config). */
  vmId?: string;
  /** Plugin configuration: an object is sent as JSON, a string as it is. */
  configuration?: unknown;
  vmConfiguration?: string;
  /** Simulated worker threads, each with its own VM (Envoy's --concurrency). Default 1. */
  workers?: number;
  /** What a trap does to later streams; the current stream always gets 503 wasm_fail_stream. Default FAIL_CLOSED. */
  failurePolicy?: FailurePolicy;
  /** Level of the `wasm` logger: proxy_get_log_level answers it and lower proxy_log lines are dropped. Default info. */
  logLevel?: LogLevelName | "warn";
  /** The host clock; a ManualClock (the default) only moves with advance(). */
  clock?: Clock;
  /** WASI environment variables (Envoy's vm_config.environment_variables). */
  env?: Record<string, string>;
  /** Answers requests the filter lets through; the echo upstream unless set. */
  upstream?: Upstream;
  /**
   * Answers proxy_http_call by cluster name: a fixed response, a function, or "timeout". Unlisted
   * clusters are unknown (BadArgument), except `upstream`, which the upstream answers (as in graft's Envoy).
   */
  httpCalls?:
    | Record<string, UpstreamResponse | "timeout" | ((request: UpstreamRequest) => UpstreamResponse)>
    | HttpCallHandler;
  /** Extra properties by dotted path, e.g. `{ "node.id": "graft" }`. */
  properties?: Record<string, string | number | bigint | Uint8Array>;
}

export interface HttpRequest {
  method?: string;
  path: string;
  /** Host / :authority; `127.0.0.1:10000` unless set. */
  authority?: string;
  headers?: HeaderInput;
  /** A string or bytes arrive whole (content-length); a list arrives as chunks (chunked encoding). */
  body?: string | Uint8Array | (string | Uint8Array)[];
  /** Send even a one-chunk list chunked (no content-length): one data callback, then end of stream. */
  chunked?: boolean;
  /**
   * End of stream rides on the last data chunk (HTTP/2's END_STREAM on the last DATA frame)
   * instead of an empty call after it (HTTP/1.1 chunked encoding). Default false.
   */
  endStreamWithLastChunk?: boolean;
  trailers?: HeaderInput;
  /** Worker to run on; round robin unless set. */
  worker?: number;
  /** This request's upstream; the emulator's unless set. */
  upstream?: Upstream;
}

/** The plugin refused its configuration (proxy_on_configure returned false); Envoy would reject the config. */
export class ConfigurationRejectedError extends Error {
  constructor(
    message: string,
    readonly logs: LogEntry[],
  ) {
    super(`${message}\n--- wasm log ---\n${logs.map(formatLogEntry).join("\n")}`);
  }
}

const encoder = new TextEncoder();

function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

export class Emulator {
  readonly metricsStore = new MetricStore();
  readonly sharedData = new SharedDataStore();
  readonly queues = new SharedQueues();
  readonly logs: LogEntry[] = [];
  readonly clock: Clock;
  readonly workers: WorkerVm[] = [];
  private nextWorker = 0;
  private readonly host: VmHost;
  private readonly upstream: Upstream;
  private vmGeneration = 0;

  private constructor(
    private readonly module: WebAssembly.Module,
    private readonly options: EmulatorOptions,
  ) {
    this.clock = options.clock ?? new ManualClock();
    this.upstream = options.upstream ?? echoUpstream;
    const logs = this.logs;
    this.host = {
      metrics: this.metricsStore,
      sharedData: this.sharedData,
      queues: this.queues,
      clock: this.clock,
      logLevel: logLevelNumber(options.logLevel ?? "info"),
      log: (entry) => logs.push(entry),
      httpCall: this.httpCallHandler(options.httpCalls),
      properties: new Map(Object.entries(options.properties ?? {})),
    };
  }

  /** Compiles the module, checks its ABI and imports, and starts the plugin on every worker. */
  static async load(options: EmulatorOptions): Promise<Emulator> {
    let module: WebAssembly.Module;
    if (options.module instanceof WebAssembly.Module) module = options.module;
    else {
      const bytes = typeof options.module === "string" ? await readFile(options.module) : options.module;
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    }
    checkModule(module);
    const emulator = new Emulator(module, options);
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64)
      throw new Error(`workers must be 1 to 64, got ${workers}`);
    for (let worker = 0; worker < workers; worker++) emulator.workers.push(emulator.startVm(worker));
    return emulator;
  }

  private startVm(worker: number): WorkerVm {
    const options = this.options;
    const name = options.name ?? options.rootId;
    const configuration = options.configuration;
    const vm = new WorkerVm(
      this.module,
      {
        name,
        rootId: options.rootId,
        vmId: options.vmId ?? name,
        configuration: encoder.encode(
          configuration === undefined
            ? ""
            : typeof configuration === "string"
              ? configuration
              : JSON.stringify(configuration),
        ),
        vmConfiguration: encoder.encode(options.vmConfiguration ?? ""),
        failurePolicy: options.failurePolicy ?? "FAIL_CLOSED",
        env: options.env ?? {},
      },
      this.host,
      worker,
    );
    this.vmGeneration++;
    if (!vm.start()) {
      throw new ConfigurationRejectedError(
        `Wasm VM failed to configure: plugin ${name} (root id ${options.rootId}) refused its configuration on worker ${worker}`,
        this.logs,
      );
    }
    return vm;
  }

  private httpCallHandler(calls: EmulatorOptions["httpCalls"]): HttpCallHandler {
    if (typeof calls === "function") return calls;
    return (cluster, request) => {
      const answer = calls?.[cluster];
      if (answer === undefined) return cluster === "upstream" ? this.upstream(request) : undefined;
      if (typeof answer === "function") return answer(request);
      return answer;
    };
  }

  /** Runs one request through the filter on a worker (round robin unless `request.worker` is set). */
  request(request: HttpRequest): StreamResult {
    const index = request.worker ?? this.nextWorker;
    if (request.worker === undefined) this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    let vm = this.workers[index];
    if (!vm) throw new Error(`no worker ${index}; the emulator has ${this.workers.length}`);
    if (vm.failed && vm.plugin.failurePolicy === "FAIL_RELOAD" && this.clock.now() - vm.failedAtMs >= 1000) {
      // FAIL_RELOAD: a new VM replaces the failed one once the reload backoff (1 s) has passed.
      vm = this.startVm(index);
      this.workers[index] = vm;
    }
    const method = request.method ?? "GET";
    const authority = request.authority ?? "127.0.0.1:10000";
    const headers = new HeaderMap();
    headers.add(":authority", authority);
    headers.add(":path", request.path);
    headers.add(":method", method);
    headers.add(":scheme", "http");
    if (request.headers) {
      // Envoy's codec and connection manager act on the client's headers before any filter.
      const normalized = normalizeRequestHeaders(HeaderMap.from(request.headers));
      if (!(normalized instanceof HeaderMap)) return codecReply(vm.worker, normalized);
      for (let i = 0; i < normalized.size; i++) headers.add(normalized.names[i]!, normalized.values[i]!);
    }
    const body =
      request.body === undefined
        ? []
        : Array.isArray(request.body)
          ? request.body.map(toBytes)
          : [toBytes(request.body as string | Uint8Array)];
    const chunked = body.length > 1 || (body.length === 1 && request.chunked === true);
    if (body.length === 1 && !chunked) headers.add("content-length", String(body[0]!.length));
    else if (chunked) headers.add("transfer-encoding", "chunked");
    headers.add("x-forwarded-proto", "http");
    headers.add("x-request-id", requestId());
    const trailers = request.trailers ? HeaderMap.from(request.trailers) : undefined;
    const result = vm.runStream(
      {
        method,
        path: request.path,
        authority,
        scheme: "http",
        headers,
        body,
        trailers,
        chunked,
        endStreamWithLastChunk: request.endStreamWithLastChunk ?? false,
      },
      request.upstream ?? this.upstream,
    );
    // Events a stream posted to other workers (on_queue_ready) run on those workers afterwards.
    if (this.workers.length > 1) for (const worker of this.workers) worker.drain();
    return result;
  }

  /** Moves a ManualClock forward and fires the ticks that fall due, in time order. */
  advance(ms: number): number {
    if (!(this.clock instanceof ManualClock)) throw new Error("advance() needs a ManualClock");
    let fired = 0;
    const end = this.clock.now() + ms;
    for (;;) {
      const due = this.workers
        .filter((vm) => vm.tickPeriodMs > 0 && !vm.failed && vm.nextTickMs <= end)
        .map((vm) => vm.nextTickMs);
      if (due.length === 0) break;
      const next = Math.min(...due);
      this.clock.advance(next - this.clock.now());
      for (const vm of this.workers) if (vm.tick(next)) fired++;
    }
    this.clock.advance(end - this.clock.now());
    return fired;
  }

  /** Counters and gauges by their Envoy /stats name (`wasmcustom.<name>`). */
  stats(): Map<string, number> {
    return this.metricsStore.statValues();
  }

  /** A counter or gauge by the name the module defined, or by its /stats name. */
  metric(name: string): number | undefined {
    return this.metricsStore.get(name.startsWith("wasmcustom.") ? name.slice("wasmcustom.".length) : name)
      ?.value;
  }

  /** Every captured log line in Envoy's words (`[info][wasm] wasm log …`), one per line. */
  logText(): string {
    return this.logs.map(formatLogEntry).join("\n");
  }

  get abiVersion(): string {
    return this.workers[0]!.abiVersion;
  }
}

/** The codec's own reply: the filter never sees the request. */
function codecReply(worker: number, rejection: CodecRejection): StreamResult {
  const body = encoder.encode(rejection.body);
  const responseHeaders = new HeaderMap();
  responseHeaders.add(":status", String(rejection.status));
  responseHeaders.add("content-length", String(body.length));
  responseHeaders.add("content-type", "text/plain");
  responseHeaders.add("connection", "close");
  return {
    worker,
    outcome: "local_reply",
    status: rejection.status,
    responseHeaders,
    responseBody: body,
    responseTrailers: new HeaderMap(),
    details: rejection.details,
  };
}
