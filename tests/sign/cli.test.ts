// SPDX-License-Identifier: Apache-2.0
// The keygen, sign, verify and audit commands, driven through commander the way bin/graft will drive
// them: a root program with its own --version, exitOverride, and captured output.
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { Command, CommanderError } from "commander";
import { signingKeyFromPem } from "../../src/sign/keys.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { verifyAuditLog, type AuditRecord } from "../../src/audit/log.ts";
import { register as registerAudit } from "../../src/cli/commands/audit.ts";
import { register as registerKeygen } from "../../src/cli/commands/keygen.ts";
import { register as registerSign } from "../../src/cli/commands/sign.ts";
import { register as registerVerify } from "../../src/cli/commands/verify.ts";
import { configuration, statementInput, wasmBytes, withTempDir } from "./helpers.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `graft <argv…>` in-process and returns the exit code and what it printed. */
async function graft(...argv: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  // Mirrors src/cli/program.ts: showHelpAfterError and a root --version.
  const program = new Command("graft").version("0.1.0").showHelpAfterError().exitOverride();
  program.configureOutput({ writeOut: (text) => (stdout += text), writeErr: (text) => (stderr += text) });
  for (const register of [registerKeygen, registerSign, registerVerify, registerAudit]) register(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, stdout, stderr };
    throw error;
  }
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, `expected success, got ${run.code}: ${run.stderr}`);
  return run;
}

interface Workspace {
  dir: string;
  file: (name: string) => string;
  keys: Record<string, { key: string; pub: string }>;
}

/** A directory with alice/bob/carol keys (made by `graft keygen`), the module, and JSON + YAML configs. */
async function workspace<T>(fn: (ws: Workspace) => Promise<T>): Promise<T> {
  return withTempDir(async (dir) => {
    const file = (name: string) => path.join(dir, name);
    const keys: Workspace["keys"] = {};
    for (const name of ["alice", "bob", "carol"]) {
      ok(await graft("keygen", "--out", file("keys"), "--name", name));
      keys[name] = { key: file(`keys/${name}.key.pem`), pub: file(`keys/${name}.pub.pem`) };
    }
    await writeFile(file("rate-limit.wasm"), wasmBytes);
    await writeFile(file("config.json"), JSON.stringify(configuration));
    await writeFile(file("config.yaml"), "window: 1s\npaths:\n  - /pay\n  - /refund\nlimit: 100\n");
    return fn({ dir, file, keys });
  });
}

async function writePolicy(ws: Workspace, extra = ""): Promise<string> {
  const entries = Object.keys(ws.keys)
    .map((name) => `  - name: ${name}\n    publicKeyPath: keys/${name}.pub.pem\n    filters: ["rate-*"]`)
    .join("\n");
  await writeFile(ws.file("trust.yaml"), `maxTtl: 24h\nkeys:\n${entries}\n${extra}`);
  return ws.file("trust.yaml");
}

const signFlags = (ws: Workspace, signer: string, out = "rate-limit.dsse.json") => [
  "sign",
  ws.file("rate-limit.wasm"),
  "--key",
  ws.keys[signer]?.key as string,
  "--filter",
  "rate-limit",
  "--version",
  "1.4.0",
  "--injection-id",
  "inj-1",
  "--config",
  ws.file("config.yaml"),
  "--ttl",
  "2h",
  "--reason",
  "throttle card-testing bots",
  "--author",
  "alice",
  "--out",
  ws.file(out),
];

const verifyFlags = (ws: Workspace, ...extra: string[]) => [
  "verify",
  ws.file("rate-limit.wasm"),
  "--envelope",
  ws.file("rate-limit.dsse.json"),
  "--policy",
  ws.file("trust.yaml"),
  "--config",
  ws.file("config.json"),
  ...extra,
];

