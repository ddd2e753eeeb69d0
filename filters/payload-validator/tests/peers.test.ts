// payload-validator's peers in the benchmark (peers.ts, `npm run bench -- peers`): in real Envoy
// 1.40, through the harness's own bootstrap, every variant passes the benchmark's bodies (the run
// checks this before timing) and the Lua and full-validation arms refuse a body that is not JSON;
// Envoy accepts every variant's bootstrap.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { findFilter } from "../../../src/filters/catalog.ts";
import { PeerEnvoy, validatePeerGroups } from "../../../tools/bench/peers/envoy.ts";
import { benchBody } from "../bench.ts";
import { payloadVariants, peers } from "../peers.ts";

const filter = findFilter("payload-validator");
const built = existsSync(filter.releaseWasm) ? false : "run npm run build first";

describe("payload-validator's peers", { skip: built }, () => {
  it("make bootstraps Envoy accepts: every variant and the memory chain entry", async () => {
    assert.deepEqual(await validatePeerGroups(peers(filter)), [
      "payload-1k/none",
      "payload-1k/lua-buffer",
      "payload-1k/graft-buffer",
      "payload-1k/graft-full",
      "chain",
    ]);
  });

  it("pass the benchmark's 1 KiB and 64 KiB bodies and refuse one that is not JSON, in real Envoy", async () => {
    for (const variant of payloadVariants(filter)) {
      const envoy = await PeerEnvoy.start({
        label: variant.id,
        filters: variant.filters(),
        route: { kind: "direct" },
        cpus: null,
        bufferLimit: 2 << 20,
      });
      try {
        for (const bytes of [1024, 64 * 1024]) {
          const response = await fetch(envoy.url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: new Uint8Array(benchBody(bytes)),
          });
          assert.equal(response.status, 200, `${variant.label}, ${bytes} B`);
          await response.arrayBuffer();
        }
        const text = await fetch(envoy.url, {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: "not json",
        });
        await text.arrayBuffer();
        // A failing Lua script lets the request through and logs: it would be timed doing less.
        assert.doesNotMatch(envoy.logs(), /\[error\]\[lua\]/, variant.label);
        if (variant.id === "none") assert.equal(text.status, 200);
        else if (variant.kind === "lua" || variant.id === "graft-full")
          assert.ok(text.status >= 400, `${variant.label} refuses text/plain (${text.status})`);
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
