// One error model: the same refusal exits the same way from every command, usage errors are one
// line, and the README's exit-code table is the CLI's map.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import { EXIT } from "../../src/cli/exit-codes.ts";
import { projectRoot } from "../../src/util/paths.ts";

const graftBin = path.join(projectRoot, "bin", "graft.js");

function graft(args: string[], cwd: string) {
  const result = spawnSync(process.execPath, [graftBin, ...args], { cwd, encoding: "utf8", timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("exit codes", () => {
  let dir = "";
  const file = (name: string) => path.join(dir, name);
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "graft-exit-"));
    for (const name of ["alice", "mallory"]) {
      const made = graft(["keygen", "--out", file("keys"), "--name", name], dir);
      assert.equal(made.status, 0, made.stderr);
    }
    writeFileSync(file("module.wasm"), Buffer.from("\0asm\x01\0\0\0exit-code-test", "binary"));
    writeFileSync(file("config.json"), JSON.stringify({ blocked_prefixes: ["/admin"] }));
    writeFileSync(
      file("trust.yaml"),
      yaml.dump({
        version: 1,
        maxTtl: "2h",
        keys: [{ name: "alice", publicKeyPath: file("keys/alice.pub.pem"), filters: ["*"] }],
      }),
    );
    const signed = graft(
      [
        "sign",
        file("module.wasm"),
        "--key",
        file("keys/mallory.key.pem"),
        "--filter",
        "sample-filter",
        "--version",
        "1.0.0",
        "--injection-id",
        "sf-1",
        "--config",
        file("config.json"),
        "--ttl",
        "1h",
        "--reason",
        "exit code test",
        "--out",
        file("mallory.dsse.json"),
      ],
      dir,
    );
    assert.equal(signed.status, 0, signed.stderr);
    writeFileSync(
      file("targets.yaml"),
      yaml.dump({
        targets: [
          {
            name: "t1",
            admin: "http://127.0.0.1:9",
            ecdsDir: file("ecds"),
            slots: ["graft-slot-0"],
            labels: {},
          },
        ],
      }),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a refusal exits 2 with the same code whichever command meets it", () => {
    const verify = graft(
      [
        "verify",
        file("module.wasm"),
        "--envelope",
        file("mallory.dsse.json"),
        "--policy",
        file("trust.yaml"),
        "--config",
        file("config.json"),
      ],
      dir,
    );
    const inject = graft(
      [
        "inject",
        file("module.wasm"),
        "--envelope",
        file("mallory.dsse.json"),
        "--config",
        file("config.json"),
        "--policy",
        file("trust.yaml"),
        "--targets",
        file("targets.yaml"),
        "--slot",
        "graft-slot-0",
      ],
      dir,
    );
    for (const [command, run] of [
      ["verify", verify],
      ["inject", inject],
    ] as const) {
      assert.equal(run.status, EXIT.REFUSED, `${command}: ${run.stderr}`);
      assert.match(run.stderr, /^error: UNKNOWN_KEY: /m, command);
    }
  });

  it("a usage error is one line naming the way to help, exit 64", () => {
    const run = graft(["version", "--no-such-option"], dir);
    assert.equal(run.status, EXIT.USAGE, run.stderr);
    const lines = run.stderr.trim().split("\n");
    assert.ok(lines.length <= 2, run.stderr);
    assert.match(run.stderr, /unknown option '--no-such-option'/);
    assert.match(run.stderr, /graft help <command>/);
  });

  it("a failure that is not a refusal exits 1, naming the file", () => {
    const run = graft(
      [
        "verify",
        file("module.wasm"),
        "--envelope",
        file("missing.json"),
        "--policy",
        file("trust.yaml"),
        "--config",
        file("config.json"),
      ],
      dir,
    );
    assert.equal(run.status, EXIT.FAILED, run.stderr);
    assert.match(run.stderr, /missing\.json/);
  });

  it("the README lists every exit code the CLI uses", () => {
    const readme = readFileSync(path.join(projectRoot, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Exit codes"));
    const listed = new Map(
      [...section.matchAll(/^\| (\d+) \| `([A-Z_]+)` \|/gm)].map((m) => [Number(m[1]), m[2]!]),
    );
    for (const [name, code] of Object.entries(EXIT))
      assert.equal(listed.get(code), name, `exit ${code} (${name}) in README.md`);
    assert.equal(listed.size, Object.keys(EXIT).length);
  });
});
