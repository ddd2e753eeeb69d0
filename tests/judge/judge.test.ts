// The canary judge, specified by what it decides on simulated and hand-made canaries: calibrated
// false rollbacks under repeated looks, fast detection of real regressions, promotion only with
// proof and exposure, honest CONTINUE on thin traffic, and one readable line per metric. The
// Flagger-style threshold judge runs on the same simulations for comparison.
//
// Traffic split assumed by the detection tests (also in tools/bench/judge.ts): "3000 requests
// per minute" is what EACH arm gets: the canary and a fresh baseline of the same size (Kayenta
// practice), 6000 rpm in all. At 3000 rpm in total (1500 per arm, or a 10% canary) no valid test with
// a 1.10× margin can catch 2× within 10 minutes 95% of the time: even a single fixed-sample z-test at
// minute 10 has only about 95% power there. The bench prints those settings too.
//
// Simulation error: with n runs a true rate p is estimated within ±3·sqrt(p(1−p)/n) about 99.7% of
// the time, so "false rollback rate ≤ α" is asserted as observed ≤ α + 3·sqrt(α(1−α)/n).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { flaggerJudge, type FlaggerConfig } from "../../tools/compare/flagger.ts";
import { decide, judge, type JudgeConfig, type Verdict } from "../../src/judge/judge.ts";
import { JudgeError, type Observations, type Snapshot } from "../../src/observe/observations.ts";
import {
  decisionRate,
  medianMinutes,
  runSeed,
  simulate,
  simulateSnapshots,
  type Scenario,
  type SimMetric,
} from "../../tools/simulate/canary-traffic.ts";
import { bursts, cvForDispersion, latencyMetric } from "../../tools/simulate/scenarios.ts";
import { minutesToPromote } from "../../src/judge/horizon.ts";

const RUNS = 400;
const BASELINE_5XX = 0.003;
const PER_ARM_RPM = 3000;

function upperSimulationBound(alpha: number, runs: number): number {
  return alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs);
}

function snapshot(
  canaryBad: number,
  canaryExposure: number,
  baselineBad: number,
  baselineExposure: number,
): Snapshot {
  return {
    canary: { bad: canaryBad, exposure: canaryExposure },
    baseline: { bad: baselineBad, exposure: baselineExposure },
  };
}

/**
 * The same totals reached in two one-minute looks (half, then all): no single block may decide
 * (BLOCK_CAP_SHARE), so hand-made verdicts need at least two.
 */
function twoLooks(
  canaryBad: number,
  canaryExposure: number,
  baselineBad: number,
  baselineExposure: number,
): Snapshot[] {
  return looks(2, canaryBad, canaryExposure, baselineBad, baselineExposure);
}

/** The totals reached in `n` equal one-minute looks. */
function looks(
  n: number,
  canaryBad: number,
  canaryExposure: number,
  baselineBad: number,
  baselineExposure: number,
): Snapshot[] {
  const part = (value: number, look: number) => Math.floor((value * look) / n);
  return Array.from({ length: n }, (_, index) => ({
    ...snapshot(
      part(canaryBad, index + 1),
      part(canaryExposure, index + 1),
      part(baselineBad, index + 1),
      part(baselineExposure, index + 1),
    ),
    atMinute: index + 1,
  }));
}

/** Equal arms of PER_ARM_RPM requests per minute each. */
function perArmScenario(metrics: SimMetric[], minutes: number): Scenario {
  return { requestsPerMinute: 2 * PER_ARM_RPM, canaryShare: 0.5, minutes, metrics };
}

function fiveXx(multiplier: number, baselineRate = BASELINE_5XX): SimMetric {
  return { name: "5xx", canaryRate: baselineRate * multiplier, baselineRate };
}

const FIVE_XX_ONLY: JudgeConfig = { metrics: [{ name: "5xx", maxRatio: 1.1 }], alpha: 0.05 };

