import type { Command } from "commander";
import { loadTargetsFile, selectTargets, type Target } from "../inject/target.ts";
import type { AuditContext, FleetReport } from "../inject/fleet.ts";
import { hasAgents, newOperationId } from "../inject/agent-fleet.ts";
import { loadSigningKey } from "../sign/keys.ts";
import { GraftError } from "../util/errors.ts";
import { emit, jsonOption, note, wantsJson } from "./output.ts";
import { explainFailures, failureLine, snapshotSlots, type SlotSnapshot } from "./fleet-failures.ts";

export interface FleetOptions {
  targets: string;
  select?: string;
  percent?: string;
  auditLog: string;
  actor?: string;
  key?: string;
  operationId?: string;
  atomic?: boolean;
  json?: boolean;
}

/** The options every fleet command takes: which targets, who acts, where the audit trail goes. */
export function fleetOptions(command: Command): Command {
  return jsonOption(command)
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
    throw new GraftError(
      "NO_TARGETS",
      `${options.targets}: no target matches --select ${options.select ?? "(all)"}; its targets are ${all
        .map(
          (t) =>
            `${t.name} {${Object.entries(t.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(",")}}`,
        )
        .join(", ")}`,
    );
  if (!hasAgents(chosen)) note(FILE_MODE_WARNING);
  return chosen;
}

/** The fleet context for the chosen targets: with agents, the caller key and operation id. */
export async function fleetContext(options: FleetOptions, targets: Target[]): Promise<AuditContext> {
  const context: AuditContext = { auditLog: options.auditLog, actor: options.actor };
  if (!hasAgents(targets)) return context;
  const keyFile = options.key ?? process.env.GRAFT_CONTROL_KEY;
  if (!keyFile)
    throw new GraftError(
      "NO_CONTROL_KEY",
      "these targets have graft agents: give the control-plane key with --key or $GRAFT_CONTROL_KEY",
    );
  context.caller = await loadSigningKey(keyFile);
  context.atomic = options.atomic;
  // Printed before any agent is asked: a run killed half-way is resumed with this id.
  context.operationId = options.operationId ?? newOperationId("op");
  const line = `operation ${context.operationId} (if interrupted, re-run with --operation-id ${context.operationId})`;
  if (options.json) note(line);
  else console.log(line);
  if (!options.json) context.onResult = (result) => console.log(resultLine(result));
  return context;
}

function resultLine(
  result: FleetReport["results"][number] & { replayed?: boolean; confirmed?: boolean },
): string {
  const notes = [
    result.replayed ? "already done by this operation id" : "",
    result.confirmed === false ? "NOT confirmed by Envoy's admin API" : "",
  ].filter(Boolean);
  return `${result.target}/${result.slot}: ${result.outcome} → ${result.injectionId ?? "empty"} (version ${result.version}, ${Math.round(result.ms)} ms)${notes.length ? ` [${notes.join("; ")}]` : ""}`;
}

/** Runs one fleet operation and reports it: what changed where, and each failure explained. */
export async function runFleetCommand(
  command: Command,
  targets: Target[],
  operate: () => Promise<FleetReport & { operationId?: string; reverted?: string[] }>,
): Promise<void> {
  const before: SlotSnapshot = await snapshotSlots(targets);
  const report = await operate();
  const failures = await explainFailures(report, targets, before);
  emit(
    command,
    {
      action: report.action,
      ...(report.operationId !== undefined ? { operationId: report.operationId } : {}),
      results: report.results,
      expired: report.expired,
      failures,
      reverted: report.reverted ?? [],
      ok: failures.length === 0,
    },
    () => [
      ...report.expired.map(
        (e) => `${e.target}/${e.slot}: expired injection removed; now ${e.injectionId ?? "empty"}`,
      ),
      // Through agents, results were printed as each agent answered.
      ...(report.operationId === undefined ? report.results.map(resultLine) : []),
      ...(failures.length === 0
        ? []
        : [`${failures.length} of ${failures.length + report.results.length} failed (details on stderr)`]),
    ],
  );
  for (const failure of failures) note(failureLine(failure));
  if (report.reverted && report.reverted.length > 0 && !wantsJson(command))
    note(`--atomic: rolled back ${report.reverted.join(", ")}`);
  if (failures.length > 0) process.exitCode = 1;
}
