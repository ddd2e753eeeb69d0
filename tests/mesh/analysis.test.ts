// SPDX-License-Identifier: Apache-2.0
// graft flagger / graft argo: the rendered MetricTemplate, Canary and AnalysisTemplate pass their CRDs,
// and their PromQL, run by a real Prometheus over backfilled counters, gives the canary-minus-baseline
// bad-event ratio.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { renderAnalysisTemplate } from "../../src/mesh/analysis/argo.ts";
import { renderCanary, renderMetricTemplate, type FlaggerInput } from "../../src/mesh/analysis/flagger.ts";
import { badEventSeries } from "../../src/mesh/analysis/promql.ts";
import { crdValidator } from "./crd-validator.ts";
import { contractVariant, filter } from "./fixtures.ts";
import { prometheusSkipReason, startPrometheusWith, type RunningPrometheus } from "./prometheus.ts";

// A filter declaring several bad events, one of them a histogram.
const manyBadEvents = contractVariant("many-bad-events", [
  { name: "requests_total", type: "counter", role: "volume", description: "Requests." },
  { name: "limited_total", type: "counter", role: "bad_event", tags: ["rule"], description: "Refused." },
  { name: "overflow_total", type: "counter", role: "bad_event", description: "Key space full." },
  { name: "stall_ms", type: "histogram", role: "bad_event", description: "Stalls." },
  { name: "allowed_total", type: "counter", role: "info", description: "Allowed." },
]);
const metricTemplateCrd = crdValidator("flagger-crds.yaml", "MetricTemplate");
const canaryCrd = crdValidator("flagger-crds.yaml", "Canary");
const analysisTemplateCrd = crdValidator("argo-rollouts-analysistemplate.yaml", "AnalysisTemplate");

const flaggerInput: FlaggerInput = {
  filter,
  namespace: "shop",
  prometheusAddress: "http://prometheus.istio-system:9090",
  maxIncrease: 0.01,
  interval: "2m",
  target: "checkout",
  port: 8080,
  canaryInjection: "sf-canary",
  baselineInjection: "sf-stable",
};

describe("graft flagger / graft argo: rendering", () => {
  it("takes the bad-event series from the contract", () => {
    assert.deepEqual(badEventSeries(filter), ["graft_blocked_total"]);
    assert.deepEqual(badEventSeries(manyBadEvents), [
      "graft_limited_total",
      "graft_overflow_total",
      "graft_stall_ms_count",
    ]);
  });

  it("Flagger MetricTemplate and Canary pass the Flagger CRDs", () => {
    const template = renderMetricTemplate(flaggerInput);
    assert.deepEqual(metricTemplateCrd.problems(template), []);
    const canary = renderCanary(flaggerInput);
    assert.deepEqual(canaryCrd.problems(canary), []);
    const query = (template.spec as { query: string }).query;
    assert.match(query, /injection="\{\{ variables.canary_injection \}\}"/);
    assert.match(query, /destination_workload="\{\{ target \}\}-primary"/);
    const broken = structuredClone(canary) as { spec: { analysis: { metrics: { interval: string }[] } } };
    broken.spec.analysis.metrics[0]!.interval = "two minutes";
    assert.match(canaryCrd.problems(broken).join("\n"), /interval: must match pattern/);
  });

  it("Argo AnalysisTemplate passes the Argo Rollouts CRD", () => {
    const template = renderAnalysisTemplate({
      filter: manyBadEvents,
      prometheusAddress: "http://prometheus:9090",
      maxIncrease: 0.02,
      interval: "1m",
    });
    assert.deepEqual(analysisTemplateCrd.problems(template), []);
    const broken = structuredClone(template) as { spec: { metrics: { count: unknown }[] } };
    broken.spec.metrics[0]!.count = { nope: 1 };
    assert.notDeepEqual(analysisTemplateCrd.problems(broken), []);
  });
});

describe(
  "graft flagger / graft argo: the PromQL against a real Prometheus",
  { skip: prometheusSkipReason() },
  () => {
    let prometheus: RunningPrometheus;
    const end = Math.floor(Date.now() / 1000 / 15) * 15 - 60;
    const start = end - 600;
    const requests = (workload: string) => ({
      family: "istio_requests",
      labels: {
        reporter: "destination",
        destination_workload_namespace: "shop",
        destination_workload: workload,
      },
      perSecond: 10,
    });
    const failures = (injection: string, perSecond: number) => ({
      family: "graft_blocked",
      labels: { filter: filter.name, injection },
      perSecond,
    });

    before(async () => {
      // canary: 1 bad event per 10 requests; baseline: 1 per 100; another filter's noise must not count.
      prometheus = await startPrometheusWith(
        [
          requests("checkout"),
          requests("checkout-primary"),
          failures("sf-canary", 1),
          failures("sf-stable", 0.1),
          {
            family: "graft_blocked",
            labels: { filter: "other", injection: "sf-canary" },
            perSecond: 5,
          },
        ],
        start,
        end,
      );
    });
    after(async () => prometheus?.stop());

    it("Flagger's query (variables filled as Flagger fills them) gives canary - baseline = 0.09", async () => {
      const query = (renderMetricTemplate(flaggerInput).spec as { query: string }).query
        .replaceAll("{{ namespace }}", "shop")
        .replaceAll("{{ target }}", "checkout")
        .replaceAll("{{ interval }}", "2m")
        .replaceAll("{{ variables.canary_injection }}", "sf-canary")
        .replaceAll("{{ variables.baseline_injection }}", "sf-stable");
      const [value] = await prometheus.query(query, end);
      assert.ok(value !== undefined && Math.abs(value - 0.09) < 1e-6, `got ${value}`);
    });

    it("Argo's query (args filled) gives the same; a canary without bad events gives a negative increase", async () => {
      const template = renderAnalysisTemplate({
        filter,
        prometheusAddress: "http://p:9090",
        maxIncrease: 0.01,
        interval: "2m",
      });
      const raw = (template.spec as { metrics: { provider: { prometheus: { query: string } } }[] })
        .metrics[0]!.provider.prometheus.query;
      const fill = (canaryInjection: string) =>
        raw
          .replaceAll("{{args.namespace}}", "shop")
          .replaceAll("{{args.canary-workload}}", "checkout")
          .replaceAll("{{args.baseline-workload}}", "checkout-primary")
          .replaceAll("{{args.canary-injection}}", canaryInjection)
          .replaceAll("{{args.baseline-injection}}", "sf-stable");
      const [increase] = await prometheus.query(fill("sf-canary"), end);
      assert.ok(increase !== undefined && Math.abs(increase - 0.09) < 1e-6, `got ${increase}`);
      const [none] = await prometheus.query(fill("no-such-injection"), end);
      assert.ok(none !== undefined && Math.abs(none + 0.01) < 1e-6, `got ${none}`);
    });

    it("no requests on a side gives no value (the analysis waits for traffic instead of passing)", async () => {
      const query = (
        renderMetricTemplate({ ...flaggerInput, namespace: "shop" }).spec as { query: string }
      ).query
        .replaceAll("{{ namespace }}", "empty-namespace")
        .replaceAll("{{ target }}", "checkout")
        .replaceAll("{{ interval }}", "2m")
        .replaceAll("{{ variables.canary_injection }}", "sf-canary")
        .replaceAll("{{ variables.baseline_injection }}", "sf-stable");
      assert.deepEqual(await prometheus.query(query, end), []);
    });
  },
);
