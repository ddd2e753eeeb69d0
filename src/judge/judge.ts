/**
 * graft's canary judge: compares canary and baseline per metric with anytime-valid one-sided tests
 * on counts (see eprocess.ts and docs CANARY.md §8) and answers PROMOTE, ROLLBACK or CONTINUE, with
 * one human-readable line per metric. Pure: same observations and config, same verdict.
 *
 * Error rates. α (default 0.05) is split evenly (Bonferroni) over the tests that can roll back: one
 * per metric plus one per burn-rate guard, α_m = α / (metrics + burn guards). So, however often the
 * judge is asked, P(any false ROLLBACK during the canary) ≤ α when no metric is worse than its
 * margin, and P(PROMOTE while some metric is worse than its margin) ≤ α.
 *
 * Per metric, with allowed ratio m and/or absolute floor f on the canary rate:
 * - harm  = the canary's rate is above m × baseline rate AND above f. ROLLBACK when the e-value for
 *   "ratio ≤ m" reaches 1/α_m and (with a floor) the one for "canary rate ≤ f" does too; requiring
 *   both keeps the level α_m (intersection–union).
 * - safe  = the ratio's upper confidence bound is ≤ m, or (with a floor) the canary rate's upper
 *   bound is ≤ f; with both configured each side uses α_m / 2.
 * - PROMOTE needs every metric safe and its minimum canary exposure met; otherwise CONTINUE, with an
 *   estimate of the further exposure after which the metric would be decided if the rates seen so
 *   far hold.
 *
 * Bursty traffic (README.md, "Overdispersion"): each look's evidence is divided by the metric's
 * dispersion (declared, or learned from the canary's own one-minute blocks, whichever is larger),
 * and no block may carry more than BLOCK_CAP_SHARE of a threshold, so one burst never decides.
 *
 * Guards, checked first: a crash loop (≥ k canary VM failures within w minutes; plain count, no
 * statistics) and an error-budget burn rate (the canary rate's anytime lower bound above
 * maxBurn × (1 − SLO), so one unlucky error at low traffic does not fire it).
 */
import {
  RATIO_LIMIT,
  ratioBatches,
  ratioBounds,
  ratioLogEvidence,
  rateBatches,
  rateBounds,
  rateLogEvidence,
  type Bounds,
  type EvidenceOptions,
  type RateBatch,
  type RatioBatch,
} from "./eprocess.ts";
import {
  armWeights,
  DEFAULT_BLOCK_MINUTES,
  shareWeights,
  type DispersionOptions,
  type DispersionSummary,
} from "./dispersion.ts";
import {
  increments,
  type Increment,
  JudgeError,
  REQUESTS,
  totals,
  type ArmCounts,
  type Observations,
  type Snapshot,
} from "../observe/observations.ts";

export type Decision = "PROMOTE" | "ROLLBACK" | "CONTINUE";

export interface MetricConfig {
  /** Key in the observations and label in the lines, e.g. "5xx". */
  name: string;
  /** Allowed canary/baseline rate ratio: 1.10 allows 10% more bad events per unit of exposure. */
  maxRatio?: number;
  /** Canary rates (bad per unit of exposure) at or below this are acceptable whatever the baseline does. */
  floorRate?: number;
  /** Canary exposure this metric needs before it can vote PROMOTE; defaults to the config's. */
  minExposure?: number;
  /** What the exposure counts, for messages (default "requests"; rates then print as percentages). */
  unit?: string;
  /**
   * Dispersion bound stated before the canary: how many times more variable than independent
   * requests this metric's per-minute counts are (≥ 1; default DEFAULT_DISPERSION). See dispersion.ts.
   */
  dispersion?: number;
  /** Raise the bound from the canary's own looks when they vary more (default true). */
  learnDispersion?: boolean;
}

/** Roll back when the canary has ≥ maxFailures bad events of `metric` within the last windowMinutes. */
export interface CrashLoopGuard {
  metric: string;
  maxFailures?: number;
  windowMinutes?: number;
}

/** Roll back when the canary burns `metric`'s error budget faster than maxBurn × (provably). */
export interface BurnRateGuard {
  metric: string;
  /** The SLO as a fraction, e.g. 0.999: the budget is 1 − slo bad events per unit of exposure. */
  slo: number;
  maxBurn?: number;
}

