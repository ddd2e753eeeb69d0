// Scenario files: the YAML format (filters/<name>/scenarios/*.yaml, described in src/host/README.md)
// and its types, read and checked so that errors name the file and the field.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import yaml from "js-yaml";
import { filterFromDir, findFilter, isFilterDir, type FilterInfo } from "../filters/catalog.ts";
import { projectRoot } from "../util/paths.ts";
import type { FailurePolicy } from "./vm.ts";

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
   * The filter batches its counters and flushes them on a timer (its contract marks them `batched`),
   * so when a delta lands depends on the clock: metric deltas are then neither compared nor expected.
   */
  batchedMetrics: boolean;
  /** Set for configuration-error scenarios: the configuration must be refused with these logs. */
  refused?: { logs: string[] };
  steps: ScenarioStep[];
  /** Deltas and logs over the whole scenario. */
  expect: { metrics: Record<string, number>; logs: string[] };
}

export class ScenarioError extends Error {}

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
/** The default scenario directory of a filter. */
export function filterScenarioDir(filter: string): string {
  return path.join(projectRoot, "filters", filter, "scenarios");
}
