/**
 * The judge bench: issue 13's table, rerun. Every cell is a seeded simulation (tools/simulate) of a
 * 60-minute canary at 3000 requests a minute per arm, baseline 5xx 0.3%, one look a minute; every
 * judge column sees the same runs. `judgeBenchMarkdown()` returns the Markdown; run this file
 * directly to print it:
 *
 *   node --import tsx tools/bench/judge.ts [runs]      (or `npm run bench -- judge`)
 *
 * Columns:
 * - "v1": the judge before issue 13 (every bad event independent evidence; no dispersion, no cap).
 * - "v2": the judge now (dispersion-discounted evidence, capped per one-minute block; judge.ts).
 * - "look betting": the alternative measured for the design choice, a betting e-process on each
 *   look's canary share of bad events (valid for any dispersion, but a look can at most multiply the
 *   evidence by 1/θ₀, so it cannot act within two looks).
 * - "Flagger": canary-only success-rate check ≥ 99%, rollback at 5 failed checks, promote after 10.
 *
 * The judges are configured like the default rollout plan's signals (src/rollout/plan.ts): 5xx with
 * allowed ratio 1.25× and floor 0.2%, slow>50ms with 1.25× and floor 1%, and the tail band
 * slow>100ms with 1.5× and floor 0.1%; α = 0.05 for the one signal judged. The speed rows use the
 * v1 bench's setting too (ratio 1.10×, no floor), which point 2 of the issue is stated in.
 */
import { pathToFileURL } from "node:url";
import { flaggerJudge, type FlaggerConfig } from "../compare/flagger.ts";
import { decide, type Decision, type JudgeConfig, type MetricConfig } from "../../src/judge/judge.ts";
import { minutesToPromote } from "../../src/judge/horizon.ts";
import { increments, type Observations } from "../../src/observe/observations.ts";
import { AUTO_DURATION_FACTOR } from "../../src/rollout/rollout.ts";
import {
  decisionRate,
  medianMinutes,
  simulate,
  type JudgeFn,
  type SimMetric,
  type SimulationResult,
} from "../simulate/canary-traffic.ts";
import {
  BASELINE_5XX_RATE,
  bursts,
  cvForDispersion,
  fiveXxMetric,
  HORIZON_MINUTES,
  latencyMetric,
  PER_ARM_RPM,
  perArm,
} from "../simulate/scenarios.ts";

export { BASELINE_5XX_RATE, HORIZON_MINUTES };

/** The default plan's signals as the judge sees them (minimum 500 canary requests). */
export const PLAN_5XX: MetricConfig = { name: "5xx", maxRatio: 1.25, floorRate: 0.002, minExposure: 500 };
export const PLAN_SLOW_50: MetricConfig = {
  name: "slow>50ms",
  maxRatio: 1.25,
  floorRate: 0.01,
  minExposure: 500,
};
export const PLAN_SLOW_100: MetricConfig = {
  name: "slow>100ms",
  maxRatio: 1.5,
  floorRate: 0.001,
  minExposure: 500,
};
/** The v1 bench's setting: ratio alone, allowed 1.10×. */
export const BENCH_5XX: MetricConfig = { name: "5xx", maxRatio: 1.1 };

const FLAGGER: FlaggerConfig = {
  checks: [{ metric: "5xx", measure: "success-rate", thresholdRange: { min: 99 } }],
  threshold: 5,
  iterations: 10,
};

/** The judge before issue 13: the same tests with every bad event counted as independent evidence. */
export function v1Config(metric: MetricConfig): JudgeConfig {
  return { metrics: [{ ...metric, dispersion: 1, learnDispersion: false }], blockCapShare: Infinity };
}

export function v2Config(metric: MetricConfig): JudgeConfig {
  return { metrics: [metric] };
}

const BETS = [0.1, 0.25, 0.5, 0.75, 0.95];

/**
 * Look-level betting on the canary's share X of each look's bad events: for H0 "ratio ≤ R", with
 * θ₀ = ρR / (ρR + 1 − ρ), the mixture over bets λ of Π (1 + λ(X − θ₀)/θ₀) is a test martingale
 * whenever E[X | past, events] ≤ θ₀, whatever the dispersion. The mirror bet serves "ratio ≥ R".
 */
export function lookBettingJudge(metric: MetricConfig, alpha = 0.05): JudgeFn {
  const ratio = metric.maxRatio ?? 1.1;
  return (observations: Observations): Decision => {
    const harm = BETS.map(() => 0);
    const safe = BETS.map(() => 0);
    let canaryExposure = 0;
    for (const step of increments(metric.name, observations[metric.name] ?? [])) {
      canaryExposure += step.canary.exposure;
      const events = step.canary.bad + step.baseline.bad;
      if (events === 0 || step.canary.exposure === 0 || step.baseline.exposure === 0) continue;
      const share = step.canary.exposure / (step.canary.exposure + step.baseline.exposure);
      const theta0 = (share * ratio) / (share * ratio + 1 - share);
      const x = step.canary.bad / events;
      BETS.forEach((bet, k) => {
        harm[k]! += Math.log(1 + (bet / theta0) * (x - theta0));
        safe[k]! += Math.log(1 - (bet / (1 - theta0)) * (x - theta0));
      });
    }
    const mixture = (logs: number[]) => Math.log(logs.reduce((sum, v) => sum + Math.exp(v), 0) / logs.length);
    if (mixture(harm) >= Math.log(1 / alpha)) return "ROLLBACK";
    if (mixture(safe) >= Math.log(1 / alpha) && canaryExposure >= (metric.minExposure ?? 0)) return "PROMOTE";
    return "CONTINUE";
  };
}

