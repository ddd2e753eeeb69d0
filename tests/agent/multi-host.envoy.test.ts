// A fleet that spans hosts, for real: three network namespaces made by this test, each with its own
// Envoy and graft agent, reachable only over veth pairs on private addresses. The control plane
// (this process and the graft CLI) talks to the agents' signed API: inject, rollback, the kill
// switch, TTL expiry on the agents' own timers, --atomic, and a CLI killed mid-fleet that converges
// when re-run with the same operation id.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { disableFleet, injectFleet, rollbackFleet, type FleetReport } from "../../src/inject/fleet.ts";
import { loadTargetsFile, type Target } from "../../src/inject/target.ts";
import { generateKeyPair } from "../../src/sign/keys.ts";
import { policyOf } from "../sign/helpers.ts";
import {
  alice,
  bob,
  controller,
  eventually,
  release,
  roots,
  sample,
  signedPolicy,
  SLOT,
  type Release,
} from "./support/agent-fleet.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, "..", "..");
const HOSTS = 3;
const tag = String(process.pid % 10000);

function netnsSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to create network namespaces";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
  } catch {
    return "the ip tool (iproute2) with netns support is missing";
  }
  return undefined;
}

interface Host {
  name: string;
  ns: string;
  address: string;
  child: ChildProcess;
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });

function createNamespace(index: number): { ns: string; address: string } {
  const ns = `graft-t${tag}-${index}`;
  const outside = `gv${tag}h${index}`;
  const inside = `gv${tag}n${index}`;
  ip("netns", "add", ns);
  ip("link", "add", outside, "type", "veth", "peer", "name", inside);
  ip("link", "set", inside, "netns", ns);
  ip("addr", "add", `10.213.${index}.1/30`, "dev", outside);
  ip("link", "set", outside, "up");
  ip("-n", ns, "addr", "add", `10.213.${index}.2/30`, "dev", inside);
  ip("-n", ns, "link", "set", inside, "up");
  ip("-n", ns, "link", "set", "lo", "up");
  return { ns, address: `10.213.${index}.2` };
}

function startHost(
  workDir: string,
  name: string,
  ns: string,
  address: string,
  labels: string,
): Promise<ChildProcess> {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--import",
      "tsx",
      path.join(here, "fixtures", "host-main.ts"),
      path.join(workDir, name),
      name,
      address,
      labels,
      sample.dir,
    ],
    { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"ready":true')) resolve(child);
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("exit", (code) => reject(new Error(`host ${name} exited ${code}: ${output}`)));
  });
}

