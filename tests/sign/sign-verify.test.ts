// SPDX-License-Identifier: Apache-2.0
// Signing and verification of injection artifacts: every refusal code, approvals, key windows, TTLs,
// and how envelopes with several problems resolve. Times are fixed (CREATED = 2026-03-01T12:00Z).
import assert from "node:assert/strict";
import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import yaml from "js-yaml";
import { canonicalJson, canonicalSha256 } from "../../src/sign/canonical-json.ts";
import { IN_TOTO_PAYLOAD_TYPE, pae, signPae, type DsseEnvelope } from "../../src/sign/dsse.ts";
import { parseDuration } from "../../src/sign/duration.ts";
import { GraftSignError, GraftVerifyError } from "../../src/sign/errors.ts";
import { keyIdOf, loadSigningKey, loadVerifyingKey, signingKeyFromPem } from "../../src/sign/keys.ts";
import { addSignature, coSign, peekStatement } from "../../src/sign/sign.ts";
import { createStatement, INJECTION_PREDICATE_TYPE, STATEMENT_TYPE } from "../../src/sign/statement.ts";
import { verifyArtifact, type VerifyInput } from "../../src/sign/verify.ts";
import { parseRfc3339 } from "../../src/sign/time.ts";
import {
  alice,
  assertThrowsCode,
  bob,
  carol,
  configuration,
  CREATED,
  HOUR,
  mallory,
  policyOf,
  signedBy,
  statementInput,
  wasmBytes,
  withTempDir,
} from "./helpers.ts";

const at = (ms: number) => new Date(CREATED.getTime() + ms);
const basePolicy = policyOf([{ approver: alice }, { approver: bob }, { approver: carol }]);

function verify(overrides: Partial<VerifyInput> & { envelope: unknown }) {
  return verifyArtifact({ wasmBytes, configuration, policy: basePolicy, now: at(HOUR), ...overrides });
}

function refused(code: string, overrides: Partial<VerifyInput> & { envelope: unknown }): GraftVerifyError {
  return assertThrowsCode(() => verify(overrides), GraftVerifyError, code);
}

/** Rewrites the payload's statement without re-signing (what an attacker holding no key can do). */
function tamperPayload(
  envelope: DsseEnvelope,
  change: (statement: Record<string, unknown>) => void,
): DsseEnvelope {
  const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8")) as Record<
    string,
    unknown
  >;
  change(statement);
  return { ...envelope, payload: Buffer.from(canonicalJson(statement)).toString("base64") };
}

describe("canonicalJson", () => {
  it("sorts keys at every depth and writes no whitespace", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [true, null], c: "x" } }),
      '{"a":{"c":"x","d":[true,null]},"b":1}',
    );
  });

  it("hashes equal configurations equally whatever their key order", () => {
    assert.equal(canonicalSha256({ a: 1, b: [1, 2] }), canonicalSha256({ b: [1, 2], a: 1 }));
    assert.notEqual(canonicalSha256({ a: 1, b: [1, 2] }), canonicalSha256({ a: 1, b: [2, 1] }));
  });

  it("refuses values JSON cannot represent instead of coercing them", () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), TypeError);
    assert.throws(() => canonicalJson([undefined]), TypeError);
    assert.throws(() => canonicalJson({ when: new Date(0) }), TypeError);
    assert.throws(() => canonicalJson(10n), TypeError);
  });
});

