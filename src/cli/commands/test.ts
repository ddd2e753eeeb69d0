import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { filterScenarioDir, formatReports, loadScenarios, runScenarios } from "../../host/scenario.ts";
import { filtersDir } from "../../util/paths.ts";

interface TestOptions {
  scenarios?: string;
  envoy?: boolean;
}

/**
 * `graft test <filter|module.wasm> [--scenarios dir] [--envoy]` runs a filter's scenarios on the
 * host emulator (and with --envoy on real Envoy too, comparing the two), prints one row per
 * scenario, and exits 1 when any scenario fails or the two differ.
 */
export function register(program: Command): void {
  program
    .command("test")
    .description("run a filter's scenarios on the host emulator, and with --envoy on real Envoy 1.40 too")
    .argument("<filter|module.wasm>", "a filter of filters/, or a module (then --scenarios is needed)")
    .option("--scenarios <dir>", "the scenario directory (default: filters/<filter>/scenarios)")
    .option("--envoy", "also run every scenario on real Envoy and compare")
    .action(async (target: string, options: TestOptions, command: Command) => {
      const isModule = target.endsWith(".wasm");
      if (isModule && !existsSync(target)) command.error(`error: ${target} does not exist`);
      if (!isModule && !existsSync(path.join(filtersDir, target)))
        command.error(`error: no filter named "${target}" in filters/`);
      const dir = options.scenarios ?? (isModule ? undefined : filterScenarioDir(target));
      if (!dir) command.error("error: give --scenarios <dir> with a module");
      if (!existsSync(dir)) command.error(`error: no scenario directory ${dir}`);
      const scenarios = await loadScenarios(dir);
      if (scenarios.length === 0) command.error(`error: no scenarios (*.yaml) in ${dir}`);
      const reports = await runScenarios(scenarios, {
        envoy: options.envoy,
        module: isModule ? path.resolve(target) : undefined,
      });
      console.log(formatReports(reports, options.envoy ?? false));
      const failed = reports.filter((report) => !report.ok).length;
      if (failed > 0)
        command.error(`error: ${failed} of ${reports.length} scenarios failed`, {
          exitCode: 1,
          code: "graft.test.failed",
        });
    });
}
