// header-rewrite in real Envoy 1.40: what arrives upstream, what reaches the client, what is
// counted, and what Envoy does with a configuration the filter refuses.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { wasmHttpFilter } from "../../../src/envoy/wasm-filter.ts";
import { taggedStatName } from "../../../src/metrics/tags.ts";
import { RUNTIMES } from "../../../tests/support/runtimes.ts";
import {
  assertRefusedByEnvoy,
  builtWasm,
  echoed,
  startEnvoyFixture,
  withEnvoyLog,
  type EnvoyFixture,
} from "../../../tests/support/envoy-fixture.ts";

const CONFIG = {
  injection_id: "inj-1",
  rules: [
    {
      name: "tag-api",
      match: { methods: ["GET", "POST"], path: { prefix: "/api/" } },
      request: [
        { op: "set", name: "x-graft", value: "${injection_id}" },
        { op: "append", name: "x-trace", value: "graft" },
        { op: "remove", name: "x-internal" },
      ],
      response: [
        { op: "set", name: "x-graft-response", value: "user=${request.header.x-user}" },
        { op: "remove", name: "x-echo-upstream" },
      ],
    },
    {
      name: "health-no-store",
      match: { path: { exact: "/health" } },
      response: [{ op: "set", name: "cache-control", value: "no-store" }],
    },
    {
      name: "beta-users",
      match: {
        headers: [
          { name: "x-beta", equals: "yes" },
          { name: "x-blocked", present: false },
        ],
      },
      request: [{ op: "set", name: "x-route", value: "beta-${rule}" }],
    },
  ],
};

function headerRewrite(configuration: unknown) {
  return wasmHttpFilter({
    name: "header-rewrite",
    rootId: "header-rewrite",
    wasmPath: builtWasm("header-rewrite.wasm"),
    configuration,
  });
}

const ruleStat = (rule: string) =>
  taggedStatName("graft.rule_applied_total", { filter: "header-rewrite", injection: "inj-1", rule });

