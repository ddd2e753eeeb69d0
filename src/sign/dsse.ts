// SPDX-License-Identifier: Apache-2.0
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from "node:crypto";

/**
 * DSSE (Dead Simple Signing Envelope) v1, https://github.com/secure-systems-lab/dsse/blob/master/envelope.md
 *
 * Signatures are computed over PAE(payloadType, payload), never over the JSON envelope or the base64 text,
 * so a verifier authenticates the payload type together with the exact payload bytes:
 *
 *   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 *
 * where SP is one space (0x20), LEN is the byte length written as ASCII decimal without leading zeros,
 * `type` is the UTF-8 payload type and `body` the raw payload bytes (not base64).
 * `keyid` is an unauthenticated hint: it only chooses which trusted key to try.
 */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

export interface DsseSignature {
  keyid: string;
  /** Base64 of the raw Ed25519 signature (64 bytes) over PAE. */
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** Base64 (standard alphabet when graft writes it) of the serialized statement. */
  payload: string;
  signatures: DsseSignature[];
}

/** The DSSE v1 pre-authentication encoding. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, "utf8"),
    type,
    Buffer.from(` ${payload.length} `, "utf8"),
    payload,
  ]);
}

export function signPae(payloadType: string, payload: Uint8Array, privateKey: KeyObject): string {
  return cryptoSign(null, pae(payloadType, payload), privateKey).toString("base64");
}

/** False for a signature that is not valid base64 or does not verify; never throws on attacker input. */
export function verifyPae(
  payloadType: string,
  payload: Uint8Array,
  sig: string,
  publicKey: KeyObject,
): boolean {
  const signature = decodeBase64(sig);
  if (signature === null) return false;
  try {
    return cryptoVerify(null, pae(payloadType, payload), publicKey, signature);
  } catch {
    return false;
  }
}

/**
 * Strict base64: DSSE writers use the standard alphabet, readers should accept the URL-safe one too.
 * `Buffer.from(text, "base64")` alone skips characters it does not know, which would let junk through.
 */
export function decodeBase64(text: string): Buffer | null {
  const body = text.replace(/={1,2}$/, "");
  if (!/^[A-Za-z0-9+/_-]*$/.test(body) || body.length % 4 === 1) return null;
  if (body.length !== text.length && text.length % 4 !== 0) return null;
  return Buffer.from(body, "base64");
}

/** Checks the envelope's JSON shape. Returns the envelope, or a sentence saying what is wrong. */
export function readEnvelope(
  value: unknown,
): { envelope: DsseEnvelope } | { problem: string; bareStatement?: boolean } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { problem: "the envelope is not a JSON object" };
  }
  const raw = value as Record<string, unknown>;
  if (raw["_type"] !== undefined && raw["payload"] === undefined) {
    return { problem: "this is a bare in-toto statement, not a DSSE envelope", bareStatement: true };
  }
  if (typeof raw["payloadType"] !== "string") return { problem: "payloadType is missing or not a string" };
  if (typeof raw["payload"] !== "string") return { problem: "payload is missing or not a string" };
  if (decodeBase64(raw["payload"]) === null) return { problem: "payload is not base64" };
  const signatures = raw["signatures"] ?? [];
  if (!Array.isArray(signatures)) return { problem: "signatures is not an array" };
  const checked: DsseSignature[] = [];
  for (const [index, entry] of signatures.entries()) {
    if (typeof entry !== "object" || entry === null)
      return { problem: `signatures[${index}] is not an object` };
    const { keyid, sig } = entry as Record<string, unknown>;
    if (keyid !== undefined && typeof keyid !== "string")
      return { problem: `signatures[${index}].keyid is not a string` };
    if (typeof sig !== "string") return { problem: `signatures[${index}].sig is missing or not a string` };
    checked.push({ keyid: keyid ?? "", sig });
  }
  return { envelope: { payloadType: raw["payloadType"], payload: raw["payload"], signatures: checked } };
}