const FULL_CONFIG: JudgeConfig = {
  alpha: 0.05,
  metrics: [
    { name: "5xx", maxRatio: 1.1 },
    { name: "filter-rejections", maxRatio: 1.1 },
    { name: "slow-requests", maxRatio: 1.1 },
    { name: "vm-failures", floorRate: 0.05, unit: "pod-minutes" },
  ],
  crashLoop: { metric: "vm-failures", maxFailures: 3, windowMinutes: 5 },
  burnRate: [{ metric: "5xx", slo: 0.995, maxBurn: 3 }],
};

const FLAGGER_DOCS: FlaggerConfig = {
  checks: [{ metric: "5xx", measure: "success-rate", thresholdRange: { min: 99 } }],
  threshold: 5,
  iterations: 10,
};

const judges = {
  graft: (observations: Observations) => decide(observations, FIVE_XX_ONLY),
  flagger: (observations: Observations) => flaggerJudge(observations, FLAGGER_DOCS).decision,
};

describe("graft canary judge", () => {
  describe("when canary and baseline behave the same (A/A)", () => {
    it("falsely rolls back in at most α of runs over 60 looks, all metrics and guards together", (t) => {
      const scenario = perArmScenario(
        [
          fiveXx(1),
          { name: "filter-rejections", canaryRate: 0.01, baselineRate: 0.01 },
          { name: "slow-requests", canaryRate: 0.02, baselineRate: 0.02 },
          {
            name: "vm-failures",
            canaryRate: 0.005,
            baselineRate: 0.005,
            exposurePerMinute: { canary: 4, baseline: 4 },
          },
        ],
        60,
      );
      const result = simulate(
        scenario,
        { runs: RUNS, seed: 101 },
        { graft: (o) => decide(o, FULL_CONFIG) },
      ).graft;
      assert.ok(result);
      const falseRollbacks = decisionRate(result, "ROLLBACK");
      const bound = upperSimulationBound(0.05, RUNS);
      t.diagnostic(
        `A/A, 4 metrics + 2 guards: false rollback ${(100 * falseRollbacks).toFixed(1)}% (bound ${(100 * bound).toFixed(1)}%)`,
      );
      assert.ok(falseRollbacks <= bound, `false rollback rate ${falseRollbacks} > ${bound}`);
    });

    it("at the margin itself (canary exactly 1.10× baseline) still rolls back in at most α of runs", (t) => {
      const scenario = perArmScenario([fiveXx(1.1)], 60);
      const result = simulate(scenario, { runs: RUNS, seed: 102 }, { graft: judges.graft }).graft;
      assert.ok(result);
      const falseRollbacks = decisionRate(result, "ROLLBACK");
      const bound = upperSimulationBound(0.05, RUNS);
      t.diagnostic(
        `canary at 1.10×, 5xx only: false rollback ${(100 * falseRollbacks).toFixed(1)}% (bound ${(100 * bound).toFixed(1)}%)`,
      );
      assert.ok(falseRollbacks <= bound, `false rollback rate ${falseRollbacks} > ${bound}`);
    });
  });

  describe(`when the canary has 2× the 5xx (0.3% → 0.6%) at ${PER_ARM_RPM} requests/min per arm`, () => {
    it("rolls back within 10 simulated minutes in at least 90% of runs", (t) => {
      const result = simulate(
        perArmScenario([fiveXx(2)], 10),
        { runs: RUNS, seed: 201 },
        { graft: judges.graft },
      ).graft;
      assert.ok(result);
      const caught = decisionRate(result, "ROLLBACK", 10);
      t.diagnostic(
        `2×: caught ≤ 10 min in ${(100 * caught).toFixed(1)}%, median ${medianMinutes(result, "ROLLBACK")} min`,
      );
      assert.ok(caught >= 0.9, `caught in ${caught}`);
    });
  });

  describe(`when the canary has 5× the 5xx (0.3% → 1.5%) at ${PER_ARM_RPM} requests/min per arm`, () => {
    it("rolls back within 2 simulated minutes in at least 95% of runs", (t) => {
      const result = simulate(
        perArmScenario([fiveXx(5)], 2),
        { runs: RUNS, seed: 301 },
        { graft: judges.graft },
      ).graft;
      assert.ok(result);
      const caught = decisionRate(result, "ROLLBACK", 2);
      t.diagnostic(`5×: caught ≤ 2 min in ${(100 * caught).toFixed(1)}%`);
      assert.ok(caught >= 0.95, `caught in ${caught}`);
    });
  });

  describe("when the baseline has no bad events at all (Kayenta's blind spot)", () => {
    it("rolls back a canary that has a few", () => {
      const verdict = judge({ "5xx": twoLooks(6, 500, 0, 5000) }, FIVE_XX_ONLY);
      assert.equal(verdict.decision, "ROLLBACK");
      const metric = verdict.metrics[0];
      assert.ok(metric);
      assert.equal(metric.ratio, Infinity);
      assert.ok((metric.ratioInterval?.lower ?? 0) > 1.1);
    });

    it("rolls back a canary erring on 0.1% of requests within 10 simulated minutes in at least 95% of runs", () => {
      const scenario = perArmScenario([{ name: "5xx", canaryRate: 0.001, baselineRate: 0 }], 10);
      const result = simulate(scenario, { runs: RUNS, seed: 401 }, { graft: judges.graft }).graft;
      assert.ok(result);
      assert.ok(decisionRate(result, "ROLLBACK", 10) >= 0.95);
    });

    it("does not roll back when both arms are clean, and says why it cannot decide", () => {
      const verdict = judge({ "5xx": [snapshot(0, 30000, 0, 30000)] }, FIVE_XX_ONLY);
      assert.equal(verdict.decision, "CONTINUE");
      assert.match(verdict.metrics[0]?.line ?? "", /no bad events in either arm yet/);
    });
  });

  describe("promotion", () => {
    it("promotes a good canary at the look where its minimum exposure is met, not before", () => {
      // Expected counts, no noise: both arms 0.3% of 30000 requests/min, so the interval tightens
      // around 1.0× each minute; minimum exposure 1,200,000 canary requests = minute 40.
      const config: JudgeConfig = { metrics: [{ name: "5xx", maxRatio: 1.1, minExposure: 1_200_000 }] };
      const series: Snapshot[] = [];
      let firstInsideMargin: number | undefined;
      let firstPromote: number | undefined;
      let before: Verdict | undefined;
      for (let minute = 1; minute <= 60 && firstPromote === undefined; minute++) {
        series.push({
          ...snapshot(90 * minute, 30000 * minute, 90 * minute, 30000 * minute),
          atMinute: minute,
        });
        const verdict = judge({ "5xx": series }, config);
        if (
          firstInsideMargin === undefined &&
          (verdict.metrics[0]?.ratioInterval?.upper ?? Infinity) <= 1.1
        ) {
          firstInsideMargin = minute;
        }
        if (verdict.decision === "PROMOTE") firstPromote = minute;
        else before = verdict;
      }
      assert.ok(
        firstInsideMargin !== undefined && firstInsideMargin < 40,
        `inside margin at ${firstInsideMargin}`,
      );
      assert.equal(firstPromote, 40);
      assert.equal(before?.decision, "CONTINUE");
      assert.match(
        before?.reasons[0] ?? "",
        /^5xx: within margin, minimum exposure not met; need about 60,000 more requests \(30,000 canary\)$/,
      );
    });

    it("with thin traffic continues and says about how many more requests it needs", () => {
      // 20 canary and 200 baseline requests a minute for 10 minutes.
      const verdict = judge({ "5xx": [snapshot(1, 200, 6, 2000)] }, FIVE_XX_ONLY);
      assert.equal(verdict.decision, "CONTINUE");
      const remaining = verdict.remaining;
      assert.ok(remaining && Number.isFinite(remaining.exposure) && remaining.exposure > 2200);
      assert.equal(remaining.metric, "5xx");
      assert.match(
        verdict.reasons[0] ?? "",
        /^5xx: not decided yet; need about [\d,]+ more requests \([\d,]+ canary\)$/,
      );
      assert.match(
        verdict.metrics[0]?.line ?? "",
        /→ CONTINUE \(evidence of safety [\d.]+ < 20; need about [\d,]+ more requests \([\d,]+ canary\)\)$/,
      );
    });

    it("decides once traffic like the current one has brought about the estimated remaining requests", () => {
      const canaryRate = 3 / 2000;
      const baselineRate = 40 / 20000;
      const start: Snapshot = { ...snapshot(3, 2000, 40, 20000), atMinute: 1 };
      const verdict = judge({ "5xx": [start] }, FIVE_XX_ONLY);
      const estimate = verdict.remaining?.exposure;
      assert.ok(estimate !== undefined && Number.isFinite(estimate));
      // More looks like the first: 22,000 requests a minute, the same rates, until `extra` has come.
      const decidedAfter = (extra: number): boolean => {
        const series = [start];
        for (let done = 0; done < extra; done += 22000) {
          const total = Math.min(extra, done + 22000);
          const canaryExtra = total / 11;
          const baselineExtra = total - canaryExtra;
          series.push({
            ...snapshot(
              Math.round(3 + canaryExtra * canaryRate),
              Math.round(2000 + canaryExtra),
              Math.round(40 + baselineExtra * baselineRate),
              Math.round(20000 + baselineExtra),
            ),
            atMinute: series.length + 1,
          });
        }
        return decide({ "5xx": series }, FIVE_XX_ONLY) !== "CONTINUE";
      };
      assert.equal(decidedAfter(estimate * 0.8), false);
      assert.equal(decidedAfter(estimate * 1.05), true);
    });
  });

  describe("verdict lines", () => {
    it("read: metric, both arms' rates and counts, ratio with its interval, the margin, the decision", () => {
      const verdict = judge({ "5xx": twoLooks(31, 5000, 145, 50000) }, FIVE_XX_ONLY);
      const metric = verdict.metrics[0];
      assert.ok(metric);
      assert.equal(
        metric.line,
        "5xx: canary 0.62% (31/5000) vs baseline 0.29% (145/50000); ratio 2.1× [1.11–4.4×] > allowed 1.10× → ROLLBACK (evidence 20 ≥ 20)",
      );
      assert.equal(verdict.decision, "ROLLBACK");
      assert.deepEqual(verdict.lines, [metric.line]);
      assert.equal(metric.vote, "ROLLBACK");
      assert.ok(Math.abs(metric.ratio - 0.0062 / 0.0029) < 1e-9);
      assert.ok(
        metric.ratioInterval && metric.ratioInterval.lower > 1.1 && metric.ratioInterval.upper > metric.ratio,
      );
      assert.ok(metric.evidence.harm >= metric.evidence.harmThreshold);
      assert.equal(metric.evidence.harmThreshold, 20);
    });

    it("say PROMOTE with the exposure that allowed it", () => {
      const verdict = judge(
        { "5xx": looks(4, 1500, 500000, 15000, 5000000) },
        {
          metrics: [{ name: "5xx", maxRatio: 1.1, minExposure: 100000 }],
        },
      );
      assert.equal(verdict.decision, "PROMOTE");
      assert.match(
        verdict.metrics[0]?.line ?? "",
        /^5xx: canary 0\.30% \(1500\/500000\) vs baseline 0\.30% \(15000\/5000000\); ratio 1\.0× \[0\.\d+–1\.0\d×\] ≤ allowed 1\.10× → PROMOTE \(500000 canary requests ≥ minimum 100000\)$/,
      );
    });

    it("show rates per unit of exposure for metrics that are not per request", () => {
      const verdict = judge(
        { "vm-failures": twoLooks(2, 50, 0, 50) },
        {
          metrics: [{ name: "vm-failures", floorRate: 0.01, unit: "pod-minutes" }],
        },
      );
      assert.match(
        verdict.metrics[0]?.line ?? "",
        /^vm-failures: canary 0\.040\/pod-minute \(2\/50\) vs baseline 0\/pod-minute \(0\/50\); canary rate \[[\d.]+–[\d.]+\/pod-minute\] vs floor 0\.010\/pod-minute → CONTINUE/,
      );
    });
  });

  describe("guards", () => {
    it("rolls back on a crash loop, whatever the statistics say", () => {
      const series = [
        { ...snapshot(0, 4, 0, 4), atMinute: 1 },
        { ...snapshot(2, 8, 0, 8), atMinute: 2 },
        { ...snapshot(3, 12, 0, 12), atMinute: 3 },
      ];
      const verdict = judge(
        { "vm-failures": series },
        {
          metrics: [{ name: "vm-failures", maxRatio: 1.1, unit: "pod-minutes" }],
          crashLoop: { metric: "vm-failures", maxFailures: 3, windowMinutes: 5 },
        },
      );
      assert.equal(verdict.decision, "ROLLBACK");
      assert.equal(verdict.guards[0]?.fired, true);
      assert.equal(
        verdict.reasons[0],
        "crash loop (vm-failures): canary had 3 failures in the last 5 min (limit 3) → ROLLBACK",
      );
    });

    it("does not call failures spread beyond the window a crash loop", () => {
      const series = [
        { ...snapshot(1, 4, 0, 4), atMinute: 1 },
        { ...snapshot(2, 40, 0, 40), atMinute: 10 },
        { ...snapshot(3, 80, 0, 80), atMinute: 20 },
      ];
      const verdict = judge(
        { "vm-failures": series },
        {
          metrics: [{ name: "vm-failures", floorRate: 0.1, unit: "pod-minutes" }],
          crashLoop: { metric: "vm-failures", maxFailures: 3, windowMinutes: 5 },
        },
      );
      assert.equal(verdict.guards[0]?.fired, false);
      assert.notEqual(verdict.decision, "ROLLBACK");
    });

    it("rolls back when the canary provably burns its error budget more than 3× as fast, even against an equally bad baseline", () => {
      const config: JudgeConfig = {
        metrics: [{ name: "5xx", maxRatio: 1.1 }],
        burnRate: [{ metric: "5xx", slo: 0.999 }],
      };
      const verdict = judge({ "5xx": twoLooks(31, 5000, 310, 50000) }, config);
      assert.equal(verdict.decision, "ROLLBACK");
      assert.equal(verdict.metrics[0]?.vote, "CONTINUE");
      assert.equal(verdict.guards[0]?.fired, true);
    });

    it("does not fire on one unlucky error at low traffic (a 20× point estimate)", () => {
      const config: JudgeConfig = {
        metrics: [{ name: "5xx", maxRatio: 1.1 }],
        burnRate: [{ metric: "5xx", slo: 0.999 }],
      };
      const verdict = judge({ "5xx": [snapshot(1, 50, 1, 500)] }, config);
      assert.equal(verdict.guards[0]?.fired, false);
      assert.equal(verdict.decision, "CONTINUE");
    });
  });

  describe("input", () => {
    it("refuses counters that go down (a hot restart the collector did not stitch)", () => {
      assert.throws(
        () => judge({ "5xx": [snapshot(5, 1000, 5, 1000), snapshot(1, 200, 6, 1100)] }, FIVE_XX_ONLY),
        (error: unknown) => error instanceof JudgeError && error.code === "COUNTER_DECREASED",
      );
    });

    it("refuses an α outside (0, 1)", () => {
      assert.throws(
        () => judge({}, { ...FIVE_XX_ONLY, alpha: 0 }),
        (error: unknown) => error instanceof JudgeError && error.code === "INVALID_CONFIG",
      );
    });

    it("decides exactly as judge() does, on simulated canaries", () => {
      const scenario = perArmScenario([fiveXx(1.6)], 15);
      for (let run = 0; run < 20; run++) {
        const series: Snapshot[] = [];
        for (const look of simulateSnapshots(scenario, runSeed(9, run))) {
          series.push(look["5xx"] as Snapshot);
          const config: JudgeConfig = {
            ...FULL_CONFIG,
            metrics: FULL_CONFIG.metrics.slice(0, 1),
            crashLoop: undefined,
          };
          assert.equal(decide({ "5xx": series }, config), judge({ "5xx": series }, config).decision);
        }
      }
    });
  });
});

