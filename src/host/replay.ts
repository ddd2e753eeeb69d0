// Replaying arbitrary requests (repeated headers, raw bytes, control characters, chunkings) on the
// emulator and on one real Envoy 1.40 per configuration, and comparing them with the scenario
// comparison (scenario-check.ts). Envoy gets each request as raw HTTP/1.1 bytes on a fresh loopback
// connection, so anything the emulator's HttpRequest can say reaches Envoy unchanged; the emulator's
// clock follows the real time between requests, so time-based filters see the same elapsed time.
import net from "node:net";
import { EnvoyProcess, EnvoyStartError } from "../envoy/launcher.ts";
import { wasmHttpFilter } from "../envoy/wasm-filter.ts";
import type { FilterInfo } from "../filters/catalog.ts";
import { EchoUpstream } from "../upstream/echo.ts";
import { nodeHeaders } from "./echo-model.ts";
import { ConfigurationRejectedError, Emulator, type HttpRequest } from "./emulator.ts";
import { byteString, HeaderMap } from "./headers.ts";
import { compareRuns } from "./scenario-check.ts";
import type { Scenario, ScenarioStep } from "./scenario-file.ts";
import {
  metricDeltas,
  observeEmulatorResult,
  wasmStats,
  type ScenarioRun,
  type StepObservation,
} from "./scenario-run.ts";
import { ManualClock } from "./state.ts";
import { VmFailure } from "./vm.ts";

export interface ReplayCase {
  name: string;
  request: HttpRequest;
}

export interface ReplayOptions {
  module: string | WebAssembly.Module;
  /** The .wasm file Envoy loads (module's path when module is one). */
  wasmPath: string;
  rootId: string;
  /** Plugin name; the root id unless set. */
  name?: string;
  configuration: unknown;
  cases: ReplayCase[];
  /** Counters flushed on a timer: compared as totals after a flush, not per request. */
  batchedMetrics?: boolean;
  /** A filter outside filters/ whose metric tags Envoy should know. */
  extraFilters?: FilterInfo[];
  /** How long Envoy may take for one request. Default 5000 ms. */
  timeoutMs?: number;
}

export interface ReplayResult {
  emulator: ScenarioRun;
  envoy: ScenarioRun;
  /** compareRuns' differences, then total metric differences for batched filters. */
  differences: string[];
  /** Per case index, the differences that name it. */
  byCase: Map<number, string[]>;
}

interface RawResponse {
  status: number;
  headers: HeaderMap;
  body: Buffer;
}

const utf8 = new TextDecoder();

function bodyChunks(request: HttpRequest): Buffer[] {
  if (request.body === undefined) return [];
  const list = Array.isArray(request.body) ? request.body : [request.body];
  return list.map((chunk) => (typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk)));
}

