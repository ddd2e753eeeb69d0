// SPDX-License-Identifier: Apache-2.0
import { canonicalSha256 } from "./canonical-json.ts";
import { decodeBase64, IN_TOTO_PAYLOAD_TYPE, readEnvelope, verifyPae, type DsseEnvelope } from "./dsse.ts";
import { formatDuration } from "./duration.ts";
import { GraftVerifyError, type SignatureProblem, type VerifyErrorCode } from "./errors.ts";
import { matchAny } from "./glob.ts";
import {
  describeKey,
  requiredApprovals,
  selectorMatches,
  type TrustedKey,
  type TrustPolicy,
} from "./policy.ts";
import { readStatement, sha256Hex, type InjectionPredicate, type InjectionStatement } from "./statement.ts";
import { formatRfc3339 } from "./time.ts";

export interface VerifyInput {
  /** The DSSE envelope: parsed JSON, or its JSON text. Untrusted. */
  envelope: DsseEnvelope | unknown;
  /** The module about to be injected. */
  wasmBytes: Uint8Array;
  /** The filter configuration about to be injected, as a JSON value. */
  configuration: unknown;
  policy: TrustPolicy;
  /** Labels of the Envoy(s) the module goes to, e.g. `{ tier: "payments" }`. Default: none. */
  targetLabels?: Readonly<Record<string, string>>;
  /** Verification time; defaults to the current time. */
  now?: Date;
}

export interface VerifiedSigner {
  keyId: string;
  name: string | null;
}

export interface VerifiedArtifact {
  /** The signed predicate, now trusted. */
  predicate: InjectionPredicate;
  statement: InjectionStatement;
  moduleSha256: string;
  /** Distinct keys whose signatures verified, in envelope order. */
  signers: VerifiedSigner[];
  approvalsRequired: number;
}

/**
 * Order of the per-signature problems when several signatures fail: the most alarming is reported.
 * A forged or broken signature first (the envelope was changed), then a revoked key (a compromise
 * signal), then identity problems.
 */
const SIGNATURE_PRECEDENCE: VerifyErrorCode[] = [
  "PREDICATE_TAMPERED",
  "REVOKED_KEY",
  "UNKNOWN_KEY",
  "KEY_OUTSIDE_WINDOW",
  "KEY_NOT_ALLOWED",
];

/**
 * Decides whether a signed artifact may be injected. Returns the verified predicate or throws a
 * `GraftVerifyError` whose `code` says why not. The checks run in this order and the first failure wins:
 *
 *  1. shape: a DSSE envelope with payloadType application/vnd.in-toto+json      MALFORMED_ENVELOPE
 *     with at least one signature                                                UNSIGNED
 *  2. every signature, independently:
 *     its key id is not revoked                                                  REVOKED_KEY
 *     its key id is a trusted key in the policy                                  UNKNOWN_KEY
 *     it verifies over PAE(payloadType, payload) with that key                   PREDICATE_TAMPERED
 *     `now` lies inside the key's [notBefore, notAfter] (inclusive)              KEY_OUTSIDE_WINDOW
 *  3. the now-authenticated payload is a graft injection statement              MALFORMED_ENVELOPE
 *  4. sha256(wasm) equals the statement's subject digest                         MODULE_TAMPERED
 *  5. canonical sha256 of the configuration equals predicate.configSha256        CONFIG_MISMATCH
 *  6. every signing key may sign this filter for these target labels             KEY_NOT_ALLOWED
 *  7. distinct signing keys ≥ the largest matching approval rule (default 1)     TOO_FEW_APPROVALS
 *  8. expires - created ≤ policy maxTtl                                          TTL_ABOVE_POLICY
 *  9. now ≥ created - clockSkew                                                  NOT_YET_VALID
 * 10. now < expires                                                              EXPIRED
 *
 * Mixed cases fail closed: EVERY signature on the envelope must pass steps 2 and 6. One revoked, unknown,
 * out-of-window, not-allowed or broken signature refuses the artifact even when enough other signatures
 * are valid. A revoked key's signature is a compromise signal and a broken one is evidence of tampering;
 * neither should be outvoted. An unknown or not-allowed signer is something the policy does not vouch for,
 * and an approval nobody can account for is refused rather than ignored. The fix is to re-sign without that
 * key (or to trust it). When several signatures fail, the code follows SIGNATURE_PRECEDENCE and the error's
 * `signatures` lists every problem.
 *
 * Times: the key window is checked at `now` (verification time), not at `created`, because `created` is
 * claimed by the signer and would let a key that has expired backdate new statements. `created` in the
 * future is refused (step 9) so a signer cannot stretch an artifact's life past maxTtl by post-dating it.
 */
