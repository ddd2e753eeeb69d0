// Each repair in patches/@solo-io+proxy-runtime+0.1.8.patch, proven inside real Envoy by the
// runtime-probe module (tests/fixtures/runtime-probe). Unpatched, the module does not compile
// (allocation API, WASI binding, Gauge.record and queue signatures), would not load in Envoy
// (clear_route_cache import), or returns the wrong answers asserted below.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { checkModuleForEnvoy } from "../../src/compile/envoy-abi.ts";
import { wasmHttpFilter } from "../../src/envoy/wasm-filter.ts";
import { readFileSync } from "node:fs";
import http from "node:http";
import { builtWasm, startEnvoyFixture, withEnvoyLog, type EnvoyFixture } from "../support/envoy-fixture.ts";

const probeFilter = (configuration: string) =>
  wasmHttpFilter({
    name: "probe",
    rootId: "runtime-probe",
    vmId: "probe",
    wasmPath: builtWasm("fixtures/runtime-probe.wasm"),
    configuration,
  });

async function probe(
  fixture: EnvoyFixture,
  path: string,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const response = await fetch(fixture.url + path, { headers });
  assert.equal(response.status, 200, `${path} answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

describe("patched proxy-runtime in Envoy 1.40", () => {
  let fixture: EnvoyFixture | undefined;
  before(async () => {
    fixture = await startEnvoyFixture([probeFilter("hello-config")], { concurrency: 2 });
  });
  after(async () => fixture?.stop());
  const run = (body: (f: EnvoyFixture) => Promise<void>) =>
    withEnvoyLog(
      () => fixture,
      () => body(fixture!),
    );

  it("exports ABI 0.2.1 and imports only what Envoy provides (no proxy_clear_route_cache)", () => {
    const check = checkModuleForEnvoy(readFileSync(builtWasm("fixtures/runtime-probe.wasm")));
    assert.equal(check.abi, "proxy_abi_version_0_2_1");
    assert.deepEqual(check.problems, []);
    assert.ok(!check.imports.includes("env.proxy_clear_route_cache"));
    assert.ok(check.imports.includes("wasi_unstable.proc_exit"));
  });

  it(
    "graft's RequestHeaderSnapshot reads every request header in one host call: first, repeated, empty and absent ones",
    run(async (f) => {
      const body = await new Promise<string>((resolve, reject) => {
        const request = http.request(
          `${f.url}/headers`,
          {
            method: "PUT",
            headers: { "x-one": "first", "x-many": ["a", "b"], "x-empty": "", "content-length": "0" },
          },
          (response) => {
            let text = "";
            response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
            response.on("end", () => resolve(text));
          },
        );
        request.on("error", reject);
        request.end();
      });
      const result = JSON.parse(body) as Record<string, unknown>;
      assert.deepEqual(
        { ...result, all: undefined },
        {
          method: "PUT",
          path: "/headers",
          one: "first",
          many: "a|b",
          empty: "",
          absent: null,
          all: undefined,
        },
      );
      // Pseudo-headers, host, the four sent and what Envoy adds (x-forwarded-proto, x-request-id).
      assert.ok((result.all as number) >= 9, `only ${String(result.all)} headers`);
    }),
  );

  it(
    "reads the plugin configuration through the size pointer",
    run(async (f) => {
      assert.deepEqual(await probe(f, "/config"), { configuration: "hello-config" });
    }),
  );

  it(
    "sets and gets shared data, and refuses a write with a stale CAS",
    run(async (f) => {
      const result = await probe(f, "/shared-data", { "x-key": `k-${Date.now()}` });
      assert.deepEqual(result, {
        initial: 1, // NotFound
        set: 0,
        value: "v1",
        casSet: 0,
        staleSet: 8, // CasMismatch
        finalValue: "v2",
        casAdvanced: true,
      });
    }),
  );

  it(
    "registers, resolves, enqueues and dequeues a shared queue by token pointer",
    run(async (f) => {
      assert.deepEqual(await probe(f, "/queue"), {
        registered: 0,
        resolved: 0,
        sameToken: true,
        enqueued: 0,
        dequeued: 0,
        data: "hello-queue",
      });
    }),
  );

  it(
    "reads metrics with proxy_get_metric and records each gauge under its own id",
    run(async (f) => {
      const result = await probe(f, "/metrics");
      assert.equal(result.getMetric, 0);
      assert.equal(result.counter, 3);
      assert.equal(result.gaugeA, 7);
      assert.equal(result.gaugeB, 11);
      const stats = await f.envoy.stats("^wasmcustom\\.probe_");
      assert.equal(stats.values.get("wasmcustom.probe_gauge_a"), 7);
      assert.equal(stats.values.get("wasmcustom.probe_gauge_b"), 11);
    }),
  );

  it(
    "clears the route cache through Envoy's foreign function",
    run(async (f) => {
      assert.deepEqual(await probe(f, "/route-cache"), { clearRouteCache: 0 });
    }),
  );

  it(
    "reads the host log level (an ABI 0.2.1 call)",
    run(async (f) => {
      // The launcher runs the wasm logger at debug (1).
      assert.deepEqual(await probe(f, "/log-level"), { result: 0, level: 1 });
    }),
  );

  it(
    "accepts an empty configuration",
    run(async () => {
      const empty = await startEnvoyFixture([probeFilter("")]);
      try {
        assert.deepEqual(await probe(empty, "/config"), { configuration: "" });
      } finally {
        await empty.stop();
      }
    }),
  );

  it(
    "keeps linear memory flat over 2000 streams after a warm-up (host buffers are unpinned)",
    run(async (f) => {
      // Collection runs once 1 MiB has been allocated since the last one (COLLECT_BYTES): memory
      // settles below 2 × (1 MiB + live) once the warm-up has allocated past several such cycles
      // (a stream allocates well under 1 KiB here), then stays flat.
      const stream = async () => (await fetch(`${f.url}/config`)).arrayBuffer();
      for (let i = 0; i < 8000; i++) await stream();
      const before = Math.max(
        (await probe(f, "/memory")).pages as number,
        (await probe(f, "/memory")).pages as number,
      );
      for (let i = 0; i < 2000; i++) await stream();
      const afterPages = Math.max(
        (await probe(f, "/memory")).pages as number,
        (await probe(f, "/memory")).pages as number,
      );
      assert.ok(afterPages <= before + 1, `memory grew from ${before} to ${afterPages} pages`);
      assert.ok(afterPages <= 64, `${afterPages} pages: more than 4 MiB`);
    }),
  );

  it(
    "collects garbage when the outermost callback returns (minimal runtime), also around a nested callback",
    run(async (f) => {
      // Each request leaves about 2 MiB of temporary strings: some 3 GiB over 1500 requests if
      // nothing were collected. Collected, memory settles at a high-water mark and stays there.
      const expectedChars = [...Array(2048).keys()].reduce(
        (n, k) => n + "garbage-".length + String(k).length + 100,
        0,
      );
      let early = 0;
      let late = 0;
      for (let i = 0; i < 1500; i++) {
        const result = await probe(f, "/garbage");
        assert.equal(result.chars, expectedChars);
        late = result.pages as number;
        if (i === 50) early = late;
      }
      assert.ok(late <= early + 16, `linear memory grew from ${early} to ${late} pages`);
      assert.ok(late < 1024, `linear memory reached ${late} pages (64 MiB)`);
    }),
  );

  it(
    "logs nothing per stream at debug level (hot-path bookkeeping lines removed)",
    run(async (f) => {
      await probe(f, "/config");
      assert.doesNotMatch(f.envoy.logs(), /context_map|ensureContext|onDelete\(\)|onLog\(\)/);
    }),
  );
});
