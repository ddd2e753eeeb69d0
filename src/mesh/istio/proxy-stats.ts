// SPDX-License-Identifier: Apache-2.0
import yaml from "js-yaml";
import type { FilterInfo } from "../../filters/catalog.ts";
import { graftTagNames } from "../../metrics/tags.ts";

/**
 * The stat-name prefix every graft metric has in Envoy before tag extraction: Envoy's `wasmcustom.`
 * namespace, then the `filter` tag the SDK always writes first (assembly/metrics.ts). Envoy matches
 * `stats_matcher` against this full name, so the prefix keeps graft's metrics and no other plugin's.
 */
export const GRAFT_STATS_PREFIX = "wasmcustom.filter=.=";

/**
 * The HTTP connection manager counters graft's judge reads for each arm (requests, 4xx/5xx, the latency
 * histogram), as Envoy names them before tag extraction: `http.outbound_0.0.0.0_8080;.downstream_rq_2xx`.
 * Istio's inclusion list has none of them, so a Prometheus-backed rollout would see no traffic.
 */
export const JUDGE_STATS_REGEX = "http\\..*\\.downstream_rq_(completed|[1-5]xx|time)";

/** The ProxyConfig fields that keep graft's metrics, and the counters its judge reads, through an Istio sidecar. */
export interface GraftProxyConfig {
  /** Istio's bootstrap turns each into stats_tags `(<tag>=\.=(.*?);\.;)`, the regex graft uses itself. */
  extraStatTags: string[];
  /**
   * Istio's bootstrap has an inclusion-list stats_matcher: without the prefix, wasmcustom.* is never
   * emitted; without the regex, neither are the judge's HTTP counters (server.* and wasm.* are in by default).
   */
  proxyStatsMatcher: { inclusionPrefixes: string[]; inclusionRegexps: string[] };
}

export function graftProxyConfig(filters: readonly FilterInfo[]): GraftProxyConfig {
  return {
    extraStatTags: graftTagNames(filters),
    proxyStatsMatcher: { inclusionPrefixes: [GRAFT_STATS_PREFIX], inclusionRegexps: [JUDGE_STATS_REGEX] },
  };
}

/**
 * Two ways to apply it: mesh-wide (`meshConfig.defaultConfig`, in istiod's Helm values or IstioOperator)
 * or per workload (the `proxy.istio.io/config` pod annotation). Istio reads both at sidecar start, so pods
 * must restart to pick them up. Do not also set the `sidecar.istio.io/extraStatTags` or
 * `sidecar.istio.io/statsInclusionPrefixes` annotations: when present they replace these lists
 * (pkg/bootstrap/config.go getStatsOptions) instead of adding to them.
 */
export function renderProxyStatsSettings(filters: readonly FilterInfo[]): {
  meshConfig: { defaultConfig: GraftProxyConfig };
  podAnnotations: Record<string, string>;
} {
  const config = graftProxyConfig(filters);
  return {
    meshConfig: { defaultConfig: config },
    podAnnotations: { "proxy.istio.io/config": yaml.dump(config, { lineWidth: -1 }) },
  };
}
