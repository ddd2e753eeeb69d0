/**
 * `npm run bench -- peers`: every graft filter side by side with its peers, in one run.
 *
 * One Envoy per variant, `--concurrency 1`, pinned to one CPU (taskset); the load generator (wrk
 * for saturation, our fixed-rate client for latency) and this process on the other. Each group
 * runs interleaved rounds (every variant once per round, the order rotating), each run after a
 * warm-up that is discarded. Measures: saturation req/s; Envoy CPU µs per request (all its
 * threads' schedstat over the run); latency percentiles at a fixed rate of 50 % of the no-filter
 * saturation; Envoy RSS at 2 workers with all three filters against none; module sizes; host calls
 * per request on the emulator. Groups:
 *   header-rewrite  none, native header_mutation, Lua, graft, Go SDK, C on the raw ABI — on a
 *                   direct_response route, then once more through a real upstream (an Envoy
 *                   answering directly, on the load generator's CPU)
 *   payload 1 KiB / 64 KiB  none, Lua body read, graft buffer only, graft full validation
 *   rate-limiter    none, native local_ratelimit and graft, with a limit that never triggers and at 5× overload
 * Writes bench/results/<time>.json, .md and .svg, and the latest run into BENCHMARKS.md.
 * Loopback only; bounded (about 12 minutes with the defaults); stops by itself.
 *
 *   node --import tsx tools/bench/peers/index.ts [--rounds N] [--seconds S] [--quick] [--no-write]
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { envoyVersion, resolveEnvoyBinary } from "../../../src/envoy/binary.ts";
import { projectRoot } from "../../../src/util/paths.ts";
import { BENCH_CONFIG, benchBody } from "../../../filters/payload-validator/bench.ts";
import { moduleSizes, namedReleaseBuild, byOrigin } from "../module-size.ts";
import { PeerEnvoy, processCpuNs, processRssBytes, type Route } from "./envoy.ts";
import { countHostCalls, type HostCallCount } from "./hostcalls.ts";
import { fixedRate, saturate, type RequestSpec } from "./load.ts";
import {
  renderMarkdown,
  renderSvg,
  evaluateGoals,
  type PeerResults,
  type GroupResult,
  type VariantSamples,
} from "./report.ts";
import {
  HEADER_REWRITE_CONFIG,
  PV_BUFFER_ONLY_CONFIG,
  REWRITE_REQUEST_HEADERS,
  allFilters,
  bucketAt,
  graftRateLimitConfig,
  NEVER,
  headerRewriteVariants,
  payloadValidatorVariants,
  rateLimiterVariants,
  wasmPaths,
  type Variant,
} from "./variants.ts";

export interface PeersOptions {
  rounds?: number;
  /** Rounds of the pass through an upstream and of the 64 KiB bodies. */
  shortRounds?: number;
  seconds?: number;
  warmupSeconds?: number;
  latencySeconds?: number;
  connections?: number;
  envoyCpu?: number;
  loadCpu?: number;
  /** Write bench/results/ and BENCHMARKS.md (default true). */
  write?: boolean;
  /** Only these groups (ids: rewrite, rewrite-upstream, payload-1k, payload-64k, rate-limiter, memory). */
  groups?: string[];
}

const RESULTS_DIR = path.join(projectRoot, "bench", "results");
const BENCHMARKS_MD = path.join(projectRoot, "BENCHMARKS.md");
const LATEST_SVG = path.join(projectRoot, "tools", "bench", "peers", "latest.svg");

