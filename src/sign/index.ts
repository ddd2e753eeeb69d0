// SPDX-License-Identifier: Apache-2.0
/** Signed injection artifacts: keys, in-toto statements in DSSE envelopes, trust policies, verification. */
export { canonicalJson, canonicalSha256 } from "./canonical-json.ts";
export { decodeBase64, IN_TOTO_PAYLOAD_TYPE, pae, type DsseEnvelope, type DsseSignature } from "./dsse.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export {
  GraftAuditError,
  GraftError,
  GraftPolicyError,
  GraftSignError,
  GraftVerifyError,
  type AuditErrorCode,
  type PolicyErrorCode,
  type SignatureProblem,
  type SignErrorCode,
  type VerifyErrorCode,
} from "./errors.ts";
export { matchGlob } from "./glob.ts";
export {
  generateKeyPair,
  keyIdOf,
  loadSigningKey,
  loadVerifyingKey,
  saveKeyPair,
  signingKeyFromPem,
  verifyingKeyFromPem,
  type KeyPairPem,
  type SavedKeyPair,
  type SigningKey,
  type VerifyingKey,
} from "./keys.ts";
export {
  loadTrustPolicy,
  parseTrustPolicy,
  requiredApprovals,
  type ApprovalRule,
  type LabelSelector,
  type TrustedKey,
  type TrustPolicy,
} from "./policy.ts";
export { addSignature, coSign, peekStatement, signEnvelope, type CoSignExpectation } from "./sign.ts";
export {
  GraftFileError,
  loadConfigurationFile,
  readInputFile,
  readJsonFile,
  writeFileAtomic,
} from "./files.ts";
export {
  createStatement,
  INJECTION_PREDICATE_TYPE,
  serializeStatement,
  sha256Hex,
  STATEMENT_TYPE,
  type InjectionPredicate,
  type InjectionStatement,
  type StatementInput,
} from "./statement.ts";
export { parseRfc3339 } from "./time.ts";
export { verifyArtifact, type VerifiedArtifact, type VerifiedSigner, type VerifyInput } from "./verify.ts";
