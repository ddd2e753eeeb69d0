// The collector turns successive scrapes into growth since the canary started, and stitches an
// Envoy restart (counters back to zero) instead of producing negative rates.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EnvoySeries, sumTotals, type EnvoyScrape } from "../../src/observe/collect.ts";

function scrape(
  uptime: number,
  requests: number,
  rq5xx: number,
  slowOver10: number,
  extra: Partial<EnvoyScrape> = {},
): EnvoyScrape {
  return {
    uptimeSeconds: uptime,
    requests,
    rq4xx: 0,
    rq5xx,
    latency: [
      { upperBound: 10, count: requests - slowOver10 },
      { upperBound: 100, count: requests },
    ],
    vmFailures: 0,
    filterCounters: {},
    memoryAllocated: 1000,
    ...extra,
  };
}

describe("canary stats collection", () => {
  it("counts growth from the first scrape, not Envoy's lifetime totals", () => {
    const series = new EnvoySeries();
    series.push(scrape(100, 5000, 50, 10));
    series.push(scrape(110, 5600, 53, 14));
    const totals = series.totals();
    assert.equal(totals.requests, 600);
    assert.equal(totals.rq5xx, 3);
    assert.equal(totals.slowerThan.get(10), 4);
    assert.equal(totals.slowerThan.get(100), 0);
    assert.equal(totals.resets, 0);
  });

  it("stitches a restart: growth before it is kept, the new process counts from zero", () => {
    const series = new EnvoySeries();
    series.push(scrape(100, 1000, 10, 0));
    series.push(scrape(105, 1300, 12, 0));
    series.push(scrape(2, 150, 4, 0)); // restarted
    series.push(scrape(7, 450, 5, 0));
    const totals = series.totals();
    assert.equal(totals.requests, 300 + 450);
    assert.equal(totals.rq5xx, 2 + 5);
    assert.equal(totals.resets, 1);
  });

  it("counts graft filter counters by name, and sums an arm's Envoys", () => {
    const name = "wasmcustom.filter=.=pv;.;injection=.=i;.;reason=.=schema;.;graft.rejected_total";
    const a = new EnvoySeries();
    a.push(scrape(1, 0, 0, 0, { filterCounters: { [name]: 2 } }));
    a.push(scrape(2, 100, 0, 0, { filterCounters: { [name]: 7 } }));
    const b = new EnvoySeries();
    b.push(scrape(1, 0, 0, 0));
    b.push(scrape(2, 50, 1, 0, { filterCounters: { [name]: 1 } }));
    const sum = sumTotals([a.totals(), b.totals()]);
    assert.equal(sum.requests, 150);
    assert.equal(sum.rq5xx, 1);
    assert.equal(sum.filterCounters[name], 6);
  });
});
