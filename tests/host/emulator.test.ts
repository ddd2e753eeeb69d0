// The host emulator on its own, driven with the trap-probe and runtime-probe test modules
// (tests/fixtures/*): shared data races across workers, queues, metric semantics, failure
// policies, ticks, callouts, logs, and the checks a module must pass to load.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ConfigurationRejectedError, Emulator, type EmulatorOptions } from "../../src/host/emulator.ts";
import { HeaderMap } from "../../src/host/headers.ts";
import { ManualClock } from "../../src/host/state.ts";
import { ModuleLoadError, VmFailure, type StreamResult } from "../../src/host/vm.ts";
import { builtWasm } from "../support/envoy-fixture.ts";

const probe = (options: Partial<EmulatorOptions> = {}) =>
  Emulator.load({
    module: builtWasm("fixtures/trap-probe.wasm"),
    rootId: "trap-probe",
    name: "probe",
    clock: new ManualClock(),
    ...options,
  });

const text = (result: StreamResult) => new TextDecoder().decode(result.responseBody);
const json = (result: StreamResult) => JSON.parse(text(result)) as Record<string, unknown>;

/** The module's bytes with one ASCII name swapped for another of the same length. */
function patched(file: string, from: string, to: string): Uint8Array<ArrayBuffer> {
  assert.equal(from.length, to.length);
  const bytes = readFileSync(builtWasm(file));
  const at = bytes.indexOf(Buffer.from(from));
  assert.ok(at >= 0, `${from} in ${file}`);
  bytes.write(to, at, "latin1");
  return new Uint8Array(bytes);
}

describe("shared data", () => {
  it("keeps CAS across workers: two racing workers lose no update", async () => {
    const emulator = await probe({ workers: 2 });
    let race = false;
    // In each round, when worker 0 is about to write, worker 1 runs a whole increment first, so
    // worker 0's CAS is stale and it must read again and retry.
    emulator.sharedData.beforeSet = () => {
      if (!race) return;
      race = false;
      assert.equal(emulator.request({ path: "/cas-increment", worker: 1 }).status, 200);
    };
    // The key exists before the race: a first write (CAS 0) is unconditional, in Envoy too.
    emulator.request({ path: "/cas-increment", worker: 1 });
    let retries = 0;
    const rounds = 25;
    for (let i = 0; i < rounds; i++) {
      race = true;
      const result = json(emulator.request({ path: "/cas-increment", worker: 0 }));
      assert.equal(result.error, undefined);
      retries += result.retries as number;
    }
    const final = json(emulator.request({ path: "/cas-increment", worker: 1 }));
    // 25 increments by each worker, plus the first and the last: none lost.
    assert.equal(final.value, 2 * rounds + 2);
    assert.equal(retries, rounds, "worker 0 retried once per round");
  });

  it("answers NotFound, then Ok, and refuses a stale CAS (runtime-probe)", async () => {
    const emulator = await Emulator.load({
      module: builtWasm("fixtures/runtime-probe.wasm"),
      rootId: "runtime-probe",
      name: "probe",
      configuration: "hello-config",
    });
    const result = emulator.request({ path: "/shared-data", headers: { "x-key": "k1" } });
    assert.deepEqual(json(result), {
      initial: 1,
      set: 0,
      value: "v1",
      casSet: 0,
      staleSet: 8,
      finalValue: "v2",
      casAdvanced: true,
    });
    assert.deepEqual(json(emulator.request({ path: "/config" })), { configuration: "hello-config" });
  });
});

describe("shared queues", () => {
  it("enqueues, dequeues, reports Empty and NotFound, and delivers on_queue_ready after the call", async () => {
    const emulator = await probe();
    assert.deepEqual(json(emulator.request({ path: "/queue" })), {
      enqueued: 0,
      dequeued: 0,
      data: "item",
      empty: 7,
      unknown: 1,
    });
    assert.equal(emulator.metric("probe_queue_ready"), 1);
  });

  it("resolves a queue registered by another worker; the last registrant is told", async () => {
    const emulator = await probe({ workers: 2 });
    const runtime = await Emulator.load({
      module: builtWasm("fixtures/runtime-probe.wasm"),
      rootId: "runtime-probe",
      name: "probe",
    });
    assert.deepEqual(json(runtime.request({ path: "/queue" })), {
      registered: 0,
      resolved: 0,
      sameToken: true,
      enqueued: 0,
      dequeued: 0,
      data: "hello-queue",
    });
    emulator.request({ path: "/enqueue", worker: 0 });
    assert.equal(emulator.metric("probe_queue_ready"), 1);
    const token = emulator.queues.resolve("probe", "probe-queue")!;
    assert.equal(emulator.queues.size(token), 1);
  });
});

