// Running scenarios: each step's requests on the host emulator, or on one real Envoy 1.40 per
// scenario in front of the echo upstream, observed in terms both backends can report.
import http from "node:http";
import { EnvoyProcess, EnvoyStartError, validateHttpFilters } from "../envoy/launcher.ts";
import { wasmHttpFilter } from "../envoy/wasm-filter.ts";
import { EchoUpstream } from "../upstream/echo.ts";
import { echoUpstream, nodeHeaders, upstreamHeaderMap } from "./echo-model.ts";
import { ConfigurationRejectedError, Emulator } from "./emulator.ts";
import { checkRun } from "./scenario-check.ts";
import {
  ScenarioError,
  type Backend,
  type HeaderValue,
  type Outcome,
  type Scenario,
  type ScenarioRequest,
  type ScenarioStep,
} from "./scenario-file.ts";
import { ManualClock } from "./state.ts";
import { ModuleLoadError, VmFailure, type StreamResult, type Upstream } from "./vm.ts";

/** What one request of a step looked like, in terms both backends can report. */
export interface StepObservation {
  step: string;
  outcome: Outcome;
  status: number;
  /** Request headers as the upstream received them (absent when the request did not get there). */
  upstreamHeaders?: Record<string, HeaderValue>;
  upstreamBody?: string;
  responseHeaders: Record<string, HeaderValue>;
  responseBody: string;
  /** Emulator only. */
  details?: string;
  /** Non-zero deltas of wasmcustom.* counters and gauges. */
  metrics: Record<string, number>;
}

export interface ScenarioRun {
  scenario: Scenario;
  backend: Backend;
  /** For configuration errors: whether and how the configuration was refused. */
  refused?: boolean;
  observations: StepObservation[];
  /** The log text expectations are matched against. */
  logs: string;
  /** Unmet expectations. */
  failures: string[];
  durationMs: number;
}

export interface RunOptions {
  /** Use this module instead of the scenario's (graft test <module.wasm>). */
  module?: string;
}

/** The request headers a step sends: its own, plus the echo's control headers for `upstream:`. */
function stepHeaders(step: ScenarioStep): Record<string, string> {
  const headers = { ...step.request.headers };
  if (step.upstream?.status !== undefined) headers["x-echo-status"] = String(step.upstream.status);
  for (const [name, value] of Object.entries(step.upstream?.headers ?? {}))
    headers[`x-echo-response-${name}`] = value;
  return headers;
}

/** Non-zero changes of wasmcustom.* values between two readings. */
export function metricDeltas(
  before: Map<string, number>,
  after: Map<string, number>,
): Record<string, number> {
  const deltas: Record<string, number> = {};
  for (const [name, value] of after) {
    if (!name.startsWith("wasmcustom.")) continue;
    const delta = value - (before.get(name) ?? 0);
    if (delta !== 0) deltas[name] = delta;
  }
  return deltas;
}

const decoder = new TextDecoder();

function emulatorObservation(
  step: ScenarioStep,
  result: StreamResult,
  metrics: Record<string, number>,
): StepObservation {
  return observeEmulatorResult(step.name, result, metrics);
}

/** An emulator stream's result as a step observation (what the echo and a Node client would see). */
export function observeEmulatorResult(
  step: string,
  result: StreamResult,
  metrics: Record<string, number>,
): StepObservation {
  let outcome: Outcome = result.outcome === "bypassed" ? "continued" : result.outcome;
  if (outcome === "continued" && result.upstreamRefused === true) outcome = "local_reply";
  // What the echo's history shows: a request its server refused (431) is not in it.
  const reached = result.upstreamRequest !== undefined && result.upstreamRefused !== true;
  return {
    step,
    outcome,
    status: result.status,
    upstreamHeaders: reached ? nodeHeaders(upstreamHeaderMap(result.upstreamRequest!)) : undefined,
    upstreamBody: reached ? decoder.decode(result.upstreamRequest!.body) : undefined,
    responseHeaders: nodeHeaders(result.responseHeaders),
    responseBody: decoder.decode(result.responseBody),
    details: result.details,
    metrics,
  };
}

/** Runs a scenario on the host emulator. */
export async function runOnEmulator(scenario: Scenario, options: RunOptions = {}): Promise<ScenarioRun> {
  const started = performance.now();
  const run: ScenarioRun = {
    scenario,
    backend: "emulator",
    observations: [],
    logs: "",
    failures: [],
    durationMs: 0,
  };
  let emulator: Emulator;
  try {
    emulator = await Emulator.load({
      module: options.module ?? scenario.module,
      rootId: scenario.rootId,
      name: scenario.pluginName,
      configuration: scenario.configuration,
      workers: scenario.workers,
      failurePolicy: scenario.failurePolicy,
      logLevel: "debug",
      clock: new ManualClock(),
    });
  } catch (error) {
    if (error instanceof ConfigurationRejectedError || error instanceof VmFailure) {
      run.refused = true;
      run.logs =
        error instanceof ConfigurationRejectedError ? error.message : `[error][wasm] ${error.message}`;
      run.failures = checkRun(run);
      run.durationMs = performance.now() - started;
      return run;
    }
    if (error instanceof ModuleLoadError) throw new ScenarioError(`${scenario.file}: ${error.message}`);
    throw error;
  }
  run.refused = false;
  for (const step of scenario.steps) {
    const stepUpstream = step.upstream?.body;
    const upstream: Upstream | undefined =
      stepUpstream === undefined
        ? undefined
        : (request) => ({ ...echoUpstream(request), body: new TextEncoder().encode(stepUpstream) });
    for (let i = 0; i < step.repeat; i++) {
      const before = emulator.stats();
      const result = emulator.request({
        method: step.request.method,
        path: step.request.path,
        headers: stepHeaders(step),
        body: step.request.body,
        trailers: step.request.trailers,
        upstream,
      });
      run.observations.push(emulatorObservation(step, result, metricDeltas(before, emulator.stats())));
    }
  }
  run.logs = emulator.logText();
  run.failures = checkRun(run);
  run.durationMs = performance.now() - started;
  return run;
}

