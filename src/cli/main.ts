import { CommanderError } from "commander";
import { EXIT, exitCodeFor } from "./exit-codes.ts";
import { createProgram } from "./program.ts";
import { errorCode } from "../util/errors.ts";

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Already reported by commander: a usage error (exit 64), help or version (0), or a graft
    // refusal reported through output.ts's fail() with its own exit code.
    process.exitCode = error.code.startsWith("graft.")
      ? error.exitCode
      : error.code === "commander.helpDisplayed" ||
          error.code === "commander.version" ||
          error.code === "commander.help"
        ? EXIT.OK
        : EXIT.USAGE;
  } else {
    const code = errorCode(error);
    console.error(`error: ${code ? `${code}: ` : ""}${(error as Error).message}`);
    process.exitCode = exitCodeFor(error);
  }
}
