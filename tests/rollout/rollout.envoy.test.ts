// Rollouts against real Envoy under loopback traffic: a good release is promoted to the baseline, a
// release that refuses 4% of requests is rolled back from the canary, `graft rollout --dry-run`
// judges without touching either Envoy, and every failure while the canary is in (judge error,
// unreachable admin, SIGTERM) rolls it back with a report and an audit record. The releases are of
// the sample filter (tests/support/sample-canary.ts): a faulty one blocks a path live traffic hits.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { runRollout, type RolloutArtifact } from "../../src/rollout/rollout.ts";
import { judge } from "../../src/judge/judge.ts";
import { readHistory } from "../../src/inject/history.ts";
import { startTraffic, type TrafficRun } from "../../tools/load/traffic.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { SLOT, startSampleCanary, type SampleCanary } from "../support/sample-canary.ts";

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
  signals: [
    { name: "5xx", maxRatio: 1.5, floorRate: 0.005 },
    { name: "filter_rejections", maxRatio: 1.5, floorRate: 0.005 },
  ],
};

/** Live traffic: most of it to /, and 4% to /checkout (what the faulty release blocks). */
const MAIN_RATE = 192;
const CHECKOUT_RATE = 8;

interface AuditLine {
  action: string;
  outcome: string;
  reason: string | null;
  details: { decision?: string; canaryState?: string };
}

describe("canary rollouts against real Envoy", () => {
  let setup: SampleCanary | undefined;
  const traffic: TrafficRun[] = [];
  const audit = () => setup!.audit;
  const targets = () => setup!.targets();
  /** A good release: blocks a prefix no traffic hits. */
  const good = (injectionId: string) => setup!.release(injectionId, ["/never"]);

  /** The files `graft rollout` reads for `release`, named after `name`, in the fleet's folder. */
  const cliFiles = async (name: string, release: RolloutArtifact, plan: Record<string, unknown>) => {
    const dir = setup!.fleet.workDir;
    const files = {
      plan: path.join(dir, `plan-${name}.yaml`),
      targets: path.join(dir, `targets-${name}.yaml`),
      config: path.join(dir, `config-${name}.json`),
      envelope: path.join(dir, `${name}.dsse.json`),
      policy: path.join(dir, `trust-${name}.yaml`),
      reports: path.join(dir, `reports-${name}`),
      module: path.join(dir, `${name}.wasm`),
    };
    await writeFile(files.plan, yaml.dump(plan));
    await writeFile(
      files.targets,
      yaml.dump({ targets: targets().map(({ logs: _logs, adminUrl, ...t }) => ({ ...t, admin: adminUrl })) }),
    );
    await writeFile(files.config, JSON.stringify(release.configuration));
    await writeFile(files.envelope, JSON.stringify(release.envelope));
    await writeFile(files.module, release.module);
    // startSampleCanary keeps the operator's key pair in <workDir>/keys.
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
    setup = await startSampleCanary("rollout-test");
    const urls = setup.fleet.envoys.map((e) => e.url);
    traffic.push(
      startTraffic({ urls, ratePerUrl: MAIN_RATE, durationMs: 120_000 }),
      startTraffic({ urls, ratePerUrl: CHECKOUT_RATE, durationMs: 120_000, path: "/checkout" }),
    );
  });
  after(async () => {
    for (const run of traffic) run.stop();
    await Promise.all(traffic.map((run) => run.done));
    await setup?.stop();
  });

  it("promotes a good build to the baseline once every metric is inside its margin", async () => {
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: targets(),
      artifact: await good("good"),
      audit: audit(),
    });
    assert.equal(result.decision, "PROMOTE", result.reason);
    assert.ok(result.looks.at(-1)!.canary.requests >= 800);
    for (const target of targets())
      assert.equal((await readHistory(target.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good", target.name);
  });

  it("rolls back a release that refuses 4% of requests, explaining with the filter_rejections line", async () => {
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: targets(),
      artifact: await setup!.release("faulty", ["/checkout"]),
      audit: audit(),
    });
    assert.equal(result.decision, "ROLLBACK", result.reason);
    assert.match(
      result.reason,
      /^filter_rejections: canary [\d.]+% \(\d+\/\d+\) vs baseline 0% \(0\/\d+\); .* → ROLLBACK/,
    );
    assert.ok(result.looks.length <= 5, `took ${result.looks.length} looks`);
    const [baseline, canary] = targets();
    assert.equal((await readHistory(canary!.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good");
    assert.equal((await readHistory(baseline!.ecdsDir, SLOT)).stack.at(-1)?.injectionId, "good");
    const records = (await readFile(audit().auditLog, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { action: string; reason: string | null });
    const decision = records.filter((r) => r.action === "rollout-decision").at(-1)!;
    assert.equal(decision.reason, result.reason);
    assert.ok(records.some((r) => r.action === "rollback"));
  });

  it("judges without acting under `graft rollout --dry-run`, and writes the reports", async () => {
    const files = await cliFiles("dry", await good("dry"), { ...PLAN, maxDuration: "4s", minDuration: "2s" });
    const versionsBefore = await Promise.all(targets().map((t) => readHistory(t.ecdsDir, SLOT)));
    let stdout = "";
    let code = 0;
    try {
      ({ stdout } = await execFileAsync(
        process.execPath,
        [
          path.join(projectRoot, "bin", "graft.js"),
          "rollout",
          files.module,
          "--filter",
          setup!.filter.dir,
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
          audit().auditLog,
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
    (await readFile(audit().auditLog, "utf8"))
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
    const reportDir = path.join(setup!.fleet.workDir, "reports-judge-error");
    let calls = 0;
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: targets(),
      artifact: await good("judge-error"),
      audit: audit(),
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
    const reportDir = path.join(setup!.fleet.workDir, "reports-unreachable");
    const copies = targets().map((target) => ({ ...target }));
    const baseline = copies.find((target) => target.labels.role === "baseline")!;
    let sleeps = 0;
    const result = await runRollout({
      plan: parseRolloutPlan(PLAN, "test"),
      targets: copies,
      artifact: await good("unreachable"),
      audit: audit(),
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
      artifact: await good("no-listener"),
      audit: audit(),
    });
    assert.equal(result.decision, "ERROR");
    assert.equal(result.canaryState, "not injected");
    assert.match(result.reason, /listener "nope" has no HTTP stats .*listeners with stats: (.*, )?main\b/);
    assert.equal(result.actions.length, 0);
  });

  it("rolls the canary back on SIGTERM to `graft rollout`, writes the report and exits 5", async () => {
    const files = await cliFiles("sigterm", await good("sigterm"), {
      ...PLAN,
      minDuration: "30s",
      maxDuration: "60s",
    });
    const child = spawn(
      process.execPath,
      [
        path.join(projectRoot, "bin", "graft.js"),
        "rollout",
        files.module,
        ...["--filter", setup!.filter.dir],
        ...["--plan", files.plan, "--targets", files.targets, "--config", files.config],
        ...["--envelope", files.envelope, "--policy", files.policy, "--report-dir", files.reports],
        ...["--audit-log", audit().auditLog],
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
