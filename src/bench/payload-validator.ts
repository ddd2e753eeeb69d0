/**
 * payload-validator's benchmark: closed-loop throughput of valid 1 KiB and 64 KiB JSON bodies
 * through one Envoy worker, without the filter and with it (enforce mode: the body is held, parsed
 * once as it streams, checked against a schema and a body deny rule, then forwarded), plus Envoy's
 * CPU time per request from /proc/<pid>/stat. Both listeners sit in one Envoy in front of the same
 * Node sink upstream, which drains each body and answers "ok".
 *
 * Load comes from `wrk` (16 connections, a Lua script posting the body) when /usr/bin/wrk exists,
 * otherwise from 16 keep-alive Node request loops. Bounded: one warm-up second and a few measured
 * seconds per case (≤ 8 s), loopback only.
 *
 *   node --import tsx src/bench/payload-validator.ts [seconds-per-case]
 */
import { assertLoopback } from "../load/loopback.ts";
import { cpuSeconds } from "./process-cpu.ts";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { envoyVersion, resolveEnvoyBinary } from "../envoy/binary.ts";
import { EnvoyProcess } from "../envoy/launcher.ts";
import { wasmHttpFilter } from "../envoy/wasm-filter.ts";
import { buildDir } from "../util/paths.ts";

const execFileAsync = promisify(execFile);

const CONNECTIONS = 16;
const WARMUP_SECONDS = 1;
const MAX_CASE_SECONDS = 8;
const WRK_PATHS = ["/usr/bin/wrk"];

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

/** A valid order of about `bytes` bytes (exactly `bytes`, padded with spaces). */
export function benchBody(bytes: number): Buffer {
  const order = {
    id: 42,
    customer: { name: "Zoë Example", email: "zoe@example.com" },
    currency: "EUR",
    items: [] as { sku: string; qty: number; price: number; gift: boolean }[],
  };
  for (let i = 0; ; i++) {
    const item = {
      sku: `SKU-${String(i).padStart(6, "0")}`,
      qty: (i % 9) + 1,
      price: 9.99 + i,
      gift: i % 2 === 0,
    };
    order.items.push(item);
    if (Buffer.byteLength(JSON.stringify(order)) > bytes) {
      order.items.pop();
      break;
    }
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

interface LoadResult {
  requests: number;
  seconds: number;
  non2xx: number;
  errors: number;
}

interface LoadGenerator {
  name: string;
  run(url: string, bodyFile: string, body: Buffer, seconds: number): Promise<LoadResult>;
}

const wrkBinary = WRK_PATHS.find((file) => existsSync(file));

const wrkGenerator: LoadGenerator = {
  name: `wrk (1 thread, ${CONNECTIONS} connections, Lua POST)`,
  async run(url, bodyFile, _body, seconds) {
    const script = `${bodyFile}.lua`;
    await writeFile(
      script,
      [
        `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))`,
        "wrk.body = f:read('*a')",
        "f:close()",
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
      ].join("\n"),
    );
    const { stdout } = await execFileAsync(wrkBinary!, [
      "-t1",
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      "--timeout",
      "5s",
      "-s",
      script,
      url,
    ]);
    const requests = /(\d+) requests in ([\d.]+)(m?s)/.exec(stdout);
    if (!requests) throw new Error(`cannot read wrk output:\n${stdout}`);
    const elapsed = Number(requests[2]) / (requests[3] === "ms" ? 1000 : 1);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
    return {
      requests: Number(requests[1]),
      seconds: elapsed,
      non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
      errors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    };
  },
};

const nodeGenerator: LoadGenerator = {
  name: `Node (${CONNECTIONS} keep-alive request loops)`,
  async run(url, _bodyFile, body, seconds) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const target = new URL("/bench", url);
    const result: LoadResult = { requests: 0, seconds, non2xx: 0, errors: 0 };
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const one = () =>
      new Promise<void>((resolve) => {
        const request = http.request(
          target,
          {
            method: "POST",
            agent,
            headers: { "content-type": "application/json", "content-length": body.length },
          },
          (response) => {
            response.resume();
            response.on("end", () => {
              if ((response.statusCode ?? 0) >= 300) result.non2xx++;
              result.requests++;
              resolve();
            });
          },
        );
        request.on("error", () => {
          result.errors++;
          resolve();
        });
        request.end(body);
      });
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < deadline) await one();
      }),
    );
    agent.destroy();
    result.seconds = (performance.now() - started) / 1000;
    return result;
  },
};

const ARMS = ["no filter", "size limit only", "full validation"] as const;
type Arm = (typeof ARMS)[number];

/** The filter's configuration per arm; "size limit only" holds the body without parsing it. */
const LIMIT_ONLY_CONFIG = { injection_id: "bench-limit", max_body_bytes: 1 << 20 };

interface CaseResult {
  size: string;
  arm: Arm;
  rps: number;
  cpuMicrosPerRequest: number | null;
  non2xx: number;
  errors: number;
}

