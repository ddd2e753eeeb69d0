// Scenarios: YAML files beside a filter (filters/<name>/scenarios/*.yaml) that say what requests do
// to a filter, run the same way on the host emulator and on real Envoy 1.40 in front of the echo
// upstream, so that the two can be compared. The format is described in src/host/README.md.
import http from "node:http";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import yaml from "js-yaml";
import { EnvoyProcess, EnvoyStartError, validateHttpFilters } from "../envoy/launcher.ts";
import { wasmHttpFilter } from "../envoy/wasm-filter.ts";
import { EchoUpstream } from "../upstream/echo.ts";
import { filterFromDir, findFilter, isFilterDir, type FilterInfo } from "../filters/catalog.ts";
import { projectRoot } from "../util/paths.ts";
import { echoUpstream, nodeHeaders, upstreamHeaderMap } from "./echo-model.ts";
import { ConfigurationRejectedError, Emulator } from "./emulator.ts";
import { ManualClock } from "./state.ts";
import { ModuleLoadError, VmFailure, type FailurePolicy, type StreamResult, type Upstream } from "./vm.ts";

export type Backend = "emulator" | "envoy";
export const BACKENDS: readonly Backend[] = ["emulator", "envoy"];
export type Outcome = "continued" | "local_reply" | "failed" | "paused";
export type HeaderValue = string | string[];

export interface ScenarioRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** One string arrives whole (content-length); a list arrives as chunks (chunked encoding). */
  body?: string | string[];
  trailers?: Record<string, string>;
}

export interface HeaderExpectation {
  /** Subset match: each named header has this value (repeated headers as Node joins them: "a, b"). */
  headers: Record<string, string>;
  /** Headers that must not be there. */
  absent: string[];
  body?: string;
  bodyContains?: string;
}

export interface StepExpectation {
  outcome?: Outcome;
  status?: number;
  /** %RESPONSE_CODE_DETAILS%; checked on the emulator only (graft's Envoy has no access log). */
  details?: string;
  upstream?: HeaderExpectation;
  response?: HeaderExpectation;
  /** Deltas this step causes, by /stats name (`wasmcustom.…`); unlisted metrics are not checked. */
  metrics: Record<string, number>;
  /** Regular expressions each of which some log line must match (by the end of the step). */
  logs: string[];
}

export interface ScenarioStep {
  name: string;
  request: ScenarioRequest;
  /** How the upstream answers: realised with the echo's control headers on both backends. */
  upstream?: { status?: number; headers: Record<string, string>; body?: string };
  /** Run the step this many times (each is checked). */
  repeat: number;
  expect: StepExpectation;
}

export interface Scenario {
  name: string;
  file: string;
  description?: string;
  /** A filter of filters/ (build/<filter>.wasm, root id = name), or a module path with a root id. */
  filter?: string;
  /** The named filter, from its contract (its folder may be outside this repository). */
  filterInfo?: FilterInfo;
  module: string;
  rootId: string;
  pluginName: string;
  configuration: unknown;
  workers: number;
  failurePolicy: FailurePolicy;
  backends: Backend[];
  /**
   * The filter batches its counters and flushes them on a timer (rate-limiter does), so when a
   * delta lands depends on the clock: metric deltas are then neither compared nor expected.
   */
  batchedMetrics: boolean;
  /** Set for configuration-error scenarios: the configuration must be refused with these logs. */
  refused?: { logs: string[] };
  steps: ScenarioStep[];
  /** Deltas and logs over the whole scenario. */
  expect: { metrics: Record<string, number>; logs: string[] };
}

export class ScenarioError extends Error {}

// ---------------------------------------------------------------------------------------------
// Reading

type Raw = Record<string, unknown>;

function fail(file: string, where: string, message: string): never {
  throw new ScenarioError(`${file}: ${where}: ${message}`);
}

function onlyKeys(file: string, where: string, value: Raw, allowed: string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      fail(file, where, `unknown field "${key}"; expected one of ${allowed.join(", ")}`);
  }
}

function asObject(file: string, where: string, value: unknown): Raw {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail(file, where, "expected a mapping");
  return value as Raw;
}

function stringMap(file: string, where: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  const object = asObject(file, where, value);
  const result: Record<string, string> = {};
  for (const [key, item] of Object.entries(object)) {
    if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean")
      fail(file, `${where}.${key}`, "expected a string");
    result[key.toLowerCase()] = String(item);
  }
  return result;
}

