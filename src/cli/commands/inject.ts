import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { loadTrustPolicy, type TrustPolicy } from "../../sign/policy.ts";
import { loadConfigurationFile, readJsonFile } from "../../sign/files.ts";
import { injectFleet } from "../../inject/fleet.ts";
import type { FailurePolicy } from "../../envoy/wasm-filter.ts";
import { hasAgents } from "../../inject/agent-fleet.ts";
import { findFilter } from "../../filters/catalog.ts";
import {
  chooseTargets,
  fleetContext,
  fleetOptions,
  runFleetCommand,
  type FleetOptions,
} from "../fleet-options.ts";
import { GraftError } from "../../util/errors.ts";
import { explainModuleMismatch } from "../module-mismatch.ts";
import { note } from "../output.ts";

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
      .option(
        "--filter <folder>",
        "file mode: the filter's folder, for a filter outside this repository (default: the filters/ one the envelope names)",
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
        filter?: string;
      },
      command: Command,
    ) => {
      if (!["FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"].includes(options.failurePolicy)) {
        throw new GraftError(
          "INVALID_OPTION",
          `--failure-policy ${options.failurePolicy}: expected FAIL_CLOSED, FAIL_OPEN or FAIL_RELOAD`,
        );
      }
      const configuration = await loadConfigurationFile(options.config);
      if (typeof configuration !== "object" || configuration === null || Array.isArray(configuration)) {
        throw new GraftError(
          "INVALID_FILTER_CONFIG",
          `${options.config}: a filter configuration must be a mapping (an object), e.g. { rules: [] }`,
        );
      }
      const targets = await chooseTargets(options);
      const agents = hasAgents(targets);
      if (!agents && options.policy === undefined)
        throw new GraftError(
          "INVALID_OPTION",
          "file mode needs --policy <trust.yaml> (targets with agents use the agents' own policy)",
        );
      if (agents && options.policy !== undefined)
        note(
          `graft: note: --policy ${options.policy} is not used: each agent verifies against its own signed policy`,
        );
      const context = await fleetContext(options, targets);
      const policy = agents ? emptyPolicy() : await loadTrustPolicy(options.policy!);
      const moduleBytes = await readFile(module).catch((error: NodeJS.ErrnoException) => {
        throw new GraftError("FILE_ERROR", `cannot read module ${module}: ${error.code ?? error.message}`);
      });
      const envelope = await readJsonFile(options.envelope, "--envelope");
      await runFleetCommand(command, targets, () =>
        injectFleet({
          ...context,
          targets,
          slot: options.slot,
          module: moduleBytes,
          envelope,
          configuration: configuration as Record<string, unknown>,
          configSource: options.config,
          policy,
          failurePolicy: options.failurePolicy,
          ...(options.filter ? { filter: findFilter(options.filter) } : {}),
        }).catch((error: unknown) => {
          throw explainModuleMismatch(error, module);
        }),
      );
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
