// Rollouts against real Envoy under loopback traffic: a good build is promoted to the baseline, a
// build that fails 4% of requests is rolled back from the canary, `graft rollout --dry-run` judges
// without touching either Envoy, and every failure while the canary is in (judge error, unreachable
// admin, SIGTERM) rolls it back with a report and an audit record.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import { generateKeyPair, saveKeyPair, signingKeyFromPem } from "../../src/sign/keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "../../src/sign/policy.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { compileModule } from "../../src/compile/compile.ts";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { runRollout, type RolloutArtifact } from "../../src/rollout/rollout.ts";
import { judge } from "../../src/judge/judge.ts";
import { readHistory } from "../../src/inject/history.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import { startTraffic, type TrafficRun } from "../../tools/load/traffic.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { builtWasm } from "../support/envoy-fixture.ts";
import { startSlotFleet, type SlotFleet } from "../support/slot-fixture.ts";

const SLOT = "graft-slot-0";
const execFileAsync = promisify(execFile);

const PLAN = {
  slot: SLOT,
  canary: "role=canary",
  baseline: "role=baseline",
  interval: "1s",
  minDuration: "3s",
  maxDuration: "40s",
  minRequests: 800,
  // Loopback traffic has no bursts: each 1 s look is its own block.
  burstWindow: "1s",
  signals: [{ name: "5xx", maxRatio: 1.5, floorRate: 0.005 }],
};

interface AuditLine {
  action: string;
  outcome: string;
  reason: string | null;
  details: { decision?: string; canaryState?: string };
}

