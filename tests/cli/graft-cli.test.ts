// The `graft` command as an operator runs it (bin/graft.js in a child process), against real Envoys:
// keygen → sign → verify → inject → rollback → disable → audit verify, plus build and version.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import type { HttpFilter } from "../../src/envoy/bootstrap.ts";
import { validateHttpFilters } from "../../src/envoy/launcher.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { sampleFilter, SAMPLE_FILTER } from "../support/sample-filter.ts";
import { startSlotFleet, type SlotFleet } from "../support/slot-fixture.ts";

const execFileAsync = promisify(execFile);
const SLOT = "graft-slot-0";
/** The sample filter (tests/support/sample-filter.ts) tags every response with its injection id. */
const INJECTION_HEADER = `x-${SAMPLE_FILTER}`;

async function graft(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [path.join(projectRoot, "bin", "graft.js"), ...args],
      {
        cwd: projectRoot,
        env: { ...process.env, ...env },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

async function servedInjection(url: string): Promise<string | null> {
  const response = await fetch(`${url}/x`);
  await response.arrayBuffer();
  return response.headers.get(INJECTION_HEADER);
}

describe("graft version and build", () => {
  it("reports graft, Envoy 1.40 and AssemblyScript versions", async () => {
    const { code, stdout } = await graft(["version", "--json"]);
    assert.equal(code, 0);
    const versions = JSON.parse(stdout) as Record<string, string>;
    assert.equal(versions.envoy, "1.40.0");
    assert.match(versions.assemblyscript!, /^0\.27\./);
    assert.match(versions.graft!, /^\d+\.\d+\.\d+$/);
  });

  it("builds a filter and prints its size and ABI", async () => {
    const { dir } = await sampleFilter();
    const { code, stdout, stderr } = await graft(["build", dir]);
    assert.equal(code, 0, stderr);
    assert.match(
      stdout,
      /release\s+[\d.]+ KiB\s+\S*build\/sample-filter\.wasm\s+\(proxy_abi_version_0_2_1, \d+ imports\)/,
    );
    assert.match(stdout, /debug\s+[\d.]+ KiB\s+\S*build\/debug\/sample-filter\.wasm/);
  });

  it("names the unknown filter and exits non-zero", async () => {
    const { code, stderr } = await graft(["build", "no-such-filter"]);
    assert.notEqual(code, 0);
    assert.match(stderr, /no filter named "no-such-filter" .*known filters: /);
  });
});

describe("graft slots", () => {
  it("prints slot filters that a real Envoy accepts, and creates their empty slot files", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "graft-slots-"));
    try {
      const { code, stdout, stderr } = await graft([
        "slots",
        "--ecds-dir",
        dir,
        "--slot",
        "edge",
        "auth",
        "--json",
      ]);
      assert.equal(code, 0, stderr);
      const filters = (JSON.parse(stdout) as { httpFilters: HttpFilter[] }).httpFilters;
      assert.deepEqual(
        filters.map((f) => f.name),
        ["edge", "auth"],
      );
      assert.ok(existsSync(path.join(dir, "edge.yaml")) && existsSync(path.join(dir, "auth.yaml")));
      await validateHttpFilters(filters);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a slot name unusable in stats and file names", async () => {
    const { code, stderr } = await graft(["slots", "--ecds-dir", "/tmp/x", "--slot", "a b"]);
    assert.notEqual(code, 0);
    assert.match(stderr, /--slot a b: slot names are 1-64 characters/);
  });
});

