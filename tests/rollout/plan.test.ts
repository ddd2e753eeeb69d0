// Rollout plans: what a plan file may say, what it defaults to, and the errors an operator sees.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRolloutPlan, signalKey } from "../../src/rollout/plan.ts";

const minimal = { slot: "graft-slot-0", canary: "role=canary", baseline: "role=baseline" };

describe("rollout plans", () => {
  it("fills in defaults: 5 s looks, 30 s minimum, maxDuration from the traffic, α 0.05, 500 canary requests, four signals", () => {
    const plan = parseRolloutPlan(minimal, "plan.yaml");
    assert.equal(plan.intervalMs, 5_000);
    assert.equal(plan.minDurationMs, 30_000);
    assert.equal(plan.maxDurationMs, undefined, "auto: set when the rollout starts");
    assert.equal(plan.onTimeout, "rollback");
    assert.equal(plan.burstWindowMs, 60_000);
    assert.equal(plan.alpha, 0.05);
    assert.equal(plan.minRequests, 500);
    assert.deepEqual(plan.signals.map(signalKey), ["5xx", "filter_rejections", "slow>50ms", "slow>100ms"]);
    assert.deepEqual(plan.burnRate, []);
  });

  it("reads a filter's own signal: a counter per request with a direction, no judge change needed", () => {
    const plan = parseRolloutPlan(
      {
        ...minimal,
        maxDuration: "20m",
        onTimeout: "hold",
        signals: [{ name: "limited", counter: "graft.limited_total", maxRatio: 1.5, dispersion: 2 }],
        burnRate: [{ signal: "limited", slo: 0.99 }],
      },
      "plan.yaml",
    );
    assert.deepEqual(plan.signals, [
      { name: "limited", counter: "graft.limited_total", maxRatio: 1.5, dispersion: 2 },
    ]);
    assert.equal(plan.maxDurationMs, 1_200_000);
    assert.equal(plan.onTimeout, "hold");
    assert.equal(plan.burnRate[0]?.signal, "limited");
  });

  it("judges latency in several bands, one signal per band edge", () => {
    const plan = parseRolloutPlan(
      {
        ...minimal,
        signals: [
          { name: "slow", thresholdMs: 50 },
          { name: "slow", thresholdMs: 200, maxRatio: 2 },
        ],
      },
      "plan.yaml",
    );
    assert.deepEqual(plan.signals.map(signalKey), ["slow>50ms", "slow>200ms"]);
  });

  it("reads burn-rate guards", () => {
    const plan = parseRolloutPlan({ ...minimal, burnRate: [{ signal: "5xx", slo: 0.999 }] }, "plan.yaml");
    assert.deepEqual(plan.burnRate, [{ signal: "5xx", slo: 0.999, maxBurn: 3 }]);
  });

  for (const [name, doc, message] of [
    ["an unknown field", { ...minimal, intervall: "5s" }, /plan\.yaml: unknown field "intervall"/],
    [
      "a missing canary selector",
      { slot: "s", baseline: "role=baseline" },
      /plan\.yaml: canary: expected a string/,
    ],
    [
      "an unreadable duration",
      { ...minimal, interval: "soon" },
      /plan\.yaml: interval: expected a duration such as 5s/,
    ],
    [
      "maxDuration below minDuration",
      { ...minimal, minDuration: "2m", maxDuration: "1m" },
      /maxDuration is shorter than minDuration/,
    ],
    [
      "an unknown signal",
      { ...minimal, signals: [{ name: "latency" }] },
      /signals\[0\]\.name: expected one of 5xx, 4xx, slow/,
    ],
    [
      "a slow band without a threshold",
      { ...minimal, signals: [{ name: "slow" }] },
      /signals\[0\]\.thresholdMs: slow needs a latency threshold/,
    ],
    [
      "the same band twice",
      {
        ...minimal,
        signals: [
          { name: "slow", thresholdMs: 50 },
          { name: "slow", thresholdMs: 50 },
        ],
      },
      /slow>50ms appears twice/,
    ],
    [
      "a signal of its own without a counter",
      { ...minimal, signals: [{ name: "limited" }] },
      /signals\[0\]\.name: .*needs counter: <filter counter>, e\.g\. counter: graft\.limited_total/,
    ],
    [
      "a dispersion below 1",
      { ...minimal, signals: [{ name: "5xx", dispersion: 0.5 }] },
      /signals\[0\]\.dispersion: expected a number ≥ 1/,
    ],
    [
      "an unknown onTimeout",
      { ...minimal, onTimeout: "promote" },
      /plan\.yaml: onTimeout: expected rollback .* or hold/,
    ],
    [
      "a burn-rate SLO of 1",
      { ...minimal, burnRate: [{ signal: "5xx", slo: 1 }] },
      /burnRate\[0\]\.slo: expected the SLO as a fraction below 1/,
    ],
    [
      "a burn-rate guard on latency",
      { ...minimal, burnRate: [{ signal: "slow", slo: 0.99 }] },
      /burnRate\[0\]\.signal: expected 5xx, 4xx, filter_rejections or a filter signal of the plan/,
    ],
  ] as const) {
    it(`refuses ${name}, naming the file and field`, () => {
      assert.throws(() => parseRolloutPlan(doc, "plan.yaml"), message);
    });
  }
});

