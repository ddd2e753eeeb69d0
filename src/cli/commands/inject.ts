import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { loadTrustPolicy, type TrustPolicy } from "../../sign/policy.ts";
import { loadConfigurationFile, readJsonFile } from "../../sign/files.ts";
import { injectFleet } from "../../inject/fleet.ts";
import type { FailurePolicy } from "../../envoy/wasm-filter.ts";
import { hasAgents } from "../../inject/agent-fleet.ts";
import {
  chooseTargets,
  fleetContext,
  fleetOptions,
  printReport,
  type FleetOptions,
} from "../fleet-options.ts";

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
      .option(
        "--policy <file>",
        "file mode: trust policy (YAML); agents verify against their own signed policy",
      )
      .requiredOption("--slot <name>", "filter slot to inject into")
      .option(
        "--failure-policy <policy>",
        "FAIL_CLOSED, FAIL_OPEN or FAIL_RELOAD when the filter traps",
        "FAIL_CLOSED",
      )
      .option("--atomic", "through agents: when one agent fails, roll back the ones this operation changed"),
  ).action(
    async (
      module: string,
      options: FleetOptions & {
        envelope: string;
        config: string;
        policy?: string;
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
      const targets = await chooseTargets(options);
      const agents = hasAgents(targets);
      if (!agents && options.policy === undefined)
        throw new Error(
          "file mode needs --policy <trust.yaml> (targets with agents use the agents' own policy)",
        );
      if (agents && options.policy !== undefined)
        console.error(
          `graft: note: --policy ${options.policy} is not used: each agent verifies against its own signed policy`,
        );
      const report = await injectFleet({
        ...(await fleetContext(options, targets)),
        targets,
        slot: options.slot,
        module: await readFile(module),
        envelope: await readJsonFile(options.envelope, "--envelope"),
        configuration: configuration as Record<string, unknown>,
        configSource: options.config,
        policy: agents ? emptyPolicy() : await loadTrustPolicy(options.policy!),
        failurePolicy: options.failurePolicy,
      });
      printReport(report);
    },
  );
}

/** Agents never see the caller's policy; this stands in for the field the file mode needs. */
function emptyPolicy(): TrustPolicy {
  return {
    source: "(agents)",
    serial: 0,
    maxTtlMs: 0,
    clockSkewMs: 0,
    keys: new Map(),
    revoked: new Set(),
    approvalRules: [],
  };
}