describe("canary rollouts against real Envoy", () => {
  let fleet: SlotFleet | undefined;
  let traffic: TrafficRun | undefined;
  let policy: TrustPolicy;
  let privateKeyPem = "";
  let faultyModule: Uint8Array;
  const audit = { auditLog: "", actor: "rollout-test" };

  const artifact = (module: Uint8Array, injectionId: string): RolloutArtifact => {
    const configuration = {
      rules: [
        { name: "tag", response: [{ op: "set", name: "x-graft-injection", value: "${injection_id}" }] },
      ],
    };
    const statement = createStatement({
      wasmBytes: module,
      moduleName: "hr.wasm",
      filter: "header-rewrite",
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
    };
  };
  const targets = () => fleet!.envoys.map((e) => e.target);

  /** The files `graft rollout` reads for `release`, named after `name`, in the fleet's folder. */
  const cliFiles = async (name: string, release: RolloutArtifact, plan: Record<string, unknown>) => {
    const dir = fleet!.workDir;
    const files = {
      plan: path.join(dir, `plan-${name}.yaml`),
      targets: path.join(dir, `targets-${name}.yaml`),
      config: path.join(dir, `config-${name}.json`),
      envelope: path.join(dir, `${name}.dsse.json`),
      policy: path.join(dir, `trust-${name}.yaml`),
      reports: path.join(dir, `reports-${name}`),
    };
    await writeFile(files.plan, yaml.dump(plan));
    await writeFile(
      files.targets,
      yaml.dump({ targets: targets().map(({ logs: _logs, adminUrl, ...t }) => ({ ...t, admin: adminUrl })) }),
    );
    await writeFile(files.config, JSON.stringify(release.configuration));
    await writeFile(files.envelope, JSON.stringify(release.envelope));
    await writeFile(
      files.policy,
      yaml.dump({
        version: 1,
        maxTtl: "2h",
        keys: [{ name: "op", publicKeyPath: "keys/op.pub.pem", filters: ["*"] }],
      }),
    );
    return files;
  };

  before(async () => {
    fleet = await startSlotFleet(2, {
      concurrency: 1,
      labels: (i) => ({ role: i === 0 ? "baseline" : "canary" }),
    });
    const dir = fleet.workDir;
    const pair = generateKeyPair();
    privateKeyPem = pair.privateKeyPem;
    const saved = await saveKeyPair(pair, path.join(dir, "keys"), "op");
    policy = parseTrustPolicy(
      yaml.dump({
        version: 1,
        maxTtl: "2h",
        keys: [{ name: "op", publicKeyPath: saved.publicKeyPath, filters: ["*"] }],
      }),
      { source: "test policy", baseDir: dir },
    );
    audit.auditLog = path.join(dir, "audit.log");
    const faulty = await compileModule(
      "faulty",
      path.join(projectRoot, "scripts", "demo-faulty-filter", "assembly", "index.ts"),
      path.join(dir, "faulty.wasm"),
      "release",
    );
    faultyModule = await readFile(faulty.path);
    const stable = artifact(await readFile(builtWasm("header-rewrite.wasm")), "stable");
    await injectFleet({ ...audit, ...stable, targets: targets(), slot: SLOT });
    traffic = startTraffic({ urls: fleet.envoys.map((e) => e.url), ratePerUrl: 200, durationMs: 120_000 });
  });
  after(async () => {
    traffic?.stop();
    await traffic?.done;
    await fleet?.stop();
  });

  it("promotes a good build to the baseline once every metric is inside its margin", async () => {
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: targets(),
      artifact: artifact(await readFile(builtWasm("header-rewrite.wasm")), "good"),
      audit,
    });
    assert.equal(result.decision, "PROMOTE", result.reason);
    assert.ok(result.looks.at(-1)!.canary.requests >= 800);
    for (const target of targets())
      assert.equal((await readHistory(target.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good", target.name);
  });

  it("rolls back a build that fails 4% of requests, explaining with the 5xx line", async () => {
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: targets(),
      artifact: artifact(faultyModule, "faulty"),
      audit,
    });
    assert.equal(result.decision, "ROLLBACK");
    assert.match(result.reason, /^5xx: canary [\d.]+% \(\d+\/\d+\) vs baseline 0% \(0\/\d+\); .* → ROLLBACK/);
    assert.ok(result.looks.length <= 5, `took ${result.looks.length} looks`);
    const [baseline, canary] = targets();
    assert.equal((await readHistory(canary!.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good");
    assert.equal((await readHistory(baseline!.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good");
    const records = (await readFile(audit.auditLog, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { action: string; reason: string | null });
    const decision = records.filter((r) => r.action === "rollout-decision").at(-1)!;
    assert.equal(decision.reason, result.reason);
    assert.ok(records.some((r) => r.action === "rollback"));
  });

  it("judges without acting under `graft rollout --dry-run`, and writes the reports", async () => {
    const good = artifact(await readFile(builtWasm("header-rewrite.wasm")), "dry");
    const files = await cliFiles("dry", good, { ...PLAN, maxDuration: "4s", minDuration: "2s" });
    const versionsBefore = await Promise.all(targets().map((t) => readHistory(t.ecdsDir, SLOT)));
    let stdout = "";
    let code = 0;
    try {
      ({ stdout } = await execFileAsync(
        process.execPath,
        [
          path.join(projectRoot, "bin", "graft.js"),
          "rollout",
          builtWasm("header-rewrite.wasm"),
          "--dry-run",
          "--plan",
          files.plan,
          "--targets",
          files.targets,
          "--config",
          files.config,
          "--envelope",
          files.envelope,
          "--policy",
          files.policy,
          "--report-dir",
          files.reports,
          "--audit-log",
          audit.auditLog,
        ],
        { cwd: projectRoot },
      ));
    } catch (error) {
      ({ stdout, code } = error as { stdout: string; code: number });
    }
    assert.match(stdout, /(PROMOTE|ROLLBACK|INCONCLUSIVE) \(dry run\): /);
    assert.match(stdout, /5xx: canary .* vs baseline /);
    assert.ok(code === 0 || code === 3 || code === 4, `exit ${code}`);
    for (const name of ["report.json", "report.md", "report.html"])
      assert.ok(existsSync(path.join(files.reports, name)), name);
    const html = await readFile(path.join(files.reports, "report.html"), "utf8");
    assert.match(html, /<svg[^>]+aria-label="5xx: canary and baseline rates over time"/);
    const versionsAfter = await Promise.all(targets().map((t) => readHistory(t.ecdsDir, SLOT)));
    assert.deepEqual(versionsAfter, versionsBefore, "a dry run injects nothing and rolls nothing back");
  });

  const lastDecision = async (): Promise<AuditLine> =>
    (await readFile(audit.auditLog, "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as AuditLine)
      .filter((record) => record.action === "rollout-decision")
      .at(-1)!;

  const assertRolledBack = async (reportDir: string) => {
    const [baseline, canary] = targets();
    assert.equal((await readHistory(canary!.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good");
    assert.equal((await readHistory(baseline!.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good");
    for (const name of ["report.json", "report.md", "report.html"])
      assert.ok(existsSync(path.join(reportDir, name)), name);
  };

  it("rolls the canary back when the judge fails mid-rollout, with a report and an audit record", async () => {
    const reportDir = path.join(fleet!.workDir, "reports-judge-error");
    let calls = 0;
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: targets(),
      artifact: artifact(await readFile(builtWasm("header-rewrite.wasm")), "judge-error"),
      audit,
      reportDir,
      judge: (observations, config) => {
        if (++calls === 2) throw new Error("judge input error (test)");
        return judge(observations, config);
      },
    });
    assert.equal(result.decision, "ERROR");
    assert.equal(result.canaryState, "rolled back");
    assert.match(result.reason, /judge input error \(test\)/);
    await assertRolledBack(reportDir);
    const record = await lastDecision();
    assert.equal(record.outcome, "failed");
    assert.equal(record.details.decision, "ERROR");
    assert.match(record.reason ?? "", /judge input error/);
  });

  it("rolls the canary back when an admin endpoint stops answering mid-rollout", async () => {
    const reportDir = path.join(fleet!.workDir, "reports-unreachable");
    const copies = targets().map((target) => ({ ...target }));
    const baseline = copies.find((target) => target.labels.role === "baseline")!;
    let sleeps = 0;
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: copies,
      artifact: artifact(await readFile(builtWasm("header-rewrite.wasm")), "unreachable"),
      audit,
      reportDir,
      sleep: async (ms) => {
        if (++sleeps === 2) baseline.adminUrl = "http://127.0.0.1:9"; // nothing listens on the discard port
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    assert.equal(result.decision, "ERROR");
    assert.equal(result.canaryState, "rolled back");
    assert.match(result.reason, new RegExp(`${baseline.name} \\(http://127\\.0\\.0\\.1:9\\)`));
    await assertRolledBack(reportDir);
    assert.equal((await lastDecision()).outcome, "failed");
  });

  it("refuses a listener without stats before injecting, naming the listeners that have them", async () => {
    const result = await runRollout({
      plan: parseRolloutPlan({ ...PLAN, listener: "nope" }, "test"),
      targets: targets(),
      artifact: artifact(await readFile(builtWasm("header-rewrite.wasm")), "no-listener"),
      audit,
    });
    assert.equal(result.decision, "ERROR");
    assert.equal(result.canaryState, "not injected");
    assert.match(result.reason, /listener "nope" has no HTTP stats .*listeners with stats: (.*, )?main\b/);
    assert.equal(result.actions.length, 0);
  });

  it("rolls the canary back on SIGTERM to `graft rollout`, writes the report and exits 5", async () => {
    const candidate = artifact(await readFile(builtWasm("header-rewrite.wasm")), "sigterm");
    const files = await cliFiles("sigterm", candidate, { ...PLAN, minDuration: "30s", maxDuration: "60s" });
    const child = spawn(
      process.execPath,
      [
        path.join(projectRoot, "bin", "graft.js"),
        "rollout",
        builtWasm("header-rewrite.wasm"),
        ...["--plan", files.plan, "--targets", files.targets, "--config", files.config],
        ...["--envelope", files.envelope, "--policy", files.policy, "--report-dir", files.reports],
        ...["--audit-log", audit.auditLog],
      ],
      { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/^t=\d+s /m.test(stdout)) resolve();
      });
      void exited.then(() =>
        reject(new Error(`graft rollout exited before its first look: ${stdout}${stderr}`)),
      );
    });
    const [, canary] = targets();
    assert.equal((await readHistory(canary!.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "sigterm");
    child.kill("SIGTERM");
    assert.equal(await exited, 5, `${stdout}${stderr}`);
    assert.match(
      stdout,
      /ERROR: rollout failed while the canary was in: interrupted by SIGTERM \[canary rolled back\]/,
    );
    await assertRolledBack(files.reports);
    const record = await lastDecision();
    assert.equal(record.details.canaryState, "rolled back");
    assert.match(record.reason ?? "", /interrupted by SIGTERM/);
  });
});
