// Soak (issue 18): many requests through one real Envoy carrying every filter of the catalog, over
// HTTP/1.1 keep-alive connections and HTTP/2 (h2c, prior knowledge) sessions, on loopback, bounded
// in count, concurrency and time. Passes when Envoy's RSS grows less than the allowance after
// warm-up, no VM failed (wasm vm_reload_failure and similar stats, "Uncaught" in the log, 5xx or
// errors), and each filter's volume counters (its contract's role: volume metrics) agree with the
// requests sent.
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import path from "node:path";
import { EnvoyProcess } from "../../src/envoy/launcher.ts";
import { wasmHttpFilter } from "../../src/envoy/wasm-filter.ts";
import { listFilters, type FilterInfo } from "../../src/filters/catalog.ts";
import { Emulator } from "../../src/host/index.ts";
import { EchoUpstream } from "../../src/upstream/echo.ts";
import { assertLoopback } from "../load/loopback.ts";

export interface SoakOptions {
  requests: number;
  /** Envoy --concurrency. Default 2. */
  concurrency?: number;
  /** HTTP/1.1 keep-alive connections. Default 8. */
  http1Connections?: number;
  /** HTTP/2 sessions, each with `http2Streams` concurrent streams. Default 2 × 8. */
  http2Sessions?: number;
  http2Streams?: number;
  /** Requests before the RSS baseline. Default 10% (at least 2,000). */
  warmup?: number;
  /** Give up after this long (the result says so). Default 15 minutes. */
  maxSeconds?: number;
  /** RSS growth allowed after warm-up. Default 5 MiB. */
  rssAllowanceBytes?: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  requests: number;
  http1: number;
  http2: number;
  seconds: number;
  rps: number;
  statuses: Record<string, number>;
  errors: number;
  rssStartBytes: number;
  rssAfterWarmupBytes: number;
  rssEndBytes: number;
  rssGrowthBytes: number;
  /** Stats that tell of VM failures, with non-zero values. */
  vmFailures: Record<string, number>;
  uncaughtInLog: number;
  /** Per filter: the configuration example used, and its volume counters against the requests sent. */
  filters: { name: string; example: string; volume: Record<string, number>; expected: number }[];
  timedOut: boolean;
  failures: string[];
}

type Kind = { method: string; path: string; headers: Record<string, string>; body?: string };

/** The requests the soak sends, in turn: GETs over many paths, JSON POSTs, a PUT with a header. */
function kindOf(i: number): Kind {
  const r = i % 10;
  if (r < 6) return { method: "GET", path: `/soak/${i % 64}?q=${i % 7}`, headers: { "x-user": `u${i % 5}` } };
  if (r < 9)
    return {
      method: "POST",
      path: `/api/items/${i % 16}`,
      headers: { "content-type": "application/json", "x-user": "alice" },
      body: JSON.stringify({ id: 1 + (i % 1000), note: "soak", tags: ["a", "b"] }),
    };
  return {
    method: "PUT",
    path: "/api/items/1",
    headers: { "content-type": "application/json", "user-agent": "soak/1" },
    body: `{"id":${1 + (i % 50)}}`,
  };
}

function examples(info: FilterInfo): { name: string; configuration: unknown; bytes: number }[] {
  const dir = path.join(info.dir, "configs", "good");
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .map((file) => {
      const text = readFileSync(path.join(dir, file), "utf8");
      return { name: file, configuration: JSON.parse(text) as unknown, bytes: text.length };
    })
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
}

/**
 * Each filter's largest configs/good example that lets every kind of soak request through (asked of
 * the emulator, so no filter is named here): the soak checks memory under real work, not refusals.
 */
export async function soakConfigurations(
  filters: FilterInfo[],
): Promise<{ info: FilterInfo; example: string; configuration: unknown }[]> {
  const chosen: { info: FilterInfo; example: string; configuration: unknown }[] = [];
  for (const info of filters) {
    let picked: { name: string; configuration: unknown } | undefined;
    for (const example of examples(info)) {
      let emulator: Emulator;
      try {
        emulator = await Emulator.load({
          module: info.releaseWasm,
          rootId: info.rootId,
          name: info.name,
          configuration: example.configuration,
          logLevel: "critical",
        });
      } catch {
        continue;
      }
      let passes = true;
      for (let i = 0; i < 200 && passes; i++) {
        const kind = kindOf(i);
        const result = emulator.request({ ...kind, body: kind.body });
        passes = result.status === 200;
      }
      if (passes) {
        picked = example;
        break;
      }
    }
    if (!picked) throw new Error(`${info.name}: no configs/good example lets the soak's requests through`);
    chosen.push({ info, example: picked.name, configuration: picked.configuration });
  }
  return chosen;
}

