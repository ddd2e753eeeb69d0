// The one map from what went wrong to how `graft` exits, for every command. A refusal (a check said
// no: signature, policy, scope, audit chain) is 2 wherever it happens, so scripts can tell "graft
// refused this" from "graft could not run". README.md lists these codes; tests/cli/exit-codes.test.ts
// holds the two in step.
import { errorCode } from "../util/errors.ts";

export const EXIT = {
  /** Done; for rollout: PROMOTE. */
  OK: 0,
  /** Could not do it: bad input file, unreachable Envoy or agent, build failure, … */
  FAILED: 1,
  /** Refused by a safety check: nothing was changed. */
  REFUSED: 2,
  /** rollout: the canary was worse and was rolled back. */
  ROLLBACK: 3,
  /** rollout: no verdict by maxDuration (onTimeout says whether the canary was rolled back or held). */
  INCONCLUSIVE: 4,
  /** rollout: something failed while the canary was in; it was rolled back. */
  ROLLED_BACK_AFTER_ERROR: 5,
  /** The command line is wrong (unknown option, missing argument). */
  USAGE: 64,
} as const;

/** Codes that mean "a check refused": the artifact, policy, caller or log is not trusted. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set([
  // verification of a signed artifact
  "MALFORMED_ENVELOPE",
  "UNSIGNED",
  "MODULE_TAMPERED",
  "PREDICATE_TAMPERED",
  "UNKNOWN_KEY",
  "REVOKED_KEY",
  "KEY_OUTSIDE_WINDOW",
  "KEY_NOT_ALLOWED",
  "TOO_FEW_APPROVALS",
  "EXPIRED",
  "NOT_YET_VALID",
  "TTL_ABOVE_POLICY",
  "CONFIG_MISMATCH",
  "OUT_OF_SCOPE",
  "DOWNGRADE_REFUSED",
  // trust policies
  "POLICY_UNTRUSTED",
  "POLICY_ROLLBACK",
  // the audit log
  "AUDIT_BROKEN",
  "AUDIT_FORGED",
]);

/** The exit code for an error thrown by any command. */
export function exitCodeFor(error: unknown): number {
  const code = errorCode(error);
  if (code !== undefined && REFUSAL_CODES.has(code)) return EXIT.REFUSED;
  return EXIT.FAILED;
}
