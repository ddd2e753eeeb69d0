import type { Command } from "commander";
import path from "node:path";
import yaml from "js-yaml";
import { ensureSlotFile } from "../../inject/ecds-file.ts";
import { isValidSlotName, slotFilePath, slotHttpFilter } from "../../inject/slot.ts";
import { graftStatsTags } from "../../metrics/tags.ts";
import { GraftError } from "../../util/errors.ts";
import { emit, jsonOption } from "../output.ts";

const dump = (value: unknown) => yaml.dump(value, { noRefs: true, lineWidth: -1 }).trimEnd();

/**
 * `graft slots`: what an operator adds to an Envoy so graft can inject into it: the slot filters,
 * and the two bootstrap settings without which it half-works (ECDS needs a `node`; without the
 * stats tags /stats/prometheus shows one metric name per injection).
 */
export function register(program: Command): void {
  jsonOption(
    program
      .command("slots")
      .description(
        "print the http_filters entries that give an Envoy listener injectable slots, the bootstrap's node and stats_config, and create the empty slot files",
      )
      .requiredOption(
        "--ecds-dir <dir>",
        "directory Envoy reads slot files from (also the targets file's ecdsDir)",
      )
      .option("--slot <name...>", "slot names, in filter-chain order", ["graft-slot-0"]),
  ).action(async (options: { ecdsDir: string; slot: string[] }, command: Command) => {
    const bad = options.slot.filter((slot) => !isValidSlotName(slot));
    if (bad.length > 0)
      throw new GraftError(
        "INVALID_OPTION",
        `--slot ${bad.join(", ")}: slot names are 1-64 characters of A-Z, a-z, 0-9, _ and -`,
      );
    const ecdsDir = path.resolve(options.ecdsDir);
    for (const slot of options.slot) await ensureSlotFile(ecdsDir, slot);
    const httpFilters = options.slot.map((slot) => slotHttpFilter(slot, ecdsDir));
    const node = { id: "<this Envoy's name>", cluster: "<its service>" };
    const statsConfig = { stats_tags: graftStatsTags() };
    emit(
      command,
      {
        ecdsDir,
        slotFiles: options.slot.map((slot) => slotFilePath(ecdsDir, slot)),
        httpFilters,
        bootstrap: { node, stats_config: statsConfig },
      },
      () => [
        "# 1. Put these before envoy.filters.http.router in the listener's http_filters.",
        `#    Each slot serves nothing until graft injects into it; empty slot files are in ${ecdsDir}.`,
        dump(httpFilters),
        "",
        "# 2. The bootstrap needs a node (ECDS subscriptions, slot files included, are refused without one):",
        dump({ node }),
        "",
        "# 3. And these stats tags (merge into stats_config.stats_tags), so /stats/prometheus shows",
        "#    graft_<metric>{filter=…,injection=…} instead of one metric name per injection:",
        dump({ stats_config: statsConfig }),
        "",
        "# graft init writes a complete bootstrap with all three.",
      ],
    );
  });
}
