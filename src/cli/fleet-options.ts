import type { Command } from "commander";
import { loadTargetsFile, selectTargets, type Target } from "../inject/target.ts";
import type { AuditContext, FleetReport } from "../inject/fleet.ts";
import { hasAgents, newOperationId } from "../inject/agent-fleet.ts";
import { loadSigningKey } from "../sign/keys.ts";

export interface FleetOptions {
  targets: string;
  select?: string;
  percent?: string;
  auditLog: string;
  actor?: string;
  key?: string;
  operationId?: string;
  atomic?: boolean;
}

/** The options every fleet command takes: which targets, who acts, where the audit trail goes. */
export function fleetOptions(command: Command): Command {
  return command
    .requiredOption(
      "--targets <file>",
      "targets file (YAML): Envoys (or their graft agents) with slots and labels",
    )
    .option("--select <selector>", "label selector, e.g. tier=payments,role!=canary")
    .option("--percent <p>", "act on this percentage of the selected targets (by name order)")
    .option(
      "--key <pem>",
      "control-plane private key the agents trust (default $GRAFT_CONTROL_KEY); the agents audit its name as the actor",
    )
    .option(
      "--operation-id <id>",
      "resume an interrupted operation: agents answer a repeated id without acting twice",
    )
    .option(
      "--audit-log <file>",
      "file mode only: append-only audit log (agents keep their own, signed)",
      process.env.GRAFT_AUDIT_LOG ?? ".graft/audit.log",
    )
    .option("--actor <name>", "file mode only: who is acting (default: $GRAFT_ACTOR or the OS user)");
}

export const FILE_MODE_WARNING =
  "graft: warning: file mode: these targets have no graft agent, so nothing enforces signatures, policy, TTLs or the audit trail on the hosts; use file mode for development only";

export async function chooseTargets(options: FleetOptions): Promise<Target[]> {
  const all = await loadTargetsFile(options.targets);
  const percent = options.percent === undefined ? 100 : Number(options.percent);
  const chosen = selectTargets(all, options.select, percent);
  if (chosen.length === 0)
    throw new Error(`${options.targets}: no target matches --select ${options.select ?? "(all)"}`);
  if (!hasAgents(chosen)) console.error(FILE_MODE_WARNING);
  return chosen;
}

/** The fleet context for the chosen targets: with agents, the caller key and operation id. */
export async function fleetContext(options: FleetOptions, targets: Target[]): Promise<AuditContext> {
  const context: AuditContext = { auditLog: options.auditLog, actor: options.actor };
  if (!hasAgents(targets)) return context;
  const keyFile = options.key ?? process.env.GRAFT_CONTROL_KEY;
  if (!keyFile)
    throw new Error(
      "these targets have graft agents: give the control-plane key with --key or $GRAFT_CONTROL_KEY",
    );
  context.caller = await loadSigningKey(keyFile);
  context.atomic = options.atomic;
  // Printed before any agent is asked: a run killed half-way is resumed with this id.
  context.operationId = options.operationId ?? newOperationId("op");
  console.log(
    `operation ${context.operationId} (if interrupted, re-run with --operation-id ${context.operationId})`,
  );
  context.onResult = (result) => printResult(result);
  return context;
}

function printResult(
  result: FleetReport["results"][number] & { replayed?: boolean; confirmed?: boolean },
): void {
  const notes = [
    result.replayed ? "already done by this operation id" : "",
    result.confirmed === false ? "NOT confirmed by Envoy's admin API" : "",
  ].filter(Boolean);
  console.log(
    `${result.target}/${result.slot}: ${result.outcome} → ${result.injectionId ?? "empty"} (version ${result.version}, ${Math.round(result.ms)} ms)${notes.length ? ` [${notes.join("; ")}]` : ""}`,
  );
}

/** One line per target and slot; exit status 1 when any failed. */
export function printReport(report: FleetReport & { operationId?: string; reverted?: string[] }): void {
  for (const expired of report.expired)
    console.log(
      `${expired.target}/${expired.slot}: expired injection removed; now ${expired.injectionId ?? "empty"}`,
    );
  // Through agents, results were printed as each agent answered.
  if (report.operationId === undefined) for (const result of report.results) printResult(result);
  for (const failure of report.failures)
    console.error(`${failure.target}/${failure.slot}: FAILED: ${failure.error}`);
  if (report.reverted && report.reverted.length > 0)
    console.error(`--atomic: rolled back ${report.reverted.join(", ")}`);
  if (report.failures.length > 0) process.exitCode = 1;
}
