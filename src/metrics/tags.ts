/**
 * Prometheus labels for filter metrics. The Wasm ABI has no metric tags, so graft's AssemblyScript
 * SDK (assembly/metrics.ts) encodes them in the stat name in Istio's form `<tag>=.=<value>;.;`, and
 * each Envoy graft starts gets one `stats_config.stats_tags` entry per tag name to pull them out.
 * The list must name every tag the SDK can write; tests/sdk/metric-tags.test.ts holds them in step.
 */
export const GRAFT_TAG_NAMES = ["filter", "injection", "rule", "reason", "outcome"] as const;
export type GraftTagName = (typeof GRAFT_TAG_NAMES)[number];

export interface StatsTagSpecifier {
  tag_name: string;
  regex: string;
}

export function graftStatsTags(): StatsTagSpecifier[] {
  return GRAFT_TAG_NAMES.map((tag) => ({ tag_name: tag, regex: `(${tag}=\\.=(.*?);\\.;)` }));
}

/** The stat name a tagged filter metric has in `/stats` (Envoy puts custom metrics under `wasmcustom.`). */
export function taggedStatName(base: string, tags: Partial<Record<GraftTagName, string>>): string {
  let name = "";
  for (const tag of GRAFT_TAG_NAMES) {
    const value = tags[tag];
    if (value !== undefined) name += `${tag}=.=${value};.;`;
  }
  return `wasmcustom.${name}${base}`;
}
