import type { Command } from "commander";
import { buildAll, formatBuildReport } from "../../compile/compile.ts";

export function register(program: Command): void {
  program
    .command("build")
    .description(
      "compile filters to build/<name>.wasm (release) and build/debug/<name>.wasm, checking their imports",
    )
    .argument(
      "[filters...]",
      "filter names of filters/ or filter folders (default: every filter in filters/)",
    )
    .action(async (filters: string[]) => {
      const modules = await buildAll(filters);
      console.log(formatBuildReport(modules));
    });
}