function stringList(file: string, where: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string"))
    fail(file, where, "expected a list of strings");
  return value as string[];
}

function numberMap(file: string, where: string, value: unknown): Record<string, number> {
  if (value === undefined) return {};
  const object = asObject(file, where, value);
  for (const [key, item] of Object.entries(object))
    if (typeof item !== "number") fail(file, `${where}.${key}`, "expected a number");
  return object as Record<string, number>;
}

function regexes(file: string, where: string, value: unknown): string[] {
  const list = stringList(file, where, value);
  for (const pattern of list) {
    try {
      new RegExp(pattern);
    } catch (error) {
      fail(file, where, `bad regular expression ${pattern}: ${(error as Error).message}`);
    }
  }
  return list;
}

function headerExpectation(file: string, where: string, value: unknown): HeaderExpectation | undefined {
  if (value === undefined) return undefined;
  const object = asObject(file, where, value);
  onlyKeys(file, where, object, ["headers", "absent", "body", "body_contains"]);
  for (const key of ["body", "body_contains"]) {
    if (object[key] !== undefined && typeof object[key] !== "string")
      fail(file, `${where}.${key}`, "expected a string");
  }
  return {
    headers: stringMap(file, `${where}.headers`, object.headers),
    absent: stringList(file, `${where}.absent`, object.absent).map((name) => name.toLowerCase()),
    body: object.body as string | undefined,
    bodyContains: object.body_contains as string | undefined,
  };
}

const OUTCOMES: readonly Outcome[] = ["continued", "local_reply", "failed", "paused"];
const POLICIES: readonly FailurePolicy[] = ["FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"];

function parseStep(file: string, where: string, value: unknown, backends: Backend[]): ScenarioStep {
  const step = asObject(file, where, value);
  onlyKeys(file, where, step, ["name", "request", "upstream", "expect", "repeat"]);
  const request = asObject(file, `${where}.request`, step.request);
  onlyKeys(file, `${where}.request`, request, ["method", "path", "headers", "body", "trailers"]);
  if (typeof request.path !== "string" || !request.path.startsWith("/"))
    fail(file, `${where}.request.path`, "expected a path starting with /");
  const body = request.body;
  if (
    body !== undefined &&
    typeof body !== "string" &&
    !(Array.isArray(body) && body.length > 0 && body.every((chunk) => typeof chunk === "string"))
  ) {
    fail(file, `${where}.request.body`, "expected a string or a non-empty list of strings (chunks)");
  }
  let upstream: ScenarioStep["upstream"];
  if (step.upstream !== undefined) {
    const raw = asObject(file, `${where}.upstream`, step.upstream);
    onlyKeys(file, `${where}.upstream`, raw, ["status", "headers", "body"]);
    if (raw.status !== undefined && (typeof raw.status !== "number" || raw.status < 200 || raw.status > 599))
      fail(file, `${where}.upstream.status`, "expected 200-599");
    if (raw.body !== undefined && (typeof raw.body !== "string" || backends.includes("envoy"))) {
      fail(
        file,
        `${where}.upstream.body`,
        "a string, and only in scenarios with backends: [emulator] (on Envoy the echo upstream writes the body)",
      );
    }
    upstream = {
      status: raw.status as number | undefined,
      headers: stringMap(file, `${where}.upstream.headers`, raw.headers),
      body: raw.body as string | undefined,
    };
  }
  const expect = asObject(file, `${where}.expect`, step.expect ?? {});
  onlyKeys(file, `${where}.expect`, expect, [
    "outcome",
    "status",
    "details",
    "upstream",
    "response",
    "metrics",
    "logs",
  ]);
  if (expect.outcome !== undefined && !OUTCOMES.includes(expect.outcome as Outcome))
    fail(file, `${where}.expect.outcome`, `expected one of ${OUTCOMES.join(", ")}`);
  if (expect.status !== undefined && typeof expect.status !== "number")
    fail(file, `${where}.expect.status`, "expected a number");
  const repeat = step.repeat ?? 1;
  if (typeof repeat !== "number" || !Number.isInteger(repeat) || repeat < 1 || repeat > 1000)
    fail(file, `${where}.repeat`, "expected 1-1000");
  return {
    name: typeof step.name === "string" ? step.name : where,
    request: {
      method: typeof request.method === "string" ? request.method.toUpperCase() : "GET",
      path: request.path,
      headers: stringMap(file, `${where}.request.headers`, request.headers),
      body: body as string | string[] | undefined,
      trailers:
        request.trailers === undefined
          ? undefined
          : stringMap(file, `${where}.request.trailers`, request.trailers),
    },
    upstream,
    repeat,
    expect: {
      outcome: expect.outcome as Outcome | undefined,
      status: expect.status as number | undefined,
      details: expect.details as string | undefined,
      upstream: headerExpectation(file, `${where}.expect.upstream`, expect.upstream),
      response: headerExpectation(file, `${where}.expect.response`, expect.response),
      metrics: numberMap(file, `${where}.expect.metrics`, expect.metrics),
      logs: regexes(file, `${where}.expect.logs`, expect.logs),
    },
  };
}