// Issue 13: the judge keeps its promise on bursty traffic. Per-arm bursts give a dispersion index
// D (variance over what independent requests give) of 1 + CV²·μ with μ = 9 bad events a minute per
// arm: D ≈ 3 at CV 0.47, D ≈ 10 at CV 1. Bursts are in the canary arm for false rollbacks (its bursts
// look like harm) and in both arms for false promotes. The default plan's signals, α = 0.05.
describe("graft canary judge on bursty traffic", () => {
  const DISPERSION_RUNS = 300;
  const PLAN_5XX: JudgeConfig = {
    metrics: [{ name: "5xx", maxRatio: 1.25, floorRate: 0.002, minExposure: 500 }],
  };
  const PLAN_SLOW: JudgeConfig = {
    metrics: [{ name: "slow>50ms", maxRatio: 1.25, floorRate: 0.01, minExposure: 500 }],
  };
  const bound = upperSimulationBound(0.05, DISPERSION_RUNS);
  const rate = (
    scenario: Scenario,
    config: JudgeConfig,
    seed: number,
    decision: "ROLLBACK" | "PROMOTE",
  ): number => {
    const result = simulate(
      scenario,
      { runs: DISPERSION_RUNS, seed },
      { graft: (o) => decide(o, config) },
    ).graft;
    assert.ok(result);
    return decisionRate(result, decision);
  };

  for (const dispersion of [1, 3, 10]) {
    const cv = dispersion === 1 ? 0 : cvForDispersion(dispersion);
    it(`5xx at D ≈ ${dispersion}: false ROLLBACK and false PROMOTE of a 2× canary both ≤ α`, (t) => {
      const noise = (arms: ("canary" | "baseline")[]) => (cv > 0 ? { noise: bursts(cv, arms) } : {});
      const aa = rate(
        perArmScenario([{ ...fiveXx(1), ...noise(["canary"]) }], 60),
        PLAN_5XX,
        700 + dispersion,
        "ROLLBACK",
      );
      const twice = rate(
        perArmScenario([{ ...fiveXx(2), ...noise(["canary", "baseline"]) }], 60),
        PLAN_5XX,
        800 + dispersion,
        "PROMOTE",
      );
      t.diagnostic(
        `D ≈ ${dispersion}: false rollback ${(100 * aa).toFixed(1)}%, 2× promoted ${(100 * twice).toFixed(1)}%`,
      );
      assert.ok(aa <= bound, `false rollback ${aa} > ${bound}`);
      assert.ok(twice <= bound, `false promote ${twice} > ${bound}`);
    });
  }

  it("slow>50ms with 10% per-pod jitter in median latency: false ROLLBACK and false PROMOTE of a 2× band both ≤ α", (t) => {
    const aa = rate(perArmScenario([latencyMetric(50, { podJitter: 0.1 })], 60), PLAN_SLOW, 901, "ROLLBACK");
    // 3.5% of the canary's requests 150 ms slower: its slow>50ms share doubles (3.4% → 6.9%).
    const doubled = latencyMetric(50, { podJitter: 0.1, tail: { share: 0.035, addMs: 150 } });
    const twice = rate(perArmScenario([doubled], 60), PLAN_SLOW, 902, "PROMOTE");
    t.diagnostic(
      `jittered band: false rollback ${(100 * aa).toFixed(1)}%, 2× promoted ${(100 * twice).toFixed(1)}%`,
    );
    assert.ok(aa <= bound, `false rollback ${aa} > ${bound}`);
    assert.ok(twice <= bound, `false promote ${twice} > ${bound}`);
  });

  it("rolls back a p99 regression that slows 0.5% of requests by 150 ms on the default plan's tail band", () => {
    const config: JudgeConfig = {
      metrics: [{ name: "slow>100ms", maxRatio: 1.5, floorRate: 0.001, minExposure: 500 }],
    };
    const result = simulate(
      perArmScenario([latencyMetric(100, { podJitter: 0.1, tail: true })], 30),
      { runs: 100, seed: 903 },
      { graft: (o) => decide(o, config) },
    ).graft;
    assert.ok(result);
    assert.equal(decisionRate(result, "PROMOTE"), 0);
    assert.ok(decisionRate(result, "ROLLBACK", 10) >= 0.95);
  });

  it("keeps its error control when looks come every 10 s instead of every minute", (t) => {
    const scenario = { ...perArmScenario([{ ...fiveXx(1), noise: bursts(1) }], 20), looksPerMinute: 6 };
    const aa = rate(scenario, PLAN_5XX, 904, "ROLLBACK");
    const fast = simulate(
      { ...perArmScenario([fiveXx(5)], 3), looksPerMinute: 6 },
      { runs: 200, seed: 905 },
      { graft: (o) => decide(o, FIVE_XX_ONLY) },
    ).graft;
    assert.ok(fast);
    t.diagnostic(
      `10 s looks: false rollback ${(100 * aa).toFixed(1)}% (canary bursts CV 1), 5× caught ≤ 2 min ${(100 * decisionRate(fast, "ROLLBACK", 2)).toFixed(1)}%`,
    );
    assert.ok(aa <= bound, `false rollback ${aa} > ${bound}`);
    assert.ok(decisionRate(fast, "ROLLBACK", 2) >= 0.95);
  });

  it("names the dispersion it saw in the verdict line", () => {
    // Canary and baseline alternate bursts: the canary's share of bad events swings far more than
    // independent requests allow.
    const series: Snapshot[] = [];
    let [canaryBad, baselineBad] = [0, 0];
    for (let minute = 1; minute <= 8; minute++) {
      canaryBad += minute % 2 === 0 ? 30 : 2;
      baselineBad += minute % 2 === 0 ? 2 : 30;
      series.push({ ...snapshot(canaryBad, 3000 * minute, baselineBad, 3000 * minute), atMinute: minute });
    }
    const verdict = judge({ "5xx": series }, PLAN_5XX);
    const metric = verdict.metrics[0];
    assert.ok(metric && metric.dispersion.ratio.next > 5, `dispersion ${metric?.dispersion.ratio.next}`);
    assert.match(metric.line, /; 5xx [\d.]+× more variable than independent requests; evidence discounted$/);
  });

  it("projects how long an identical canary takes to promote at a traffic (the rollout's default maxDuration)", () => {
    const minutes = minutesToPromote(PLAN_5XX, {
      canaryExposurePerMinute: PER_ARM_RPM,
      baselineExposurePerMinute: PER_ARM_RPM,
      rates: { "5xx": BASELINE_5XX },
    });
    assert.ok(minutes > 10 && minutes < 60, `${minutes} min`);
    assert.equal(
      minutesToPromote(FIVE_XX_ONLY, {
        canaryExposurePerMinute: 100,
        baselineExposurePerMinute: 100,
        rates: {},
      }),
      Infinity,
      "a clean ratio-only metric never promotes",
    );
  });

  describe("input", () => {
    const cases: [string, Observations, JudgeConfig, string, RegExp][] = [
      [
        "more bad requests than requests",
        { "5xx": [snapshot(12, 10, 0, 10)] },
        FIVE_XX_ONLY,
        "MORE_BAD_THAN_EXPOSURE",
        /5xx: canary has 12 bad requests out of 10/,
      ],
      [
        "fractional counts",
        { "5xx": [snapshot(1.5, 100, 0, 100)] },
        FIVE_XX_ONLY,
        "INVALID_COUNT",
        /5xx: canary\.bad is 1\.5 .* whole numbers/,
      ],
      [
        "a metric the observations do not have",
        { "5xxx": [snapshot(1, 100, 0, 100)] },
        FIVE_XX_ONLY,
        "UNKNOWN_METRIC",
        /no observations for metric "5xx"; observed metrics are 5xxx/,
      ],
    ];
    for (const [name, observations, config, code, message] of cases) {
      it(`refuses ${name}, naming the metric and value`, () => {
        assert.throws(
          () => judge(observations, config),
          (error: unknown) =>
            error instanceof JudgeError && error.code === code && message.test(error.message),
        );
      });
    }

    it("accepts fractional exposure for metrics not counted in requests (pod-minutes)", () => {
      const verdict = judge(
        { vm: [{ ...snapshot(0, 2.5, 0, 2.5), atMinute: 1 }] },
        { metrics: [{ name: "vm", floorRate: 0.1, unit: "pod-minutes" }] },
      );
      assert.equal(verdict.decision, "CONTINUE");
    });
  });
});