function judgesFor(metric: MetricConfig, withFlagger: boolean): Record<string, JudgeFn> {
  const v1 = v1Config(metric);
  const v2 = v2Config(metric);
  const judges: Record<string, JudgeFn> = {
    v1: (observations) => decide(observations, v1),
    v2: (observations) => decide(observations, v2),
    "look betting": lookBettingJudge(metric),
  };
  if (withFlagger) judges.Flagger = (observations) => flaggerJudge(observations, FLAGGER).decision;
  return judges;
}

const COLUMNS = ["v1", "v2", "look betting", "Flagger"] as const;

type Measure = (result: SimulationResult) => string;

interface Cell {
  label: string;
  metric: SimMetric;
  config: MetricConfig;
  measure: string;
  cell: Measure;
  /** Simulated minutes (default HORIZON_MINUTES). */
  minutes?: number;
}

/**
 * The rollout's default maxDuration for the default plan's 5xx signal at this traffic:
 * AUTO_DURATION_FACTOR × the projected minutes to PROMOTE an identical canary (src/rollout/rollout.ts).
 */
export function autoMaxDurationMinutes(): number {
  const projected = minutesToPromote(v2Config(PLAN_5XX), {
    canaryExposurePerMinute: PER_ARM_RPM,
    baselineExposurePerMinute: PER_ARM_RPM,
    rates: { "5xx": BASELINE_5XX_RATE },
  });
  return Math.ceil(AUTO_DURATION_FACTOR * projected);
}

function percent(value: number): string {
  return `${(100 * value).toFixed(1)}%`;
}

const falseRollback: Measure = (r) => percent(decisionRate(r, "ROLLBACK"));
const promoted: Measure = (r) => percent(decisionRate(r, "PROMOTE"));
const promotedWithin10: Measure = (r) =>
  `${percent(decisionRate(r, "PROMOTE", 10))} (median ${medianMinutes(r, "PROMOTE") ?? "–"} min)`;
const within =
  (minutes: number): Measure =>
  (r) =>
    `${percent(decisionRate(r, "ROLLBACK", minutes))} (median ${medianMinutes(r, "ROLLBACK") ?? "–"} min)`;

