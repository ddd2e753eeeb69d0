import { Command } from "commander";
import { register as registerBuild } from "./commands/build.ts";
import { register as registerVersion } from "./commands/version.ts";

/** The whole `graft` command tree; each command lives in ./commands and stays thin over src/. */
export function createProgram(): Command {
  const program = new Command("graft")
    .description("Inject logic into running Envoy proxies safely")
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  registerBuild(program);
  registerVersion(program);
  return program;
}
