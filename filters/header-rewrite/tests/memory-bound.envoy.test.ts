// Issue 18, point 1, in real Envoy: header-rewrite with 40 rules that each quote a 50 KiB client
// header twice once took a worker from 90 to 537 MiB RSS, for good (the runtime collected every 64
// callbacks, so 64 requests' garbage piled up and Wasm memory never shrinks). Now the collector
// runs on allocated bytes and a request renders at most max_rendered_bytes: the worker's growth
// stays under the bound filters/header-rewrite/README.md states for this configuration.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { wasmHttpFilter } from "../../../src/envoy/wasm-filter.ts";
import {
  builtWasm,
  startEnvoyFixture,
  withEnvoyLog,
  type EnvoyFixture,
} from "../../../tests/support/envoy-fixture.ts";
import { rssBytes, sendRequests } from "../../../tests/hardening/support.ts";

const MiB = 1024 * 1024;
/** filters/header-rewrite/README.md, "Memory": linear memory per worker for this configuration. */
const README_BOUND = 8 * MiB;

export function quotingRules(rules: number, quotes: number) {
  const value = Array.from({ length: quotes }, () => "${request.header.x-big}").join("-");
  return {
    injection_id: "mem",
    rules: [
      ...Array.from({ length: rules }, (_, i) => ({
        name: `r${i}`,
        request: [{ op: "set", name: `x-out-${i}`, value }],
      })),
      // The echo upstream (Node) refuses headers over 16 KiB: the quoted header stops here.
      { name: "strip", request: [{ op: "remove", name: "x-big" }] },
    ],
  };
}

describe("header-rewrite memory under hostile headers, in Envoy 1.40 (one worker)", () => {
  let fixture: EnvoyFixture | undefined;
  before(async () => {
    fixture = await startEnvoyFixture(
      [
        wasmHttpFilter({
          name: "header-rewrite",
          rootId: "header-rewrite",
          wasmPath: builtWasm("header-rewrite.wasm"),
          configuration: quotingRules(40, 2),
        }),
      ],
      { concurrency: 1 },
    );
  });
  after(async () => fixture?.stop());

  it(
    "40 rules × 2 quotes of a 50 KiB header: RSS grows less than the README's bound (8 MiB, ≤ 64 MiB)",
    withEnvoyLog(
      () => fixture,
      async () => {
        const f = fixture!;
        const pid = f.envoy.pid;
        assert.ok(pid, "the process runtime gives Envoy's pid");
        const big = "b".repeat(50 * 1024);
        const idle = rssBytes(pid);
        // Warm-up: connections, Envoy's buffers and the VM's first collections.
        const warm = await sendRequests(f.url, 100, 4, { "x-big": big });
        assert.equal(warm.statuses.get(200), 100, `warm-up statuses ${[...warm.statuses]}`);
        const before = rssBytes(pid);
        const run = await sendRequests(f.url, 800, 4, { "x-big": big });
        assert.equal(run.statuses.get(200), 800, `statuses ${[...run.statuses]}`);
        const growth = rssBytes(pid) - before;
        const total = rssBytes(pid) - idle;
        console.log(
          `RSS idle ${(idle / MiB).toFixed(1)} MiB; +${(total / MiB).toFixed(2)} MiB over 900 requests, +${(growth / MiB).toFixed(2)} MiB after warm-up`,
        );
        assert.ok(growth < README_BOUND, `RSS grew ${(growth / MiB).toFixed(1)} MiB after warm-up`);
        assert.ok(total < README_BOUND, `RSS grew ${(total / MiB).toFixed(1)} MiB from idle`);
        // Rendering stopped at the budget: the header was not copied 80 times.
        const echoed = await new Promise<Record<string, string>>((resolve, reject) => {
          const request = http.request(`${f.url}/`, { headers: { "x-big": big } }, (response) => {
            let text = "";
            response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
            response.on("end", () =>
              resolve((JSON.parse(text) as { headers: Record<string, string> }).headers),
            );
          });
          request.on("error", reject);
          request.end();
        });
        assert.equal(echoed["x-big"], undefined);
        const rendered = Object.keys(echoed).filter((name) => name.startsWith("x-out-")).length;
        assert.equal(rendered, 0, "101 KiB per value passes the 64 KiB budget: no action applies");
      },
    ),
  );
});
