/**
 * How long the judge needs to PROMOTE a canary identical to its baseline at a given traffic: the
 * rollout's default maxDuration, and its warning when a stated maxDuration is too short. The
 * projection feeds the judge expected counts (no noise) one block at a time; real canaries are
 * noisy: at 3000 requests a minute per arm the median run promotes near the projection and 9 in 10
 * by twice it (README.md).
 */
import { decide, type JudgeConfig } from "./judge.ts";
import type { Snapshot } from "../observe/observations.ts";

/** Expected traffic per minute: exposure per arm and each metric's bad-event rate per unit of exposure. */
export interface ExpectedTraffic {
  canaryExposurePerMinute: number;
  baselineExposurePerMinute: number;
  /** Bad events per unit of exposure, by metric name; the same in both arms. */
  rates: Readonly<Record<string, number>>;
}

/** Projections stop here: a canary undecided after this long is "cannot decide at this traffic". */
export const HORIZON_LIMIT_MINUTES = 24 * 60;

/**
 * Minutes after which `decide` says PROMOTE on expected counts, looking every `stepMinutes` (at
 * least one block); Infinity when it would not within `limitMinutes`. Evidence on expected counts
 * grows steadily, so the first such minute is found by doubling, then bisection.
 */
export function minutesToPromote(
  config: JudgeConfig,
  traffic: ExpectedTraffic,
  stepMinutes = 1,
  limitMinutes = HORIZON_LIMIT_MINUTES,
): number {
  if (!(traffic.canaryExposurePerMinute > 0 && traffic.baselineExposurePerMinute > 0)) return Infinity;
  const step = Math.max(stepMinutes, config.blockMinutes ?? 1);
  const judged: JudgeConfig = { ...config, crashLoop: undefined, burnRate: undefined };
  const promotedAfter = (looks: number): boolean =>
    decide(expectedSeries(config, traffic, step, looks), judged) === "PROMOTE";
  const limit = Math.floor(limitMinutes / step);
  let high = 1;
  while (!promotedAfter(high)) {
    if (high >= limit) return Infinity;
    high = Math.min(limit, high * 2);
  }
  let low = Math.floor(high / 2);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (promotedAfter(middle)) high = middle;
    else low = middle;
  }
  return high * step;
}

/** `looks` cumulative snapshots of expected counts, one every `step` minutes. */
function expectedSeries(
  config: JudgeConfig,
  traffic: ExpectedTraffic,
  step: number,
  looks: number,
): Record<string, Snapshot[]> {
  const series: Record<string, Snapshot[]> = {};
  // Whole counts, as the judge requires of requests: the rounding error shrinks as counts grow.
  const whole = (value: number) => Math.round(value);
  for (const metric of config.metrics) {
    const rate = traffic.rates[metric.name] ?? 0;
    const requests = (metric.unit ?? "requests") === "requests";
    const snapshots: Snapshot[] = [];
    for (let look = 1; look <= looks; look++) {
      const canaryExposure = traffic.canaryExposurePerMinute * step * look;
      const baselineExposure = traffic.baselineExposurePerMinute * step * look;
      snapshots.push({
        canary: {
          bad: whole(canaryExposure * rate),
          exposure: requests ? whole(canaryExposure) : canaryExposure,
        },
        baseline: {
          bad: whole(baselineExposure * rate),
          exposure: requests ? whole(baselineExposure) : baselineExposure,
        },
        atMinute: step * look,
      });
    }
    series[metric.name] = snapshots;
  }
  return series;
}
