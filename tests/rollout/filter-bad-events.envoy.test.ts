// A rollout judges what the rolled-out filter declares as its bad events (filter.json, role
// bad_event), whatever the filter: a canary that refuses everyone is rolled back by the default
// plan although Envoy answers it without a single 5xx. The filter here is one `graft new` wrote,
// outside this repository, so nothing in the toolkit knows its metric names in advance.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import type { FilterInfo } from "../../src/filters/catalog.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import { parseRolloutPlan, DEFAULT_SIGNALS } from "../../src/rollout/plan.ts";
import { badEventsOf } from "../../src/rollout/filter-signals.ts";
import { runRollout, type RolloutArtifact } from "../../src/rollout/rollout.ts";
import { generateKeyPair, saveKeyPair, signingKeyFromPem } from "../../src/sign/keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "../../src/sign/policy.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { startTraffic, type TrafficRun } from "../../tools/load/traffic.ts";
import { sampleFilter } from "../support/sample-filter.ts";
import { startSlotFleet, type SlotFleet } from "../support/slot-fixture.ts";

const SLOT = "graft-slot-0";

describe("a rollout judges the filter's declared bad events", () => {
  let fleet: SlotFleet | undefined;
  let traffic: TrafficRun | undefined;
  let filter: FilterInfo;
  let policy: TrustPolicy;
  let privateKeyPem = "";
  const audit = { auditLog: "", actor: "bad-events-test" };

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
    traffic = startTraffic({
      urls: fleet.envoys.map((e) => e.url),
      ratePerUrl: 200,
      durationMs: 90_000,
      path: "/api/items",
    });
  });
  after(async () => {
    traffic?.stop();
    await traffic?.done;
    await fleet?.stop();
  });

  it("reads the bad events from the filter's contract, not from a list in the toolkit", () => {
    assert.deepEqual(badEventsOf(filter), { filter: filter.name, counters: ["graft.blocked_total"] });
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
      targets: targets(),
      artifact: await artifact("refuse-all", ["/"]),
      audit,
    });
    assert.equal(result.decision, "ROLLBACK", result.reason);
    assert.match(result.reason, /^filter_rejections: canary [\d.]+% .* vs baseline 0% /);
    assert.equal(result.canaryState, "rolled back");
    // Envoy itself saw no server error: only the filter's declared bad event told the canary apart.
    assert.equal(result.looks.at(-1)!.canary.rq5xx, 0);
  });
});
