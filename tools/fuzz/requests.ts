// Seeded request fuzzing of the filters on the emulator (issue 18, point 3): random configurations
// within each filter's limits (from its own filters/<name>/fuzz-config.ts, found through the
// catalog), hostile headers (long, repeated, raw bytes, control characters),
// bodies in random chunkings (HTTP/1.1 and HTTP/2 framing), and clock jumps, forwards and back.
// Tracks each VM's linear memory; a trap (503 wasm_fail_stream) or a VM over its memory bound is a
// finding: the request is minimised (fewer headers, shorter values, fewer chunks) and saved under
// .graft/fuzz/ as JSON, to become a regression test.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { listFilters, type FilterInfo } from "../../src/filters/catalog.ts";
import { Emulator, ManualClock, type HttpRequest } from "../../src/host/index.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { REQUEST_HEADER_NAMES, Rng, type FilterFuzzConfig } from "./generators.ts";

export { Rng, type FilterFuzzConfig };

/** Where a filter keeps its fuzz configuration generator, inside its folder. */
export const FUZZ_CONFIG_FILE = "fuzz-config.ts";

/** A filter of the catalog with its configuration generator. */
export interface FuzzedFilter {
  info: FilterInfo;
  fuzz: FilterFuzzConfig;
}

let fuzzed: Promise<Map<string, FuzzedFilter>> | undefined;

/** Every filter of the catalog that has a filters/<name>/fuzz-config.ts, by name. */
export function fuzzedFilters(): Promise<Map<string, FuzzedFilter>> {
  fuzzed ??= (async () => {
    const found = new Map<string, FuzzedFilter>();
    for (const info of listFilters()) {
      const file = path.join(info.dir, FUZZ_CONFIG_FILE);
      if (!existsSync(file)) continue;
      const fuzz = (await import(pathToFileURL(file).href)) as Partial<FilterFuzzConfig>;
      if (typeof fuzz.configuration !== "function" || typeof fuzz.memoryBoundBytes !== "number")
        throw new Error(
          `${file}: export configuration(rng) and memoryBoundBytes (see FilterFuzzConfig in tools/fuzz/generators.ts)`,
        );
      found.set(info.name, { info, fuzz: fuzz as FilterFuzzConfig });
    }
    return found;
  })();
  return fuzzed;
}

function value(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return "";
    case 1:
      return "a".repeat(rng.int(8) === 0 ? 1024 * (1 + rng.int(59)) : rng.int(200));
    case 2:
      return "${jndi:ldap://x}";
    case 3:
      // Raw bytes above 0x7f, as latin1 text (the codec passes them through).
      return Array.from({ length: 1 + rng.int(16) }, () => String.fromCharCode(0x80 + rng.int(0x80))).join(
        "",
      );
    case 4:
      return rng.chance(0.1) ? "a\u0001b" : "application/json";
    default:
      return rng.pick(["alice", "bob", "prod", "dev", "/a#b", "1.2.3.4", "text/plain"]);
  }
}

function body(rng: Rng): string {
  switch (rng.int(5)) {
    case 0:
      return "";
    case 1:
      return JSON.stringify({ a: rng.int(100), pad: "p".repeat(rng.int(5000)) });
    case 2:
      return `{"a":"x","pad":"${"p".repeat(rng.int(150_000))}"}`;
    case 3:
      return "[".repeat(rng.int(200)) + "]".repeat(rng.int(200));
    default:
      return `{"a":1,"b":"\${jndi:x}"}`;
  }
}

export function request(rng: Rng): HttpRequest {
  const headers: [string, string][] = [];
  const count = rng.chance(0.02) ? 101 : rng.int(8);
  for (let i = 0; i < count; i++) headers.push([rng.pick(REQUEST_HEADER_NAMES), value(rng)]);
  const text = body(rng);
  let chunks: string | string[] | undefined = text.length === 0 ? undefined : text;
  if (chunks !== undefined && rng.chance(0.6)) {
    const parts: string[] = [];
    for (let at = 0; at < text.length;) {
      const size = 1 + rng.int(rng.chance(0.3) ? 64 : 20_000);
      parts.push(text.slice(at, at + size));
      at += size;
    }
    chunks = parts;
  }
  return {
    method: rng.pick(["GET", "POST", "PUT"]),
    path: rng.pick(["/", "/api/x?q=${jndi:x}", "/a%2e%2e/b", `/${"p".repeat(rng.int(3000))}`]),
    headers,
    body: chunks,
    chunked: Array.isArray(chunks) && rng.chance(0.5) ? true : undefined,
    endStreamWithLastChunk: rng.chance(0.5),
  };
}

