/**
 * The rate-limiter's benchmark and its load tools.
 *
 * `bench()` measures closed-loop throughput of one Envoy worker answering with a
 * `direct_response` (so the filter's cost is all that differs) through four listeners, in
 * interleaved rounds: no filter, Envoy's native local_ratelimit, graft's rate-limiter with a
 * global bucket, and graft's rate-limiter keyed by client address, all with limits that never
 * trigger. Envoy is pinned to CPU 1 and `wrk` to CPU 0 when both exist; without wrk a Node
 * generator stands in (and is likely the bottleneck: the report says so). Bounded: a few seconds
 * per run, loopback only.
 *
 *   node --import tsx filters/rate-limiter/bench.ts [seconds-per-run] [rounds]
 *
 * `pacedLoad()` is the open-loop generator the accuracy test drives Envoy with.
 */
import { assertLoopback } from "../../tools/load/loopback.ts";
import { closedLoop, median, wrkPath } from "../../tools/bench/closed-loop.ts";
import { cpuSeconds } from "../../tools/bench/process-cpu.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import yaml from "js-yaml";
import { AdminClient } from "../../src/envoy/admin.ts";
import { envoyVersion, resolveEnvoyBinary } from "../../src/envoy/binary.ts";
import { renderBootstrap, type HttpFilter } from "../../src/envoy/bootstrap.ts";
import { envoyArgs } from "../../src/envoy/launcher.ts";
import { wasmHttpFilter } from "../../src/envoy/wasm-filter.ts";
import { buildDir } from "../../src/util/paths.ts";

// ---- Filters under comparison ----

/** graft's rate-limiter as an HTTP filter (build/rate-limiter.wasm). */
export function graftRateLimiterFilter(name: string, configuration: unknown): HttpFilter {
  const wasmPath = path.join(buildDir, "rate-limiter.wasm");
  if (!existsSync(wasmPath)) throw new Error(`${wasmPath} is missing: run \`npm run build\` first`);
  return wasmHttpFilter({ name, rootId: "rate-limiter", wasmPath, configuration });
}

/** Envoy's native local_ratelimit: one token bucket shared by all workers, enabled and enforced for 100%. */
export function nativeLocalRateLimitFilter(
  statPrefix: string,
  bucket: { maxTokens: number; tokensPerFill: number; fillIntervalMs: number },
): HttpFilter {
  const percent = {
    default_value: { numerator: 100, denominator: "HUNDRED" },
    runtime_key: `${statPrefix}_percent`,
  };
  return {
    name: "envoy.filters.http.local_ratelimit",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
      stat_prefix: statPrefix,
      token_bucket: {
        max_tokens: bucket.maxTokens,
        tokens_per_fill: bucket.tokensPerFill,
        fill_interval: `${bucket.fillIntervalMs / 1000}s`,
      },
      filter_enabled: percent,
      filter_enforced: percent,
    },
  };
}

// ---- Open-loop paced load (the accuracy test) ----

export interface PacedLoadOptions {
  url: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  /** Keep-alive connections, used round-robin; many spread the load over Envoy's workers. */
  connections: number;
  path?: string;
}

export interface PacedLoadResult {
  sent: number;
  byStatus: Map<number, number>;
  errors: number;
  /** Time from the first to the last request sent. */
  spanMs: number;
}

/**
 * Sends `rate × duration + 1` requests on a fixed schedule (request i at i / rate seconds), whatever
 * the answers: an open loop, so the offered rate does not sag when the target slows. Stops by itself.
 */
export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  assertLoopback(options.url);
  const target = new URL(options.path ?? "/", options.url);
  const agents = Array.from(
    { length: options.connections },
    () => new http.Agent({ keepAlive: true, maxSockets: 1 }),
  );
  const total = Math.floor((options.rate * options.durationMs) / 1000) + 1;
  const result: PacedLoadResult = { sent: 0, byStatus: new Map(), errors: 0, spanMs: 0 };
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let last = start;
  try {
    while (result.sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) * options.rate) / 1000) + 1);
      while (result.sent < due) {
        const agent = agents[result.sent % agents.length];
        result.sent++;
        last = performance.now();
        pending.push(
          new Promise<void>((resolve) => {
            const request = http.get(target, { agent }, (response) => {
              response.resume();
              response.on("end", () => {
                const status = response.statusCode ?? 0;
                result.byStatus.set(status, (result.byStatus.get(status) ?? 0) + 1);
                resolve();
              });
            });
            request.setTimeout(10_000, () => request.destroy(new Error("timeout")));
            request.on("error", () => {
              result.errors++;
              resolve();
            });
          }),
        );
      }
      if (result.sent < total) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    result.spanMs = last - start;
    await Promise.all(pending);
  } finally {
    for (const agent of agents) agent.destroy();
  }
  return result;
}

// ---- Envoys for the throughput benchmark ----