/** Parses and checks one scenario file's text; errors name the file and the field. */
export function parseScenario(text: string, file: string): Scenario {
  let raw: unknown;
  try {
    raw = yaml.load(text);
  } catch (error) {
    throw new ScenarioError(`${file}: invalid YAML: ${(error as Error).message}`);
  }
  const doc = asObject(file, "scenario", raw);
  onlyKeys(file, "scenario", doc, [
    "name",
    "description",
    "filter",
    "module",
    "root_id",
    "plugin_name",
    "configuration",
    "workers",
    "failure_policy",
    "batched_metrics",
    "backends",
    "refused",
    "steps",
    "expect",
  ]);
  const name = typeof doc.name === "string" ? doc.name : path.basename(file).replace(/\.ya?ml$/, "");
  let module: string;
  let rootId: string;
  const filter = doc.filter;
  let info: FilterInfo | undefined;
  if (typeof filter === "string") {
    info = scenarioFilter(file, filter);
    module = info.releaseWasm;
    rootId = typeof doc.root_id === "string" ? doc.root_id : info.rootId;
  } else if (typeof doc.module === "string" && typeof doc.root_id === "string") {
    module = path.resolve(projectRoot, doc.module);
    rootId = doc.root_id;
  } else {
    fail(file, "scenario", "give filter: <name>, or module: <path from the project root> with root_id");
  }
  const workers = doc.workers ?? 1;
  if (typeof workers !== "number" || !Number.isInteger(workers) || workers < 1 || workers > 8)
    fail(file, "workers", "expected 1-8");
  const failurePolicy = (doc.failure_policy ?? "FAIL_CLOSED") as FailurePolicy;
  if (!POLICIES.includes(failurePolicy))
    fail(file, "failure_policy", `expected one of ${POLICIES.join(", ")}`);
  // A filter that batches its counters says so in its contract; a scenario may still say it.
  const batchedMetrics =
    doc.batched_metrics === true ||
    (doc.batched_metrics === undefined && (info?.contract.metrics.some((metric) => metric.batched) ?? false));
  if (doc.batched_metrics !== undefined && typeof doc.batched_metrics !== "boolean")
    fail(file, "batched_metrics", "expected true or false");
  const backends = (doc.backends ?? [...BACKENDS]) as Backend[];
  if (
    !Array.isArray(backends) ||
    backends.length === 0 ||
    backends.some((backend) => !BACKENDS.includes(backend))
  ) {
    fail(file, "backends", `expected a list of ${BACKENDS.join(", ")}`);
  }
  let refused: Scenario["refused"];
  if (doc.refused !== undefined) {
    const raw = asObject(file, "refused", doc.refused);
    onlyKeys(file, "refused", raw, ["logs"]);
    refused = { logs: regexes(file, "refused.logs", raw.logs) };
  }
  const rawSteps = doc.steps ?? [];
  if (!Array.isArray(rawSteps)) fail(file, "steps", "expected a list");
  if (refused && rawSteps.length > 0) fail(file, "steps", "a refused configuration has no steps");
  if (!refused && rawSteps.length === 0)
    fail(file, "steps", "give at least one step (or refused: for a configuration error)");
  const steps = rawSteps.map((step, i) => parseStep(file, `steps[${i}]`, step, backends));
  const expect = asObject(file, "expect", doc.expect ?? {});
  onlyKeys(file, "expect", expect, ["metrics", "logs"]);
  return {
    name,
    file,
    description: typeof doc.description === "string" ? doc.description : undefined,
    filter: typeof filter === "string" ? filter : undefined,
    filterInfo: info,
    module,
    rootId,
    pluginName:
      typeof doc.plugin_name === "string" ? doc.plugin_name : typeof filter === "string" ? filter : rootId,
    configuration: doc.configuration ?? "",
    workers,
    failurePolicy,
    backends,
    batchedMetrics,
    refused,
    steps,
    expect: {
      metrics: numberMap(file, "expect.metrics", expect.metrics),
      logs: regexes(file, "expect.logs", expect.logs),
    },
  };
}