export function verifyArtifact(input: VerifyInput): VerifiedArtifact {
  const { policy } = input;
  const now = (input.now ?? new Date()).getTime();
  const targetLabels = input.targetLabels ?? {};

  // 1. shape
  let raw = input.envelope;
  if (typeof raw === "string") {
    try {
      raw = JSON.parse(raw) as unknown;
    } catch {
      throw new GraftVerifyError("MALFORMED_ENVELOPE", "the envelope is not JSON");
    }
  }
  const shape = readEnvelope(raw);
  if ("problem" in shape) {
    throw new GraftVerifyError(shape.bareStatement ? "UNSIGNED" : "MALFORMED_ENVELOPE", shape.problem);
  }
  const { envelope } = shape;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new GraftVerifyError(
      "MALFORMED_ENVELOPE",
      `payloadType is ${JSON.stringify(envelope.payloadType)}, want ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
  if (envelope.signatures.length === 0)
    throw new GraftVerifyError("UNSIGNED", "the envelope carries no signatures");
  const payload = decodeBase64(envelope.payload) as Buffer;

  // 2. every signature
  const problems: SignatureProblem[] = [];
  const signers: TrustedKey[] = [];
  envelope.signatures.forEach((signature, index) => {
    const which = `signature ${index + 1} (key ${signature.keyid || "with no keyid"})`;
    const problem = (code: VerifyErrorCode, message: string) =>
      problems.push({ keyId: signature.keyid, code, message });
    if (policy.revoked.has(signature.keyid))
      return problem("REVOKED_KEY", `${which}: the key is revoked by ${policy.source}`);
    const key = policy.keys.get(signature.keyid);
    if (!key) return problem("UNKNOWN_KEY", `${which}: the key is not trusted by ${policy.source}`);
    if (!verifyPae(envelope.payloadType, payload, signature.sig, key.publicKey)) {
      return problem(
        "PREDICATE_TAMPERED",
        `${which}: the signature does not verify over the payload; the statement or signature was changed after signing`,
      );
    }
    if (key.notBeforeMs !== null && now < key.notBeforeMs) {
      return problem(
        "KEY_OUTSIDE_WINDOW",
        `${which}: ${describeKey(key)} is not valid before ${formatRfc3339(key.notBeforeMs)} (now ${formatRfc3339(now)})`,
      );
    }
    if (key.notAfterMs !== null && now > key.notAfterMs) {
      return problem(
        "KEY_OUTSIDE_WINDOW",
        `${which}: ${describeKey(key)} expired at ${formatRfc3339(key.notAfterMs)} (now ${formatRfc3339(now)})`,
      );
    }
    if (!signers.includes(key)) signers.push(key);
  });
  refuseSignatureProblems(problems);

  // 3. the authenticated statement
  const parsed = readStatement(payload);
  if ("problem" in parsed)
    throw new GraftVerifyError(
      "MALFORMED_ENVELOPE",
      `the signed payload is not a graft injection statement: ${parsed.problem}`,
    );
  const { statement, createdMs, expiresMs } = parsed;
  const { predicate } = statement;
  const subject = statement.subject[0];

  // 4. module
  const moduleSha256 = sha256Hex(input.wasmBytes);
  if (moduleSha256 !== subject.digest.sha256) {
    throw new GraftVerifyError(
      "MODULE_TAMPERED",
      `module sha256 ${moduleSha256} does not match the signed subject ${subject.name} sha256 ${subject.digest.sha256}`,
    );
  }

  // 5. configuration
  let configSha256: string;
  try {
    configSha256 = canonicalSha256(input.configuration);
  } catch (error) {
    throw new GraftVerifyError(
      "CONFIG_MISMATCH",
      `the configuration cannot be hashed: ${(error as Error).message}`,
    );
  }
  if (configSha256 !== predicate.configSha256) {
    throw new GraftVerifyError(
      "CONFIG_MISMATCH",
      `configuration sha256 ${configSha256} does not match the approved configSha256 ${predicate.configSha256}`,
    );
  }

  // 6. authorisation of every signer
  for (const key of signers) {
    if (!matchAny(key.filters, predicate.filter)) {
      problems.push({
        keyId: key.keyId,
        code: "KEY_NOT_ALLOWED",
        message: `${describeKey(key)} may not approve filter "${predicate.filter}" (allowed: ${key.filters.join(", ")})`,
      });
    } else if (!selectorMatches(key.targets, targetLabels)) {
      problems.push({
        keyId: key.keyId,
        code: "KEY_NOT_ALLOWED",
        message: `${describeKey(key)} may not approve targets labelled ${formatLabels(targetLabels)} (allowed: ${formatSelector(key.targets)})`,
      });
    }
  }
  refuseSignatureProblems(problems);

  // 7. approvals
  const { approvals, rule } = requiredApprovals(policy, predicate.filter, targetLabels);
  if (signers.length < approvals) {
    const why = rule ? `${policy.source} approvalRules[${rule.index}]` : "the default";
    throw new GraftVerifyError(
      "TOO_FEW_APPROVALS",
      `${signers.length} distinct trusted signature(s), ${why} needs ${approvals} for filter "${predicate.filter}" on ${formatLabels(targetLabels)}`,
    );
  }

  // 8–10. time
  const ttl = expiresMs - createdMs;
  if (ttl > policy.maxTtlMs) {
    throw new GraftVerifyError(
      "TTL_ABOVE_POLICY",
      `the statement asks for a ttl of ${formatDuration(ttl)}, above maxTtl ${formatDuration(policy.maxTtlMs)} in ${policy.source}`,
    );
  }
  if (now < createdMs - policy.clockSkewMs) {
    throw new GraftVerifyError(
      "NOT_YET_VALID",
      `the statement was created at ${predicate.created}, in the future (now ${formatRfc3339(now)}, clock skew allowed ${formatDuration(policy.clockSkewMs)})`,
    );
  }
  if (now >= expiresMs) {
    throw new GraftVerifyError(
      "EXPIRED",
      `the statement expired at ${predicate.expires} (now ${formatRfc3339(now)})`,
    );
  }

  return {
    predicate,
    statement,
    moduleSha256,
    signers: signers.map((key) => ({ keyId: key.keyId, name: key.name })),
    approvalsRequired: approvals,
  };
}

function refuseSignatureProblems(problems: SignatureProblem[]): void {
  if (problems.length === 0) return;
  const worst = [...problems].sort(
    (a, b) => SIGNATURE_PRECEDENCE.indexOf(a.code) - SIGNATURE_PRECEDENCE.indexOf(b.code),
  )[0] as SignatureProblem;
  const others = problems.length - 1;
  const suffix =
    others > 0
      ? ` (and ${others} more signature problem${others > 1 ? "s" : ""}; every signature must be valid)`
      : "";
  throw new GraftVerifyError(worst.code, `${worst.message}${suffix}`, problems);
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? "(no labels)" : entries.map(([key, value]) => `${key}=${value}`).join(",");
}

function formatSelector(selector: Record<string, string[]> | null): string {
  if (selector === null) return "any target";
  return Object.entries(selector)
    .map(([key, values]) => `${key}=${values.join("|")}`)
    .join(",");
}
