/**
 * Monte Carlo harness for canary judges. A scenario fixes the traffic, the split between the arms
 * and each metric's true bad-event rate per arm; a run draws per-minute counts from a seeded PRNG
 * (same seed, same counts, on any machine) and asks each judge once per simulated minute, on the
 * cumulative snapshots so far, until it says PROMOTE or ROLLBACK or the scenario ends. All judges in
 * one call see the same runs, so their figures compare like with like.
 *
 * Counts: per-request metrics are Binomial(requests, rate), or bursty, clustered or latency-band
 * counts from traffic-models.ts; metrics with their own exposure (e.g. pod-minutes) are
 * Poisson(exposure × rate). Requests per arm are exact (share × rpm, rounded) or, with traffic
 * "poisson", Poisson around that. A minute can be cut into several looks (looksPerMinute).
 */
import type { Decision } from "../../src/judge/judge.ts";
import type { ArmCounts, Observations, Snapshot } from "../../src/observe/observations.ts";
import { binomial, poisson, seededRng, splitmix32, type Rng } from "./random.ts";
import { burstFactor, noisyCount, slowCount, type CountNoise, type LatencyBand } from "./traffic-models.ts";

export { binomial, poisson, seededRng } from "./random.ts";
export type { Rng } from "./random.ts";

export interface SimMetric {
  name: string;
  /** True bad-event rate: per request, or per unit of `exposurePerMinute`. Unused for latency bands. */
  canaryRate: number;
  baselineRate: number;
  /** Exposure per minute per arm (e.g. pod-minutes) for metrics not counted per request; counts are then Poisson. */
  exposurePerMinute?: { canary: number; baseline: number };
  /** How the per-minute counts depart from independent requests (default: they do not). */
  noise?: CountNoise;
  /** A latency band: bad events are requests slower than its edge, drawn from a latency model. */
  latency?: LatencyBand;
}

/** From minute `fromMinute` on (1-based), the canary gets `share` of the traffic. */
export interface WeightStep {
  fromMinute: number;
  share: number;
}

export interface Scenario {
  /** Total requests per minute to the service. */
  requestsPerMinute: number;
  /** The canary's share of the requests: fixed, or stepped like a canary weight schedule. */
  canaryShare: number | readonly WeightStep[];
  /** The baseline's share; default: everything the canary does not get (the rest of the fleet). */
  baselineShare?: number;
  minutes: number;
  metrics: readonly SimMetric[];
  traffic?: "fixed" | "poisson";
  /**
   * Looks per simulated minute (default 1). A minute's counts (and its bursts) are drawn first, then
   * spread over its looks, so faster looks see the same bursts cut into pieces.
   */
  looksPerMinute?: number;
}

/** Asks for a decision on the cumulative observations so far. */
export type JudgeFn = (observations: Observations) => Decision;

/** What one judge did in one run: its first non-CONTINUE decision and at which minute (1-based). */
export interface RunOutcome {
  decision: Decision;
  minute: number | undefined;
}

function shareAt(scenario: Scenario, minute: number): number {
  if (typeof scenario.canaryShare === "number") return scenario.canaryShare;
  let share = 0;
  for (const step of scenario.canaryShare) if (step.fromMinute <= minute) share = step.share;
  return share;
}

/** The per-run seed: independent streams for runs 0, 1, 2, … of one base seed. */
export function runSeed(seed: number, run: number): number {
  return splitmix32((seed ^ Math.imul(run + 1, 0x27d4eb2d)) >>> 0);
}

type MinuteCounts = { canary: ArmCounts; baseline: ArmCounts };

/** One minute of one metric for both arms. */
function drawMinute(
  rng: Rng,
  metric: SimMetric,
  canaryRequests: number,
  baselineRequests: number,
): MinuteCounts {
  if (metric.exposurePerMinute) {
    const { canary: canaryExposure, baseline: baselineExposure } = metric.exposurePerMinute;
    return {
      canary: { bad: poisson(rng, canaryExposure * metric.canaryRate), exposure: canaryExposure },
      baseline: { bad: poisson(rng, baselineExposure * metric.baselineRate), exposure: baselineExposure },
    };
  }
  if (metric.latency) {
    return {
      canary: { bad: slowCount(rng, canaryRequests, metric.latency, "canary"), exposure: canaryRequests },
      baseline: {
        bad: slowCount(rng, baselineRequests, metric.latency, "baseline"),
        exposure: baselineRequests,
      },
    };
  }
  const noise = metric.noise ?? {};
  const shared = burstFactor(rng, noise.sharedBursts?.cv ?? 0);
  const armFactor = (arm: "canary" | "baseline") =>
    noise.armBursts?.arms.includes(arm) ? burstFactor(rng, noise.armBursts.cv) : 1;
  const canaryFactor = shared * armFactor("canary");
  const baselineFactor = shared * armFactor("baseline");
  return {
    canary: {
      bad: noisyCount(rng, canaryRequests, metric.canaryRate, canaryFactor, noise.clusterSize),
      exposure: canaryRequests,
    },
    baseline: {
      bad: noisyCount(rng, baselineRequests, metric.baselineRate, baselineFactor, noise.clusterSize),
      exposure: baselineRequests,
    },
  };
}

