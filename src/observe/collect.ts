import type { AdminClient } from "../envoy/admin.ts";

/** One scrape of one Envoy's admin stats: what the canary judge needs, as Envoy counts it. */
export interface EnvoyScrape {
  /** `server.uptime`: a smaller value than last time means Envoy restarted and counters reset. */
  uptimeSeconds: number;
  requests: number;
  rq4xx: number;
  rq5xx: number;
  /** Cumulative latency histogram (ms upper bound → requests at or below it), as of the last flush. */
  latency: { upperBound: number; count: number }[];
  /** Wasm VM reloads and reload failures over all plugins (`wasm.<plugin>.vm_reload*`). */
  vmFailures: number;
  /** graft filter counters by their `/stats` name (tags in the name). */
  filterCounters: Record<string, number>;
  memoryAllocated: number;
}

/** Scrapes the listener's HTTP stats (`http.<listener>.…`), Wasm health and graft's filter counters. */
export async function scrapeEnvoy(admin: AdminClient, listener: string): Promise<EnvoyScrape> {
  const prefix = `http.${listener}.`;
  const stats = await admin.stats(
    `^(http\\.${listener.replace(/[.]/g, "\\.")}\\.downstream_rq_|server\\.(uptime|memory_allocated)$|wasm\\.|wasmcustom\\.)`,
  );
  if (!stats.values.has(`${prefix}downstream_rq_completed`)) {
    // A wrong stat_prefix would otherwise read as "no traffic" until maxDuration.
    const listeners = await admin.stats("^http\\.[^.]+\\.downstream_rq_completed$");
    const known = [...listeners.values.keys()]
      .map((name) => name.split(".")[1])
      .filter((name) => name !== listener);
    throw new Error(
      `listener "${listener}" has no HTTP stats (no ${prefix}downstream_rq_completed); ` +
        (known.length > 0
          ? `listeners with stats: ${known.join(", ")}; set the plan's listener to one of them`
          : "no listener has HTTP stats yet; check the Envoy's stat_prefix"),
    );
  }
  const value = (name: string) => stats.values.get(name) ?? 0;
  let vmFailures = 0;
  const filterCounters: Record<string, number> = {};
  for (const [name, count] of stats.values) {
    if (/^wasm\.[^.]+\.vm_reload(_failure)?$/.test(name) && !name.startsWith("wasm.envoy."))
      vmFailures += count;
    if (name.startsWith("wasmcustom.") && name.includes("graft.")) filterCounters[name] = count;
  }
  return {
    uptimeSeconds: value("server.uptime"),
    requests: value(`${prefix}downstream_rq_completed`),
    rq4xx: value(`${prefix}downstream_rq_4xx`),
    rq5xx: value(`${prefix}downstream_rq_5xx`),
    latency: stats.histograms.get(`${prefix}downstream_rq_time`)?.buckets ?? [],
    vmFailures,
    filterCounters,
    memoryAllocated: value("server.memory_allocated"),
  };
}

/** Totals since collection started, summed over an arm's Envoys and stitched across restarts. */
export interface ArmTotals {
  requests: number;
  rq4xx: number;
  rq5xx: number;
  /** Requests slower than each latency bucket bound (ms). */
  slowerThan: Map<number, number>;
  vmFailures: number;
  filterCounters: Record<string, number>;
  /** Counter resets seen (Envoy restarts): a crash-loop signal in itself. */
  resets: number;
  /** Latest allocated memory, summed over the arm's Envoys. */
  memoryAllocated: number;
}

const COUNTERS = ["requests", "rq4xx", "rq5xx", "vmFailures"] as const;

/**
 * Turns successive scrapes of one Envoy into growth since the first scrape. When Envoy restarts,
 * its counters start again from zero: the new values count as growth on top of what was seen,
 * never as a negative rate.
 */
export class EnvoySeries {
  private first: EnvoyScrape | undefined;
  private last: EnvoyScrape | undefined;
  private carried = { requests: 0, rq4xx: 0, rq5xx: 0, vmFailures: 0 };
  private carriedSlow = new Map<number, number>();
  private carriedFilter: Record<string, number> = {};
  resets = 0;

  push(scrape: EnvoyScrape): void {
    if (!this.first) {
      this.first = scrape;
      this.last = scrape;
      return;
    }
    const previous = this.last!;
    const restarted = scrape.uptimeSeconds < previous.uptimeSeconds || anyCounterDecreased(previous, scrape);
    if (restarted) {
      // Bank the growth up to the last scrape before the restart; the new process starts at zero.
      const banked = this.growth(previous);
      for (const key of COUNTERS) this.carried[key] = banked[key];
      this.carriedSlow = banked.slowerThan;
      this.carriedFilter = banked.filterCounters;
      this.first = {
        ...scrape,
        requests: 0,
        rq4xx: 0,
        rq5xx: 0,
        vmFailures: 0,
        latency: scrape.latency.map((b) => ({ ...b, count: 0 })),
        filterCounters: {},
      };
      this.resets += 1;
    }
    this.last = scrape;
  }

