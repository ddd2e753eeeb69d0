import type { TrustPolicy } from "../sign/policy.ts";
import { appendAuditRecord } from "../audit/log.ts";
import { LATENCY_BUCKETS_MS } from "../envoy/bootstrap.ts";
import type { AuditContext, FleetReport } from "../inject/fleet.ts";
import { selectTargets, type Target } from "../inject/target.ts";
import { readEnvelope } from "../sign/dsse.ts";
import { readStatement } from "../sign/statement.ts";
import { EnvoySeries, sumTotals, type ArmTotals } from "../observe/collect.ts";
import { adminApiSource, prometheusSource, type MetricSource } from "../observe/source.ts";
import { judge, type JudgeConfig, type Verdict } from "../judge/judge.ts";
import { minutesToPromote } from "../judge/horizon.ts";
import type { Observations, Snapshot } from "../observe/observations.ts";
import { signalKey, type RolloutPlan, type SignalPlan } from "./plan.ts";
import { writeRolloutReports } from "./report.ts";
import type { CanaryEngine } from "./engine.ts";
import { fleetEngine } from "./fleet-engine.ts";
import {
  badEventCount,
  badEventsOf,
  filterCount,
  rolloutFilter,
  type FilterBadEvents,
} from "./filter-signals.ts";
import type { FilterInfo } from "../filters/catalog.ts";
import { GraftError } from "../util/errors.ts";

/** The signed filter a rollout injects into the canary, then into the rest on PROMOTE. */
export interface RolloutArtifact {
  module: Uint8Array;
  envelope: unknown;
  configuration: Record<string, unknown>;
  /** File mode's trust policy. Targets with agents are verified by each agent against its own. */
  policy: TrustPolicy;
  /** The filter, when it is not the one of filters/ that the envelope names (an author's own folder). */
  filter?: FilterInfo;
}

export interface RolloutOptions {
  plan: RolloutPlan;
  /** Every target of the targets file; the plan's selectors pick the arms. */
  targets: Target[];
  artifact: RolloutArtifact;
  /**
   * The rollout's own records (rollout-start, rollout-decision) go to `auditLog`. With agents,
   * `caller` is the control-plane key they trust and `operationId` the rollout's id: the canary
   * injection, the promotion and the rollback are asked as `<id>.canary`, `<id>.promote` and
   * `<id>.rollback`, so a rollout re-run with the id of an interrupted one never applies a step
   * twice (each agent audits its own changes in its own signed log).
   */
  audit: AuditContext;
  /** Judge and report without injecting, promoting or rolling back (the canary must already run). */
  dryRun?: boolean;
  /** Where report.json, report.md and report.html go, whatever the outcome (errors included). */
  reportDir?: string;
  /** Aborting it (SIGINT, SIGTERM) ends the rollout like an error: the canary is rolled back. */
  signal?: AbortSignal;
  /** Where the Envoys' counters are read: their admin APIs unless set (e.g. prometheusSource). */
  metrics?: MetricSource;
  /**
   * What moves the release (e.g. the Istio WasmPlugin engine, with `targets` the Envoys it found in
   * Prometheus); unless set, the targets' own slots, directly or through their agents.
   */
  engine?: CanaryEngine;
  /** Called with each look's verdict as it is made. */
  onLook?: (look: Look) => void;
  sleep?: (ms: number) => Promise<void>;
  /** The judge (tests replace it to make it fail). */
  judge?: (observations: Observations, config: JudgeConfig) => Verdict;
}

/** One interval's judgement, with the arms' totals it was made on. */
export interface Look {
  elapsedMs: number;
  verdict: Verdict;
  canary: ArmTotals;
  baseline: ArmTotals;
}

/**
 * How a rollout ended. ERROR: something failed while the canary was in (judge input, collector,
 * unreachable admin, a signal) and the canary was rolled back. INCONCLUSIVE: maxDuration passed
 * without a verdict; the plan's onTimeout says whether the canary was rolled back or held.
 */