for (const { runtime, skip } of RUNTIMES)
  for (const concurrency of [1, 2]) {
    describe(`header-rewrite in Envoy (${runtime}) with --concurrency ${concurrency}`, { skip }, () => {
      let fixture: EnvoyFixture | undefined;
      before(async () => {
        fixture = await startEnvoyFixture([headerRewrite(CONFIG)], { concurrency, runtime });
      });
      after(async () => fixture?.stop());
      const run = (body: (f: EnvoyFixture) => Promise<void>) =>
        withEnvoyLog(
          () => fixture,
          () => body(fixture!),
        );

      it(
        "sets, appends and removes request headers before they reach the upstream",
        run(async (f) => {
          const response = await fetch(`${f.url}/api/items`, {
            headers: { "x-internal": "secret", "x-trace": "client", "x-graft": "spoofed" },
          });
          assert.equal(response.status, 200);
          const upstream = await echoed(response);
          assert.equal(upstream.headers["x-graft"], "inj-1");
          assert.equal(upstream.headers["x-trace"], "client, graft");
          assert.equal(upstream.headers["x-internal"], undefined);
        }),
      );

      it(
        "rewrites response headers on the way to the client, quoting a request header",
        run(async (f) => {
          const response = await fetch(`${f.url}/api/items`, { headers: { "x-user": "alice" } });
          assert.equal(response.headers.get("x-graft-response"), "user=alice");
          assert.equal(response.headers.get("x-echo-upstream"), null);
          await response.arrayBuffer();
        }),
      );

      it(
        "renders a quoted request header that is absent as empty",
        run(async (f) => {
          const response = await fetch(`${f.url}/api/items`, { method: "POST", body: "{}" });
          assert.equal(response.headers.get("x-graft-response"), "user=");
          await response.arrayBuffer();
        }),
      );

      it(
        "leaves requests that match no rule untouched",
        run(async (f) => {
          for (const [method, target] of [
            ["GET", "/other"],
            ["DELETE", "/api/items"],
            ["GET", "/apix"],
          ] as const) {
            const response = await fetch(`${f.url}${target}`, { method, headers: { "x-internal": "kept" } });
            const upstream = await echoed(response);
            assert.equal(upstream.headers["x-graft"], undefined, `${method} ${target}`);
            assert.equal(upstream.headers["x-internal"], "kept", `${method} ${target}`);
            assert.equal(response.headers.get("x-echo-upstream"), "graft-echo", `${method} ${target}`);
            assert.equal(response.headers.get("x-graft-response"), null, `${method} ${target}`);
          }
        }),
      );

      it(
        "matches an exact path without its query string, and nothing below it",
        run(async (f) => {
          const exact = await fetch(`${f.url}/health?probe=1`);
          assert.equal(exact.headers.get("cache-control"), "no-store");
          await exact.arrayBuffer();
          const below = await fetch(`${f.url}/health/deep`);
          assert.equal(below.headers.get("cache-control"), null);
          await below.arrayBuffer();
        }),
      );

      it(
        "requires every header condition: equality and absence",
        run(async (f) => {
          const beta = await echoed(await fetch(`${f.url}/x`, { headers: { "x-beta": "yes" } }));
          assert.equal(beta.headers["x-route"], "beta-beta-users");
          const blocked = await echoed(
            await fetch(`${f.url}/x`, { headers: { "x-beta": "yes", "x-blocked": "1" } }),
          );
          assert.equal(blocked.headers["x-route"], undefined);
          const other = await echoed(await fetch(`${f.url}/x`, { headers: { "x-beta": "no" } }));
          assert.equal(other.headers["x-route"], undefined);
        }),
      );

      it(
        "counts each applied rule in /stats and /stats/prometheus with filter, injection and rule labels",
        run(async (f) => {
          const before = (await f.envoy.stats("graft")).values;
          const start = before.get(ruleStat("tag-api")) ?? 0;
          const requests = 20;
          for (let i = 0; i < requests; i++) await (await fetch(`${f.url}/api/count`)).arrayBuffer();
          const stats = (await f.envoy.stats("graft")).values;
          assert.equal(stats.get(ruleStat("tag-api")), start + requests);
          assert.ok((stats.get(ruleStat("health-no-store")) ?? 0) >= 1);
          const prometheus = await f.envoy.admin.prometheus();
          const line = prometheus
            .split("\n")
            .find((l) => l.startsWith("graft_rule_applied_total{") && l.includes('rule="tag-api"'));
          assert.ok(line, "graft_rule_applied_total for tag-api in /stats/prometheus");
          assert.match(line, /filter="header-rewrite"/);
          assert.match(line, /injection="inj-1"/);
          assert.equal(Number(line.split(" ").at(-1)), start + requests);
          assert.match(
            prometheus,
            /^graft_requests_total\{filter="header-rewrite",injection="inj-1"\} \d+$/m,
          );
        }),
      );
    });
  }

describe("header-rewrite configuration errors", () => {
  const cases: { name: string; configuration: unknown; reason: RegExp }[] = [
    {
      name: "a path prefix without a leading slash",
      configuration: {
        rules: [{ name: "r", match: { path: { prefix: "api" } }, request: [{ op: "remove", name: "x" }] }],
      },
      reason: /\/rules\/0\/match\/path\/prefix: must start with \//,
    },
    {
      name: "an unknown field",
      configuration: { rules: [{ name: "r", request: [{ op: "remove", name: "x" }], respnse: [] }] },
      reason: /\/rules\/0\/respnse: unknown field/,
    },
    {
      name: "an unknown action",
      configuration: { rules: [{ name: "r", request: [{ op: "rename", name: "x" }] }] },
      reason: /\/rules\/0\/request\/0\/op: expected one of set, append, remove/,
    },
    {
      name: "an unknown template variable",
      configuration: { rules: [{ name: "r", request: [{ op: "set", name: "x", value: "${secret}" }] }] },
      reason: /unknown variable \$\{secret\}/,
    },
    {
      name: "a rewrite of a pseudo-header",
      configuration: { rules: [{ name: "r", request: [{ op: "set", name: ":path", value: "/" }] }] },
      reason: /pseudo-headers \(:path\) cannot be rewritten/,
    },
    { name: "malformed JSON", configuration: '{"rules": [', reason: /invalid JSON/ },
    { name: "a missing rules list", configuration: { injection_id: "x" }, reason: /\/rules: is required/ },
    {
      name: "an injection id unusable as a label",
      configuration: { injection_id: "a b", rules: [] },
      reason: /\/injection_id: must be 1-64 characters/,
    },
  ];
  for (const { name, configuration, reason } of cases) {
    it(`refuses ${name}, and Envoy logs the field`, async () => {
      await assertRefusedByEnvoy(headerRewrite(configuration), "header-rewrite", reason);
    });
  }
});