/** Spreads one minute's counts over `looks` looks: exposure evenly, bad events at random among them. */
function splitMinute(rng: Rng, counts: ArmCounts, looks: number): ArmCounts[] {
  const parts: ArmCounts[] = [];
  let bad = counts.bad;
  let exposure = counts.exposure;
  for (let look = 0; look < looks; look++) {
    const left = looks - look;
    const lookExposure = left === 1 ? exposure : Math.round(exposure / left);
    const lookBad = left === 1 ? bad : Math.min(lookExposure, binomial(rng, bad, 1 / left));
    parts.push({ bad: lookBad, exposure: lookExposure });
    bad -= lookBad;
    exposure -= lookExposure;
  }
  return parts;
}

/** Cumulative snapshots, one per look, for every metric of the scenario. */
export function* simulateSnapshots(scenario: Scenario, seed: number): Generator<Record<string, Snapshot>> {
  const rng = seededRng(seed);
  const looks = Math.max(1, Math.round(scenario.looksPerMinute ?? 1));
  const totals = new Map<string, Snapshot>();
  for (const metric of scenario.metrics) {
    totals.set(metric.name, { canary: { bad: 0, exposure: 0 }, baseline: { bad: 0, exposure: 0 } });
  }
  for (let minute = 1; minute <= scenario.minutes; minute++) {
    const canaryShare = shareAt(scenario, minute);
    const baselineShare = scenario.baselineShare ?? 1 - canaryShare;
    const requests = (share: number): number => {
      const expected = scenario.requestsPerMinute * share;
      return scenario.traffic === "poisson" ? poisson(rng, expected) : Math.round(expected);
    };
    const canaryRequests = requests(canaryShare);
    const baselineRequests = requests(baselineShare);
    const parts = new Map<string, { canary: ArmCounts[]; baseline: ArmCounts[] }>();
    for (const metric of scenario.metrics) {
      const counts = drawMinute(rng, metric, canaryRequests, baselineRequests);
      parts.set(metric.name, {
        canary: splitMinute(rng, counts.canary, looks),
        baseline: splitMinute(rng, counts.baseline, looks),
      });
    }
    for (let look = 0; look < looks; look++) {
      const snapshot: Record<string, Snapshot> = {};
      for (const metric of scenario.metrics) {
        const before = totals.get(metric.name) as Snapshot;
        const part = parts.get(metric.name)!;
        const canary = part.canary[look]!;
        const baseline = part.baseline[look]!;
        const after: Snapshot = {
          canary: { bad: before.canary.bad + canary.bad, exposure: before.canary.exposure + canary.exposure },
          baseline: {
            bad: before.baseline.bad + baseline.bad,
            exposure: before.baseline.exposure + baseline.exposure,
          },
          atMinute: minute - 1 + (look + 1) / looks,
        };
        totals.set(metric.name, after);
        snapshot[metric.name] = after;
      }
      yield snapshot;
    }
  }
}

/** One run: every judge looks once per minute at the same counts until it decides. */
export function runOnce(
  scenario: Scenario,
  seed: number,
  judges: Readonly<Record<string, JudgeFn>>,
): Record<string, RunOutcome> {
  const series: Record<string, Snapshot[]> = {};
  for (const metric of scenario.metrics) series[metric.name] = [];
  const outcomes: Record<string, RunOutcome> = {};
  const pending = new Set(Object.keys(judges));
  for (const name of pending) outcomes[name] = { decision: "CONTINUE", minute: undefined };
  for (const snapshot of simulateSnapshots(scenario, seed)) {
    let minute = 0;
    for (const [name, value] of Object.entries(snapshot)) {
      series[name]?.push(value);
      minute = Math.ceil((value.atMinute ?? 0) - 1e-9);
    }
    for (const name of [...pending]) {
      const decision = (judges[name] as JudgeFn)(series);
      if (decision !== "CONTINUE") {
        outcomes[name] = { decision, minute };
        pending.delete(name);
      }
    }
    if (pending.size === 0) break;
  }
  return outcomes;
}

/** One judge's outcomes over many runs. */
export interface SimulationResult {
  runs: number;
  outcomes: RunOutcome[];
}

export interface SimulationOptions {
  runs: number;
  seed: number;
}

/** Runs a scenario `runs` times with seeds derived from `seed`; every judge sees the same runs. */
export function simulate(
  scenario: Scenario,
  options: SimulationOptions,
  judges: Readonly<Record<string, JudgeFn>>,
): Record<string, SimulationResult> {
  const results: Record<string, SimulationResult> = {};
  for (const name of Object.keys(judges)) results[name] = { runs: options.runs, outcomes: [] };
  for (let run = 0; run < options.runs; run++) {
    const outcomes = runOnce(scenario, runSeed(options.seed, run), judges);
    for (const [name, outcome] of Object.entries(outcomes)) results[name]?.outcomes.push(outcome);
  }
  return results;
}

/** Share of runs that ended in `decision`, optionally by minute `withinMinutes`. */
export function decisionRate(result: SimulationResult, decision: Decision, withinMinutes = Infinity): number {
  const hits = result.outcomes.filter(
    (outcome) => outcome.decision === decision && (outcome.minute ?? Infinity) <= withinMinutes,
  ).length;
  return hits / result.runs;
}

/** Median minute of the runs that ended in `decision`; undefined when none did. */
export function medianMinutes(result: SimulationResult, decision: Decision): number | undefined {
  const minutes = result.outcomes
    .filter((outcome) => outcome.decision === decision && outcome.minute !== undefined)
    .map((outcome) => outcome.minute as number)
    .sort((a, b) => a - b);
  if (minutes.length === 0) return undefined;
  const middle = Math.floor(minutes.length / 2);
  return minutes.length % 2 === 1
    ? minutes[middle]
    : ((minutes[middle - 1] as number) + (minutes[middle] as number)) / 2;
}
