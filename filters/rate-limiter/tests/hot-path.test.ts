// The rate-limiter's host calls per request, counted on the host emulator (tools/bench/peers/hostcalls.ts):
// they set its cost per request in Envoy, so a change that adds one shows here.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { findFilter } from "../../../src/filters/catalog.ts";
import { countHostCalls } from "../../../tools/bench/peers/hostcalls.ts";
import { graftRateLimitConfig, NEVER } from "../peers.ts";

const module = findFilter("rate-limiter").releaseWasm;
const get = { path: "/bench", headers: { "x-user": "alice" } };

describe("host calls per request", { skip: existsSync(module) ? false : "run npm run build first" }, () => {
  it("reads the clock and makes one read and one write of shared data", async () => {
    const count = await countHostCalls(
      {
        module,
        rootId: "rate-limiter",
        configuration: graftRateLimitConfig("never", NEVER),
      },
      get,
      300,
      100,
    );
    assert.equal(count.perRequest, 3);
    assert.equal(count.byName.proxy_increment_metric, undefined);
  });
});
