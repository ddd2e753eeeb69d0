import type { Command } from "commander";
import { loadTargetsFile, selectTargets, type Target } from "../inject/target.ts";
import type { FleetReport } from "../inject/fleet.ts";

export interface FleetOptions {
  targets: string;
  select?: string;
  percent?: string;
  auditLog: string;
  actor?: string;
}

/** The options every fleet command takes: which targets, and where the audit trail goes. */
export function fleetOptions(command: Command): Command {
  return command
    .requiredOption(
      "--targets <file>",
      "targets file (YAML): Envoys with admin URL, ECDS directory, slots and labels",
    )
    .option("--select <selector>", "label selector, e.g. tier=payments,role!=canary")
    .option("--percent <p>", "act on this percentage of the selected targets (by name order)")
    .option("--audit-log <file>", "append-only audit log", process.env.GRAFT_AUDIT_LOG ?? ".graft/audit.log")
    .option("--actor <name>", "who is acting (default: $GRAFT_ACTOR or the OS user)");
}

export async function chooseTargets(options: FleetOptions): Promise<Target[]> {
  const all = await loadTargetsFile(options.targets);
  const percent = options.percent === undefined ? 100 : Number(options.percent);
  const chosen = selectTargets(all, options.select, percent);
  if (chosen.length === 0)
    throw new Error(`${options.targets}: no target matches --select ${options.select ?? "(all)"}`);
  return chosen;
}

/** One line per target and slot; exit status 1 when any failed. */
export function printReport(report: FleetReport): void {
  for (const expired of report.expired)
    console.log(
      `${expired.target}/${expired.slot}: expired injection removed; now ${expired.injectionId ?? "empty"}`,
    );
  for (const result of report.results) {
    console.log(
      `${result.target}/${result.slot}: ${result.outcome} → ${result.injectionId ?? "empty"} (version ${result.version}, ${Math.round(result.ms)} ms)`,
    );
  }
  for (const failure of report.failures)
    console.error(`${failure.target}/${failure.slot}: FAILED: ${failure.error}`);
  if (report.failures.length > 0) process.exitCode = 1;
}
