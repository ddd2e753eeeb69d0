// Filter metrics with labels. The ABI has no tags, so tags travel in the stat name in Istio's form
// `<tag>=.=<value>;.;`, and Envoy's stats_tags (rendered by graft's launcher from
// src/metrics/tags.ts) turn them back into labels: `graft_requests_total{filter=…,injection=…}`.
// Every metric carries the filter and the injection, so canary and baseline versions of a filter
// stay apart even inside one Envoy. A filter declares the tags its metrics carry in its filter.json.
//
// Counters are batched: a host call costs about as much as a header rewrite, and most requests count
// two or three things. A filter calls batchCounters() while it is configured (a root callback: it
// asks Envoy for proxy_on_tick) and flushCounters() from its root's onTick(). Then each flush
// period's first DIRECT_PER_PERIOD increments still go straight to Envoy (a quiet filter, a test, a
// scenario sees exact counts at once); the rest add up in the VM and reach Envoy in one host call
// per counter at the next tick, so readers see them within FLUSH_PERIOD_MS. Declare such counters
// `batched: true` in filter.json. Without batchCounters() (or when Envoy refuses the tick), every
// increment is one host call, as before.
import {
  define_metric,
  increment_metric,
  record_metric,
  MetricTypeValues,
  WasmResultValues,
} from "@solo-io/proxy-runtime/assembly";
import { setTickPeriod } from "./host";

export const TAG_FILTER = "filter";
export const TAG_INJECTION = "injection";
export const TAG_RULE = "rule";
export const TAG_REASON = "reason";

/** How often batched counters reach Envoy. */
export const FLUSH_PERIOD_MS: u32 = 100;
/** Increments per flush period that go to Envoy at once, before batching starts. */
export const DIRECT_PER_PERIOD: i32 = 64;

/** Builds `filter=.=<f>;.;injection=.=<i>;.;[<tag>=.=<v>;.;]graft.<base>`. */
export function taggedMetricName(
  base: string,
  filter: string,
  injection: string,
  tag: string = "",
  value: string = "",
): string {
  let name = TAG_FILTER + "=.=" + filter + ";.;" + TAG_INJECTION + "=.=" + injection + ";.;";
  if (tag.length > 0) name += tag + "=.=" + value + ";.;";
  return name + "graft." + base;
}

// Metric ids by full name: defining is a host call, and ids stay valid for the VM's life. For a
// counter the value kept is its handle (below), for other types Envoy's id.
const ids = new Map<string, u32>();

function metricId(type: MetricTypeValues, name: string): u32 {
  if (ids.has(name)) return ids.get(name);
  const defined = define_metric(type, name);
  // 0 marks "could not define": increments on it fail harmlessly instead of aborting the VM.
  const id: u32 = defined.result == WasmResultValues.Ok ? defined.metric_id : 0;
  ids.set(name, id);
  return id;
}

// Counters by handle (index + 1): Envoy's id and the increments not yet sent.
const counterIds: u32[] = [];
const counterPending: i64[] = [];
let batching: bool = false;
let directLeft: i32 = DIRECT_PER_PERIOD;
let anyPending: bool = false;

function counterHandle(name: string): u32 {
  if (ids.has(name)) return ids.get(name);
  const defined = define_metric(MetricTypeValues.Counter, name);
  counterIds.push(defined.result == WasmResultValues.Ok ? defined.metric_id : 0);
  counterPending.push(0);
  const handle = <u32>counterIds.length;
  ids.set(name, handle);
  return handle;
}

/** Metrics of one filter instance (one filter name and injection id). */
export class FilterMetrics {
  constructor(
    public filter: string,
    public injection: string,
  ) {}

  /** A counter's handle, for increment(). */
  counter(base: string, tag: string = "", value: string = ""): u32 {
    return counterHandle(taggedMetricName(base, this.filter, this.injection, tag, value));
  }

  /** A histogram's id, for record(). */
  histogram(base: string, tag: string = "", value: string = ""): u32 {
    return metricId(
      MetricTypeValues.Histogram,
      taggedMetricName(base, this.filter, this.injection, tag, value),
    );
  }

  gauge(base: string, tag: string = "", value: string = ""): u32 {
    return metricId(MetricTypeValues.Gauge, taggedMetricName(base, this.filter, this.injection, tag, value));
  }
}

/** Adds `by` (> 0) to the counter `handle` (from FilterMetrics.counter; 0 does nothing). */
export function increment(handle: u32, by: i64 = 1): void {
  if (handle == 0 || by <= 0) return;
  const index = <i32>handle - 1;
  if (batching) {
    if (directLeft <= 0) {
      unchecked((counterPending[index] += by));
      anyPending = true;
      return;
    }
    directLeft--;
  }
  const id = unchecked(counterIds[index]);
  if (id != 0) increment_metric(id, by);
}

/**
 * Batches counters from now on: asks Envoy for proxy_on_tick every `periodMs` (call it from the root
 * context's configure step, and flushCounters() from its onTick). False, and no batching, when
 * Envoy refuses the tick.
 */
export function batchCounters(periodMs: u32 = FLUSH_PERIOD_MS): bool {
  if (!setTickPeriod(periodMs)) {
    flushCounters();
    batching = false;
    return false;
  }
  batching = true;
  return true;
}

/** Sends every batched increment to Envoy (one host call per counter that moved) and opens a new period. */
export function flushCounters(): void {
  directLeft = DIRECT_PER_PERIOD;
  if (!anyPending) return;
  anyPending = false;
  for (let i = 0; i < counterPending.length; i++) {
    const pending = unchecked(counterPending[i]);
    if (pending == 0) continue;
    unchecked((counterPending[i] = 0));
    const id = unchecked(counterIds[i]);
    if (id != 0) increment_metric(id, pending);
  }
}

/** Increments waiting for the next flush, over all counters (for tests). */
export function pendingIncrements(): i64 {
  let total: i64 = 0;
  for (let i = 0; i < counterPending.length; i++) total += counterPending[i];
  return total;
}

export function record(id: u32, value: u64): void {
  if (id != 0) record_metric(id, value);
}