export interface BenchEnvoy {
  urls: Map<string, string>;
  admin: AdminClient;
  pid: number | undefined;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * A bootstrap whose listeners answer 200 "ok" from Envoy itself (`upstreamPort` null: no upstream,
 * so only the filters differ), or proxy to 127.0.0.1:`upstreamPort`.
 */
function benchBootstrap(
  listeners: { name: string; httpFilters: HttpFilter[] }[],
  upstreamPort: number | null,
): Record<string, unknown> {
  const bootstrap = renderBootstrap({ listeners, upstream: { host: "127.0.0.1", port: upstreamPort ?? 9 } });
  type Hcm = {
    typed_config: Record<string, unknown> & {
      route_config: { virtual_hosts: { routes: Record<string, unknown>[] }[] };
    };
  };
  const rendered = (bootstrap.static_resources as { listeners: { filter_chains: { filters: Hcm[] }[] }[] })
    .listeners;
  for (const listener of rendered) {
    const hcm = listener.filter_chains[0]?.filters[0]?.typed_config;
    const virtualHost = hcm?.route_config.virtual_hosts[0];
    if (!hcm || !virtualHost) throw new Error("unexpected bootstrap shape: no HTTP connection manager");
    hcm.generate_request_id = false; // Envoy's benchmarking advice; the same for every variant
    if (upstreamPort === null) {
      virtualHost.routes = [
        { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } },
      ];
    }
  }
  return bootstrap;
}

