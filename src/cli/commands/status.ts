import type { Command } from "commander";
import { hasAgents } from "../../inject/agent-fleet.ts";
import { loadSigningKey } from "../../sign/keys.ts";
import { GraftError } from "../../util/errors.ts";
import { fleetStatus, statusLines } from "../fleet-status.ts";
import { chooseTargets, type FleetOptions } from "../fleet-options.ts";
import { emit, jsonOption } from "../output.ts";

/** `graft status`: what each slot of each chosen Envoy runs now, and whether Envoy agrees. */
export function register(program: Command): void {
  jsonOption(
    program
      .command("status")
      .description(
        "show each slot's active injection (filter, version, signer, expiry), the version Envoy reports and whether they agree, and recent audit entries",
      )
      .requiredOption("--targets <file>", "targets file (YAML)")
      .option("--select <selector>", "label selector, e.g. tier=payments,role!=canary")
      .option("--key <pem>", "control-plane key the agents trust (default $GRAFT_CONTROL_KEY)")
      .option(
        "--audit-log <file>",
        "file mode: the audit log to read versions, signers and recent entries from",
        process.env.GRAFT_AUDIT_LOG ?? ".graft/audit.log",
      )
      .option("--recent <n>", "audit entries to show per target", "5"),
  ).action(async (options: FleetOptions & { recent: string }, command: Command) => {
    const recent = Number(options.recent);
    if (!Number.isInteger(recent) || recent < 0)
      throw new GraftError("INVALID_OPTION", `--recent ${options.recent}: expected a whole number`);
    const targets = await chooseTargets(options);
    let caller;
    if (hasAgents(targets)) {
      const keyFile = options.key ?? process.env.GRAFT_CONTROL_KEY;
      if (!keyFile)
        throw new GraftError(
          "NO_CONTROL_KEY",
          "these targets have graft agents: give the control-plane key with --key or $GRAFT_CONTROL_KEY",
        );
      caller = await loadSigningKey(keyFile);
    }
    const views = await fleetStatus(targets, { auditLog: options.auditLog, caller, recent });
    emit(command, { targets: views }, () => statusLines(views));
    // Status is a report: unreachable targets and disagreements are in it; exit 1 tells scripts.
    if (views.some((view) => view.errors.length > 0 || view.slots.some((slot) => slot.agrees === false)))
      process.exitCode = 1;
  });
}
