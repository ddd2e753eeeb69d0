/**
 * `npm run bench -- peers`: every graft filter side by side with its peers, in one run.
 *
 * Each filter declares its groups in its own folder (filters/<name>/peers.ts or peers/index.ts,
 * found through the filter catalog: groups.ts): the variants, the request each sends, the route,
 * the peers to build first and the goals it is held to. This file knows no filter by name.
 *
 * One Envoy per variant, `--concurrency 1`, pinned to one CPU (taskset); the load generator (wrk
 * for saturation, our fixed-rate client for latency) and this process on the other. Each group
 * runs interleaved rounds (every variant once per round, the order rotating), each run after a
 * warm-up that is discarded. Measures: saturation req/s; Envoy CPU µs per request (all its
 * threads' schedstat over the run); latency percentiles at a fixed rate of 50 % of the no-filter
 * saturation; Envoy RSS at 2 workers with every filter's chain entry against none; module sizes;
 * host calls per request on the emulator. A group on an upstream route goes through a real
 * upstream: an Envoy answering directly, on the load generator's CPU.
 * Writes bench/results/<time>.json, .md and .svg, and the latest run into BENCHMARKS.md.
 * Loopback only; bounded (about 12 minutes with the defaults); stops by itself.
 *
 *   node --import tsx tools/bench/peers/index.ts [--rounds N] [--seconds S] [--quick] [--no-write]
 *     [--groups id,...]
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { envoyVersion, resolveEnvoyBinary } from "../../../src/envoy/binary.ts";
import type { HttpFilter } from "../../../src/envoy/bootstrap.ts";
import { listFilters, type FilterInfo } from "../../../src/filters/catalog.ts";
import { projectRoot } from "../../../src/util/paths.ts";
import { moduleSizes, namedReleaseBuild, byOrigin } from "../module-size.ts";
import { PeerEnvoy, processCpuNs, processRssBytes, type Route } from "./envoy.ts";
import { discoverPeers, variantsOf, type FilterWithPeers, type PeerGroup } from "./groups.ts";
import { countAllHostCalls } from "./hostcalls.ts";
import { fixedRate, saturate, type RequestSpec } from "./load.ts";
import {
  renderMarkdown,
  renderSvg,
  evaluateGoals,
  type PeerResults,
  type GroupResult,
  type VariantSamples,
} from "./report.ts";
import type { PeerBuild, Variant } from "./variants.ts";

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
  /** Only these groups: ids the filters' peers modules declare, and "memory". */
  groups?: string[];
}

const RESULTS_DIR = path.join(projectRoot, "bench", "results");
const BENCHMARKS_MD = path.join(projectRoot, "BENCHMARKS.md");
const LATEST_SVG = path.join(projectRoot, "bench", "latest.svg");

function log(line: string): void {
  process.stderr.write(`[peers ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/**
 * Builds every peer whose output is older than its sources; the builds that failed, and why (one
 * note each).
 */
function buildPeers(filters: FilterWithPeers[]): { failed: Set<PeerBuild>; notes: string[] } {
  const failed = new Set<PeerBuild>();
  const notes: string[] = [];
  const stale = (out: string, sources: string[]) =>
    !existsSync(out) || sources.some((file) => statSync(file).mtimeMs > statSync(out).mtimeMs);
  for (const { peers } of filters)
    for (const build of peers.builds ?? []) {
      if (!stale(build.output, build.sources)) continue;
      const problem = build.build();
      if (problem === null) continue;
      failed.add(build);
      notes.push(problem);
    }
  return { failed, notes };
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

/**
 * Envoy RSS at 2 workers: every filter's chain entry in one chain against none, after load reached
 * both workers (sent the headers the entries' work reads).
 */
async function measureMemory(filters: FilterWithPeers[]): Promise<PeerResults["memory"]> {
  const chained = filters.flatMap(({ filter, peers }) =>
    peers.chain ? [{ name: filter.name, ...peers.chain }] : [],
  );
  const headers: Record<string, string> = {};
  for (const entry of chained) Object.assign(headers, entry.headers);
  const measure = async (label: string, chain: HttpFilter[]) => {
    const envoy = await PeerEnvoy.start({
      label,
      filters: chain,
      route: { kind: "direct" },
      concurrency: 2,
      cpus: null,
    });
    try {
      await saturate(envoy.url, { method: "GET", headers }, { seconds: 2, connections: 16, cpu: null });
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
  const all = await measure(
    "mem-all",
    chained.flatMap((entry) => entry.filters()),
  );
  return {
    workers: 2,
    filters: chained.map((entry) => entry.name),
    noneRssBytes: none.rss,
    allRssBytes: all.rss,
    addedBytes: all.rss - none.rss,
    activeVms: all.vms,
  };
}

/** Every filter's release module, then the peers' modules (those built). */
function sizes(catalog: FilterInfo[], filters: FilterWithPeers[]): PeerResults["modules"] {
  const modules: PeerResults["modules"] = [];
  for (const filter of catalog)
    if (existsSync(filter.releaseWasm))
      modules.push({ name: filter.name, bytes: statSync(filter.releaseWasm).size, release: true });
  for (const { peers } of filters)
    for (const { name, file } of peers.modules ?? [])
      if (existsSync(file)) modules.push({ name, bytes: statSync(file).size, release: false });
  return modules;
}

async function sizeBreakdowns(
  filters: FilterWithPeers[],
  notes: string[],
): Promise<PeerResults["sizeBreakdowns"]> {
  const breakdowns: PeerResults["sizeBreakdowns"] = [];
  for (const { filter, peers } of filters) {
    if (!peers.sizeBreakdown) continue;
    let bytes: Uint8Array;
    try {
      bytes = await namedReleaseBuild(filter.name);
    } catch (error) {
      notes.push(
        `no size breakdown: ${filter.name}'s sources did not compile (${(error as Error).message.split("\n")[0]})`,
      );
      continue;
    }
    const found = moduleSizes(bytes);
    breakdowns.push({
      module: filter.name,
      code: found.sections.code ?? 0,
      data: found.sections.data ?? 0,
      byOrigin: byOrigin(found.functions),
      largest: found.functions.slice(0, 12).map((fn) => ({ name: fn.name, bytes: fn.bytes })),
    });
  }
  return breakdowns;
}