/** One Envoy worker (pinned to `pinCpu` when given), started from benchBootstrap. */
export async function startBenchEnvoy(
  listeners: { name: string; httpFilters: HttpFilter[] }[],
  pinCpu: number | null,
  upstreamPort: number | null = null,
): Promise<BenchEnvoy> {
  const binary = resolveEnvoyBinary({ install: true });
  const workDir = await mkdtemp(path.join(tmpdir(), "graft-bench-"));
  const configPath = path.join(workDir, "bootstrap.yaml");
  await writeFile(
    configPath,
    yaml.dump(benchBootstrap(listeners, upstreamPort), { noRefs: true, lineWidth: -1 }),
  );
  const adminAddressPath = path.join(workDir, "admin-address");
  const args = envoyArgs(configPath, adminAddressPath, {
    listeners,
    upstream: { host: "127.0.0.1", port: 9 },
    concurrency: 1,
    componentLogLevel: "wasm:warn",
  });
  // taskset execs Envoy, so the child's pid is Envoy's.
  const child: ChildProcess =
    pinCpu === null
      ? spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] })
      : spawn("taskset", ["-c", String(pinCpu), binary, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(workDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`bench Envoy exited with ${child.exitCode}:\n${log}`);
      const address = (await readFile(adminAddressPath, "utf8").catch(() => "")).trim();
      if (address) {
        const admin = new AdminClient(`http://${address}`);
        if (await admin.isReady()) {
          const addresses = await admin.listenerAddresses();
          const urls = new Map([...addresses].map(([name, a]) => [name, `http://${a.host}:${a.port}`]));
          return { urls, admin, pid: child.pid, logs: () => log, stop };
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`bench Envoy was not ready in 20 s:\n${log}`);
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A limit no benchmark reaches: a million tokens, refilled a million per millisecond. */
const NEVER = { tokens_per_fill: 1_000_000, fill_interval_ms: 1, max_tokens: 1_000_000 };

interface Variant {
  name: string;
  label: string;
  filters: () => HttpFilter[];
}

const VARIANTS: Variant[] = [
  { name: "none", label: "no filter", filters: () => [] },
  {
    name: "native",
    label: "native local_ratelimit",
    filters: () => [
      nativeLocalRateLimitFilter("bench_rl", {
        maxTokens: 1_000_000_000,
        tokensPerFill: 1_000_000_000,
        fillIntervalMs: 1000,
      }),
    ],
  },
  {
    name: "floor",
    label: "graft rate-limiter, no rules (Wasm floor)",
    filters: () => [graftRateLimiterFilter("bench-floor", { injection_id: "bench-floor", rules: [] })],
  },
  {
    name: "graft",
    label: "graft rate-limiter, global key",
    filters: () => [
      graftRateLimiterFilter("bench-graft", {
        injection_id: "bench",
        rules: [{ name: "never", key: { source: "global" }, ...NEVER }],
      }),
    ],
  },
  {
    name: "graft-keyed",
    label: "graft rate-limiter, client_address key",
    filters: () => [
      graftRateLimiterFilter("bench-keyed", {
        injection_id: "bench-keyed",
        rules: [{ name: "never", key: { source: "client_address" }, ...NEVER }],
      }),
    ],
  },
];

interface Samples {
  rps: number[];
  cpuUsPerRequest: number[];
}

export interface RateLimiterBenchOptions {
  secondsPerRun?: number;
  rounds?: number;
  connections?: number;
  /** "direct": Envoy answers itself; "proxied": through a second Envoy as the upstream. Both by default. */
  modes?: ("direct" | "proxied")[];
}

async function benchMode(
  mode: "direct" | "proxied",
  seconds: number,
  rounds: number,
  connections: number,
  pin: boolean,
): Promise<{ samples: Map<string, Samples>; non2xx: number; limited: number }> {
  // Proxied: the upstream Envoy shares CPU 0 with the load generator; the Envoy under test keeps CPU 1.
  const upstream =
    mode === "proxied"
      ? await startBenchEnvoy([{ name: "upstream", httpFilters: [] }], pin ? 0 : null)
      : null;
  let envoy: BenchEnvoy | undefined;
  try {
    const upstreamPort = upstream ? Number(new URL(upstream.urls.get("upstream")!).port) : null;
    envoy = await startBenchEnvoy(
      VARIANTS.map((variant) => ({ name: variant.name, httpFilters: variant.filters() })),
      pin ? 1 : null,
      upstreamPort,
    );
    const samples = new Map<string, Samples>(
      VARIANTS.map((variant) => [variant.name, { rps: [], cpuUsPerRequest: [] }]),
    );
    let non2xx = 0;
    const run = (url: string, s: number) =>
      closedLoop(`${url}/`, { seconds: s, connections, pinCpu: pin ? 0 : null });
    for (const variant of VARIANTS) await run(envoy.urls.get(variant.name)!, 1); // warm-up: V8 tiers up, connections open
    for (let round = 0; round < rounds; round++) {
      for (const variant of VARIANTS) {
        const before = cpuSeconds(envoy.pid);
        const result = await run(envoy.urls.get(variant.name)!, seconds);
        const after = cpuSeconds(envoy.pid);
        const sample = samples.get(variant.name)!;
        sample.rps.push(result.rps);
        if (before !== null && after !== null && result.requests > 0)
          sample.cpuUsPerRequest.push(((after - before) * 1e6) / result.requests);
        non2xx += result.non2xx;
      }
    }
    const stats = (await envoy.admin.stats("graft")).values;
    const limited = [...stats]
      .filter(([name]) => /limited_total|cas_exhausted_total|overflow_total/.test(name))
      .reduce((sum, [, value]) => sum + value, 0);
    return { samples, non2xx, limited };
  } finally {
    await envoy?.stop();
    await upstream?.stop();
  }
}

/** Runs the benchmark and returns a Markdown report. */
export async function bench(options: RateLimiterBenchOptions = {}): Promise<string> {
  const seconds = options.secondsPerRun ?? 3;
  const rounds = options.rounds ?? 3;
  const connections = options.connections ?? 16;
  const modes = options.modes ?? ["direct", "proxied"];
  const pin = availableParallelism() >= 2 && existsSync("/usr/bin/taskset");
  const useWrk = wrkPath() !== undefined;
  const version = await envoyVersion(resolveEnvoyBinary({ install: true })).catch(() => ({
    version: "unknown",
  }));
  const wasmBytes = statSync(path.join(buildDir, "rate-limiter.wasm")).size;
  const lines = [
    `rate-limiter throughput, Envoy ${version.version}: the Envoy under test has 1 worker${pin ? " on CPU 1" : ""}; ` +
      `${useWrk ? `wrk -t1 -c${connections}${pin ? " on CPU 0" : ""}` : `Node generator, ${connections} connections (likely the bottleneck: install wrk)`}; ` +
      `${rounds} interleaved rounds of ${seconds} s per variant; limits never trigger; module ${(wasmBytes / 1024).toFixed(1)} KiB.`,
    "CPU µs/request is the Envoy process's user+system time per request (the minimum over rounds: other load on the machine only adds to it);",
    "its ratio to native's estimates the throughput ratio when Envoy is the bottleneck.",
  ];
  for (const mode of modes) {
    const { samples, non2xx, limited } = await benchMode(mode, seconds, rounds, connections, pin);
    const nativeRps = median(samples.get("native")!.rps);
    const nativeCpu = Math.min(...samples.get("native")!.cpuUsPerRequest);
    lines.push(
      "",
      mode === "direct"
        ? "### direct_response (Envoy answers itself: the filter's cost is all that differs)"
        : "### proxied (through a second Envoy on CPU 0 as the upstream)",
      "",
      "| variant | median req/s | req/s runs | vs native | min CPU µs/req | CPU-based vs native |",
      "|---|---:|---|---:|---:|---:|",
      ...VARIANTS.map((variant) => {
        const sample = samples.get(variant.name)!;
        const rps = median(sample.rps);
        const cpu = sample.cpuUsPerRequest.length > 0 ? Math.min(...sample.cpuUsPerRequest) : NaN;
        return `| ${variant.label} | ${rps.toFixed(0)} | ${sample.rps.map((v) => v.toFixed(0)).join(", ")} | ${((rps / nativeRps) * 100).toFixed(1)}% | ${cpu.toFixed(1)} | ${((nativeCpu / cpu) * 100).toFixed(1)}% |`;
      }),
      "",
      `non-2xx responses: ${non2xx}; graft limited, CAS-exhausted or overflow decisions: ${limited}`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [seconds, rounds] = process.argv.slice(2).map(Number);
  console.log(await bench({ secondsPerRun: seconds || undefined, rounds: rounds || undefined }));
}