/** Runs the benchmark and returns a Markdown report. */
export async function benchPayloadValidator(
  options: { seconds?: number; configuration?: unknown; sizes?: number[] } = {},
): Promise<string> {
  const seconds = Math.min(options.seconds ?? 5, MAX_CASE_SECONDS - WARMUP_SECONDS);
  const wasmPath = path.join(buildDir, "payload-validator.wasm");
  if (!existsSync(wasmPath)) throw new Error(`${wasmPath} is missing: run \`npm run build\` first`);
  const generator = wrkBinary ? wrkGenerator : nodeGenerator;
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
      "no filter": await envoy.listenerUrl("plain"),
      "size limit only": await envoy.listenerUrl("limit"),
      "full validation": await envoy.listenerUrl("validator"),
    };
    for (const url of Object.values(urls)) assertLoopback(url);

    const sizes: [string, number][] = (options.sizes ?? [1024, 64 * 1024]).map((bytes) => [
      bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`,
      bytes,
    ]);
    const results: CaseResult[] = [];
    for (const [size, bytes] of sizes) {
      const body = benchBody(bytes);
      const bodyFile = path.join(work, `body-${bytes}.json`);
      await writeFile(bodyFile, body);
      // The bodies must pass, and a broken one must not: otherwise the numbers mean nothing.
      const post = async (text: string) => {
        const response = await fetch(`${urls["full validation"]}/bench`, {
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

      for (const arm of ARMS) {
        const url = `${urls[arm]}/bench`;
        await generator.run(url, bodyFile, body, WARMUP_SECONDS);
        const cpuBefore = cpuSeconds(envoy.pid);
        const load = await generator.run(url, bodyFile, body, seconds);
        const cpuAfter = cpuSeconds(envoy.pid);
        results.push({
          size,
          arm,
          rps: load.requests / load.seconds,
          cpuMicrosPerRequest:
            cpuBefore !== null && cpuAfter !== null && load.requests > 0
              ? ((cpuAfter - cpuBefore) * 1e6) / load.requests
              : null,
          non2xx: load.non2xx,
          errors: load.errors,
        });
      }
    }
    return report(results, { generator: generator.name, seconds, envoy: version.version });
  } finally {
    await envoy?.stop();
    await sink.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function report(
  results: CaseResult[],
  context: { generator: string; seconds: number; envoy: string },
): string {
  const lines = [
    "## payload-validator: throughput of valid JSON bodies, with vs without the filter",
    "",
    `Envoy ${context.envoy}, --concurrency 1, loopback; load: ${context.generator}, ${context.seconds} s per case ` +
      `after ${WARMUP_SECONDS} s warm-up; upstream: a Node sink that drains the body. "size limit only": the filter ` +
      'holds the body and counts it, no parsing; "full validation": enforce mode, a schema with nested items, ' +
      "forbidden keys, duplicate-key check and a body deny rule.",
    "",
    "| body | arm | requests/s | vs no filter | Envoy CPU µs/request | added CPU µs/request | non-2xx | errors |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  const find = (size: string, arm: Arm) => results.find((r) => r.size === size && r.arm === arm);
  const added = (r: CaseResult): number | null => {
    const base = find(r.size, "no filter");
    return r.cpuMicrosPerRequest !== null && base?.cpuMicrosPerRequest != null
      ? r.cpuMicrosPerRequest - base.cpuMicrosPerRequest
      : null;
  };
  for (const r of results) {
    const base = find(r.size, "no filter")!;
    const delta = added(r);
    lines.push(
      `| ${r.size} | ${r.arm} | ${r.rps.toFixed(0)} | ${((100 * r.rps) / base.rps).toFixed(1)}% | ` +
        `${r.cpuMicrosPerRequest === null ? "n/a" : r.cpuMicrosPerRequest.toFixed(1)} | ` +
        `${r.arm === "no filter" || delta === null ? "" : delta.toFixed(1)} | ${r.non2xx} | ${r.errors} |`,
    );
  }
  lines.push("");
  const small = find("1 KiB", "full validation");
  const smallBase = find("1 KiB", "no filter");
  if (small && smallBase) {
    const ratio = small.rps / smallBase.rps;
    lines.push(
      `Goal at 1 KiB: ≥ 80% of no-filter throughput: ${(100 * ratio).toFixed(1)}% (${ratio >= 0.8 ? "met" : "missed"}).`,
    );
  }
  const fullSmall = small ? added(small) : null;
  const fullLarge = find("64 KiB", "full validation");
  const large = fullLarge ? added(fullLarge) : null;
  if (fullSmall !== null && large !== null) {
    lines.push(
      `Validation cost per KiB between 1 and 64 KiB: ${((large - fullSmall) / 63).toFixed(2)} µs/KiB; ` +
        `added CPU 64 KiB / 1 KiB: ${(large / Math.max(fullSmall, 0.001)).toFixed(1)}× ` +
        "(linear or better: each byte is read from Envoy and parsed once).",
    );
  }
  lines.push(
    "The upstream and the load generator share the machine's cores with Envoy; CPU per request is the steadier figure.",
  );
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seconds = process.argv[2] ? Number(process.argv[2]) : undefined;
  console.log(await benchPayloadValidator({ seconds }));
}
