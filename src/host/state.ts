// What one emulated Envoy process shares between its worker VMs: custom metrics (process-global by
// name, as in Envoy), shared data with CAS (keyed by vm_id), shared queues, the clock and the log.
import { LOG_LEVELS, METRIC_ID_INCREMENT, METRIC_KINDS, WasmResult, type MetricKind } from "./abi.ts";

/** Time as the host reports it (proxy_get_current_time_nanoseconds, WASI clock_time_get, ticks). */
export interface Clock {
  /** Milliseconds since the epoch; may be fractional. Monotonic: ticks and timers run on it. */
  now(): number;
  /**
   * The wall clock (proxy_get_current_time_nanoseconds, WASI clock_time_get), which can step
   * backwards as a system clock does (NTP); now() unless set. Envoy's timers are monotonic.
   */
  wall?(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told; the emulator fires due ticks when it advances. */
export class ManualClock implements Clock {
  private wallOffsetMs = 0;
  constructor(private ms = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  wall(): number {
    return this.ms + this.wallOffsetMs;
  }
  /** Steps the wall clock by `ms`, backwards when negative; ticks are not affected. */
  stepWall(ms: number): void {
    if (!Number.isFinite(ms)) throw new Error(`a clock step must be finite, got ${ms}`);
    this.wallOffsetMs += ms;
  }
  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`a clock only moves forward (asked to advance by ${ms} ms)`);
    this.ms += ms;
  }
}

export interface Metric {
  name: string;
  kind: MetricKind;
  /** Counter total or gauge value; for histograms the number of recorded values. */
  value: number;
  /** Recorded histogram values (histograms only). */
  samples: number[];
}

/** Custom metrics by name. Envoy exposes each as `wasmcustom.<name>` in /stats. */
export class MetricStore {
  private readonly byName = new Map<string, Metric>();

  /** The metric of `name`, created on first definition; a name keeps the kind it was first defined with. */
  define(kind: MetricKind, name: string): Metric {
    let metric = this.byName.get(name);
    if (!metric) {
      metric = { name, kind, value: 0, samples: [] };
      this.byName.set(name, metric);
    }
    return metric;
  }

  get(name: string): Metric | undefined {
    return this.byName.get(name);
  }

  all(): Metric[] {
    return [...this.byName.values()];
  }

  /** Counters and gauges by their /stats name (`wasmcustom.<name>`). */
  statValues(): Map<string, number> {
    const values = new Map<string, number>();
    for (const metric of this.byName.values()) {
      if (metric.kind !== "histogram") values.set(`wasmcustom.${metric.name}`, metric.value);
    }
    return values;
  }
}

/** One VM's metric ids (Envoy numbers them per VM: type + 4, + 8, ...) over the process-wide store. */
export class MetricIds {
  private readonly next = [0, 1, 2];
  private readonly byId = new Map<number, Metric>();

  constructor(private readonly store: MetricStore) {}

  define(type: number, name: string): number | undefined {
    const kind = METRIC_KINDS[type];
    if (kind === undefined) return undefined;
    const id = (this.next[type] = this.next[type]! + METRIC_ID_INCREMENT);
    this.byId.set(id, this.store.define(kind, name));
    return id;
  }