export type RolloutDecision = "PROMOTE" | "ROLLBACK" | "INCONCLUSIVE" | "ERROR";

/** `graft rollout` exit codes, one per outcome (src/judge/README.md). */
export const ROLLOUT_EXIT_CODES: Readonly<Record<RolloutDecision, number>> = {
  PROMOTE: 0,
  ROLLBACK: 3,
  INCONCLUSIVE: 4,
  ERROR: 5,
};

/** Where the canary's filter is when the rollout ends. */
export type CanaryState =
  "promoted" | "rolled back" | "held" | "rollback failed" | "not injected" | "untouched (dry run)";

export interface RolloutResult {
  decision: RolloutDecision;
  /** Headline reason, e.g. the metric line that proved harm, or the error. */
  reason: string;
  canaryState: CanaryState;
  dryRun: boolean;
  canaryTargets: string[];
  baselineTargets: string[];
  /** The maxDuration used: the plan's, or the one derived from the traffic ("auto"). */
  maxDurationMs: number;
  /** What the operator should know: e.g. that the plan cannot decide within maxDuration at this traffic. */
  warnings: string[];
  looks: Look[];
  actions: FleetReport[];
  /** Through agents: the rollout's operation id (re-run with it to resume an interrupted rollout). */
  operationId?: string;
  startedAt: string;
  endedAt: string;
}

export class RolloutError extends GraftError<"ROLLOUT_REFUSED"> {
  constructor(message: string) {
    super("ROLLOUT_REFUSED", message);
  }
}

/** Used when the traffic before the canary gives nothing to project from. */
export const FALLBACK_MAX_DURATION_MS = 10 * 60_000;
/** Auto maxDuration = this × the projected time to PROMOTE an identical canary: 9 in 10 noisy runs promote by then (README.md). */
export const AUTO_DURATION_FACTOR = 2;
/** Auto maxDuration never exceeds this. */
export const AUTO_DURATION_LIMIT_MS = 4 * 60 * 60_000;

export function judgeConfig(plan: RolloutPlan): JudgeConfig {
  return {
    alpha: plan.alpha,
    minExposure: plan.minRequests,
    blockMinutes: plan.burstWindowMs / 60_000,
    metrics: plan.signals.map((signal) => ({
      name: signalKey(signal),
      maxRatio: signal.maxRatio,
      floorRate: signal.floorRate,
      minExposure: signal.name === "vm_failures" ? 0 : signal.minExposure,
      unit: signal.name === "vm_failures" ? "Envoy-minutes" : "requests",
      ...(signal.dispersion !== undefined ? { dispersion: signal.dispersion } : {}),
      ...(signal.learnDispersion !== undefined ? { learnDispersion: signal.learnDispersion } : {}),
    })),
    crashLoop: {
      metric: "vm_failures",
      maxFailures: plan.crashLoop.maxFailures,
      windowMinutes: plan.crashLoop.windowMinutes,
    },
    burnRate: plan.burnRate.map((guard) => ({
      metric: guard.signal,
      slo: guard.slo,
      maxBurn: guard.maxBurn,
    })),
  };
}

/** Bad events and exposure of one signal for one arm. */
function signalCounts(
  signal: Pick<SignalPlan, "name" | "thresholdMs" | "counter" | "worse">,
  totals: ArmTotals,
  envoyMinutes: number,
  badEvents: FilterBadEvents,
): { bad: number; exposure: number } {
  if (signal.counter !== undefined) {
    // Filter counters and requests are read in one scrape but not atomically: never more than requests.
    const count = Math.min(filterCount(totals, signal.counter), totals.requests);
    return { bad: signal.worse === "down" ? totals.requests - count : count, exposure: totals.requests };
  }
  switch (signal.name) {
    case "5xx":
      return { bad: totals.rq5xx, exposure: totals.requests };
    case "4xx":
      return { bad: totals.rq4xx, exposure: totals.requests };
    case "slow":
      // Histograms trail the counters by up to one stats flush; never report more slow than seen.
      return {
        bad: Math.min(totals.slowerThan.get(signal.thresholdMs!) ?? 0, totals.requests),
        exposure: totals.requests,
      };
    case "filter_rejections":
      // The bad events the rolled-out filter's contract declares (rejections, 429s, failed rewrites).
      return { bad: Math.min(badEventCount(totals, badEvents), totals.requests), exposure: totals.requests };
    case "vm_failures":
      return { bad: totals.vmFailures + totals.resets, exposure: envoyMinutes };
    default:
      throw new RolloutError(`signal ${signal.name}: not a built-in signal and no counter to read`);
  }
}