describe("Flagger-style threshold judge", () => {
  it("counts failed checks cumulatively, a pass does not reset them, and no traffic counts as a failure", () => {
    const config: FlaggerConfig = { ...FLAGGER_DOCS, threshold: 3 };
    const series = [
      snapshot(20, 1000, 0, 1000), // 98%: fail
      snapshot(20, 2000, 0, 2000), // 100%: pass
      snapshot(20, 2000, 0, 3000), // no canary traffic: fail
      snapshot(40, 3000, 0, 4000), // 98%: fail → rollback
    ];
    const verdict = flaggerJudge({ "5xx": series }, config);
    assert.equal(verdict.decision, "ROLLBACK");
    assert.equal(verdict.failedChecks, 3);
    assert.equal(verdict.passedChecks, 1);
    assert.match(verdict.intervals[2]?.failures[0] ?? "", /no values found/);
  });

  it("run on the same simulations: no false rollbacks, but misses 2× and needs interval × threshold for 5×", (t) => {
    const aa = simulate(perArmScenario([fiveXx(1)], 60), { runs: RUNS, seed: 501 }, judges);
    const twice = simulate(perArmScenario([fiveXx(2)], 60), { runs: RUNS, seed: 502 }, judges);
    const five = simulate(perArmScenario([fiveXx(5)], 60), { runs: RUNS, seed: 503 }, judges);
    const figures = (name: "graft" | "flagger"): string => {
      const [a, b, c] = [aa[name], twice[name], five[name]];
      assert.ok(a && b && c);
      return (
        `${name}: A/A false rollback ${(100 * decisionRate(a, "ROLLBACK")).toFixed(1)}%; ` +
        `2× caught ≤ 10 min ${(100 * decisionRate(b, "ROLLBACK", 10)).toFixed(1)}% (median ${medianMinutes(b, "ROLLBACK") ?? "–"} min), ` +
        `promoted ${(100 * decisionRate(b, "PROMOTE")).toFixed(1)}%; ` +
        `5× caught ≤ 2 min ${(100 * decisionRate(c, "ROLLBACK", 2)).toFixed(1)}% (median ${medianMinutes(c, "ROLLBACK") ?? "–"} min)`
      );
    };
    t.diagnostic(figures("graft"));
    t.diagnostic(figures("flagger"));
    const flagger = { aa: aa.flagger, twice: twice.flagger, five: five.flagger };
    assert.ok(flagger.aa && flagger.twice && flagger.five);
    assert.ok(decisionRate(flagger.aa, "ROLLBACK") <= upperSimulationBound(0.05, RUNS));
    assert.ok(
      decisionRate(flagger.twice, "ROLLBACK", 10) < 0.05,
      "a 0.6% error rate passes a 99% success check",
    );
    assert.ok(decisionRate(flagger.twice, "PROMOTE") > 0.95);
    assert.equal(decisionRate(flagger.five, "ROLLBACK", 4), 0, "5 failed checks take at least 5 minutes");
    assert.equal(medianMinutes(flagger.five, "ROLLBACK"), 5);
  });
});