type RunOptions = Required<Omit<PeersOptions, "groups">>;

/**
 * One filter's group: its upstream when it has one, the body in a file for wrk, the variants (those
 * whose peer was built), then the rounds.
 */
async function runPeerGroup(
  group: PeerGroup,
  o: RunOptions,
  context: { work: string; failed: Set<PeerBuild>; notes: string[] },
): Promise<GroupResult> {
  const upstream =
    group.route === "upstream"
      ? await PeerEnvoy.start({
          label: "upstream",
          filters: [],
          route: { kind: "direct" },
          cpus: String(o.loadCpu),
        })
      : null;
  try {
    const route: Route = upstream ? { kind: "upstream", port: upstream.port } : { kind: "direct" };
    const request: RequestSpec = { ...group.request };
    if (request.body) {
      request.bodyFile = path.join(context.work, `body-${group.id}.json`);
      await writeFile(request.bodyFile, request.body);
    }
    const variants = await variantsOf(group, {
      noFilterSaturation: async () => {
        const probe = await PeerEnvoy.start({ label: "probe", filters: [], route, cpus: String(o.envoyCpu) });
        try {
          await saturate(probe.url, request, { seconds: 1, connections: o.connections, cpu: o.loadCpu });
          return (
            await saturate(probe.url, request, { seconds: 2, connections: o.connections, cpu: o.loadCpu })
          ).rps;
        } finally {
          await probe.stop();
        }
      },
      note: (text) => context.notes.push(text),
    });
    return await runGroup(
      {
        id: group.id,
        title: group.title,
        variants: variants.filter((variant) => !variant.build || !context.failed.has(variant.build)),
        request,
        route,
        rounds: group.rounds === "full" ? o.rounds : o.shortRounds,
        latency: group.latency,
        bodyBytes: group.bodyBytes,
        check: group.check ?? ((_variant, status) => (status === 200 ? null : `HTTP ${status}`)),
      },
      o,
    );
  } finally {
    await upstream?.stop();
  }
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
  const catalog = listFilters();
  const filters = await discoverPeers(catalog);
  for (const { filter } of filters)
    if (!existsSync(filter.releaseWasm))
      throw new Error(`${filter.releaseWasm} is missing: run \`npm run build\` first`);
  const built = buildPeers(filters);
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
    notes: built.notes,
    modules: sizes(catalog, filters),
    sizeBreakdowns: [],
    hostCalls: await countAllHostCalls(filters),
    groups: [],
    memory: null,
    goals: [],
    durationSeconds: 0,
  };
  results.sizeBreakdowns = await sizeBreakdowns(filters, results.notes);
  log(`host calls and sizes done; load average ${results.loadAverage.start.join(" ")}`);

  const work = await mkdtemp(path.join(os.tmpdir(), "graft-peers-"));
  try {
    for (const { peers } of filters)
      for (const group of peers.groups)
        if (wanted(group.id))
          results.groups.push(
            await runPeerGroup(group, o, { work, failed: built.failed, notes: results.notes }),
          );
    if (wanted("memory")) {
      log("memory at 2 workers");
      results.memory = await measureMemory(filters);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  results.loadAverage.end = loadAverage();
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  results.goals = evaluateGoals(
    results,
    filters.flatMap(({ peers }) => (peers.goals ? [peers.goals] : [])),
  );
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