/**
 * The filter a scenario names: the one whose folder holds the scenario (so a filter outside this
 * repository finds itself), else one of filters/.
 */
function scenarioFilter(file: string, name: string): FilterInfo {
  const owner = path.dirname(path.dirname(path.resolve(file)));
  if (isFilterDir(owner)) {
    const info = filterFromDir(owner);
    if (info.name === name) return info;
  }
  try {
    return findFilter(name);
  } catch (error) {
    throw new ScenarioError(`${file}: filter: ${(error as Error).message}`);
  }
}

/** Every scenario in `dir` (*.yaml, *.yml), sorted by file name. */
export async function loadScenarios(dir: string): Promise<Scenario[]> {
  const files = (await readdir(dir)).filter((file) => /\.ya?ml$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) =>
      parseScenario(await readFile(path.join(dir, file), "utf8"), path.join(dir, file)),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Running

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

function metricDeltas(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
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
  const outcome: Outcome = result.outcome === "bypassed" ? "continued" : result.outcome;
  const reached = result.upstreamRequest !== undefined;
  return {
    step: step.name,
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

async function wasmStats(envoy: EnvoyProcess): Promise<Map<string, number>> {
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
        // The stream's own request: callouts (which Envoy marks x-envoy-internal) reach the echo too.
        const echoed = echo.received
          .slice(received)
          .reverse()
          .find((request) => request.headers["x-envoy-internal"] !== "true");
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

// ---------------------------------------------------------------------------------------------
// Checking and comparing

function show(value: unknown): string {
  return value === undefined ? "(absent)" : JSON.stringify(value);
}

function headerText(value: HeaderValue | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

function checkHeaders(
  where: string,
  expectation: HeaderExpectation,
  headers: Record<string, HeaderValue> | undefined,
  body: string | undefined,
): string[] {
  const failures: string[] = [];
  if (!headers) return [`${where}: the request did not reach the upstream`];
  for (const [name, value] of Object.entries(expectation.headers)) {
    const actual = headerText(headers[name]);
    if (actual !== value)
      failures.push(`${where} header ${name}: expected ${show(value)}, got ${show(actual)}`);
  }
  for (const name of expectation.absent) {
    if (headers[name] !== undefined)
      failures.push(`${where} header ${name}: expected absent, got ${show(headerText(headers[name]))}`);
  }
  if (expectation.body !== undefined && body !== expectation.body)
    failures.push(`${where} body: expected ${show(expectation.body)}, got ${show(body)}`);
  if (expectation.bodyContains !== undefined && !(body ?? "").includes(expectation.bodyContains)) {
    failures.push(
      `${where} body: expected it to contain ${show(expectation.bodyContains)}, got ${show(body)}`,
    );
  }
  return failures;
}

function checkMetrics(
  where: string,
  expected: Record<string, number>,
  actual: Record<string, number>,
): string[] {
  const failures: string[] = [];
  for (const [name, delta] of Object.entries(expected)) {
    if ((actual[name] ?? 0) !== delta)
      failures.push(`${where} metric ${name}: expected +${delta}, got +${actual[name] ?? 0}`);
  }
  return failures;
}

function checkLogs(where: string, patterns: string[], logs: string): string[] {
  return patterns
    .filter((pattern) => !new RegExp(pattern, "m").test(logs))
    .map((pattern) => `${where}: no log line matches /${pattern}/`);
}

/** The expectations a run did not meet. */
export function checkRun(run: ScenarioRun): string[] {
  const scenario = run.scenario;
  const failures: string[] = [];
  if (scenario.refused) {
    if (!run.refused) return ["the configuration was accepted; the scenario expects it to be refused"];
    return checkLogs("refused", scenario.refused.logs, run.logs);
  }
  if (run.refused) return [`the configuration was refused:\n${run.logs.split("\n").slice(-20).join("\n")}`];
  let index = 0;
  const totals: Record<string, number> = {};
  for (const step of scenario.steps) {
    for (let i = 0; i < step.repeat; i++) {
      const observation = run.observations[index++];
      const where = step.repeat > 1 ? `${step.name} #${i + 1}` : step.name;
      if (!observation) {
        failures.push(`${where}: not run`);
        continue;
      }
      for (const [name, delta] of Object.entries(observation.metrics))
        totals[name] = (totals[name] ?? 0) + delta;
      const expect = step.expect;
      if (expect.outcome !== undefined && observation.outcome !== expect.outcome)
        failures.push(`${where}: expected outcome ${expect.outcome}, got ${observation.outcome}`);
      if (expect.status !== undefined && observation.status !== expect.status)
        failures.push(`${where}: expected status ${expect.status}, got ${observation.status}`);
      if (
        expect.details !== undefined &&
        run.backend === "emulator" &&
        observation.details !== expect.details
      ) {
        failures.push(`${where}: expected details ${expect.details}, got ${show(observation.details)}`);
      }
      if (expect.upstream)
        failures.push(
          ...checkHeaders(
            `${where}: upstream`,
            expect.upstream,
            observation.upstreamHeaders,
            observation.upstreamBody,
          ),
        );
      if (expect.response)
        failures.push(
          ...checkHeaders(
            `${where}: response`,
            expect.response,
            observation.responseHeaders,
            observation.responseBody,
          ),
        );
      failures.push(...checkMetrics(where, expect.metrics, observation.metrics));
    }
    failures.push(...checkLogs(step.name, step.expect.logs, run.logs));
  }
  failures.push(...checkMetrics("scenario", scenario.expect.metrics, totals));
  failures.push(...checkLogs("scenario", scenario.expect.logs, run.logs));
  return failures;
}

/** Headers that differ between any two deliveries (addresses, ids, timing, framing) and are not compared. */
const VOLATILE_HEADERS = new Set([
  "date",
  "server",
  "host",
  "x-request-id",
  "x-envoy-upstream-service-time",
  "x-envoy-expected-rq-timeout-ms",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
]);

function compareHeaders(
  where: string,
  named: Set<string>,
  a: Record<string, HeaderValue> | undefined,
  b: Record<string, HeaderValue> | undefined,
): string[] {
  const names = new Set([...named, ...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  const differences: string[] = [];
  for (const name of [...names].sort()) {
    if (VOLATILE_HEADERS.has(name) && !named.has(name)) continue;
    const left = headerText(a?.[name]);
    const right = headerText(b?.[name]);
    if (left !== right) differences.push(`${where} header ${name}: ${show(left)} vs ${show(right)}`);
  }
  return differences;
}

/**
 * Where two runs of one scenario differ: refusal, and per request the outcome, status, every
 * header the upstream and the client saw (but volatile ones), the body the upstream got, the body
 * of local replies, and every wasmcustom metric delta.
 */
export function compareRuns(a: ScenarioRun, b: ScenarioRun): string[] {
  const label = `${a.backend} vs ${b.backend}`;
  if (a.refused !== b.refused)
    return [`${label}: configuration refused ${show(a.refused)} vs ${show(b.refused)}`];
  const differences: string[] = [];
  const count = Math.max(a.observations.length, b.observations.length);
  const steps = a.scenario.steps.flatMap((step) => Array.from({ length: step.repeat }, () => step));
  for (let i = 0; i < count; i++) {
    const left = a.observations[i];
    const right = b.observations[i];
    const step = steps[i];
    const where = `${label}: ${left?.step ?? right?.step ?? `request ${i + 1}`}`;
    if (!left || !right || !step) {
      differences.push(`${where}: ran on one side only`);
      continue;
    }
    if (left.outcome !== right.outcome)
      differences.push(`${where}: outcome ${left.outcome} vs ${right.outcome}`);
    if (left.status !== right.status) differences.push(`${where}: status ${left.status} vs ${right.status}`);
    const upstreamNames = new Set([
      ...Object.keys(step.expect.upstream?.headers ?? {}),
      ...(step.expect.upstream?.absent ?? []),
    ]);
    if (left.upstreamHeaders || right.upstreamHeaders)
      differences.push(
        ...compareHeaders(`${where}: upstream`, upstreamNames, left.upstreamHeaders, right.upstreamHeaders),
      );
    if (left.upstreamBody !== right.upstreamBody)
      differences.push(`${where}: upstream body ${show(left.upstreamBody)} vs ${show(right.upstreamBody)}`);
    const responseNames = new Set([
      ...Object.keys(step.expect.response?.headers ?? {}),
      ...(step.expect.response?.absent ?? []),
    ]);
    differences.push(
      ...compareHeaders(`${where}: response`, responseNames, left.responseHeaders, right.responseHeaders),
    );
    if (left.outcome !== "continued" && left.responseBody !== right.responseBody) {
      differences.push(`${where}: response body ${show(left.responseBody)} vs ${show(right.responseBody)}`);
    }
    const metricNames = new Set(
      a.scenario.batchedMetrics ? [] : [...Object.keys(left.metrics), ...Object.keys(right.metrics)],
    );
    for (const name of metricNames) {
      if ((left.metrics[name] ?? 0) !== (right.metrics[name] ?? 0))
        differences.push(
          `${where}: metric ${name} +${left.metrics[name] ?? 0} vs +${right.metrics[name] ?? 0}`,
        );
    }
  }
  return differences;
}

// ---------------------------------------------------------------------------------------------
// Reports

export interface ScenarioReport {
  scenario: Scenario;
  runs: Partial<Record<Backend, ScenarioRun>>;
  /** Backends that were asked for but skipped (not in the scenario's backends). */
  skipped: Backend[];
  differences: string[];
  ok: boolean;
}

/** Runs each scenario on the emulator and, with `envoy`, on real Envoy too, and compares them. */
export async function runScenarios(
  scenarios: Scenario[],
  options: RunOptions & { envoy?: boolean } = {},
): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  for (const scenario of scenarios) {
    const wanted: Backend[] = options.envoy ? ["emulator", "envoy"] : ["emulator"];
    const backends = wanted.filter((backend) => scenario.backends.includes(backend));
    const runs: Partial<Record<Backend, ScenarioRun>> = {};
    for (const backend of backends) runs[backend] = await runOn(backend, scenario, options);
    const differences = runs.emulator && runs.envoy ? compareRuns(runs.emulator, runs.envoy) : [];
    const ok =
      differences.length === 0 &&
      Object.values(runs).every((run) => run.failures.length === 0) &&
      backends.length > 0;
    reports.push({
      scenario,
      runs,
      skipped: wanted.filter((backend) => !backends.includes(backend)),
      differences,
      ok,
    });
  }
  return reports;
}

function cell(run: ScenarioRun | undefined, skipped: boolean): string {
  if (skipped) return "skipped";
  if (!run) return "-";
  const time = `${Math.round(run.durationMs)} ms`;
  return run.failures.length === 0 ? `pass (${time})` : `FAIL ${run.failures.length}`;
}

/** A table, one row per scenario, then every failure and difference. */
export function formatReports(reports: ScenarioReport[], withEnvoy: boolean): string {
  const rows = reports.map((report) => [
    report.scenario.name,
    cell(report.runs.emulator, report.skipped.includes("emulator")),
    ...(withEnvoy
      ? [
          cell(report.runs.envoy, report.skipped.includes("envoy")),
          report.runs.emulator && report.runs.envoy
            ? report.differences.length === 0
              ? "same"
              : `${report.differences.length} differ`
            : "-",
        ]
      : []),
    report.ok ? "ok" : "FAILED",
  ]);
  const header = ["scenario", "emulator", ...(withEnvoy ? ["envoy", "compare"] : []), "result"];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((value, i) => value.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const out = [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)];
  const details: string[] = [];
  for (const report of reports) {
    for (const run of Object.values(report.runs)) {
      for (const failure of run.failures)
        details.push(`${report.scenario.name} [${run.backend}]: ${failure}`);
    }
    for (const difference of report.differences)
      details.push(`${report.scenario.name} [differs]: ${difference}`);
  }
  const passed = reports.filter((report) => report.ok).length;
  out.push("", `${passed} of ${reports.length} scenarios passed`);
  if (details.length > 0) out.push("", ...details);
  return out.join("\n");
}

/** The default scenario directory of a filter. */
export function filterScenarioDir(filter: string): string {
  return path.join(projectRoot, "filters", filter, "scenarios");
}
