// Rollouts through graft agents, against real Envoys under loopback traffic: each Envoy has its
// agent as its own process, the rollout asks them with the control-plane key (the canary injection,
// the promotion and the rollback each under the rollout's operation id), the agents verify against
// their own signed policy and audit in their own signed logs, and the rollout's records stay in the
// control plane's log. A good release is promoted, a faulty one (refusing 4% of live traffic)
// rolled back, and an error or an interruption mid-rollout rolls the canary back through its agent.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { verifyAuditLog } from "../../src/audit/log.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import type { LocalAgents } from "../../src/inject/local-agents.ts";
import { judge } from "../../src/judge/judge.ts";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { runRollout, RolloutError, type RolloutResult } from "../../src/rollout/rollout.ts";
import type { TrafficRun } from "../../tools/load/traffic.ts";
import { mallory, release, sample } from "../agent/support/agent-fleet.ts";
import {
  activeOn,
  AGENT_PLAN,
  AGENTS_POLICY,
  agentArtifact,
  agentRecords,
  controller,
  FAULTY_BLOCKED,
  SLOT,
  startRolloutAgents,
  startRolloutTraffic,
  verifyAgentLog,
} from "./support/agents.ts";

interface CliRecord {
  action: string;
  outcome: string;
  reason: string | null;
  details: { operationId?: string; through?: string; decision?: string; canaryState?: string };
}

