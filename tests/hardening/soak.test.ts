// The CI version of `npm run soak` (issue 18): 30,000 requests over HTTP/1.1 and HTTP/2 through one
// real Envoy (--concurrency 2) with every filter of the catalog. Envoy's RSS grows less than 5 MiB
// after warm-up, no VM fails, and every filter's volume counters equal the requests sent.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatSoak, runSoak } from "../../tools/soak/soak.ts";

describe("soak (CI size)", () => {
  it(
    "30,000 requests: RSS flat after warm-up, no VM failure, counters agree",
    { timeout: 90_000 },
    async () => {
      const result = await runSoak({ requests: 30_000, warmup: 10_000, concurrency: 2, maxSeconds: 60 });
      console.log(formatSoak(result));
      assert.deepEqual(result.failures, []);
      assert.ok(result.http1 > 0 && result.http2 > 0, "both protocols carried requests");
      assert.equal(result.filters.length > 0, true);
    },
  );
});