function log(line: string): void {
  process.stderr.write(`[peers ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Builds the C and Go peers when their output is older than their sources; null when it cannot. */
function buildPeers(): Record<string, string | null> {
  const problems: Record<string, string | null> = { c: null, go: null };
  const fixtures = path.join(projectRoot, "tests", "fixtures");
  const stale = (out: string, sources: string[]) =>
    !existsSync(out) || sources.some((file) => statSync(file).mtimeMs > statSync(out).mtimeMs);
  const cDir = path.join(fixtures, "c-header-rewrite");
  if (stale(wasmPaths.c, [path.join(cDir, "filter.c"), path.join(cDir, "build.sh")])) {
    const result = spawnSync("sh", [path.join(cDir, "build.sh"), wasmPaths.c], { encoding: "utf8" });
    if (result.status !== 0)
      problems.c = `C peer not built (needs clang lld wasi-libc libclang-rt-14-dev-wasm32): ${result.stderr.trim()}`;
  }
  const goDir = path.join(fixtures, "go-header-rewrite");
  if (
    stale(
      wasmPaths.go,
      ["main.go", "go.mod", "go.sum"].map((file) => path.join(goDir, file)),
    )
  ) {
    mkdirSync(path.dirname(wasmPaths.go), { recursive: true });
    const result = spawnSync("go", ["build", "-buildmode=c-shared", "-o", wasmPaths.go, "."], {
      cwd: goDir,
      encoding: "utf8",
      env: { ...process.env, GOOS: "wasip1", GOARCH: "wasm", GOFLAGS: "-mod=readonly" },
      timeout: 300_000,
    });
    if (result.status !== 0)
      problems.go = `Go peer not built: ${(result.stderr ?? "").trim() || result.error?.message}`;
  }
  return problems;
}

function machine(): PeerResults["machine"] {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cpus: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
  };
}

function loadAverage(): number[] {
  return os.loadavg().map((value) => Math.round(value * 100) / 100);
}

interface GroupPlan {
  id: string;
  title: string;
  variants: Variant[];
  request: RequestSpec;
  route: Route;
  rounds: number;
  latency: boolean;
  /** Body size in bytes (payload groups). */
  bodyBytes?: number;
  /** What each variant's check request must answer. */
  check: (variant: Variant, status: number, headers: Headers) => string | null;
}

async function runGroup(
  plan: GroupPlan,
  options: Required<Omit<PeersOptions, "groups">>,
): Promise<GroupResult> {
  log(`${plan.title}: starting ${plan.variants.length} Envoys`);
  const envoys = new Map<string, PeerEnvoy>();
  const samples = new Map<string, VariantSamples>();
  try {
    for (const variant of plan.variants) {
      envoys.set(
        variant.id,
        await PeerEnvoy.start({
          label: variant.id,
          filters: variant.filters(),
          route: plan.route,
          cpus: String(options.envoyCpu),
          bufferLimit: 2 << 20,
        }),
      );
      samples.set(variant.id, {
        rps: [],
        cpuUs: [],
        fixedCpuUs: [],
        p50: [],
        p90: [],
        p99: [],
        non2xx: 0,
        errors: 0,
        dropped: 0,
      });
    }
    // Each variant must do the work before it is timed.
    for (const variant of plan.variants) {
      const envoy = envoys.get(variant.id)!;
      const response = await fetch(envoy.url, {
        method: plan.request.method,
        headers: plan.request.headers,
        body: plan.request.body ? new Uint8Array(plan.request.body) : undefined,
      });
      await response.arrayBuffer();
      const problem = plan.check(variant, response.status, response.headers);
      if (problem)
        throw new Error(`${plan.title} / ${variant.label}: ${problem}\n${envoy.logs().slice(-2000)}`);
    }
    // The fixed rate: half of the no-filter variant's saturation.
    const none = envoys.get("none")!;
    await saturate(none.url, plan.request, {
      seconds: options.warmupSeconds,
      connections: options.connections,
      cpu: options.loadCpu,
    });
    const probe = await saturate(none.url, plan.request, {
      seconds: 2,
      connections: options.connections,
      cpu: options.loadCpu,
    });
    const rate = Math.max(100, Math.round(probe.rps * 0.5));
    log(`${plan.title}: no filter ${probe.rps.toFixed(0)} req/s; latency at ${rate} req/s`);
    for (let round = 0; round < plan.rounds; round++) {
      const order = plan.variants.map((_, i) => plan.variants[(i + round) % plan.variants.length]!);
      for (const variant of order) {
        const envoy = envoys.get(variant.id)!;
        const sample = samples.get(variant.id)!;
        await saturate(envoy.url, plan.request, {
          seconds: options.warmupSeconds,
          connections: options.connections,
          cpu: options.loadCpu,
        });
        let before = processCpuNs(envoy.pid);
        const run = await saturate(envoy.url, plan.request, {
          seconds: options.seconds,
          connections: options.connections,
          cpu: options.loadCpu,
        });
        let after = processCpuNs(envoy.pid);
        sample.rps.push(run.rps);
        sample.cpuUs.push(run.requests > 0 ? (after - before) / 1000 / run.requests : NaN);
        sample.non2xx += run.non2xx;
        sample.errors += run.errors;
        if (plan.latency) {
          before = processCpuNs(envoy.pid);
          const fixed = await fixedRate(envoy.url, plan.request, {
            rate,
            seconds: options.latencySeconds,
            connections: options.connections,
          });
          after = processCpuNs(envoy.pid);
          sample.fixedCpuUs.push(fixed.completed > 0 ? (after - before) / 1000 / fixed.completed : NaN);
          sample.p50.push(fixed.p50);
          sample.p90.push(fixed.p90);
          sample.p99.push(fixed.p99);
          sample.dropped += fixed.dropped;
          sample.errors += fixed.errors;
          sample.non2xx += fixed.non2xx;
        }
      }
      log(`${plan.title}: round ${round + 1}/${plan.rounds} done (load ${loadAverage()[0]})`);
    }
    return {
      id: plan.id,
      title: plan.title,
      route: plan.route.kind,
      bodyBytes: plan.bodyBytes ?? 0,
      fixedRate: plan.latency ? rate : null,
      variants: plan.variants.map((variant) => ({
        id: variant.id,
        label: variant.label,
        kind: variant.kind,
        ...samples.get(variant.id)!,
      })),
    };
  } finally {
    await Promise.all([...envoys.values()].map((envoy) => envoy.stop()));
  }
}

/** Envoy RSS at 2 workers: all three filters against none, after load reached both workers. */
async function measureMemory(): Promise<PeerResults["memory"]> {
  const measure = async (label: string, filters: ReturnType<typeof allFilters>) => {
    const envoy = await PeerEnvoy.start({
      label,
      filters,
      route: { kind: "direct" },
      concurrency: 2,
      cpus: null,
    });
    try {
      await saturate(
        envoy.url,
        { method: "GET", headers: REWRITE_REQUEST_HEADERS },
        { seconds: 2, connections: 16, cpu: null },
      );
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const stats = await envoy.stats("wasm");
      const vms = [...stats]
        .filter(([name]) => name.endsWith(".active") && name.includes("runtime"))
        .reduce((a, [, v]) => a + v, 0);
      return { rss: processRssBytes(envoy.pid), vms };
    } finally {
      await envoy.stop();
    }
  };
  const none = await measure("mem-none", []);
  const all = await measure("mem-all", allFilters(BENCH_CONFIG));
  return {
    workers: 2,
    noneRssBytes: none.rss,
    allRssBytes: all.rss,
    addedBytes: all.rss - none.rss,
    activeVms: all.vms,
  };
}

async function hostCalls(): Promise<Record<string, HostCallCount>> {
  const get = { path: "/bench", headers: REWRITE_REQUEST_HEADERS };
  const out: Record<string, HostCallCount> = {};
  out["header-rewrite"] = await countHostCalls(
    { module: wasmPaths.headerRewrite, rootId: "header-rewrite", configuration: HEADER_REWRITE_CONFIG },
    get,
  );
  if (existsSync(wasmPaths.c))
    out["c-header-rewrite"] = await countHostCalls(
      { module: wasmPaths.c, rootId: "", configuration: "" },
      get,
    );
  if (existsSync(wasmPaths.go))
    out["go-header-rewrite"] = await countHostCalls(
      { module: wasmPaths.go, rootId: "", configuration: "" },
      get,
      200,
      50,
    );
  const body = new Uint8Array(benchBody(1024));
  const post = { method: "POST", path: "/bench", headers: { "content-type": "application/json" }, body };
  out["payload-validator (full, 1 KiB)"] = await countHostCalls(
    { module: wasmPaths.payloadValidator, rootId: "payload-validator", configuration: BENCH_CONFIG },
    post,
  );
  out["payload-validator (buffer only, 1 KiB)"] = await countHostCalls(
    { module: wasmPaths.payloadValidator, rootId: "payload-validator", configuration: PV_BUFFER_ONLY_CONFIG },
    post,
  );
  out["rate-limiter"] = await countHostCalls(
    {
      module: wasmPaths.rateLimiter,
      rootId: "rate-limiter",
      configuration: graftRateLimitConfig("never", NEVER),
    },
    get,
  );
  return out;
}

async function sizes(): Promise<PeerResults["modules"]> {
  const modules: PeerResults["modules"] = [];
  for (const [name, file] of [
    ["header-rewrite", wasmPaths.headerRewrite],
    ["payload-validator", wasmPaths.payloadValidator],
    ["rate-limiter", wasmPaths.rateLimiter],
    ["C header rewrite (peer)", wasmPaths.c],
    ["Go header rewrite (peer)", wasmPaths.go],
  ] as const) {
    if (existsSync(file)) modules.push({ name, bytes: statSync(file).size, release: !name.includes("peer") });
  }
  return modules;
}

async function headerRewriteBreakdown(notes: string[]): Promise<PeerResults["headerRewriteBreakdown"]> {
  let bytes: Uint8Array;
  try {
    bytes = await namedReleaseBuild("header-rewrite");
  } catch (error) {
    notes.push(
      `no size breakdown: header-rewrite's sources did not compile (${(error as Error).message.split("\n")[0]})`,
    );
    return null;
  }
  const found = moduleSizes(bytes);
  const code = found.sections.code ?? 0;
  return {
    code,
    data: found.sections.data ?? 0,
    byOrigin: byOrigin(found.functions),
    largest: found.functions.slice(0, 12).map((fn) => ({ name: fn.name, bytes: fn.bytes })),
  };
}

