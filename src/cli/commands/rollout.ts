import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { loadConfigurationFile, readJsonFile } from "../../sign/files.ts";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { loadRolloutPlan } from "../../rollout/plan.ts";
import { ROLLOUT_EXIT_CODES, runRollout } from "../../rollout/rollout.ts";
import { loadTargetsFile } from "../../inject/target.ts";
import { findFilter } from "../../filters/catalog.ts";

export function register(program: Command): void {
  program
    .command("rollout")
    .description(
      "canary a signed filter: inject into the canary arm, judge it against the baseline, then promote or roll back " +
        "(exit 0 PROMOTE, 3 ROLLBACK, 4 INCONCLUSIVE, 5 rolled back after an error)",
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
    .option(
      "--filter <folder>",
      "the filter's folder, for a filter outside this repository (default: the filters/ one the envelope names)",
    )
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
          filter?: string;
          dryRun?: boolean;
          auditLog: string;
          actor?: string;
        },
      ) => {
        const configuration = await loadConfigurationFile(options.config);
        if (typeof configuration !== "object" || configuration === null || Array.isArray(configuration)) {
          throw new Error(`${options.config}: a filter configuration must be an object`);
        }
        // SIGINT/SIGTERM mid-rollout: roll the canary back, write the report, then exit (ERROR).
        const interrupt = new AbortController();
        const onSignal = (signal: NodeJS.Signals) => interrupt.abort(new Error(`interrupted by ${signal}`));
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        const result = await runRollout({
          plan: await loadRolloutPlan(options.plan),
          targets: await loadTargetsFile(options.targets),
          artifact: {
            module: await readFile(module),
            envelope: await readJsonFile(options.envelope, "--envelope"),
            configuration: configuration as Record<string, unknown>,
            policy: await loadTrustPolicy(options.policy),
            ...(options.filter ? { filter: findFilter(options.filter) } : {}),
          },
          audit: { auditLog: options.auditLog, actor: options.actor },
          dryRun: options.dryRun,
          reportDir: options.reportDir,
          signal: interrupt.signal,
          onLook: (look) =>
            console.log(
              `t=${(look.elapsedMs / 1000).toFixed(0)}s ${look.verdict.decision}: ${look.verdict.reasons[0] ?? ""}`,
            ),
        }).finally(() => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        });
        for (const warning of result.warnings) console.log(`warning: ${warning}`);
        console.log(
          `${result.decision}${result.dryRun ? " (dry run)" : ""}: ${result.reason} [canary ${result.canaryState}]`,
        );
        for (const line of result.looks.at(-1)?.verdict.lines ?? []) console.log(`  ${line}`);
        console.log(`report: ${path.relative(process.cwd(), path.join(options.reportDir, "report.html"))}`);
        // 0 PROMOTE, 3 ROLLBACK, 4 INCONCLUSIVE, 5 rolled back after an error (src/judge/README.md).
        process.exitCode = ROLLOUT_EXIT_CODES[result.decision];
      },
    );
}
