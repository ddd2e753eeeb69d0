/**
 * Prometheus labels for filter metrics. The Wasm ABI has no metric tags, so graft's AssemblyScript
 * SDK (assembly/metrics.ts) encodes them in the stat name in Istio's form `<tag>=.=<value>;.;`, and
 * each Envoy graft starts gets one `stats_config.stats_tags` entry per tag name to pull them out.
 * Every metric carries filter and injection; the other tag names come from the filters' contracts.
 */
import { listFilters, type FilterInfo } from "../filters/catalog.ts";
import { metricTagNames } from "../filters/contract.ts";

export const BASE_TAG_NAMES = ["filter", "injection"] as const;

export interface StatsTagSpecifier {
  tag_name: string;
  regex: string;
}

/** filter, injection, then every other tag the filters' metrics declare (sorted). */
export function graftTagNames(filters: readonly FilterInfo[] = listFilters()): string[] {
  const declared = new Set(filters.flatMap((filter) => metricTagNames(filter.contract)));
  for (const base of BASE_TAG_NAMES) declared.delete(base);
  return [...BASE_TAG_NAMES, ...[...declared].sort()];
}

export function graftStatsTags(filters: readonly FilterInfo[] = listFilters()): StatsTagSpecifier[] {
  return graftTagNames(filters).map((tag) => ({ tag_name: tag, regex: `(${tag}=\\.=(.*?);\\.;)` }));
}

/**
 * The stat name a tagged filter metric has in `/stats` (Envoy puts custom metrics under
 * `wasmcustom.`): filter and injection first, then the other tags in the order given, as the SDK writes them.
 */
export function taggedStatName(
  base: string,
  tags: { filter?: string; injection?: string } & Record<string, string | undefined>,
): string {
  let name = "";
  const ordered = [
    ...BASE_TAG_NAMES,
    ...Object.keys(tags).filter((tag) => tag !== "filter" && tag !== "injection"),
  ];
  for (const tag of ordered) {
    const value = tags[tag];
    if (value !== undefined) name += `${tag}=.=${value};.;`;
  }
  return `wasmcustom.${name}${base}`;
}