describe("pae", () => {
  it("matches the DSSE v1 specification's example", () => {
    const encoded = pae("http://example.com/HelloWorld", Buffer.from("hello world"));
    assert.equal(encoded.toString("utf8"), "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  });

  it("counts bytes, not characters", () => {
    assert.equal(pae("t", Buffer.from("é", "utf8")).toString("utf8"), "DSSEv1 1 t 2 é");
  });
});

describe("keys", () => {
  it("generates Ed25519 PEM keys whose id is sha256 of the SPKI DER", () => {
    const der = createPublicKey(alice.pair.publicKeyPem).export({ type: "spki", format: "der" });
    assert.match(alice.pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(alice.pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(alice.pair.keyId, `sha256:${createHash("sha256").update(der).digest("hex")}`);
    assert.equal(alice.key.keyId, alice.pair.keyId);
  });

  it("loads keys from PEM files with the same id", async () => {
    await withTempDir(async (dir) => {
      await writeFile(path.join(dir, "a.key.pem"), alice.pair.privateKeyPem);
      await writeFile(path.join(dir, "a.pub.pem"), alice.pair.publicKeyPem);
      assert.equal((await loadSigningKey(path.join(dir, "a.key.pem"))).keyId, alice.pair.keyId);
      assert.equal((await loadVerifyingKey(path.join(dir, "a.pub.pem"))).keyId, alice.pair.keyId);
      await assert.rejects(loadSigningKey(path.join(dir, "missing.pem")), { code: "FILE_ERROR" });
    });
  });

  it("refuses keys that are not Ed25519", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    assertThrowsCode(() => signingKeyFromPem(pem), GraftSignError, "INVALID_KEY");
    assertThrowsCode(() => signingKeyFromPem("not a key"), GraftSignError, "INVALID_KEY");
  });
});

describe("createStatement", () => {
  it("builds an in-toto Statement v1 with the injection predicate", () => {
    const statement = createStatement(statementInput());
    assert.equal(statement._type, STATEMENT_TYPE);
    assert.equal(statement.predicateType, INJECTION_PREDICATE_TYPE);
    assert.deepEqual(statement.subject, [
      { name: "rate-limit.wasm", digest: { sha256: createHash("sha256").update(wasmBytes).digest("hex") } },
    ]);
    assert.deepEqual(statement.predicate, {
      filter: "rate-limit",
      version: "1.4.0",
      injectionId: "inj-2026-0301-a",
      author: "alice",
      reason: "throttle card-testing bots on /pay",
      created: "2026-03-01T12:00:00.000Z",
      expires: "2026-03-01T14:00:00.000Z",
      configSha256: canonicalSha256(configuration),
    });
  });

  it("refuses a TTL that is not a positive duration", () => {
    assertThrowsCode(
      () => createStatement(statementInput({ ttl: "soon" })),
      GraftSignError,
      "INVALID_STATEMENT",
    );
    assertThrowsCode(() => createStatement(statementInput({ ttl: 0 })), GraftSignError, "INVALID_STATEMENT");
  });

  it("refuses empty names", () => {
    assertThrowsCode(
      () => createStatement(statementInput({ filter: " " })),
      GraftSignError,
      "INVALID_STATEMENT",
    );
  });

  it("parses durations as people write them", () => {
    assert.equal(parseDuration("1h30m"), 90 * 60_000);
    assert.equal(parseDuration("2d"), 48 * HOUR);
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("1 hour"), null);
    assert.equal(parseRfc3339("2025-02-30T00:00:00Z"), null);
  });
});

describe("signEnvelope and addSignature", () => {
  it("wrap the statement in a DSSE envelope signed over PAE", () => {
    const envelope = signedBy(alice);
    assert.equal(envelope.payloadType, IN_TOTO_PAYLOAD_TYPE);
    assert.equal(envelope.signatures.length, 1);
    assert.equal(envelope.signatures[0]?.keyid, alice.pair.keyId);
    assert.equal(Buffer.from(envelope.signatures[0]?.sig ?? "", "base64").length, 64);
    assert.equal(peekStatement(envelope).predicate.filter, "rate-limit");
  });

  it("let a second approver sign the same payload without touching the first signature", () => {
    const first = signedBy(alice);
    const second = addSignature(first, bob.key);
    assert.equal(second.payload, first.payload);
    assert.deepEqual(second.signatures[0], first.signatures[0]);
    assert.equal(second.signatures[1]?.keyid, bob.pair.keyId);
    assert.equal(first.signatures.length, 1, "the input envelope is not changed");
  });

  it("refuse a key that already signed (ALREADY_SIGNED)", () => {
    assertThrowsCode(() => addSignature(signedBy(alice), alice.key), GraftSignError, "ALREADY_SIGNED");
  });

  it("refuse to co-sign something that is not a graft envelope (INVALID_ENVELOPE)", () => {
    assertThrowsCode(() => addSignature({ hello: "world" }, bob.key), GraftSignError, "INVALID_ENVELOPE");
    const foreign = { ...signedBy(alice), payloadType: "text/plain" };
    assertThrowsCode(() => addSignature(foreign, bob.key), GraftSignError, "INVALID_ENVELOPE");
  });

  it("refuse to co-sign a statement about another module or configuration (STATEMENT_MISMATCH)", () => {
    const envelope = signedBy(alice);
    assertThrowsCode(
      () => coSign(envelope, bob.key, { wasmBytes: Buffer.from("other"), configuration }),
      GraftSignError,
      "STATEMENT_MISMATCH",
    );
    assertThrowsCode(
      () => coSign(envelope, bob.key, { wasmBytes, configuration: { limit: 1 } }),
      GraftSignError,
      "STATEMENT_MISMATCH",
    );
    assertThrowsCode(
      () => coSign(envelope, bob.key, { wasmBytes, configuration, version: "9.9.9" }),
      GraftSignError,
      "STATEMENT_MISMATCH",
    );
    assert.equal(
      coSign(envelope, bob.key, { wasmBytes, configuration, filter: "rate-limit" }).signatures.length,
      2,
    );
  });
});

describe("verifyArtifact", () => {
  it("returns the verified predicate and signers for a valid artifact", () => {
    const verified = verify({ envelope: signedBy(alice) });
    assert.equal(verified.predicate.filter, "rate-limit");
    assert.equal(verified.predicate.injectionId, "inj-2026-0301-a");
    assert.deepEqual(verified.signers, [{ keyId: alice.pair.keyId, name: "alice" }]);
    assert.equal(verified.approvalsRequired, 1);
  });

  it("accepts the envelope as JSON text", () => {
    assert.equal(verify({ envelope: JSON.stringify(signedBy(alice)) }).predicate.version, "1.4.0");
  });

  describe("refusals, one code each", () => {
    it("MALFORMED_ENVELOPE when the envelope is not JSON or not DSSE", () => {
      refused("MALFORMED_ENVELOPE", { envelope: "{not json" });
      refused("MALFORMED_ENVELOPE", { envelope: { payload: "e30=" } });
      refused("MALFORMED_ENVELOPE", { envelope: { ...signedBy(alice), payload: "%%%" } });
    });

    it("MALFORMED_ENVELOPE when the payload type is not in-toto", () => {
      refused("MALFORMED_ENVELOPE", { envelope: { ...signedBy(alice), payloadType: "application/json" } });
    });

    it("MALFORMED_ENVELOPE when a trusted key signed something that is not an injection statement", () => {
      const payload = Buffer.from(
        canonicalJson({ _type: STATEMENT_TYPE, predicateType: "https://slsa.dev/provenance/v1" }),
      );
      const envelope = {
        payloadType: IN_TOTO_PAYLOAD_TYPE,
        payload: payload.toString("base64"),
        signatures: [
          { keyid: alice.pair.keyId, sig: signPae(IN_TOTO_PAYLOAD_TYPE, payload, alice.key.privateKey) },
        ],
      };
      const error = refused("MALFORMED_ENVELOPE", { envelope });
      assert.match(error.message, /predicateType/);
    });

    it("UNSIGNED when the envelope has no signatures", () => {
      refused("UNSIGNED", { envelope: { ...signedBy(alice), signatures: [] } });
    });

    it("UNSIGNED when given a bare statement instead of an envelope", () => {
      refused("UNSIGNED", { envelope: createStatement(statementInput()) });
    });

    it("MODULE_TAMPERED when the module's sha256 differs from the subject", () => {
      const changed = Buffer.from(wasmBytes);
      changed.writeUInt8(changed.readUInt8(changed.length - 1) ^ 0x01, changed.length - 1);
      const error = refused("MODULE_TAMPERED", { envelope: signedBy(alice), wasmBytes: changed });
      assert.match(error.message, /does not match the signed subject rate-limit\.wasm/);
    });

    it("PREDICATE_TAMPERED when the payload was changed after signing", () => {
      const envelope = tamperPayload(signedBy(alice), (statement) => {
        (statement["predicate"] as Record<string, unknown>)["expires"] = "2027-01-01T00:00:00.000Z";
      });
      refused("PREDICATE_TAMPERED", { envelope });
    });

    it("PREDICATE_TAMPERED when the signature bytes were changed", () => {
      const envelope = signedBy(alice);
      const sig = Buffer.from(envelope.signatures[0]?.sig ?? "", "base64");
      sig.writeUInt8(sig.readUInt8(0) ^ 0xff, 0);
      refused("PREDICATE_TAMPERED", {
        envelope: { ...envelope, signatures: [{ keyid: alice.pair.keyId, sig: sig.toString("base64") }] },
      });
    });

    it("PREDICATE_TAMPERED when the keyid is pointed at another trusted key", () => {
      const envelope = signedBy(alice);
      const sig = envelope.signatures[0]?.sig ?? "";
      refused("PREDICATE_TAMPERED", {
        envelope: { ...envelope, signatures: [{ keyid: bob.pair.keyId, sig }] },
      });
    });

    it("UNKNOWN_KEY when the signing key is not in the policy", () => {
      refused("UNKNOWN_KEY", { envelope: signedBy(mallory) });
    });

    it("REVOKED_KEY when the signing key is revoked", () => {
      const policy = policyOf([{ approver: alice }, { approver: bob }], { revoked: [alice] });
      refused("REVOKED_KEY", { envelope: signedBy(alice), policy });
    });

    it("KEY_OUTSIDE_WINDOW when the key is used after its notAfter", () => {
      const policy = policyOf([{ approver: alice, notAfter: "2026-03-01T12:30:00Z" }]);
      refused("KEY_OUTSIDE_WINDOW", { envelope: signedBy(alice), policy });
    });

    it("KEY_OUTSIDE_WINDOW when the key is used before its notBefore", () => {
      const policy = policyOf([{ approver: alice, notBefore: "2026-04-01T00:00:00Z" }]);
      refused("KEY_OUTSIDE_WINDOW", { envelope: signedBy(alice), policy });
    });

    it("KEY_NOT_ALLOWED when the key may not approve this filter", () => {
      const policy = policyOf([{ approver: alice, filters: ["header-*", "cors"] }]);
      const error = refused("KEY_NOT_ALLOWED", { envelope: signedBy(alice), policy });
      assert.match(error.message, /may not approve filter "rate-limit"/);
    });

    it("KEY_NOT_ALLOWED when the key may not approve these target labels", () => {
      const policy = policyOf([{ approver: alice, targets: { tier: "payments" } }]);
      refused("KEY_NOT_ALLOWED", { envelope: signedBy(alice), policy, targetLabels: { tier: "checkout" } });
      refused("KEY_NOT_ALLOWED", { envelope: signedBy(alice), policy, targetLabels: {} });
      assert.ok(
        verify({ envelope: signedBy(alice), policy, targetLabels: { tier: "payments", region: "eu" } }),
      );
    });

    it("TOO_FEW_APPROVALS when a rule needs more distinct signers", () => {
      const policy = policyOf([{ approver: alice }, { approver: bob }], {
        approvalRules: [{ filters: ["rate-*"], approvals: 2 }],
      });
      const error = refused("TOO_FEW_APPROVALS", { envelope: signedBy(alice), policy });
      assert.match(error.message, /approvalRules\[0\] needs 2/);
    });

    it("EXPIRED when verified at or after expires", () => {
      refused("EXPIRED", { envelope: signedBy(alice), now: at(3 * HOUR) });
    });

    it("NOT_YET_VALID when created lies in the future beyond the clock skew", () => {
      refused("NOT_YET_VALID", { envelope: signedBy(alice), now: at(-HOUR) });
    });

    it("TTL_ABOVE_POLICY when expires - created exceeds maxTtl", () => {
      refused("TTL_ABOVE_POLICY", { envelope: signedBy(alice, { ttl: "48h" }) });
    });

    it("CONFIG_MISMATCH when the configuration differs from the approved one", () => {
      refused("CONFIG_MISMATCH", {
        envelope: signedBy(alice),
        configuration: { ...configuration, limit: 100000 },
      });
      refused("CONFIG_MISMATCH", { envelope: signedBy(alice), configuration: JSON.stringify(configuration) });
    });

    it("accepts the same configuration in another key order or read from YAML", () => {
      const fromYaml = yaml.load("paths: [/pay, /refund]\nwindow: 1s\nlimit: 100\n", {
        schema: yaml.CORE_SCHEMA,
      });
      assert.ok(verify({ envelope: signedBy(alice), configuration: fromYaml }));
    });
  });

  describe("2-of-N approvals", () => {
    const policy = policyOf([{ approver: alice }, { approver: bob }, { approver: carol }], {
      approvalRules: [{ filters: ["rate-limit"], targets: { tier: "payments" }, approvals: 2 }],
    });
    const payments = { tier: "payments" };

    it("accepts two distinct trusted signers when the rule needs two", () => {
      const envelope = addSignature(signedBy(alice), carol.key);
      const verified = verify({ envelope, policy, targetLabels: payments });
      assert.deepEqual(
        verified.signers.map((signer) => signer.name),
        ["alice", "carol"],
      );
      assert.equal(verified.approvalsRequired, 2);
    });

    it("refuses one signer for a target the rule covers", () => {
      refused("TOO_FEW_APPROVALS", { envelope: signedBy(alice), policy, targetLabels: payments });
    });

    it("needs one signer for targets the rule does not cover", () => {
      assert.equal(
        verify({ envelope: signedBy(alice), policy, targetLabels: { tier: "checkout" } }).approvalsRequired,
        1,
      );
    });

    it("counts a key that signed twice as one approval", () => {
      const envelope = signedBy(alice);
      const doubled = { ...envelope, signatures: [envelope.signatures[0], envelope.signatures[0]] };
      refused("TOO_FEW_APPROVALS", { envelope: doubled, policy, targetLabels: payments });
    });

    it("uses the largest count when several rules match", () => {
      const strict = policyOf([{ approver: alice }, { approver: bob }, { approver: carol }], {
        approvalRules: [{ approvals: 2 }, { filters: ["rate-*"], targets: { tier: ["pay*"] }, approvals: 3 }],
      });
      const two = addSignature(signedBy(alice), bob.key);
      refused("TOO_FEW_APPROVALS", { envelope: two, policy: strict, targetLabels: payments });
      assert.ok(verify({ envelope: addSignature(two, carol.key), policy: strict, targetLabels: payments }));
      assert.ok(verify({ envelope: two, policy: strict, targetLabels: { tier: "checkout" } }));
    });
  });

  describe("mixed cases fail closed", () => {
    const policy = policyOf(
      [{ approver: alice }, { approver: bob }, { approver: carol, filters: ["cors"] }],
      {
        revoked: [mallory],
      },
    );

    it("refuses REVOKED_KEY even when the other signatures are enough", () => {
      const envelope = addSignature(addSignature(signedBy(alice), bob.key), mallory.key);
      const error = refused("REVOKED_KEY", { envelope, policy });
      assert.deepEqual(
        error.signatures.map((problem) => problem.code),
        ["REVOKED_KEY"],
      );
    });

    it("refuses UNKNOWN_KEY even when the other signatures are enough", () => {
      const stranger = policyOf([{ approver: alice }, { approver: bob }]);
      const envelope = addSignature(signedBy(alice), carol.key);
      refused("UNKNOWN_KEY", { envelope, policy: stranger });
    });

    it("refuses KEY_NOT_ALLOWED when one of the signers may not approve the filter", () => {
      refused("KEY_NOT_ALLOWED", { envelope: addSignature(signedBy(alice), carol.key), policy });
    });

    it("refuses PREDICATE_TAMPERED when one of several signatures is broken", () => {
      const envelope = addSignature(signedBy(alice), bob.key);
      const broken = {
        ...envelope,
        signatures: [envelope.signatures[0], { keyid: bob.pair.keyId, sig: envelope.signatures[0]?.sig }],
      };
      refused("PREDICATE_TAMPERED", { envelope: broken, policy });
    });

    it("reports a broken signature before a revoked key and lists both", () => {
      const envelope = addSignature(signedBy(alice), mallory.key);
      const broken = {
        ...envelope,
        signatures: [{ keyid: bob.pair.keyId, sig: envelope.signatures[0]?.sig }, envelope.signatures[1]],
      };
      const error = refused("PREDICATE_TAMPERED", { envelope: broken, policy });
      assert.deepEqual(error.signatures.map((problem) => problem.code).sort(), [
        "PREDICATE_TAMPERED",
        "REVOKED_KEY",
      ]);
      assert.match(error.message, /and 1 more signature problem/);
    });

    it("reports signature problems before module and configuration problems", () => {
      refused("UNKNOWN_KEY", {
        envelope: signedBy(mallory, {}),
        policy: basePolicy,
        wasmBytes: Buffer.from("other"),
        configuration: {},
      });
    });

    it("reports MODULE_TAMPERED before CONFIG_MISMATCH", () => {
      refused("MODULE_TAMPERED", {
        envelope: signedBy(alice),
        wasmBytes: Buffer.from("other"),
        configuration: {},
      });
    });
  });

  describe("key validity window edges (inclusive at both ends)", () => {
    const notBefore = "2026-03-01T13:00:00Z";
    const notAfter = "2026-03-01T13:30:00Z";
    const policy = policyOf([{ approver: alice, notBefore, notAfter }]);
    const edge = (time: string, deltaMs: number) => new Date(Date.parse(time) + deltaMs);

    it("accepts at exactly notBefore", () => {
      assert.ok(verify({ envelope: signedBy(alice), policy, now: edge(notBefore, 0) }));
    });

    it("refuses 1 ms before notBefore", () => {
      refused("KEY_OUTSIDE_WINDOW", { envelope: signedBy(alice), policy, now: edge(notBefore, -1) });
    });

    it("accepts at exactly notAfter", () => {
      assert.ok(verify({ envelope: signedBy(alice), policy, now: edge(notAfter, 0) }));
    });

    it("refuses 1 ms after notAfter", () => {
      refused("KEY_OUTSIDE_WINDOW", { envelope: signedBy(alice), policy, now: edge(notAfter, 1) });
    });
  });

  describe("TTL and expiry edges", () => {
    const policy = policyOf([{ approver: alice }], { maxTtl: "4h", clockSkew: "1m" });

    it("accepts a TTL of exactly maxTtl", () => {
      assert.ok(verify({ envelope: signedBy(alice, { ttl: "4h" }), policy }));
    });

    it("refuses a TTL of maxTtl + 1 s", () => {
      refused("TTL_ABOVE_POLICY", { envelope: signedBy(alice, { ttl: 4 * HOUR + 1000 }), policy });
    });

    it("accepts 1 ms before expires", () => {
      assert.ok(verify({ envelope: signedBy(alice), policy, now: at(2 * HOUR - 1) }));
    });

    it("refuses at exactly expires", () => {
      refused("EXPIRED", { envelope: signedBy(alice), policy, now: at(2 * HOUR) });
    });

    it("accepts a created time up to the clock skew in the future", () => {
      assert.ok(verify({ envelope: signedBy(alice), policy, now: at(-60_000) }));
    });

    it("refuses a created time more than the clock skew in the future", () => {
      refused("NOT_YET_VALID", { envelope: signedBy(alice), policy, now: at(-60_001) });
    });

    it("accepts at exactly created", () => {
      assert.ok(verify({ envelope: signedBy(alice), policy, now: at(0) }));
    });
  });

  it("ignores the unauthenticated keyid when it names nothing and says so", () => {
    const envelope = signedBy(alice);
    const error = refused("UNKNOWN_KEY", {
      envelope: { ...envelope, signatures: [{ sig: envelope.signatures[0]?.sig }] },
    });
    assert.match(error.message, /with no keyid/);
  });

  it("computes the key id from any PEM form of the public key", () => {
    assert.equal(keyIdOf(alice.pair.publicKeyPem), alice.pair.keyId);
  });
});
