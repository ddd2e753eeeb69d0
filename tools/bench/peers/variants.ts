// The pieces a benchmark group is made of: a variant (one Envoy each) and the HTTP filters its
// chain holds. Each filter's peers module (filters/<name>/peers.ts) builds its variants from these.
import type { HttpFilter } from "../../../src/envoy/bootstrap.ts";
import { wasmHttpFilter } from "../../../src/envoy/wasm-filter.ts";

export interface Variant {
  /** Short id: the key in results. */
  id: string;
  label: string;
  /** What it is compared with ("none" is the no-filter variant of the group). */
  kind: "none" | "native" | "lua" | "graft" | "go" | "c" | "noop";
  filters: () => HttpFilter[];
  /** The module a peer build makes: the variant is left out when that build failed. */
  build?: PeerBuild;
}

/** A peer the harness builds before the run (when its output is older than its sources). */
export interface PeerBuild {
  /** The module it writes. */
  output: string;
  sources: string[];
  /** Builds `output`; what went wrong (a line for the report's notes), or null. */
  build(): string | null;
}

/** The no-filter variant every group compares with; `filters` are those every variant has. */
export function noFilter(filters: HttpFilter[] = []): Variant {
  return { id: "none", label: "no filter", kind: "none", filters: () => filters };
}

/** Envoy's Lua filter running `code`. */
export function lua(code: string): HttpFilter {
  return {
    name: "envoy.filters.http.lua",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
      default_source_code: { inline_string: code },
      // A header change need not re-pick the route (graft's Wasm filters do not either).
      clear_route_cache: false,
    },
  };
}

/** A Wasm module as an HTTP filter; a failing VM fails the request. */
export function wasm(name: string, rootId: string, wasmPath: string, configuration: unknown): HttpFilter {
  return wasmHttpFilter({ name, rootId, wasmPath, configuration, failurePolicy: "FAIL_CLOSED" });
}
