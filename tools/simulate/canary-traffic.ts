/**
 * Monte Carlo harness for canary judges. A scenario fixes the traffic, the split between the arms
 * and each metric's true bad-event rate per arm; a run draws per-minute counts from a seeded PRNG
 * (same seed, same counts, on any machine) and asks each judge once per simulated minute, on the
 * cumulative snapshots so far, until it says PROMOTE or ROLLBACK or the scenario ends. All judges in
 * one call see the same runs, so their figures compare like with like.
 *
 * Counts: per-request metrics are Binomial(requests, rate); metrics with their own exposure (e.g.
 * pod-minutes) are Poisson(exposure × rate). Requests per arm are exact (share × rpm, rounded) or,
 * with traffic "poisson", Poisson around that.
 */
import type { Decision } from "../../src/judge/judge.ts";
import type { Observations, Snapshot } from "../../src/observe/observations.ts";

/** Uniform numbers in [0, 1). */
export type Rng = () => number;

/** splitmix32: spreads a seed (or a seed + index) over 32 bits. */
function splitmix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** xoshiro128** seeded through splitmix32; deterministic for a given 32-bit seed. */
export function seededRng(seed: number): Rng {
  let a = splitmix32(seed);
  let b = splitmix32(a);
  let c = splitmix32(b);
  let d = splitmix32(c);
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Inversion sampling stays exact and fast while the mean is at most this; larger draws are split. */
const INVERSION_MEAN_LIMIT = 200;

/** An exact Binomial(n, p) draw (inversion; large n·p split into independent parts). */
export function binomial(rng: Rng, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  if (n * p > INVERSION_MEAN_LIMIT) {
    const half = Math.floor(n / 2);
    return binomial(rng, half, p) + binomial(rng, n - half, p);
  }
  const odds = p / (1 - p);
  let probability = Math.exp(n * Math.log1p(-p));
  let cumulative = probability;
  const u = rng();
  let k = 0;
  while (u > cumulative && k < n) {
    probability *= (odds * (n - k)) / (k + 1);
    k++;
    cumulative += probability;
  }
  return k;
}

/** An exact Poisson(mean) draw (inversion; large means split into independent parts). */
export function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > INVERSION_MEAN_LIMIT) return poisson(rng, mean / 2) + poisson(rng, mean / 2);
  let probability = Math.exp(-mean);
  let cumulative = probability;
  const u = rng();
  let k = 0;
  while (u > cumulative && probability > 0) {
    k++;
    probability *= mean / k;
    cumulative += probability;
  }
  return k;
}

export interface SimMetric {
  name: string;
  /** True bad-event rate: per request, or per unit of `exposurePerMinute`. */
  canaryRate: number;
  baselineRate: number;
  /** Exposure per minute per arm (e.g. pod-minutes) for metrics not counted per request; counts are then Poisson. */
  exposurePerMinute?: { canary: number; baseline: number };
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

/** Cumulative snapshots, one per simulated minute, for every metric of the scenario. */
export function* simulateSnapshots(scenario: Scenario, seed: number): Generator<Record<string, Snapshot>> {
  const rng = seededRng(seed);
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
    const snapshot: Record<string, Snapshot> = {};
    for (const metric of scenario.metrics) {
      const before = totals.get(metric.name) as Snapshot;
      let canary: { bad: number; exposure: number };
      let baseline: { bad: number; exposure: number };
      if (metric.exposurePerMinute) {
        const { canary: canaryExposure, baseline: baselineExposure } = metric.exposurePerMinute;
        canary = { bad: poisson(rng, canaryExposure * metric.canaryRate), exposure: canaryExposure };
        baseline = { bad: poisson(rng, baselineExposure * metric.baselineRate), exposure: baselineExposure };
      } else {
        canary = { bad: binomial(rng, canaryRequests, metric.canaryRate), exposure: canaryRequests };
        baseline = { bad: binomial(rng, baselineRequests, metric.baselineRate), exposure: baselineRequests };
      }
      const after: Snapshot = {
        canary: { bad: before.canary.bad + canary.bad, exposure: before.canary.exposure + canary.exposure },
        baseline: {
          bad: before.baseline.bad + baseline.bad,
          exposure: before.baseline.exposure + baseline.exposure,
        },
        atMinute: minute,
      };
      totals.set(metric.name, after);
      snapshot[metric.name] = after;
    }
    yield snapshot;
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
  let minute = 0;
  for (const snapshot of simulateSnapshots(scenario, seed)) {
    minute++;
    for (const [name, value] of Object.entries(snapshot)) series[name]?.push(value);
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
