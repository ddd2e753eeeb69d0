// The commands around agents, run in-process: `graft policy sign` (two root holders), and
// `graft audit verify --key --checkpoint` on a signed log (exit 2 naming the forgery or the cut).
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { Command, CommanderError } from "commander";
import { appendAuditRecord, auditHead, signCheckpoint } from "../../src/audit/log.ts";
import { register as registerAudit } from "../../src/cli/commands/audit.ts";
import { register as registerPolicy } from "../../src/cli/commands/policy.ts";
import { verifySignedPolicy } from "../../src/sign/policy-bundle.ts";
import { withTempDir } from "../sign/helpers.ts";
import { bob, policyYaml, roots } from "./support/agent-fleet.ts";

async function graft(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const program = new Command("graft").exitOverride();
  program.configureOutput({ writeOut: (text) => (stdout += text), writeErr: (text) => (stderr += text) });
  registerAudit(program);
  registerPolicy(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, stdout, stderr };
    throw error;
  }
}

describe("graft policy sign", () => {
  it("signs a policy with one root key, then a second, reaching a 2-of-2 trust root", async () => {
    await withTempDir(async (dir) => {
      const file = (name: string) => path.join(dir, name);
      await writeFile(file("trust.yaml"), policyYaml({ serial: 4 }));
      for (const [index, root] of roots.entries())
        await writeFile(file(`root-${index}.key.pem`), root.pair.privateKeyPem);
      const first = await graft(
        "policy",
        "sign",
        file("trust.yaml"),
        "--key",
        file("root-0.key.pem"),
        "--out",
        file("p.json"),
      );
      assert.equal(first.code, 0, first.stderr);
      const second = await graft(
        "policy",
        "sign",
        "--envelope",
        file("p.json"),
        "--key",
        file("root-1.key.pem"),
        "--out",
        file("p.json"),
      );
      assert.match(second.stdout, /\(2 signature\(s\)\)/);
      const trustRoot = {
        keys: roots.map((r) => ({ keyId: r.key.keyId, publicKey: r.key.publicKey })),
        threshold: 2,
      };
      const signed = JSON.parse(await readFile(file("p.json"), "utf8")) as unknown;
      assert.equal(verifySignedPolicy(signed, trustRoot, { source: "p.json" }).policy.serial, 4);
    });
  });
});

describe("graft audit verify --key --checkpoint", () => {
  it("accepts a signed log, and exits 2 with AUDIT_FORGED or AUDIT_BROKEN for a forgery or a cut", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.log");
      await writeFile(path.join(dir, "agent.pub.pem"), bob.pair.publicKeyPem);
      for (const action of ["inject", "rollback", "disable"])
        await appendAuditRecord(log, { action, outcome: "ok" }, { signer: bob.key });
      const checkpoint = path.join(dir, "checkpoint.json");
      await writeFile(
        checkpoint,
        JSON.stringify(signCheckpoint({ log: "a", ...(await auditHead(log)) }, bob.key)),
      );
      const flags = ["--key", path.join(dir, "agent.pub.pem"), "--checkpoint", checkpoint];
      const good = await graft("audit", "verify", log, ...flags);
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /ok: 3 record\(s\), every one signed/);
      const text = await readFile(log, "utf8");
      await writeFile(log, `${text.trim().split("\n").slice(0, 2).join("\n")}\n`);
      const cut = await graft("audit", "verify", log, ...flags);
      assert.equal(cut.code, 2);
      assert.match(cut.stderr, /AUDIT_BROKEN: .*records were cut from the end/);
      await writeFile(log, text);
      await appendAuditRecord(log, { action: "forged", outcome: "ok", actor: "alice" });
      const forged = await graft("audit", "verify", log, "--key", path.join(dir, "agent.pub.pem"));
      assert.equal(forged.code, 2);
      assert.match(forged.stderr, /AUDIT_FORGED: .*line 4 \(seq 4\): the record is not signed/);
    });
  });
});