export interface Finding {
  filter: string;
  seed: number;
  kind: "trap" | "memory";
  configuration: unknown;
  request: HttpRequest;
  detail: string;
}

export interface RequestFuzzOptions {
  requests: number;
  seed: number;
  /** Requests per configuration (one emulator each). Default 500. */
  perConfiguration?: number;
  /** Filter names; default every filter with a fuzz-config.ts. */
  filters?: readonly string[];
  log?: (line: string) => void;
  /** Where findings are saved; .graft/fuzz by default. */
  outDir?: string;
}

export interface RequestFuzzResult {
  requests: number;
  configurations: number;
  refusedConfigurations: number;
  traps: number;
  findings: Finding[];
  /** Largest linear memory any VM reached, per filter. */
  maxMemoryBytes: Record<string, number>;
  /** The bound each fuzzed filter's README states (its fuzz-config.ts memoryBoundBytes). */
  memoryBoundBytes: Record<string, number>;
  statuses: Record<string, number>;
  seconds: number;
}

const modules = new Map<string, WebAssembly.Module>();
async function moduleOf(filter: FilterInfo): Promise<WebAssembly.Module> {
  let module = modules.get(filter.releaseWasm);
  if (!module) {
    module = await WebAssembly.compile((await readFile(filter.releaseWasm)) as Uint8Array<ArrayBuffer>);
    modules.set(filter.releaseWasm, module);
  }
  return module;
}

async function emulatorFor(filter: FilterInfo, config: unknown): Promise<Emulator | undefined> {
  try {
    return await Emulator.load({
      module: await moduleOf(filter),
      rootId: filter.rootId,
      configuration: config,
      clock: new ManualClock(),
      logLevel: "critical",
    });
  } catch (error) {
    if (
      (error as Error).name === "ConfigurationRejectedError" ||
      /refused its configuration/.test(String(error))
    )
      return undefined;
    throw error;
  }
}

/** Whether `request` still traps on a fresh VM with `config`. */
async function traps(filter: FilterInfo, config: unknown, request: HttpRequest): Promise<boolean> {
  const emulator = await emulatorFor(filter, config);
  return emulator !== undefined && emulator.request(request).outcome === "failed";
}

/** Shrinks a trapping request: drops headers, halves values, merges chunks, while it still traps. */
export async function minimise(
  filter: FilterInfo,
  config: unknown,
  request: HttpRequest,
): Promise<HttpRequest> {
  let current = request;
  for (let round = 0; round < 40; round++) {
    const candidates: HttpRequest[] = [];
    const headers = (current.headers as [string, string][] | undefined) ?? [];
    headers.forEach((_, i) => candidates.push({ ...current, headers: headers.filter((__, j) => j !== i) }));
    headers.forEach(([n, v], i) => {
      if (v.length > 1)
        candidates.push({
          ...current,
          headers: headers.map((h, j): [string, string] => (j === i ? [n, v.slice(0, v.length >> 1)] : h)),
        });
    });
    if (Array.isArray(current.body) && current.body.length > 1)
      candidates.push({ ...current, body: [current.body.join("")] });
    if (current.body !== undefined) candidates.push({ ...current, body: undefined });
    let shrunk = false;
    for (const candidate of candidates) {
      if (await traps(filter, config, candidate)) {
        current = candidate;
        shrunk = true;
        break;
      }
    }
    if (!shrunk) break;
  }
  return current;
}