describe("metrics", () => {
  it("follows Envoy: counters only grow, record adds on counters and sets gauges, histograms are write-only", async () => {
    const emulator = await probe();
    assert.deepEqual(json(emulator.request({ path: "/metric-semantics" })), {
      counterZero: 2,
      counterNegative: 2,
      counterIncrement: 0,
      counterRecord: 0,
      counter: 7,
      gaugeRecord: 0,
      gaugeUp: 0,
      gaugeDown: 0,
      gauge: 8,
      histogramRecord: 0,
      histogramIncrement: 2,
      histogramGet: 2,
      unknownId: 1,
      badType: 2,
    });
    const stats = emulator.stats();
    assert.equal(stats.get("wasmcustom.probe_sem_counter"), 7);
    assert.equal(stats.get("wasmcustom.probe_sem_gauge"), 8);
    assert.equal(stats.has("wasmcustom.probe_sem_histogram"), false);
    assert.deepEqual(emulator.metricsStore.get("probe_sem_histogram")?.samples, [42]);
  });

  it("shares metrics by name between workers, as Envoy's process-wide stats do", async () => {
    const emulator = await probe({ workers: 3 });
    for (let worker = 0; worker < 3; worker++) emulator.request({ path: "/metric-semantics", worker });
    assert.equal(emulator.metric("wasmcustom.probe_sem_counter"), 21);
  });
});

describe("failure policies", () => {
  it("FAIL_CLOSED: a trap answers 503 wasm_fail_stream, and so does every later stream on that worker only", async () => {
    const emulator = await probe({ workers: 2, failurePolicy: "FAIL_CLOSED" });
    const trapped = emulator.request({ path: "/trap", worker: 0 });
    assert.equal(trapped.status, 503);
    assert.equal(trapped.details, "wasm_fail_stream");
    assert.equal(trapped.outcome, "failed");
    assert.equal(text(trapped), "");
    assert.match(
      emulator.logText(),
      /\[error\]\[wasm\] Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable/,
    );
    const later = emulator.request({ path: "/reply", worker: 0 });
    assert.equal(later.status, 503);
    assert.equal(later.details, "wasm_fail_stream");
    assert.equal(emulator.request({ path: "/reply", worker: 1 }).status, 418);
  });

  it("FAIL_OPEN: the trapping stream gets 503 (as Envoy 1.40 does), later streams skip the filter", async () => {
    const emulator = await probe({ failurePolicy: "FAIL_OPEN" });
    assert.equal(emulator.request({ path: "/trap" }).status, 503);
    const later = emulator.request({ path: "/reply" });
    assert.equal(later.status, 200);
    assert.equal(later.outcome, "bypassed");
    assert.equal(later.responseHeaders.get("x-echo-upstream"), "graft-echo");
    assert.equal(later.responseHeaders.get("x-probe-saw-response"), undefined);
  });

  it("FAIL_RELOAD: a fresh VM takes over once the 1 s backoff has passed", async () => {
    const emulator = await probe({ failurePolicy: "FAIL_RELOAD" });
    assert.equal(emulator.request({ path: "/trap" }).status, 503);
    assert.equal(emulator.request({ path: "/reply" }).status, 503);
    emulator.advance(1000);
    assert.equal(emulator.request({ path: "/reply" }).status, 418);
  });

  it("fails the stream on a trap in the response phase and an AssemblyScript abort", async () => {
    const emulator = await probe({ workers: 2 });
    const response = emulator.request({ path: "/trap-response", worker: 0 });
    assert.equal(response.status, 503);
    assert.ok(response.upstreamRequest, "the request had reached the upstream");
    const abort = emulator.request({ path: "/abort", worker: 1 });
    assert.equal(abort.status, 503);
    assert.match(emulator.logText(), /\[critical\]\[wasm\] wasm log probe trap-probe probe: probe abort/);
  });

  it("lets proc_exit return, as Envoy does: the stream and the VM go on", async () => {
    const emulator = await probe();
    assert.equal(emulator.request({ path: "/exit" }).outcome, "continued");
    assert.equal(emulator.request({ path: "/reply" }).status, 418);
  });
});

describe("loading", () => {
  it("refuses an import Envoy does not give, naming it", async () => {
    const bytes = patched("fixtures/trap-probe.wasm", "proxy_get_property", "proxy_get_propertz");
    await assert.rejects(probe({ module: bytes }), (error: unknown) => {
      assert.ok(error instanceof ModuleLoadError);
      assert.match(error.message, /missing import: env\.proxy_get_propertz/);
      return true;
    });
  });

  it("refuses a module without a 0.2.0/0.2.1 ABI marker", async () => {
    const bytes = patched("fixtures/trap-probe.wasm", "proxy_abi_version_0_2_1", "proxy_abi_version_0_1_0");
    await assert.rejects(
      probe({ module: bytes }),
      /Missing or unknown Proxy-Wasm ABI version \(proxy_abi_version_0_1_0\)/,
    );
  });

  it("reports a refused configuration with the module's log", async () => {
    await assert.rejects(probe({ configuration: "refuse" }), (error: unknown) => {
      assert.ok(error instanceof ConfigurationRejectedError);
      assert.match(
        error.message,
        /\[error\]\[wasm\] wasm log trap-probe probe: trap-probe: configuration refused/,
      );
      return true;
    });
  });

  it("answers plugin_root_id with the configured root id (proxy-runtime finds its root context by it)", async () => {
    await assert.rejects(
      probe({ rootId: "not-registered" }),
      (error: unknown) => error instanceof VmFailure && /proxy_on_context_create/.test(error.message),
    );
    await assert.rejects(
      probe({ configuration: "trap-on-configure" }),
      (error: unknown) => error instanceof VmFailure && /proxy_on_configure/.test(error.message),
    );
  });
});

