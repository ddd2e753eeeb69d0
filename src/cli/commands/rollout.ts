import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { loadConfigurationFile, readJsonFile } from "../../sign/files.ts";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { loadRolloutPlan, type IstioEngineSettings, type RolloutPlan } from "../../rollout/plan.ts";
import {
  FALLBACK_MAX_DURATION_MS,
  ROLLOUT_EXIT_CODES,
  runRollout,
  type RolloutArtifact,
} from "../../rollout/rollout.ts";
import { actionLines, describeArtifact, plainVerdict, writeRolloutReports } from "../../rollout/report.ts";
import { LiveView } from "../../rollout/live-view.ts";
import { loadTargetsFile, selectTargets, type Target } from "../../inject/target.ts";
import { KubeApi } from "../../mesh/kubernetes/client.ts";
import { defaultKubeconfigPath, loadKubeconfig } from "../../mesh/kubernetes/kubeconfig.ts";
import { formatLabels, istioArms, istioEngine } from "../../mesh/istio/rollout-engine.ts";
import { registryCredentials } from "../../mesh/cli-options.ts";
import { envoysInPrometheus } from "../../observe/source.ts";
import type { CanaryEngine } from "../../rollout/engine.ts";
import { rolloutFilter } from "../../rollout/filter-signals.ts";
import { findFilter } from "../../filters/catalog.ts";
import { GraftError } from "../../util/errors.ts";
import { emit, jsonOption, note, say } from "../output.ts";
import { explainModuleMismatch, explainModuleMismatchText } from "../module-mismatch.ts";

interface RolloutOptions {
  plan: string;
  targets?: string;
  url?: string;
  sha256?: string;
  kubeconfig?: string;
  envelope: string;
  config: string;
  policy: string;
  reportDir: string;
  filter?: string;
  dryRun?: boolean;
  auditLog: string;
  actor?: string;
  serve?: string | boolean;
  json?: boolean;
}

/** How often the live view refreshes; it stays up two refreshes after the end so open pages see the verdict. */
const LIVE_REFRESH_MS = 2000;

