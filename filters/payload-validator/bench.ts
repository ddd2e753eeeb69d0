/**
 * payload-validator's benchmark: closed-loop throughput of valid 1 KiB and 64 KiB JSON bodies
 * through one Envoy worker, without the filter and with it (enforce mode: the body is held, parsed
 * once as it streams, checked against a schema and a body deny rule, then forwarded), plus Envoy's
 * CPU time per request from /proc/<pid>/stat. All listeners sit in one Envoy in front of the same
 * Node sink upstream, which drains each body and answers "ok".
 *
 * The arms run in interleaved rounds (no filter, size limit only, full validation; again) and the
 * report compares each arm with the no-filter run of the same round: on a shared machine the load
 * drifts between rounds far more than within one. Load: closed-loop.ts. Bounded: one warm-up
 * second per arm and `rounds` × `seconds` per arm and size, loopback only.
 *
 *   node --import tsx filters/payload-validator/bench.ts [seconds-per-run] [rounds]
 */
import { closedLoop, generatorName, median } from "../../tools/bench/closed-loop.ts";
import { cpuSeconds } from "../../tools/bench/process-cpu.ts";
import { assertLoopback } from "../../tools/load/loopback.ts";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { envoyVersion, resolveEnvoyBinary } from "../../src/envoy/binary.ts";
import { EnvoyProcess } from "../../src/envoy/launcher.ts";
import { wasmHttpFilter } from "../../src/envoy/wasm-filter.ts";
import { buildDir } from "../../src/util/paths.ts";

const CONNECTIONS = 16;
const WARMUP_SECONDS = 1;
const MAX_RUN_SECONDS = 8;

/** The schema the benchmark bodies satisfy: typed properties, nested items, required fields. */
export const BENCH_CONFIG = {
  injection_id: "bench",
  mode: "enforce",
  max_body_bytes: 1 << 20,
  content_types: ["application/json"],
  body_required_methods: ["POST"],
  json: {
    max_depth: 16,
    forbidden_keys: ["__proto__", "constructor"],
    schema: {
      type: "object",
      required: ["id", "customer", "items"],
      additionalProperties: false,
      properties: {
        id: { type: "integer", minimum: 1 },
        customer: {
          type: "object",
          required: ["name", "email"],
          properties: {
            name: { type: "string", minLength: 1, maxLength: 64 },
            email: { type: "string", maxLength: 128 },
          },
        },
        currency: { enum: ["EUR", "USD"] },
        items: {
          type: "array",
          minItems: 1,
          maxItems: 10000,
          items: {
            type: "object",
            required: ["sku", "qty", "price"],
            additionalProperties: false,
            properties: {
              sku: { type: "string", maxLength: 32 },
              qty: { type: "integer", minimum: 1, maximum: 1000 },
              price: { type: "number", exclusiveMinimum: 0 },
              gift: { type: "boolean" },
            },
          },
        },
      },
    },
  },
  deny: [{ in: "body", contains: "${jndi:" }],
};

/**
 * A valid order of exactly `bytes` bytes (padded with spaces). Prices are whole cents, as an API
 * sends them (a float sum such as 9.99 + 3 would print as 12.990000000000002).
 */
export function benchBody(bytes: number): Buffer {
  const order = {
    id: 42,
    customer: { name: "Zoë Example", email: "zoe@example.com" },
    currency: "EUR",
    items: [] as { sku: string; qty: number; price: number; gift: boolean }[],
  };
  let length = Buffer.byteLength(JSON.stringify(order));
  for (let i = 0; ; i++) {
    const item = {
      sku: `SKU-${String(i).padStart(6, "0")}`,
      qty: (i % 9) + 1,
      price: (999 + 100 * i) / 100,
      gift: i % 2 === 0,
    };
    const added = Buffer.byteLength(JSON.stringify(item)) + (i === 0 ? 0 : 1);
    if (length + added > bytes) break;
    order.items.push(item);
    length += added;
  }
  const text = JSON.stringify(order);
  return Buffer.from(text + " ".repeat(bytes - Buffer.byteLength(text)));
}

