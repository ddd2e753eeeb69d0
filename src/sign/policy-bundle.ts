// SPDX-License-Identifier: Apache-2.0
import { decodeBase64, readEnvelope, signPae, verifyPae, type DsseEnvelope } from "./dsse.ts";
import { GraftPolicyError, GraftSignError } from "./errors.ts";
import type { SigningKey, VerifyingKey } from "./keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "./policy.ts";

/**
 * A signed trust policy: the policy YAML as the payload of a DSSE envelope, signed by trust-root keys.
 *
 * An agent pins the root keys and a threshold in its own configuration; a policy counts only with at
 * least `threshold` distinct valid root signatures, so no single operator (nor whoever can write the
 * policy file) can swap the policy. The YAML must carry `serial: <n>`, and an agent refuses a serial
 * below the highest it accepted: restoring an old file cannot un-revoke a key. Keys inside a signed
 * policy must be inline (`publicKey: |`), because a `publicKeyPath` points outside the signature.
 */
export const POLICY_PAYLOAD_TYPE = "application/vnd.graft.trust-policy+yaml";

export interface TrustRoot {
  keys: VerifyingKey[];
  /** Distinct root signatures a policy needs. */
  threshold: number;
}

export interface VerifiedPolicy {
  policy: TrustPolicy;
  /** The YAML text that was signed. */
  text: string;
  /** Root key ids whose signatures verified. */
  signers: string[];
}

/** Signs policy YAML (checked first: nobody signs a policy that does not parse). */
export function signPolicy(text: string, keys: SigningKey[], source = "policy"): DsseEnvelope {
  parseTrustPolicy(text, { source, inlineKeysOnly: true });
  const payload = Buffer.from(text, "utf8");
  return {
    payloadType: POLICY_PAYLOAD_TYPE,
    payload: payload.toString("base64"),
    signatures: keys.map((key) => ({
      keyid: key.keyId,
      sig: signPae(POLICY_PAYLOAD_TYPE, payload, key.privateKey),
    })),
  };
}

/** Adds one root signature to a signed policy (the second, third … root holder). */
export function addPolicySignature(envelope: unknown, key: SigningKey): DsseEnvelope {
  const shape = readEnvelope(envelope);
  if ("problem" in shape || shape.envelope.payloadType !== POLICY_PAYLOAD_TYPE)
    throw new GraftSignError("INVALID_ENVELOPE", "not a signed graft trust policy");
  if (shape.envelope.signatures.some((signature) => signature.keyid === key.keyId))
    throw new GraftSignError("ALREADY_SIGNED", `root key ${key.keyId} already signed this policy`);
  const payload = decodeBase64(shape.envelope.payload) as Buffer;
  return {
    ...shape.envelope,
    signatures: [
      ...shape.envelope.signatures,
      { keyid: key.keyId, sig: signPae(POLICY_PAYLOAD_TYPE, payload, key.privateKey) },
    ],
  };
}

/**
 * Verifies a signed policy against the trust root, then parses it. `minSerial` is the highest serial
 * accepted so far (the policy must be at least that; equal means the same policy again).
 */
export function verifySignedPolicy(
  envelope: unknown,
  root: TrustRoot,
  options: { source: string; minSerial?: number },
): VerifiedPolicy {
  const { source } = options;
  const refuse = (code: "POLICY_INVALID" | "POLICY_UNTRUSTED", problem: string, fix: string): never => {
    throw new GraftPolicyError(code, source, "(signature)", problem, fix);
  };
  const shape = readEnvelope(envelope);
  if ("problem" in shape)
    return refuse("POLICY_INVALID", shape.problem, "sign the policy with `graft policy sign`");
  if (shape.envelope.payloadType !== POLICY_PAYLOAD_TYPE)
    return refuse(
      "POLICY_INVALID",
      `payloadType is ${JSON.stringify(shape.envelope.payloadType)}, want ${POLICY_PAYLOAD_TYPE}`,
      "sign the policy with `graft policy sign`",
    );
  const payload = decodeBase64(shape.envelope.payload) as Buffer;
  const signers = new Set<string>();
  for (const signature of shape.envelope.signatures) {
    const key = root.keys.find((candidate) => candidate.keyId === signature.keyid);
    // Signatures by other keys are ignored, not fatal: only root signatures count toward the threshold.
    if (key && verifyPae(POLICY_PAYLOAD_TYPE, payload, signature.sig, key.publicKey)) signers.add(key.keyId);
  }
  if (signers.size < root.threshold) {
    refuse(
      "POLICY_UNTRUSTED",
      `${signers.size} valid trust-root signature(s), the trust root needs ${root.threshold}`,
      `have ${root.threshold} root key holders sign it (\`graft policy sign --key <root.key.pem>\`)`,
    );
  }
  const text = payload.toString("utf8");
  const policy = parseTrustPolicy(text, { source, inlineKeysOnly: true });
  if (options.minSerial !== undefined && policy.serial < options.minSerial) {
    throw new GraftPolicyError(
      "POLICY_ROLLBACK",
      source,
      "serial",
      `serial ${policy.serial} is older than serial ${options.minSerial}, already accepted`,
      `sign a new policy with serial ${options.minSerial + 1} or more; an old policy cannot come back`,
    );
  }
  return { policy, text, signers: [...signers] };
}
