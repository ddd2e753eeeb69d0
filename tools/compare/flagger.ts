/**
 * A Flagger-style threshold judge, for side-by-side comparison with graft's judge (docs CANARY.md
 * §2.4). Every interval it computes each check's canary-only value over that interval (e.g. success
 * rate in percent) and compares it with a fixed range. Any failing check, or an interval without
 * canary traffic ("no values found"), adds one to a cumulative failedChecks counter that a pass does
 * not reset; ROLLBACK when failedChecks reaches `threshold`. PROMOTE after `iterations` passing
 * intervals. No baseline, no statistics.
 *
 * One difference from Flagger: Flagger rolls back on the tick after the counter reaches the
 * threshold; this judge says ROLLBACK at the interval that reaches it (one interval sooner).
 */
import type { Decision } from "../../src/judge/judge.ts";
import { increments, JudgeError, type Observations } from "../../src/observe/observations.ts";

/** What a check measures on the canary over one interval, in percent. */
export type FlaggerMeasure = "success-rate" | "error-rate";

export interface FlaggerCheck {
  /** The metric in the observations (only its canary arm is read). */
  metric: string;
  /** "success-rate" = 100 × (1 − bad/exposure), like Flagger's request-success-rate; "error-rate" = 100 × bad/exposure. */
  measure: FlaggerMeasure;
  thresholdRange: { min?: number; max?: number };
}

export interface FlaggerConfig {
  checks: FlaggerCheck[];
  /** Failed checks before rollback (Flagger `analysis.threshold`, default 1). */
  threshold?: number;
  /** Passing intervals before promotion (Flagger: maxWeight / stepWeight, or `iterations`); default 10. */
  iterations?: number;
}

export interface FlaggerInterval {
  /** Index of the look (interval) this check ran at. */
  look: number;
  passed: boolean;
  /** One message per failing check, Flagger's wording where it has one. */
  failures: string[];
}

export interface FlaggerVerdict {
  decision: Decision;
  failedChecks: number;
  passedChecks: number;
  intervals: FlaggerInterval[];
  reasons: string[];
}

export const FLAGGER_DEFAULTS = { threshold: 1, iterations: 10 } as const;

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/** Replays the checks over every interval of the observations, as Flagger's scheduler would have. */
export function flaggerJudge(observations: Observations, config: FlaggerConfig): FlaggerVerdict {
  const threshold = config.threshold ?? FLAGGER_DEFAULTS.threshold;
  const iterations = config.iterations ?? FLAGGER_DEFAULTS.iterations;
  if (config.checks.length === 0) throw new JudgeError("INVALID_CONFIG", "no Flagger checks configured");
  if (!(threshold >= 1)) throw new JudgeError("INVALID_CONFIG", `threshold must be ≥ 1, got ${threshold}`);
  const steps = config.checks.map((check) => increments(check.metric, observations[check.metric] ?? []));
  const looks = Math.max(...steps.map((series) => series.length));
  const intervals: FlaggerInterval[] = [];
  let failedChecks = 0;
  let passedChecks = 0;
  for (let look = 0; look < looks; look++) {
    const failures: string[] = [];
    config.checks.forEach((check, index) => {
      const step = steps[index]?.[look];
      if (!step || step.canary.exposure === 0) {
        failures.push(
          `Halt advancement no values found for metric ${check.metric} probably the canary is not receiving traffic`,
        );
        return;
      }
      const errorRate = (100 * step.canary.bad) / step.canary.exposure;
      const value = check.measure === "success-rate" ? 100 - errorRate : errorRate;
      const { min, max } = check.thresholdRange;
      if (min !== undefined && value < min)
        failures.push(`Halt advancement ${check.metric} ${formatValue(value)}% < ${min}%`);
      if (max !== undefined && value > max)
        failures.push(`Halt advancement ${check.metric} ${formatValue(value)}% > ${max}%`);
    });
    const passed = failures.length === 0;
    intervals.push({ look, passed, failures });
    if (passed) passedChecks++;
    else failedChecks++;
    if (failedChecks >= threshold) {
      return {
        decision: "ROLLBACK",
        failedChecks,
        passedChecks,
        intervals,
        reasons: [`Rolling back: failed checks threshold reached ${failedChecks}`, ...failures],
      };
    }
    if (passedChecks >= iterations) {
      return {
        decision: "PROMOTE",
        failedChecks,
        passedChecks,
        intervals,
        reasons: [`Promoting after ${passedChecks} passing checks (${failedChecks} failed)`],
      };
    }
  }
  return {
    decision: "CONTINUE",
    failedChecks,
    passedChecks,
    intervals,
    reasons: [
      `${passedChecks} of ${iterations} checks passed, ${failedChecks} of ${threshold} allowed failures used`,
    ],
  };
}
