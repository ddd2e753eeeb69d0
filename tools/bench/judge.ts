/**
 * Side-by-side simulation of graft's judge and Flagger-style threshold checks on the same runs:
 * false rollbacks on A/A canaries, and how often and how fast a 2× and a 5× rise in 5xx is caught.
 * `judgeBenchMarkdown()` returns the Markdown table; run this file directly to print it:
 *
 *   node --import tsx tools/bench/judge.ts [runs]
 *
 * Setup (all rows): baseline 5xx rate 0.3%, one look per simulated minute, each judge runs until it
 * decides or HORIZON_MINUTES pass. graft judges 5xx alone (α = 0.05, allowed ratio 1.10×). The
 * Flagger columns are canary-only request-success-rate checks every minute, promoting after 10
 * passing checks: the docs-style setting (≥ 99%, rollback at 5 failed checks) and a tight one
 * (≥ 99.5%, rollback at the first failed check).
 */
import { pathToFileURL } from "node:url";
import { flaggerJudge, type FlaggerConfig } from "../compare/flagger.ts";
import { decide, type JudgeConfig } from "../../src/judge/judge.ts";
import {
  decisionRate,
  medianMinutes,
  simulate,
  type JudgeFn,
  type Scenario,
  type SimulationResult,
} from "../simulate/canary-traffic.ts";

export const BASELINE_5XX_RATE = 0.003;
export const HORIZON_MINUTES = 60;

export const GRAFT_CONFIG: JudgeConfig = { metrics: [{ name: "5xx", maxRatio: 1.1 }], alpha: 0.05 };

export const FLAGGER_CONFIGS: Readonly<Record<string, FlaggerConfig>> = {
  "Flagger ≥ 99%, threshold 5": {
    checks: [{ metric: "5xx", measure: "success-rate", thresholdRange: { min: 99 } }],
    threshold: 5,
    iterations: 10,
  },
  "Flagger ≥ 99.5%, threshold 1": {
    checks: [{ metric: "5xx", measure: "success-rate", thresholdRange: { min: 99.5 } }],
    threshold: 1,
    iterations: 10,
  },
};

/** How the service's traffic reaches the two arms. */
export interface TrafficSetting {
  label: string;
  requestsPerMinute: number;
  canaryShare: number;
  baselineShare?: number;
}

export const TRAFFIC_SETTINGS: readonly TrafficSetting[] = [
  { label: "3000 rpm per arm (canary + equal fresh baseline)", requestsPerMinute: 6000, canaryShare: 0.5 },
  { label: "3000 rpm total, 50/50", requestsPerMinute: 3000, canaryShare: 0.5 },
  { label: "3000 rpm total, canary 10%", requestsPerMinute: 3000, canaryShare: 0.1 },
];

export function fiveXxScenario(
  traffic: TrafficSetting,
  canaryMultiplier: number,
  minutes = HORIZON_MINUTES,
): Scenario {
  return {
    requestsPerMinute: traffic.requestsPerMinute,
    canaryShare: traffic.canaryShare,
    ...(traffic.baselineShare !== undefined ? { baselineShare: traffic.baselineShare } : {}),
    minutes,
    metrics: [
      { name: "5xx", canaryRate: BASELINE_5XX_RATE * canaryMultiplier, baselineRate: BASELINE_5XX_RATE },
    ],
  };
}

export function benchJudges(): Record<string, JudgeFn> {
  const judges: Record<string, JudgeFn> = {
    "graft judge": (observations) => decide(observations, GRAFT_CONFIG),
  };
  for (const [name, config] of Object.entries(FLAGGER_CONFIGS)) {
    judges[name] = (observations) => flaggerJudge(observations, config).decision;
  }
  return judges;
}

export interface JudgeBenchOptions {
  /** Runs per cell (default 1000). */
  runs?: number;
  seed?: number;
  traffic?: readonly TrafficSetting[];
}

function percent(value: number): string {
  return `${(100 * value).toFixed(1)}%`;
}

function minutes(value: number | undefined): string {
  return value === undefined ? "–" : `${value} min`;
}

/** Runs the simulations and returns the Markdown table (one block of rows per traffic setting). */
export function judgeBenchMarkdown(options: JudgeBenchOptions = {}): string {
  const runs = options.runs ?? 1000;
  const seed = options.seed ?? 20240601;
  const judges = benchJudges();
  const names = Object.keys(judges);
  const lines = [
    `| Traffic | Measure | ${names.join(" | ")} |`,
    `|---|---|${names.map(() => "---").join("|")}|`,
  ];
  for (const traffic of options.traffic ?? TRAFFIC_SETTINGS) {
    const aa = simulate(fiveXxScenario(traffic, 1), { runs, seed }, judges);
    const twice = simulate(fiveXxScenario(traffic, 2), { runs, seed: seed + 1 }, judges);
    const five = simulate(fiveXxScenario(traffic, 5), { runs, seed: seed + 2 }, judges);
    const row = (
      measure: string,
      cell: (result: SimulationResult) => string,
      results: Record<string, SimulationResult>,
    ) =>
      lines.push(
        `| ${traffic.label} | ${measure} | ${names.map((name) => cell(results[name] as SimulationResult)).join(" | ")} |`,
      );
    row(`A/A: false rollback (${HORIZON_MINUTES} min)`, (r) => percent(decisionRate(r, "ROLLBACK")), aa);
    row(
      "A/A: promoted (median min)",
      (r) => `${percent(decisionRate(r, "PROMOTE"))} (${minutes(medianMinutes(r, "PROMOTE"))})`,
      aa,
    );
    row("2×: rolled back ≤ 10 min", (r) => percent(decisionRate(r, "ROLLBACK", 10)), twice);
    row("2×: median time to rollback", (r) => minutes(medianMinutes(r, "ROLLBACK")), twice);
    row("2×: promoted anyway", (r) => percent(decisionRate(r, "PROMOTE")), twice);
    row("5×: rolled back ≤ 2 min", (r) => percent(decisionRate(r, "ROLLBACK", 2)), five);
    row("5×: median time to rollback", (r) => minutes(medianMinutes(r, "ROLLBACK")), five);
  }
  return [
    `Baseline 5xx 0.3%, ${runs} seeded runs per cell, one look per minute, ${HORIZON_MINUTES}-minute horizon. ` +
      "graft: 5xx only, α = 0.05, allowed ratio 1.10×. Flagger: canary success rate per minute, promote after 10 passes.",
    "",
    ...lines,
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs = process.argv[2] ? Number(process.argv[2]) : undefined;
  console.log(judgeBenchMarkdown(runs ? { runs } : {}));
}
