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

const RUNS = 1000;
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
    it("rolls back within 10 simulated minutes in at least 95% of runs", (t) => {
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
      assert.ok(caught >= 0.95, `caught in ${caught}`);
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
      const verdict = judge({ "5xx": [snapshot(5, 500, 0, 5000)] }, FIVE_XX_ONLY);
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
      const start = snapshot(3, 2000, 40, 20000);
      const verdict = judge({ "5xx": [start] }, FIVE_XX_ONLY);
      const estimate = verdict.remaining?.exposure;
      assert.ok(estimate !== undefined && Number.isFinite(estimate));
      const decidedAfter = (extra: number): boolean => {
        const canaryExtra = extra / 11;
        const baselineExtra = extra - canaryExtra;
        const later = snapshot(
          3 + canaryExtra * canaryRate,
          2000 + canaryExtra,
          40 + baselineExtra * baselineRate,
          20000 + baselineExtra,
        );
        return decide({ "5xx": [start, later] }, FIVE_XX_ONLY) !== "CONTINUE";
      };
      assert.equal(decidedAfter(estimate * 0.8), false);
      assert.equal(decidedAfter(estimate * 1.05), true);
    });
  });

  describe("verdict lines", () => {
    it("read: metric, both arms' rates and counts, ratio with its interval, the margin, the decision", () => {
      const verdict = judge({ "5xx": [snapshot(31, 5000, 145, 50000)] }, FIVE_XX_ONLY);
      const metric = verdict.metrics[0];
      assert.ok(metric);
      assert.equal(
        metric.line,
        "5xx: canary 0.62% (31/5000) vs baseline 0.29% (145/50000); ratio 2.1× [1.2–3.7×] > allowed 1.10× → ROLLBACK (evidence 47 ≥ 20)",
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
        { "5xx": [snapshot(1500, 500000, 15000, 5000000)] },
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
        { "vm-failures": [snapshot(2, 50, 0, 50)] },
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
      const verdict = judge({ "5xx": [snapshot(31, 5000, 310, 50000)] }, config);
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
          assert.equal(
            decide({ "5xx": series }, FULL_CONFIG),
            judge({ "5xx": series }, FULL_CONFIG).decision,
          );
        }
      }
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
