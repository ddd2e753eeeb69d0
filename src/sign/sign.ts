// SPDX-License-Identifier: Apache-2.0
import { canonicalSha256 } from "./canonical-json.ts";
import { decodeBase64, IN_TOTO_PAYLOAD_TYPE, readEnvelope, signPae, type DsseEnvelope } from "./dsse.ts";
import { GraftSignError } from "./errors.ts";
import type { SigningKey } from "./keys.ts";
import {
  readStatement,
  serializeStatement,
  sha256Hex,
  type InjectionStatement,
  type ParsedStatement,
} from "./statement.ts";

/** Wraps the statement in a DSSE envelope carrying one signature by `key`. */
export function signEnvelope(statement: InjectionStatement, key: SigningKey): DsseEnvelope {
  const payload = serializeStatement(statement);
  const checked = readStatement(payload);
  if ("problem" in checked) throw new GraftSignError("INVALID_STATEMENT", `cannot sign: ${checked.problem}`);
  return {
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    payload: payload.toString("base64"),
    signatures: [{ keyid: key.keyId, sig: signPae(IN_TOTO_PAYLOAD_TYPE, payload, key.privateKey) }],
  };
}

/**
 * A second (third, …) approver signs the same payload. Returns a new envelope; the input is not changed.
 * Refuses with ALREADY_SIGNED when this key id is already on the envelope: one key is one approval, and
 * a duplicate would only make the envelope look more approved than it is. Existing signatures are kept as
 * they are; whether they verify is the verifier's question, not the approver's.
 */
export function addSignature(envelope: DsseEnvelope | unknown, key: SigningKey): DsseEnvelope {
  const { envelope: checked, statement } = readSignableEnvelope(envelope);
  if (checked.signatures.some((signature) => signature.keyid === key.keyId)) {
    throw new GraftSignError(
      "ALREADY_SIGNED",
      `key ${key.keyId} already signed this envelope (injection ${statement.statement.predicate.injectionId})`,
    );
  }
  const payload = decodeBase64(checked.payload) as Buffer;
  return {
    payloadType: checked.payloadType,
    payload: checked.payload,
    signatures: [
      ...checked.signatures,
      { keyid: key.keyId, sig: signPae(checked.payloadType, payload, key.privateKey) },
    ],
  };
}

/** Reads an envelope someone is about to co-sign: it must be a well-formed graft injection envelope. */
export function readSignableEnvelope(value: unknown): { envelope: DsseEnvelope; statement: ParsedStatement } {
  const shape = readEnvelope(value);
  if ("problem" in shape) throw new GraftSignError("INVALID_ENVELOPE", `cannot co-sign: ${shape.problem}`);
  if (shape.envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new GraftSignError(
      "INVALID_ENVELOPE",
      `cannot co-sign: payloadType is ${shape.envelope.payloadType}, want ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
  const statement = readStatement(decodeBase64(shape.envelope.payload) as Buffer);
  if ("problem" in statement)
    throw new GraftSignError("INVALID_ENVELOPE", `cannot co-sign: ${statement.problem}`);
  return { envelope: shape.envelope, statement };
}

/** Decodes the statement inside an envelope without verifying anything (for display and co-signing checks). */
export function peekStatement(envelope: DsseEnvelope | unknown): InjectionStatement {
  return readSignableEnvelope(envelope).statement.statement;
}

/** What a co-signer reviewed; every given field must match the statement already in the envelope. */
export interface CoSignExpectation {
  wasmBytes: Uint8Array;
  /** Required: a co-signer approves a configuration, so they must hold the one they approve. */
  configuration: unknown;
  filter?: string;
  version?: string;
  injectionId?: string;
}

/**
 * Adds `key`'s signature after checking that the envelope describes what the approver reviewed: the
 * module always (by sha256), and the configuration, filter, version and injection id when given.
 * Refuses with STATEMENT_MISMATCH otherwise, so nobody co-signs a different module than the one they hold.
 */
export function coSign(envelope: unknown, key: SigningKey, expect: CoSignExpectation): DsseEnvelope {
  const { statement } = readSignableEnvelope(envelope).statement;
  const mismatch = (what: string, got: string, want: string) =>
    new GraftSignError(
      "STATEMENT_MISMATCH",
      `the envelope's ${what} is ${got}, but you are approving ${want}`,
    );
  const moduleSha256 = sha256Hex(expect.wasmBytes);
  const subject = statement.subject[0];
  if (subject.digest.sha256 !== moduleSha256)
    throw mismatch("module sha256", subject.digest.sha256, moduleSha256);
  if (expect.configuration === undefined) {
    throw new GraftSignError(
      "STATEMENT_MISMATCH",
      "a co-signer must see the configuration they approve: pass it (--config) and graft checks it against the signed configSha256",
    );
  }
  const configSha256 = canonicalSha256(expect.configuration);
  if (configSha256 !== statement.predicate.configSha256)
    throw mismatch("configSha256", statement.predicate.configSha256, configSha256);
  for (const field of ["filter", "version", "injectionId"] as const) {
    const want = expect[field];
    if (want !== undefined && want !== statement.predicate[field])
      throw mismatch(field, statement.predicate[field], want);
  }
  return addSignature(envelope, key);
}