async function probe(host: Host): Promise<string | null> {
  const answer = (await (await fetch(`http://${host.address}:7071/`)).json()) as { injection: string | null };
  return answer.injection;
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the graft CLI; `killAfter` SIGKILLs it as soon as stdout matches (a crash mid-fleet). */
function graft(args: string[], killAfter?: RegExp): Promise<CliRun> {
  const child = spawn(process.execPath, [path.join(projectRoot, "bin", "graft.js"), ...args], {
    cwd: projectRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (killAfter?.test(stdout)) child.kill("SIGKILL");
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

const skip = netnsSkipReason();

describe("a three-host fleet through agents (network namespaces)", { skip }, () => {
  let workDir = "";
  const hosts: Host[] = [];
  let targets: Target[] = [];
  let targetsFile = "";

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), "graft-hosts-"));
    const keys = path.join(workDir, "keys");
    await mkdir(keys, { recursive: true });
    for (const [name, pair] of [
      ["root-a", roots[0]!.pair],
      ["root-b", roots[1]!.pair],
      ["ops-ctl", controller.pair],
    ] as const) {
      await writeFile(path.join(keys, `${name}.pub.pem`), pair.publicKeyPem);
    }
    await writeFile(path.join(keys, "ops-ctl.key.pem"), controller.pair.privateKeyPem, { mode: 0o600 });
    await writeFile(path.join(workDir, "policy.dsse.json"), JSON.stringify(signedPolicy({ serial: 1 })));
    const entries = [];
    const starting: Promise<ChildProcess>[] = [];
    for (let index = 0; index < HOSTS; index++) {
      const name = `host-${index}`;
      const pair = generateKeyPair();
      await writeFile(path.join(keys, `${name}.key.pem`), pair.privateKeyPem, { mode: 0o600 });
      await writeFile(path.join(keys, `${name}.pub.pem`), pair.publicKeyPem);
      await mkdir(path.join(workDir, name), { recursive: true });
      const { ns, address } = createNamespace(index);
      hosts.push({ name, ns, address, child: undefined as unknown as ChildProcess });
      starting.push(startHost(workDir, name, ns, address, `tier=payments,zone=z${index}`));
      entries.push({
        name,
        agent: { url: `http://${address}:7070`, publicKeyPath: `keys/${name}.pub.pem` },
        slots: [SLOT],
        labels: { tier: "payments", zone: `z${index}` },
      });
    }
    const children = await Promise.all(starting);
    children.forEach((child, index) => (hosts[index]!.child = child));
    targetsFile = path.join(workDir, "targets.yaml");
    await writeFile(targetsFile, yaml.dump({ targets: entries }));
    targets = await loadTargetsFile(targetsFile);
  });

  after(async () => {
    await Promise.all(
      hosts.map(
        (host) =>
          new Promise<void>((resolve) => {
            if (!host.child || host.child.exitCode !== null) return resolve();
            host.child.once("exit", () => resolve());
            host.child.kill("SIGTERM");
            setTimeout(() => {
              host.child.kill("SIGKILL");
            }, 5_000).unref();
          }),
      ),
    );
    for (const host of hosts) {
      try {
        ip("netns", "del", host.ns);
      } catch {
        // already gone
      }
    }
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const everywhere = async () => Promise.all(hosts.map(probe));
  const inject = (r: Release, extra: { atomic?: boolean } = {}) =>
    injectFleet({
      targets,
      slot: SLOT,
      module: r.module,
      envelope: r.envelope,
      configuration: r.configuration,
      policy: policyOf([{ approver: alice }]),
      auditLog: "",
      caller: controller.key,
      ...extra,
    }) as Promise<FleetReport & { failures: { code?: string }[]; reverted?: string[] }>;

  it("injects into every host and reports per agent", async () => {
    const report = await inject(release("fleet-1", [alice]));
    assert.deepEqual(report.failures, []);
    assert.deepEqual(
      report.results.map((r) => [r.target, r.outcome]),
      hosts.map((h) => [h.name, "applied"]),
    );
    assert.deepEqual(await everywhere(), ["fleet-1", "fleet-1", "fleet-1"]);
  });

  it("rolls back every host", async () => {
    assert.deepEqual((await inject(release("fleet-2", [alice, bob], { version: "1.1.0" }))).failures, []);
    assert.deepEqual(await everywhere(), ["fleet-2", "fleet-2", "fleet-2"]);
    const back = await rollbackFleet(targets, SLOT, { auditLog: "", caller: controller.key });
    assert.deepEqual(back.failures, []);
    assert.deepEqual(await everywhere(), ["fleet-1", "fleet-1", "fleet-1"]);
  });

  it("with --atomic, reverts the hosts that applied when another refuses", async () => {
    // Scoped to zone z0: host-0 applies, host-1 and host-2 refuse; host-0 goes back.
    const report = await inject(release("zone-0-only", [alice], { targets: { zone: "z0" } }), {
      atomic: true,
    });
    assert.deepEqual(
      report.failures.map((f) => [f.target, f.code]),
      [
        ["host-1", "OUT_OF_SCOPE"],
        ["host-2", "OUT_OF_SCOPE"],
      ],
    );
    assert.deepEqual(report.reverted, ["host-0"]);
    assert.deepEqual(await everywhere(), ["fleet-1", "fleet-1", "fleet-1"]);
  });

  it("expires an injection on every host on the agents' own timers", async () => {
    assert.deepEqual(
      (await inject(release("short-lived", [alice], { ttl: "2s", version: "1.2.0" }))).failures,
      [],
    );
    assert.deepEqual(await everywhere(), ["short-lived", "short-lived", "short-lived"]);
    await eventually(
      async () => (await everywhere()).every((served) => served === "fleet-1"),
      6_000,
      "every host to expire the injection",
    );
  });

  it("converges when the CLI is killed mid-fleet and re-run with the same operation id, applying once per host", async () => {
    const r = release("after-crash", [alice], { version: "1.3.0" });
    await writeFile(path.join(workDir, "r.wasm"), r.module);
    await writeFile(path.join(workDir, "r.dsse.json"), JSON.stringify(r.envelope));
    await writeFile(path.join(workDir, "r.config.json"), JSON.stringify(r.configuration));
    const common = ["--targets", targetsFile, "--key", path.join(workDir, "keys", "ops-ctl.key.pem")];
    const injectArgs = [
      "inject",
      path.join(workDir, "r.wasm"),
      "--envelope",
      path.join(workDir, "r.dsse.json"),
      "--config",
      path.join(workDir, "r.config.json"),
      "--slot",
      SLOT,
      ...common,
    ];
    const first = await graft(
      [...injectArgs, "--operation-id", "op-inject-crash"],
      /host-0\/graft-slot-0: applied/,
    );
    assert.equal(first.code, null, `the CLI was killed: ${first.stdout}${first.stderr}`);
    const again = await graft([...injectArgs, "--operation-id", "op-inject-crash"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /host-0\/graft-slot-0: applied .*\[already done by this operation id\]/);
    assert.deepEqual(await everywhere(), ["after-crash", "after-crash", "after-crash"]);

    const rollbackArgs = ["rollback", "--slot", SLOT, ...common, "--operation-id", "op-rollback-crash"];
    const killed = await graft(rollbackArgs, /host-0\/graft-slot-0: rolled-back/);
    assert.equal(killed.code, null);
    const resumed = await graft(rollbackArgs);
    assert.equal(resumed.code, 0, resumed.stderr);
    // Each host rolled back exactly once: one step down, not two.
    assert.deepEqual(await everywhere(), ["fleet-1", "fleet-1", "fleet-1"]);
    for (const host of hosts) {
      const log = await readFile(path.join(workDir, host.name, "audit.log"), "utf8");
      const rollbacks = log
        .trim()
        .split("\n")
        .map(
          (line) =>
            JSON.parse(line) as { action: string; outcome: string; details?: { operationId?: string } },
        )
        .filter(
          (record) =>
            record.action === "rollback" &&
            record.outcome === "ok" &&
            record.details?.operationId === "op-rollback-crash",
        );
      assert.equal(rollbacks.length, 1, `${host.name} rolled back ${rollbacks.length} times`);
    }
  });

  it("kill switch: every host back to the no-op filter, confirmed through each admin API", async () => {
    const report = (await disableFleet(targets, { auditLog: "", caller: controller.key })) as FleetReport & {
      results: { confirmed?: boolean }[];
    };
    assert.deepEqual(report.failures, []);
    assert.deepEqual(
      report.results.map((r) => r.confirmed),
      [true, true, true],
    );
    assert.deepEqual(await everywhere(), [null, null, null]);
  });

  it("collects and verifies every agent's signed audit log", async () => {
    const out = path.join(workDir, "collected");
    const run = await graft([
      "audit",
      "collect",
      "--targets",
      targetsFile,
      "--key",
      path.join(workDir, "keys", "ops-ctl.key.pem"),
      "--out",
      out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    for (const host of hosts) assert.match(run.stdout, new RegExp(`${host.name}: ok: \\d+ signed record`));
  });
});