export interface JudgeConfig {
  metrics: MetricConfig[];
  /** Overall false-rollback (and false-promote) probability; default 0.05. */
  alpha?: number;
  /** Default minimum canary exposure per metric before PROMOTE; default 0. */
  minExposure?: number;
  crashLoop?: CrashLoopGuard;
  burnRate?: BurnRateGuard[];
  /** Looks are grouped into blocks at least this long for dispersion and caps (default 1 minute). */
  blockMinutes?: number;
  /**
   * Each block's evidence is capped at this share of the test's threshold (default BLOCK_CAP_SHARE),
   * so no single burst decides; Infinity turns the cap off.
   */
  blockCapShare?: number;
}

export const DEFAULT_ALPHA = 0.05;
/** The dispersion assumed when a metric states none. */
export const DEFAULT_DISPERSION = 1;
/** A block can carry at most this share of a test's threshold: ROLLBACK and PROMOTE take ≥ 2 blocks. */
export const BLOCK_CAP_SHARE = 0.6;
export const DEFAULT_MAX_RATIO = 1.1;
export const DEFAULT_MAX_BURN = 3;
export const DEFAULT_CRASH_LOOP = { maxFailures: 3, windowMinutes: 5 } as const;
/** Above this bad-event share of requests the count test stays valid but turns conservative. */
export const RARE_EVENT_LIMIT = 0.05;
/** The remaining-exposure search gives up beyond this many times the current exposure. */
const REMAINING_SEARCH_LIMIT = 1e4;

export interface ArmSummary extends ArmCounts {
  /** bad / exposure; NaN without exposure. */
  rate: number;
}

/** Further exposure (in the metric's unit) after which the metric would be decided if current rates hold. */
export interface Remaining {
  metric: string;
  unit: string;
  /** Both arms together; Infinity when the canary looks indistinguishable from its margin. */
  exposure: number;
  /** The canary's part, at the current split. */
  canaryExposure: number;
}

export interface MetricVerdict {
  metric: string;
  vote: Decision;
  canary: ArmSummary;
  baseline: ArmSummary;
  /** Point estimate of canary rate / baseline rate: Infinity with a clean baseline, NaN with no events. */
  ratio: number;
  maxRatio?: number;
  floorRate?: number;
  /** Anytime-valid interval for the ratio (when maxRatio is set), holding with probability ≥ level. */
  ratioInterval?: Bounds & { level: number };
  /** Anytime-valid interval for the canary rate (when floorRate is set). */
  canaryRateInterval?: Bounds & { level: number };
  /** E-values: harm against "not worse than allowed" (ROLLBACK at ≥ harmThreshold), safe the mirror. */
  evidence: { harm: number; harmThreshold: number; safe: number; safeThreshold: number };
  minExposure: number;
  /** Set when the vote is CONTINUE and there is traffic to extrapolate from. */
  remaining?: Remaining;
  /**
   * How variable the counts were: `ratio` for the canary's share of bad events (ratio test), `rate`
   * for one arm's rate (floor test). `next` is the discount the evidence gets from here on.
   */
  dispersion: { ratio: DispersionSummary; rate: DispersionSummary };
  warnings: string[];
  line: string;
}

export interface GuardResult {
  guard: "crash-loop" | "burn-rate";
  metric: string;
  fired: boolean;
  line: string;
}

export interface Verdict {
  decision: Decision;
  metrics: MetricVerdict[];
  guards: GuardResult[];
  /** Why, in short sentences; the first one is the headline. */
  reasons: string[];
  /** For CONTINUE: the metric that needs the most further traffic relative to what it has seen. */
  remaining?: Remaining;
  alpha: number;
  /** α_m: the level of each metric's (and each burn guard's) rollback test. */
  alphaPerTest: number;
  /** Metric lines, then guard lines. */
  lines: string[];
}

interface ResolvedMetric {
  name: string;
  maxRatio: number | undefined;
  floorRate: number | undefined;
  minExposure: number;
  unit: string;
  dispersion: DispersionOptions;
}

/** How a metric's tests gather evidence: caps per side, from α and the block cap share. */
interface TestOptions {
  harm: EvidenceOptions;
  safe: EvidenceOptions;
}

interface Assessment {
  config: ResolvedMetric;
  canary: ArmCounts;
  baseline: ArmCounts;
  batches: RatioBatch[];
  canaryRates: RateBatch[];
  dispersion: { ratio: DispersionSummary; rate: DispersionSummary };
  options: TestOptions;
  logHarm: number;
  logSafe: number;
  harmful: boolean;
  safe: boolean;
  vote: Decision;
}

