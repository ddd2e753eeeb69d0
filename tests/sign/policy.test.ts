// SPDX-License-Identifier: Apache-2.0
// The trust policy file: what it accepts, and errors that name the file, the field and the fix.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { GraftPolicyError } from "../../src/sign/errors.ts";
import { matchGlob } from "../../src/sign/glob.ts";
import { loadTrustPolicy, parseTrustPolicy, requiredApprovals } from "../../src/sign/policy.ts";
import { alice, assertThrowsCode, bob, withTempDir } from "./helpers.ts";

const indent = (pem: string, spaces: number) =>
  pem
    .trim()
    .split("\n")
    .map((line) => `${" ".repeat(spaces)}${line}`)
    .join("\n");

const aliceInline = `  - name: alice
    publicKey: |
${indent(alice.pair.publicKeyPem, 6)}
    filters: ["*"]`;

function invalid(text: string): GraftPolicyError {
  return assertThrowsCode(
    () => parseTrustPolicy(text, { source: "trust.yaml" }),
    GraftPolicyError,
    "POLICY_INVALID",
  );
}

describe("parseTrustPolicy", () => {
  it("reads keys, windows, filters, targets, revocations and approval rules", () => {
    const policy = parseTrustPolicy(
      `version: 1
maxTtl: 24h
clockSkew: 30s
keys:
${aliceInline}
  - name: bob
    id: ${bob.pair.keyId}
    publicKey: |
${indent(bob.pair.publicKeyPem, 6)}
    notBefore: 2026-01-01T00:00:00Z
    notAfter: 2026-07-01T00:00:00Z
    filters: rate-limit
    targets: { tier: [payments, "check*"] }
revoked: [sha256:${"ab".repeat(32)}]
approvalRules:
  - targets: { tier: payments }
    approvals: 2
`,
      { source: "trust.yaml" },
    );
    assert.equal(policy.maxTtlMs, 24 * 3_600_000);
    assert.equal(policy.clockSkewMs, 30_000);
    const bobKey = policy.keys.get(bob.pair.keyId);
    assert.deepEqual(bobKey?.filters, ["rate-limit"]);
    assert.deepEqual(bobKey?.targets, { tier: ["payments", "check*"] });
    assert.equal(bobKey?.notBeforeMs, Date.parse("2026-01-01T00:00:00Z"));
    assert.equal(policy.keys.get(alice.pair.keyId)?.notAfterMs, null);
    assert.ok(policy.revoked.has(`sha256:${"ab".repeat(32)}`));
    assert.equal(requiredApprovals(policy, "any", { tier: "payments" }).approvals, 2);
    assert.equal(requiredApprovals(policy, "any", { tier: "edge" }).approvals, 1);
  });

  it("defaults the clock skew to one minute", () => {
    assert.equal(
      parseTrustPolicy(`maxTtl: 1h\nkeys:\n${aliceInline}\n`, { source: "t.yaml" }).clockSkewMs,
      60_000,
    );
  });

  it("resolves publicKeyPath relative to the policy file", async () => {
    await withTempDir(async (dir) => {
      await mkdir(path.join(dir, "keys"));
      await writeFile(path.join(dir, "keys", "alice.pub.pem"), alice.pair.publicKeyPem);
      const file = path.join(dir, "trust.yaml");
      await writeFile(file, `maxTtl: 2h\nkeys:\n  - publicKeyPath: keys/alice.pub.pem\n    filters: ["*"]\n`);
      const policy = await loadTrustPolicy(file);
      assert.ok(policy.keys.has(alice.pair.keyId));
      assert.equal(policy.source, file);
    });
  });

  it("reports an unreadable file as POLICY_UNREADABLE naming the file", async () => {
    await assert.rejects(loadTrustPolicy("/nonexistent/trust.yaml"), (error: unknown) => {
      assert.ok(error instanceof GraftPolicyError);
      assert.equal(error.code, "POLICY_UNREADABLE");
      assert.match(error.message, /^\/nonexistent\/trust\.yaml: /);
      return true;
    });
  });

  describe("errors name the file, the field and the fix", () => {
    it("when maxTtl is missing", () => {
      const error = invalid(`keys:\n${aliceInline}\n`);
      assert.equal(error.field, "maxTtl");
      assert.match(error.message, /^trust\.yaml: maxTtl: missing; fix: add maxTtl/);
    });

    it("when maxTtl is not a duration", () => {
      assert.match(
        invalid(`maxTtl: a day\nkeys:\n${aliceInline}\n`).message,
        /maxTtl: "a day" is not a positive duration; fix: write it like "24h"/,
      );
    });

    it("when a field is unknown (a typo must not drop a limit)", () => {
      const error = invalid(`maxTTL: 1h\nmaxTtl: 1h\nkeys:\n${aliceInline}\n`);
      assert.equal(error.field, "maxTTL");
      assert.match(error.fix, /maxTtl/);
    });

    it("when a key's time is not RFC 3339", () => {
      const error = invalid(`maxTtl: 1h\nkeys:\n${aliceInline}\n    notAfter: 2026-02-30T00:00:00Z\n`);
      assert.equal(error.field, "keys[0].notAfter");
      assert.match(error.fix, /2026-01-01T00:00:00Z/);
    });

    it("when a key's window ends before it starts", () => {
      const error = invalid(
        `maxTtl: 1h\nkeys:\n${aliceInline}\n    notBefore: 2026-02-01T00:00:00Z\n    notAfter: 2026-01-01T00:00:00Z\n`,
      );
      assert.equal(error.field, "keys[0].notAfter");
    });

    it("when a key id does not match its public key", () => {
      const error = invalid(`maxTtl: 1h\nkeys:\n${aliceInline}\n    id: ${bob.pair.keyId}\n`);
      assert.equal(error.field, "keys[0].id");
      assert.ok(error.fix.includes(alice.pair.keyId));
    });

    it("when a key has no filters", () => {
      const error = invalid(`maxTtl: 1h\nkeys:\n  - publicKey: |\n${indent(alice.pair.publicKeyPem, 6)}\n`);
      assert.equal(error.field, "keys[0].filters");
      assert.match(error.fix, /filters: \["\*"\]/);
    });

    it("when a key has both or neither publicKey and publicKeyPath", () => {
      assert.match(
        invalid(`maxTtl: 1h\nkeys:\n  - filters: ["*"]\n`).message,
        /keys\[0\]: has no public key/,
      );
      assert.match(
        invalid(`maxTtl: 1h\nkeys:\n${aliceInline}\n    publicKeyPath: a.pem\n`).message,
        /both publicKey and publicKeyPath/,
      );
    });

    it("when the public key is not an Ed25519 PEM", () => {
      const error = invalid(`maxTtl: 1h\nkeys:\n  - publicKey: nonsense\n    filters: ["*"]\n`);
      assert.equal(error.field, "keys[0].publicKey");
    });

    it("when the same key is listed twice", () => {
      assert.match(
        invalid(`maxTtl: 1h\nkeys:\n${aliceInline}\n${aliceInline}\n`).message,
        /keys\[1\]: same public key/,
      );
    });

    it("when a revoked entry is not a key id", () => {
      assert.equal(invalid(`maxTtl: 1h\nkeys:\n${aliceInline}\nrevoked: [alice]\n`).field, "revoked[0]");
    });

    it("when an approval rule needs more keys than the policy trusts", () => {
      const error = invalid(`maxTtl: 1h\nkeys:\n${aliceInline}\napprovalRules:\n  - approvals: 2\n`);
      assert.equal(error.field, "approvalRules[0].approvals");
      assert.match(error.fix, /add keys or lower approvals/);
    });

    it("when the YAML does not parse, with the line", () => {
      assert.match(invalid("maxTtl: [1h\nkeys: x\n").field, /^line \d+, column \d+$/);
    });

    it("when the file is empty", () => {
      assert.equal(invalid("").field, "(top level)");
    });
  });
});

describe("matchGlob", () => {
  it("matches * and ? and nothing else specially", () => {
    assert.ok(matchGlob("rate-*", "rate-limit"));
    assert.ok(matchGlob("*", ""));
    assert.ok(matchGlob("h?ader", "header"));
    assert.ok(!matchGlob("rate-*", "xrate-limit"));
    assert.ok(!matchGlob("a.c", "abc"), "regex metacharacters are literal");
    assert.ok(matchGlob("a*b*c", "aXXbYYc"));
    assert.ok(!matchGlob("a*b*c", "aXXbYY"));
  });
});
