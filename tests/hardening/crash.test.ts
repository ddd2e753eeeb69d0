// Crashes mid-operation, against real Envoys with their graft agents as processes:
// - the control plane (the graft CLI, a rollout) SIGKILLed during inject, rollback and rollout at
//   several points, then run again with the same operation id: every step is applied once on every
//   agent and the fleet converges;
// - an agent SIGKILLed during an inject, restarted, and the inject re-run: the agent repairs what it
//   was writing back to its last verified state, applies the change once, and its signed audit log
//   still verifies with its key and checkpoint;
// - the canary Envoy restarted mid-canary of an identical release: its counters start again from
//   zero, and the judge stitches them (no spurious rate) and counts the restart once as a crash-loop
//   signal. The intended behaviour: one restart is below the default guard (3 in 5 min), so the
//   canary is PROMOTED on its rates; a plan with crashLoop.maxFailures 1 rolls it back, and says it
//   was the crash-loop guard, never a rate. (A restart is seen only between two looks: an admin API
//   that does not answer at a look is an error, and the rollout fails safe by rolling back.)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { verifyAuditLog } from "../../src/audit/log.ts";
import { injectFleet, rollbackFleet } from "../../src/inject/fleet.ts";
import type { LocalAgentHost, LocalAgents } from "../../src/inject/local-agents.ts";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { runRollout } from "../../src/rollout/rollout.ts";
import { projectRoot } from "../../src/util/paths.ts";
import type { TrafficRun } from "../../tools/load/traffic.ts";
import {
  activeOn,
  AGENT_PLAN,
  agentArtifact,
  agentRecords,
  controller,
  FAULTY_BLOCKED,
  SLOT,
  startRolloutAgents,
  startRolloutTraffic,
  verifyAgentLog,
} from "../rollout/support/agents.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const driver = path.join(here, "..", "rollout", "fixtures", "rollout-main.ts");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a node process; SIGKILLs it as soon as its stdout matches `killAt` (a crash at that point). */
function run(args: string[], killAt?: RegExp): Promise<Run & { killed: boolean }> {
  const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let killed = false;
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (!killed && killAt?.test(stdout)) {
      killed = true;
      child.kill("SIGKILL");
    }
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr, killed })));
}

const graft = (args: string[], killAt?: RegExp) =>
  run([path.join(projectRoot, "bin", "graft.js"), ...args], killAt);

/**
 * A control plane SIGKILLed while holding its audit log's lock leaves the lock behind, but never an
 * empty one (src/util/lock-file.ts creates it whole): it names the dead pid, so the next writer
 * breaks it at once instead of waiting out its age.
 */
async function assertNoEmptyLock(log: string): Promise<void> {
  const text = await readFile(`${log}.lock`, "utf8").catch(() => undefined);
  if (text === undefined) return;
  const holder = JSON.parse(text) as { pid?: unknown };
  assert.equal(typeof holder.pid, "number", `a lock without its holder's pid: ${text}`);
}

/** The agent's "ok" records of one action under one operation id: how often it was applied. */
async function applied(host: LocalAgentHost, action: string, operationId: string): Promise<number> {
  return (await agentRecords(host)).filter(
    (r) => r.action === action && r.outcome === "ok" && r.details?.operationId === operationId,
  ).length;
}

