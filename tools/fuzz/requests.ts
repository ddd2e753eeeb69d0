// Seeded request fuzzing of the filters on the emulator (issue 18, point 3): random configurations
// within each filter's limits, hostile headers (long, repeated, raw bytes, control characters),
// bodies in random chunkings (HTTP/1.1 and HTTP/2 framing), and clock jumps, forwards and back.
// Tracks each VM's linear memory; a trap (503 wasm_fail_stream) or a VM over its memory bound is a
// finding: the request is minimised (fewer headers, shorter values, fewer chunks) and saved under
// .graft/fuzz/ as JSON, to become a regression test.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Emulator, ManualClock, type HttpRequest } from "../../src/host/index.ts";
import { buildDir, projectRoot } from "../../src/util/paths.ts";

export const FILTERS = ["header-rewrite", "payload-validator", "rate-limiter"] as const;
export type FilterName = (typeof FILTERS)[number];

/** The README bounds (filters/<name>/README.md, "Memory") with Envoy's defaults, for small configurations. */
export const MEMORY_BOUND_BYTES: Record<FilterName, number> = {
  "header-rewrite": 8 << 20,
  "payload-validator": 16 << 20,
  "rate-limiter": 8 << 20,
};

/** xorshift32: small, seeded, reproducible. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const NAMES = [
  "x-user",
  "x-big",
  "x-env",
  "content-type",
  "user-agent",
  "referer",
  "x-forwarded-for",
  "cookie",
];

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

export function configuration(rng: Rng, filter: FilterName): unknown {
  if (filter === "header-rewrite") {
    const rules = 1 + rng.int(rng.chance(0.2) ? 100 : 8);
    return {
      injection_id: "fuzz",
      rules: Array.from({ length: rules }, (_, i) => ({
        name: `r${i}`,
        ...(rng.chance(0.5)
          ? { match: { headers: [{ name: rng.pick(NAMES), present: rng.chance(0.5) }] } }
          : {}),
        [rng.chance(0.5) ? "request" : "response"]: Array.from({ length: 1 + rng.int(4) }, () =>
          rng.chance(0.2)
            ? { op: "remove", name: rng.pick(NAMES) }
            : {
                op: rng.pick(["set", "append"]),
                name: `x-out-${rng.int(5)}`,
                value:
                  Array.from({ length: rng.int(4) }, () => `\${request.header.${rng.pick(NAMES)}}`).join(
                    "-",
                  ) + "v",
              },
        ),
      })),
    };
  }
  if (filter === "payload-validator") {
    return {
      injection_id: "fuzz",
      mode: rng.chance(0.2) ? "monitor" : "enforce",
      ...(rng.chance(0.7) ? { max_body_bytes: 1 + rng.int(200_000) } : {}),
      ...(rng.chance(0.5) ? { body_required_methods: ["POST"], body_forbidden_methods: ["GET"] } : {}),
      ...(rng.chance(0.7)
        ? {
            json: {
              max_depth: 1 + rng.int(64),
              schema: { type: "object", properties: { a: { type: "integer" } } },
            },
          }
        : {}),
      deny: [
        { in: rng.pick(["body", "query", "path"]), contains: "${jndi:" },
        { in: "header", name: "x-user", contains: "evil" },
      ],
    };
  }
  return {
    injection_id: "fuzz",
    rules: [
      {
        name: "r",
        key: rng.pick([{ source: "global" }, { source: "global" }]),
        tokens_per_fill: 1 + rng.int(100),
        fill_interval_ms: 1 + rng.int(2000),
        max_tokens: 1 + rng.int(200),
      },
    ],
  };
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
  for (let i = 0; i < count; i++) headers.push([rng.pick(NAMES), value(rng)]);
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
  filter: FilterName;
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
  filters?: readonly FilterName[];
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
  statuses: Record<string, number>;
  seconds: number;
}

const modules = new Map<string, WebAssembly.Module>();
async function moduleOf(filter: FilterName): Promise<WebAssembly.Module> {
  let module = modules.get(filter);
  if (!module) {
    const { readFile } = await import("node:fs/promises");
    module = await WebAssembly.compile(
      (await readFile(path.join(buildDir, `${filter}.wasm`))) as Uint8Array<ArrayBuffer>,
    );
    modules.set(filter, module);
  }
  return module;
}

async function emulatorFor(filter: FilterName, config: unknown): Promise<Emulator | undefined> {
  try {
    return await Emulator.load({
      module: await moduleOf(filter),
      rootId: filter,
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
async function traps(filter: FilterName, config: unknown, request: HttpRequest): Promise<boolean> {
  const emulator = await emulatorFor(filter, config);
  return emulator !== undefined && emulator.request(request).outcome === "failed";
}

/** Shrinks a trapping request: drops headers, halves values, merges chunks, while it still traps. */
export async function minimise(
  filter: FilterName,
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
  const filters = options.filters ?? FILTERS;
  const per = options.perConfiguration ?? 500;
  const outDir = options.outDir ?? path.join(projectRoot, ".graft", "fuzz");
  const result: RequestFuzzResult = {
    requests: 0,
    configurations: 0,
    refusedConfigurations: 0,
    traps: 0,
    findings: [],
    maxMemoryBytes: {},
    statuses: {},
    seconds: 0,
  };
  let nextLog = 0;
  while (result.requests < options.requests) {
    const filter = filters[result.configurations % filters.length]!;
    const config = configuration(rng, filter);
    result.configurations++;
    const emulator = await emulatorFor(filter, config);
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
        const minimal = await minimise(filter, config, sent);
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
          bytes > MEMORY_BOUND_BYTES[filter] &&
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
 * A configuration variation for the differential, for filters this fuzzer knows; undefined for
 * others (they are replayed with their configs/good examples only). Rate limits refill at most one
 * token an hour, so that which request is refused does not hang on milliseconds between the two
 * backends' clocks.
 */
export function differentialConfiguration(rng: Rng, filter: string): unknown {
  if (filter === "rate-limiter") {
    return {
      injection_id: "diff",
      mode: rng.chance(0.3) ? "monitor" : "enforce",
      quota_headers: rng.chance(0.5),
      rules: Array.from({ length: 1 + rng.int(3) }, (_, i) => ({
        name: `r${i}`,
        ...(rng.chance(0.3) ? { match: { methods: ["GET", "POST"] } } : {}),
        key: rng.pick([
          { source: "global" },
          { source: "header", name: "x-user" },
          { source: "path", segments: 1 },
        ]),
        tokens_per_fill: 1,
        fill_interval_ms: 3_600_000,
        max_tokens: 1 + rng.int(30),
      })),
    };
  }
  if ((FILTERS as readonly string[]).includes(filter)) return configuration(rng, filter as FilterName);
  return undefined;
}

/** A request that HTTP/1.1 can carry as it is (end of stream comes after the body, as the codec delivers it). */
export function differentialRequest(rng: Rng): HttpRequest {
  const generated = request(rng);
  return { ...generated, endStreamWithLastChunk: false };
}