function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

const FAILURE_STAT = /vm_reload_failure|vm_failed|wasm_fail|runtime.*(fail|trap)|\.failed$/;

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const total = options.requests;
  const warmup = options.warmup ?? Math.max(2_000, Math.floor(total / 10));
  const deadline = Date.now() + (options.maxSeconds ?? 900) * 1000;
  const chosen = await soakConfigurations(listFilters());
  log(`configurations: ${chosen.map((c) => `${c.info.name}=${c.example}`).join(", ")}`);
  const echo = await EchoUpstream.start({ keepHistory: false });
  const envoy = await EnvoyProcess.start({
    upstream: { host: "127.0.0.1", port: echo.port },
    listeners: [
      {
        name: "main",
        httpFilters: chosen.map((c) =>
          wasmHttpFilter({
            name: c.info.name,
            rootId: c.info.rootId,
            wasmPath: c.info.releaseWasm,
            configuration: c.configuration,
            failurePolicy: "FAIL_CLOSED",
          }),
        ),
      },
    ],
    concurrency: options.concurrency ?? 2,
    componentLogLevel: "wasm:warn",
    label: "envoy:soak",
  });
  const result: SoakResult = {
    requests: 0,
    http1: 0,
    http2: 0,
    seconds: 0,
    rps: 0,
    statuses: {},
    errors: 0,
    rssStartBytes: 0,
    rssAfterWarmupBytes: 0,
    rssEndBytes: 0,
    rssGrowthBytes: 0,
    vmFailures: {},
    uncaughtInLog: 0,
    filters: [],
    timedOut: false,
    failures: [],
  };
  const pid = envoy.pid!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.http1Connections ?? 8 });
  const sessions: http2.ClientHttp2Session[] = [];
  try {
    const url = await envoy.listenerUrl("main");
    assertLoopback(url);
    const target = new URL(url);
    const before = (await envoy.stats("^wasmcustom\\.")).values;
    result.rssStartBytes = rssOf(pid);
    for (let i = 0; i < (options.http2Sessions ?? 2); i++) sessions.push(http2.connect(url));
    let next = 0;
    let baselineTaken = false;
    let waiting: (() => void) | undefined;
    const count = (status: number) => {
      result.statuses[status] = (result.statuses[status] ?? 0) + 1;
      result.requests++;
      if (result.requests % 50_000 === 0)
        log(`${result.requests} requests, RSS ${(rssOf(pid) / 2 ** 20).toFixed(1)} MiB`);
      if (!baselineTaken && result.requests >= warmup) waiting?.();
    };
    const viaHttp1 = (kind: Kind) =>
      new Promise<void>((resolve) => {
        const headers: Record<string, string> = { ...kind.headers };
        if (kind.body !== undefined) headers["content-length"] = String(Buffer.byteLength(kind.body));
        const request = http.request(
          { host: target.hostname, port: target.port, method: kind.method, path: kind.path, headers, agent },
          (response) => {
            response.resume();
            response.on("end", () => {
              result.http1++;
              count(response.statusCode ?? 0);
              resolve();
            });
          },
        );
        request.on("error", () => {
          result.errors++;
          result.requests++;
          resolve();
        });
        request.end(kind.body);
      });
    const viaHttp2 = (session: http2.ClientHttp2Session, kind: Kind) =>
      new Promise<void>((resolve) => {
        const stream = session.request({
          ":method": kind.method,
          ":path": kind.path,
          ...kind.headers,
          ...(kind.body !== undefined ? { "content-length": String(Buffer.byteLength(kind.body)) } : {}),
        });
        let status = 0;
        stream.on("response", (headers) => (status = Number(headers[":status"])));
        stream.on("data", () => undefined);
        stream.on("end", () => {
          result.http2++;
          count(status);
          resolve();
        });
        stream.on("error", () => {
          result.errors++;
          result.requests++;
          resolve();
        });
        stream.end(kind.body);
      });
    const loop = async (send: (kind: Kind) => Promise<void>) => {
      while (next < total) {
        if (Date.now() > deadline) {
          result.timedOut = true;
          return;
        }
        const i = next++;
        await send(kindOf(i));
      }
    };
    const started = performance.now();
    const baseline = new Promise<void>((resolve) => (waiting = resolve)).then(async () => {
      baselineTaken = true;
      result.rssAfterWarmupBytes = rssOf(pid);
      log(
        `warm-up done after ${result.requests} requests: RSS ${(result.rssAfterWarmupBytes / 2 ** 20).toFixed(1)} MiB`,
      );
    });
    const loops: Promise<void>[] = [];
    for (let c = 0; c < (options.http1Connections ?? 8); c++) loops.push(loop(viaHttp1));
    for (const session of sessions)
      for (let s = 0; s < (options.http2Streams ?? 8); s++)
        loops.push(loop((kind) => viaHttp2(session, kind)));
    await Promise.all(loops);
    result.seconds = (performance.now() - started) / 1000;
    result.rps = result.requests / result.seconds;
    if (!baselineTaken) waiting?.();
    await baseline;
    // Let batched counters flush (their ticks) and the heap settle before the last readings.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    result.rssEndBytes = rssOf(pid);
    result.rssGrowthBytes = result.rssEndBytes - result.rssAfterWarmupBytes;
    const all = await envoy.stats();
    for (const [name, value] of all.values)
      if (name.startsWith("wasm") && FAILURE_STAT.test(name) && value !== 0) result.vmFailures[name] = value;
    result.uncaughtInLog = (envoy.logs().match(/Uncaught|failed to (load|start)|VM failed/g) ?? []).length;
    const sent = result.requests - result.errors;
    for (const c of chosen) {
      const volume: Record<string, number> = {};
      for (const metric of c.info.contract.metrics.filter((m) => m.role === "volume")) {
        let sum = 0;
        for (const [name, value] of all.values) {
          if (
            name.startsWith("wasmcustom.") &&
            name.includes(`filter=.=${c.info.name};`) &&
            name.endsWith(`.${metric.name}`)
          )
            sum += value - (before.get(name) ?? 0);
        }
        volume[metric.name] = sum;
      }
      result.filters.push({ name: c.info.name, example: c.example, volume, expected: sent });
    }
  } finally {
    for (const session of sessions) session.close();
    agent.destroy();
    await envoy.stop();
    await echo.stop();
  }
  const failures = result.failures;
  if (result.timedOut)
    failures.push(`stopped at the time bound after ${result.requests} of ${total} requests`);
  if (result.requests < total) failures.push(`${result.requests} of ${total} requests sent`);
  if (result.errors > 0) failures.push(`${result.errors} request errors`);
  const bad = Object.entries(result.statuses).filter(([status]) => status !== "200");
  if (bad.length > 0) failures.push(`statuses other than 200: ${JSON.stringify(Object.fromEntries(bad))}`);
  const allowance = options.rssAllowanceBytes ?? 5 * 2 ** 20;
  if (result.rssGrowthBytes >= allowance)
    failures.push(
      `Envoy RSS grew ${(result.rssGrowthBytes / 2 ** 20).toFixed(2)} MiB after warm-up (allowed ${(allowance / 2 ** 20).toFixed(0)})`,
    );
  if (Object.keys(result.vmFailures).length > 0)
    failures.push(`VM failures: ${JSON.stringify(result.vmFailures)}`);
  if (result.uncaughtInLog > 0) failures.push(`${result.uncaughtInLog} VM failure lines in Envoy's log`);
  for (const filter of result.filters) {
    if (Object.keys(filter.volume).length === 0)
      failures.push(`${filter.name}: no volume metric in its contract`);
    for (const [metric, value] of Object.entries(filter.volume))
      if (value !== filter.expected)
        failures.push(`${filter.name}: ${metric} = ${value}, sent ${filter.expected}`);
  }
  return result;
}

export function formatSoak(result: SoakResult): string {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  return [
    `requests: ${result.requests} (HTTP/1.1 ${result.http1}, HTTP/2 ${result.http2}) in ${result.seconds.toFixed(1)} s, ${result.rps.toFixed(0)} req/s`,
    `statuses: ${JSON.stringify(result.statuses)}, errors ${result.errors}`,
    `Envoy RSS: start ${mib(result.rssStartBytes)}, after warm-up ${mib(result.rssAfterWarmupBytes)}, end ${mib(result.rssEndBytes)}, growth ${mib(result.rssGrowthBytes)}`,
    `VM failures: ${JSON.stringify(result.vmFailures)}, failure lines in the log: ${result.uncaughtInLog}`,
    ...result.filters.map(
      (filter) =>
        `${filter.name} (${filter.example}): ${JSON.stringify(filter.volume)} for ${filter.expected} requests`,
    ),
    result.failures.length === 0 ? "soak: pass" : `soak: FAIL\n  ${result.failures.join("\n  ")}`,
  ].join("\n");
}