/** Every signal the judge reads: the judged ones, burn-rate guards' and VM failures for the crash-loop guard. */
function observedSignals(plan: RolloutPlan): SignalPlan[] {
  return [
    ...plan.signals,
    ...plan.burnRate
      .filter((guard) => !plan.signals.some((signal) => signalKey(signal) === guard.signal))
      .map((guard) => ({ name: guard.signal })),
    { name: "vm_failures" },
  ];
}

/**
 * The maxDuration to use, and a warning when the plan cannot decide in it: from the baseline's
 * traffic before the canary (Envoy's counters since it started), the time the judge needs to promote
 * an identical canary.
 */
function planDuration(
  plan: RolloutPlan,
  before: ArmTotals,
  uptimeSeconds: number,
  canaryCount: number,
  baselineCount: number,
  badEvents: FilterBadEvents,
): {
  maxDurationMs: number;
  warnings: string[];
} {
  const warnings: string[] = [];
  const minutes = uptimeSeconds / 60;
  const perEnvoy = minutes > 0 ? before.requests / minutes / Math.max(1, baselineCount) : 0;
  let needMs = Infinity;
  if (perEnvoy > 0) {
    const rates: Record<string, number> = {};
    for (const signal of plan.signals) {
      const counts = signalCounts(signal, before, minutes * baselineCount, badEvents);
      rates[signalKey(signal)] = counts.exposure > 0 ? counts.bad / counts.exposure : 0;
    }
    const projected = minutesToPromote(
      judgeConfig(plan),
      {
        canaryExposurePerMinute: perEnvoy * canaryCount,
        baselineExposurePerMinute: perEnvoy * baselineCount,
        rates,
      },
      plan.intervalMs / 60_000,
    );
    needMs = projected * 60_000;
  }
  const need = Number.isFinite(needMs) ? `about ${formatDuration(needMs)}` : "longer than a day";
  const basis =
    perEnvoy > 0
      ? `at the baseline's traffic before the canary (${Math.round(perEnvoy)} requests/min per Envoy), an identical canary needs ${need} to be promoted`
      : "the baseline had no traffic before the canary, so how long a verdict takes is unknown";
  if (plan.maxDurationMs !== undefined) {
    if (needMs > plan.maxDurationMs)
      warnings.push(
        `${basis}; maxDuration is ${formatDuration(plan.maxDurationMs)}, so expect INCONCLUSIVE unless the canary is clearly worse ` +
          "(raise maxDuration or the canary's traffic, or widen maxRatio)",
      );
    return { maxDurationMs: plan.maxDurationMs, warnings };
  }
  if (!Number.isFinite(needMs)) {
    warnings.push(`${basis}; maxDuration defaults to ${FALLBACK_MAX_DURATION_MS / 60_000} min`);
    return { maxDurationMs: Math.max(FALLBACK_MAX_DURATION_MS, plan.minDurationMs), warnings };
  }
  const auto = Math.min(AUTO_DURATION_LIMIT_MS, Math.max(plan.minDurationMs, AUTO_DURATION_FACTOR * needMs));
  if (auto < AUTO_DURATION_FACTOR * needMs)
    warnings.push(
      `${basis}; maxDuration is capped at ${AUTO_DURATION_LIMIT_MS / 60_000} min, so expect INCONCLUSIVE`,
    );
  return { maxDurationMs: Math.ceil(auto / 1000) * 1000, warnings };
}

