import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { loadConfigurationFile, readJsonFile } from "../../sign/files.ts";
import { injectFleet } from "../../inject/fleet.ts";
import type { FailurePolicy } from "../../envoy/wasm-filter.ts";
import { chooseTargets, fleetOptions, printReport, type FleetOptions } from "../fleet-options.ts";

export function register(program: Command): void {
  fleetOptions(
    program
      .command("inject")
      .description(
        "verify a signed filter and inject it into a slot of running Envoys; waits until each reports it active",
      )
      .argument("<module>", "the .wasm module")
      .requiredOption("--envelope <file>", "DSSE envelope from `graft sign`")
      .requiredOption("--config <file>", "the filter configuration it was signed with (JSON or YAML)")
      .requiredOption("--policy <file>", "trust policy (YAML)")
      .requiredOption("--slot <name>", "filter slot to inject into")
      .option(
        "--failure-policy <policy>",
        "FAIL_CLOSED, FAIL_OPEN or FAIL_RELOAD when the filter traps",
        "FAIL_CLOSED",
      ),
  ).action(
    async (
      module: string,
      options: FleetOptions & {
        envelope: string;
        config: string;
        policy: string;
        slot: string;
        failurePolicy: FailurePolicy;
      },
    ) => {
      if (!["FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"].includes(options.failurePolicy)) {
        throw new Error(
          `--failure-policy ${options.failurePolicy}: expected FAIL_CLOSED, FAIL_OPEN or FAIL_RELOAD`,
        );
      }
      const configuration = await loadConfigurationFile(options.config);
      if (typeof configuration !== "object" || configuration === null || Array.isArray(configuration)) {
        throw new Error(`${options.config}: a filter configuration must be an object`);
      }
      const report = await injectFleet({
        targets: await chooseTargets(options),
        slot: options.slot,
        module: await readFile(module),
        envelope: await readJsonFile(options.envelope, "--envelope"),
        configuration: configuration as Record<string, unknown>,
        configSource: options.config,
        policy: await loadTrustPolicy(options.policy),
        failurePolicy: options.failurePolicy,
        auditLog: options.auditLog,
        actor: options.actor,
      });
      printReport(report);
    },
  );
}