export async function benchPeers(options: PeersOptions = {}): Promise<string> {
  const o = {
    rounds: options.rounds ?? 5,
    shortRounds: options.shortRounds ?? 3,
    seconds: options.seconds ?? 3,
    warmupSeconds: options.warmupSeconds ?? 1,
    latencySeconds: options.latencySeconds ?? 2,
    connections: options.connections ?? 16,
    envoyCpu: options.envoyCpu ?? 1,
    loadCpu: options.loadCpu ?? 0,
    write: options.write ?? true,
  };
  const wanted = (id: string) => !options.groups || options.groups.includes(id);
  const started = Date.now();
  for (const file of [wasmPaths.headerRewrite, wasmPaths.payloadValidator, wasmPaths.rateLimiter])
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  const problems = buildPeers();
  const skipped = (variant: Variant) =>
    (variant.kind === "c" && problems.c !== null) || (variant.kind === "go" && problems.go !== null);
  // This process (the fixed-rate client) and wrk share the load generator's CPU.
  spawnSync("taskset", ["-a", "-p", "-c", String(o.loadCpu), String(process.pid)], { stdio: "ignore" });
  const binary = resolveEnvoyBinary({ install: true });
  const results: PeerResults = {
    date: new Date().toISOString(),
    machine: machine(),
    envoy: (await envoyVersion(binary)).version,
    generator: `wrk -t1 -c${o.connections} (saturation), graft's fixed-rate client, ${o.connections} connections (latency)`,
    settings: { ...o },
    loadAverage: { start: loadAverage(), end: [] },
    notes: Object.values(problems).filter((p): p is string => p !== null),
    modules: await sizes(),
    headerRewriteBreakdown: null,
    hostCalls: await hostCalls(),
    groups: [],
    memory: null,
    goals: [],
    durationSeconds: 0,
  };
  results.headerRewriteBreakdown = await headerRewriteBreakdown(results.notes);
  log(`host calls and sizes done; load average ${results.loadAverage.start.join(" ")}`);

  const work = await mkdtemp(path.join(os.tmpdir(), "graft-peers-"));
  try {
    const rewriteRequest: RequestSpec = { method: "GET", headers: REWRITE_REQUEST_HEADERS };
    const rewriteCheck = (variant: Variant, status: number, headers: Headers) => {
      if (status !== 200) return `HTTP ${status}`;
      if (variant.kind !== "none" && headers.get("x-graft-user") !== "user=alice")
        return `x-graft-user is ${headers.get("x-graft-user")}, not user=alice`;
      return null;
    };
    const rewrite = headerRewriteVariants.filter((variant) => !skipped(variant));
    if (wanted("rewrite"))
      results.groups.push(
        await runGroup(
          {
            id: "rewrite",
            title: "header rewrite, direct_response",
            variants: rewrite,
            request: rewriteRequest,
            route: { kind: "direct" },
            rounds: o.rounds,
            latency: true,
            check: rewriteCheck,
          },
          o,
        ),
      );
    if (wanted("rewrite-upstream")) {
      // The upstream: an Envoy answering directly, on the load generator's CPU.
      const upstream = await PeerEnvoy.start({
        label: "upstream",
        filters: [],
        route: { kind: "direct" },
        cpus: String(o.loadCpu),
      });
      try {
        results.groups.push(
          await runGroup(
            {
              id: "rewrite-upstream",
              title: "header rewrite, through an upstream",
              variants: rewrite,
              request: rewriteRequest,
              route: { kind: "upstream", port: upstream.port },
              rounds: o.shortRounds,
              latency: true,
              check: rewriteCheck,
            },
            o,
          ),
        );
      } finally {
        await upstream.stop();
      }
    }
    for (const [id, bytes, rounds, latency] of [
      ["payload-1k", 1024, o.rounds, true],
      ["payload-64k", 64 * 1024, o.shortRounds, false],
    ] as const) {
      if (!wanted(id)) continue;
      const body = benchBody(bytes);
      const file = path.join(work, `body-${bytes}.json`);
      await writeFile(file, body);
      results.groups.push(
        await runGroup(
          {
            id,
            title: `payload-validator, ${bytes / 1024} KiB JSON body`,
            variants: payloadValidatorVariants(BENCH_CONFIG),
            request: {
              method: "POST",
              headers: { "content-type": "application/json" },
              body,
              bodyFile: file,
            },
            route: { kind: "direct" },
            rounds,
            latency,
            bodyBytes: bytes,
            check: (_variant, status) => (status === 200 ? null : `HTTP ${status}`),
          },
          o,
        ),
      );
    }
    if (wanted("rate-limiter")) {
      // 5× overload: a bucket admitting a fifth of what no filter serves at saturation.
      const probe = await PeerEnvoy.start({
        label: "probe",
        filters: [],
        route: { kind: "direct" },
        cpus: String(o.envoyCpu),
      });
      let saturation: number;
      try {
        await saturate(probe.url, rewriteRequest, { seconds: 1, connections: o.connections, cpu: o.loadCpu });
        saturation = (
          await saturate(probe.url, rewriteRequest, {
            seconds: 2,
            connections: o.connections,
            cpu: o.loadCpu,
          })
        ).rps;
      } finally {
        await probe.stop();
      }
      const overload = bucketAt(saturation / 5);
      results.notes.push(
        `rate-limiter 5× overload: a bucket of ${overload.tokensPerFill} tokens per ${overload.fillIntervalMs} ms (${(saturation / 5).toFixed(0)}/s; no filter served ${saturation.toFixed(0)} req/s)`,
      );
      results.groups.push(
        await runGroup(
          {
            id: "rate-limiter",
            title: "rate-limiter, direct_response",
            variants: rateLimiterVariants(overload),
            request: rewriteRequest,
            route: { kind: "direct" },
            rounds: o.rounds,
            latency: true,
            check: (variant, status) =>
              status === 200 || (variant.id.endsWith("5x") && status === 429) ? null : `HTTP ${status}`,
          },
          o,
        ),
      );
    }
    if (wanted("memory")) {
      log("memory at 2 workers");
      results.memory = await measureMemory();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  results.loadAverage.end = loadAverage();
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  results.goals = evaluateGoals(results);
  const markdown = renderMarkdown(results);
  if (o.write) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const stem = path.join(RESULTS_DIR, results.date.replace(/:/g, "-").replace(/\..*$/, ""));
    writeFileSync(`${stem}.json`, JSON.stringify(results, null, 2) + "\n");
    writeFileSync(`${stem}.md`, markdown + "\n");
    writeFileSync(`${stem}.svg`, renderSvg(results));
    copyFileSync(`${stem}.svg`, LATEST_SVG);
    updateBenchmarksMd(markdown, path.relative(projectRoot, `${stem}.json`));
    log(`wrote ${path.relative(projectRoot, stem)}.{json,md,svg} and BENCHMARKS.md`);
  }
  return markdown;
}

const START = "<!-- peers:latest:start -->";
const END = "<!-- peers:latest:end -->";

/** Replaces the latest-run section of BENCHMARKS.md (between its markers). */
export function updateBenchmarksMd(markdown: string, source: string): void {
  if (!existsSync(BENCHMARKS_MD)) return;
  const text = readFileSync(BENCHMARKS_MD, "utf8");
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) return;
  const chart = path.relative(projectRoot, LATEST_SVG);
  const section = `${START}\n\n_Written by \`npm run bench -- peers\` from \`${source}\`._\n\n![throughput and CPU per request of every variant](${chart})\n\n${markdown}\n\n${END}`;
  writeFileSync(BENCHMARKS_MD, text.slice(0, start) + section + text.slice(end + END.length));
}

function argument(args: string[], name: string): number | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const groupsAt = args.indexOf("--groups");
  console.log(
    await benchPeers({
      rounds: argument(args, "--rounds") ?? (quick ? 1 : undefined),
      shortRounds: quick ? 1 : undefined,
      seconds: argument(args, "--seconds") ?? (quick ? 1 : undefined),
      latencySeconds: quick ? 1 : undefined,
      write: !args.includes("--no-write"),
      groups: groupsAt >= 0 ? args[groupsAt + 1]!.split(",") : undefined,
    }),
  );
}
