// The canary's signals read from a real Prometheus scraping real Envoys equal those read from the
// Envoys' admin API: request and error counts, latency buckets, Wasm failures and the filter's own
// counters, also across an Envoy restart (a counter reset).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EnvoyProcess } from "../../src/envoy/launcher.ts";
import { wasmHttpFilter } from "../../src/envoy/wasm-filter.ts";
import { EnvoySeries, scrapeEnvoy, type EnvoyScrape } from "../../src/observe/collect.ts";
import {
  PrometheusClient,
  PrometheusSourceError,
  scrapeFromPrometheus,
} from "../../src/observe/prometheus.ts";
import { EchoUpstream } from "../../src/upstream/echo.ts";
import { prometheusMissing, TestPrometheus } from "../support/prometheus.ts";
import { sampleFilter } from "../support/sample-filter.ts";

const skip = prometheusMissing();

interface Arm {
  envoy: EnvoyProcess;
  url: string;
  instance: string;
}

/** Sends `count` requests; every `blockedEvery`-th is refused by the filter, every `failEvery`-th gets a 503. */
async function traffic(arm: Arm, count: number, blockedEvery: number, failEvery: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    const path = i % blockedEvery === 0 ? "/admin/x" : "/api/x";
    const headers: Record<string, string> = i % failEvery === 0 ? { "x-echo-status": "503" } : {};
    const response = await fetch(`${arm.url}${path}`, { headers });
    await response.arrayBuffer();
  }
}

/** Polls until Prometheus holds the same values the admin API shows now (it scrapes every second). */
async function settled(
  prometheus: PrometheusClient,
  arm: Arm,
): Promise<{ admin: EnvoyScrape; viaPrometheus: EnvoyScrape }> {
  const deadline = Date.now() + 15_000;
  let last: { admin: EnvoyScrape; viaPrometheus: EnvoyScrape } | undefined;
  while (Date.now() < deadline) {
    const admin = await scrapeEnvoy(arm.envoy.admin, "main");
    try {
      const viaPrometheus = await scrapeFromPrometheus(prometheus, arm.instance, "main");
      last = { admin, viaPrometheus };
      if (
        viaPrometheus.requests === admin.requests &&
        viaPrometheus.latency.at(-1)?.count === admin.latency.at(-1)?.count
      )
        return last;
    } catch (error) {
      if (!(error instanceof PrometheusSourceError)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`Prometheus never caught up with ${arm.instance}: ${JSON.stringify(last)}`);
}

/** The fields the judge reads; uptime and memory move between the two reads and are not compared. */
function judged(scrape: EnvoyScrape) {
  const { uptimeSeconds: _uptime, memoryAllocated: _memory, ...rest } = scrape;
  return rest;
}

describe("signals from Prometheus", { skip }, () => {
  const arms: Arm[] = [];
  let echo: EchoUpstream;
  let prometheus: TestPrometheus;
  /** One Envoy with the sample filter; `adminPort` keeps its Prometheus instance across a restart. */
  async function startArm(injection: string, adminPort = 0): Promise<Arm> {
    const filter = await sampleFilter();
    const envoy = await EnvoyProcess.start({
      upstream: { host: "127.0.0.1", port: echo.port },
      listeners: [
        {
          name: "main",
          httpFilters: [
            wasmHttpFilter({
              name: injection,
              rootId: filter.rootId,
              wasmPath: filter.releaseWasm,
              configuration: { injection_id: injection, blocked_prefixes: ["/admin"] },
            }),
          ],
        },
      ],
      adminPort,
      extraFilters: [filter],
      label: injection,
    });
    return { envoy, url: await envoy.listenerUrl("main"), instance: new URL(envoy.admin.baseUrl).host };
  }

  before(async () => {
    echo = await EchoUpstream.start();
    for (const injection of ["baseline-1", "canary-1"]) arms.push(await startArm(injection));
    prometheus = await TestPrometheus.start(arms.map((arm) => arm.instance));
  });
  after(async () => {
    await prometheus?.stop();
    for (const arm of arms) await arm.envoy.stop();
    await echo?.stop();
  });

  it("reads the same counts, latency buckets and filter counters as the admin API, raw (no extrapolation)", async () => {
    const client = new PrometheusClient(prometheus.url);
    await traffic(arms[0]!, 60, 10, 7);
    await traffic(arms[1]!, 45, 3, 5);
    for (const arm of arms) {
      const { admin, viaPrometheus } = await settled(client, arm);
      assert.deepEqual(judged(viaPrometheus), judged(admin), arm.instance);
      assert.ok(
        Object.values(viaPrometheus.filterCounters).some((count) => count > 0),
        "the filter's counters are there",
      );
      assert.ok(Number.isInteger(viaPrometheus.rq5xx) && viaPrometheus.rq5xx > 0);
    }
  });

  it("names the listeners that exist when the plan's listener has no stats", async () => {
    const client = new PrometheusClient(prometheus.url);
    await assert.rejects(
      scrapeFromPrometheus(client, arms[0]!.instance, "ingress"),
      /listener "ingress" has no HTTP stats .*listeners with stats: main/,
    );
    await assert.rejects(
      scrapeFromPrometheus(client, "127.0.0.1:1", "main"),
      /no series for instance 127\.0\.0\.1:1/,
    );
    await assert.rejects(
      scrapeFromPrometheus(new PrometheusClient("http://127.0.0.1:1"), arms[0]!.instance, "main"),
      /Prometheus at http:\/\/127\.0\.0\.1:1 did not answer/,
    );
  });

  it("sees an Envoy restart as a counter reset and keeps the growth, as the admin path does", async () => {
    const client = new PrometheusClient(prometheus.url);
    const arm = arms[1]!;
    const viaAdmin = new EnvoySeries();
    const viaPrometheus = new EnvoySeries();
    const look = async () => {
      const { admin, viaPrometheus: fromPrometheus } = await settled(client, arm);
      viaAdmin.push(admin);
      viaPrometheus.push(fromPrometheus);
    };
    await look();
    await traffic(arm, 20, 4, 1000);
    await look();
    // A restart on the same admin port (the same Prometheus instance): counters start from zero.
    await arm.envoy.stop();
    const restarted = await startArm("canary-1", Number(arm.instance.split(":")[1]));
    arm.envoy = restarted.envoy;
    arm.url = restarted.url;
    await traffic(arm, 12, 4, 1000);
    await look();
    const fromAdmin = viaAdmin.totals();
    const fromPrometheus = viaPrometheus.totals();
    assert.equal(fromPrometheus.resets, 1);
    assert.equal(fromPrometheus.requests, 32);
    assert.deepEqual({ ...fromPrometheus, memoryAllocated: 0 }, { ...fromAdmin, memoryAllocated: 0 });
  });
});
