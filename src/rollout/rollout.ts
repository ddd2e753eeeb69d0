import type { TrustPolicy } from "../sign/policy.ts";
import { appendAuditRecord } from "../audit/log.ts";
import { LATENCY_BUCKETS_MS } from "../envoy/bootstrap.ts";
import { injectFleet, rollbackFleet, type AuditContext, type FleetReport } from "../inject/fleet.ts";
import { adminOf, selectTargets, type Target } from "../inject/target.ts";
import { EnvoySeries, scrapeEnvoy, sumTotals, type ArmTotals } from "../observe/collect.ts";
import { judge, type JudgeConfig, type Verdict } from "../judge/judge.ts";
import type { Observations, Snapshot } from "../observe/observations.ts";
import { signalKey, type RolloutPlan, type SignalPlan } from "./plan.ts";

/** The signed filter a rollout injects into the canary, then into the rest on PROMOTE. */
export interface RolloutArtifact {
  module: Uint8Array;
  envelope: unknown;
  configuration: Record<string, unknown>;
  policy: TrustPolicy;
}

export interface RolloutOptions {
  plan: RolloutPlan;
  /** Every target of the targets file; the plan's selectors pick the arms. */
  targets: Target[];
  artifact: RolloutArtifact;
  audit: AuditContext;
  /** Judge and report without injecting, promoting or rolling back (the canary must already run). */
  dryRun?: boolean;
  /** Called with each look's verdict as it is made. */
  onLook?: (look: Look) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** One interval's judgement, with the arms' totals it was made on. */
export interface Look {
  elapsedMs: number;
  verdict: Verdict;
  canary: ArmTotals;
  baseline: ArmTotals;
}

export interface RolloutResult {
  decision: "PROMOTE" | "ROLLBACK";
  /** Headline reason, e.g. the metric line that proved harm. */
  reason: string;
  dryRun: boolean;
  canaryTargets: string[];
  baselineTargets: string[];
  looks: Look[];
  actions: FleetReport[];
  startedAt: string;
  endedAt: string;
}

export class RolloutError extends Error {}

function judgeConfig(plan: RolloutPlan): JudgeConfig {
  return {
    alpha: plan.alpha,
    minExposure: plan.minRequests,
    metrics: plan.signals.map((signal) => ({
      name: signalKey(signal),
      maxRatio: signal.maxRatio,
      floorRate: signal.floorRate,
      minExposure: signal.name === "vm_failures" ? 0 : signal.minExposure,
      unit: signal.name === "vm_failures" ? "Envoy-minutes" : "requests",
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

function rejections(totals: ArmTotals): number {
  let sum = 0;
  for (const [name, count] of Object.entries(totals.filterCounters))
    if (name.endsWith("graft.rejected_total")) sum += count;
  return sum;
}

/** Bad events and exposure of one signal for one arm. */
function signalCounts(
  signal: SignalPlan["name"],
  totals: ArmTotals,
  envoyMinutes: number,
  thresholdMs?: number,
): { bad: number; exposure: number } {
  switch (signal) {
    case "5xx":
      return { bad: totals.rq5xx, exposure: totals.requests };
    case "4xx":
      return { bad: totals.rq4xx, exposure: totals.requests };
    case "slow":
      // Histograms trail the counters by up to one stats flush; never report more slow than seen.
      return {
        bad: Math.min(totals.slowerThan.get(thresholdMs!) ?? 0, totals.requests),
        exposure: totals.requests,
      };
    case "filter_rejections":
      return { bad: Math.min(rejections(totals), totals.requests), exposure: totals.requests };
    case "vm_failures":
      return { bad: totals.vmFailures + totals.resets, exposure: envoyMinutes };
  }
}

/**
 * Runs a canary: injects the signed filter into the canary arm, judges canary against baseline
 * every interval, then promotes it to the rest or rolls the canary back — all in the audit log.
 * Harm can be proven at any look; PROMOTE waits for minDuration; no verdict by maxDuration rolls back.
 */
export async function runRollout(options: RolloutOptions): Promise<RolloutResult> {
  const { plan, audit } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (const signal of plan.signals) {
    if (signal.name === "slow" && !LATENCY_BUCKETS_MS.includes(signal.thresholdMs!)) {
      throw new RolloutError(
        `signal slow: thresholdMs ${signal.thresholdMs} is not a latency bucket bound; use one of ${LATENCY_BUCKETS_MS.join(", ")}`,
      );
    }
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

  const startedAt = new Date();
  const result: RolloutResult = {
    decision: "ROLLBACK",
    reason: "",
    dryRun: options.dryRun ?? false,
    canaryTargets: canary.map((t) => t.name),
    baselineTargets: baseline.map((t) => t.name),
    looks: [],
    actions: [],
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

  await record("rollout-start", "ok", {
    canary: result.canaryTargets,
    baseline: result.baselineTargets,
    plan: { ...plan, signals: plan.signals.map((s) => s.name) },
  });
  const finish = async (decision: "PROMOTE" | "ROLLBACK", reason: string): Promise<RolloutResult> => {
    result.decision = decision;
    result.reason = reason;
    if (!result.dryRun) {
      const action =
        decision === "PROMOTE"
          ? await injectFleet({ ...audit, ...options.artifact, targets: promoteTo, slot: plan.slot })
          : await rollbackFleet(canary, plan.slot, audit);
      result.actions.push(action);
    }
    result.endedAt = new Date().toISOString();
    const last = result.looks.at(-1)?.verdict;
    await record("rollout-decision", "ok", { decision, lines: last?.lines ?? [] }, reason);
    return result;
  };

  if (!result.dryRun) {
    try {
      const injected = await injectFleet({ ...audit, ...options.artifact, targets: canary, slot: plan.slot });
      result.actions.push(injected);
      if (injected.failures.length > 0) {
        return finish(
          "ROLLBACK",
          `canary injection failed: ${injected.failures.map((f) => `${f.target}: ${f.error}`).join("; ")}`,
        );
      }
    } catch (error) {
      result.endedAt = new Date().toISOString();
      await record("rollout-decision", "failed", { decision: "REFUSED" }, (error as Error).message);
      throw error;
    }
  }

  const series = new Map<Target, EnvoySeries>([...canary, ...baseline].map((t) => [t, new EnvoySeries()]));
  const scrapeAll = async () => {
    await Promise.all(
      [...series].map(async ([target, s]) => s.push(await scrapeEnvoy(adminOf(target), plan.listener))),
    );
  };
  await scrapeAll();
  const history: Record<string, Snapshot[]> = {};
  const started = performance.now();
  for (;;) {
    await sleep(plan.intervalMs);
    await scrapeAll();
    const elapsedMs = performance.now() - started;
    const minutes = elapsedMs / 60_000;
    const canaryTotals = sumTotals(canary.map((t) => series.get(t)!.totals()));
    const baselineTotals = sumTotals(baseline.map((t) => series.get(t)!.totals()));
    // Every judged signal, the signals burn-rate guards watch, and VM failures for the crash-loop guard.
    const observed: SignalPlan[] = [
      ...plan.signals,
      ...plan.burnRate.map((guard) => ({ name: guard.signal })),
      { name: "vm_failures" },
    ];
    for (const signal of observed) {
      const key = signalKey(signal);
      if (history[key]?.length === result.looks.length + 1) continue; // already recorded this look
      (history[key] ??= []).push({
        canary: signalCounts(signal.name, canaryTotals, minutes * canary.length, signal.thresholdMs),
        baseline: signalCounts(signal.name, baselineTotals, minutes * baseline.length, signal.thresholdMs),
        atMinute: minutes,
      });
    }
    const verdict = judge(history as Observations, judgeConfig(plan));
    const look: Look = { elapsedMs, verdict, canary: canaryTotals, baseline: baselineTotals };
    result.looks.push(look);
    options.onLook?.(look);
    if (verdict.decision === "ROLLBACK") return finish("ROLLBACK", verdict.reasons[0] ?? "harm proven");
    if (verdict.decision === "PROMOTE" && elapsedMs >= plan.minDurationMs)
      return finish("PROMOTE", verdict.reasons[0] ?? "every metric inside its margin");
    if (elapsedMs >= plan.maxDurationMs) {
      return finish(
        "ROLLBACK",
        `no verdict within maxDuration (${Math.round(plan.maxDurationMs / 1000)} s): ${verdict.reasons[0] ?? "not enough evidence"}`,
      );
    }
  }
}
