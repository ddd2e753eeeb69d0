// SPDX-License-Identifier: Apache-2.0
// Checks added with the agent: a private key where a public one belongs, names checked at sign time,
// co-signers who must see the configuration, signed and versioned trust policies, signed audit logs.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import yaml from "js-yaml";
import { appendAuditRecord, signCheckpoint, verifyAuditLog, auditHead } from "../../src/audit/log.ts";
import { GraftPolicyError, GraftSignError } from "../../src/sign/errors.ts";
import { verifyingKeyFromPem } from "../../src/sign/keys.ts";
import { parseTrustPolicy } from "../../src/sign/policy.ts";
import { addPolicySignature, signPolicy, verifySignedPolicy } from "../../src/sign/policy-bundle.ts";
import { coSign } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import {
  alice,
  approver,
  assertThrowsCode,
  bob,
  signedBy,
  statementInput,
  wasmBytes,
  withTempDir,
} from "./helpers.ts";

const rootA = approver("root-a");
const rootB = approver("root-b");
const root = {
  keys: [rootA, rootB].map((r) => ({ keyId: r.key.keyId, publicKey: r.key.publicKey })),
  threshold: 2,
};
const policyText = (serial: number, extra = "") =>
  `version: 1\nserial: ${serial}\nmaxTtl: 24h\nkeys:\n  - name: alice\n    publicKey: |\n${alice.pair.publicKeyPem
    .trim()
    .split("\n")
    .map((line) => `      ${line}`)
    .join("\n")}\n    filters: ["*"]\n${extra}`;

describe("keys", () => {
  it("refuses a private key where a public key is expected, in code and in a policy", () => {
    assertThrowsCode(() => verifyingKeyFromPem(alice.pair.privateKeyPem), GraftSignError, "INVALID_KEY");
    const policy = yaml.dump({
      maxTtl: "1h",
      keys: [{ publicKey: alice.pair.privateKeyPem, filters: ["*"] }],
    });
    const error = assertThrowsCode(
      () => parseTrustPolicy(policy, { source: "t.yaml" }),
      GraftPolicyError,
      "POLICY_INVALID",
    );
    assert.match(error.message, /keys\[0\]\.publicKey: .*holds a private key/);
  });
});

describe("statements", () => {
  it("checks filter names and injection ids at sign time", () => {
    for (const filter of ["../etc", "Header", "a/b", ""]) {
      assertThrowsCode(
        () => createStatement(statementInput({ filter })),
        GraftSignError,
        "INVALID_STATEMENT",
      );
    }
    for (const injectionId of ["a b", "-x", "x\n", "é"]) {
      assertThrowsCode(
        () => createStatement(statementInput({ injectionId })),
        GraftSignError,
        "INVALID_STATEMENT",
      );
    }
    assertThrowsCode(
      () => createStatement(statementInput({ slots: ["bad slot"] })),
      GraftSignError,
      "INVALID_STATEMENT",
    );
    assert.deepEqual(
      createStatement(statementInput({ slots: ["graft-slot-0"], targets: { tier: "payments" } })).predicate
        .slots,
      ["graft-slot-0"],
    );
  });

  it("a co-signer must see the configuration", () => {
    const error = assertThrowsCode(
      () => coSign(signedBy(alice), bob.key, { wasmBytes, configuration: undefined }),
      GraftSignError,
      "STATEMENT_MISMATCH",
    );
    assert.match(error.message, /must see the configuration/);
  });
});

describe("signed trust policies", () => {
  it("accepts a policy with the root threshold and returns its serial", () => {
    const signed = addPolicySignature(signPolicy(policyText(3), [rootA.key]), rootB.key);
    const verified = verifySignedPolicy(signed, root, { source: "p", minSerial: 2 });
    assert.equal(verified.policy.serial, 3);
    assert.deepEqual(verified.signers.sort(), [rootA.key.keyId, rootB.key.keyId].sort());
  });

  it("refuses fewer root signatures than the threshold, and signatures by other keys do not count (POLICY_UNTRUSTED)", () => {
    const one = signPolicy(policyText(1), [rootA.key, alice.key]);
    assertThrowsCode(
      () => verifySignedPolicy(one, root, { source: "p" }),
      GraftPolicyError,
      "POLICY_UNTRUSTED",
    );
  });

  it("refuses an older serial (POLICY_ROLLBACK) and a payload changed after signing", () => {
    const old = signPolicy(policyText(1), [rootA.key, rootB.key]);
    assertThrowsCode(
      () => verifySignedPolicy(old, root, { source: "p", minSerial: 2 }),
      GraftPolicyError,
      "POLICY_ROLLBACK",
    );
    const changed = { ...old, payload: Buffer.from(policyText(9)).toString("base64") };
    assertThrowsCode(
      () => verifySignedPolicy(changed, root, { source: "p" }),
      GraftPolicyError,
      "POLICY_UNTRUSTED",
    );
  });

  it("refuses key files and a missing serial in a signed policy: everything trusted is inside the signature", () => {
    const withPath = `version: 1\nserial: 1\nmaxTtl: 1h\nkeys:\n  - publicKeyPath: alice.pub.pem\n    filters: ["*"]\n`;
    assertThrowsCode(() => signPolicy(withPath, [rootA.key]), GraftPolicyError, "POLICY_INVALID");
    assertThrowsCode(
      () => signPolicy(policyText(1).replace("serial: 1\n", ""), [rootA.key]),
      GraftPolicyError,
      "POLICY_INVALID",
    );
  });
});

describe("signed audit logs", () => {
  const key = [{ keyId: bob.key.keyId, publicKey: bob.key.publicKey }];

  it("refuses /dev/null or any non-regular file as a log: records must not vanish", async () => {
    await assert.rejects(appendAuditRecord("/dev/null", { action: "inject", outcome: "ok" }), {
      code: "AUDIT_CORRUPT",
    });
  });

  it("signs records; a forged append, an unsigned record and a foreign checkpoint are detected", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.log");
      for (const action of ["inject", "rollback"])
        await appendAuditRecord(log, { action, outcome: "ok" }, { signer: bob.key });
      assert.equal((await verifyAuditLog(log, { keys: key })).ok, true);
      // An append without the key chains, but is not signed; the writer refuses to extend it.
      await appendAuditRecord(log, { action: "disable", outcome: "ok", actor: "forger" });
      const forged = await verifyAuditLog(log, { keys: key });
      assert.equal(!forged.ok && forged.kind, "forged");
      assert.equal(!forged.ok && forged.line, 3);
      await assert.rejects(appendAuditRecord(log, { action: "x", outcome: "ok" }, { signer: bob.key }), {
        code: "AUDIT_CORRUPT",
      });
      const foreign = signCheckpoint({ log: "a", ...(await auditHead(log)) }, alice.key);
      const result = await verifyAuditLog(log, { keys: key, checkpoint: foreign });
      assert.equal(!result.ok && result.kind, "forged");
    });
  });

  it("detects a cut log against a signed checkpoint", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.log");
      for (const action of ["a", "b", "c"])
        await appendAuditRecord(log, { action, outcome: "ok" }, { signer: bob.key });
      const checkpoint = signCheckpoint({ log: "x", ...(await auditHead(log)) }, bob.key);
      const text = await readFile(log, "utf8");
      await writeFile(log, `${text.trim().split("\n").slice(0, 2).join("\n")}\n`);
      const cut = await verifyAuditLog(log, { keys: key, checkpoint });
      assert.equal(!cut.ok && cut.kind, "truncated");
    });
  });
});