function resolveMetric(metric: MetricConfig, config: JudgeConfig): ResolvedMetric {
  const floorRate = metric.floorRate;
  const maxRatio = metric.maxRatio ?? (floorRate === undefined ? DEFAULT_MAX_RATIO : undefined);
  if (maxRatio !== undefined && !(maxRatio > 0 && Number.isFinite(maxRatio))) {
    throw new JudgeError(
      "INVALID_CONFIG",
      `${metric.name}: maxRatio must be a positive number, got ${maxRatio}`,
    );
  }
  if (floorRate !== undefined && !(floorRate > 0 && Number.isFinite(floorRate))) {
    throw new JudgeError(
      "INVALID_CONFIG",
      `${metric.name}: floorRate must be a positive number, got ${floorRate}`,
    );
  }
  const minExposure = metric.minExposure ?? config.minExposure ?? 0;
  if (!(minExposure >= 0)) {
    throw new JudgeError("INVALID_CONFIG", `${metric.name}: minExposure must be ≥ 0, got ${minExposure}`);
  }
  return {
    name: metric.name,
    maxRatio,
    floorRate,
    minExposure,
    unit: metric.unit ?? "requests",
    dispersion: dispersionOptions(metric, config),
  };
}

function dispersionOptions(metric: MetricConfig | undefined, config: JudgeConfig): DispersionOptions {
  const declared = metric?.dispersion ?? DEFAULT_DISPERSION;
  if (!(declared >= 1 && Number.isFinite(declared))) {
    throw new JudgeError(
      "INVALID_CONFIG",
      `${metric?.name}: dispersion must be a number ≥ 1 (1 = independent requests), got ${declared}`,
    );
  }
  return {
    declared,
    learn: metric?.learnDispersion ?? true,
    blockMinutes: config.blockMinutes ?? DEFAULT_BLOCK_MINUTES,
  };
}

function validate(config: JudgeConfig): { alpha: number; alphaPerTest: number; metrics: ResolvedMetric[] } {
  const alpha = config.alpha ?? DEFAULT_ALPHA;
  if (!(alpha > 0 && alpha < 1))
    throw new JudgeError("INVALID_CONFIG", `alpha must be in (0, 1), got ${alpha}`);
  if (config.metrics.length === 0) throw new JudgeError("INVALID_CONFIG", "no metrics to judge");
  const names = new Set<string>();
  for (const metric of config.metrics) {
    if (names.has(metric.name))
      throw new JudgeError("INVALID_CONFIG", `metric ${metric.name} is listed twice`);
    names.add(metric.name);
  }
  for (const guard of config.burnRate ?? []) {
    if (!(guard.slo > 0 && guard.slo < 1)) {
      throw new JudgeError(
        "INVALID_CONFIG",
        `burn-rate guard on ${guard.metric}: slo must be in (0, 1), got ${guard.slo}`,
      );
    }
    if (guard.maxBurn !== undefined && !(guard.maxBurn > 0)) {
      throw new JudgeError(
        "INVALID_CONFIG",
        `burn-rate guard on ${guard.metric}: maxBurn must be > 0, got ${guard.maxBurn}`,
      );
    }
  }
  const crashLoop = config.crashLoop;
  if (crashLoop && !((crashLoop.maxFailures ?? 1) >= 1 && (crashLoop.windowMinutes ?? 1) > 0)) {
    throw new JudgeError(
      "INVALID_CONFIG",
      `crash-loop guard on ${crashLoop.metric}: needs maxFailures ≥ 1 and windowMinutes > 0, ` +
        `got ${crashLoop.maxFailures} and ${crashLoop.windowMinutes}`,
    );
  }
  if (config.blockMinutes !== undefined && !(config.blockMinutes >= 0)) {
    throw new JudgeError("INVALID_CONFIG", `blockMinutes must be ≥ 0, got ${config.blockMinutes}`);
  }
  if (config.blockCapShare !== undefined && !(config.blockCapShare > 0)) {
    throw new JudgeError("INVALID_CONFIG", `blockCapShare must be > 0, got ${config.blockCapShare}`);
  }
  const tests = config.metrics.length + (config.burnRate?.length ?? 0);
  return {
    alpha,
    alphaPerTest: alpha / tests,
    metrics: config.metrics.map((metric) => resolveMetric(metric, config)),
  };
}

function seriesOf(observations: Observations, metric: string): readonly Snapshot[] {
  const series = observations[metric];
  if (series !== undefined) return series;
  const known = Object.keys(observations);
  // Nothing observed yet is a first look; something observed but not this metric is a naming error.
  if (known.length === 0) return [];
  throw new JudgeError(
    "UNKNOWN_METRIC",
    `no observations for metric "${metric}"; observed metrics are ${known.join(", ")} ` +
      "(the judge config and the collector must use the same names)",
  );
}

