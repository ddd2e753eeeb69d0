/**
 * Anytime-valid tests on counts: one-sided mixture e-processes and the confidence sequences they
 * give by inversion. Pure math, no I/O. See docs CANARY.md §5.2 and §8.
 *
 * Rate ratio (two arms). Model: bad events in each arm are a Poisson process with intensity
 * exposure × rate, so given that n bad events happened in an interval where the canary had share ρ
 * of the exposure, each one came from the canary with probability
 *
 *   θ(δ) = ρ e^δ / (ρ e^δ + 1 − ρ),   δ = log(canary rate / baseline rate).
 *
 * This conditioning removes any traffic swing both arms share, and lets ρ change between looks
 * (canary weight steps). For H0: ratio ≤ R (δ ≤ δ₀ = log R) the e-process is the mixture, over
 * alternatives δ_k = δ₀ + log g_k with g_k > 1, of the likelihood ratios
 *
 *   Π_s [θ_s(δ_k)/θ_s(δ₀)]^{c_s} [(1 − θ_s(δ_k))/(1 − θ_s(δ₀))]^{b_s}.
 *
 * For any θ ≤ θ(δ₀) each factor has expectation ≤ 1, so this is a test supermartingale for the whole
 * composite null and Ville's inequality gives P(ever ≥ 1/α) ≤ α however often we look. The mirror
 * test (alternatives below R) serves H0: ratio ≥ R. Each component's log-likelihood ratio is
 * monotone in δ₀, so the set of R not rejected is an interval: the confidence sequence.
 *
 * The same holds without conditioning, for Poisson and for binomial counts (bad requests out of
 * requests) alike: with A = θ_k/θ₀ > 1 and B = (1 − θ_k)/(1 − θ₀) < 1, a look's factor A^c B^b has
 * E ≤ exp(μ_c(A − 1) + μ_b(B − 1)) = exp((θ_k − θ₀)[μ_c/θ₀ − μ_b/(1 − θ₀)]) (the binomial MGF is
 * below the Poisson one), and the bracket is ≤ 0 exactly when the canary/baseline rate ratio is ≤ R.
 * Common bad events (binomial far from Poisson) only make the test conservative.
 *
 * A discrete mixture has an indifference zone: a true ratio closer to R than about halfway (in log
 * scale) to the nearest alternative pushes the e-value down, never up. With the grids below, ratios
 * within about 1.12× above the margin are never called harmful and within about 2.5% below it never
 * called safe; the judge reports those as "too close to the margin to decide".
 *
 * Canary rate (one arm, for absolute floors and burn-rate guards). For H0: rate ≤ r₀ the mixture of
 * g^C · exp(−E r₀ (g − 1)), g > 1, over C bad events in exposure E, is a test supermartingale for
 * Poisson counts and for binomial ones (E[g^X] = (1 + p(g − 1))^n ≤ exp(np(g − 1))). It depends on
 * cumulative totals only.
 */

/** Alternatives of a mixture, as multipliers of the null value, with prior weights summing to 1. */
export interface MixturePrior {
  readonly multipliers: readonly number[];
  readonly weights: readonly number[];
}

function prior(multipliers: number[], weights: number[]): MixturePrior {
  const sum = weights.reduce((a, b) => a + b, 0);
  return { multipliers, weights: weights.map((weight) => weight / sum) };
}

/**
 * Alternatives for "worse than allowed": 1.25× to 30× beyond the null value, most weight on 1.5–3×
 * (a doubling of errors is the regression that matters and is hard to see quickly; 5× and beyond are
 * seen fast even with little weight).
 */
export const HARM_PRIOR: MixturePrior = prior([1.25, 1.5, 2, 3, 5, 10, 30], [1, 2, 2, 1.5, 1, 0.5, 0.5]);

/**
 * Alternatives for "better than the bound": 1/1.05 to 1/10 of the null value, dense near it, since
 * proving "no worse than 1.10×" for a canary as good as the baseline is a 1/1.1 effect.
 */
export const SAFE_PRIOR: MixturePrior = prior(
  [1.05, 1.1, 1.15, 1.25, 1.5, 2, 4, 10],
  [1, 2, 1.5, 1.5, 1, 1, 0.5, 0.5],
);

/** Which side of the null value the alternatives are on. */
export type Side = "above" | "below";

/** Bad events in one look, with the canary's share of the exposure in that look. */
export interface RatioBatch {
  canaryBad: number;
  baselineBad: number;
  /** Canary exposure / (canary + baseline exposure) in this look, strictly between 0 and 1. */
  canaryShare: number;
  /** The look's log-likelihood ratio is divided by this dispersion (≥ 1; 1 = independent requests). */
  discount: number;
  /** Looks of one block share one cap on their evidence (see EvidenceOptions). */
  block: number;
  /** Stands for this many identical blocks of its own (projections); default 1. */
  repeat?: number;
}

