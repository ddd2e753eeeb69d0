// SPDX-License-Identifier: Apache-2.0
import type { FilterInfo } from "../../filters/catalog.ts";
import { MeshError } from "../errors.ts";

/** One side of the comparison: the pods' workload (Envoy's request count) and the injection on them. */
export interface Side {
  /** Value of the workload label in Istio's request metric, e.g. `checkout` or `{{ target }}`. */
  workload: string;
  /** The `injection` tag of graft's metrics on those pods (the configuration's injection_id). */
  injection: string;
}

export interface BadEventQueryInput {
  filter: FilterInfo;
  namespace: string;
  /** A PromQL range, e.g. `2m`, or a template placeholder such as `{{ interval }}`. */
  interval: string;
  canary: Side;
  baseline: Side;
  /** Istio's request counter; default istio_requests_total (reporter="destination"). */
  requestsMetric?: string;
  /** The label naming the workload in that counter; default destination_workload. */
  workloadLabel?: string;
  /** The label naming its namespace; default destination_workload_namespace. */
  namespaceLabel?: string;
}

/**
 * The Prometheus names of the filter's bad-event metrics, from its contract (role bad_event). Envoy
 * exports `wasmcustom.<tags>graft.<name>` as `graft_<name>{filter,injection,…}` once Istio keeps the
 * tags (see ../istio/proxy-stats.ts); a histogram counts its events in `_count`.
 */
export function badEventSeries(filter: FilterInfo): string[] {
  const metrics = filter.contract.metrics.filter((metric) => metric.role === "bad_event");
  if (metrics.length === 0)
    throw new MeshError(
      "INVALID_INPUT",
      `${filter.dir}/filter.json declares no metric with role bad_event: there is nothing to compare between canary and baseline; add one`,
    );
  return metrics.map((metric) => {
    if (metric.type === "gauge")
      throw new MeshError(
        "INVALID_INPUT",
        `${filter.dir}/filter.json: bad_event metric ${metric.name} is a gauge; a bad-event ratio needs a counter (or a histogram's count)`,
      );
    return `graft_${metric.name}${metric.type === "histogram" ? "_count" : ""}`;
  });
}

/** A PromQL string literal for a label value; template placeholders pass through unchanged. */
function literal(value: string): string {
  return JSON.stringify(value);
}

/**
 * Bad events per request on one side: the filter's bad_event counters for that side's injection, over
 * Envoy's request count for that side's workload, both as rates over the interval. No bad events gives
 * 0 (`or vector(0)`); no requests gives no value, so the analysis waits for traffic instead of passing.
 */
export function badEventRatio(input: BadEventQueryInput, side: Side): string {
  const names = badEventSeries(input.filter);
  const selector = `__name__=~${literal(names.join("|"))},filter=${literal(input.filter.name)},injection=${literal(side.injection)}`;
  const requests =
    `${input.requestsMetric ?? "istio_requests_total"}{reporter="destination",` +
    `${input.namespaceLabel ?? "destination_workload_namespace"}=${literal(input.namespace)},` +
    `${input.workloadLabel ?? "destination_workload"}=${literal(side.workload)}}`;
  return `(sum(rate({${selector}}[${input.interval}])) or vector(0)) / sum(rate(${requests}[${input.interval}]))`;
}

/** Canary ratio minus baseline ratio: > 0 when the canary makes the filter report more bad events per request. */
export function badEventRatioIncrease(input: BadEventQueryInput): string {
  return `(${badEventRatio(input, input.canary)})\n-\n(${badEventRatio(input, input.baseline)})`;
}