/** The safe side splits its α between ratio and floor when both are configured. */
function safeAlpha(metric: ResolvedMetric, alphaPerTest: number): number {
  return metric.maxRatio !== undefined && metric.floorRate !== undefined ? alphaPerTest / 2 : alphaPerTest;
}

function capFor(alpha: number, config: JudgeConfig): EvidenceOptions {
  return { logCap: (config.blockCapShare ?? BLOCK_CAP_SHARE) * Math.log(1 / alpha) };
}

function testOptions(metric: ResolvedMetric, alphaPerTest: number, config: JudgeConfig): TestOptions {
  return { harm: capFor(alphaPerTest, config), safe: capFor(safeAlpha(metric, alphaPerTest), config) };
}

function evidenceFor(
  metric: ResolvedMetric,
  batches: readonly RatioBatch[],
  canaryRates: readonly RateBatch[],
  options: TestOptions,
): { logHarm: number; logSafe: number } {
  let logHarm = Infinity;
  let logSafe = -Infinity;
  if (metric.maxRatio !== undefined) {
    logHarm = Math.min(logHarm, ratioLogEvidence(batches, metric.maxRatio, "above", options.harm));
    logSafe = Math.max(logSafe, ratioLogEvidence(batches, metric.maxRatio, "below", options.safe));
  }
  if (metric.floorRate !== undefined) {
    logHarm = Math.min(logHarm, rateLogEvidence(canaryRates, metric.floorRate, "above", options.harm));
    logSafe = Math.max(logSafe, rateLogEvidence(canaryRates, metric.floorRate, "below", options.safe));
  }
  return { logHarm, logSafe };
}

function assess(
  metric: ResolvedMetric,
  snapshots: readonly Snapshot[],
  alphaPerTest: number,
  config: JudgeConfig,
): Assessment {
  const steps = increments(metric.name, snapshots, metric.unit);
  const share = shareWeights(steps, metric.dispersion);
  const arm = armWeights(steps, metric.dispersion);
  const batches = ratioBatches(steps, share.weights);
  const canaryRates = rateBatches(
    steps.map((step) => step.canary),
    arm.weights,
  );
  const { canary, baseline } = totals(snapshots);
  const options = testOptions(metric, alphaPerTest, config);
  const { logHarm, logSafe } = evidenceFor(metric, batches, canaryRates, options);
  const harmful = logHarm >= Math.log(1 / alphaPerTest);
  const safe = logSafe >= Math.log(1 / safeAlpha(metric, alphaPerTest));
  const vote: Decision = harmful
    ? "ROLLBACK"
    : safe && canary.exposure >= metric.minExposure
      ? "PROMOTE"
      : "CONTINUE";
  return {
    config: metric,
    canary,
    baseline,
    batches,
    canaryRates,
    dispersion: { ratio: share.summary, rate: arm.summary },
    options,
    logHarm,
    logSafe,
    harmful,
    safe,
    vote,
  };
}

function crashLoopFires(
  guard: CrashLoopGuard,
  observations: Observations,
  config: JudgeConfig,
): { failures: number; fired: boolean } {
  const maxFailures = guard.maxFailures ?? DEFAULT_CRASH_LOOP.maxFailures;
  const windowMinutes = guard.windowMinutes ?? DEFAULT_CRASH_LOOP.windowMinutes;
  // Failures are counted per unit of time unless the metric says otherwise: exposure may be fractional.
  const unit = config.metrics.find((metric) => metric.name === guard.metric)?.unit ?? "minutes";
  const steps = increments(guard.metric, seriesOf(observations, guard.metric), unit);
  const last = steps[steps.length - 1];
  if (!last) return { failures: 0, fired: false };
  const failures = steps
    .filter((step) => step.atMinute > last.atMinute - windowMinutes)
    .reduce((sum, step) => sum + step.canary.bad, 0);
  return { failures, fired: failures >= maxFailures };
}

function burnEvidence(
  guard: BurnRateGuard,
  observations: Observations,
  config: JudgeConfig,
  alphaPerTest: number,
): { canary: ArmCounts; batches: RateBatch[]; options: EvidenceOptions; logEvidence: number } {
  const snapshots = seriesOf(observations, guard.metric);
  const metric = config.metrics.find((m) => m.name === guard.metric);
  const steps: Increment[] = increments(guard.metric, snapshots, metric?.unit ?? REQUESTS);
  const { weights } = armWeights(steps, dispersionOptions(metric, config));
  const batches = rateBatches(
    steps.map((step) => step.canary),
    weights,
  );
  const { canary } = totals(snapshots);
  const budget = (guard.maxBurn ?? DEFAULT_MAX_BURN) * (1 - guard.slo);
  const options = capFor(alphaPerTest, config);
  return { canary, batches, options, logEvidence: rateLogEvidence(batches, budget, "above", options) };
}