/** One arm's bad events and exposure in one look, weighted like a RatioBatch. */
export interface RateBatch {
  bad: number;
  exposure: number;
  discount: number;
  block: number;
  repeat?: number;
}

/**
 * How evidence is gathered: each block's log-likelihood ratio is capped at `logCap` (Infinity: no
 * cap). Capping keeps the e-process valid (min(M, C) of a supermartingale M is one) and means no
 * single block, however bursty, can carry a test over its threshold alone.
 */
export interface EvidenceOptions {
  logCap: number;
}

export const UNCAPPED: EvidenceOptions = { logCap: Infinity };

/** Ratios are searched on [1/RATIO_LIMIT, RATIO_LIMIT]; beyond it a bound is reported as 0 or ∞. */
export const RATIO_LIMIT = 1e4;
const RATE_MIN = 1e-12;
const RATE_MAX = 1e9;
const BISECTION_STEPS = 26;

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function logSumExp(values: readonly number[]): number {
  let max = -Infinity;
  for (const value of values) if (value > max) max = value;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const value of values) sum += Math.exp(value - max);
  return max + Math.log(sum);
}

/**
 * Batches for the ratio test from per-look increments and their weights (one per increment; default
 * weight 1, each look its own block). Looks without bad events carry no evidence and looks where one
 * arm had no exposure cannot say which arm an event came from; both are dropped. Consecutive looks
 * with the same share, weight and block merge exactly (the likelihood is linear in the counts).
 */
export function ratioBatches(
  increments: readonly {
    canary: { bad: number; exposure: number };
    baseline: { bad: number; exposure: number };
  }[],
  weights?: readonly { discount: number; block: number }[],
): RatioBatch[] {
  const batches: RatioBatch[] = [];
  increments.forEach((increment, index) => {
    const events = increment.canary.bad + increment.baseline.bad;
    if (events === 0 || increment.canary.exposure === 0 || increment.baseline.exposure === 0) return;
    const canaryShare = increment.canary.exposure / (increment.canary.exposure + increment.baseline.exposure);
    const { discount, block } = weights?.[index] ?? { discount: 1, block: index };
    const last = batches[batches.length - 1];
    if (last && last.canaryShare === canaryShare && last.discount === discount && last.block === block) {
      last.canaryBad += increment.canary.bad;
      last.baselineBad += increment.baseline.bad;
    } else {
      batches.push({
        canaryBad: increment.canary.bad,
        baselineBad: increment.baseline.bad,
        canaryShare,
        discount,
        block,
      });
    }
  });
  return batches;
}

/** Rate batches for one arm, weighted like ratioBatches; looks without exposure are dropped. */
export function rateBatches(
  increments: readonly { bad: number; exposure: number }[],
  weights?: readonly { discount: number; block: number }[],
): RateBatch[] {
  const batches: RateBatch[] = [];
  increments.forEach((increment, index) => {
    if (increment.exposure === 0) return;
    const { discount, block } = weights?.[index] ?? { discount: 1, block: index };
    batches.push({ bad: increment.bad, exposure: increment.exposure, discount, block });
  });
  return batches;
}

/** Σ over blocks of min(block's summed log-likelihood ratio, cap). */
function cappedSum<T extends { block: number; repeat?: number }>(
  batches: readonly T[],
  logLikelihoodRatio: (batch: T) => number,
  logCap: number,
): number {
  let total = 0;
  let blockSum = 0;
  let block: number | undefined;
  for (const batch of batches) {
    if (batch.repeat !== undefined) {
      total += batch.repeat * Math.min(logLikelihoodRatio(batch), logCap);
      continue;
    }
    if (batch.block !== block) {
      if (block !== undefined) total += Math.min(blockSum, logCap);
      block = batch.block;
      blockSum = 0;
    }
    blockSum += logLikelihoodRatio(batch);
  }
  if (block !== undefined) total += Math.min(blockSum, logCap);
  return total;
}

/**
 * log of the e-value against H0: canary/baseline rate ratio ≤ `ratio` (side "above") or
 * H0: ratio ≥ `ratio` (side "below").
 */