export async function runRequestFuzz(options: RequestFuzzOptions): Promise<RequestFuzzResult> {
  const started = Date.now();
  const rng = new Rng(options.seed);
  const catalog = await fuzzedFilters();
  const filters = (options.filters ?? [...catalog.keys()]).map((name) => {
    const found = catalog.get(name);
    if (!found)
      throw new Error(
        `no fuzz configuration for ${name}: fuzzed filters are ${[...catalog.keys()].join(", ") || "none"} (filters/<name>/${FUZZ_CONFIG_FILE})`,
      );
    return found;
  });
  if (filters.length === 0) throw new Error(`no filter has a ${FUZZ_CONFIG_FILE}: nothing to fuzz`);
  const per = options.perConfiguration ?? 500;
  const outDir = options.outDir ?? path.join(projectRoot, ".graft", "fuzz");
  const result: RequestFuzzResult = {
    requests: 0,
    configurations: 0,
    refusedConfigurations: 0,
    traps: 0,
    findings: [],
    maxMemoryBytes: {},
    memoryBoundBytes: Object.fromEntries(filters.map(({ info, fuzz }) => [info.name, fuzz.memoryBoundBytes])),
    statuses: {},
    seconds: 0,
  };
  let nextLog = 0;
  while (result.requests < options.requests) {
    const { info, fuzz } = filters[result.configurations % filters.length]!;
    const filter = info.name;
    const config = fuzz.configuration(rng);
    result.configurations++;
    const emulator = await emulatorFor(info, config);
    if (!emulator) {
      result.refusedConfigurations++;
      continue;
    }
    const clock = emulator.clock as ManualClock;
    for (let i = 0; i < per && result.requests < options.requests; i++) {
      if (rng.chance(0.05)) {
        if (rng.chance(0.5)) clock.stepWall(-rng.int(3_600_000));
        else emulator.advance(rng.int(120_000));
      }
      const sent = request(rng);
      const seed = options.seed * 1_000_003 + result.requests;
      const outcome = emulator.request(sent);
      result.requests++;
      result.statuses[outcome.status] = (result.statuses[outcome.status] ?? 0) + 1;
      if (outcome.outcome === "failed") {
        result.traps++;
        const minimal = await minimise(info, config, sent);
        result.findings.push({
          filter,
          seed,
          kind: "trap",
          configuration: config,
          request: minimal,
          detail: emulator.logText().slice(-2000),
        });
        break; // the VM has failed: a new configuration
      }
      for (const vm of emulator.workers) {
        const bytes = vm.memoryBytes();
        result.maxMemoryBytes[filter] = Math.max(result.maxMemoryBytes[filter] ?? 0, bytes);
        if (
          bytes > fuzz.memoryBoundBytes &&
          !result.findings.some((f) => f.kind === "memory" && f.filter === filter)
        ) {
          result.findings.push({
            filter,
            seed,
            kind: "memory",
            configuration: config,
            request: sent,
            detail: `${bytes} bytes`,
          });
        }
      }
      if (options.log && result.requests >= nextLog) {
        nextLog += 100_000;
        options.log(
          `${result.requests} requests, ${result.configurations} configurations, ${result.traps} traps`,
        );
      }
    }
  }
  if (result.findings.length > 0) {
    mkdirSync(outDir, { recursive: true });
    for (const finding of result.findings) {
      writeFileSync(
        path.join(outDir, `${finding.filter}-${finding.kind}-${finding.seed}.json`),
        JSON.stringify(finding, null, 2),
      );
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Cases for the emulator/Envoy differential (tests/hardening/emulator-differential.test.ts)

/**
 * A configuration variation for the differential, from the filter's fuzz-config.ts
 * (differentialConfiguration, else configuration); undefined for a filter without one (it is
 * replayed with its configs/good examples only).
 */
export async function differentialConfiguration(rng: Rng, filter: string): Promise<unknown> {
  const found = (await fuzzedFilters()).get(filter);
  if (!found) return undefined;
  return (found.fuzz.differentialConfiguration ?? found.fuzz.configuration)(rng);
}

/** A request that HTTP/1.1 can carry as it is (end of stream comes after the body, as the codec delivers it). */
export function differentialRequest(rng: Rng): HttpRequest {
  const generated = request(rng);
  return { ...generated, endStreamWithLastChunk: false };
}
