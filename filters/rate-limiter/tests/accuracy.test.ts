// rate-limiter accuracy under overload in real Envoy with two workers, against Envoy's native
// local_ratelimit as the reference in the same run: both listeners of one Envoy get the same
// open-loop load, about 5× the limit, at the same time, for a fixed window.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  graftRateLimiterFilter,
  nativeLocalRateLimitFilter,
  pacedLoad,
  type PacedLoadResult,
} from "../bench.ts";
import { EnvoyProcess } from "../../../src/envoy/launcher.ts";
import { taggedStatName } from "../../../src/metrics/tags.ts";
import { EchoUpstream } from "../../../src/upstream/echo.ts";
import { withEnvoyLog } from "../../../tests/support/envoy-fixture.ts";

const RATE = 100; // tokens per second
const BURST = 50; // max_tokens; both buckets start full
const WINDOW_MS = 10_000;
const OFFERED = 5 * RATE; // requests per second, to each listener
const CONNECTIONS = 16; // keep-alive connections per listener, spread over both workers
const TOLERANCE = 0.02;

describe("rate-limiter accuracy with --concurrency 2, native local_ratelimit as the reference", () => {
  let envoy: EnvoyProcess | undefined;
  let echo: EchoUpstream | undefined;
  before(async () => {
    echo = await EchoUpstream.start({ keepHistory: false });
    envoy = await EnvoyProcess.start({
      concurrency: 2,
      componentLogLevel: "wasm:info",
      upstream: { host: "127.0.0.1", port: echo.port },
      listeners: [
        {
          name: "graft",
          httpFilters: [
            graftRateLimiterFilter("rl-accuracy", {
              injection_id: "accuracy",
              rules: [
                {
                  name: "global",
                  key: { source: "global" },
                  tokens_per_fill: RATE,
                  fill_interval_ms: 1000,
                  max_tokens: BURST,
                },
              ],
            }),
          ],
        },
        {
          name: "native",
          httpFilters: [
            nativeLocalRateLimitFilter("native_rl", {
              maxTokens: BURST,
              tokensPerFill: RATE,
              fillIntervalMs: 1000,
            }),
          ],
        },
      ],
    });
  });
  after(async () => {
    await envoy?.stop();
    await echo?.stop();
  });

  it(`admits burst + rate × window within ±${TOLERANCE * 100}% at ${OFFERED / RATE}× the rate for ${WINDOW_MS / 1000} s`, (t) =>
    withEnvoyLog(
      () => (envoy ? { envoy } : undefined),
      async () => {
        const graftUrl = await envoy!.listenerUrl("graft");
        const nativeUrl = await envoy!.listenerUrl("native");
        const workers = async () => {
          const values = (await envoy!.stats("listener.127.0.0.1_0.worker_")).values;
          return [0, 1].map(
            (worker) => values.get(`listener.127.0.0.1_0.worker_${worker}.downstream_cx_total`) ?? 0,
          );
        };
        const connectionsBefore = await workers();
        const [graft, native] = await Promise.all([
          pacedLoad({ url: graftUrl, rate: OFFERED, durationMs: WINDOW_MS, connections: CONNECTIONS }),
          pacedLoad({ url: nativeUrl, rate: OFFERED, durationMs: WINDOW_MS, connections: CONNECTIONS }),
        ]);
        const connections = (await workers()).map(
          (count, worker) => count - (connectionsBefore[worker] ?? 0),
        );
        const expected = BURST + (RATE * WINDOW_MS) / 1000;
        const stat = (base: string) =>
          taggedStatName(`graft.${base}`, { filter: "rate-limiter", injection: "accuracy", rule: "global" });
        await new Promise((resolve) => setTimeout(resolve, 300)); // counters reach Envoy every 100 ms
        const stats = (await envoy!.stats()).values;
        const describeRun = (name: string, run: PacedLoadResult) => {
          const admitted = run.byStatus.get(200) ?? 0;
          const error = ((admitted - expected) / expected) * 100;
          return `${name}: admitted ${admitted} of ${run.sent} sent in ${(run.spanMs / 1000).toFixed(2)} s (expected ${expected}, ${error >= 0 ? "+" : ""}${error.toFixed(2)}%); 429: ${run.byStatus.get(429) ?? 0}; errors: ${run.errors}`;
        };
        const report = [
          describeRun("graft rate-limiter", graft),
          describeRun("native local_ratelimit", native),
          `graft CAS retries: ${stats.get(stat("cas_retries_total")) ?? 0}, CAS exhausted: ${stats.get(stat("cas_exhausted_total")) ?? 0}; ` +
            `native ok/rate_limited: ${stats.get("native_rl.http_local_rate_limit.ok") ?? "?"}/${stats.get("native_rl.http_local_rate_limit.rate_limited") ?? "?"}; ` +
            `new connections per worker: ${connections.join(", ")}`,
        ];
        for (const line of report) {
          console.log(line);
          t.diagnostic(line);
        }

        for (const run of [graft, native]) {
          assert.equal(run.errors, 0);
          assert.equal(run.sent, (OFFERED * WINDOW_MS) / 1000 + 1);
          assert.deepEqual([...run.byStatus.keys()].sort(), [200, 429]);
        }
        assert.ok(
          connections.every((count) => count > 0),
          `both workers took connections: ${connections.join(", ")}`,
        );
        const admitted = graft.byStatus.get(200) ?? 0;
        assert.ok(
          Math.abs(admitted - expected) <= expected * TOLERANCE,
          `graft admitted ${admitted}, expected ${expected} ± ${TOLERANCE * 100}%`,
        );
        assert.equal(stats.get(stat("allowed_total")), admitted);
        assert.equal(stats.get(stat("limited_total")), graft.byStatus.get(429));
        assert.equal(stats.get(stat("cas_exhausted_total")) ?? 0, 0, "no decision fell to on_cas_exhausted");
      },
    )());
});