export function ratioLogEvidence(
  batches: readonly RatioBatch[],
  ratio: number,
  side: Side,
  options: EvidenceOptions = UNCAPPED,
  mixture: MixturePrior = side === "above" ? HARM_PRIOR : SAFE_PRIOR,
): number {
  const delta0 = Math.log(ratio);
  const direction = side === "above" ? 1 : -1;
  const terms = mixture.multipliers.map((multiplier, k) => {
    const deltaK = delta0 + direction * Math.log(multiplier);
    const logLikelihoodRatio = cappedSum(
      batches,
      (batch) => {
        const logit = Math.log(batch.canaryShare / (1 - batch.canaryShare));
        // log θ(x) = −softplus(−(x + a)), log(1 − θ(x)) = −softplus(x + a), a = logit ρ
        const canaryTerm = softplus(-(delta0 + logit)) - softplus(-(deltaK + logit));
        const baselineTerm = softplus(delta0 + logit) - softplus(deltaK + logit);
        return (batch.canaryBad * canaryTerm + batch.baselineBad * baselineTerm) / batch.discount;
      },
      options.logCap,
    );
    return Math.log(mixture.weights[k] ?? 0) + logLikelihoodRatio;
  });
  return logSumExp(terms);
}

/** log of the e-value against H0: canary rate ≤ `rate` (side "above") or ≥ `rate` (side "below"). */
export function rateLogEvidence(
  batches: readonly RateBatch[],
  rate: number,
  side: Side,
  options: EvidenceOptions = UNCAPPED,
  mixture: MixturePrior = side === "above" ? HARM_PRIOR : SAFE_PRIOR,
): number {
  const terms = mixture.multipliers.map((multiplier, k) => {
    const g = side === "above" ? multiplier : 1 / multiplier;
    const logG = Math.log(g);
    const logLikelihoodRatio = cappedSum(
      batches,
      (batch) =>
        ((batch.bad === 0 ? 0 : batch.bad * logG) - batch.exposure * rate * (g - 1)) / batch.discount,
      options.logCap,
    );
    return Math.log(mixture.weights[k] ?? 0) + logLikelihoodRatio;
  });
  return logSumExp(terms);
}

/** An anytime-valid interval: holds at every look at once with probability ≥ 1 − αLower − αUpper. */
export interface Bounds {
  lower: number;
  upper: number;
}

/**
 * Inverts a family of one-sided e-processes by bisection on the log of the null value: `evidence`
 * must be ≥ `threshold` at `lo`, below it at `hi`, and monotone in between.
 */
function crossing(evidence: (logValue: number) => number, threshold: number, lo: number, hi: number): number {
  for (let step = 0; step < BISECTION_STEPS; step++) {
    const mid = (lo + hi) / 2;
    if (evidence(mid) >= threshold) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Confidence sequence for the canary/baseline rate ratio, one α (and evidence option) per side. */
export function ratioBounds(
  batches: readonly RatioBatch[],
  alphaLower: number,
  alphaUpper: number,
  lowerOptions: EvidenceOptions = UNCAPPED,
  upperOptions: EvidenceOptions = UNCAPPED,
): Bounds {
  const limit = Math.log(RATIO_LIMIT);
  const lowerThreshold = Math.log(1 / alphaLower);
  const upperThreshold = Math.log(1 / alphaUpper);
  const harm = (x: number): number => ratioLogEvidence(batches, Math.exp(x), "above", lowerOptions);
  const safe = (x: number): number => ratioLogEvidence(batches, Math.exp(x), "below", upperOptions);
  let lower: number;
  if (harm(-limit) < lowerThreshold) lower = 0;
  else if (harm(limit) >= lowerThreshold) lower = Infinity;
  else lower = Math.exp(crossing(harm, lowerThreshold, -limit, limit));
  let upper: number;
  if (safe(limit) < upperThreshold) upper = Infinity;
  else if (safe(-limit) >= upperThreshold) upper = 0;
  else upper = Math.exp(crossing((x) => -safe(x), -upperThreshold, -limit, limit));
  return { lower, upper };
}

/** Confidence sequence for one arm's rate (bad events per unit of exposure). */
export function rateBounds(
  batches: readonly RateBatch[],
  alphaLower: number,
  alphaUpper: number,
  lowerOptions: EvidenceOptions = UNCAPPED,
  upperOptions: EvidenceOptions = UNCAPPED,
): Bounds {
  if (batches.every((batch) => batch.exposure === 0)) return { lower: 0, upper: Infinity };
  const lo = Math.log(RATE_MIN);
  const hi = Math.log(RATE_MAX);
  const lowerThreshold = Math.log(1 / alphaLower);
  const upperThreshold = Math.log(1 / alphaUpper);
  const harm = (x: number): number => rateLogEvidence(batches, Math.exp(x), "above", lowerOptions);
  const safe = (x: number): number => rateLogEvidence(batches, Math.exp(x), "below", upperOptions);
  const lower = harm(lo) < lowerThreshold ? 0 : Math.exp(crossing(harm, lowerThreshold, lo, hi));
  const upper =
    safe(hi) < upperThreshold ? Infinity : Math.exp(crossing((x) => -safe(x), -upperThreshold, lo, hi));
  return { lower, upper };
}
