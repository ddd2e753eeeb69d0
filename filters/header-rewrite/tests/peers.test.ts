// header-rewrite's peers in the benchmark (peers/, `npm run bench -- peers`): in real Envoy 1.40,
// through the harness's own bootstrap, native header_mutation, Lua, the Go SDK and the C floor do
// the rewrite graft's filter does — x-graft set and x-internal removed before the upstream,
// x-graft-user: user=<x-user> added to the response — and Envoy accepts every variant's bootstrap.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { findFilter } from "../../../src/filters/catalog.ts";
import { EchoUpstream, type EchoedRequest } from "../../../src/upstream/echo.ts";
import { PeerEnvoy, validatePeerGroups } from "../../../tools/bench/peers/envoy.ts";
import { REWRITE_REQUEST_HEADERS, peers, rewriteVariants } from "../peers/index.ts";

const filter = findFilter("header-rewrite");
const built = existsSync(filter.releaseWasm) ? false : "run npm run build first";

describe("header-rewrite's peers", { skip: built }, () => {
  it("do the rewrite graft's filter does, in real Envoy through an upstream", async (t) => {
    const check = peers(filter).groups[0]!.check!;
    const echo = await EchoUpstream.start();
    try {
      for (const variant of rewriteVariants(filter)) {
        if (variant.build && !existsSync(variant.build.output)) {
          t.diagnostic(`${variant.label}: not built (npm run bench -- peers builds it)`);
          continue;
        }
        const envoy = await PeerEnvoy.start({
          label: variant.id,
          filters: variant.filters(),
          route: { kind: "upstream", port: echo.port },
          cpus: null,
        });
        try {
          const response = await fetch(envoy.url, { headers: REWRITE_REQUEST_HEADERS });
          const upstream = (await response.json()) as EchoedRequest;
          const rewrites = variant.kind !== "none";
          assert.equal(check(variant, response.status, response.headers), null, variant.label);
          assert.equal(response.headers.get("x-graft-user"), rewrites ? "user=alice" : null, variant.label);
          assert.equal(upstream.headers["x-graft"], rewrites ? "bench" : "spoofed", variant.label);
          assert.equal(upstream.headers["x-internal"], rewrites ? undefined : "secret", variant.label);
          assert.equal(upstream.headers["x-user"], "alice", variant.label);
        } catch (error) {
          if (error instanceof Error)
            error.message += `\n--- ${variant.id} log ---\n${envoy.logs().slice(-2000)}`;
          throw error;
        } finally {
          await envoy.stop();
        }
      }
    } finally {
      await echo.stop();
    }
  });

  it("make bootstraps Envoy accepts: every variant, direct and through an upstream, and the memory chain entry", async () => {
    const validated = await validatePeerGroups(peers(filter));
    for (const label of ["rewrite/none", "rewrite/native", "rewrite/lua", "rewrite/graft", "chain"])
      assert.ok(validated.includes(label), `${label} in ${validated.join(", ")}`);
    for (const label of ["rewrite-upstream/lua", "rewrite-upstream/graft"])
      assert.ok(validated.includes(label), `${label} in ${validated.join(", ")}`);
  });
});
