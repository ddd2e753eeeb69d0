// A rollout judged from Prometheus decides as one judged from the Envoys' admin APIs: on the same
// traffic, to the same canaries, the two sources give the same verdicts for the same reasons.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import type { FilterInfo } from "../../src/filters/catalog.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import { adminApiSource, prometheusSource } from "../../src/observe/source.ts";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { runRollout, type RolloutArtifact, type RolloutResult } from "../../src/rollout/rollout.ts";
import { generateKeyPair, saveKeyPair, signingKeyFromPem } from "../../src/sign/keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "../../src/sign/policy.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { startTraffic, type TrafficRun } from "../../tools/load/traffic.ts";
import { prometheusMissing, TestPrometheus } from "../support/prometheus.ts";
import { sampleFilter } from "../support/sample-filter.ts";
import { startSlotFleet, type SlotFleet } from "../support/slot-fixture.ts";

const SLOT = "graft-slot-0";
const skip = prometheusMissing();

describe("rollouts judged from Prometheus", { skip }, () => {
  let fleet: SlotFleet | undefined;
  let prometheus: TestPrometheus | undefined;
  let traffic: TrafficRun | undefined;
  let filter: FilterInfo;
  let policy: TrustPolicy;
  let privateKeyPem = "";
  const audit = { auditLog: "", actor: "prometheus-source-test" };

  const artifact = async (injectionId: string, blocked: string[]): Promise<RolloutArtifact> => {
    const module = await readFile(filter.releaseWasm);
    const configuration = { blocked_prefixes: blocked };
    const statement = createStatement({
      wasmBytes: module,
      moduleName: `${filter.name}.wasm`,
      filter: filter.name,
      version: "1.0.0",
      injectionId,
      author: "t",
      reason: "t",
      configuration,
      ttl: "1h",
    });
    return {
      module,
      envelope: signEnvelope(statement, signingKeyFromPem(privateKeyPem)),
      configuration,
      policy,
      filter,
    };
  };
  const targets = () => fleet!.envoys.map((e) => e.target);
  const canaryTargets = () => targets().filter((t) => t.labels.role === "canary");

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
    return Promise.all([
      runRollout({
        plan,
        targets: targets(),
        artifact: candidate,
        audit,
        dryRun: true,
        metrics: adminApiSource,
      }),
      runRollout({ plan: fromPlan, targets: targets(), artifact: candidate, audit, dryRun: true }),
    ]);
  }

  before(async () => {
    filter = await sampleFilter();
    fleet = await startSlotFleet(2, {
      concurrency: 1,
      labels: (i) => ({ role: i === 0 ? "baseline" : "canary" }),
    });
    const pair = generateKeyPair();
    privateKeyPem = pair.privateKeyPem;
    const saved = await saveKeyPair(pair, path.join(fleet.workDir, "keys"), "op");
    policy = parseTrustPolicy(
      yaml.dump({
        version: 1,
        maxTtl: "2h",
        keys: [{ name: "op", publicKeyPath: saved.publicKeyPath, filters: ["*"] }],
      }),
      { source: "test policy", baseDir: fleet.workDir },
    );
    audit.auditLog = path.join(fleet.workDir, "audit.log");
    await injectFleet({
      ...audit,
      ...(await artifact("stable", ["/never"])),
      targets: targets(),
      slot: SLOT,
    });
    prometheus = await TestPrometheus.start(targets().map((t) => new URL(t.adminUrl).host));
    // Judge only once Prometheus has scraped every Envoy (it scrapes each second).
    const source = prometheusSource(prometheus.url);
    const deadline = Date.now() + 20_000;
    for (const target of targets()) {
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
      urls: fleet.envoys.map((e) => e.url),
      ratePerUrl: 200,
      durationMs: 150_000,
      path: "/api/items",
    });
  });
  after(async () => {
    traffic?.stop();
    await traffic?.done;
    await prometheus?.stop();
    await fleet?.stop();
  });

  it("both roll back a canary that refuses every request, for the same signal", async () => {
    const refuseAll = await artifact("refuse-all", ["/"]);
    await injectFleet({ ...audit, ...refuseAll, targets: canaryTargets(), slot: SLOT });
    const [fromAdmin, fromPrometheus] = await judgeBoth(refuseAll);
    assert.equal(fromAdmin.decision, "ROLLBACK", fromAdmin.reason);
    assert.equal(fromPrometheus.decision, "ROLLBACK", fromPrometheus.reason);
    const signal = (result: RolloutResult) => result.reason.split(":")[0];
    assert.equal(signal(fromPrometheus), signal(fromAdmin));
    assert.equal(signal(fromAdmin), "filter_rejections");
  });

  it("both promote a canary no worse than the baseline", async () => {
    const same = await artifact("same", ["/never"]);
    await injectFleet({ ...audit, ...same, targets: canaryTargets(), slot: SLOT });
    const [fromAdmin, fromPrometheus] = await judgeBoth(same);
    assert.equal(fromAdmin.decision, "PROMOTE", fromAdmin.reason);
    assert.equal(fromPrometheus.decision, "PROMOTE", fromPrometheus.reason);
  });
});
