// What a canary judges of the filter it rolls out: the bad events the filter's contract declares
// (metrics with role bad_event), read from the arm's counters of that filter only. Adding a filter
// adds its bad events to every rollout of it with no change here.
import { findFilter, type FilterInfo } from "../filters/catalog.ts";
import { readEnvelope } from "../sign/dsse.ts";
import { readStatement } from "../sign/statement.ts";
import type { ArmTotals } from "../observe/collect.ts";

export interface FilterBadEvents {
  filter: string;
  /** Counter names as the filter defines them: graft.<metric>. */
  counters: string[];
}

export function badEventsOf(filter: FilterInfo): FilterBadEvents {
  return {
    filter: filter.name,
    counters: filter.contract.metrics.filter((m) => m.role === "bad_event").map((m) => `graft.${m.name}`),
  };
}

/** The filter an envelope's signed statement approves, or undefined when it carries none. */
export function signedFilterName(envelope: unknown): string | undefined {
  const read = readEnvelope(envelope);
  if (!("envelope" in read)) return undefined;
  const statement = readStatement(Buffer.from(read.envelope.payload, "base64"));
  return "statement" in statement ? statement.statement.predicate.filter : undefined;
}

/**
 * The filter of a rollout: the one given (a folder outside this repository), else the one of
 * filters/ that the envelope names. Throws with the fix when neither is there.
 */
export function rolloutFilter(given: FilterInfo | undefined, envelope: unknown): FilterInfo {
  if (given) return given;
  const name = signedFilterName(envelope);
  if (!name) throw new Error("the envelope names no filter: sign the module with graft sign --filter <name>");
  try {
    return findFilter(name);
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; for a filter outside this repository give its folder (graft rollout --filter <folder>)`,
      {
        cause: error,
      },
    );
  }
}

// `wasmcustom.filter=.=<filter>;.;injection=.=<id>;.;rule=.=r;.;graft.<metric>`
const TAGGED_STAT = /^wasmcustom\.((?:[a-z_]+=\.=[^;]*;\.;)*)(.+)$/;

/** Sum of a filter counter over the arm's Envoys, counting only the named filter's series when given. */
export function filterCount(totals: ArmTotals, counter: string, filter?: string): number {
  let sum = 0;
  for (const [name, count] of Object.entries(totals.filterCounters)) {
    const match = TAGGED_STAT.exec(name);
    const base = match ? match[2] : name;
    if (base !== counter) continue;
    if (filter !== undefined && !(match?.[1] ?? "").split(";.;").includes(`filter=.=${filter}`)) continue;
    sum += count;
  }
  return sum;
}

/** Requests the filter harmed or refused, by its own declared bad events. */
export function badEventCount(totals: ArmTotals, badEvents: FilterBadEvents): number {
  let sum = 0;
  for (const counter of badEvents.counters) sum += filterCount(totals, counter, badEvents.filter);
  return sum;
}
