import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { loadConfigurationFile, readJsonFile } from "../../sign/files.ts";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { loadRolloutPlan } from "../../rollout/plan.ts";
import { writeRolloutReports } from "../../rollout/report.ts";
import { runRollout } from "../../rollout/rollout.ts";
import { loadTargetsFile } from "../../inject/target.ts";

export function register(program: Command): void {
  program
    .command("rollout")
    .description(
      "canary a signed filter: inject into the canary arm, judge it against the baseline, then promote or roll back",
    )
    .argument("<module>", "the .wasm module")
    .requiredOption(
      "--plan <file>",
      "rollout plan (YAML): slot, canary and baseline selectors, interval, durations, signals",
    )
    .requiredOption("--targets <file>", "targets file (YAML)")
    .requiredOption("--envelope <file>", "DSSE envelope from `graft sign`")
    .requiredOption("--config <file>", "the filter configuration it was signed with")
    .requiredOption("--policy <file>", "trust policy (YAML)")
    .option("--report-dir <dir>", "where report.json, report.md and report.html go", ".graft/rollout")
    .option(
      "--dry-run",
      "judge and report without injecting, promoting or rolling back (the canary must already run)",
    )
    .option("--audit-log <file>", "append-only audit log", process.env.GRAFT_AUDIT_LOG ?? ".graft/audit.log")
    .option("--actor <name>", "who is acting (default: $GRAFT_ACTOR or the OS user)")
    .action(
      async (
        module: string,
        options: {
          plan: string;
          targets: string;
          envelope: string;
          config: string;
          policy: string;
          reportDir: string;
          dryRun?: boolean;
          auditLog: string;
          actor?: string;
        },
      ) => {
        const configuration = await loadConfigurationFile(options.config);
        if (typeof configuration !== "object" || configuration === null || Array.isArray(configuration)) {
          throw new Error(`${options.config}: a filter configuration must be an object`);
        }
        const result = await runRollout({
          plan: await loadRolloutPlan(options.plan),
          targets: await loadTargetsFile(options.targets),
          artifact: {
            module: await readFile(module),
            envelope: await readJsonFile(options.envelope, "--envelope"),
            configuration: configuration as Record<string, unknown>,
            policy: await loadTrustPolicy(options.policy),
          },
          audit: { auditLog: options.auditLog, actor: options.actor },
          dryRun: options.dryRun,
          onLook: (look) =>
            console.log(
              `t=${(look.elapsedMs / 1000).toFixed(0)}s ${look.verdict.decision}: ${look.verdict.reasons[0] ?? ""}`,
            ),
        });
        const reports = await writeRolloutReports(result, options.reportDir);
        console.log(`${result.decision}${result.dryRun ? " (dry run)" : ""}: ${result.reason}`);
        for (const line of result.looks.at(-1)?.verdict.lines ?? []) console.log(`  ${line}`);
        console.log(`report: ${path.relative(process.cwd(), reports.html)}`);
        if (result.decision === "ROLLBACK") process.exitCode = 3;
      },
    );
}
