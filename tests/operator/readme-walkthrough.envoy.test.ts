// README.md's command walkthrough, run exactly as written (init, keygen, slots, sign, verify, inject,
// status, rollback, disable, control, rollout, audit verify) against two real Envoys started from the
// bootstraps `graft init` wrote, with traffic so the rollout can decide. The filter, module, version
// and injection id are the ones the README's commands name (its sign command), never this test's own.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { resolveEnvoyBinary } from "../../src/envoy/binary.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { startTraffic, type TrafficRun } from "../../tools/load/traffic.ts";
import { walkthroughCommands } from "./readme-commands.ts";

const UPSTREAM_PORT = 18080;
const ADMIN = [19901, 19902];
const LISTENERS = [19000, 19001];

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function run(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(projectRoot, "bin", "graft.js"), ...args], { cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("README walkthrough against two real Envoys", () => {
  const commands = walkthroughCommands();
  // What the README signs: `graft sign <module> … --filter <name> --version <v> --injection-id <id>`.
  const sign = commands.find((command) => command[0] === "graft" && command[1] === "sign") ?? [];
  const option = (flag: string) => sign[sign.indexOf(flag) + 1] ?? "";
  const signed = {
    module: path.basename(sign[2] ?? ""),
    filter: literal(option("--filter")),
    version: literal(option("--version")),
    injection: literal(option("--injection-id")),
  };
  let root = "";
  let cwd = "";
  const envoys: ChildProcess[] = [];
  let upstream: http.Server | undefined;
  let traffic: TrafficRun | undefined;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), "graft-walkthrough-"));
    // The walkthrough runs from a folder that holds build/ (README.md). A copy, not a link: others
    // may rebuild this checkout's build/ while the test runs, and the signed module must not change.
    await mkdir(path.join(root, "build"));
    await copyFile(path.join(projectRoot, "build", signed.module), path.join(root, "build", signed.module));
    cwd = root;
    upstream = http.createServer((request, response) => {
      request.resume();
      request.on("end", () => response.writeHead(200, { "content-type": "text/plain" }).end("ok\n"));
    });
    await new Promise<void>((resolve, reject) => {
      upstream!.once("error", reject);
      upstream!.listen(UPSTREAM_PORT, "127.0.0.1", resolve);
    });
  });

  after(async () => {
    traffic?.stop();
    for (const envoy of envoys) envoy.kill("SIGTERM");
    await Promise.all(
      envoys.map(
        (envoy) =>
          new Promise((resolve) => (envoy.exitCode !== null ? resolve(null) : envoy.once("exit", resolve))),
      ),
    );
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  /** Starts both Envoys from init's bootstraps once the files exist (the README's comment step). */
  async function startEnvoys(): Promise<void> {
    const binary = resolveEnvoyBinary({ install: true });
    for (const [index, name] of ["edge-1", "edge-2"].entries()) {
      const child = spawn(
        binary,
        ["-c", `envoy-${name}.yaml`, "--disable-hot-restart", "--log-level", "warn"],
        {
          cwd,
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      child.stderr!.resume();
      envoys.push(child);
      await until(
        `${name}'s admin API`,
        async () => (await fetch(`http://127.0.0.1:${ADMIN[index]}/ready`)).ok,
      );
    }
    traffic = startTraffic({
      urls: LISTENERS.map((port) => `http://127.0.0.1:${port}`),
      ratePerUrl: 150,
      durationMs: 120_000,
      path: "/api/orders",
    });
  }

  it("signs a module of build/ as a named filter, version and injection", () => {
    assert.match(sign[2] ?? "", /^\.\.\/build\/[^/]+\.wasm$/, sign.join(" "));
    for (const [field, value] of Object.entries(signed))
      assert.ok(value, `the sign command names its ${field}`);
  });

  it("has the commands the issue asks for, in order", () => {
    const names = commands.map((c) => (c[0] === "graft" ? c[1] : c[0]));
    assert.deepEqual(
      names.filter((n) => n !== "cd"),
      [
        "init",
        "keygen",
        "slots",
        "sign",
        "verify",
        "inject",
        "status",
        "rollback",
        "disable",
        "control",
        "rollout",
        "audit",
      ],
    );
  });

  it("runs every command exactly as README.md shows it", { timeout: 150_000 }, async () => {
    for (const command of commands) {
      if (command[0] === "cd") {
        cwd = path.resolve(cwd, command[1]!);
        continue;
      }
      assert.equal(command[0], "graft", `README.md walkthrough runs only graft and cd: ${command.join(" ")}`);
      if (command[1] === "sign") await startEnvoys();
      const result = await run(cwd, command.slice(1));
      const shown = `$ ${command.join(" ")}\n${result.stdout}${result.stderr}`;
      if (process.env.GRAFT_TEST_VERBOSE) console.log(shown);
      assert.equal(result.code, 0, shown);
      switch (command[1]) {
        case "init":
          assert.match(result.stdout, /wrote fleet\/targets\.yaml, fleet\/trust\.yaml, fleet\/plan\.yaml/);
          break;
        case "keygen":
          assert.match(result.stdout, /^maxTtl: 24h/m);
          break;
        case "slots":
          assert.match(result.stdout, /node:/);
          assert.match(result.stdout, /tag_name: injection/);
          break;
        case "inject":
          assert.match(result.stdout, new RegExp(`edge-2/graft-slot-0: applied → ${signed.injection}`));
          break;
        case "status":
          assert.match(
            result.stdout,
            new RegExp(
              `edge-2 \\(file mode, http://127\\.0\\.0\\.1:19902\\)\n {2}graft-slot-0: ${signed.filter} ${signed.version}, injection ${signed.injection} \\(version ${signed.injection}#\\d+; Envoy agrees\\)`,
            ),
          );
          assert.match(result.stdout, /signed by sha256:/);
          assert.match(result.stdout, /edge-1 .*\n {2}graft-slot-0: empty/);
          break;
        case "control":
          assert.match(result.stdout, /graft control: checking 2 slot\(s\) on 2 target\(s\)/);
          assert.match(result.stdout, /nothing expired/);
          break;
        case "rollout":
          assert.match(result.stdout, /live view: http:\/\/127\.0\.0\.1:\d+\//);
          assert.match(result.stdout, /^PROMOTE: /m, shown);
          assert.match(
            result.stdout,
            new RegExp(`Promoted: ${signed.filter} ${signed.version} \\(injection ${signed.injection}\\)`),
          );
          assert.match(result.stdout, /promoted to edge-2\/graft-slot-0: applied/);
          break;
        case "audit":
          assert.match(result.stdout, /^ok: \d+ record\(s\)/);
          break;
      }
    }
    // The real report, kept for people to look at (CI artifact).
    await mkdir(path.join(projectRoot, ".graft", "artifacts"), { recursive: true });
    await copyFile(
      path.join(cwd, ".graft", "rollout", "report.html"),
      path.join(projectRoot, ".graft", "artifacts", "walkthrough-report.html"),
    );
    // After the rollout both Envoys serve the release: the starter configuration `graft init` wrote
    // (the one the README signs) tags every response with the injection id.
    const response = await fetch(`http://127.0.0.1:${LISTENERS[1]}/x`);
    await response.arrayBuffer();
    assert.equal(response.headers.get("x-graft-injection"), option("--injection-id"));
  });
});