describe("graft keygen", () => {
  it("writes a 0600 private key and a public key, and prints the key id and a policy entry", async () => {
    await workspace(async (ws) => {
      const run = ok(await graft("keygen", "--out", ws.file("more"), "--name", "dave"));
      assert.match(run.stdout, /^key id: {6}sha256:[0-9a-f]{64}$/m);
      assert.match(run.stdout, /publicKeyPath: .*dave\.pub\.pem/);
      assert.equal((await stat(ws.file("more/dave.key.pem"))).mode & 0o777, 0o600);
      assert.match(await readFile(ws.file("more/dave.pub.pem"), "utf8"), /BEGIN PUBLIC KEY/);
    });
  });

  it("refuses to overwrite an existing key", async () => {
    await workspace(async (ws) => {
      const run = await graft("keygen", "--out", ws.file("keys"), "--name", "alice");
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^error: FILE_ERROR: cannot write .*alice\.key\.pem: EEXIST/);
    });
  });
});

describe("graft sign and graft verify", () => {
  it("sign writes an envelope that verify accepts, with YAML and JSON twins of one configuration", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      const signed = ok(await graft(...signFlags(ws, "alice")));
      assert.match(signed.stdout, /signed with sha256:[0-9a-f]{64} \(1 signature\(s\)\)/);
      const envelope = JSON.parse(await readFile(ws.file("rate-limit.dsse.json"), "utf8")) as {
        payloadType: string;
      };
      assert.equal(envelope.payloadType, "application/vnd.in-toto+json");
      const verified = ok(await graft(...verifyFlags(ws)));
      assert.match(verified.stdout, /^verified: rate-limit 1\.4\.0 \(injection inj-1\)$/m);
      assert.match(verified.stdout, /signed by: alice \(sha256:[0-9a-f]{64}\) \[1 of 1 required\]/);
    });
  });

  it("treats --version after sign as the filter version even though graft has its own --version", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      const run = ok(await graft(...signFlags(ws, "alice")));
      assert.doesNotMatch(run.stdout, /^0\.1\.0$/m);
      assert.match(ok(await graft(...verifyFlags(ws))).stdout, /rate-limit 1\.4\.0/);
    });
  });

  it("takes the author from GRAFT_ACTOR when --author is absent", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      const flags = signFlags(ws, "alice");
      flags.splice(flags.indexOf("--author"), 2);
      const previous = process.env["GRAFT_ACTOR"];
      process.env["GRAFT_ACTOR"] = "release-bot";
      try {
        ok(await graft(...flags));
      } finally {
        if (previous === undefined) delete process.env["GRAFT_ACTOR"];
        else process.env["GRAFT_ACTOR"] = previous;
      }
      assert.match(ok(await graft(...verifyFlags(ws))).stdout, /author: {4}release-bot/);
    });
  });

  it("sign --envelope adds a second approver, which a 2-approval rule needs", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws, "approvalRules:\n  - targets: { tier: payments }\n    approvals: 2\n");
      ok(await graft(...signFlags(ws, "alice")));
      const one = await graft(...verifyFlags(ws, "--target-label", "tier=payments"));
      assert.equal(one.code, 2);
      assert.match(one.stderr, /^error: TOO_FEW_APPROVALS: 1 distinct trusted signature/);
      const envelope = ws.file("rate-limit.dsse.json");
      const cosigned = ok(
        await graft(
          "sign",
          ws.file("rate-limit.wasm"),
          "--key",
          ws.keys["bob"]?.key as string,
          "--envelope",
          envelope,
          "--config",
          ws.file("config.json"),
          "--out",
          envelope,
        ),
      );
      assert.match(cosigned.stdout, /\(2 signature\(s\)\)/);
      const two = ok(await graft(...verifyFlags(ws, "--target-label", "tier=payments", "region=eu")));
      assert.match(two.stdout, /signed by: alice .*, bob .* \[2 of 2 required\]/);
    });
  });

  it("sign --envelope refuses a key that already signed", async () => {
    await workspace(async (ws) => {
      ok(await graft(...signFlags(ws, "alice")));
      const envelope = ws.file("rate-limit.dsse.json");
      const run = await graft(
        "sign",
        ws.file("rate-limit.wasm"),
        "--key",
        ws.keys["alice"]?.key as string,
        "--envelope",
        envelope,
        "--config",
        ws.file("config.json"),
        "--out",
        envelope,
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^error: ALREADY_SIGNED: /);
    });
  });

  it("sign --envelope refuses to co-sign for a different module", async () => {
    await workspace(async (ws) => {
      ok(await graft(...signFlags(ws, "alice")));
      await writeFile(ws.file("other.wasm"), "other");
      const envelope = ws.file("rate-limit.dsse.json");
      const run = await graft(
        "sign",
        ws.file("other.wasm"),
        "--key",
        ws.keys["bob"]?.key as string,
        "--envelope",
        envelope,
        "--out",
        ws.file("x.json"),
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^error: STATEMENT_MISMATCH: the envelope's module sha256/);
    });
  });

  it("sign --envelope refuses flags that would change the signed statement", async () => {
    await workspace(async (ws) => {
      ok(await graft(...signFlags(ws, "alice")));
      const envelope = ws.file("rate-limit.dsse.json");
      const run = await graft(
        "sign",
        ws.file("rate-limit.wasm"),
        "--key",
        ws.keys["bob"]?.key as string,
        "--envelope",
        envelope,
        "--ttl",
        "48h",
        "--out",
        envelope,
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /--ttl cannot be combined with --envelope/);
    });
  });

  it("sign names every missing flag for a new statement", async () => {
    await workspace(async (ws) => {
      const run = await graft(
        "sign",
        ws.file("rate-limit.wasm"),
        "--key",
        ws.keys["alice"]?.key as string,
        "--filter",
        "rate-limit",
        "--out",
        ws.file("x.json"),
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /needs --version, --injection-id, --config, --ttl, --reason/);
    });
  });

  it("verify exits 2 with MODULE_TAMPERED when the module changed", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      ok(await graft(...signFlags(ws, "alice")));
      await writeFile(ws.file("rate-limit.wasm"), Buffer.concat([wasmBytes, Buffer.from([0])]));
      const run = await graft(...verifyFlags(ws));
      assert.equal(run.code, 2);
      assert.match(
        run.stderr,
        /^error: MODULE_TAMPERED: .* does not match the signed module: it has sha256 [0-9a-f]{64}/,
      );
      assert.doesNotMatch(run.stderr, /Usage:/, "a refusal is not a usage error: no help text");
      assert.equal(run.stdout, "");
    });
  });

  it("verify exits 2 with CONFIG_MISMATCH when the configuration changed", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      ok(await graft(...signFlags(ws, "alice")));
      await writeFile(ws.file("config.json"), JSON.stringify({ ...configuration, limit: 5000 }));
      const run = await graft(...verifyFlags(ws));
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^error: CONFIG_MISMATCH: /);
    });
  });

  it("verify exits 2 with KEY_NOT_ALLOWED for targets the key may not approve", async () => {
    await workspace(async (ws) => {
      const entries = `  - name: alice\n    publicKeyPath: keys/alice.pub.pem\n    filters: ["*"]\n    targets: { tier: edge }\n`;
      await writeFile(ws.file("trust.yaml"), `maxTtl: 24h\nkeys:\n${entries}`);
      ok(await graft(...signFlags(ws, "alice")));
      const run = await graft(...verifyFlags(ws, "--target-label", "tier=payments"));
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^error: KEY_NOT_ALLOWED: .*tier=payments/);
      ok(await graft(...verifyFlags(ws, "--target-label", "tier=edge")));
    });
  });

  it("verify exits 2 with EXPIRED for an envelope past its TTL", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      const key = signingKeyFromPem(await readFile(ws.keys["alice"]?.key as string, "utf8"));
      const statement = createStatement(
        statementInput({ now: new Date(Date.now() - 3 * 3_600_000), ttl: "2h" }),
      );
      await writeFile(ws.file("rate-limit.dsse.json"), JSON.stringify(signEnvelope(statement, key)));
      const run = await graft(...verifyFlags(ws));
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^error: EXPIRED: the statement expired at /);
    });
  });

  it("verify exits 1 naming the policy file, field and fix when the policy is invalid", async () => {
    await workspace(async (ws) => {
      ok(await graft(...signFlags(ws, "alice")));
      await writeFile(ws.file("trust.yaml"), "maxTtl: forever\nkeys: []\n");
      const run = await graft(...verifyFlags(ws));
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /^error: POLICY_INVALID: .*trust\.yaml: maxTtl: "forever" is not a positive duration; fix: /,
      );
    });
  });

  it("verify rejects a --target-label that is not key=value", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      ok(await graft(...signFlags(ws, "alice")));
      const run = await graft(...verifyFlags(ws, "--target-label", "payments"));
      assert.equal(run.code, 1);
      assert.match(run.stderr, /expected key=value/);
    });
  });

  it("verify --audit-log records refusals and successes", async () => {
    await workspace(async (ws) => {
      await writePolicy(ws);
      ok(await graft(...signFlags(ws, "alice")));
      const log = ws.file("audit.jsonl");
      ok(
        await graft(
          ...verifyFlags(ws, "--audit-log", log, "--actor", "deployer", "--target-label", "tier=payments"),
        ),
      );
      await writeFile(ws.file("config.json"), "{}");
      assert.equal((await graft(...verifyFlags(ws, "--audit-log", log))).code, 2);
      const records = (await readFile(log, "utf8"))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as AuditRecord);
      assert.deepEqual(
        records.map((record) => [record.action, record.outcome]),
        [
          ["verify", "ok"],
          ["verify-refused", "refused"],
        ],
      );
      assert.equal(records[0]?.actor, "deployer");
      assert.deepEqual(records[0]?.targets, ["tier=payments"]);
      assert.match(records[1]?.reason ?? "", /^CONFIG_MISMATCH: /);
      assert.equal((await verifyAuditLog(log)).ok, true);
    });
  });
});