/** The upstream: drains each request body and answers 200 "ok", keep-alive. */
async function startSink(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
      response.end("ok");
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const ARMS = ["no filter", "size limit only", "full validation"] as const;
type Arm = (typeof ARMS)[number];

/** The filter's configuration per arm; "size limit only" holds the body without parsing it. */
const LIMIT_ONLY_CONFIG = { injection_id: "bench-limit", max_body_bytes: 1 << 20 };

/** One arm at one body size: a sample per round. */
interface ArmSamples {
  rps: number[];
  cpuMicrosPerRequest: number[];
  non2xx: number;
  errors: number;
}

export interface PayloadValidatorBenchOptions {
  seconds?: number;
  rounds?: number;
  configuration?: unknown;
  sizes?: number[];
}

/** Runs the benchmark and returns a Markdown report. */
export async function bench(options: PayloadValidatorBenchOptions = {}): Promise<string> {
  const seconds = Math.min(options.seconds ?? 2, MAX_RUN_SECONDS);
  const rounds = options.rounds ?? 5;
  const wasmPath = path.join(buildDir, "payload-validator.wasm");
  if (!existsSync(wasmPath)) throw new Error(`${wasmPath} is missing: run \`npm run build\` first`);
  const binary = resolveEnvoyBinary({ install: true });
  const version = await envoyVersion(binary);
  const work = await mkdtemp(path.join(tmpdir(), "graft-bench-pv-"));
  const sink = await startSink();
  const validator = (name: string, configuration: unknown) =>
    wasmHttpFilter({ name, rootId: "payload-validator", wasmPath, configuration });
  let envoy: EnvoyProcess | undefined;
  try {
    envoy = await EnvoyProcess.start({
      concurrency: 1,
      componentLogLevel: "wasm:warn,config:warn",
      label: "bench-payload-validator",
      upstream: { host: "127.0.0.1", port: sink.port },
      listeners: [
        { name: "plain", httpFilters: [] },
        { name: "limit", httpFilters: [validator("pv-limit", LIMIT_ONLY_CONFIG)] },
        { name: "validator", httpFilters: [validator("pv-full", options.configuration ?? BENCH_CONFIG)] },
      ],
    });
    const urls: Record<Arm, string> = {
      "no filter": `${await envoy.listenerUrl("plain")}/bench`,
      "size limit only": `${await envoy.listenerUrl("limit")}/bench`,
      "full validation": `${await envoy.listenerUrl("validator")}/bench`,
    };
    for (const url of Object.values(urls)) assertLoopback(url);

    const sizes: [string, number][] = (options.sizes ?? [1024, 64 * 1024]).map((bytes) => [
      bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`,
      bytes,
    ]);
    const results = new Map<string, Map<Arm, ArmSamples>>();
    for (const [size, bytes] of sizes) {
      const body = benchBody(bytes);
      const file = path.join(work, `body-${bytes}.json`);
      await writeFile(file, body);
      // The bodies must pass, and a broken one must not: otherwise the numbers mean nothing.
      const post = async (text: string) => {
        const response = await fetch(urls["full validation"], {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: text,
        });
        await response.arrayBuffer();
        return response.status;
      };
      const status = await post(body.toString("utf8"));
      if (status !== 200) throw new Error(`the ${size} bench body was refused: HTTP ${status}`);
      const broken = await post(body.subarray(0, body.lastIndexOf("}")).toString("utf8"));
      if (broken !== 400 && options.configuration === undefined) {
        throw new Error(`a truncated ${size} body got HTTP ${broken}, not 400`);
      }

      const load = { connections: CONNECTIONS, body: { bytes: body, file, contentType: "application/json" } };
      const arms = new Map<Arm, ArmSamples>(
        ARMS.map((arm) => [arm, { rps: [], cpuMicrosPerRequest: [], non2xx: 0, errors: 0 }]),
      );
      for (const arm of ARMS) await closedLoop(urls[arm], { ...load, seconds: WARMUP_SECONDS });
      for (let round = 0; round < rounds; round++) {
        for (const arm of ARMS) {
          const before = cpuSeconds(envoy.pid);
          const result = await closedLoop(urls[arm], { ...load, seconds });
          const after = cpuSeconds(envoy.pid);
          const samples = arms.get(arm)!;
          samples.rps.push(result.rps);
          if (before !== null && after !== null && result.requests > 0) {
            samples.cpuMicrosPerRequest.push(((after - before) * 1e6) / result.requests);
          }
          samples.non2xx += result.non2xx;
          samples.errors += result.errors;
        }
      }
      results.set(size, arms);
    }
    return report(results, {
      generator: generatorName(CONNECTIONS),
      seconds,
      rounds,
      envoy: version.version,
    });
  } finally {
    await envoy?.stop();
    await sink.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Per round, the arm's value over the no-filter run's value. */
function pairedRatios(arm: number[], base: number[]): number[] {
  return arm.map((value, round) => value / base[round]!).filter((ratio) => Number.isFinite(ratio));
}

function report(
  results: Map<string, Map<Arm, ArmSamples>>,
  context: { generator: string; seconds: number; rounds: number; envoy: string },
): string {
  const lines = [
    "## payload-validator: throughput of valid JSON bodies, with vs without the filter",
    "",
    `Envoy ${context.envoy}, --concurrency 1, loopback; load: ${context.generator}; ${context.rounds} interleaved rounds ` +
      `of ${context.seconds} s per arm after ${WARMUP_SECONDS} s warm-up; upstream: a Node sink that drains the body. ` +
      '"size limit only": the filter holds the body and counts it, no parsing; "full validation": enforce mode, a schema ' +
      'with nested items, forbidden keys, duplicate-key check and a body deny rule. "vs no filter": the median of each ' +
      "round's arm / no-filter ratio (range in brackets). \"best vs best\": each arm's best round against the no-filter " +
      "arm's best (other load on the machine only ever lowers throughput and adds CPU). CPU is Envoy's user + system " +
      "time per request: the median, and the minimum over rounds that the added CPU and the CPU-based ratio use.",
    "",
    "| body | arm | median req/s | vs no filter | best vs best | Envoy CPU µs/request (median, min) | added CPU µs/request | CPU-based vs no filter | non-2xx | errors |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const percent = (ratio: number) => `${(100 * ratio).toFixed(1)}%`;
  const added = new Map<string, number>();
  const goal: { paired?: number; best?: number; cpu?: number } = {};
  for (const [size, arms] of results) {
    const base = arms.get("no filter")!;
    const baseCpu = Math.min(...base.cpuMicrosPerRequest);
    for (const [arm, samples] of arms) {
      const cpu = Math.min(...samples.cpuMicrosPerRequest);
      const ratios = pairedRatios(samples.rps, base.rps);
      const ratio = median(ratios);
      const best = Math.max(...samples.rps) / Math.max(...base.rps);
      const cpuRatio = baseCpu / cpu;
      if (arm === "full validation") {
        added.set(size, cpu - baseCpu);
        if (size === "1 KiB") Object.assign(goal, { paired: ratio, best, cpu: cpuRatio });
      }
      const plain = arm === "no filter";
      const range = plain ? "" : ` [${percent(Math.min(...ratios))}–${percent(Math.max(...ratios))}]`;
      lines.push(
        `| ${size} | ${arm} | ${median(samples.rps).toFixed(0)} | ${percent(ratio)}${range} | ${plain ? "" : percent(best)} | ` +
          `${median(samples.cpuMicrosPerRequest).toFixed(1)}, ${cpu.toFixed(1)} | ${plain ? "" : (cpu - baseCpu).toFixed(1)} | ` +
          `${plain ? "" : percent(cpuRatio)} | ${samples.non2xx} | ${samples.errors} |`,
      );
    }
  }
  lines.push("");
  if (goal.paired !== undefined) {
    const met = (ratio: number) => (ratio >= 0.8 ? "met" : "missed");
    lines.push(
      `Goal at 1 KiB: ≥ 80% of no-filter throughput: median of rounds ${percent(goal.paired)} (${met(goal.paired)}), ` +
        `best vs best ${percent(goal.best!)} (${met(goal.best!)}), CPU-based ${percent(goal.cpu!)} (${met(goal.cpu!)}).`,
    );
  }
  const small = added.get("1 KiB");
  const large = added.get("64 KiB");
  if (small !== undefined && large !== undefined) {
    lines.push(
      `Validation cost per KiB between 1 and 64 KiB: ${((large - small) / 63).toFixed(2)} µs/KiB; ` +
        `added CPU 64 KiB / 1 KiB: ${(large / Math.max(small, 0.001)).toFixed(1)}× ` +
        "(linear or better: each byte is read from Envoy and parsed once).",
    );
  }
  lines.push(
    "The upstream and the load generator share the machine's cores with Envoy; CPU per request is the steadier figure.",
  );
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [seconds, rounds] = process.argv.slice(2).map(Number);
  console.log(await bench({ seconds: seconds || undefined, rounds: rounds || undefined }));
}
