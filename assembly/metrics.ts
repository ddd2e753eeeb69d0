// Filter metrics with labels. The ABI has no tags, so tags travel in the stat name in Istio's form
// `<tag>=.=<value>;.;`, and Envoy's stats_tags (rendered by graft's launcher from
// src/metrics/tags.ts) turn them back into labels: `graft_requests_total{filter=…,injection=…}`.
// Every metric carries the filter and the injection, so canary and baseline versions of a filter
// stay apart even inside one Envoy. A filter declares the tags its metrics carry in its filter.json.
import { define_metric, increment_metric, record_metric, MetricTypeValues, WasmResultValues } from "@solo-io/proxy-runtime/assembly";

export const TAG_FILTER = "filter";
export const TAG_INJECTION = "injection";
export const TAG_RULE = "rule";
export const TAG_REASON = "reason";

/** Builds `filter=.=<f>;.;injection=.=<i>;.;[<tag>=.=<v>;.;]graft.<base>`. */
export function taggedMetricName(base: string, filter: string, injection: string, tag: string = "", value: string = ""): string {
  let name = TAG_FILTER + "=.=" + filter + ";.;" + TAG_INJECTION + "=.=" + injection + ";.;";
  if (tag.length > 0) name += tag + "=.=" + value + ";.;";
  return name + "graft." + base;
}

// Metric ids by full name: defining is a host call, and ids stay valid for the VM's life.
const ids = new Map<string, u32>();

function metricId(type: MetricTypeValues, name: string): u32 {
  if (ids.has(name)) return ids.get(name);
  const defined = define_metric(type, name);
  // 0 marks "could not define": increments on it fail harmlessly instead of aborting the VM.
  const id: u32 = defined.result == WasmResultValues.Ok ? defined.metric_id : 0;
  ids.set(name, id);
  return id;
}

/** Metrics of one filter instance (one filter name and injection id). */
export class FilterMetrics {
  constructor(public filter: string, public injection: string) {}

  counter(base: string, tag: string = "", value: string = ""): u32 {
    return metricId(MetricTypeValues.Counter, taggedMetricName(base, this.filter, this.injection, tag, value));
  }

  histogram(base: string, tag: string = "", value: string = ""): u32 {
    return metricId(MetricTypeValues.Histogram, taggedMetricName(base, this.filter, this.injection, tag, value));
  }

  gauge(base: string, tag: string = "", value: string = ""): u32 {
    return metricId(MetricTypeValues.Gauge, taggedMetricName(base, this.filter, this.injection, tag, value));
  }
}

export function increment(id: u32, by: i64 = 1): void {
  if (id != 0) increment_metric(id, by);
}

export function record(id: u32, value: u64): void {
  if (id != 0) record_metric(id, value);
}