describe("crashes mid-operation converge (real Envoys, agent processes)", () => {
  let local: LocalAgents | undefined;
  let traffic: TrafficRun | undefined;
  let dir = "";
  let keyFile = "";
  let auditLog = "";
  const hosts = () => local!.hosts;
  const everywhere = () => Promise.all(hosts().map(activeOn));
  const audit = () => ({ auditLog, actor: "crash-test", caller: controller.key });

  /** Writes a release's files for the CLI: module, envelope, configuration. */
  async function releaseFiles(injectionId: string, version: string) {
    const artifact = agentArtifact(injectionId, version);
    const file = (ext: string) => path.join(dir, `${injectionId}.${ext}`);
    await writeFile(file("wasm"), artifact.module);
    await writeFile(file("dsse.json"), JSON.stringify(artifact.envelope));
    await writeFile(file("config.json"), JSON.stringify(artifact.configuration));
    return { artifact, wasm: file("wasm"), envelope: file("dsse.json"), config: file("config.json") };
  }

  before(async () => {
    local = await startRolloutAgents();
    dir = local.workDir;
    keyFile = path.join(dir, "keys", "ops-ctl.key.pem");
    await writeFile(keyFile, controller.pair.privateKeyPem, { mode: 0o600 });
    auditLog = path.join(dir, "control-plane.audit.log");
    const stable = agentArtifact("stable", "1.0.0");
    assert.deepEqual(
      (await injectFleet({ ...audit(), ...stable, targets: local.targets, slot: SLOT })).failures,
      [],
    );
    traffic = startRolloutTraffic(
      hosts().map((h) => h.url),
      170_000,
    );
  });
  after(async () => {
    traffic?.stop();
    await traffic?.done;
    await local?.stop();
  });

  it("graft inject killed before any agent answered, and after the first one did, converges on re-run", async () => {
    const common = ["--targets", local!.targetsFile, "--key", keyFile, "--slot", SLOT];
    for (const [index, killAt] of [/^operation \S+/m, /envoy-baseline\/graft-slot-0: applied/].entries()) {
      const id = `op-crash-inject-${index + 1}`;
      const injection = `crash-inject-${index + 1}`;
      const files = await releaseFiles(injection, `1.0.${index + 1}`);
      const args = ["inject", files.wasm, "--envelope", files.envelope, "--config", files.config, ...common];
      const killed = await graft([...args, "--operation-id", id], killAt);
      assert.ok(killed.killed, `the CLI was to be killed at ${killAt}: ${killed.stdout}${killed.stderr}`);
      const again = await graft([...args, "--operation-id", id]);
      assert.equal(again.code, 0, `${again.stdout}${again.stderr}`);
      assert.deepEqual(await everywhere(), [injection, injection]);
      for (const host of hosts())
        assert.equal(await applied(host, "inject", id), 1, `${host.name} applied ${id}`);
    }
    // The second run answered envoy-baseline from the agent's memory: it had applied before the kill.
    const last = (await agentRecords(hosts()[0]!)).filter(
      (r) => r.details?.operationId === "op-crash-inject-2",
    );
    assert.deepEqual(
      last.map((r) => r.outcome),
      ["intent", "ok"],
    );
  });

  it("graft rollback killed after the first agent rolled back converges: one step down on every host", async () => {
    const args = ["rollback", "--targets", local!.targetsFile, "--key", keyFile, "--slot", SLOT];
    const id = "op-crash-rollback";
    const killed = await graft([...args, "--operation-id", id], /envoy-baseline\/graft-slot-0: rolled-back/);
    assert.ok(killed.killed, `${killed.stdout}${killed.stderr}`);
    const again = await graft([...args, "--operation-id", id]);
    assert.equal(again.code, 0, `${again.stdout}${again.stderr}`);
    assert.match(
      again.stdout,
      /envoy-baseline\/graft-slot-0: rolled-back .*\[already done by this operation id\]/,
    );
    assert.deepEqual(await everywhere(), ["crash-inject-1", "crash-inject-1"], "one step down, not two");
    for (const host of hosts()) assert.equal(await applied(host, "rollback", id), 1, host.name);
  });

  /** A rollout through the driver process; `killAt` SIGKILLs it at that point. */
  async function rolloutProcess(
    name: string,
    operationId: string,
    blocked: string[] | undefined,
    version: string,
    killAt?: RegExp,
  ) {
    const artifact = agentArtifact(name, version, blocked);
    const job = path.join(dir, `${name}.job.json`);
    const wasm = path.join(dir, `${name}.wasm`);
    await writeFile(wasm, artifact.module);
    await writeFile(
      job,
      JSON.stringify({
        targetsFile: local!.targetsFile,
        plan: AGENT_PLAN,
        module: wasm,
        envelope: artifact.envelope,
        configuration: artifact.configuration,
        auditLog,
        keyFile,
        operationId,
        filterDir: artifact.filter!.dir,
      }),
    );
    const result = await run(["--import", "tsx", driver, job], killAt);
    if (result.killed) await assertNoEmptyLock(auditLog);
    return result;
  }

  it("a rollout killed mid-judging resumes with its operation id: the canary is not injected twice", async () => {
    const id = "rollout-crash-judging";
    const killed = await rolloutProcess("resumed", id, undefined, "1.1.0", /^t=\d+s /m);
    assert.ok(killed.killed, `${killed.stdout}${killed.stderr}`);
    assert.deepEqual(await everywhere(), ["crash-inject-1", "resumed"], "killed with the canary in");
    const again = await rolloutProcess("resumed", id, undefined, "1.1.0");
    assert.equal(again.code, 0, `${again.stdout}${again.stderr}`);
    assert.match(again.stdout, /envoy-canary\/graft-slot-0: applied → resumed \[replayed\]/);
    assert.match(again.stdout, /^PROMOTE: .*\[canary promoted\]/m);
    assert.deepEqual(await everywhere(), ["resumed", "resumed"]);
    const [baseline, canary] = hosts();
    assert.equal(await applied(canary!, "inject", `${id}.canary`), 1);
    assert.equal(await applied(baseline!, "inject", `${id}.promote`), 1);
  });

  it("a rollout killed after rolling a faulty canary back ends on re-run without rolling back twice", async () => {
    const id = "rollout-crash-rollback";
    const killed = await rolloutProcess(
      "faulty",
      id,
      FAULTY_BLOCKED,
      "1.2.0",
      /envoy-canary\/graft-slot-0: rolled-back/,
    );
    assert.ok(killed.killed, `${killed.stdout}${killed.stderr}`);
    assert.deepEqual(await everywhere(), ["resumed", "resumed"]);
    const again = await rolloutProcess("faulty", id, FAULTY_BLOCKED, "1.2.0");
    assert.equal(again.code, 5, `${again.stdout}${again.stderr}`);
    assert.match(again.stdout, /already ended on envoy-canary \(an earlier run removed its canary there\)/);
    assert.deepEqual(await everywhere(), ["resumed", "resumed"], "the release before the canary stays");
    const canary = hosts()[1]!;
    assert.equal(await applied(canary, "inject", `${id}.canary`), 1);
    assert.equal(await applied(canary, "rollback", `${id}.rollback`), 1);
  });

  it("an agent killed during an inject repairs, applies the re-run once, and its signed log still verifies", async () => {
    const canary = hosts()[1]!;
    const r = agentArtifact("agent-crash", "1.3.0");
    const id = "op-agent-crash";
    const inject = () =>
      injectFleet({ ...audit(), ...r, targets: [canary.target], slot: SLOT, operationId: id });
    const first = inject();
    // Killed as soon as its intent record is written: mid-way between verification and the result
    // (the module store, the slot file and Envoy's confirmation come after the intent).
    const deadline = Date.now() + 10_000;
    while (!(await readFile(canary.auditLog, "utf8")).includes(`"operationId":"${id}"`)) {
      if (Date.now() > deadline) throw new Error("no intent record within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await canary.killAgent();
    const failed = await first;
    assert.deepEqual(
      failed.failures.map((f) => f.code),
      ["AGENT_UNREACHABLE"],
      "the agent died before it answered",
    );
    await canary.startAgent();
    const again = await inject();
    assert.deepEqual(again.failures, [], JSON.stringify(again.failures));
    assert.equal(await activeOn(canary), "agent-crash");
    const oks = await applied(canary, "inject", id);
    assert.ok(
      oks === 1 || (oks === 0 && again.results[0]?.outcome === "unchanged"),
      `applied ${oks} times, re-run ${again.results[0]?.outcome}`,
    );
    const verified = await verifyAgentLog(canary);
    assert.equal(verified.ok, true, verified.detail);
    // Back to where the rollouts below start from.
    assert.deepEqual((await rollbackFleet([canary.target], SLOT, audit())).failures, []);
    assert.equal(await activeOn(canary), "resumed");
  });

  it("a canary Envoy restarted mid-canary of an identical release: no spurious rate, one crash-loop count", async () => {
    const canary = hosts()[1]!;
    const pid = canary.envoy.envoy.pid;
    let sleeps = 0;
    const restartOnce = async (ms: number) => {
      // Between the 2nd and 3rd look: counters reset to zero on the canary.
      if (++sleeps === 2) await canary.envoy.restart();
      await new Promise((resolve) => setTimeout(resolve, ms));
    };
    const result = await runRollout({
      plan: parseRolloutPlan({ ...AGENT_PLAN, minDuration: "5s" }, "test"),
      targets: local!.targets,
      artifact: agentArtifact("identical", "1.4.0"),
      audit: audit(),
      sleep: restartOnce,
    });
    assert.notEqual(canary.envoy.envoy.pid, pid, "the canary Envoy was restarted");
    assert.equal(
      result.decision,
      "PROMOTE",
      `${result.reason}\n${result.looks.at(-1)?.verdict.lines.join("\n")}`,
    );
    const last = result.looks.at(-1)!;
    assert.equal(last.canary.resets, 1);
    assert.match(
      last.verdict.lines.join("\n"),
      /crash loop \(vm_failures\): canary had 1 failures .*\(limit 3\) → ok/,
    );
    // The restarted Envoy loaded the promoted canary from the slot file its agent wrote.
    assert.equal(await activeOn(canary), "identical");

    // The same restart under a plan that allows no crash at all: rolled back by the guard, not a rate.
    sleeps = 0;
    const strict = await runRollout({
      plan: parseRolloutPlan(
        { ...AGENT_PLAN, minDuration: "30s", crashLoop: { maxFailures: 1, windowMinutes: 5 } },
        "test",
      ),
      targets: local!.targets,
      artifact: agentArtifact("identical-2", "1.4.1"),
      audit: audit(),
      sleep: restartOnce,
    });
    assert.equal(strict.decision, "ROLLBACK", strict.reason);
    assert.match(strict.reason, /^crash loop \(vm_failures\): canary had 1 failures/);
    assert.equal(strict.canaryState, "rolled back");
    assert.equal(await activeOn(canary), "identical");
  });

  it("every agent's signed audit log and the control plane's log still verify after all the crashes", async () => {
    for (const host of hosts()) {
      const verified = await verifyAgentLog(host);
      assert.equal(verified.ok, true, `${host.name}: ${verified.detail}`);
    }
    // And as an operator checks it: the canary's agent was killed mid-inject.
    const canary = hosts()[1]!;
    const cli = await graft([
      "audit",
      "verify",
      canary.auditLog,
      "--key",
      canary.agentPublicKeyPath,
      "--checkpoint",
      `${canary.auditLog}.checkpoint.json`,
    ]);
    assert.equal(cli.code, 0, `${cli.stdout}${cli.stderr}`);
    assert.ok((await verifyAuditLog(auditLog)).ok);
  });
});
