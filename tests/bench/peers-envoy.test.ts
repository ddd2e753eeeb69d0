// The peer benchmark's Envoy side (tools/bench/peers): every variant's bootstrap is one Envoy 1.40
// accepts, and the fixed-rate client keeps its rate and measures from the scheduled send time.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { BENCH_CONFIG } from "../../filters/payload-validator/bench.ts";
import { validateBootstrap } from "../../src/envoy/launcher.ts";
import { peerBootstrap } from "../../tools/bench/peers/envoy.ts";
import { fixedRate, requestBytes } from "../../tools/bench/peers/load.ts";
import {
  allFilters,
  bucketAt,
  headerRewriteVariants,
  payloadValidatorVariants,
  rateLimiterVariants,
  wasmPaths,
} from "../../tools/bench/peers/variants.ts";

const built = [wasmPaths.headerRewrite, wasmPaths.payloadValidator, wasmPaths.rateLimiter].every(existsSync)
  ? false
  : "run npm run build first";

describe("peer benchmark bootstraps", { skip: built }, () => {
  it("are accepted by Envoy for every variant (native, Lua and graft's Wasm peers), direct and through an upstream", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "graft-peers-test-"));
    try {
      const variants = [
        // The C and Go peers are built by the benchmark itself; they are validated when present.
        ...headerRewriteVariants.filter(
          (v) => (v.kind !== "c" || existsSync(wasmPaths.c)) && (v.kind !== "go" || existsSync(wasmPaths.go)),
        ),
        ...payloadValidatorVariants(BENCH_CONFIG),
        ...rateLimiterVariants(bucketAt(1000)),
      ];
      const filterSets = [...variants.map((v) => v.filters()), allFilters(BENCH_CONFIG)];
      // One bootstrap with a listener per filter set would not do: each variant gets its own Envoy.
      let n = 0;
      for (const filters of filterSets) {
        const route = n % 2 === 0 ? ({ kind: "direct" } as const) : ({ kind: "upstream", port: 9 } as const);
        const file = path.join(dir, `bootstrap-${n++}.json`);
        await writeFile(
          file,
          JSON.stringify(peerBootstrap({ label: `v${n}`, filters, route, bufferLimit: 2 << 20 })),
        );
        await validateBootstrap(file);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("fixed-rate client", () => {
  it("writes a request with its headers and body", () => {
    const bytes = requestBytes("http://127.0.0.1:8080/a?b=1", {
      method: "POST",
      headers: { "x-user": "alice" },
      body: Buffer.from("{}"),
    }).toString();
    assert.equal(
      bytes,
      "POST /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-user: alice\r\ncontent-length: 2\r\n\r\n{}",
    );
  });

  it("sends at the rate asked, counts statuses, and measures latency from the scheduled time", async () => {
    let served = 0;
    const server = http.createServer((request, response) => {
      served++;
      request.resume();
      const status = served % 10 === 0 ? 503 : 200;
      // A slow answer now and then: its latency must show in the tail.
      setTimeout(
        () => response.writeHead(status, { "content-length": "2" }).end("ok"),
        served % 50 === 0 ? 30 : 0,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const result = await fixedRate(
        `http://127.0.0.1:${port}/`,
        { method: "GET", headers: {} },
        { rate: 400, seconds: 1, connections: 4 },
      );
      assert.equal(result.sent, 400);
      assert.equal(result.completed, 400);
      assert.equal(result.non2xx, 40);
      assert.equal(result.errors, 0);
      assert.ok(
        result.p50 > 0 && result.p50 <= result.p90 && result.p90 <= result.p99 && result.p99 <= result.max,
      );
      assert.ok(result.max >= 30_000, `a 30 ms answer shows in the maximum (${result.max} µs)`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