function combine(votes: readonly Decision[], guardFired: boolean): Decision {
  if (guardFired || votes.includes("ROLLBACK")) return "ROLLBACK";
  return votes.every((vote) => vote === "PROMOTE") ? "PROMOTE" : "CONTINUE";
}

/**
 * The decision alone, without intervals, lines or estimates: what `judge` decides, at a fraction of
 * the cost. The simulator calls it at every look.
 */
export function decide(observations: Observations, config: JudgeConfig): Decision {
  const { alphaPerTest, metrics } = validate(config);
  const threshold = Math.log(1 / alphaPerTest);
  let guardFired =
    config.crashLoop !== undefined && crashLoopFires(config.crashLoop, observations, config).fired;
  for (const guard of config.burnRate ?? []) {
    if (burnEvidence(guard, observations, config, alphaPerTest).logEvidence >= threshold) guardFired = true;
  }
  const votes = metrics.map(
    (metric) => assess(metric, seriesOf(observations, metric.name), alphaPerTest, config).vote,
  );
  return combine(votes, guardFired);
}

/** Judges a canary: guards first, then one anytime-valid comparison per metric. */
export function judge(observations: Observations, config: JudgeConfig): Verdict {
  const { alpha, alphaPerTest, metrics } = validate(config);
  const threshold = Math.log(1 / alphaPerTest);
  const guards: GuardResult[] = [];
  if (config.crashLoop) {
    const guard = config.crashLoop;
    const { failures, fired } = crashLoopFires(guard, observations, config);
    const limit = guard.maxFailures ?? DEFAULT_CRASH_LOOP.maxFailures;
    const window = guard.windowMinutes ?? DEFAULT_CRASH_LOOP.windowMinutes;
    guards.push({
      guard: "crash-loop",
      metric: guard.metric,
      fired,
      line:
        `crash loop (${guard.metric}): canary had ${failures} failures in the last ${window} min ` +
        `(limit ${limit}) → ${fired ? "ROLLBACK" : "ok"}`,
    });
  }
  for (const guard of config.burnRate ?? []) {
    const { canary, batches, options, logEvidence } = burnEvidence(guard, observations, config, alphaPerTest);
    const fired = logEvidence >= threshold;
    const budget = 1 - guard.slo;
    const maxBurn = guard.maxBurn ?? DEFAULT_MAX_BURN;
    const bounds = rateBounds(batches, alphaPerTest, alphaPerTest, options, options);
    guards.push({
      guard: "burn-rate",
      metric: guard.metric,
      fired,
      line:
        `burn rate (${guard.metric}, SLO ${formatPercent(guard.slo)}): canary ${formatBurn(canary.bad / canary.exposure / budget)} ` +
        `of budget (${canary.bad}/${formatCount(canary.exposure)}), ` +
        `[${formatBurn(bounds.lower / budget)}–${formatBurn(bounds.upper / budget)}] ` +
        `${fired ? ">" : "vs"} allowed ${formatBurn(maxBurn)} → ${fired ? "ROLLBACK" : "ok"}`,
    });
  }
  const assessments = metrics.map((metric) =>
    assess(metric, seriesOf(observations, metric.name), alphaPerTest, config),
  );
  const metricVerdicts = assessments.map((assessment) => explain(assessment, alphaPerTest));
  const decision = combine(
    assessments.map((assessment) => assessment.vote),
    guards.some((guard) => guard.fired),
  );
  const remaining = bindingRemaining(metricVerdicts, assessments);
  return {
    decision,
    metrics: metricVerdicts,
    guards,
    reasons: reasonsFor(decision, metricVerdicts, guards),
    ...(remaining ? { remaining } : {}),
    alpha,
    alphaPerTest,
    lines: [...metricVerdicts.map((metric) => metric.line), ...guards.map((guard) => guard.line)],
  };
}

function summary(counts: ArmCounts): ArmSummary {
  return { ...counts, rate: counts.exposure > 0 ? counts.bad / counts.exposure : NaN };
}

