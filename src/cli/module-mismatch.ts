import { GraftVerifyError } from "../sign/errors.ts";
import { errorCode } from "../util/errors.ts";

const SIGNED_SUBJECT =
  /module sha256 ([0-9a-f]{64}) does not match the signed subject (\S+) sha256 ([0-9a-f]{64})/;

function sentence(modulePath: string, actual: string, subject: string, signed: string): string {
  return (
    `${modulePath} does not match the signed module: it has sha256 ${actual}, the envelope signs ${subject} with sha256 ${signed}; ` +
    "pass the module this envelope was signed for (check the path and the build); if it is that module, it was changed after signing"
  );
}

/** The same rewording inside a longer text (a rollout's reason, a target's failure). */
export function explainModuleMismatchText(text: string, modulePath: string): string {
  return text.replace(SIGNED_SUBJECT, (_all, actual: string, subject: string, signed: string) =>
    sentence(modulePath, actual, subject, signed),
  );
}

/**
 * MODULE_TAMPERED is most often a wrong path, not an attack: say first that the file given is not
 * the signed module, name both digests, and keep tampering as the other possible cause. The code
 * (and so exit 2) stays.
 */
export function explainModuleMismatch(error: unknown, modulePath: string): unknown {
  if (errorCode(error) !== "MODULE_TAMPERED") return error;
  const match = SIGNED_SUBJECT.exec((error as Error).message);
  if (!match) return error;
  const [, actual, subject, signed] = match;
  return new GraftVerifyError("MODULE_TAMPERED", sentence(modulePath, actual!, subject!, signed!));
}
