// The request path's host calls, counted on the host emulator (tools/bench/peers/hostcalls.ts):
// they set graft's cost per request in Envoy, so a change that adds one shows here. Also the SDK's
// counter batching (assembly/metrics.ts): exact at low traffic, batched under load, flushed by the tick.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { Emulator } from "../../../src/host/emulator.ts";
import { countHostCalls } from "../../../tools/bench/peers/hostcalls.ts";
import { findFilter } from "../../../src/filters/catalog.ts";
import { HEADER_REWRITE_CONFIG, REWRITE_REQUEST_HEADERS } from "../peers/index.ts";

const wasmPaths = { headerRewrite: findFilter("header-rewrite").releaseWasm };
const built = existsSync(wasmPaths.headerRewrite) ? false : "run npm run build first";
const get = { path: "/bench", headers: REWRITE_REQUEST_HEADERS };
const REQUESTS = "wasmcustom.filter=.=header-rewrite;.;injection=.=bench;.;graft.requests_total";
const APPLIED =
  "wasmcustom.filter=.=header-rewrite;.;injection=.=bench;.;rule=.=bench;.;graft.rule_applied_total";

describe("host calls per request", { skip: built }, () => {
  it("makes the four header operations and nothing else", async () => {
    const count = await countHostCalls(
      { module: wasmPaths.headerRewrite, rootId: "header-rewrite", configuration: HEADER_REWRITE_CONFIG },
      get,
      300,
      100,
    );
    assert.deepEqual(count.byName, {
      proxy_get_header_map_value: 1,
      proxy_replace_header_map_value: 1,
      proxy_remove_header_map_value: 1,
      proxy_add_header_map_value: 1,
    });
    // context create, request headers, response headers, delete, and malloc for the quoted header.
    assert.equal(count.entriesPerRequest, 5);
    assert.equal(count.mallocPerRequest, 1);
    assert.ok(count.perTick >= 2, "the tick flushes the batched counters");
  });

  it("a response rule that matches no request reads and writes nothing", async () => {
    const configuration = {
      rules: [
        {
          name: "api",
          match: { path: { prefix: "/api/" } },
          response: [{ op: "set", name: "x-a", value: "${request.header.x-user}" }],
        },
      ],
    };
    const count = await countHostCalls(
      { module: wasmPaths.headerRewrite, rootId: "header-rewrite", configuration },
      get,
      300,
      100,
    );
    // :path, read once to match; no header quoted, no response write.
    assert.deepEqual(count.byName, { proxy_get_header_map_value: 1 });
  });
});

describe("counter batching (assembly/metrics.ts)", { skip: built }, () => {
  it("counts each request at once while traffic is low, batches past that, and the tick flushes every count", async () => {
    const emulator = await Emulator.load({
      module: wasmPaths.headerRewrite,
      rootId: "header-rewrite",
      configuration: HEADER_REWRITE_CONFIG,
    });
    const send = () => assert.equal(emulator.request({ ...get }).status, 200);
    send();
    assert.equal(emulator.stats().get(REQUESTS), 1, "the first requests reach Envoy's counters at once");
    assert.equal(emulator.stats().get(APPLIED), 1);
    for (let i = 0; i < 199; i++) send();
    const before = emulator.stats().get(REQUESTS)!;
    assert.ok(before < 200, `past the direct allowance counts wait for the tick (saw ${before})`);
    emulator.advance(500);
    assert.equal(emulator.stats().get(REQUESTS), 200);
    assert.equal(emulator.stats().get(APPLIED), 200);
    send();
    assert.equal(emulator.stats().get(REQUESTS), 201, "a new period counts at once again");
  });
});