describe("graft inject, rollback and disable against two running Envoys", () => {
  let fleet: SlotFleet | undefined;
  let dir = "";
  const files = { targets: "", policy: "", config: "", envelope: "", badEnvelope: "", audit: "" };
  let wasm = "";
  // The sample filter lives outside filters/: commands name it by its folder.
  let filterDir = "";
  /** `graft sign` of the sample filter with alice's key and the test configuration. */
  const sign = (out: string, injectionId: string, version: string, ttl: string) =>
    graft([
      "sign",
      wasm,
      "--key",
      path.join(dir, "keys", "alice.key.pem"),
      "--out",
      out,
      "--filter",
      filterDir,
      "--version",
      version,
      "--injection-id",
      injectionId,
      "--config",
      files.config,
      "--ttl",
      ttl,
      "--reason",
      "cli test",
    ]);
  /** `graft inject` into the fleet's slot with the test configuration and policy. */
  const inject = (module: string, envelope: string, ...options: string[]) =>
    graft([
      "inject",
      module,
      "--envelope",
      envelope,
      "--config",
      files.config,
      "--policy",
      files.policy,
      "--slot",
      SLOT,
      "--filter",
      filterDir,
      ...options,
    ]);
  before(async () => {
    ({ releaseWasm: wasm, dir: filterDir } = await sampleFilter());
    fleet = await startSlotFleet(2, { labels: (i) => ({ tier: i === 0 ? "payments" : "web" }) });
    dir = fleet.workDir;
    files.targets = path.join(dir, "targets.yaml");
    await writeFile(
      files.targets,
      yaml.dump({
        targets: fleet.envoys.map(({ target }) => ({
          name: target.name,
          admin: target.adminUrl,
          ecdsDir: target.ecdsDir,
          moduleDir: target.moduleDir,
          slots: target.slots,
          labels: target.labels,
        })),
      }),
    );
    const keygen = await graft(["keygen", "--out", path.join(dir, "keys"), "--name", "alice"]);
    assert.equal(keygen.code, 0, keygen.stderr);
    files.policy = path.join(dir, "trust.yaml");
    await writeFile(
      files.policy,
      yaml.dump({
        version: 1,
        maxTtl: "2h",
        keys: [{ name: "alice", publicKeyPath: "keys/alice.pub.pem", filters: [SAMPLE_FILTER] }],
      }),
    );
    files.config = path.join(dir, "config.yaml");
    await writeFile(
      files.config,
      yaml.dump({ response_header: INJECTION_HEADER, blocked_prefixes: ["/admin"] }),
    );
    files.audit = path.join(dir, "audit.log");
    for (const [name, id] of [
      ["envelope", "inj-cli-1"],
      ["badEnvelope", "inj-cli-2"],
    ] as const) {
      files[name] = path.join(dir, `${id}.dsse.json`);
      const signed = await sign(files[name], id, "1.0.0", "1h");
      assert.equal(signed.code, 0, signed.stderr);
    }
  });
  after(async () => fleet?.stop());

  const common = () => ["--targets", files.targets, "--audit-log", files.audit, "--actor", "cli-test"];

  it("verifies the signed module against the trust policy", async () => {
    const verified = await graft([
      "verify",
      wasm,
      "--envelope",
      files.envelope,
      "--policy",
      files.policy,
      "--config",
      files.config,
    ]);
    assert.equal(verified.code, 0, verified.stderr);
  });

  it("injects into the selected Envoy only, without a restart", async () => {
    const result = await inject(wasm, files.envelope, "--select", "tier=payments", ...common());
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /envoy-0\/graft-slot-0: applied → inj-cli-1/);
    assert.equal(await servedInjection(fleet!.envoys[0]!.url), "inj-cli-1");
    assert.equal(await servedInjection(fleet!.envoys[1]!.url), null);
  });

  it("refuses a module that differs from the signed one, writing nothing", async () => {
    const tampered = path.join(dir, "tampered.wasm");
    const bytes = await readFile(wasm);
    await writeFile(tampered, Buffer.concat([bytes, Buffer.from([0])]));
    const result = await inject(tampered, files.badEnvelope, ...common());
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /MODULE_TAMPERED/);
    assert.equal(await servedInjection(fleet!.envoys[0]!.url), "inj-cli-1");
    assert.equal(await servedInjection(fleet!.envoys[1]!.url), null);
  });

  it("removes an injection whose TTL has passed with `graft control --once`", async () => {
    const shortLived = path.join(dir, "short.dsse.json");
    const signed = await sign(shortLived, "inj-ttl", "1.0.1", "3s");
    assert.equal(signed.code, 0, signed.stderr);
    const injected = await inject(wasm, shortLived, "--select", "tier=payments", ...common());
    assert.equal(injected.code, 0, injected.stderr);
    assert.equal(await servedInjection(fleet!.envoys[0]!.url), "inj-ttl");
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    const control = await graft(["control", "--once", ...common()]);
    assert.equal(control.code, 0, control.stderr);
    assert.match(control.stdout, /envoy-0\/graft-slot-0: expired injection removed; now inj-cli-1/);
    assert.equal(await servedInjection(fleet!.envoys[0]!.url), "inj-cli-1");
  });

  it("rolls back and disables across the fleet, and the audit log verifies", async () => {
    const all = await inject(wasm, files.badEnvelope, ...common());
    assert.equal(all.code, 0, all.stderr);
    assert.equal(await servedInjection(fleet!.envoys[0]!.url), "inj-cli-2");
    assert.equal(await servedInjection(fleet!.envoys[1]!.url), "inj-cli-2");

    const rollback = await graft(["rollback", "--slot", SLOT, ...common()]);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.equal(await servedInjection(fleet!.envoys[0]!.url), "inj-cli-1");
    assert.equal(await servedInjection(fleet!.envoys[1]!.url), null);

    const disable = await graft(["disable", ...common()]);
    assert.equal(disable.code, 0, disable.stderr);
    assert.equal(await servedInjection(fleet!.envoys[0]!.url), null);

    const audit = await graft(["audit", "verify", files.audit]);
    assert.equal(audit.code, 0, audit.stderr);
    const actions = (await readFile(files.audit, "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { action: string; outcome: string; actor: string });
    assert.deepEqual(
      actions.map((a) => `${a.action}:${a.outcome}`),
      [
        "inject:ok",
        "verify-refused:refused",
        "inject:ok",
        "expire:ok",
        "inject:ok",
        "rollback:ok",
        "disable:ok",
      ],
    );
    assert.ok(actions.every((a) => a.actor === "cli-test"));
  });
});