  get(id: number): Metric | undefined {
    return this.byId.get(id);
  }
}

/** Envoy's metric semantics: counters only grow (an offset ≤ 0 is refused), gauges go both ways. */
export function incrementMetric(metric: Metric | undefined, offset: bigint): number {
  if (!metric) return WasmResult.NotFound;
  if (metric.kind === "counter") {
    if (offset <= 0n) return WasmResult.BadArgument;
    metric.value += Number(offset);
    return WasmResult.Ok;
  }
  if (metric.kind === "gauge") {
    metric.value += Number(offset);
    return WasmResult.Ok;
  }
  return WasmResult.BadArgument;
}

/** Recording on a counter adds (Envoy calls counter->add), on a gauge sets, on a histogram records. */
export function recordMetric(metric: Metric | undefined, value: bigint): number {
  if (!metric) return WasmResult.NotFound;
  const n = Number(value);
  if (metric.kind === "counter") metric.value += n;
  else if (metric.kind === "gauge") metric.value = n;
  else {
    metric.samples.push(n);
    metric.value = metric.samples.length;
  }
  return WasmResult.Ok;
}

interface SharedValue {
  value: Uint8Array;
  cas: number;
}

/** Shared data: one key space per vm_id, visible to every worker; each write takes a new CAS. */
export class SharedDataStore {
  private readonly spaces = new Map<string, Map<string, SharedValue>>();
  private nextCas = 1;
  /** Called before each write is checked; tests use it to interleave workers. */
  beforeSet?: (vmId: string, key: string) => void;

  get(vmId: string, key: string): SharedValue | undefined {
    return this.spaces.get(vmId)?.get(key);
  }

  /** CAS 0 writes unconditionally; otherwise the write needs the key's current CAS (a new key takes any). */
  set(vmId: string, key: string, value: Uint8Array, cas: number): number {
    this.beforeSet?.(vmId, key);
    let space = this.spaces.get(vmId);
    if (!space) this.spaces.set(vmId, (space = new Map()));
    const current = space.get(key);
    if (current && cas !== 0 && cas !== current.cas) return WasmResult.CasMismatch;
    space.set(key, { value: value.slice(), cas: this.takeCas() });
    return WasmResult.Ok;
  }

  private takeCas(): number {
    const cas = this.nextCas;
    this.nextCas = this.nextCas >= 0xffffffff ? 1 : this.nextCas + 1;
    return cas;
  }
}

export interface QueueOwner {
  /** Delivers proxy_on_queue_ready to the registering root context, after the current call. */
  notify(token: number): void;
}

interface Queue {
  vmId: string;
  name: string;
  items: Uint8Array[];
  owner: QueueOwner;
}

/** Shared queues by (vm_id, name); the last worker to register a name receives on_queue_ready. */
export class SharedQueues {
  private readonly tokens = new Map<string, number>();
  private readonly queues = new Map<number, Queue>();
  private nextToken = 1;

  register(vmId: string, name: string, owner: QueueOwner): number {
    const key = `${vmId}\0${name}`;
    let token = this.tokens.get(key);
    if (token === undefined) {
      token = this.nextToken++;
      this.tokens.set(key, token);
      this.queues.set(token, { vmId, name, items: [], owner });
    } else {
      this.queues.get(token)!.owner = owner;
    }
    return token;
  }

  resolve(vmId: string, name: string): number | undefined {
    return this.tokens.get(`${vmId}\0${name}`);
  }

  enqueue(token: number, data: Uint8Array): number {
    const queue = this.queues.get(token);
    if (!queue) return WasmResult.NotFound;
    queue.items.push(data.slice());
    queue.owner.notify(token);
    return WasmResult.Ok;
  }

  dequeue(token: number): { result: number; data?: Uint8Array } {
    const queue = this.queues.get(token);
    if (!queue) return { result: WasmResult.NotFound };
    const data = queue.items.shift();
    return data ? { result: WasmResult.Ok, data } : { result: WasmResult.Empty };
  }

  size(token: number): number {
    return this.queues.get(token)?.items.length ?? 0;
  }
}

/** One captured log line. `text` is what Envoy prints after its prefix, e.g. `wasm log probe trap-probe probe: hello`. */
export interface LogEntry {
  level: number;
  levelName: string;
  /** `wasm` for module logs and VM failures, `host` for the emulator's own notes. */
  logger: "wasm" | "host";
  message: string;
  text: string;
  worker: number;
}

export function formatLogEntry(entry: LogEntry): string {
  return `[${entry.levelName}][${entry.logger}] ${entry.text}`;
}

export function logLevelName(level: number): string {
  return LOG_LEVELS[level] ?? `level-${level}`;
}
