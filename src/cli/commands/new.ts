import path from "node:path";
import type { Command } from "commander";
import { scaffoldFilter } from "../../filters/scaffold.ts";
import { filtersDir } from "../../util/paths.ts";

/**
 * `graft new <name> [--dir D]` writes a filter folder that builds and passes its tests as written:
 * into filters/ of this repository by default, or into D (an author's own repository).
 */
export function register(program: Command): void {
  program
    .command("new")
    .description("create a new filter folder from graft's template (builds and passes its tests as written)")
    .argument("<name>", "the filter's name: a-z, 0-9 and '-' (e.g. block-admin)")
    .option("--dir <parent>", "the folder to create it in (default: this repository's filters/)")
    .action(async (name: string, options: { dir?: string }) => {
      const dir = await scaffoldFilter(name, options.dir ?? filtersDir);
      const shown = path.relative(process.cwd(), dir) || ".";
      console.log(`created ${shown}/ (filter.json, schema.json, assembly/, scenarios/, configs/, README.md)`);
      console.log(`next: graft build ${shown} && graft test ${shown} --envoy`);
    });
}
