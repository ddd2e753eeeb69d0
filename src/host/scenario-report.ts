// Scenario reports: every scenario on the asked backends, compared, and shown as a table.
import { compareRuns } from "./scenario-check.ts";
import type { Backend, Scenario } from "./scenario-file.ts";
import { runOn, type RunOptions, type ScenarioRun } from "./scenario-run.ts";

export interface ScenarioReport {
  scenario: Scenario;
  runs: Partial<Record<Backend, ScenarioRun>>;
  /** Backends that were asked for but skipped (not in the scenario's backends). */
  skipped: Backend[];
  differences: string[];
  ok: boolean;
}

/** Runs each scenario on the emulator and, with `envoy`, on real Envoy too, and compares them. */
export async function runScenarios(
  scenarios: Scenario[],
  options: RunOptions & { envoy?: boolean } = {},
): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  for (const scenario of scenarios) {
    const wanted: Backend[] = options.envoy ? ["emulator", "envoy"] : ["emulator"];
    const backends = wanted.filter((backend) => scenario.backends.includes(backend));
    const runs: Partial<Record<Backend, ScenarioRun>> = {};
    for (const backend of backends) runs[backend] = await runOn(backend, scenario, options);
    const differences = runs.emulator && runs.envoy ? compareRuns(runs.emulator, runs.envoy) : [];
    const ok =
      differences.length === 0 &&
      Object.values(runs).every((run) => run.failures.length === 0) &&
      backends.length > 0;
    reports.push({
      scenario,
      runs,
      skipped: wanted.filter((backend) => !backends.includes(backend)),
      differences,
      ok,
    });
  }
  return reports;
}

function cell(run: ScenarioRun | undefined, skipped: boolean): string {
  if (skipped) return "skipped";
  if (!run) return "-";
  const time = `${Math.round(run.durationMs)} ms`;
  return run.failures.length === 0 ? `pass (${time})` : `FAIL ${run.failures.length}`;
}

/** A table, one row per scenario, then every failure and difference. */
export function formatReports(reports: ScenarioReport[], withEnvoy: boolean): string {
  const rows = reports.map((report) => [
    report.scenario.name,
    cell(report.runs.emulator, report.skipped.includes("emulator")),
    ...(withEnvoy
      ? [
          cell(report.runs.envoy, report.skipped.includes("envoy")),
          report.runs.emulator && report.runs.envoy
            ? report.differences.length === 0
              ? "same"
              : `${report.differences.length} differ`
            : "-",
        ]
      : []),
    report.ok ? "ok" : "FAILED",
  ]);
  const header = ["scenario", "emulator", ...(withEnvoy ? ["envoy", "compare"] : []), "result"];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((value, i) => value.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const out = [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)];
  const details: string[] = [];
  for (const report of reports) {
    for (const run of Object.values(report.runs)) {
      for (const failure of run.failures)
        details.push(`${report.scenario.name} [${run.backend}]: ${failure}`);
    }
    for (const difference of report.differences)
      details.push(`${report.scenario.name} [differs]: ${difference}`);
  }
  const passed = reports.filter((report) => report.ok).length;
  out.push("", `${passed} of ${reports.length} scenarios passed`);
  if (details.length > 0) out.push("", ...details);
  return out.join("\n");
}