describe("host calls", () => {
  it("fires ticks from the injected clock and reports its time", async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    const emulator = await probe({ workers: 2, configuration: "tick", clock });
    assert.equal(emulator.advance(3500), 6);
    assert.equal(emulator.metric("probe_ticks"), 6);
    assert.deepEqual(json(emulator.request({ path: "/time" })), { ms: Date.UTC(2030, 0, 1) + 3500 });
  });

  it("answers a callout from a scripted response", async () => {
    const emulator = await probe({
      httpCalls: { upstream: { status: 204, headers: HeaderMap.from({ "x-echo-upstream": "scripted" }) } },
    });
    assert.deepEqual(json(emulator.request({ path: "/callout" })), {
      headers: true,
      status: "204",
      echo: "scripted",
      hasBody: false,
    });
    const unknown = await probe({ httpCalls: () => undefined });
    assert.deepEqual(json(unknown.request({ path: "/callout" })), { httpCall: 2 });
  });

  it("serves properties with Envoy's names", async () => {
    const emulator = await probe();
    assert.deepEqual(json(emulator.request({ path: "/properties", headers: { "x-probe": "p" } })), {
      path: "/properties",
      method: "GET",
      hostHasPort: true,
      scheme: "http",
      urlPath: "/properties",
      query: "",
      protocol: "HTTP/1.1",
      pluginName: "probe",
      rootId: "trap-probe",
      sourceIsLoopback: true,
      sourcePortPositive: true,
      header: "p",
    });
  });

  it("captures logs at and above the configured level, and answers proxy_get_log_level", async () => {
    const emulator = await probe({ logLevel: "warn" });
    emulator.request({ path: "/logs" });
    const lines = emulator.logs
      .filter((entry) => entry.message.startsWith("probe log"))
      .map((entry) => `${entry.levelName} ${entry.message}`);
    assert.deepEqual(lines, ["warning probe log warn", "error probe log error"]);
    const runtime = await Emulator.load({
      module: builtWasm("fixtures/runtime-probe.wasm"),
      rootId: "runtime-probe",
      logLevel: "debug",
    });
    assert.deepEqual(json(runtime.request({ path: "/log-level" })), { result: 0, level: 1 });
  });

  it("delivers body chunks and replaces a buffered body; trailers end the body", async () => {
    const emulator = await probe();
    const chunked = emulator.request({ method: "POST", path: "/upper", body: ["ab", "cd"] });
    assert.equal(new TextDecoder().decode(chunked.upstreamRequest!.body), "ABCD|calls=3");
    const whole = emulator.request({ method: "POST", path: "/upper", body: "xy" });
    assert.equal(new TextDecoder().decode(whole.upstreamRequest!.body), "XY|calls=1");
    // Trailers end the body: the buffered body goes on unchanged when on_request_trailers continues.
    const withTrailers = emulator.request({
      method: "POST",
      path: "/upper",
      body: ["ab"],
      trailers: { "x-t": "1" },
    });
    assert.equal(new TextDecoder().decode(withTrailers.upstreamRequest!.body), "ab");
    assert.equal(withTrailers.upstreamRequest!.trailers.get("x-t"), "1");
  });

  it("keeps guest memory flat over many streams (host buffers are released)", async () => {
    const runtime = await Emulator.load({
      module: builtWasm("fixtures/runtime-probe.wasm"),
      rootId: "runtime-probe",
    });
    // The SDK collects once 1 MiB has been allocated since the last collection: memory settles
    // below 2 × (1 MiB + live) within the first requests, then stays flat.
    for (let i = 0; i < 2000; i++) runtime.request({ path: "/config" });
    const before = json(runtime.request({ path: "/memory" })).pages as number;
    for (let i = 0; i < 5000; i++) runtime.request({ path: "/config" });
    const after = json(runtime.request({ path: "/memory" })).pages as number;
    assert.ok(after <= before + 1, `memory grew from ${before} to ${after} pages`);
    assert.ok(after <= 64, `${after} pages: more than 4 MiB`);
  });
});
