import type { Command } from "commander";
import path from "node:path";
import yaml from "js-yaml";
import { ensureSlotFile } from "../../inject/ecds-file.ts";
import { isValidSlotName, slotHttpFilter } from "../../inject/slot.ts";

/** `graft slots`: what an operator adds to an Envoy so graft can inject into it. */
export function register(program: Command): void {
  program
    .command("slots")
    .description(
      "print the http_filters entries that give an Envoy listener injectable slots, and create their empty slot files",
    )
    .requiredOption(
      "--ecds-dir <dir>",
      "directory Envoy reads slot files from (also the targets file's ecdsDir)",
    )
    .option("--slot <name...>", "slot names, in filter-chain order", ["graft-slot-0"])
    .action(async (options: { ecdsDir: string; slot: string[] }) => {
      const bad = options.slot.filter((slot) => !isValidSlotName(slot));
      if (bad.length > 0)
        throw new Error(`--slot ${bad.join(", ")}: slot names are 1-64 characters of A-Z, a-z, 0-9, _ and -`);
      const ecdsDir = path.resolve(options.ecdsDir);
      for (const slot of options.slot) await ensureSlotFile(ecdsDir, slot);
      const filters = options.slot.map((slot) => slotHttpFilter(slot, ecdsDir));
      console.log(`# Put these before envoy.filters.http.router in the listener's http_filters.`);
      console.log(
        `# Each slot serves nothing until graft injects into it; empty slot files are in ${ecdsDir}.`,
      );
      console.log(yaml.dump(filters, { noRefs: true, lineWidth: -1 }).trimEnd());
    });
}