/** "40 s" below two minutes, "12 min" above. */
function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "longer than a day";
  return ms < 120_000 ? `${Math.ceil(ms / 1000)} s` : `${Math.ceil(ms / 60_000)} min`;
}

/** The injection id the envelope signs, if it can be read (the agents and the judge verify it). */
function signedInjectionId(envelope: unknown): string | undefined {
  try {
    const read = readEnvelope(envelope);
    if (!("envelope" in read)) return undefined;
    const statement = readStatement(Buffer.from(read.envelope.payload, "base64"));
    return "statement" in statement ? statement.statement.predicate.injectionId : undefined;
  } catch {
    return undefined;
  }
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : typeof reason === "string" ? reason : "aborted";
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts. */
function abortableSleep(
  sleep: (ms: number) => Promise<void>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  if (!signal) return sleep(ms);
  if (signal.aborted) return Promise.reject(new RolloutError(abortReason(signal)));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(new RolloutError(abortReason(signal)));
    signal.addEventListener("abort", onAbort, { once: true });
    sleep(ms).then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error as Error);
      },
    );
  });
}

/**
 * Runs a canary: injects the signed filter into the canary arm, judges canary against baseline
 * every interval, then promotes it to the rest or rolls the canary back — all in the audit log.
 * Harm can be proven at any look; PROMOTE waits for minDuration; no verdict by maxDuration is
 * INCONCLUSIVE (rolled back or held, as the plan says). Fails safe: any error or abort while the
 * canary is in rolls it back, and every end writes the report (with reportDir) and an audit record.
 */
