// SPDX-License-Identifier: Apache-2.0
/**
 * Coded errors for signing, trust policies, verification and the audit log.
 *
 * Every error carries a string-literal `code` (callers and tests branch on the code, never on the text)
 * and a short lowercase message that states the fact with the offending value (sigstore-js style).
 */

import { GraftError } from "../util/errors.ts";

export { GraftError };

/**
 * Why `verifyArtifact` refused an artifact. One code per refusal; see `verify.ts` for the order in which
 * the checks run and how an envelope with several problems resolves.
 */
export type VerifyErrorCode =
  /** The input is not a DSSE envelope carrying a graft injection statement. */
  | "MALFORMED_ENVELOPE"
  /** No signatures at all (or a bare statement instead of an envelope). */
  | "UNSIGNED"
  /** sha256 of the wasm module differs from the signed subject. */
  | "MODULE_TAMPERED"
  /** A signature does not verify over the payload (payload, payloadType or signature changed). */
  | "PREDICATE_TAMPERED"
  /** A signature's key id is not in the trust policy. */
  | "UNKNOWN_KEY"
  /** A signature's key id is on the policy's revoked list. */
  | "REVOKED_KEY"
  /** A signing key is used before its notBefore or after its notAfter. */
  | "KEY_OUTSIDE_WINDOW"
  /** A signing key may not sign this filter or for these target labels. */
  | "KEY_NOT_ALLOWED"
  /** Fewer distinct trusted signers than the approval rules demand. */
  | "TOO_FEW_APPROVALS"
  /** The statement's `expires` has passed. */
  | "EXPIRED"
  /** The statement's `created` lies in the future (beyond the policy's clock skew). */
  | "NOT_YET_VALID"
  /** `expires - created` is longer than the policy's maxTtl. */
  | "TTL_ABOVE_POLICY"
  /** The configuration's canonical sha256 differs from the signed configSha256. */
  | "CONFIG_MISMATCH"
  /** The statement names slots or target labels, and this slot or target is not among them. */
  | "OUT_OF_SCOPE"
  /** The release is older than the active one and the statement carries no downgradeFrom approval for it. */
  | "DOWNGRADE_REFUSED";

export interface SignatureProblem {
  keyId: string;
  code: VerifyErrorCode;
  message: string;
}

/** A refusal from `verifyArtifact`. `signatures` lists every failing signature when several fail. */
export class GraftVerifyError extends GraftError<VerifyErrorCode> {
  constructor(
    code: VerifyErrorCode,
    message: string,
    readonly signatures: SignatureProblem[] = [],
  ) {
    super(code, message);
  }
}

export type SignErrorCode =
  /** The key is not a readable Ed25519 key of the expected kind (private for signing). */
  | "INVALID_KEY"
  /** The envelope to add a signature to is not a well-formed graft envelope. */
  | "INVALID_ENVELOPE"
  /** This key already signed the envelope. */
  | "ALREADY_SIGNED"
  /** Statement inputs are missing or malformed (TTL, names, configuration). */
  | "INVALID_STATEMENT"
  /** An existing envelope does not describe the module/configuration/filter being approved. */
  | "STATEMENT_MISMATCH"
  /** A file the command needs cannot be read or written. */
  | "FILE_ERROR";

export class GraftSignError extends GraftError<SignErrorCode> {}

export type PolicyErrorCode =
  | "POLICY_UNREADABLE"
  | "POLICY_INVALID"
  /** A signed policy lacks the threshold of valid trust-root signatures. */
  | "POLICY_UNTRUSTED"
  /** A signed policy's serial is older than one already accepted (a rollback of the policy). */
  | "POLICY_ROLLBACK";

/** A trust policy file that cannot be used. The message names the file, the field and the fix. */
export class GraftPolicyError extends GraftError<PolicyErrorCode> {
  constructor(
    code: PolicyErrorCode,
    readonly file: string,
    readonly field: string,
    readonly problem: string,
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${file}: ${field}: ${problem}; fix: ${fix}`, options);
  }
}

export type AuditErrorCode =
  /** The lock file could not be taken within the timeout. */
  | "AUDIT_LOCKED"
  /** The log's tail is unusable (torn last line or a last record whose hash does not match). */
  | "AUDIT_CORRUPT"
  /** A record to append is malformed. */
  | "AUDIT_INVALID_RECORD"
  /** `verifyAuditLog` found an edit, deletion, insertion or reordering. */
  | "AUDIT_BROKEN"
  /** A record or checkpoint signature is missing, unknown or does not verify. */
  | "AUDIT_FORGED";

export class GraftAuditError extends GraftError<AuditErrorCode> {}
