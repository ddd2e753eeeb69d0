import { readFile } from "node:fs/promises";
import { filterInfo } from "../../src/filters/catalog.ts";
import { startLocalFleet } from "../../src/inject/local-fleet.ts";
import type { Injection } from "../../src/inject/slot-ops.ts";
import { injectSlot } from "../../src/inject/slot-ops.ts";
import { swapTimings, swapUnderLoad } from "./swap.ts";

/** Time from writing a slot to Envoy reporting it active on all workers, over 20 inject/rollback cycles under load. */
export async function benchSwap(): Promise<string> {
  const module = await readFile(filterInfo("header-rewrite").releaseWasm);
  const tagging = (injectionId: string): Injection => ({
    filter: "header-rewrite",
    rootId: "header-rewrite",
    injectionId,
    module,
    configuration: {
      rules: [
        { name: "tag", response: [{ op: "set", name: "x-graft-injection", value: "${injection_id}" }] },
      ],
    },
    configSha256: injectionId,
  });
  const fleet = await startLocalFleet({ count: 1, concurrency: 2 });
  try {
    const { target, url } = fleet.envoys[0]!;
    await injectSlot(target, "graft-slot-0", tagging("base"));
    const run = await swapUnderLoad({
      target,
      slot: "graft-slot-0",
      url,
      cycles: 20,
      injection: (i) => tagging(`bench-${i}`),
    });
    const t = swapTimings(run);
    const failed = run.responses.filter((r) => r.status !== 200).length;
    return [
      "## Inject and rollback to active (Envoy 1.40, --concurrency 2, 20 cycles under load)",
      "",
      "| operation | p50 | max |",
      "|---|---:|---:|",
      `| inject → active on all workers | ${t.inject.p50.toFixed(0)} ms | ${t.inject.max.toFixed(0)} ms |`,
      `| rollback → previous active | ${t.rollback.p50.toFixed(0)} ms | ${t.rollback.max.toFixed(0)} ms |`,
      "",
      `${run.responses.length} requests during the swaps, ${failed} failed.`,
    ].join("\n");
  } finally {
    await fleet.stop();
  }
}