function explain(assessment: Assessment, alphaPerTest: number): MetricVerdict {
  const { config: metric, canary, baseline, batches, vote } = assessment;
  const alphaSafe = safeAlpha(metric, alphaPerTest);
  const canaryRate = canary.exposure > 0 ? canary.bad / canary.exposure : NaN;
  const baselineRate = baseline.exposure > 0 ? baseline.bad / baseline.exposure : NaN;
  const ratio = canaryRate / baselineRate;
  const warnings: string[] = [];
  if (metric.unit === "requests") {
    for (const [arm, rate] of [
      ["canary", canaryRate],
      ["baseline", baselineRate],
    ] as const) {
      if (rate > RARE_EVENT_LIMIT) {
        warnings.push(
          `${metric.name}: ${arm} bad rate ${formatPercent(rate)} is not rare; the count test is conservative here ` +
            "(a latency-band metric may be better judged at a higher band edge)",
        );
      }
    }
  }
  const verdict: MetricVerdict = {
    metric: metric.name,
    vote,
    canary: summary(canary),
    baseline: summary(baseline),
    ratio,
    evidence: {
      harm: Math.exp(assessment.logHarm),
      harmThreshold: 1 / alphaPerTest,
      safe: Math.exp(assessment.logSafe),
      safeThreshold: 1 / alphaSafe,
    },
    minExposure: metric.minExposure,
    dispersion: assessment.dispersion,
    warnings,
    line: "",
  };
  const parts: string[] = [];
  if (metric.maxRatio !== undefined) {
    const { harm, safe } = assessment.options;
    const bounds = ratioBounds(batches, alphaPerTest, alphaSafe, harm, safe);
    verdict.maxRatio = metric.maxRatio;
    verdict.ratioInterval = { ...bounds, level: 1 - alphaPerTest - alphaSafe };
    const relation = bounds.lower > metric.maxRatio ? ">" : bounds.upper <= metric.maxRatio ? "≤" : "vs";
    parts.push(
      `ratio ${Number.isNaN(ratio) ? "n/a" : `${formatRatio(ratio)}×`} [${formatBound(bounds.lower, metric.maxRatio)}–${formatBound(bounds.upper, metric.maxRatio)}×] ` +
        `${relation} allowed ${metric.maxRatio.toFixed(2)}×`,
    );
  }
  if (metric.floorRate !== undefined) {
    const { harm, safe } = assessment.options;
    const bounds = rateBounds(assessment.canaryRates, alphaPerTest, alphaSafe, harm, safe);
    verdict.floorRate = metric.floorRate;
    verdict.canaryRateInterval = { ...bounds, level: 1 - alphaPerTest - alphaSafe };
    const relation = bounds.lower > metric.floorRate ? ">" : bounds.upper <= metric.floorRate ? "≤" : "vs";
    parts.push(
      `canary rate [${formatRateRange(bounds, metric.unit)}] ` +
        `${relation} floor ${formatRate(metric.floorRate, metric.unit)}`,
    );
  }
  let note: string;
  if (vote === "ROLLBACK") {
    note = `evidence ${formatEvidence(verdict.evidence.harm)} ≥ ${formatEvidence(verdict.evidence.harmThreshold)}`;
  } else if (vote === "PROMOTE") {
    note = `${formatCount(canary.exposure)} canary ${metric.unit} ≥ minimum ${formatCount(metric.minExposure)}`;
  } else {
    const remaining = estimateRemaining(assessment, alphaPerTest);
    if (remaining) verdict.remaining = remaining;
    const looksHarmful = verdict.evidence.harm >= verdict.evidence.safe;
    const why = assessment.safe
      ? `within margin, but ${formatCount(canary.exposure)} canary ${metric.unit} < minimum ${formatCount(metric.minExposure)}`
      : looksHarmful
        ? `evidence of harm ${formatEvidence(verdict.evidence.harm)} < ${formatEvidence(verdict.evidence.harmThreshold)}`
        : `evidence of safety ${formatEvidence(verdict.evidence.safe)} < ${formatEvidence(verdict.evidence.safeThreshold)}`;
    note = `${why}; ${formatRemaining(remaining, canary, baseline)}`;
  }
  const discount = appliedDiscount(assessment);
  const variability =
    discount > 1 + 1e-9
      ? `; ${metric.name} ${formatBurn(discount)} more variable than independent ${metric.unit}; evidence discounted`
      : "";
  verdict.line =
    `${metric.name}: canary ${formatRate(canaryRate, metric.unit)} (${formatCount(canary.bad)}/${formatCount(canary.exposure)}) ` +
    `vs baseline ${formatRate(baselineRate, metric.unit)} (${formatCount(baseline.bad)}/${formatCount(baseline.exposure)}); ` +
    `${parts.join("; ")} → ${vote} (${note})${variability}`;
  return verdict;
}