/** The request as HTTP/1.1 bytes, framed as the emulator frames it (content-length or chunked). */
export function http1Bytes(request: HttpRequest): Buffer {
  const headers = HeaderMap.from(request.headers);
  const chunks = bodyChunks(request);
  const chunked = chunks.length > 1 || (chunks.length === 1 && request.chunked === true);
  let head = `${request.method ?? "GET"} ${byteString(request.path)} HTTP/1.1\r\nhost: ${
    request.authority ?? "127.0.0.1:10000"
  }\r\n`;
  for (let i = 0; i < headers.size; i++) head += `${headers.names[i]}: ${headers.values[i]}\r\n`;
  if (chunks.length === 1 && !chunked) head += `content-length: ${chunks[0]!.length}\r\n`;
  else if (chunked) head += "transfer-encoding: chunked\r\n";
  const parts: Buffer[] = [Buffer.from(`${head}\r\n`, "latin1")];
  if (chunked) {
    for (const chunk of chunks) {
      if (chunk.length === 0) continue; // a zero-size chunk would end the body
      parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`, "latin1"), chunk, Buffer.from("\r\n"));
    }
    parts.push(Buffer.from("0\r\n\r\n"));
  } else if (chunks.length === 1) parts.push(chunks[0]!);
  return Buffer.concat(parts);
}

/** Parses one HTTP/1.1 response from `data`; undefined while incomplete. */
export function parseHttp1Response(data: Buffer, closed: boolean): RawResponse | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = data.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const headers = new HeaderMap();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    headers.add(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const rest = data.subarray(end + 4);
  const length = headers.get("content-length");
  if (length !== undefined) {
    const size = Number(length);
    return rest.length >= size ? { status, headers, body: rest.subarray(0, size) } : undefined;
  }
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    const body: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString("latin1"), 16);
      if (size === 0)
        return rest.indexOf("\r\n", lineEnd + 2) >= 0
          ? { status, headers, body: Buffer.concat(body) }
          : undefined;
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      body.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (status === 204 || status === 304 || (status >= 100 && status < 200))
    return { status, headers, body: Buffer.alloc(0) };
  return closed ? { status, headers, body: rest } : undefined;
}

/** Sends raw bytes on a fresh connection to 127.0.0.1:`port` and reads one response. */
export function sendRaw(port: number, bytes: Buffer, timeoutMs: number): Promise<RawResponse | "timeout"> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    let done = false;
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    const finish = (result: RawResponse | "timeout" | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const response = parseHttp1Response(data, false);
      if (response) finish(response);
    });
    socket.on("end", () => {
      const response = parseHttp1Response(data, true);
      finish(response ?? new Error(`the connection closed before a whole response (${data.length} bytes)`));
    });
    // Envoy may reset after answering a request it refused before reading the whole body.
    socket.on("error", (error) => {
      const response = parseHttp1Response(data, true);
      finish(response ?? error);
    });
  });
}

function syntheticScenario(options: ReplayOptions, cases: ReplayCase[]): Scenario {
  const steps: ScenarioStep[] = cases.map((c) => ({
    name: c.name,
    request: { method: c.request.method ?? "GET", path: c.request.path, headers: {} },
    repeat: 1,
    expect: { metrics: {}, logs: [] },
  }));
  return {
    name: `replay of ${cases.length} requests`,
    file: "(replay)",
    module: options.wasmPath,
    rootId: options.rootId,
    pluginName: options.name ?? options.rootId,
    configuration: options.configuration,
    workers: 1,
    failurePolicy: "FAIL_CLOSED",
    backends: ["emulator", "envoy"],
    batchedMetrics: options.batchedMetrics ?? false,
    steps,
    expect: { metrics: {}, logs: [] },
  };
}

function emptyRun(scenario: Scenario, backend: "emulator" | "envoy"): ScenarioRun {
  return { scenario, backend, observations: [], logs: "", failures: [], durationMs: 0 };
}

function sum(observations: StepObservation[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const observation of observations)
    for (const [name, delta] of Object.entries(observation.metrics))
      totals[name] = (totals[name] ?? 0) + delta;
  return totals;
}

/**
 * Runs every case on the emulator and on one Envoy (--concurrency 1) with the same configuration,
 * interleaved, and compares them. A configuration refused by both is no difference.
 */
export async function replayOnBoth(options: ReplayOptions): Promise<ReplayResult> {
  const scenario = syntheticScenario(options, options.cases);
  const emulatorRun = emptyRun(scenario, "emulator");
  const envoyRun = emptyRun(scenario, "envoy");
  const clock = new ManualClock();
  let emulator: Emulator | undefined;
  try {
    emulator = await Emulator.load({
      module: options.module,
      rootId: options.rootId,
      name: options.name,
      configuration: options.configuration,
      clock,
      logLevel: "info",
    });
    emulatorRun.refused = false;
  } catch (error) {
    if (!(error instanceof ConfigurationRejectedError || error instanceof VmFailure)) throw error;
    emulatorRun.refused = true;
  }
  const echo = await EchoUpstream.start();
  let envoy: EnvoyProcess | undefined;
  try {
    try {
      envoy = await EnvoyProcess.start({
        upstream: { host: "127.0.0.1", port: echo.port },
        listeners: [
          {
            name: "main",
            httpFilters: [
              wasmHttpFilter({
                name: options.name ?? options.rootId,
                rootId: options.rootId,
                wasmPath: options.wasmPath,
                configuration: options.configuration,
                failurePolicy: "FAIL_CLOSED",
              }),
            ],
          },
        ],
        extraFilters: options.extraFilters ?? [],
        concurrency: 1,
        componentLogLevel: "wasm:info",
        label: "envoy:replay",
      });
      envoyRun.refused = false;
    } catch (error) {
      if (!(error instanceof EnvoyStartError)) throw error;
      envoyRun.refused = true;
      envoyRun.logs = error.log;
    }
    if (envoy && emulator) {
      const port = Number(new URL(await envoy.listenerUrl("main")).port);
      let synced = performance.now();
      let before = await wasmStats(envoy);
      for (const c of options.cases) {
        const received = echo.received.length;
        const logLength = envoy.logs().length;
        const answer = await sendRaw(port, http1Bytes(c.request), options.timeoutMs ?? 5_000);
        await new Promise((resolve) => setTimeout(resolve, 5));
        const after = await wasmStats(envoy);
        const metrics = metricDeltas(before, after);
        before = after;
        const echoed = echo.streamRequestSince(received);
        if (answer === "timeout") {
          envoyRun.observations.push({
            step: c.name,
            outcome: "paused",
            status: 0,
            responseHeaders: {},
            responseBody: "",
            metrics,
          });
        } else {
          const body = utf8.decode(answer.body);
          const failed =
            answer.status === 503 && body === "" && /failed: Uncaught/.test(envoy.logs().slice(logLength));
          envoyRun.observations.push({
            step: c.name,
            outcome: failed ? "failed" : echoed ? "continued" : "local_reply",
            status: answer.status,
            upstreamHeaders: echoed?.headers,
            upstreamBody: echoed ? Buffer.from(echoed.bodyBase64, "base64").toString("utf8") : undefined,
            responseHeaders: nodeHeaders(answer.headers),
            responseBody: body,
            metrics,
          });
        }
        // The emulator's clock moves as much as real time did since the last request.
        const now = performance.now();
        emulator.advance(Math.max(0, Math.round(now - synced)));
        synced = now;
        const statsBefore = emulator.stats();
        const result = emulator.request(c.request);
        emulatorRun.observations.push(
          observeEmulatorResult(c.name, result, metricDeltas(statsBefore, emulator.stats())),
        );
      }
      if (options.batchedMetrics) {
        // Let both flush: Envoy's tick runs on its own; the emulator's on advance().
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        emulator.advance(1_200);
        const flushed = metricDeltas(before, await wasmStats(envoy));
        const last = envoyRun.observations.at(-1);
        if (last)
          for (const [name, delta] of Object.entries(flushed))
            last.metrics[name] = (last.metrics[name] ?? 0) + delta;
      }
      envoyRun.logs = envoy.logs();
      emulatorRun.logs = emulator.logText();
    }
  } finally {
    await envoy?.stop();
    await echo.stop();
  }
  const differences = compareRuns(emulatorRun, envoyRun);
  if (options.batchedMetrics && emulator && envoyRun.refused === false) {
    const emulatorTotals = metricDeltas(new Map(), emulator.stats());
    const envoyTotals = sum(envoyRun.observations);
    for (const name of new Set([...Object.keys(emulatorTotals), ...Object.keys(envoyTotals)])) {
      if ((emulatorTotals[name] ?? 0) !== (envoyTotals[name] ?? 0))
        differences.push(
          `emulator vs envoy: total metric ${name} +${emulatorTotals[name] ?? 0} vs +${envoyTotals[name] ?? 0}`,
        );
    }
  }
  const byCase = new Map<number, string[]>();
  options.cases.forEach((c, i) => {
    const prefix = `emulator vs envoy: ${c.name}:`;
    const named = differences.filter((difference) => difference.startsWith(prefix));
    if (named.length > 0) byCase.set(i, named);
  });
  return { emulator: emulatorRun, envoy: envoyRun, differences, byCase };
}