/** The cells of issue 13's table, in its order, then the detection figures of its point 2. */
export function issueCells(): Cell[] {
  const cv3 = cvForDispersion(3);
  const cv10 = cvForDispersion(10);
  const both = ["canary", "baseline"] as const;
  return [
    {
      label: "binomial",
      metric: fiveXxMetric(1),
      config: PLAN_5XX,
      measure: "false rollback",
      cell: falseRollback,
    },
    ...[0.5, 1, 2].map((cv) => ({
      label: `bursts in the canary arm, per-minute CV ${cv.toFixed(1)}`,
      metric: fiveXxMetric(1, bursts(cv)),
      config: PLAN_5XX,
      measure: "false rollback",
      cell: falseRollback,
    })),
    {
      label: "bursts in both arms, CV 1.0 (D ≈ 10)",
      metric: fiveXxMetric(1, bursts(1, both)),
      config: PLAN_5XX,
      measure: "false rollback",
      cell: falseRollback,
    },
    {
      label: "errors in clusters of 5",
      metric: fiveXxMetric(1, { clusterSize: 5 }),
      config: PLAN_5XX,
      measure: "false rollback",
      cell: falseRollback,
    },
    {
      label: "one burst hitting both arms, CV 1.0",
      metric: fiveXxMetric(1, { sharedBursts: { cv: 1 } }),
      config: PLAN_5XX,
      measure: "false rollback",
      cell: falseRollback,
    },
    {
      label: "mixed: canary bursts CV 0.5, shared CV 1.0, clusters of 3",
      metric: fiveXxMetric(1, {
        armBursts: { cv: 0.5, arms: ["canary"] },
        sharedBursts: { cv: 1 },
        clusterSize: 3,
      }),
      config: PLAN_5XX,
      measure: "false rollback",
      cell: falseRollback,
    },
    ...(["canary", "baseline"] as const).map((arm) => ({
      label: `canary with 2× the errors, bursts in the ${arm} arm CV 1.0`,
      metric: fiveXxMetric(2, bursts(1, [arm])),
      config: PLAN_5XX,
      measure: "promoted",
      cell: promoted,
    })),
    {
      label: "canary with 2× the errors, bursts in both arms CV 2.0 (D ≈ 37)",
      metric: fiveXxMetric(2, bursts(2, both)),
      config: PLAN_5XX,
      measure: "promoted",
      cell: promoted,
    },
    {
      label: "latency band slow>50ms, 10% per-pod jitter in median latency",
      metric: latencyMetric(50, { podJitter: 0.1 }),
      config: PLAN_SLOW_50,
      measure: "false rollback",
      cell: falseRollback,
    },
    {
      label: "p99 64 → 72 ms (0.5% of requests +150 ms), band slow>50ms (floor 1%)",
      metric: latencyMetric(50, { podJitter: 0.1, tail: true }),
      config: PLAN_SLOW_50,
      measure: "promoted",
      cell: promoted,
    },
    {
      label: "p99 64 → 72 ms, band slow>200ms with 1% floor",
      metric: latencyMetric(200, { podJitter: 0.1, tail: true }),
      config: { name: "slow>200ms", maxRatio: 1.25, floorRate: 0.01, minExposure: 500 },
      measure: "promoted",
      cell: promoted,
    },
    {
      label: "p99 64 → 72 ms, tail band slow>100ms (1.5×, floor 0.1%)",
      metric: latencyMetric(100, { podJitter: 0.1, tail: true }),
      config: PLAN_SLOW_100,
      measure: "promoted (rolled back in the rest)",
      cell: (r) => `${promoted(r)} (rollback ${percent(decisionRate(r, "ROLLBACK"))})`,
    },
    {
      label: "identical canary",
      metric: fiveXxMetric(1),
      config: PLAN_5XX,
      measure: "PROMOTE within 10 min",
      cell: promotedWithin10,
    },
    {
      label: `identical canary, 2 h horizon`,
      metric: fiveXxMetric(1),
      config: PLAN_5XX,
      measure: `PROMOTE within the auto maxDuration (${autoMaxDurationMinutes()} min)`,
      cell: (r) => percent(decisionRate(r, "PROMOTE", autoMaxDurationMinutes())),
      minutes: 120,
    },
    {
      label: "binomial, 5× (1.5%), ratio 1.10×",
      metric: fiveXxMetric(5),
      config: BENCH_5XX,
      measure: "rolled back ≤ 2 min",
      cell: within(2),
    },
    {
      label: "binomial, 2× (0.6%), ratio 1.10×",
      metric: fiveXxMetric(2),
      config: BENCH_5XX,
      measure: "rolled back ≤ 10 min",
      cell: within(10),
    },
    {
      label: "binomial, 5×, default plan",
      metric: fiveXxMetric(5),
      config: PLAN_5XX,
      measure: "rolled back ≤ 2 min",
      cell: within(2),
    },
    {
      label: "binomial, 2×, default plan",
      metric: fiveXxMetric(2),
      config: PLAN_5XX,
      measure: "rolled back ≤ 10 min",
      cell: within(10),
    },
    ...[
      [3, cv3],
      [10, cv10],
    ].flatMap(([dispersion, cv]) =>
      [5, 2].map((multiplier) => ({
        label: `D ≈ ${dispersion} (bursts in both arms, CV ${cv!.toFixed(2)}), ${multiplier}×, ratio 1.10×`,
        metric: fiveXxMetric(multiplier, bursts(cv!, both)),
        config: BENCH_5XX,
        measure: multiplier === 5 ? "rolled back ≤ 2 min" : "rolled back ≤ 10 min",
        cell: within(multiplier === 5 ? 2 : 10),
      })),
    ),
  ];
}

export interface JudgeBenchOptions {
  /** Runs per cell (default 500). */
  runs?: number;
  seed?: number;
}

/** Runs every cell and returns the Markdown table. */
export function judgeBenchMarkdown(options: JudgeBenchOptions = {}): string {
  const runs = options.runs ?? 500;
  const seed = options.seed ?? 20240613;
  const lines = [
    `| Traffic (canary identical unless said) | Measure | ${COLUMNS.join(" | ")} |`,
    `|---|---|${COLUMNS.map(() => "---:").join("|")}|`,
  ];
  issueCells().forEach((cell, index) => {
    const withFlagger = cell.config.name === "5xx";
    const results = simulate(
      perArm([cell.metric], cell.minutes ?? HORIZON_MINUTES),
      { runs, seed: seed + index },
      judgesFor(cell.config, withFlagger),
    );
    const values = COLUMNS.map((column) => (results[column] ? cell.cell(results[column]) : "–"));
    lines.push(`| ${cell.label} | ${cell.measure} | ${values.join(" | ")} |`);
  });
  return [
    `Baseline 5xx ${100 * BASELINE_5XX_RATE}%, 3000 requests/min per arm, one look a minute, ` +
      `${HORIZON_MINUTES}-minute horizon, ${runs} seeded runs per cell, α = 0.05 for the signal judged. ` +
      "Default plan: 5xx ratio 1.25× with floor 0.2%; slow>50ms 1.25× with floor 1%; slow>100ms 1.5× with floor 0.1%.",
    "",
    ...lines,
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs = process.argv[2] ? Number(process.argv[2]) : undefined;
  console.log(judgeBenchMarkdown(runs ? { runs } : {}));
}
