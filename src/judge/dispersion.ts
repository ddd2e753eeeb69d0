/**
 * How much more variable a metric's bad-event counts are than independent requests would make them,
 * and the discount that buys back the count tests' error control on such traffic. See README.md
 * ("Overdispersion").
 *
 * Real traffic is bursty: a bad pod, a retry storm or a noisy neighbour puts many bad events into one
 * arm for a minute. The count tests in eprocess.ts read each bad event as independent evidence, so a
 * burst of 50 errors in one arm weighs like a 50-request regression. With dispersion index D (the
 * counts' variance over what independent requests give), a look's log-likelihood ratio divided by D
 * has about the evidential weight of independent data again (quasi-likelihood), so the judge
 * multiplies each look's log-likelihood ratio by 1/D.
 *
 * D comes from two places and the larger wins:
 * - declared: the plan's bound (default 1), stated before the canary starts, e.g. measured on the
 *   baseline's own history;
 * - learned: measured during the canary on blocks of looks at least `blockMinutes` long (bursts
 *   shorter than a block are averaged inside it, so the look frequency does not matter), shrunk
 *   towards the declared value while there are few blocks. Only blocks that closed before a look set
 *   that look's discount, so each look's weight is fixed before its counts are seen.
 *
 * For the canary/baseline ratio the measure is the dispersion of the canary's share of each block's
 * bad events (a burst that hits both arms does not move it); for a single arm's rate (floors, burn
 * guards) it is that arm's dispersion around its mean rate, the larger of the two arms.
 */

/** Blocks shorter than this (in minutes) are not closed; bursts within a block average out. */
export const DEFAULT_BLOCK_MINUTES = 1;
/**
 * Pseudo-blocks at the declared value the learned estimate is shrunk towards. Measured (README.md):
 * 1 learns fast enough that a second burst is already discounted; more pseudo-blocks or an upper
 * quantile instead of the estimate changed false rollbacks by under a point and cost speed.
 */
export const PRIOR_BLOCKS = 1;
/** Learned values count from this many degrees of freedom (two closed blocks) on. */
export const MIN_LEARNING_DF = 1;

export interface DispersionOptions {
  /** The bound stated before the canary (≥ 1). */
  declared: number;
  /** Whether to raise the bound from what the canary's own looks show. */
  learn: boolean;
  blockMinutes: number;
}

/** A look's weight in the count tests. */
export interface LookWeight {
  /** The dispersion the look's evidence is divided by (≥ 1). */
  discount: number;
  /** Index of the block the look belongs to. */
  block: number;
}

export interface DispersionSummary {
  /** The plain estimate from the closed blocks (NaN with fewer than two usable blocks). */
  seen: number;
  /** The discount the next look will get. */
  next: number;
  declared: number;
  blocks: number;
}

interface TimedCounts {
  canary: { bad: number; exposure: number };
  baseline: { bad: number; exposure: number };
  atMinute: number;
}

interface ShareBlock {
  canaryBad: number;
  baselineBad: number;
  canaryExposure: number;
  baselineExposure: number;
}

/**
 * Running sums for the Pearson statistic of the canary's share of bad events. With n events in a
 * block, c of them the canary's, exposure odds o = ρ/(1 − ρ) and pooled rate ratio r, the expected
 * share is θ = ro/(1 + ro), and (c − nθ)²/(nθ(1 − θ)) expands to
 *   c²/(nro) + 2c²/n + c²ro/n − 2c − 2cro + nro,
 * so six sums give the statistic for any r in O(1): blocks are added once, not re-read at each look.
 */
interface ShareSums {
  blocks: number;
  canaryBad: number;
  baselineBad: number;
  canaryExposure: number;
  baselineExposure: number;
  a: number; // Σ c²/(n o)
  b: number; // Σ c²/n
  c: number; // Σ c² o/n
  d: number; // Σ c
  e: number; // Σ c o
  f: number; // Σ n o
}

function emptyShareSums(): ShareSums {
  return {
    blocks: 0,
    canaryBad: 0,
    baselineBad: 0,
    canaryExposure: 0,
    baselineExposure: 0,
    a: 0,
    b: 0,
    c: 0,
    d: 0,
    e: 0,
    f: 0,
  };
}

function addShareBlock(sums: ShareSums, block: ShareBlock): void {
  const events = block.canaryBad + block.baselineBad;
  // Blocks without events or without one arm say nothing about the share.
  if (events === 0 || block.canaryExposure === 0 || block.baselineExposure === 0) return;
  const odds = block.canaryExposure / block.baselineExposure;
  const c = block.canaryBad;
  sums.blocks += 1;
  sums.canaryBad += c;
  sums.baselineBad += block.baselineBad;
  sums.canaryExposure += block.canaryExposure;
  sums.baselineExposure += block.baselineExposure;
  sums.a += (c * c) / (events * odds);
  sums.b += (c * c) / events;
  sums.c += (c * c * odds) / events;
  sums.d += c;
  sums.e += c * odds;
  sums.f += events * odds;
}

