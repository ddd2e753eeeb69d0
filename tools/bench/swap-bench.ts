// `node --import tsx tools/bench/swap-bench.ts [--filter <name|folder>] [--config <file.json>]`: time
// from writing a slot to Envoy reporting it active on all workers, over 20 inject/rollback cycles
// under load. The filter defaults to the first one of filters/ and the configuration to its richest
// example (see ./emulator.ts).
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { findFilter, type FilterInfo } from "../../src/filters/catalog.ts";
import { startLocalFleet } from "../../src/inject/local-fleet.ts";
import type { Injection } from "../../src/inject/slot-ops.ts";
import { injectSlot } from "../../src/inject/slot-ops.ts";
import { defaultBenchFilter, exampleConfiguration } from "./emulator.ts";
import { swapTimings, swapUnderLoad } from "./swap.ts";

export interface SwapBenchOptions {
  /** The filter (default: the first filter of filters/). */
  filter?: FilterInfo;
  /** Its configuration (default: its richest example configuration). */
  configuration?: unknown;
}

/** Time from writing a slot to Envoy reporting it active on all workers, over 20 inject/rollback cycles under load. */
export async function benchSwap(options: SwapBenchOptions = {}): Promise<string> {
  const filter = options.filter ?? defaultBenchFilter();
  const example = options.configuration === undefined ? exampleConfiguration(filter) : undefined;
  const configuration = (example?.configuration ?? options.configuration) as Record<string, unknown>;
  const module = await readFile(filter.releaseWasm);
  const injection = (injectionId: string): Injection => ({
    filter: filter.name,
    rootId: filter.rootId,
    injectionId,
    module,
    configuration,
    configSha256: injectionId,
  });
  const fleet = await startLocalFleet({ count: 1, concurrency: 2 });
  try {
    const { target, url } = fleet.envoys[0]!;
    await injectSlot(target, "graft-slot-0", injection("base"));
    const run = await swapUnderLoad({
      target,
      slot: "graft-slot-0",
      url,
      cycles: 20,
      injection: (i) => injection(`bench-${i}`),
    });
    const t = swapTimings(run);
    // A swap fails a request when nothing answers it or Envoy answers 5xx; other answers are the filter's.
    const failed = run.responses.filter((r) => r.status === 0 || r.status >= 500).length;
    const statuses = new Map<number, number>();
    for (const r of run.responses) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    return [
      `## Inject and rollback to active (Envoy 1.40, --concurrency 2, 20 cycles under load, ${filter.name} with ${example?.source ?? "the given configuration"})`,
      "",
      "| operation | p50 | max |",
      "|---|---:|---:|",
      `| inject → active on all workers | ${t.inject.p50.toFixed(0)} ms | ${t.inject.max.toFixed(0)} ms |`,
      `| rollback → previous active | ${t.rollback.p50.toFixed(0)} ms | ${t.rollback.max.toFixed(0)} ms |`,
      "",
      `${run.responses.length} requests during the swaps, ${failed} failed (answers: ${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([status, count]) => `${status} ×${count}`)
        .join(", ")}).`,
    ].join("\n");
  } finally {
    await fleet.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({ options: { filter: { type: "string" }, config: { type: "string" } } });
  console.log(
    await benchSwap({
      ...(values.filter ? { filter: findFilter(values.filter) } : {}),
      ...(values.config ? { configuration: JSON.parse(readFileSync(values.config, "utf8")) as unknown } : {}),
    }),
  );
}
