import { Command } from "commander";
import { GraftError } from "../util/errors.ts";
import { exitCodeFor } from "./exit-codes.ts";

function root(command: Command): Command {
  return command.parent ? root(command.parent) : command;
}

/** Writes a line through the root program's output settings (tests capture them). */
export function say(command: Command, text: string): void {
  const write = root(command).configureOutput().writeOut ?? ((line: string) => process.stdout.write(line));
  write(`${text}\n`);
}

/**
 * Ends the command for a graft error with `error: CODE: message` and the exit code the one map
 * gives it (exit-codes.ts); anything else propagates. A refusal is not a usage mistake: it is
 * reported without the help hint, through a stand-in that shares the root's output and exitOverride
 * settings.
 */
export function fail(command: Command, error: unknown): never {
  if (!(error instanceof GraftError)) throw error;
  const reporter = new Command().copyInheritedSettings(root(command)).showHelpAfterError(false);
  return reporter.error(`error: ${error.code}: ${error.message}`, {
    exitCode: exitCodeFor(error),
    code: `graft.${error.code}`,
  });
}