export async function runRollout(options: RolloutOptions): Promise<RolloutResult> {
  const { plan, audit } = options;
  const metrics =
    options.metrics ??
    (plan.metrics.source === "prometheus" ? prometheusSource(plan.metrics.url) : adminApiSource);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const judgeFn = options.judge ?? judge;
  for (const signal of plan.signals) {
    if (signal.name === "slow" && !LATENCY_BUCKETS_MS.includes(signal.thresholdMs!)) {
      throw new RolloutError(
        `signal slow: thresholdMs ${signal.thresholdMs} is not a latency bucket bound; use one of ${LATENCY_BUCKETS_MS.join(", ")}`,
      );
    }
  }
  let badEvents: FilterBadEvents;
  try {
    badEvents = badEventsOf(rolloutFilter(options.artifact.filter, options.artifact.envelope));
  } catch (error) {
    throw new RolloutError(`cannot judge the filter's bad events: ${(error as Error).message}`);
  }
  const canary = selectTargets(options.targets, plan.canary);
  const baseline = selectTargets(options.targets, plan.baseline);
  if (canary.length === 0) throw new RolloutError(`no target matches the canary selector "${plan.canary}"`);
  if (baseline.length === 0)
    throw new RolloutError(`no target matches the baseline selector "${plan.baseline}"`);
  const overlap = canary.filter((t) => baseline.includes(t));
  if (overlap.length > 0)
    throw new RolloutError(
      `${overlap.map((t) => t.name).join(", ")} would be both canary and baseline; make the selectors disjoint`,
    );
  const promoteTo = plan.promote
    ? selectTargets(options.targets, plan.promote)
    : options.targets.filter((t) => !canary.includes(t));
  const dryRun = options.dryRun ?? false;
  const injectionId = signedInjectionId(options.artifact.envelope);
  const engine =
    options.engine ??
    fleetEngine({
      plan,
      artifact: options.artifact,
      audit,
      canary,
      baseline,
      promoteTo,
      metrics,
      dryRun,
      injectionId,
    });
  const { operationId } = engine;

  const startedAt = new Date();
  const result: RolloutResult = {
    decision: "ERROR",
    reason: "",
    canaryState: dryRun ? "untouched (dry run)" : "not injected",
    dryRun,
    canaryTargets: canary.map((t) => t.name),
    baselineTargets: baseline.map((t) => t.name),
    maxDurationMs: plan.maxDurationMs ?? FALLBACK_MAX_DURATION_MS,
    warnings: [],
    looks: [],
    actions: [],
    ...(operationId !== undefined ? { operationId } : {}),
    startedAt: startedAt.toISOString(),
    endedAt: "",
  };
  const record = (
    action: string,
    outcome: "ok" | "failed",
    details: Record<string, unknown>,
    reason: string | null = null,
  ) =>
    appendAuditRecord(audit.auditLog, {
      action,
      outcome,
      actor: audit.actor,
      targets: result.canaryTargets,
      reason,
      details: { slot: plan.slot, dryRun: result.dryRun, ...details },
    });

  const finish = async (decision: RolloutDecision, reason: string): Promise<RolloutResult> => {
    result.decision = decision;
    result.reason = reason;
    const removeCanary =
      decision === "ROLLBACK" ||
      decision === "ERROR" ||
      (decision === "INCONCLUSIVE" && plan.onTimeout === "rollback");
    // PROMOTE needs the canary step done; taking the canary out needs something of ours in it.
    if (!dryRun && (decision === "PROMOTE" ? engine.canaryDone() : engine.canaryTouched())) {
      try {
        if (decision === "PROMOTE") {
          const action = await engine.promote();
          result.actions.push(action);
          result.canaryState = "promoted";
          if (action.failures.length > 0)
            result.warnings.push(
              `promotion failed on ${action.failures.map((f) => `${f.target}: ${f.error}`).join("; ")}`,
            );
        } else if (removeCanary) {
          const action = await engine.rollback();
          result.actions.push(action);
          result.canaryState = action.failures.length === 0 ? "rolled back" : "rollback failed";
          if (action.failures.length > 0)
            result.reason += `; ROLLBACK FAILED on ${action.failures.map((f) => `${f.target}: ${f.error}`).join("; ")}`;
        } else {
          result.canaryState = "held";
        }
      } catch (error) {
        result.canaryState = decision === "PROMOTE" ? result.canaryState : "rollback failed";
        result.reason += `; ${decision === "PROMOTE" ? "promotion" : "rollback"} failed: ${(error as Error).message}`;
      }
    }
    result.endedAt = new Date().toISOString();
    if (options.reportDir) {
      try {
        await writeRolloutReports(result, options.reportDir);
      } catch (error) {
        result.warnings.push(
          `could not write the report to ${options.reportDir}: ${(error as Error).message}`,
        );
      }
    }
    const last = result.looks.at(-1)?.verdict;
    await record(
      "rollout-decision",
      decision === "ERROR" || result.canaryState === "rollback failed" ? "failed" : "ok",
      { decision, canaryState: result.canaryState, lines: last?.lines ?? [], warnings: result.warnings },
      result.reason,
    );
    return result;
  };

  await record("rollout-start", "ok", {
    canary: result.canaryTargets,
    baseline: result.baselineTargets,
    plan: { ...plan, signals: plan.signals.map(signalKey) },
    through: engine.through,
    engine: engine.description,
    ...(operationId !== undefined ? { operationId } : {}),
  });

  // Before the canary: the first scrape checks every admin and listener, and its lifetime counters
  // tell how long a verdict will take at this traffic.
  const series = new Map<Target, EnvoySeries>([...canary, ...baseline].map((t) => [t, new EnvoySeries()]));
  const scrapeAll = async () => {
    await Promise.all(
      [...series].map(async ([target, s]) => {
        try {
          s.push(await metrics.scrape(target, plan.listener));
        } catch (error) {
          throw new RolloutError(`${target.name} (${target.adminUrl}): ${(error as Error).message}`);
        }
      }),
    );
  };
  try {
    await scrapeAll();
    const lifetime = sumTotals(baseline.map((t) => series.get(t)!.lifetime()));
    const uptime = Math.min(...baseline.map((t) => series.get(t)!.uptimeSeconds()));
    const duration = planDuration(plan, lifetime, uptime, canary.length, baseline.length, badEvents);
    result.maxDurationMs = duration.maxDurationMs;
    result.warnings.push(...duration.warnings);
    if (options.signal?.aborted) throw new RolloutError(abortReason(options.signal));
  } catch (error) {
    return finish("ERROR", `before the canary was injected: ${(error as Error).message}`);
  }

  if (!dryRun) {
    let injection;
    try {
      injection = await engine.injectCanary();
    } catch (error) {
      return finish("ERROR", `canary injection failed: ${(error as Error).message}`);
    }
    if (injection.action) result.actions.push(injection.action);
    if (injection.error !== undefined) return finish("ERROR", injection.error);
  }

  let ending: [RolloutDecision, string];
  try {
    ending = await judgeLoop();
  } catch (error) {
    ending = ["ERROR", `rollout failed while the canary was in: ${(error as Error).message}`];
  }
  return finish(...ending);

  /** Looks until a verdict or maxDuration; throws on any error (the caller rolls back). */
  async function judgeLoop(): Promise<[RolloutDecision, string]> {
    // Growth is counted from here: the first scrape after the canary went in.
    for (const s of series.values()) s.restart();
    await scrapeAll();
    const history: Record<string, Snapshot[]> = {};
    const started = performance.now();
    let warnedSlow = false;
    for (;;) {
      await abortableSleep(sleep, plan.intervalMs, options.signal);
      await scrapeAll();
      if (options.signal?.aborted) throw new RolloutError(abortReason(options.signal));
      const elapsedMs = performance.now() - started;
      const minutes = elapsedMs / 60_000;
      const canaryTotals = sumTotals(canary.map((t) => series.get(t)!.totals()));
      const baselineTotals = sumTotals(baseline.map((t) => series.get(t)!.totals()));
      for (const signal of observedSignals(plan)) {
        const key = signalKey(signal);
        (history[key] ??= []).push({
          canary: signalCounts(signal, canaryTotals, minutes * canary.length, badEvents),
          baseline: signalCounts(signal, baselineTotals, minutes * baseline.length, badEvents),
          atMinute: minutes,
        });
      }
      const verdict = judgeFn(history as Observations, judgeConfig(plan));
      const look: Look = { elapsedMs, verdict, canary: canaryTotals, baseline: baselineTotals };
      result.looks.push(look);
      options.onLook?.(look);
      if (verdict.decision === "ROLLBACK") return ["ROLLBACK", verdict.reasons[0] ?? "harm proven"];
      if (verdict.decision === "PROMOTE" && elapsedMs >= plan.minDurationMs)
        return ["PROMOTE", verdict.reasons[0] ?? "every metric inside its margin"];
      const leftMs = result.maxDurationMs - elapsedMs;
      if (!warnedSlow && verdict.remaining && Number.isFinite(verdict.remaining.exposure) && elapsedMs > 0) {
        // "Need about N more requests" at the traffic seen so far, against the time left.
        const perMs = (canaryTotals.requests + baselineTotals.requests) / elapsedMs;
        const needMs = perMs > 0 ? verdict.remaining.exposure / perMs : Infinity;
        if (needMs > leftMs && leftMs > 0) {
          warnedSlow = true;
          result.warnings.push(
            `at ${formatDuration(elapsedMs)}: the judge needs about ${formatDuration(needMs)} more at this traffic, ` +
              `but maxDuration ends in ${formatDuration(leftMs)}`,
          );
        }
      }
      if (elapsedMs >= result.maxDurationMs) {
        return [
          "INCONCLUSIVE",
          `no verdict within maxDuration (${formatDuration(result.maxDurationMs)}); ` +
            `${dryRun ? "dry run, canary untouched" : plan.onTimeout === "rollback" ? "canary rolled back as onTimeout says" : "canary held as onTimeout says"}: ` +
            `${verdict.reasons[0] ?? "not enough evidence"}`,
        ];
      }
    }
  }
}