describe("rollouts through graft agents (real Envoys, agent processes)", () => {
  let local: LocalAgents | undefined;
  let traffic: TrafficRun | undefined;
  let auditLog = "";
  const audit = () => ({ auditLog, actor: "rollout-test", caller: controller.key });
  const plan = (overrides: Record<string, unknown> = {}) =>
    parseRolloutPlan({ ...AGENT_PLAN, ...overrides }, "test plan");
  const baseline = () => local!.hosts[0]!;
  const canary = () => local!.hosts[1]!;
  const cliRecords = async () =>
    (await readFile(auditLog, "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as CliRecord);

  before(async () => {
    local = await startRolloutAgents();
    auditLog = path.join(local.workDir, "control-plane.audit.log");
    const stable = agentArtifact("stable", "1.0.0");
    const first = await injectFleet({ ...audit(), ...stable, targets: local.targets, slot: SLOT });
    assert.deepEqual(first.failures, []);
    traffic = startRolloutTraffic(
      local.hosts.map((h) => h.url),
      150_000,
    );
  });
  after(async () => {
    traffic?.stop();
    await traffic?.done;
    await local?.stop();
  });

  const rollout = (
    artifact: ReturnType<typeof agentArtifact>,
    extra: Partial<Parameters<typeof runRollout>[0]> = {},
  ): Promise<RolloutResult> =>
    runRollout({ plan: plan(), targets: local!.targets, artifact, audit: audit(), ...extra });

  it("promotes a good release: the canary through its agent, then the baseline through its own", async () => {
    const result = await rollout(agentArtifact("good", "1.1.0"));
    assert.equal(result.decision, "PROMOTE", result.reason);
    assert.equal(result.canaryState, "promoted");
    assert.match(result.operationId ?? "", /^rollout-/);
    assert.equal(await activeOn(canary()), "good");
    assert.equal(await activeOn(baseline()), "good");
    // Each agent applied its step under the rollout's operation id, as the caller key's name.
    const canaryInject = (await agentRecords(canary())).filter(
      (r) => r.action === "inject" && r.outcome === "ok" && r.details?.injectionId === "good",
    );
    assert.deepEqual(
      canaryInject.map((r) => [r.actor, r.details?.operationId]),
      [[controller.name, `${result.operationId}.canary`]],
    );
    const promoted = (await agentRecords(baseline())).filter(
      (r) => r.action === "inject" && r.outcome === "ok" && r.details?.injectionId === "good",
    );
    assert.deepEqual(
      promoted.map((r) => r.details?.operationId),
      [`${result.operationId}.promote`],
    );
    // The rollout's own records are in the control plane's log, naming the operation.
    const records = await cliRecords();
    const start = records.filter((r) => r.action === "rollout-start").at(-1)!;
    assert.equal(start.details.operationId, result.operationId);
    assert.equal(start.details.through, "agents");
    assert.equal(records.filter((r) => r.action === "rollout-decision").at(-1)!.details.decision, "PROMOTE");
    assert.ok(!records.some((r) => r.action === "inject"), "agent changes are audited by the agents");
    assert.ok((await verifyAuditLog(auditLog)).ok);
    for (const host of local!.hosts) {
      const verified = await verifyAgentLog(host);
      assert.equal(verified.ok, true, `${host.name}: ${verified.detail}`);
    }
  });

  it("rolls a faulty release back through the canary's agent, explaining with the filter_rejections line", async () => {
    const result = await rollout(agentArtifact("faulty", "1.2.0", FAULTY_BLOCKED));
    assert.equal(result.decision, "ROLLBACK", result.reason);
    assert.equal(result.canaryState, "rolled back");
    assert.match(
      result.reason,
      /^filter_rejections: canary [\d.]+% \(\d+\/\d+\) vs baseline 0% \(0\/\d+\); .* → ROLLBACK/,
    );
    assert.equal(await activeOn(canary()), "good");
    assert.equal(await activeOn(baseline()), "good", "the baseline never saw the faulty release");
    const rollbacks = (await agentRecords(canary())).filter(
      (r) => r.action === "rollback" && r.outcome === "ok",
    );
    assert.deepEqual(
      rollbacks.map((r) => [r.details?.operationId, r.details?.from, r.details?.to]),
      [[`${result.operationId}.rollback`, "faulty", "good"]],
    );
    assert.ok(!(await agentRecords(baseline())).some((r) => r.details?.injectionId === "faulty"));
    for (const host of local!.hosts) assert.equal((await verifyAgentLog(host)).ok, true, host.name);
  });

  it("rolls the canary back through its agent when the judge fails mid-rollout", async () => {
    let calls = 0;
    const result = await rollout(agentArtifact("judge-error", "1.3.0"), {
      judge: (observations, config) => {
        if (++calls === 2) throw new Error("judge input error (test)");
        return judge(observations, config);
      },
    });
    assert.equal(result.decision, "ERROR");
    assert.equal(result.canaryState, "rolled back");
    assert.match(result.reason, /judge input error \(test\)/);
    assert.equal(await activeOn(canary()), "good");
    const rollback = (await agentRecords(canary())).filter((r) => r.action === "rollback").at(-1)!;
    assert.equal(rollback.details?.operationId, `${result.operationId}.rollback`);
    assert.equal(rollback.details?.from, "judge-error");
    const decision = (await cliRecords()).filter((r) => r.action === "rollout-decision").at(-1)!;
    assert.equal(decision.outcome, "failed");
    assert.equal(decision.details.canaryState, "rolled back");
  });

  it("rolls the canary back through its agent when interrupted (SIGINT/SIGTERM abort the rollout)", async () => {
    const interrupt = new AbortController();
    const result = await rollout(agentArtifact("interrupted", "1.3.1"), {
      plan: plan({ minDuration: "30s", maxDuration: "60s" }),
      signal: interrupt.signal,
      onLook: () => interrupt.abort(new Error("interrupted by SIGTERM")),
    });
    assert.equal(result.decision, "ERROR");
    assert.equal(result.canaryState, "rolled back");
    assert.match(result.reason, /interrupted by SIGTERM/);
    assert.equal(await activeOn(canary()), "good");
  });

  it("leaves the canary's release alone when its agent refuses the canary (nothing to roll back)", async () => {
    const untrusted = release("untrusted", [mallory], { version: "1.4.0" });
    const result = await rollout({ ...untrusted, policy: AGENTS_POLICY, filter: sample });
    assert.equal(result.decision, "ERROR");
    assert.equal(result.canaryState, "not injected");
    assert.match(result.reason, /canary injection failed: envoy-canary: .*UNKNOWN_KEY/);
    assert.equal(await activeOn(canary()), "good", "a refusal must not roll back the release before it");
  });

  it("refuses before injecting when an agent target has no admin URL for the judge, or no caller key is given", async () => {
    const before = (await agentRecords(canary())).length;
    const blind = local!.targets.map((t) => (t.name === "envoy-canary" ? { ...t, adminUrl: "" } : t));
    await assert.rejects(
      runRollout({ plan: plan(), targets: blind, artifact: agentArtifact("blind", "1.5.0"), audit: audit() }),
      (error: unknown) =>
        error instanceof RolloutError &&
        /envoy-canary: no admin URL in the targets file, so the judge cannot read their counters .*admin: http/.test(
          error.message,
        ),
    );
    await assert.rejects(
      runRollout({
        plan: plan(),
        targets: local!.targets,
        artifact: agentArtifact("no-key", "1.5.0"),
        audit: { auditLog, actor: "rollout-test" },
      }),
      /these targets have graft agents: give the control-plane key the agents trust \(--key/,
    );
    assert.equal((await agentRecords(canary())).length, before, "the agent was never asked");
  });
});