describe("a plan's metric source", () => {
  it("reads each Envoy's admin API unless the plan names a Prometheus", () => {
    assert.deepEqual(parseRolloutPlan(minimal, "plan.yaml").metrics, { source: "admin" });
    assert.deepEqual(
      parseRolloutPlan(
        { ...minimal, metrics: { source: "prometheus", url: "http://127.0.0.1:9090" } },
        "plan.yaml",
      ).metrics,
      { source: "prometheus", url: "http://127.0.0.1:9090" },
    );
  });

  it("refuses a source it does not know and a Prometheus without a URL, naming the field", () => {
    assert.throws(
      () => parseRolloutPlan({ ...minimal, metrics: { source: "datadog" } }, "plan.yaml"),
      /plan\.yaml: metrics\.source: expected admin .* or prometheus/,
    );
    assert.throws(
      () => parseRolloutPlan({ ...minimal, metrics: { source: "prometheus" } }, "plan.yaml"),
      /plan\.yaml: metrics\.url: expected Prometheus's base URL/,
    );
  });
});

describe("a plan's engine", () => {
  const istio = {
    canary: "track=canary",
    baseline: "track=stable",
    metrics: { source: "prometheus", url: "http://127.0.0.1:9090" },
    engine: { kind: "istio", namespace: "shop", plugin: "guard", selector: { app: "checkout" } },
  };

  it("moves releases through the targets' slots unless the plan names the istio engine", () => {
    assert.deepEqual(parseRolloutPlan(minimal, "plan.yaml").engine, { kind: "fleet" });
    const plan = parseRolloutPlan(istio, "plan.yaml");
    assert.deepEqual(plan.engine, {
      kind: "istio",
      namespace: "shop",
      plugin: "guard",
      selector: { app: "checkout" },
    });
    assert.equal(plan.slot, "guard", "the plugin pair stands in for the slot in reports");
  });

  for (const [name, doc, message] of [
    [
      "an istio engine judged from admin APIs",
      { ...istio, metrics: undefined },
      /plan\.yaml: metrics: the istio engine judges the sidecars from Prometheus/,
    ],
    [
      "an istio engine without a namespace",
      { ...istio, engine: { kind: "istio", plugin: "guard" } },
      /plan\.yaml: engine\.namespace: expected a string/,
    ],
    [
      "an unknown engine",
      { ...istio, engine: { kind: "linkerd" } },
      /plan\.yaml: engine\.kind: expected fleet .* or istio/,
    ],
    [
      "an unknown istio setting",
      { ...istio, engine: { ...istio.engine, replicas: 2 } },
      /plan\.yaml: engine\.replicas: unknown field/,
    ],
    [
      "promote with the istio engine",
      { ...istio, promote: "tier=web" },
      /plan\.yaml: promote: the istio engine promotes to the baseline's workloads/,
    ],
    ["a fleet plan without a slot", { ...minimal, slot: undefined }, /plan\.yaml: slot: expected a string/],
  ] as const) {
    it(`refuses ${name}, naming the file and field`, () => {
      assert.throws(() => parseRolloutPlan(doc, "plan.yaml"), message);
    });
  }
});
