// The operator's edges without an Envoy: graft init's files and their schemas, --json shapes and
// the one error object, failures that name target, URL and what changed, sign's early checks and
// control's report. (tests/operator/ runs the README walkthrough against real Envoys.)
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import { loadAgentConfig } from "../../src/agent/config.ts";
import { EXIT } from "../../src/cli/exit-codes.ts";
import { createProgram } from "../../src/cli/program.ts";
import { listFilters } from "../../src/filters/catalog.ts";
import { validateFilterConfig } from "../../src/filters/config-schema.ts";
import { loadTargetsFile } from "../../src/inject/target.ts";
import { loadTrustPolicy, parseTrustPolicy } from "../../src/sign/policy.ts";
import { loadRolloutPlan, parseRolloutPlan } from "../../src/rollout/plan.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { SAMPLE_FILTER, sampleFilter } from "../support/sample-filter.ts";

const execFileAsync = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function graft(cwd: string, ...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [path.join(projectRoot, "bin", "graft.js"), ...args],
      { cwd },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/** The one JSON object --json prints on stdout. */
function json(run: Run): Record<string, unknown> {
  const lines = run.stdout.trim().split("\n");
  assert.equal(lines.length, 1, `one JSON line on stdout, got:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

function assertError(run: Run, code: string, exitCode: number, message?: RegExp): void {
  assert.equal(run.code, exitCode, run.stderr);
  const { error } = json(run) as { error: { code: string; message: string; exitCode: number } };
  assert.deepEqual(Object.keys(error), ["code", "message", "exitCode"]);
  assert.equal(error.code, code);
  assert.equal(error.exitCode, exitCode);
  if (message) assert.match(error.message, message);
  // Humans still get the error line (commander words usage errors itself).
  assert.match(run.stderr, code === "USAGE" ? /^error: / : new RegExp(`^error: ${code}: `, "m"));
}

const starters = listFilters().filter((filter) => filter.contract.configuration.starter !== undefined);

describe("graft init, keygen and the file schemas", () => {
  let root = "";
  let fleet = "";
  // The sample filter (tests/support/sample-filter.ts): its module, another module, a configuration.
  let filterDir = "";
  let module = "";
  let otherModule = "";
  let config = "";
  before(async () => {
    const filter = await sampleFilter();
    filterDir = filter.dir;
    root = await mkdtemp(path.join(tmpdir(), "graft-operator-"));
    fleet = path.join(root, "fleet");
    await mkdir(path.join(root, "build"));
    module = path.join(root, "build", `${SAMPLE_FILTER}.wasm`);
    await copyFile(filter.releaseWasm, module);
    otherModule = path.join(root, "build", "other.wasm");
    await copyFile(filter.debugWasm, otherModule);
    config = path.join(root, "sample.yaml");
    await writeFile(config, "blocked_prefixes: [/admin]\n");
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("init writes commented starter files that the readers and schemas accept once the key exists", async () => {
    const init = await graft(root, "init", "--dir", "fleet", "--admin-port", "2", "--json");
    assert.equal(init.code, 0, init.stderr);
    const result = json(init);
    assert.equal(result.command, "init");
    assert.deepEqual(
      (result.files as string[]).map((f) => path.basename(f)),
      [
        "targets.yaml",
        "trust.yaml",
        "plan.yaml",
        ...starters.map((filter) => `${filter.name}.yaml`),
        "envoy-edge-1.yaml",
        "envoy-edge-2.yaml",
        "agent-edge-1.yaml",
        "agent-edge-2.yaml",
      ],
    );
    for (const name of ["targets.yaml", "trust.yaml", "plan.yaml", "envoy-edge-1.yaml"])
      assert.match(await readFile(path.join(fleet, name), "utf8"), /^# /, `${name} starts with a comment`);
    // One configuration per filter whose contract declares a starter, which its schema accepts.
    for (const filter of starters) {
      const text = await readFile(path.join(fleet, `${filter.name}.yaml`), "utf8");
      assert.match(text, new RegExp(`^# ${filter.name} configuration \\(schema: `));
      validateFilterConfig(filter, yaml.load(text), `${filter.name}.yaml`);
    }
    const bootstrap = await readFile(path.join(fleet, "envoy-edge-1.yaml"), "utf8");
    for (const needed of [/^node:/m, /tag_name: injection/, /name: graft-slot-0/, /port_value: 2\n/])
      assert.match(bootstrap, needed);
    const keygen = await graft(fleet, "keygen", "--out", "keys", "--name", "alice", "--json");
    assert.equal(keygen.code, 0, keygen.stderr);
    const key = json(keygen) as { keyId: string; policy: string };
    // keygen's policy is complete and valid as printed.
    assert.equal(
      parseTrustPolicy(key.policy, { source: "keygen", baseDir: fleet }).keys.has(key.keyId),
      true,
    );
    assert.equal((await loadTargetsFile(path.join(fleet, "targets.yaml"))).length, 2);
    assert.equal((await loadTrustPolicy(path.join(fleet, "trust.yaml"))).keys.has(key.keyId), true);
    assert.equal((await loadRolloutPlan(path.join(fleet, "plan.yaml"))).canary, "role=canary");
    // The agent beside each Envoy reads its starter configuration once its keys exist.
    for (const name of ["agent-edge-1", "root-a", "ctl"]) {
      const made = await graft(fleet, "keygen", "--out", "keys", "--name", name);
      assert.equal(made.code, 0, made.stderr);
    }
    const agent = await loadAgentConfig(path.join(fleet, "agent-edge-1.yaml"));
    assert.equal(agent.name, "edge-1");
    assert.equal(agent.envoy.ecdsDir, path.join(fleet, "ecds", "edge-1"));
    assert.deepEqual(agent.labels, { role: "canary" });
  });

  it("init refuses to overwrite, with the error object", async () => {
    assertError(
      await graft(root, "init", "--dir", "fleet", "--json"),
      "FILE_EXISTS",
      EXIT.FAILED,
      /nothing was written/,
    );
  });

  it("the schemas catch what the readers do not, naming file, field and fix", () => {
    assert.throws(
      () =>
        parseRolloutPlan(
          { slot: "s", canary: "a=b", baseline: "a=c", burnRate: [{ signal: "5xx", slo: 0.9, budget: 1 }] },
          "plan.yaml",
        ),
      /plan\.yaml: burnRate\[0\]\.budget: unknown field; fix: remove it or use one of: signal, slo, maxBurn \(schema: plan\.schema\.json\)/,
    );
  });

  it("sign refuses a configuration the filter's schema refuses, before signing", async () => {
    await writeFile(path.join(fleet, "bad.yaml"), "blocked_prefixes: [/admin]\ncolour: red\n");
    const run = await graft(
      fleet,
      "sign",
      module,
      "--key",
      "keys/alice.key.pem",
      "--filter",
      filterDir,
      "--version",
      "1.0.0",
      "--injection-id",
      "sf-1",
      "--config",
      "bad.yaml",
      "--ttl",
      "1h",
      "--reason",
      "test",
      "--out",
      "bad.dsse.json",
      "--json",
    );
    assertError(
      run,
      "INVALID_FILTER_CONFIG",
      EXIT.FAILED,
      new RegExp(`bad\\.yaml: invalid ${SAMPLE_FILTER} configuration:[\\s\\S]*unknown field "colour"`),
    );
  });

  it("sign warns when --ttl is above the given policy's maxTtl", async () => {
    const run = await graft(
      fleet,
      "sign",
      module,
      "--key",
      "keys/alice.key.pem",
      "--filter",
      filterDir,
      "--version",
      "1.0.0",
      "--injection-id",
      "sf-1",
      "--config",
      config,
      "--ttl",
      "48h",
      "--reason",
      "test",
      "--policy",
      "trust.yaml",
      "--out",
      "long.dsse.json",
      "--json",
    );
    assert.equal(run.code, 0, run.stderr);
    const signed = json(run) as { warnings: string[]; signatures: number };
    assert.equal(signed.signatures, 1);
    assert.match(signed.warnings[0]!, /--ttl 48h is above maxTtl of trust\.yaml \(1d\).*TTL_ABOVE_POLICY/);
    assert.match(run.stderr, /graft: warning: --ttl 48h is above maxTtl/);
  });

  it("a wrong module is reported as not the signed module (still MODULE_TAMPERED, exit 2)", async () => {
    const signed = await graft(
      fleet,
      "sign",
      module,
      "--key",
      "keys/alice.key.pem",
      "--filter",
      filterDir,
      "--version",
      "1.0.0",
      "--injection-id",
      "sf-1",
      "--config",
      config,
      "--ttl",
      "1h",
      "--reason",
      "test",
      "--out",
      "sf-1.dsse.json",
    );
    assert.equal(signed.code, 0, signed.stderr);
    const run = await graft(
      fleet,
      "verify",
      otherModule,
      "--envelope",
      "sf-1.dsse.json",
      "--policy",
      "trust.yaml",
      "--config",
      config,
      "--json",
    );
    assertError(
      run,
      "MODULE_TAMPERED",
      EXIT.REFUSED,
      /other\.wasm does not match the signed module: .*pass the module this envelope was signed for.*changed after signing/,
    );
    const verified = await graft(
      fleet,
      "verify",
      module,
      "--envelope",
      "sf-1.dsse.json",
      "--policy",
      "trust.yaml",
      "--config",
      config,
      "--json",
    );
    assert.equal(verified.code, 0, verified.stderr);
    const facts = json(verified);
    assert.equal(facts.command, "verify");
    assert.equal(facts.injectionId, "sf-1");
    assert.deepEqual(
      (facts.signers as { name: string }[]).map((s) => s.name),
      ["alice"],
    );
  });

  it("inject names the target, the URL, the cause and that nothing changed when Envoy's admin API is down", async () => {
    const run = await graft(
      fleet,
      "inject",
      module,
      "--envelope",
      "sf-1.dsse.json",
      "--config",
      config,
      "--policy",
      "trust.yaml",
      "--targets",
      "targets.yaml",
      "--slot",
      "graft-slot-0",
      "--select",
      "role=canary",
      "--filter",
      filterDir,
      "--json",
    );
    assert.equal(run.code, EXIT.FAILED, run.stderr);
    const report = json(run) as {
      ok: boolean;
      failures: { target: string; url: string; path: string; cause: string; changed: string; now: string }[];
    };
    assert.equal(report.ok, false);
    const [failure] = report.failures;
    assert.equal(failure!.target, "edge-1");
    assert.equal(failure!.url, "http://127.0.0.1:2");
    assert.match(failure!.path, /ecds\/edge-1\/graft-slot-0\.yaml$/);
    assert.match(failure!.cause, /Envoy's admin API http:\/\/127\.0\.0\.1:2 did not answer \(ECONNREFUSED\)/);
    assert.equal(failure!.changed, "no");
    assert.match(
      run.stderr,
      /^edge-1\/graft-slot-0: FAILED: Envoy's admin API http:\/\/127\.0\.0\.1:2 did not answer \(ECONNREFUSED\); nothing changed: .*still holds version empty#0$/m,
    );
    assert.doesNotMatch(run.stderr, /^.*: fetch failed$/m);
  });

  it("status reports each slot and says what it could not reach (exit 1)", async () => {
    const run = await graft(fleet, "status", "--targets", "targets.yaml", "--json");
    assert.equal(run.code, EXIT.FAILED, run.stderr);
    const { targets } = json(run) as {
      targets: {
        name: string;
        mode: string;
        errors: string[];
        slots: { slot: string; active: unknown; written: string }[];
      }[];
    };
    assert.deepEqual(
      targets.map((t) => [t.name, t.mode]),
      [
        ["edge-1", "file"],
        ["edge-2", "file"],
      ],
    );
    assert.deepEqual(targets[0]!.slots[0], {
      slot: "graft-slot-0",
      active: null,
      depth: 0,
      written: "empty#0",
      envoy: null,
      agrees: null,
    });
    assert.match(targets[0]!.errors[0]!, /http:\/\/127\.0\.0\.1:2 did not answer/);
  });

  it("control says that it started, what it checked and what it removed", async () => {
    const human = await graft(fleet, "control", "--targets", "targets.yaml", "--once");
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /graft control: checking 2 slot\(s\) on 2 target\(s\) \(edge-1, edge-2\) once/,
    );
    assert.match(human.stdout, /checked 2 slot\(s\) on 2 target\(s\): nothing expired/);
    const lines = (await graft(fleet, "control", "--targets", "targets.yaml", "--once", "--json")).stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { command: string; event: string });
    assert.deepEqual(
      lines.map((l) => `${l.command}:${l.event}`),
      ["control:start", "control:checked"],
    );
  });

  it("slots prints the node and stats tags the bootstrap needs", async () => {
    const run = await graft(fleet, "slots", "--ecds-dir", "ecds/edge-1", "--json");
    assert.equal(run.code, 0, run.stderr);
    const slots = json(run) as {
      httpFilters: { name: string }[];
      bootstrap: { node: unknown; stats_config: { stats_tags: { tag_name: string }[] } };
    };
    assert.equal(slots.httpFilters[0]!.name, "graft-slot-0");
    assert.ok(slots.bootstrap.node);
    assert.deepEqual(
      slots.bootstrap.stats_config.stats_tags.slice(0, 2).map((t) => t.tag_name),
      ["filter", "injection"],
    );
  });

  it("a usage error and a plain failure are error objects too", async () => {
    assertError(await graft(fleet, "inject", "--json"), "USAGE", EXIT.USAGE, /required option/);
    assertError(
      await graft(fleet, "audit", "verify", "missing.log", "--json"),
      "FILE_ERROR",
      EXIT.FAILED,
      /missing\.log/,
    );
    assertError(
      await graft(fleet, "status", "--targets", "targets.yaml", "--select", "role=none", "--json"),
      "NO_TARGETS",
      EXIT.FAILED,
      /no target matches --select role=none; its targets are edge-1/,
    );
  });

  it("README.md documents --json for every command that has it", async () => {
    const readme = await readFile(path.join(projectRoot, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf("### `--json`"));
    const withJson: string[] = [];
    const visit = (command: import("commander").Command, prefix: string) => {
      for (const sub of command.commands) {
        const name = `${prefix}${sub.name()}`;
        if (sub.options.some((option) => option.long === "--json")) withJson.push(name);
        visit(sub, `${name} `);
      }
    };
    visit(createProgram(), "");
    for (const name of withJson)
      assert.ok(table.includes(`\`${name}\``), `README.md's --json table lists ${name}`);
  });
});
