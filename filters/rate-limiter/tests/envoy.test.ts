// rate-limiter in real Envoy 1.40 with two workers: every response path (allowed with quota
// headers, limited, per-key isolation, monitor mode, CAS exhaustion, key-space overflow), the
// limit holding across workers, the counters, and configurations Envoy refuses.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { EnvoyProcess } from "../../../src/envoy/launcher.ts";
import { wasmHttpFilter } from "../../../src/envoy/wasm-filter.ts";
import { taggedStatName } from "../../../src/metrics/tags.ts";
import { EchoUpstream } from "../../../src/upstream/echo.ts";
import { assertRefusedByEnvoy, builtWasm, withEnvoyLog } from "../../../tests/support/envoy-fixture.ts";

const HOUR_MS = 3_600_000;

/** A bucket that gets one token an hour: within a test it only spends its burst. */
function slow(name: string, maxTokens: number, rest: Record<string, unknown>): Record<string, unknown> {
  return { name, tokens_per_fill: 1, fill_interval_ms: HOUR_MS, max_tokens: maxTokens, ...rest };
}

/** One listener per configuration, each its own plugin (and so its own VM, shared data and injection id). */
const LISTENERS: Record<string, Record<string, unknown>> = {
  enforce: {
    injection_id: "enforce",
    quota_headers: true,
    rules: [
      slow("api-key", 3, { match: { path_prefix: "/keyed/" }, key: { source: "header", name: "x-api-key" } }),
      slow("skip-missing", 1, {
        match: { path_prefix: "/optional/" },
        key: { source: "header", name: "x-api-key", missing: "skip" },
      }),
      slow("per-client", 4, { match: { path_prefix: "/client/" }, key: { source: "client_address" } }),
      slow("per-path", 2, { match: { path_prefix: "/paths/" }, key: { source: "path", segments: 2 } }),
      slow("global-post", 5, {
        match: { methods: ["POST"], path_prefix: "/global/" },
        key: { source: "global" },
      }),
      slow("limited", 2, { match: { path_prefix: "/limited/" }, key: { source: "global" } }),
      {
        name: "refill",
        match: { path_prefix: "/refill/" },
        key: { source: "global" },
        tokens_per_fill: 1,
        fill_interval_ms: 400,
        max_tokens: 2,
      },
      slow("workers", 10, { match: { path_prefix: "/workers/" }, key: { source: "global" } }),
    ],
  },
  quiet: {
    injection_id: "quiet",
    rules: [slow("plain", 1, { key: { source: "global" } })],
  },
  monitor: {
    injection_id: "monitor",
    mode: "monitor",
    quota_headers: true,
    rules: [slow("shadow", 2, { key: { source: "global" } })],
  },
  "cas-deny": {
    injection_id: "cas-deny",
    test_stale_cas: true,
    cas_max_retries: 2,
    on_cas_exhausted: "deny",
    rules: [slow("contended", 100, { key: { source: "global" } })],
  },
  "cas-allow": {
    injection_id: "cas-allow",
    test_stale_cas: true,
    cas_max_retries: 0,
    on_cas_exhausted: "allow",
    rules: [slow("contended", 100, { key: { source: "global" } })],
  },
  overflow: {
    injection_id: "overflow",
    rules: [
      slow("ov-deny", 2, {
        match: { path_prefix: "/deny/" },
        key: { source: "header", name: "x-user" },
        slots: 1,
        on_overflow: "deny",
      }),
      slow("ov-allow", 2, {
        match: { path_prefix: "/allow/" },
        key: { source: "header", name: "x-user" },
        slots: 1,
        on_overflow: "allow",
      }),
      slow("ov-share", 3, {
        match: { path_prefix: "/share/" },
        key: { source: "header", name: "x-user" },
        slots: 1,
        on_overflow: "share",
      }),
      {
        name: "ov-idle",
        match: { path_prefix: "/idle/" },
        key: { source: "header", name: "x-user" },
        slots: 1,
        on_overflow: "deny",
        tokens_per_fill: 1,
        fill_interval_ms: 400,
        max_tokens: 1,
      },
    ],
  },
};

