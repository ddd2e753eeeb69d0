import type { HttpFilter } from "../envoy/bootstrap.ts";
import { WASM_FILTER_TYPE_URL } from "../envoy/wasm-filter.ts";

/**
 * A filter slot is a named place in an Envoy listener's filter chain whose filter comes from a file
 * (ECDS over a path config source). graft injects by rewriting that file; Envoy swaps the filter
 * for new streams without a restart and keeps the previous one when it refuses an update.
 */
export const HEADER_MUTATION_TYPE_URL =
  "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation";
export const TYPED_EXTENSION_CONFIG_TYPE_URL =
  "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";

/** The empty slot: a header_mutation filter with no mutations passes every stream untouched. */
export const NOOP_FILTER_CONFIG = { "@type": HEADER_MUTATION_TYPE_URL };

export function slotFilePath(ecdsDir: string, slot: string): string {
  return `${ecdsDir}/${slot}.yaml`;
}

/** The listener side of a slot: `config_discovery` from `<ecdsDir>/<slot>.yaml`, empty until injected. */
export function slotHttpFilter(slot: string, ecdsDir: string): HttpFilter {
  return {
    name: slot,
    config_discovery: {
      config_source: { path_config_source: { path: slotFilePath(ecdsDir, slot) } },
      default_config: NOOP_FILTER_CONFIG,
      apply_default_config_without_warming: true,
      type_urls: [WASM_FILTER_TYPE_URL, HEADER_MUTATION_TYPE_URL],
    },
  };
}

/** ECDS stat names for one slot (`extension_config_discovery.http_filter.<slot>.…`). */
export function slotStat(slot: string, stat: string): string {
  return `extension_config_discovery.http_filter.${slot}.${stat}`;
}

export function isValidSlotName(slot: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(slot);
}
