import { Command } from "commander";
import { GraftError, errorCode } from "../util/errors.ts";
import { exitCodeFor } from "./exit-codes.ts";

function root(command: Command): Command {
  return command.parent ? root(command.parent) : command;
}

/** "inject", "audit verify": the command as typed after `graft`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(" ");
}

/** Writes a line through the root program's output settings (tests capture them). */
export function say(command: Command, text: string): void {
  const write = root(command).configureOutput().writeOut ?? ((line: string) => process.stdout.write(line));
  write(`${text}\n`);
}

/**
 * `--json`: stdout carries exactly one JSON object per result (the shapes README.md documents), or
 * `{"error":{"code","message","exitCode"}}`; warnings and progress go to stderr, so `| jq` works.
 */
export function jsonOption(command: Command): Command {
  return command.option(
    "--json",
    'print one JSON object on stdout (a failure: {"error":{"code","message","exitCode"}}); notes go to stderr',
  );
}

export function wantsJson(command: Command): boolean {
  return Boolean((command.opts() as { json?: boolean }).json);
}

/** Prints a command's result: JSON with --json, else the human lines `human` makes. */
export function emit(command: Command, value: Record<string, unknown>, human: () => string | string[]): void {
  if (wantsJson(command)) {
    say(command, JSON.stringify({ command: commandPath(command), ...value }));
    return;
  }
  const text = human();
  say(command, Array.isArray(text) ? text.join("\n") : text);
}

/** A note for people (stderr), so it never mixes into --json output. */
export function note(text: string): void {
  console.error(text);
}

/** The one error object --json prints for any failure. */
export function errorJson(code: string, message: string, exitCode: number): string {
  return JSON.stringify({ error: { code, message, exitCode } });
}

/**
 * Ends the command for a graft error with `error: CODE: message` and the exit code the one map
 * gives it (exit-codes.ts); anything else propagates. A refusal is not a usage mistake: it is
 * reported without the help hint, through a stand-in that shares the root's output and exitOverride
 * settings. With --json the error object goes to stdout as well.
 */
export function fail(command: Command, error: unknown): never {
  if (!(error instanceof GraftError)) throw error;
  const exitCode = exitCodeFor(error);
  if (wantsJson(command)) say(command, errorJson(error.code, error.message, exitCode));
  const reporter = new Command().copyInheritedSettings(root(command)).showHelpAfterError(false);
  return reporter.error(`error: ${error.code}: ${error.message}`, {
    exitCode,
    code: `graft.${error.code}`,
  });
}

/** The code main.ts prints for an error that carries none of its own. */
export function codeOf(error: unknown): string {
  return errorCode(error) ?? "FAILED";
}