  /** Growth from the first scrape to `scrape` plus what was banked across restarts. */
  private growth(scrape: EnvoyScrape): Omit<ArmTotals, "resets" | "memoryAllocated"> {
    const first = this.first!;
    const result = {
      requests: this.carried.requests + scrape.requests - first.requests,
      rq4xx: this.carried.rq4xx + scrape.rq4xx - first.rq4xx,
      rq5xx: this.carried.rq5xx + scrape.rq5xx - first.rq5xx,
      vmFailures: this.carried.vmFailures + scrape.vmFailures - first.vmFailures,
      slowerThan: new Map<number, number>(this.carriedSlow),
      filterCounters: { ...this.carriedFilter },
    };
    const total = scrape.latency.at(-1)?.count ?? 0;
    const firstTotal = first.latency.at(-1)?.count ?? 0;
    for (const bucket of scrape.latency) {
      const before = first.latency.find((b) => b.upperBound === bucket.upperBound)?.count ?? 0;
      const slower = total - bucket.count - (firstTotal - before);
      result.slowerThan.set(
        bucket.upperBound,
        (result.slowerThan.get(bucket.upperBound) ?? 0) + Math.max(0, slower),
      );
    }
    for (const [name, count] of Object.entries(scrape.filterCounters)) {
      result.filterCounters[name] =
        (result.filterCounters[name] ?? 0) + count - (first.filterCounters[name] ?? 0);
    }
    return result;
  }

  /** Counts from here on: the next scrape becomes the first (what was seen so far is dropped). */
  restart(): void {
    this.first = undefined;
    this.last = undefined;
    this.carried = { requests: 0, rq4xx: 0, rq5xx: 0, vmFailures: 0 };
    this.carriedSlow = new Map();
    this.carriedFilter = {};
    this.resets = 0;
  }

  /** The last scrape's counters as they are: totals since this Envoy started (not since collection did). */
  lifetime(): ArmTotals {
    if (!this.last) return emptyTotals();
    const last = this.last;
    const total = last.latency.at(-1)?.count ?? 0;
    return {
      requests: last.requests,
      rq4xx: last.rq4xx,
      rq5xx: last.rq5xx,
      slowerThan: new Map(
        last.latency.map((bucket) => [bucket.upperBound, Math.max(0, total - bucket.count)]),
      ),
      vmFailures: last.vmFailures,
      filterCounters: { ...last.filterCounters },
      resets: 0,
      memoryAllocated: last.memoryAllocated,
    };
  }

  /** Seconds since this Envoy started, as of the last scrape. */
  uptimeSeconds(): number {
    return this.last?.uptimeSeconds ?? 0;
  }

  totals(): ArmTotals {
    if (!this.last) return emptyTotals();
    return { ...this.growth(this.last), resets: this.resets, memoryAllocated: this.last.memoryAllocated };
  }
}

/**
 * Counters only grow while Envoy runs, so any that went down means a restart (hot restarts keep
 * uptime growing, and a restart can happen between two scrapes with few requests).
 */
function anyCounterDecreased(previous: EnvoyScrape, scrape: EnvoyScrape): boolean {
  for (const key of COUNTERS) if (scrape[key] < previous[key]) return true;
  for (const [name, count] of Object.entries(previous.filterCounters))
    if ((scrape.filterCounters[name] ?? 0) < count) return true;
  for (const bucket of previous.latency) {
    const now = scrape.latency.find((b) => b.upperBound === bucket.upperBound);
    if (now && now.count < bucket.count) return true;
  }
  return false;
}

function emptyTotals(): ArmTotals {
  return {
    requests: 0,
    rq4xx: 0,
    rq5xx: 0,
    slowerThan: new Map(),
    vmFailures: 0,
    filterCounters: {},
    resets: 0,
    memoryAllocated: 0,
  };
}

/** Sums the totals of an arm's Envoys. */
export function sumTotals(parts: ArmTotals[]): ArmTotals {
  const sum = emptyTotals();
  for (const part of parts) {
    sum.requests += part.requests;
    sum.rq4xx += part.rq4xx;
    sum.rq5xx += part.rq5xx;
    sum.vmFailures += part.vmFailures;
    sum.resets += part.resets;
    sum.memoryAllocated += part.memoryAllocated;
    for (const [bound, count] of part.slowerThan)
      sum.slowerThan.set(bound, (sum.slowerThan.get(bound) ?? 0) + count);
    for (const [name, count] of Object.entries(part.filterCounters))
      sum.filterCounters[name] = (sum.filterCounters[name] ?? 0) + count;
  }
  return sum;
}
