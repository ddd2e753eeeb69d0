/**
 * How simulated bad-event counts depart from independent requests: the traffic real canaries see.
 * Each model draws one minute of one metric for both arms from a seeded PRNG.
 *
 * - Per-arm bursts: each listed arm's bad-event rate is multiplied, minute by minute, by its own
 *   Gamma(mean 1, CV cv) factor (a bad pod, a noisy neighbour, a retry storm in one arm). With μ bad
 *   events a minute per arm the counts' variance is μ + cv²μ², so the dispersion index
 *   D = variance / mean is 1 + cv²μ (CV 0.5 ≈ 3, CV 1 ≈ 10 at 0.3% of 3000 requests).
 * - Shared bursts: one factor for both arms (an upstream incident): the canary's share is untouched.
 * - Clusters: bad events come in clusters of k requests (retries, one failing connection): D = k.
 * - Latency bands: each arm has `pods` pods whose median latency jitters minute by minute
 *   (log-normal, sd podJitter), request latencies are log-normal around it; a tail regression
 *   adds addMs to a share of the canary's requests (what moves p99 without moving p50).
 */
import { binomial, type Rng } from "./random.ts";

export type Arm = "canary" | "baseline";

export interface CountNoise {
  /** Independent per-minute rate factors in the listed arms. */
  armBursts?: { cv: number; arms: readonly Arm[] };
  /** One per-minute rate factor for both arms. */
  sharedBursts?: { cv: number };
  /** Bad events arrive in clusters of this many requests. */
  clusterSize?: number;
}

export interface LatencyBand {
  /** The band edge: a request slower than this is a bad event. */
  thresholdMs: number;
  medianMs: number;
  /** Standard deviation of log latency. */
  sigma: number;
  pods: number;
  /** Standard deviation of each pod's log median latency, redrawn every minute. */
  podJitter: number;
  /** Canary only: this share of its requests takes addMs longer. */
  canaryTail?: { share: number; addMs: number };
}

/** A standard normal draw (Box–Muller). */
export function normal(rng: Rng): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** A Gamma(shape, 1) draw (Marsaglia–Tsang; shapes below 1 boosted by U^(1/shape)). */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(1 - rng(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rng);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    if (Math.log(1 - rng()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A rate factor with mean 1 and coefficient of variation cv (1 when cv is 0). */
export function burstFactor(rng: Rng, cv: number): number {
  if (cv <= 0) return 1;
  const shape = 1 / (cv * cv);
  return gamma(rng, shape) / shape;
}

/** P(Z > z) for a standard normal Z (complementary error function, fractional error < 1.2e-7). */
export function normalTail(z: number): number {
  const x = z / Math.SQRT2;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.5 * a);
  const erfc =
    t *
    Math.exp(
      -a * a -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return 0.5 * (x >= 0 ? erfc : 2 - erfc);
}

/** Share of requests slower than `thresholdMs` for a pod with this median (and the canary's tail). */
export function slowShare(band: LatencyBand, medianMs: number, tail?: LatencyBand["canaryTail"]): number {
  const above = (edge: number) => (edge <= 0 ? 1 : normalTail(Math.log(edge / medianMs) / band.sigma));
  const base = above(band.thresholdMs);
  if (!tail) return base;
  return (1 - tail.share) * base + tail.share * above(band.thresholdMs - tail.addMs);
}

/** Bad requests out of `requests` at `rate`, under a count-noise model, given the minute's factor. */
export function noisyCount(
  rng: Rng,
  requests: number,
  rate: number,
  factor: number,
  clusterSize = 1,
): number {
  const p = Math.min(1, rate * factor);
  if (clusterSize <= 1) return binomial(rng, requests, p);
  return Math.min(requests, clusterSize * binomial(rng, Math.floor(requests / clusterSize), p));
}

/** Slow requests of one arm in one minute: its pods share the requests and jitter independently. */
export function slowCount(rng: Rng, requests: number, band: LatencyBand, arm: Arm): number {
  const pods = Math.max(1, band.pods);
  let slow = 0;
  let left = requests;
  for (let pod = 0; pod < pods; pod++) {
    const podRequests = pod === pods - 1 ? left : Math.round(requests / pods);
    left -= podRequests;
    const median = band.medianMs * Math.exp(band.podJitter * normal(rng));
    slow += binomial(
      rng,
      podRequests,
      slowShare(band, median, arm === "canary" ? band.canaryTail : undefined),
    );
  }
  return slow;
}