describe("graft audit verify", () => {
  async function logWithRecords(ws: Workspace): Promise<string> {
    await writePolicy(ws);
    ok(await graft(...signFlags(ws, "alice")));
    const log = ws.file("audit.jsonl");
    for (let index = 0; index < 3; index++) ok(await graft(...verifyFlags(ws, "--audit-log", log)));
    return log;
  }

  it("prints the record count and head of an intact log", async () => {
    await workspace(async (ws) => {
      const log = await logWithRecords(ws);
      const run = ok(await graft("audit", "verify", log));
      assert.match(run.stdout, /^ok: 3 record\(s\), head seq 3 sha256:[0-9a-f]{64}$/m);
    });
  });

  it("exits 2 naming the line and seq of an edited record", async () => {
    await workspace(async (ws) => {
      const log = await logWithRecords(ws);
      const text = await readFile(log, "utf8");
      const lines = text.split("\n");
      lines[1] = (lines[1] as string).replace('"action":"verify"', '"action":"verifY"');
      await writeFile(log, lines.join("\n"));
      const run = await graft("audit", "verify", log);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^error: AUDIT_BROKEN: .*audit\.jsonl line 2 \(seq 2\): hash /);
    });
  });

  it("exits 2 when records were cut after an --anchor", async () => {
    await workspace(async (ws) => {
      const log = await logWithRecords(ws);
      const head = /head seq (\d+) (sha256:[0-9a-f]{64})/.exec(
        ok(await graft("audit", "verify", log)).stdout,
      );
      const lines = (await readFile(log, "utf8")).split("\n");
      await writeFile(log, `${lines.slice(0, 2).join("\n")}\n`);
      ok(await graft("audit", "verify", log));
      const run = await graft("audit", "verify", log, "--anchor", `${head?.[1]}:${head?.[2]}`);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /cut from the end/);
    });
  });

  it("exits 1 when the log cannot be read", async () => {
    await workspace(async (ws) => {
      const run = await graft("audit", "verify", ws.file("missing.jsonl"));
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^error: FILE_ERROR: cannot read audit log .*ENOENT/);
    });
  });
});
