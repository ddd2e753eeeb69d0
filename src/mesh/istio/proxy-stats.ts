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

/** The ProxyConfig fields that keep graft's metrics through an Istio sidecar. */
export interface GraftProxyConfig {
  /** Istio's bootstrap turns each into stats_tags `(<tag>=\.=(.*?);\.;)`, the regex graft uses itself. */
  extraStatTags: string[];
  /** Istio's bootstrap has an inclusion-list stats_matcher: without this, wasmcustom.* is never emitted. */
  proxyStatsMatcher: { inclusionPrefixes: string[] };
}

export function graftProxyConfig(filters: readonly FilterInfo[]): GraftProxyConfig {
  return {
    extraStatTags: graftTagNames(filters),
    proxyStatsMatcher: { inclusionPrefixes: [GRAFT_STATS_PREFIX] },
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
