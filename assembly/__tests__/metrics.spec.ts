// Filter metrics (../metrics) against the fake host: names with their tags, counters, histograms,
// gauges, the status policy, and batched counters. Metric ids are cached for the module's life, so
// each test uses names of its own; batching is switched on last.
import {
  DIRECT_PER_PERIOD,
  FLUSH_PERIOD_MS,
  FilterMetrics,
  batchCounters,
  flushCounters,
  increment,
  pendingIncrements,
  record,
  taggedMetricName,
} from "../metrics";
import { failCall, metricCount, metricValue, resetHost, tickPeriod } from "./fake-host";

describe("metric names", () => {
  test("filter and injection first, then the optional tag, then graft.<base>", () => {
    expect(taggedMetricName("requests_total", "f", "inj-1")).toBe(
      "filter=.=f;.;injection=.=inj-1;.;graft.requests_total",
    );
    expect(taggedMetricName("rule_applied_total", "f", "i", "rule", "tag-api")).toBe(
      "filter=.=f;.;injection=.=i;.;rule=.=tag-api;.;graft.rule_applied_total",
    );
  });
});

describe("counters, histograms and gauges", () => {
  beforeAll(() => {
    resetHost();
  });

  test("a counter is defined once under its tagged name and incremented on the host", () => {
    const metrics = new FilterMetrics("f", "inj-a");
    const handle = metrics.counter("hits_total");
    expect(metrics.counter("hits_total")).toBe(handle, "the same name is the same counter");
    increment(handle);
    increment(handle, 4);
    expect(metricValue("filter=.=f;.;injection=.=inj-a;.;graft.hits_total")).toBe(5);
  });

  test("two injections of a filter count apart", () => {
    const a = new FilterMetrics("f", "canary").counter("seen_total");
    const b = new FilterMetrics("f", "baseline").counter("seen_total", "rule", "r1");
    expect(a).not.toBe(b);
    increment(a);
    increment(b, 2);
    expect(metricValue("filter=.=f;.;injection=.=canary;.;graft.seen_total")).toBe(1);
    expect(metricValue("filter=.=f;.;injection=.=baseline;.;rule=.=r1;.;graft.seen_total")).toBe(2);
  });

  test("increments of 0 or less, and on handle 0, do nothing", () => {
    const handle = new FilterMetrics("f", "zero").counter("n_total");
    increment(handle, 0);
    increment(handle, -3);
    increment(0, 7);
    expect(metricValue("filter=.=f;.;injection=.=zero;.;graft.n_total")).toBe(0);
  });

  test("histograms record values; gauges are defined", () => {
    const metrics = new FilterMetrics("f", "h");
    const histogram = metrics.histogram("latency_us");
    record(histogram, 42);
    expect(metricValue("filter=.=f;.;injection=.=h;.;graft.latency_us")).toBe(42);
    const before = metricCount();
    metrics.gauge("depth");
    expect(metricCount()).toBe(before + 1);
    expect(metricValue("filter=.=f;.;injection=.=h;.;graft.depth")).toBe(0);
  });

  test("a metric the host refuses to define counts nothing and never aborts", () => {
    failCall("proxy_define_metric", 2);
    const metrics = new FilterMetrics("f", "refused");
    const handle = metrics.counter("lost_total");
    increment(handle);
    record(metrics.histogram("lost_us"), 1);
    expect(metricValue("filter=.=f;.;injection=.=refused;.;graft.lost_total")).toBe(-1);
    resetHost();
  });
});

describe("batched counters", () => {
  beforeAll(() => {
    resetHost();
  });

  test("batchCounters is refused, and nothing is batched, when the host refuses the tick", () => {
    failCall("proxy_set_tick_period_milliseconds", 2);
    expect(batchCounters()).toBe(false);
    const handle = new FilterMetrics("f", "unbatched").counter("c_total");
    for (let i = 0; i < DIRECT_PER_PERIOD + 10; i++) increment(handle);
    expect(metricValue("filter=.=f;.;injection=.=unbatched;.;graft.c_total")).toBe(DIRECT_PER_PERIOD + 10);
    expect(pendingIncrements()).toBe(0);
    resetHost();
  });

  test("each period's first increments go to the host at once, the rest at the next flush", () => {
    expect(batchCounters()).toBe(true);
    expect(tickPeriod()).toBe(<i32>FLUSH_PERIOD_MS);
    const handle = new FilterMetrics("f", "batched").counter("b_total");
    const name = "filter=.=f;.;injection=.=batched;.;graft.b_total";
    for (let i = 0; i < DIRECT_PER_PERIOD; i++) increment(handle);
    expect(metricValue(name)).toBe(DIRECT_PER_PERIOD);
    increment(handle, 5);
    increment(handle);
    expect(metricValue(name)).toBe(DIRECT_PER_PERIOD, "batched until the flush");
    expect(pendingIncrements()).toBe(6);
    flushCounters();
    expect(metricValue(name)).toBe(DIRECT_PER_PERIOD + 6);
    expect(pendingIncrements()).toBe(0);
    increment(handle);
    expect(metricValue(name)).toBe(DIRECT_PER_PERIOD + 7, "a new period starts direct again");
  });
});
