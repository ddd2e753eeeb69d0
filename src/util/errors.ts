// SPDX-License-Identifier: Apache-2.0
/**
 * graft's one error model: every refusal or failure a person may see is a GraftError with a stable
 * string `code` (callers and tests branch on the code, never on the text) and a message that names
 * the file, the field or the value, and the fix. The CLI maps codes to exit codes in one place
 * (src/cli/exit-codes.ts).
 */
export class GraftError<C extends string = string> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The code of any error: a GraftError's own, else undefined. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : undefined;
}
