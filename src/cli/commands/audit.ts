// SPDX-License-Identifier: Apache-2.0
import { Command, InvalidArgumentError } from "commander";
import { fail, say } from "../output.ts";
import { GraftAuditError, GraftError } from "../../sign/errors.ts";
import { verifyAuditLog } from "../../audit/log.ts";

/** Exit code of `graft audit verify` when the chain is broken (usage and file errors exit 1). */
export const EXIT_BROKEN = 2;

/** `graft audit verify <log> [--anchor <seq>:<hash>]`: checks the audit log's hash chain. */
export function register(program: Command): void {
  const audit = program.command("audit").description("work with the injection audit log");
  audit
    .command("verify")
    .description("check that no audit record was edited, deleted, inserted or reordered")
    .argument("<log>", "the audit log (JSON Lines)")
    .option(
      "--anchor <seq:hash>",
      "a head reported earlier (e.g. 42:sha256:…); detects records cut from the end",
      parseAnchor,
    )
    .action(
      async (logPath: string, options: { anchor?: { seq: number; hash: string } }, command: Command) => {
        try {
          let result;
          try {
            result = await verifyAuditLog(logPath, { anchor: options.anchor });
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            throw new GraftError("FILE_ERROR", `cannot read audit log ${logPath}: ${code ?? error}`, {
              cause: error,
            });
          }
          if (!result.ok) {
            const seq = result.seq === null ? "seq unknown" : `seq ${result.seq}`;
            throw new GraftAuditError(
              "AUDIT_BROKEN",
              `${logPath} line ${result.line} (${seq}): ${result.problem}`,
            );
          }
          say(command, `ok: ${result.records} record(s), head seq ${result.headSeq} ${result.headHash}`);
        } catch (error) {
          fail(command, error, (e: GraftError) =>
            e instanceof GraftAuditError && e.code === "AUDIT_BROKEN" ? EXIT_BROKEN : 1,
          );
        }
      },
    );
}

function parseAnchor(value: string): { seq: number; hash: string } {
  const at = value.indexOf(":");
  const seq = Number(value.slice(0, at));
  const hash = value.slice(at + 1);
  if (at <= 0 || !Number.isSafeInteger(seq) || seq < 1 || !/^sha256:[0-9a-f]{64}$/.test(hash)) {
    throw new InvalidArgumentError(
      "expected <seq>:sha256:<64 hex>, as printed by a previous `graft audit verify`",
    );
  }
  return { seq, hash };
}