function rateLimiter(name: string, configuration: unknown) {
  return wasmHttpFilter({
    name: `rl-${name}`,
    rootId: "rate-limiter",
    wasmPath: builtWasm("rate-limiter.wasm"),
    configuration,
  });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on its own connection (so each comes from a new source port, and connections spread over workers). */
function send(
  url: string,
  target: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}${target}`,
      { method: options.method ?? "GET", headers: options.headers, agent: false },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    request.on("error", reject);
    request.end();
  });
}

async function statuses(
  url: string,
  target: string,
  count: number,
  headers?: Record<string, string>,
): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push((await send(url, target, { headers })).status);
  return result;
}

const stat = (base: string, injection: string, rule: string) =>
  taggedStatName(`graft.${base}`, { filter: "rate-limiter", injection, rule });

describe("rate-limiter in Envoy with --concurrency 2", () => {
  let envoy: EnvoyProcess | undefined;
  let echo: EchoUpstream | undefined;
  const urls = new Map<string, string>();
  before(async () => {
    echo = await EchoUpstream.start();
    envoy = await EnvoyProcess.start({
      concurrency: 2,
      upstream: { host: "127.0.0.1", port: echo.port },
      listeners: Object.entries(LISTENERS).map(([name, configuration]) => ({
        name,
        httpFilters: [rateLimiter(name, configuration)],
      })),
    });
    for (const name of Object.keys(LISTENERS)) urls.set(name, await envoy.listenerUrl(name));
  });
  after(async () => {
    await envoy?.stop();
    await echo?.stop();
  });
  const run = (body: () => Promise<void>) => withEnvoyLog(() => (envoy ? { envoy } : undefined), body);
  const url = (name: string) => urls.get(name)!;
  const counter = async (base: string, injection: string, rule: string) =>
    (await envoy!.stats("graft")).values.get(stat(base, injection, rule)) ?? 0;
  /** Counters gather in each VM and reach Envoy every 100 ms: wait for the expected value, then compare. */
  const expectCounter = async (base: string, injection: string, rule: string, expected: number) => {
    const deadline = Date.now() + 3_000;
    let value = await counter(base, injection, rule);
    while (value !== expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      value = await counter(base, injection, rule);
    }
    assert.equal(value, expected, `graft.${base}{injection=${injection},rule=${rule}}`);
  };

  it(
    "admits with the remaining quota in RateLimit headers, and reaches the upstream",
    run(async () => {
      const first = await send(url("enforce"), "/keyed/a", { headers: { "x-api-key": "quota" } });
      assert.equal(first.status, 200);
      assert.equal(first.headers["x-echo-upstream"], "graft-echo");
      assert.equal(first.headers["ratelimit-policy"], '"api-key";q=1;w=3600');
      assert.equal(first.headers["ratelimit"], '"api-key";r=2;t=3600');
      const second = await send(url("enforce"), "/keyed/a", { headers: { "x-api-key": "quota" } });
      assert.equal(second.headers["ratelimit"], '"api-key";r=1;t=7200');
    }),
  );

  it(
    "answers 429 with Retry-After, RateLimit headers and a JSON body once the bucket is empty",
    run(async () => {
      const upstreamBefore = echo!.received.length;
      assert.deepEqual(await statuses(url("enforce"), "/limited/x", 2), [200, 200]);
      const limited = await send(url("enforce"), "/limited/x");
      assert.equal(limited.status, 429);
      assert.equal(limited.headers["content-type"], "application/json");
      assert.equal(limited.headers["retry-after"], "3600");
      assert.equal(limited.headers["ratelimit-policy"], '"limited";q=1;w=3600');
      assert.equal(limited.headers["ratelimit"], '"limited";r=0;t=3600');
      assert.equal(limited.headers["x-echo-upstream"], undefined);
      assert.deepEqual(JSON.parse(limited.body), {
        error: "rate_limited",
        rule: "limited",
        retry_after: 3600,
      });
      assert.equal(
        echo!.received.length,
        upstreamBefore + 2,
        "the limited request never reached the upstream",
      );
      await expectCounter("limited_total", "enforce", "limited", 1);
      await expectCounter("allowed_total", "enforce", "limited", 2);
    }),
  );

  it(
    "refills lazily from the clock: a spent bucket admits again after one token's time",
    run(async () => {
      assert.deepEqual(await statuses(url("enforce"), "/refill/x", 3), [200, 200, 429]);
      await new Promise((resolve) => setTimeout(resolve, 450)); // one token per 400 ms
      assert.equal((await send(url("enforce"), "/refill/x")).status, 200);
      assert.equal((await send(url("enforce"), "/refill/x")).status, 429);
    }),
  );

  it(
    "keeps keys apart: each API key has its own bucket",
    run(async () => {
      assert.deepEqual(
        await statuses(url("enforce"), "/keyed/x", 4, { "x-api-key": "alice" }),
        [200, 200, 200, 429],
      );
      assert.deepEqual(
        await statuses(url("enforce"), "/keyed/x", 3, { "x-api-key": "bob" }),
        [200, 200, 200],
      );
      assert.equal(
        (await send(url("enforce"), "/keyed/x", { headers: { "x-api-key": "alice" } })).status,
        429,
      );
    }),
  );

  it(
    "requests without the key header share one bucket, or skip the rule with missing: skip",
    run(async () => {
      assert.deepEqual(await statuses(url("enforce"), "/keyed/none", 4), [200, 200, 200, 429]);
      assert.deepEqual(await statuses(url("enforce"), "/optional/x", 3), [200, 200, 200]);
      assert.deepEqual(await statuses(url("enforce"), "/optional/x", 2, { "x-api-key": "k" }), [200, 429]);
    }),
  );

  it(
    "keys the client address without its port: new connections share the bucket",
    run(async () => {
      // Every request is a new connection from a new source port, all from 127.0.0.1.
      assert.deepEqual(await statuses(url("enforce"), "/client/x", 5), [200, 200, 200, 200, 429]);
    }),
  );

  it(
    "keys a path prefix: /paths/a/* share a bucket, /paths/b/* has its own",
    run(async () => {
      assert.deepEqual(
        [
          (await send(url("enforce"), "/paths/a/1")).status,
          (await send(url("enforce"), "/paths/a/2?q=1")).status,
          (await send(url("enforce"), "/paths/a/3")).status,
          (await send(url("enforce"), "/paths/b/1")).status,
        ],
        [200, 200, 429, 200],
      );
    }),
  );

  it(
    "limits only matching requests (method and path prefix)",
    run(async () => {
      assert.deepEqual(
        await statuses(url("enforce"), "/global/get", 8),
        [200, 200, 200, 200, 200, 200, 200, 200],
      );
      await expectCounter("allowed_total", "enforce", "global-post", 0);
      const posts: number[] = [];
      for (let i = 0; i < 6; i++)
        posts.push((await send(url("enforce"), "/global/post", { method: "POST" })).status);
      assert.deepEqual(posts, [200, 200, 200, 200, 200, 429]);
    }),
  );

  it(
    "holds one limit across both workers: 40 concurrent connections, exactly max_tokens admitted",
    run(async () => {
      // Listeners bound to port 0 share the stat prefix listener.127.0.0.1_0: compare before and after.
      const perWorker = async () => {
        const values = (await envoy!.stats("listener.127.0.0.1_0.worker_")).values;
        return [0, 1].map(
          (worker) => values.get(`listener.127.0.0.1_0.worker_${worker}.downstream_cx_total`) ?? 0,
        );
      };
      const before = await perWorker();
      const replies = await Promise.all(Array.from({ length: 40 }, () => send(url("enforce"), "/workers/x")));
      const admitted = replies.filter((reply) => reply.status === 200).length;
      assert.equal(admitted, 10);
      assert.equal(replies.filter((reply) => reply.status === 429).length, 30);
      const taken = (await perWorker()).map((count, worker) => count - (before[worker] ?? 0));
      assert.ok(
        taken.every((count) => count > 0),
        `both workers took connections: ${taken.join(", ")}`,
      );
      await expectCounter("allowed_total", "enforce", "workers", 10);
      await expectCounter("limited_total", "enforce", "workers", 30);
      await expectCounter("cas_exhausted_total", "enforce", "workers", 0);
    }),
  );

  it(
    "sends no quota headers unless configured",
    run(async () => {
      const reply = await send(url("quiet"), "/");
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["ratelimit"], undefined);
      assert.equal(reply.headers["ratelimit-policy"], undefined);
    }),
  );

  it(
    "monitor mode lets everything through and counts what it would have limited",
    run(async () => {
      const replies: Reply[] = [];
      for (let i = 0; i < 5; i++) replies.push(await send(url("monitor"), "/m"));
      assert.deepEqual(
        replies.map((reply) => reply.status),
        [200, 200, 200, 200, 200],
      );
      assert.equal(replies[0]?.headers["ratelimit"], '"shadow";r=1;t=3600');
      assert.equal(
        replies[4]?.headers["ratelimit"],
        undefined,
        "no quota header on a request monitor mode would have limited",
      );
      await expectCounter("allowed_total", "monitor", "shadow", 2);
      await expectCounter("limited_total", "monitor", "shadow", 3);
    }),
  );

  it(
    "CAS exhaustion with on_cas_exhausted: deny answers 429 and counts retries and exhaustion",
    run(async () => {
      const reply = await send(url("cas-deny"), "/c");
      assert.equal(reply.status, 429);
      assert.deepEqual(JSON.parse(reply.body), {
        error: "rate_limit_contended",
        rule: "contended",
        retry_after: 1,
      });
      assert.equal(reply.headers["retry-after"], "1");
      assert.equal(reply.headers["ratelimit-policy"], '"contended";q=1;w=3600');
      await expectCounter("cas_exhausted_total", "cas-deny", "contended", 1);
      await expectCounter("cas_retries_total", "cas-deny", "contended", 2);
      await expectCounter("allowed_total", "cas-deny", "contended", 0);
    }),
  );

  it(
    "CAS exhaustion with on_cas_exhausted: allow passes the request, counted",
    run(async () => {
      assert.deepEqual(await statuses(url("cas-allow"), "/c", 3), [200, 200, 200]);
      await expectCounter("cas_exhausted_total", "cas-allow", "contended", 3);
      await expectCounter("cas_retries_total", "cas-allow", "contended", 0);
    }),
  );

  it(
    "key-space overflow with on_overflow: deny refuses a new key while the slot's holder is active",
    run(async () => {
      assert.equal((await send(url("overflow"), "/deny/x", { headers: { "x-user": "holder" } })).status, 200);
      const refused = await send(url("overflow"), "/deny/x", { headers: { "x-user": "newcomer" } });
      assert.equal(refused.status, 429);
      assert.deepEqual(JSON.parse(refused.body), {
        error: "rate_limit_key_space_full",
        rule: "ov-deny",
        retry_after: 1,
      });
      assert.equal((await send(url("overflow"), "/deny/x", { headers: { "x-user": "holder" } })).status, 200);
      await expectCounter("overflow_total", "overflow", "ov-deny", 1);
    }),
  );

  it(
    "key-space overflow with on_overflow: allow passes new keys unlimited, counted",
    run(async () => {
      assert.equal(
        (await send(url("overflow"), "/allow/x", { headers: { "x-user": "holder" } })).status,
        200,
      );
      assert.deepEqual(
        await statuses(url("overflow"), "/allow/x", 4, { "x-user": "newcomer" }),
        [200, 200, 200, 200],
      );
      await expectCounter("overflow_total", "overflow", "ov-allow", 4);
      await expectCounter("allowed_total", "overflow", "ov-allow", 1);
    }),
  );

  it(
    "key-space overflow with on_overflow: share spends the holder's bucket",
    run(async () => {
      assert.equal(
        (await send(url("overflow"), "/share/x", { headers: { "x-user": "holder" } })).status,
        200,
      );
      assert.deepEqual(
        await statuses(url("overflow"), "/share/x", 3, { "x-user": "newcomer" }),
        [200, 200, 429],
      );
      assert.equal(
        (await send(url("overflow"), "/share/x", { headers: { "x-user": "holder" } })).status,
        429,
      );
      await expectCounter("overflow_total", "overflow", "ov-share", 3);
    }),
  );

  it(
    "a slot whose bucket has refilled to full passes to a new key",
    run(async () => {
      assert.equal((await send(url("overflow"), "/idle/x", { headers: { "x-user": "first" } })).status, 200);
      assert.equal((await send(url("overflow"), "/idle/x", { headers: { "x-user": "second" } })).status, 429);
      await new Promise((resolve) => setTimeout(resolve, 450)); // one token per 400 ms: full again
      assert.equal((await send(url("overflow"), "/idle/x", { headers: { "x-user": "second" } })).status, 200);
    }),
  );

  it(
    "shows per-rule counters in /stats/prometheus with filter, injection and rule labels",
    run(async () => {
      await expectCounter("overflow_total", "overflow", "ov-deny", 1);
      const prometheus = await envoy!.admin.prometheus();
      assert.match(
        prometheus,
        /^graft_allowed_total\{filter="rate-limiter",injection="enforce",rule="limited"\} 2$/m,
      );
      assert.match(
        prometheus,
        /^graft_limited_total\{filter="rate-limiter",injection="enforce",rule="limited"\} 1$/m,
      );
      assert.match(
        prometheus,
        /^graft_cas_exhausted_total\{filter="rate-limiter",injection="cas-deny",rule="contended"\} 1$/m,
      );
      assert.match(
        prometheus,
        /^graft_overflow_total\{filter="rate-limiter",injection="overflow",rule="ov-deny"\} 1$/m,
      );
      assert.match(prometheus, /^graft_requests_total\{filter="rate-limiter",injection="enforce"\} \d+$/m);
    }),
  );
});

describe("rate-limiter configuration errors", () => {
  const bucket = { tokens_per_fill: 1, fill_interval_ms: 1000, max_tokens: 1 };
  const cases: { name: string; configuration: unknown; reason: RegExp }[] = [
    {
      name: "a missing key",
      configuration: { rules: [{ name: "r", ...bucket }] },
      reason: /\/rules\/0\/key: is required/,
    },
    {
      name: "an unknown key source",
      configuration: { rules: [{ name: "r", key: { source: "cookie" }, ...bucket }] },
      reason: /\/rules\/0\/key\/source: expected one of global, header, client_address, path/,
    },
    {
      name: "a zero fill interval",
      configuration: { rules: [{ name: "r", key: { source: "global" }, ...bucket, fill_interval_ms: 0 }] },
      reason: /\/rules\/0\/fill_interval_ms: expected a whole number from 1 to 3600000/,
    },
    {
      name: "an unknown mode",
      configuration: { mode: "shadow", rules: [] },
      reason: /\/mode: expected one of enforce, monitor/,
    },
    {
      name: "an unknown CAS policy",
      configuration: { on_cas_exhausted: "retry", rules: [] },
      reason: /\/on_cas_exhausted: expected one of deny, allow/,
    },
    {
      name: "more probes than slots",
      configuration: { rules: [{ name: "r", key: { source: "path" }, ...bucket, slots: 2, probes: 4 }] },
      reason: /\/rules\/0\/probes: must not exceed slots \(2\)/,
    },
    {
      name: "an unknown field",
      configuration: { rules: [{ name: "r", key: { source: "global" }, ...bucket, burst: 5 }] },
      reason: /\/rules\/0\/burst: unknown field/,
    },
    { name: "malformed JSON", configuration: '{"rules": [', reason: /invalid JSON/ },
  ];
  for (const { name, configuration, reason } of cases) {
    it(`refuses ${name}, and Envoy logs the field`, async () => {
      await assertRefusedByEnvoy(rateLimiter("bad", configuration), "rate-limiter", reason);
    });
  }
});