/** The discount the metric's deciding tests apply from now on: the larger of ratio and floor tests'. */
function appliedDiscount(assessment: Assessment): number {
  const { config: metric, dispersion } = assessment;
  let discount = 1;
  if (metric.maxRatio !== undefined) discount = Math.max(discount, dispersion.ratio.next);
  if (metric.floorRate !== undefined) discount = Math.max(discount, dispersion.rate.next);
  return discount;
}

/**
 * Further exposure (both arms, current split) after which this metric would be decided, if the rates
 * seen so far (a clean arm counted as half a bad event, so it still has a rate) keep coming at their
 * expected values. A projection, not a promise: it is what "need about N more requests" reports.
 */
function estimateRemaining(assessment: Assessment, alphaPerTest: number): Remaining | undefined {
  const { config: metric, canary, baseline, batches } = assessment;
  const total = canary.exposure + baseline.exposure;
  if (canary.exposure === 0 || baseline.exposure === 0) return undefined;
  // With no bad events anywhere the ratio cannot move; only a floor can decide a clean canary.
  if (canary.bad + baseline.bad === 0 && metric.floorRate === undefined) return undefined;
  const share = canary.exposure / total;
  const canaryRate = Math.max(canary.bad, 0.5) / canary.exposure;
  const baselineRate = Math.max(baseline.bad, 0.5) / baseline.exposure;
  const looksHarmful =
    (metric.maxRatio === undefined || canaryRate > metric.maxRatio * baselineRate) &&
    (metric.floorRate === undefined || canaryRate > metric.floorRate);
  const harmThreshold = Math.log(1 / alphaPerTest);
  const safeThreshold = Math.log(1 / safeAlpha(metric, alphaPerTest));
  const minTotal = Math.max(0, (metric.minExposure - canary.exposure) / share);
  // The future arrives in blocks like the past ones, each discounted like the next look will be.
  const blocks = Math.max(1, assessment.dispersion.ratio.blocks);
  const perBlock = total / blocks;
  const decidedAfter = (extra: number): boolean => {
    const repeat = extra / perBlock;
    const projected: RatioBatch[] = [
      ...batches,
      {
        canaryShare: share,
        canaryBad: perBlock * share * canaryRate,
        baselineBad: perBlock * (1 - share) * baselineRate,
        discount: assessment.dispersion.ratio.next,
        block: -1,
        repeat,
      },
    ];
    const projectedRates: RateBatch[] = [
      ...assessment.canaryRates,
      {
        bad: perBlock * share * canaryRate,
        exposure: perBlock * share,
        discount: assessment.dispersion.rate.next,
        block: -1,
        repeat,
      },
    ];
    const { logHarm, logSafe } = evidenceFor(metric, projected, projectedRates, assessment.options);
    return looksHarmful ? logHarm >= harmThreshold : logSafe >= safeThreshold && extra >= minTotal;
  };
  const result = (extra: number): Remaining => ({
    metric: metric.name,
    unit: metric.unit,
    exposure: Math.ceil(extra),
    canaryExposure: Math.ceil(extra * share),
  });
  let high = Math.max(total / 64, minTotal, 1);
  while (!decidedAfter(high)) {
    high *= 2;
    if (high > total * REMAINING_SEARCH_LIMIT) return { ...result(Infinity), canaryExposure: Infinity };
  }
  let low = Math.max(minTotal, high / 2);
  if (decidedAfter(low)) return result(low);
  for (let step = 0; step < 20; step++) {
    const mid = (low + high) / 2;
    if (decidedAfter(mid)) high = mid;
    else low = mid;
  }
  return result(high);
}

function bindingRemaining(
  verdicts: readonly MetricVerdict[],
  assessments: readonly Assessment[],
): Remaining | undefined {
  let best: Remaining | undefined;
  let bestGrowth = -1;
  verdicts.forEach((verdict, index) => {
    const remaining = verdict.remaining;
    const assessment = assessments[index];
    if (!remaining || !assessment) return;
    const seen = assessment.canary.exposure + assessment.baseline.exposure;
    const growth = remaining.exposure / seen;
    if (growth > bestGrowth) {
      best = remaining;
      bestGrowth = growth;
    }
  });
  return best;
}

