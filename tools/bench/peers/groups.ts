// What a filter brings to the peer benchmark, and how the harness finds it: a filter's folder holds
// peers.ts (or peers/index.ts) exporting `peers(filter): FilterPeers` — its groups (the variants,
// the request each sends, the route), the peers to build first, the modules whose host calls and
// sizes the report shows, its entry in the memory check's chain, and the goals it is held to. The
// filters come from the catalog, as `npm run bench` finds bench.ts and `npm run fuzz` fuzz.ts.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { HttpFilter } from "../../../src/envoy/bootstrap.ts";
import { listFilters, type FilterInfo } from "../../../src/filters/catalog.ts";
import type { CountedRequest } from "./hostcalls.ts";
import type { RequestSpec } from "./load.ts";
import type { Goal, PeerResults } from "./report.ts";
import type { PeerBuild, Variant } from "./variants.ts";

/** What a group may ask of the run while it picks its variants. */
export interface GroupContext {
  /** Saturation req/s of an Envoy with no filter, on the group's route, sent the group's request. */
  noFilterSaturation(): Promise<number>;
  /** A line for the report's notes. */
  note(text: string): void;
}

export interface PeerGroup {
  /** What `--groups` picks it by, and its key in the results. */
  id: string;
  title: string;
  /** A direct_response route, or through an upstream (an Envoy answering directly, on the load generator's CPU). */
  route: "direct" | "upstream";
  /** Every round of the run, or the shorter count (a second pass, large bodies). */
  rounds: "full" | "short";
  /** Latency at a fixed rate as well as saturation. */
  latency: boolean;
  /** The body's size in bytes (0 or absent: no body). */
  bodyBytes?: number;
  request: Omit<RequestSpec, "bodyFile">;
  /** The variants, one of them "none"; a function when they depend on the run (a rate found by probing). */
  variants: Variant[] | ((context: GroupContext) => Promise<Variant[]>);
  /** What each variant's check request must answer (a problem, or null); by default HTTP 200. */
  check?: (variant: Variant, status: number, headers: Headers) => string | null;
}

/** A module whose host calls per request the report counts on the emulator. */
export interface HostCallSubject {
  /** Its row in the report. */
  name: string;
  module: string;
  rootId: string;
  configuration: unknown;
  request: CountedRequest;
  requests?: number;
  warmup?: number;
}

export interface FilterPeers {
  groups: PeerGroup[];
  /** Peers built before the run; a variant names the build it needs. */
  builds?: PeerBuild[];
  hostCalls?: HostCallSubject[];
  /** The peers' modules for the size table (the filter's own release module is always in it). */
  modules?: { name: string; file: string }[];
  /** Break the filter's release module down by section, origin and function in the report. */
  sizeBreakdown?: boolean;
  /** Its place in the memory check's chain (every filter at 2 workers) and the request headers its work reads. */
  chain?: { filters: () => HttpFilter[]; headers?: Record<string, string> };
  /** The goals its groups are held to, read off the run's results. */
  goals?: (results: PeerResults) => Goal[];
}

export interface FilterWithPeers {
  filter: FilterInfo;
  peers: FilterPeers;
}

/** The file declaring `filter`'s peers, or null when it has none. */
export function peersFile(filter: FilterInfo): string | null {
  const candidates = [path.join(filter.dir, "peers.ts"), path.join(filter.dir, "peers", "index.ts")];
  return candidates.find((file) => existsSync(file)) ?? null;
}

/** Every filter of the catalog that declares peers, in the catalog's order. */
export async function discoverPeers(filters: FilterInfo[] = listFilters()): Promise<FilterWithPeers[]> {
  const found: FilterWithPeers[] = [];
  const owners = new Map<string, string>([["memory", "the harness"]]);
  for (const filter of filters) {
    const file = peersFile(filter);
    if (!file) continue;
    const module = (await import(pathToFileURL(file).href)) as {
      peers?: (filter: FilterInfo) => FilterPeers;
    };
    if (typeof module.peers !== "function")
      throw new Error(`${file}: export function peers(filter: FilterInfo): FilterPeers`);
    const peers = module.peers(filter);
    for (const group of peers.groups) {
      const owner = owners.get(group.id);
      if (owner) throw new Error(`${file}: group id "${group.id}" is taken by ${owner}`);
      owners.set(group.id, filter.name);
    }
    found.push({ filter, peers });
  }
  return found;
}

/** A group's variants, asking `context` when they depend on the run; a group without "none" is refused. */
export async function variantsOf(group: PeerGroup, context: GroupContext): Promise<Variant[]> {
  const variants = typeof group.variants === "function" ? await group.variants(context) : group.variants;
  if (!variants.some((variant) => variant.id === "none"))
    throw new Error(`group ${group.id}: no "none" variant to compare with`);
  return variants;
}
