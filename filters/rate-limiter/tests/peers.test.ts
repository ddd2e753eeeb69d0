// rate-limiter's peers in the benchmark (peers.ts, `npm run bench -- peers`): in real Envoy 1.40,
// through the harness's own bootstrap, native local_ratelimit and graft both pass everything with
// the never-limiting bucket and both answer 429 past an overload bucket, and Envoy accepts every
// variant's bootstrap.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { findFilter } from "../../../src/filters/catalog.ts";
import { PeerEnvoy, validatePeerGroups } from "../../../tools/bench/peers/envoy.ts";
import { bucketAt, peers, rateLimiterVariants } from "../peers.ts";

const filter = findFilter("rate-limiter");
const built = existsSync(filter.releaseWasm) ? false : "run npm run build first";

describe("rate-limiter's peers", { skip: built }, () => {
  it("make bootstraps Envoy accepts: every variant and the memory chain entry", async () => {
    const notes: string[] = [];
    const validated = await validatePeerGroups(peers(filter), {
      noFilterSaturation: async () => 10_000,
      note: (text) => notes.push(text),
    });
    assert.deepEqual(validated, [
      "rate-limiter/none",
      "rate-limiter/native",
      "rate-limiter/graft",
      "rate-limiter/native-5x",
      "rate-limiter/graft-5x",
      "chain",
    ]);
    // The overload bucket admits a fifth of the no-filter saturation.
    assert.match(notes[0]!, /a bucket of 200 tokens per 100 ms \(2000\/s; no filter served 10000 req\/s\)/);
  });

  it("pass everything below the limit and answer 429 past it, native and graft alike, in real Envoy", async () => {
    // 2 tokens per 100 ms: a burst of 20 requests runs out.
    for (const variant of rateLimiterVariants(filter, bucketAt(20))) {
      const envoy = await PeerEnvoy.start({
        label: variant.id,
        filters: variant.filters(),
        route: { kind: "direct" },
        cpus: null,
      });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 20; i++) {
          const response = await fetch(envoy.url);
          await response.arrayBuffer();
          statuses.push(response.status);
        }
        const limited = statuses.filter((status) => status === 429).length;
        assert.equal(statuses.filter((status) => status !== 200 && status !== 429).length, 0, variant.label);
        if (variant.id.endsWith("5x")) assert.ok(limited >= 10, `${variant.label}: ${limited} of 20 limited`);
        else assert.equal(limited, 0, variant.label);
      } catch (error) {
        if (error instanceof Error)
          error.message += `\n--- ${variant.id} log ---\n${envoy.logs().slice(-2000)}`;
        throw error;
      } finally {
        await envoy.stop();
      }
    }
  });
});