function reasonsFor(
  decision: Decision,
  metrics: readonly MetricVerdict[],
  guards: readonly GuardResult[],
): string[] {
  const reasons: string[] = [];
  for (const guard of guards) if (guard.fired) reasons.push(guard.line);
  for (const metric of metrics) {
    if (metric.vote === "ROLLBACK") reasons.push(metric.line);
  }
  if (decision === "PROMOTE") {
    reasons.push("every metric is provably within its margin and has its minimum canary exposure");
  }
  if (decision === "CONTINUE") {
    for (const metric of metrics) {
      if (metric.vote !== "CONTINUE") continue;
      const need = formatRemaining(metric.remaining, metric.canary, metric.baseline);
      const state =
        metric.evidence.safe >= metric.evidence.safeThreshold
          ? "within margin, minimum exposure not met"
          : "not decided yet";
      reasons.push(`${metric.metric}: ${state}; ${need}`);
    }
  }
  for (const metric of metrics) reasons.push(...metric.warnings);
  return reasons;
}

function undecidedWhy(canary: ArmCounts, baseline: ArmCounts): string {
  if (canary.exposure === 0 || baseline.exposure === 0) {
    return `no traffic on ${canary.exposure === 0 ? "the canary" : "the baseline"} yet`;
  }
  return "no bad events in either arm yet; a ratio needs some (a floorRate lets a clean canary promote)";
}

function formatRemaining(remaining: Remaining | undefined, canary: ArmCounts, baseline: ArmCounts): string {
  if (!remaining) return undecidedWhy(canary, baseline);
  if (remaining.exposure === Infinity) return "too close to the margin to decide at this traffic";
  return `need about ${formatAbout(remaining.exposure)} more ${remaining.unit} (${formatAbout(remaining.canaryExposure)} canary)`;
}

/** Two significant figures, rounded up: estimates should not look more precise than they are. */
function formatAbout(value: number): string {
  if (!Number.isFinite(value)) return "∞";
  const magnitude = value < 10 ? 1 : 10 ** (Math.floor(Math.log10(value)) - 1);
  return (Math.ceil(value / magnitude) * magnitude).toLocaleString("en-US");
}

function formatCount(value: number): string {
  if (!Number.isFinite(value)) return "∞";
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function formatEvidence(value: number): string {
  if (value >= 1e6) return value.toExponential(1);
  if (value >= 100) return String(Math.round(value));
  return value
    .toPrecision(2)
    .replace(/(\.\d*?)0+$/, "$1")
    .replace(/\.$/, "");
}

function formatRatio(value: number): string {
  if (Number.isNaN(value)) return "n/a";
  if (!Number.isFinite(value) || value >= RATIO_LIMIT) return "∞";
  if (value === 0 || value <= 1 / RATIO_LIMIT) return "0";
  if (value >= 100) return String(Math.round(value));
  return value.toPrecision(2);
}

/** A bound that rounds to the margin at two digits gets a third, so "≤ 1.10×" never reads "1.1 ≤ 1.10". */
function formatBound(value: number, margin: number): string {
  const text = formatRatio(value);
  return Number(text) === Number(margin.toPrecision(2)) ? value.toPrecision(3) : text;
}

function formatBurn(value: number): string {
  if (Number.isNaN(value)) return "n/a";
  if (!Number.isFinite(value)) return "∞×";
  return `${value >= 100 ? Math.round(value) : value.toPrecision(2)}×`;
}

function formatPercent(fraction: number): string {
  if (Number.isNaN(fraction)) return "n/a";
  if (!Number.isFinite(fraction)) return "∞";
  const percent = fraction * 100;
  if (percent === 0) return "0%";
  if (percent >= 10) return `${percent.toFixed(1)}%`;
  if (percent >= 0.1) return `${percent.toFixed(2)}%`;
  return `${percent.toPrecision(2)}%`;
}

/** Requests print as percentages; other units as "0.40/pod-minute". */
function formatRate(rate: number, unit: string): string {
  if (unit === "requests") return formatPercent(rate);
  if (Number.isNaN(rate)) return "n/a";
  if (!Number.isFinite(rate)) return `∞/${singular(unit)}`;
  return `${rate === 0 ? "0" : rate.toPrecision(2)}/${singular(unit)}`;
}

/** "0.34–1.09%" or "0.0011–0.20/pod-minute": the unit once. */
function formatRateRange(bounds: Bounds, unit: string): string {
  const lower = formatRate(bounds.lower, unit);
  const upper = formatRate(bounds.upper, unit);
  const suffix = unit === "requests" ? "%" : `/${singular(unit)}`;
  return lower.endsWith(suffix) && upper.endsWith(suffix)
    ? `${lower.slice(0, -suffix.length)}–${upper}`
    : `${lower}–${upper}`;
}

function singular(unit: string): string {
  return unit.endsWith("s") ? unit.slice(0, -1) : unit;
}