export function register(program: Command): void {
  jsonOption(
    program
      .command("rollout")
      .description(
        "canary a signed filter: inject into the canary arm, judge it against the baseline, then promote or roll back " +
          "(exit 0 PROMOTE, 3 ROLLBACK, 4 INCONCLUSIVE, 5 rolled back after an error)",
      )
      .argument("<module>", "the .wasm module")
      .requiredOption(
        "--plan <file>",
        "rollout plan (YAML; graft init writes a commented one; schema src/rollout/plan.schema.json)",
      )
      .option("--targets <file>", "targets file (YAML); not with the plan's istio engine")
      .option(
        "--url <url>",
        "istio engine: where Istio fetches the module (oci://host/repo:tag, https://… or file:///…); it must serve the signed module",
      )
      .option("--sha256 <hex>", "istio engine, oci://: the image manifest digest to pin (default: the tag's)")
      .option(
        "--kubeconfig <file>",
        "istio engine: the kubeconfig (default: the plan's engine.kubeconfig, $KUBECONFIG, ~/.kube/config)",
      )
      .requiredOption("--envelope <file>", "DSSE envelope from `graft sign`")
      .requiredOption("--config <file>", "the filter configuration it was signed with")
      .requiredOption("--policy <file>", "trust policy (YAML)")
      .option(
        "--filter <folder>",
        "the filter's folder, for a filter outside this repository (default: the filters/ one the envelope names)",
      )
      .option("--report-dir <dir>", "where report.json, report.md and report.html go", ".graft/rollout")
      .option(
        "--serve [port]",
        "serve a live view of the canary on http://127.0.0.1:<port>/ while it runs (default: a free port)",
      )
      .option(
        "--dry-run",
        "judge and report without injecting, promoting or rolling back (the canary must already run)",
      )
      .option(
        "--audit-log <file>",
        "append-only audit log",
        process.env.GRAFT_AUDIT_LOG ?? ".graft/audit.log",
      )
      .option("--actor <name>", "who is acting (default: $GRAFT_ACTOR or the OS user)"),
  ).action(async (module: string, options: RolloutOptions, command: Command) => {
    const configuration = await loadConfigurationFile(options.config);
    if (typeof configuration !== "object" || configuration === null || Array.isArray(configuration))
      throw new GraftError(
        "INVALID_FILTER_CONFIG",
        `${options.config}: a filter configuration must be a mapping (an object), e.g. { rules: [] }`,
      );
    const plan = await loadRolloutPlan(options.plan);
    const artifact: RolloutArtifact = {
      module: await readFile(module).catch((error: NodeJS.ErrnoException) => {
        throw new GraftError("FILE_ERROR", `cannot read module ${module}: ${error.code ?? error.message}`);
      }),
      envelope: await readJsonFile(options.envelope, "--envelope"),
      configuration: configuration as Record<string, unknown>,
      policy: await loadTrustPolicy(options.policy),
      ...(options.filter ? { filter: findFilter(options.filter) } : {}),
    };
    const { targets, engine, close } =
      plan.engine.kind === "istio"
        ? await istioRollout(plan, plan.engine, artifact, options)
        : { targets: await fleetTargets(options), engine: undefined, close: () => {} };
    const rolledOut = describeArtifact(artifact);
    const log = (line: string) => (options.json ? note(line) : say(command, line));

    let live: LiveView | undefined;
    if (options.serve !== undefined) {
      const port = options.serve === true ? 0 : Number(options.serve);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new GraftError("INVALID_OPTION", `--serve ${String(options.serve)}: expected a port number`);
      live = await LiveView.start(
        {
          decision: "RUNNING",
          reason: "",
          canaryState: options.dryRun ? "untouched (dry run)" : "not injected",
          dryRun: Boolean(options.dryRun),
          canaryTargets: selectTargets(targets, plan.canary).map((t) => t.name),
          baselineTargets: selectTargets(targets, plan.baseline).map((t) => t.name),
          maxDurationMs: plan.maxDurationMs ?? FALLBACK_MAX_DURATION_MS,
          warnings: [],
          looks: [],
          actions: [],
          startedAt: new Date().toISOString(),
          endedAt: "",
          ...(rolledOut ? { rolledOut } : {}),
        },
        { port, refreshMs: LIVE_REFRESH_MS },
      );
      log(`live view: ${live.url}`);
    }
    if (rolledOut)
      log(
        `rolling out ${rolledOut.filter} ${rolledOut.version} (injection ${rolledOut.injectionId}, module sha256:${rolledOut.moduleSha256.slice(0, 16)}…, signed by ${rolledOut.signers.join(", ")})`,
      );

    // SIGINT/SIGTERM mid-rollout: roll the canary back, write the report, then exit (ERROR).
    const interrupt = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => interrupt.abort(new Error(`interrupted by ${signal}`));
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    let result;
    try {
      result = await runRollout({
        plan,
        targets,
        artifact,
        audit: { auditLog: options.auditLog, actor: options.actor },
        dryRun: options.dryRun,
        reportDir: options.reportDir,
        signal: interrupt.signal,
        ...(engine ? { engine } : {}),
        onLook: (look) => {
          live?.addLook(look);
          log(
            `t=${(look.elapsedMs / 1000).toFixed(0)}s ${look.verdict.decision}: ${look.verdict.reasons[0] ?? ""}`,
          );
        },
      });
    } catch (error) {
      await live?.stop();
      throw explainModuleMismatch(error, module);
    } finally {
      close();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    result.reason = explainModuleMismatchText(result.reason, module);
    // The report with what was rolled out (the rollout wrote it without).
    const reports = await writeRolloutReports(
      { ...result, ...(rolledOut ? { rolledOut } : {}) },
      options.reportDir,
    );
    if (live) {
      live.finish(result);
      await new Promise((resolve) => setTimeout(resolve, 2 * LIVE_REFRESH_MS));
      await live.stop();
    }
    const full = { ...result, ...(rolledOut ? { rolledOut } : {}) };
    emit(
      command,
      {
        decision: result.decision,
        verdict: plainVerdict(full),
        reason: result.reason,
        canaryState: result.canaryState,
        dryRun: result.dryRun,
        rolledOut: rolledOut ?? null,
        canary: result.canaryTargets,
        baseline: result.baselineTargets,
        actions: result.actions.map((a) => ({ action: a.action, results: a.results, failures: a.failures })),
        looks: result.looks.length,
        warnings: result.warnings,
        lines: result.looks.at(-1)?.verdict.lines ?? [],
        report: reports,
        exitCode: ROLLOUT_EXIT_CODES[result.decision],
      },
      () => [
        ...result.warnings.map((warning) => `warning: ${warning}`),
        `${result.decision}${result.dryRun ? " (dry run)" : ""}: ${result.reason} [canary ${result.canaryState}]`,
        plainVerdict(full),
        ...actionLines(full).map((line) => `  ${line}`),
        ...(result.looks.at(-1)?.verdict.lines ?? []).map((line) => `  ${line}`),
        `report: ${path.relative(process.cwd(), reports.html)}`,
      ],
    );
    // 0 PROMOTE, 3 ROLLBACK, 4 INCONCLUSIVE, 5 rolled back after an error (src/judge/README.md).
    process.exitCode = ROLLOUT_EXIT_CODES[result.decision];
  });
}

async function fleetTargets(options: RolloutOptions): Promise<Target[]> {
  if (options.url !== undefined || options.sha256 !== undefined || options.kubeconfig !== undefined)
    throw new GraftError(
      "INVALID_OPTION",
      "--url, --sha256 and --kubeconfig are for the plan's istio engine (engine: { kind: istio, … }); this plan's engine is fleet",
    );
  if (options.targets === undefined)
    throw new GraftError("INVALID_OPTION", "--targets <file>: the fleet engine needs the targets file");
  return loadTargetsFile(options.targets);
}

/**
 * The istio engine's side of a rollout: the Envoys of each arm as Prometheus sees them (the judge's
 * input), and the WasmPlugin engine, checked against the API server before anything is written.
 */
async function istioRollout(
  plan: RolloutPlan,
  settings: IstioEngineSettings,
  artifact: RolloutArtifact,
  options: RolloutOptions,
): Promise<{ targets: Target[]; engine: CanaryEngine; close: () => void }> {
  if (options.targets !== undefined)
    throw new GraftError(
      "INVALID_OPTION",
      "--targets: the plan's istio engine finds the sidecars in Prometheus by workload labels; leave --targets out",
    );
  if (options.url === undefined)
    throw new GraftError(
      "INVALID_OPTION",
      "--url <url>: the istio engine needs where Istio fetches the module (oci://host/repo:tag, https://…, file:///…)",
    );
  if (plan.metrics.source !== "prometheus") throw new Error("unreachable: the plan checks the metric source");
  const arms = istioArms(settings, plan.canary, plan.baseline);
  const targets: Target[] = [];
  for (const [arm, labels] of Object.entries(arms)) {
    const found = await envoysInPrometheus(plan.metrics.url, labels);
    if (found.length === 0)
      throw new GraftError(
        "INVALID_OPTION",
        `${options.plan}: ${arm}: Prometheus at ${plan.metrics.url} has no Envoy with the workload labels ${formatLabels(labels)} ` +
          "(envoy_server_uptime); is it scraping the sidecars with their pod labels (labelmap __meta_kubernetes_pod_label_(.+))?",
      );
    targets.push(...found);
  }
  const kubeconfig =
    options.kubeconfig ??
    (settings.kubeconfig !== undefined
      ? path.resolve(path.dirname(options.plan), settings.kubeconfig)
      : defaultKubeconfigPath());
  const api = new KubeApi(loadKubeconfig(kubeconfig, settings.context));
  try {
    const credentials = registryCredentials({});
    const engine = await istioEngine({
      api,
      settings,
      arms,
      artifact: { ...artifact, filter: rolloutFilter(artifact.filter, artifact.envelope) },
      url: options.url,
      ...(options.sha256 !== undefined ? { sha256: options.sha256 } : {}),
      ...(credentials ? { registryCredentials: credentials } : {}),
      audit: { auditLog: options.auditLog, ...(options.actor !== undefined ? { actor: options.actor } : {}) },
    });
    return { targets, engine, close: () => api.close() };
  } catch (error) {
    api.close();
    throw error;
  }
}