/** Pearson dispersion of the canary's share of bad events around the pooled rate ratio. */
function shareStatistic(sums: ShareSums): { chiSquare: number; df: number } {
  if (sums.blocks < 2) return { chiSquare: 0, df: 0 };
  const r =
    Math.max(sums.canaryBad, 0.5) /
    sums.canaryExposure /
    (Math.max(sums.baselineBad, 0.5) / sums.baselineExposure);
  const chiSquare = sums.a / r + 2 * sums.b + r * sums.c - 2 * sums.d - 2 * r * sums.e + r * sums.f;
  return { chiSquare: Math.max(0, chiSquare), df: sums.blocks - 1 };
}

/** Running sums for one arm: Σ(x − er)²/(er) = (Σ x²/e)/r − Σx with r = Σx/Σe. */
interface ArmSums {
  blocks: number;
  bad: number;
  exposure: number;
  squares: number; // Σ x²/e
}

function addArmBlock(sums: ArmSums, block: { bad: number; exposure: number }): void {
  if (block.exposure === 0) return;
  sums.blocks += 1;
  sums.bad += block.bad;
  sums.exposure += block.exposure;
  sums.squares += (block.bad * block.bad) / block.exposure;
}

/** Pearson dispersion of one arm's counts around its mean rate. */
function armStatistic(sums: ArmSums): { chiSquare: number; df: number } {
  if (sums.blocks < 2 || sums.bad === 0) return { chiSquare: 0, df: 0 };
  const rate = sums.bad / sums.exposure;
  return { chiSquare: Math.max(0, sums.squares / rate - sums.bad), df: sums.blocks - 1 };
}

/** The discount from a Pearson statistic: the declared bound, or the shrunk estimate when larger. */
function discountFrom(statistic: { chiSquare: number; df: number }, options: DispersionOptions): number {
  if (!options.learn || statistic.df < MIN_LEARNING_DF) return options.declared;
  const learned = (statistic.chiSquare + PRIOR_BLOCKS * options.declared) / (statistic.df + PRIOR_BLOCKS);
  return Math.max(options.declared, learned);
}

/**
 * Walks the looks, closing a block whenever it spans at least blockMinutes, and gives each look the
 * discount known before it. `close` adds a finished block to the running statistic and returns it.
 */
function weigh<Block>(
  looks: readonly TimedCounts[],
  options: DispersionOptions,
  empty: () => Block,
  add: (block: Block, look: TimedCounts) => void,
  close: (block: Block) => { chiSquare: number; df: number },
): { weights: LookWeight[]; summary: DispersionSummary } {
  const weights: LookWeight[] = [];
  let closed = 0;
  let current = empty();
  let blockStart = 0;
  let discount = options.declared;
  let last = { chiSquare: 0, df: 0 };
  for (const look of looks) {
    weights.push({ discount, block: closed });
    add(current, look);
    if (look.atMinute - blockStart >= options.blockMinutes - 1e-9) {
      last = close(current);
      closed += 1;
      current = empty();
      blockStart = look.atMinute;
      discount = discountFrom(last, options);
    }
  }
  return {
    weights,
    summary: {
      seen: last.df >= 1 ? last.chiSquare / last.df : NaN,
      next: discount,
      declared: options.declared,
      blocks: closed,
    },
  };
}

function emptyPair(): {
  canary: { bad: number; exposure: number };
  baseline: { bad: number; exposure: number };
} {
  return { canary: { bad: 0, exposure: 0 }, baseline: { bad: 0, exposure: 0 } };
}

function addLook(block: ReturnType<typeof emptyPair>, look: TimedCounts): void {
  block.canary.bad += look.canary.bad;
  block.canary.exposure += look.canary.exposure;
  block.baseline.bad += look.baseline.bad;
  block.baseline.exposure += look.baseline.exposure;
}

/** Weights for the ratio test: dispersion of the canary's share of bad events. */
export function shareWeights(
  looks: readonly TimedCounts[],
  options: DispersionOptions,
): { weights: LookWeight[]; summary: DispersionSummary } {
  const sums = emptyShareSums();
  return weigh(looks, options, emptyPair, addLook, (block) => {
    addShareBlock(sums, {
      canaryBad: block.canary.bad,
      baselineBad: block.baseline.bad,
      canaryExposure: block.canary.exposure,
      baselineExposure: block.baseline.exposure,
    });
    return shareStatistic(sums);
  });
}

/** Weights for one-arm rate tests: the larger of the two arms' dispersions around their rates. */
export function armWeights(
  looks: readonly TimedCounts[],
  options: DispersionOptions,
): { weights: LookWeight[]; summary: DispersionSummary } {
  const canary: ArmSums = { blocks: 0, bad: 0, exposure: 0, squares: 0 };
  const baseline: ArmSums = { blocks: 0, bad: 0, exposure: 0, squares: 0 };
  const ratio = (s: { chiSquare: number; df: number }) => (s.df > 0 ? s.chiSquare / s.df : 0);
  return weigh(looks, options, emptyPair, addLook, (block) => {
    addArmBlock(canary, block.canary);
    addArmBlock(baseline, block.baseline);
    const canaryStatistic = armStatistic(canary);
    const baselineStatistic = armStatistic(baseline);
    return ratio(canaryStatistic) >= ratio(baselineStatistic) ? canaryStatistic : baselineStatistic;
  });
}
