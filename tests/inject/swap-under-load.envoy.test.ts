// Zero-downtime swaps: under a steady loopback load, a slot is injected and rolled back 20 times.
// No request may fail, and every response must carry an injection that was active while it ran.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { allowedInjections, swapTimings, swapUnderLoad } from "../../tools/bench/swap.ts";
import type { Injection } from "../../src/inject/slot-ops.ts";
import { injectSlot } from "../../src/inject/slot-ops.ts";
import type { FilterInfo } from "../../src/filters/catalog.ts";
import { sampleFilter } from "../support/sample-filter.ts";
import { startSlotFleet, type SlotFleet } from "../support/slot-fixture.ts";

const SLOT = "graft-slot-0";
/** The sample filter answers every request with this header carrying its injection id. */
const INJECTION_HEADER = "x-graft-injection";

describe("swapping a filter under load", () => {
  let fleet: SlotFleet | undefined;
  let filter: FilterInfo;
  let module: Buffer;
  const tagging = (injectionId: string): Injection => ({
    filter: filter.name,
    rootId: filter.rootId,
    injectionId,
    module,
    configuration: { response_header: INJECTION_HEADER },
    configSha256: `sha-${injectionId}`,
  });
  before(async () => {
    filter = await sampleFilter();
    module = readFileSync(filter.releaseWasm);
    fleet = await startSlotFleet(1, { concurrency: 2 });
  });
  after(async () => fleet?.stop());

  it("injects and rolls back 20 times with no failed request, each response from an active version", async () => {
    const { target, url } = fleet!.envoys[0]!;
    await injectSlot(target, SLOT, tagging("base"));
    const run = await swapUnderLoad({
      target,
      slot: SLOT,
      url,
      cycles: 20,
      injection: (i) => tagging(`swap-${i}`),
      injectionHeader: INJECTION_HEADER,
    });
    const failed = run.responses.filter((r) => r.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${run.responses.length} requests failed`);
    assert.ok(run.responses.length > 200, `only ${run.responses.length} requests ran during the swaps`);
    for (const response of run.responses) {
      const allowed = allowedInjections(run, "base", response);
      assert.ok(
        response.injection !== null && allowed.has(response.injection),
        `response carried ${response.injection}; active then: ${[...allowed].join(", ")}`,
      );
    }
    const seen = new Set(run.responses.map((r) => r.injection));
    assert.ok(seen.size >= 10, `responses showed only ${seen.size} distinct versions`);
    const timings = swapTimings(run);
    assert.ok(timings.inject.max < 5_000 && timings.rollback.max < 5_000, JSON.stringify(timings));
  });
});
