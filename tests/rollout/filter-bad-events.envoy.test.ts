// A rollout judges what the rolled-out filter declares as its bad events (filter.json, role
// bad_event), whatever the filter: a canary that refuses everyone is rolled back by the default
// plan although Envoy answers it without a single 5xx. The filter here is one `graft new` wrote,
// outside this repository, so nothing in the toolkit knows its metric names in advance.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseRolloutPlan, DEFAULT_SIGNALS } from "../../src/rollout/plan.ts";
import { badEventsOf } from "../../src/rollout/filter-signals.ts";
import { runRollout } from "../../src/rollout/rollout.ts";
import { startTraffic, type TrafficRun } from "../../tools/load/traffic.ts";
import { SLOT, startSampleCanary, type SampleCanary } from "../support/sample-canary.ts";

describe("a rollout judges the filter's declared bad events", () => {
  let setup: SampleCanary | undefined;
  let traffic: TrafficRun | undefined;

  before(async () => {
    setup = await startSampleCanary("bad-events-test");
    traffic = startTraffic({
      urls: setup.fleet.envoys.map((e) => e.url),
      ratePerUrl: 200,
      durationMs: 90_000,
      path: "/api/items",
    });
  });
  after(async () => {
    traffic?.stop();
    await traffic?.done;
    await setup?.stop();
  });

  it("reads the bad events from the filter's contract, not from a list in the toolkit", () => {
    assert.deepEqual(badEventsOf(setup!.filter), {
      filter: setup!.filter.name,
      counters: ["graft.blocked_total"],
    });
    assert.ok(
      DEFAULT_SIGNALS.some((signal) => signal.name === "filter_rejections"),
      "the default plan judges them",
    );
  });

  it("rolls back, with the default signals, a canary that refuses every request", async () => {
    const plan = parseRolloutPlan(
      {
        slot: SLOT,
        canary: "role=canary",
        baseline: "role=baseline",
        interval: "1s",
        minDuration: "3s",
        maxDuration: "40s",
        burstWindow: "1s",
      },
      "test",
    );
    const result = await runRollout({
      plan,
      targets: setup!.targets(),
      artifact: await setup!.release("refuse-all", ["/"]),
      audit: setup!.audit,
    });
    assert.equal(result.decision, "ROLLBACK", result.reason);
    assert.match(result.reason, /^filter_rejections: canary [\d.]+% .* vs baseline 0% /);
    assert.equal(result.canaryState, "rolled back");
    // Envoy itself saw no server error: only the filter's declared bad event told the canary apart.
    assert.equal(result.looks.at(-1)!.canary.rq5xx, 0);
  });
});
