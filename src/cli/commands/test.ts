import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { runUnitTests } from "../../compile/unit-tests.ts";
import { findFilter } from "../../filters/catalog.ts";
import { formatReports, loadScenarios, runScenarios } from "../../host/scenario.ts";

interface TestOptions {
  scenarios?: string;
  envoy?: boolean;
  units?: boolean;
}

/**
 * `graft test <filter|folder|module.wasm> [--scenarios dir] [--envoy]` runs a filter's unit tests
 * (as-pect), then its scenarios on the host emulator (and with --envoy on real Envoy too, comparing
 * the two), prints one row per scenario, and exits 1 when anything fails or the two differ.
 */
export function register(program: Command): void {
  program
    .command("test")
    .description(
      "run a filter's unit tests and its scenarios on the host emulator, and with --envoy on real Envoy 1.40 too",
    )
    .argument(
      "<filter|folder|module.wasm>",
      "a filter of filters/, a filter folder (with filter.json), or a module (then --scenarios is needed)",
    )
    .option("--scenarios <dir>", "the scenario directory (default: <filter folder>/scenarios)")
    .option("--envoy", "also run every scenario on real Envoy and compare")
    .option("--no-units", "skip the AssemblyScript unit tests")
    .action(async (target: string, options: TestOptions, command: Command) => {
      const isModule = target.endsWith(".wasm");
      if (isModule && !existsSync(target)) command.error(`error: ${target} does not exist`);
      let dir = options.scenarios;
      if (!isModule) {
        let filter;
        try {
          filter = findFilter(target);
        } catch (error) {
          command.error(`error: ${(error as Error).message}`);
        }
        if (!existsSync(filter.releaseWasm)) {
          command.error(
            `error: ${path.relative(process.cwd(), filter.releaseWasm)} is missing: run graft build ${target} first`,
          );
        }
        if (options.units !== false) {
          const units = runUnitTests(filter);
          if (units.ran) {
            const summary = units.output
              .split("\n")
              .filter((line) => /\[(Tests|Result)\]|❌|✔ |Fail|ERROR/.test(line));
            console.log(`unit tests (${filter.name}):\n${summary.join("\n")}`);
            if (!units.passed) {
              console.error(units.output);
              command.error("error: the unit tests failed", { exitCode: 1, code: "graft.test.failed" });
            }
          }
        }
        dir ??= path.join(filter.dir, "scenarios");
      }
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
