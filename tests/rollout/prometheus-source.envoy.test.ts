// A rollout judged from Prometheus decides as one judged from the Envoys' admin APIs: on the same
// traffic, to the same canaries, the two sources give the same verdicts for the same reasons.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { injectFleet } from "../../src/inject/fleet.ts";
import { adminApiSource, prometheusSource } from "../../src/observe/source.ts";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { runRollout, type RolloutArtifact, type RolloutResult } from "../../src/rollout/rollout.ts";
import { startTraffic, type TrafficRun } from "../../tools/load/traffic.ts";
import { prometheusMissing, TestPrometheus } from "../support/prometheus.ts";
import { SLOT, startSampleCanary, type SampleCanary } from "../support/sample-canary.ts";

const skip = prometheusMissing();

describe("rollouts judged from Prometheus", { skip }, () => {
  let setup: SampleCanary | undefined;
  let prometheus: TestPrometheus | undefined;
  let traffic: TrafficRun | undefined;

  /** The same dry-run rollout judged from both sources at once, on the same traffic. */
  async function judgeBoth(candidate: RolloutArtifact): Promise<[RolloutResult, RolloutResult]> {
    const plan = parseRolloutPlan(
      {
        slot: SLOT,
        canary: "role=canary",
        baseline: "role=baseline",
        interval: "1s",
        minDuration: "3s",
        maxDuration: "45s",
        minRequests: 800,
        burstWindow: "1s",
        signals: [
          { name: "5xx", maxRatio: 1.5, floorRate: 0.005 },
          { name: "filter_rejections", maxRatio: 1.5, floorRate: 0.005 },
        ],
      },
      "test",
    );
    // The Prometheus run takes its source from the plan, as `graft rollout --plan` does.
    const fromPlan = { ...plan, metrics: { source: "prometheus" as const, url: prometheus!.url } };
    const common = { targets: setup!.targets(), artifact: candidate, audit: setup!.audit, dryRun: true };
    return Promise.all([
      runRollout({ ...common, plan, metrics: adminApiSource }),
      runRollout({ ...common, plan: fromPlan }),
    ]);
  }

  before(async () => {
    setup = await startSampleCanary("prometheus-source-test");
    const targets = setup.targets();
    prometheus = await TestPrometheus.start(targets.map((t) => new URL(t.adminUrl).host));
    // Judge only once Prometheus has scraped every Envoy (it scrapes each second).
    const source = prometheusSource(prometheus.url);
    const deadline = Date.now() + 20_000;
    for (const target of targets) {
      for (;;) {
        try {
          await source.scrape(target, "main");
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    }
    traffic = startTraffic({
      urls: setup.fleet.envoys.map((e) => e.url),
      ratePerUrl: 200,
      durationMs: 150_000,
      path: "/api/items",
    });
  });
  after(async () => {
    traffic?.stop();
    await traffic?.done;
    await prometheus?.stop();
    await setup?.stop();
  });

  const injectIntoCanary = async (release: RolloutArtifact) =>
    injectFleet({ ...setup!.audit, ...release, targets: setup!.canaryTargets(), slot: SLOT });

  it("both roll back a canary that refuses every request, for the same signal", async () => {
    const refuseAll = await setup!.release("refuse-all", ["/"]);
    await injectIntoCanary(refuseAll);
    const [fromAdmin, fromPrometheus] = await judgeBoth(refuseAll);
    assert.equal(fromAdmin.decision, "ROLLBACK", fromAdmin.reason);
    assert.equal(fromPrometheus.decision, "ROLLBACK", fromPrometheus.reason);
    const signal = (result: RolloutResult) => result.reason.split(":")[0];
    assert.equal(signal(fromPrometheus), signal(fromAdmin));
    assert.equal(signal(fromAdmin), "filter_rejections");
  });

  it("both promote a canary no worse than the baseline", async () => {
    const same = await setup!.release("same", ["/never"]);
    await injectIntoCanary(same);
    const [fromAdmin, fromPrometheus] = await judgeBoth(same);
    assert.equal(fromAdmin.decision, "PROMOTE", fromAdmin.reason);
    assert.equal(fromPrometheus.decision, "PROMOTE", fromPrometheus.reason);
  });
});
