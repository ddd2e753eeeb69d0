/**
 * The traffic cells of issue 13, shared by the judge bench (tools/bench/judge.ts) and the judge
 * tests: baseline 5xx 0.3%, 3000 requests a minute per arm (a canary and an equal fresh baseline),
 * one look a minute, 60 minutes, each cell a traffic model from traffic-models.ts.
 */
import type { Scenario, SimMetric } from "./canary-traffic.ts";
import type { CountNoise, LatencyBand } from "./traffic-models.ts";

export const BASELINE_5XX_RATE = 0.003;
export const PER_ARM_RPM = 3000;
export const HORIZON_MINUTES = 60;

/** Request latency: median 20 ms, log-sd 0.5, so p99 ≈ 64 ms; three pods per arm. */
export const LATENCY = { medianMs: 20, sigma: 0.5, pods: 3 } as const;
/** The tail regression of the issue: 0.5% of the canary's requests take 150 ms longer (p99 64 → 72 ms). */
export const TAIL_REGRESSION = { share: 0.005, addMs: 150 } as const;

export function fiveXxMetric(multiplier: number, noise?: CountNoise, name = "5xx"): SimMetric {
  return {
    name,
    canaryRate: BASELINE_5XX_RATE * multiplier,
    baselineRate: BASELINE_5XX_RATE,
    ...(noise ? { noise } : {}),
  };
}

export function latencyMetric(
  thresholdMs: number,
  options: { podJitter?: number; tail?: boolean | { share: number; addMs: number }; name?: string } = {},
): SimMetric {
  const tail = options.tail === true ? TAIL_REGRESSION : options.tail || undefined;
  const band: LatencyBand = {
    thresholdMs,
    ...LATENCY,
    podJitter: options.podJitter ?? 0,
    ...(tail ? { canaryTail: tail } : {}),
  };
  return { name: options.name ?? `slow>${thresholdMs}ms`, canaryRate: 0, baselineRate: 0, latency: band };
}

/** Equal arms of PER_ARM_RPM each. */
export function perArm(metrics: SimMetric[], minutes = HORIZON_MINUTES, looksPerMinute = 1): Scenario {
  return { requestsPerMinute: 2 * PER_ARM_RPM, canaryShare: 0.5, minutes, metrics, looksPerMinute };
}

/** Per-arm bursts with this CV in the given arms. */
export function bursts(cv: number, arms: readonly ("canary" | "baseline")[] = ["canary"]): CountNoise {
  return { armBursts: { cv, arms } };
}

/** Dispersion index of per-arm bursts at CV cv with `mean` bad events per look: 1 + cv² · mean. */
export function burstDispersion(cv: number, mean = BASELINE_5XX_RATE * PER_ARM_RPM): number {
  return 1 + cv * cv * mean;
}

/** CV of per-arm bursts giving dispersion index D at the 9 bad events a minute per arm. */
export function cvForDispersion(dispersion: number, mean = BASELINE_5XX_RATE * PER_ARM_RPM): number {
  return Math.sqrt((dispersion - 1) / mean);
}