interface ClientResponse {
  status: number;
  headers: Record<string, HeaderValue>;
  body: string;
}

/** One request with Node's HTTP client on a fresh connection; chunks are written 40 ms apart. */
function sendRequest(
  url: string,
  request: ScenarioRequest,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<ClientResponse | "timeout"> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const chunks =
      request.body === undefined ? [] : typeof request.body === "string" ? [request.body] : request.body;
    const outgoing: Record<string, string> = { ...headers };
    if (chunks.length === 1) outgoing["content-length"] = String(Buffer.byteLength(chunks[0]!));
    else if (chunks.length > 1 || request.trailers) outgoing["transfer-encoding"] = "chunked";
    const client = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.path,
        headers: outgoing,
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => {
          clearTimeout(timer);
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers as Record<string, HeaderValue>,
            body,
          });
        });
      },
    );
    const timer = setTimeout(() => {
      client.destroy();
      resolve("timeout");
    }, timeoutMs);
    client.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    void (async () => {
      for (let i = 0; i < chunks.length - 1; i++) {
        client.write(chunks[i]);
        await new Promise((done) => setTimeout(done, 40));
      }
      if (request.trailers) {
        if (chunks.length > 0) client.write(chunks.at(-1));
        client.addTrailers(request.trailers);
        client.end();
      } else client.end(chunks.at(-1));
    })();
  });
}

export async function wasmStats(envoy: EnvoyProcess): Promise<Map<string, number>> {
  return (await envoy.stats("^wasmcustom\\.")).values;
}

async function waitForPatterns(envoy: EnvoyProcess, patterns: string[]): Promise<void> {
  for (const pattern of patterns)
    await envoy.waitForLog(new RegExp(pattern, "m"), 3_000).catch(() => undefined);
}

/** Runs a scenario on real Envoy (one process per scenario, --concurrency = workers) in front of the echo upstream. */
export async function runOnEnvoy(scenario: Scenario, options: RunOptions = {}): Promise<ScenarioRun> {
  const started = performance.now();
  const run: ScenarioRun = {
    scenario,
    backend: "envoy",
    observations: [],
    logs: "",
    failures: [],
    durationMs: 0,
  };
  const filter = wasmHttpFilter({
    name: scenario.pluginName,
    rootId: scenario.rootId,
    wasmPath: options.module ?? scenario.module,
    configuration: scenario.configuration,
    failurePolicy: scenario.failurePolicy,
  });
  if (scenario.refused) {
    try {
      await validateHttpFilters([filter]);
      run.refused = false;
    } catch (error) {
      if (!(error instanceof EnvoyStartError)) throw error;
      run.refused = true;
      run.logs = error.log;
    }
    run.failures = checkRun(run);
    run.durationMs = performance.now() - started;
    return run;
  }
  const echo = await EchoUpstream.start();
  let envoy: EnvoyProcess | undefined;
  try {
    try {
      envoy = await EnvoyProcess.start({
        upstream: { host: "127.0.0.1", port: echo.port },
        listeners: [{ name: "main", httpFilters: [filter] }],
        extraFilters: scenario.filterInfo ? [scenario.filterInfo] : [],
        concurrency: scenario.workers,
        label: `envoy:${scenario.name}`,
      });
    } catch (error) {
      if (!(error instanceof EnvoyStartError)) throw error;
      run.refused = true;
      run.logs = error.log;
      run.failures = checkRun(run);
      return run;
    }
    run.refused = false;
    const url = await envoy.listenerUrl("main");
    for (const step of scenario.steps) {
      for (let i = 0; i < step.repeat; i++) {
        const before = await wasmStats(envoy);
        const received = echo.received.length;
        const answer = await sendRequest(url, step.request, stepHeaders(step), 3_000);
        await new Promise((done) => setTimeout(done, 10));
        const metrics = metricDeltas(before, await wasmStats(envoy));
        const echoed = echo.streamRequestSince(received);
        if (answer === "timeout") {
          run.observations.push({
            step: step.name,
            outcome: "paused",
            status: 0,
            responseHeaders: {},
            responseBody: "",
            metrics,
          });
          continue;
        }
        // Envoy's failStream reply (503, empty) is only told apart from a filter's by the VM failure in the log.
        const failedStream =
          answer.status === 503 && answer.body === "" && /failed: Uncaught/.test(envoy.logs());
        run.observations.push({
          step: step.name,
          outcome: failedStream ? "failed" : echoed ? "continued" : "local_reply",
          status: answer.status,
          upstreamHeaders: echoed?.headers,
          upstreamBody: echoed ? Buffer.from(echoed.bodyBase64, "base64").toString("utf8") : undefined,
          responseHeaders: answer.headers,
          responseBody: answer.body,
          metrics,
        });
      }
      await waitForPatterns(envoy, step.expect.logs);
    }
    await waitForPatterns(envoy, scenario.expect.logs);
    run.logs = envoy.logs();
  } finally {
    await envoy?.stop();
    await echo.stop();
    run.durationMs = performance.now() - started;
  }
  run.failures = checkRun(run);
  return run;
}

export function runOn(backend: Backend, scenario: Scenario, options: RunOptions = {}): Promise<ScenarioRun> {
  return backend === "emulator" ? runOnEmulator(scenario, options) : runOnEnvoy(scenario, options);
}
