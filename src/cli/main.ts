import { CommanderError } from "commander";
import { EXIT, exitCodeFor } from "./exit-codes.ts";
import { createProgram } from "./program.ts";
import { codeOf, errorJson } from "./output.ts";

// --json anywhere on the command line: failures are also one JSON object on stdout (README.md).
const json = process.argv.slice(2).includes("--json");

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Already reported by commander: a usage error (exit 64), help or version (0), or a graft
    // refusal reported through output.ts's fail() with its own exit code (and its JSON).
    process.exitCode = error.code.startsWith("graft.")
      ? error.exitCode
      : error.code === "commander.helpDisplayed" ||
          error.code === "commander.version" ||
          error.code === "commander.help"
        ? EXIT.OK
        : EXIT.USAGE;
    if (json && process.exitCode === EXIT.USAGE)
      console.log(errorJson("USAGE", error.message.replace(/^error: /, ""), EXIT.USAGE));
  } else {
    const code = codeOf(error);
    const message = (error as Error).message;
    process.exitCode = exitCodeFor(error);
    console.error(`error: ${code}: ${message}`);
    if (json) console.log(errorJson(code, message, process.exitCode));
  }
}
