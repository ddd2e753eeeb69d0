// Reference-differential run of filters/payload-validator: seeded (schema, document) pairs go
// through the filter in the host emulator and through a reference (strict UTF-8 + JSON.parse +
// the strictness graft documents, then ajv 2020-12), whole and chunked, on a fresh validator (a new
// VM) and on a pooled one (one VM per configuration that has served every earlier request,
// malformed ones included). Any verdict that differs is a disagreement; the few the filter's
// README documents are listed once, in DOCUMENTED_EXCEPTIONS.
//
//   node --import tsx filters/payload-validator/fuzz/differential.ts --pairs 1000000 --seed 1
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { Emulator, type StreamResult } from "../../../src/host/index.ts";
import { projectRoot } from "../../../src/util/paths.ts";
import {
  DEFAULT_MAX_DEPTH,
  DocumentGenerator,
  Random,
  chunkLengths,
  generateConfig,
  splitBytes,
  type GeneratedConfig,
  type MutationFamily,
  type Schema,
  type SchemaObject,
} from "./schema-generator.ts";

export const ROOT_ID = "payload-validator";
export const MODULE_PATH = path.join(projectRoot, "build", "payload-validator.wasm");

// ---- The reference ----

export type Verdict = "pass" | "invalid_json" | "schema";

export interface ReferenceVerdict {
  verdict: Verdict;
  why: string;
}

/** What a strict reading of well-formed JSON text finds that JSON.parse does not report. */
export interface JsonFacts {
  depth: number;
  duplicateKey: string | undefined;
  loneSurrogate: boolean;
  overflow: string | undefined;
  numbers: string[];
  /** Characters of the longest number token. */
  longestNumber: number;
  /** UTF-8 bytes of the longest key or string, decoded. */
  longestString: number;
}

/** Parser limits the filter's README states ("Edges, stated"): longer is invalid_json. */
export const MAX_NUMBER_CHARACTERS = 256;
export const MAX_STRING_BYTES = 1 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** End (exclusive) of the string token whose opening quote is at `at`. */
function stringEnd(bytes: Uint8Array, at: number): number {
  let i = at + 1;
  while (i < bytes.length && bytes[i] !== 0x22) i += bytes[i] === 0x5c ? 2 : 1;
  return i + 1;
}

function isNumberByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2b ||
    byte === 0x2e ||
    byte === 0x65 ||
    byte === 0x45
  );
}

/**
 * Scans text JSON.parse has accepted: nesting depth, the first duplicate key (decoded), lone
 * surrogate escapes, numbers that overflow a double. JSON.parse keeps the last duplicate and turns
 * overflow into Infinity and lone surrogates into lone UTF-16 units, so it cannot tell.
 */
export function scanFacts(bytes: Uint8Array): JsonFacts {
  const facts: JsonFacts = {
    depth: 0,
    duplicateKey: undefined,
    loneSurrogate: false,
    overflow: undefined,
    numbers: [],
    longestNumber: 0,
    longestString: 0,
  };
  const frames: { keys: Set<string> | undefined; expectKey: boolean }[] = [];
  let i = 0;
  while (i < bytes.length) {
    const byte = bytes[i]!;
    if (byte === 0x7b || byte === 0x5b) {
      frames.push({ keys: byte === 0x7b ? new Set() : undefined, expectKey: byte === 0x7b });
      facts.depth = Math.max(facts.depth, frames.length);
      i++;
    } else if (byte === 0x7d || byte === 0x5d) {
      frames.pop();
      i++;
    } else if (byte === 0x2c) {
      const top = frames[frames.length - 1];
      if (top?.keys) top.expectKey = true;
      i++;
    } else if (byte === 0x22) {
      const end = stringEnd(bytes, i);
      const text = JSON.parse(
        Buffer.from(bytes.buffer, bytes.byteOffset + i, end - i).toString("utf8"),
      ) as string;
      if (LONE_SURROGATE.test(text)) facts.loneSurrogate = true;
      facts.longestString = Math.max(facts.longestString, Buffer.byteLength(text));
      const top = frames[frames.length - 1];
      if (top?.keys && top.expectKey) {
        if (top.keys.has(text)) facts.duplicateKey ??= text;
        top.keys.add(text);
        top.expectKey = false;
      }
      i = end;
    } else if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) {
      let end = i + 1;
      while (end < bytes.length && isNumberByte(bytes[end]!)) end++;
      const text = Buffer.from(bytes.buffer, bytes.byteOffset + i, end - i).toString("latin1");
      facts.numbers.push(text);
      facts.longestNumber = Math.max(facts.longestNumber, text.length);
      if (!Number.isFinite(Number(text))) facts.overflow ??= text;
      i = end;
    } else i++;
  }
  return facts;
}

/** End of the first JSON value when more than whitespace follows it, else undefined (a rough cut; callers re-check). */
export function trailingDataStart(bytes: Uint8Array): number | undefined {
  let i = 0;
  while (i < bytes.length && isWhitespace(bytes[i]!)) i++;
  if (i >= bytes.length) return undefined;
  let end: number;
  const first = bytes[i]!;
  if (first === 0x7b || first === 0x5b) {
    let depth = 0;
    end = -1;
    for (let j = i; j < bytes.length;) {
      const byte = bytes[j]!;
      if (byte === 0x22) {
        j = stringEnd(bytes, j);
        continue;
      }
      if (byte === 0x7b || byte === 0x5b) depth++;
      else if (byte === 0x7d || byte === 0x5d) depth--;
      j++;
      if (depth === 0) {
        end = j;
        break;
      }
    }
    if (end < 0) return undefined;
  } else if (first === 0x22) end = stringEnd(bytes, i);
  else {
    end = i;
    while (end < bytes.length && (isNumberByte(bytes[end]!) || (bytes[end]! >= 0x61 && bytes[end]! <= 0x7a)))
      end++;
  }
  let rest = end;
  while (rest < bytes.length && isWhitespace(bytes[rest]!)) rest++;
  return rest < bytes.length && end <= bytes.length ? end : undefined;
}

/**
 * The value of well-formed JSON text in which a repeated key keeps its `k`-th occurrence (the last
 * when it has fewer): how a backend that is not JSON.parse may read the same body.
 */
export function parseKeepingOccurrence(text: string, k: number): unknown {
  let i = 0;
  const skipWhitespace = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const string = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): unknown => {
    skipWhitespace();
    const first = text[i];
    if (first === "{") {
      i++;
      const object: Record<string, unknown> = {};
      const seen = new Map<string, number>();
      skipWhitespace();
      if (text[i] === "}") return (i++, object);
      for (;;) {
        skipWhitespace();
        const key = string();
        skipWhitespace();
        i++; // :
        const member = value();
        const occurrence = seen.get(key) ?? 0;
        seen.set(key, occurrence + 1);
        if (occurrence <= k)
          Object.defineProperty(object, key, {
            value: member,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        skipWhitespace();
        if (text[i++] === "}") return object;
      }
    }
    if (first === "[") {
      i++;
      const array: unknown[] = [];
      skipWhitespace();
      if (text[i] === "]") return (i++, array);
      for (;;) {
        array.push(value());
        skipWhitespace();
        if (text[i++] === "]") return array;
      }
    }
    if (first === '"') return string();
    const start = i;
    while (i < text.length && !",]} \t\n\r".includes(text[i]!)) i++;
    return JSON.parse(text.slice(start, i));
  };
  return value();
}

/** JSON.parse + ajv, plus what graft documents as invalid JSON (assembly/README.md "JSON"). */
export class Reference {
  constructor(
    readonly config: GeneratedConfig,
    private validate: ValidateFunction,
  ) {}

  get maxDepth(): number {
    return this.config.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  get rejectsDuplicateKeys(): boolean {
    return this.config.rejectDuplicateKeys ?? true;
  }

  /** ajv's verdict on a value (not on text). */
  accepts(value: unknown): boolean {
    return this.validate(value) as boolean;
  }

  judge(bytes: Uint8Array): ReferenceVerdict {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return { verdict: "invalid_json", why: "invalid UTF-8" };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { verdict: "invalid_json", why: `JSON.parse: ${(error as Error).message}` };
    }
    const facts = scanFacts(bytes);
    if (facts.loneSurrogate) return { verdict: "invalid_json", why: "lone surrogate escape" };
    if (facts.overflow !== undefined)
      return { verdict: "invalid_json", why: `number out of range: ${facts.overflow}` };
    if (facts.depth > this.maxDepth) {
      return {
        verdict: "invalid_json",
        why: `nesting ${facts.depth} deeper than max_depth ${this.maxDepth}`,
      };
    }
    if (facts.longestNumber > MAX_NUMBER_CHARACTERS) {
      return { verdict: "invalid_json", why: `a number token of ${facts.longestNumber} characters` };
    }
    if (facts.longestString > MAX_STRING_BYTES) {
      return { verdict: "invalid_json", why: `a key or string of ${facts.longestString} bytes` };
    }
    if (facts.duplicateKey !== undefined && this.rejectsDuplicateKeys) {
      return { verdict: "invalid_json", why: `duplicate key ${JSON.stringify(facts.duplicateKey)}` };
    }
    if (this.validate(value)) return { verdict: "pass", why: "ajv: valid" };
    const error = this.validate.errors?.[0];
    return { verdict: "schema", why: `ajv: ${error?.instancePath || "/"} ${error?.message ?? "invalid"}` };
  }
}

export function newAjv(): Ajv2020 {
  // strictTypes off: the subset lets keywords stand without `type` (they then apply to their own
  // kind only), which strictTypes would refuse. Everything else stays strict.
  return new Ajv2020({
    strict: true,
    strictTypes: false,
    strictRequired: false,
    allowUnionTypes: true,
    allErrors: false,
    ownProperties: true,
    addUsedSchema: false,
  });
}

/**
 * The schema as ajv gets it. ajv 8 never reports a missing `""` listed in `required` (its generated
 * code tests `missing = ""`, which is falsy), so that one name is checked by an equivalent: an
 * object must have a property named "".
 */
export function forAjv(schema: Schema): Schema {
  if (typeof schema === "boolean") return schema;
  const copy: SchemaObject = { ...schema };
  if (copy.properties) {
    copy.properties = Object.fromEntries(
      Object.entries(copy.properties).map(([name, child]) => [name, forAjv(child)]),
    );
  }
  if (copy.items !== undefined) copy.items = forAjv(copy.items);
  if (copy.required?.includes("")) {
    copy.required = copy.required.filter((name) => name !== "");
    copy.anyOf = [{ not: { type: "object" } }, { not: { propertyNames: { not: { const: "" } } } }];
  }
  return copy;
}

export function referenceFor(ajv: Ajv2020, config: GeneratedConfig): Reference {
  return new Reference(config, ajv.compile(forAjv(config.schema)));
}

// ---- The filter ----

export interface FilterVerdict {
  verdict: Verdict | "other";
  status: number;
  reason: string;
  detail: string;
  /** The upstream got other bytes than the client sent. */
  bodyAltered: boolean;
}

const JSON_HEADERS = { "content-type": "application/json" };

export function filterVerdict(result: StreamResult, sent: Uint8Array): FilterVerdict {
  if (result.outcome === "continued" && result.status === 200) {
    const received = result.upstreamRequest?.body ?? new Uint8Array();
    return {
      verdict: "pass",
      status: 200,
      reason: "",
      detail: "",
      bodyAltered: !Buffer.from(received).equals(sent),
    };
  }
  let reason = result.details;
  let detail = "";
  try {
    const problem = JSON.parse(Buffer.from(result.responseBody).toString("utf8")) as {
      reason?: string;
      detail?: string;
    };
    reason = problem.reason ?? reason;
    detail = problem.detail ?? "";
  } catch {
    // Not problem+json (a trap's empty 503): the details say what happened.
  }
  const verdict =
    result.status === 400 && reason === "invalid_json"
      ? "invalid_json"
      : result.status === 422 && reason === "schema"
        ? "schema"
        : "other";
  return { verdict, status: result.status, reason, detail, bodyAltered: false };
}

export function send(emulator: Emulator, chunks: Uint8Array[]): StreamResult {
  return emulator.request({ method: "POST", path: "/", headers: JSON_HEADERS, body: chunks });
}

/** The compiled filter; retried because a concurrent `npm run build` may be rewriting it. */
export async function compileFilter(modulePath = MODULE_PATH): Promise<WebAssembly.Module> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await WebAssembly.compile(await readFile(modulePath));
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
}

export function loadFilter(module: WebAssembly.Module, config: GeneratedConfig): Promise<Emulator> {
  return Emulator.load({ module, rootId: ROOT_ID, configuration: config.configuration, workers: 1 });
}

// ---- Disagreements and documented exceptions ----

export type ValidatorKind = "fresh" | "pooled";

export interface SentRequest {
  documentBase64: string;
  documentText: string;
  chunkLengths: number[];
  status: number;
}

export interface Disagreement {
  category: string;
  /** Id of the documented exception it falls under; undefined: undocumented. */
  exception: string | undefined;
  pair: number;
  family: MutationFamily;
  mutation: string;
  schema: Schema;
  configuration: unknown;
  documentBase64: string;
  documentText: string;
  chunking: { strategy: string; lengths: number[] };
  validator: ValidatorKind;
  /** Pooled: the requests this worker served just before (oldest first). */
  previous: SentRequest[];
  filter: FilterVerdict;
  reference: ReferenceVerdict;
}

export interface ExceptionCase {
  bytes: Uint8Array;
  filter: FilterVerdict;
  expected: ReferenceVerdict;
  reference: Reference;
}

export interface DocumentedException {
  id: string;
  reason: string;
  /** Where the filter's documentation says so. */
  readme: string;
  matches(disagreement: ExceptionCase): boolean;
}

/**
 * Every disagreement the documentation accounts for: ONE list, each entry narrow, each with its own
 * test in filters/payload-validator/tests/differential.test.ts.
 */
export const DOCUMENTED_EXCEPTIONS: readonly DocumentedException[] = [
  {
    id: "first-failure-wins-before-trailing-data",
    reason:
      "The body is one complete JSON value that fails the schema, followed by more bytes. The filter judges as " +
      "the body streams and only the first failure counts, so it answers 422 schema at the value before it " +
      "reaches the trailing bytes that make the whole body invalid JSON.",
    readme:
      'filters/payload-validator/README.md, intro ("a failure is known at the byte that causes it") and ' +
      '"Rejections" ("Only the first failure counts: a request gets one reason")',
    matches: ({ bytes, filter, expected, reference }) => {
      if (expected.verdict !== "invalid_json" || filter.verdict !== "schema") return false;
      const end = trailingDataStart(bytes);
      return end !== undefined && reference.judge(bytes.subarray(0, end)).verdict === "schema";
    },
  },
  {
    id: "duplicate-keys-every-occurrence-checked",
    reason:
      "With reject_duplicate_keys false, every occurrence of a repeated key is checked against the schema, not " +
      "only the last one JSON.parse keeps: backends differ in which one they keep, and the filter must hold for " +
      "each. So the filter refuses (422) a body whose last occurrences pass but an earlier one does not.",
    readme:
      'filters/payload-validator/README.md, "Edges, stated" ("Duplicate keys, when allowed … Every occurrence of ' +
      'a repeated key is checked against the schema, not only the last")',
    matches: ({ bytes, filter, expected, reference }) => {
      if (reference.rejectsDuplicateKeys || expected.verdict !== "pass" || filter.verdict !== "schema")
        return false;
      if (scanFacts(bytes).duplicateKey === undefined) return false;
      const text = Buffer.from(bytes).toString("utf8");
      // Each reading that keeps the k-th occurrence of every repeated key; one the schema refuses
      // is what the filter's every-occurrence check refuses.
      for (let k = 0; k < 8; k++) if (!reference.accepts(parseKeepingOccurrence(text, k))) return true;
      return false;
    },
  },
];

export function documentedException(disagreement: ExceptionCase): DocumentedException | undefined {
  return DOCUMENTED_EXCEPTIONS.find((exception) => exception.matches(disagreement));
}

/** Numbers the filter reads without parseFloat: at most 16 characters, no exponent (assembly/json.ts numberValue). */
function readWithoutParseFloat(text: string): boolean {
  return text.length <= 16 && /^-?\d+(\.\d+)?$/.test(text);
}

function numberTexts(text: string): string[] {
  return text.match(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g) ?? [];
}

const NUMBER_DETAIL = /minimum|maximum|exclusive|integer|number|allowed values|constant|out of range/;

export interface Observation {
  bytes: Uint8Array;
  filter: FilterVerdict;
  reference: ReferenceVerdict;
  validator: ValidatorKind;
  chunked: boolean;
  /** The same delivery on a fresh validator agreed with the reference. */
  freshAgreed: boolean;
  /** The whole body on the same kind of validator agreed with the reference. */
  wholeAgreed: boolean;
}

/** A cause, as far as it can be told from the outside; the categories the summary counts by. */
export function classify(observation: Observation, config: GeneratedConfig): string {
  const { bytes, filter, reference } = observation;
  if (filter.status === 503) return "trap";
  if (filter.verdict === "other") return "unexpected-reply";
  if (filter.bodyAltered) return "body-altered";
  if (observation.validator === "pooled" && observation.freshAgreed) return "pooled-state";
  const text = Buffer.from(bytes).toString("latin1");
  if (config.rejectDuplicateKeys === false && /"/.test(text) && reference.verdict !== "invalid_json") {
    if (scanFacts(bytes).duplicateKey !== undefined) return "duplicate-keys-allowed";
  }
  const numbers = numberTexts(text);
  if (filter.verdict === "invalid_json" && /longer than the limit/.test(filter.detail)) return "parser-limit";
  const schemaNumbers = numberTexts(JSON.stringify(config.schema));
  const slowNumbers = [...numbers, ...schemaNumbers].some((number) => !readWithoutParseFloat(number));
  const aboutNumbers =
    filter.verdict === "pass" || NUMBER_DETAIL.test(filter.detail) || reference.why.includes("must be");
  if (slowNumbers && aboutNumbers) return "number-parse";
  if (observation.chunked && observation.wholeAgreed) return "chunking";
  return "other";
}

// ---- One case ----

export interface CaseDelivery {
  bytes: Uint8Array;
  /** Chunk lengths; one chunk (content-length) unless given. */
  lengths?: number[];
}

export interface CaseResult {
  filter: FilterVerdict;
  reference: ReferenceVerdict;
  exception: DocumentedException | undefined;
}

let compiledFilter: Promise<WebAssembly.Module> | undefined;

/**
 * One document through a new VM (after `before`, sent on the same VM: its validator is then a
 * pooled one) and through the reference.
 */
export async function checkCase(
  config: GeneratedConfig,
  delivery: CaseDelivery,
  before: CaseDelivery[] = [],
): Promise<CaseResult> {
  compiledFilter ??= compileFilter();
  const emulator = await loadFilter(await compiledFilter, config);
  for (const earlier of before)
    send(emulator, splitBytes(earlier.bytes, earlier.lengths ?? [earlier.bytes.length]));
  const { bytes } = delivery;
  const filter = filterVerdict(send(emulator, splitBytes(bytes, delivery.lengths ?? [bytes.length])), bytes);
  const reference = referenceFor(newAjv(), config);
  const expected = reference.judge(bytes);
  const exception = documentedException({ bytes, filter, expected, reference });
  return { filter, reference: expected, exception };
}

// ---- The run ----

export interface DifferentialOptions {
  pairs: number;
  seed: number;
  log?: (line: string) => void;
  /** Documents per generated configuration (one pooled VM each). Default 20. */
  pairsPerConfiguration?: number;
  /** Run every pair on fresh VMs too (two instantiations per pair). Default true. */
  fresh?: boolean;
  /** Shortest examples kept per category. Default 10. */
  examplesPerCategory?: number;
  modulePath?: string;
}

export interface DifferentialReport {
  pairs: number;
  requests: number;
  configurations: number;
  seconds: number;
  pairsPerSecond: number;
  /** The shortest examples of each category, shortest first. */
  disagreements: Disagreement[];
  /** Disagreements (requests) by category; documented ones as `documented:<exception id>`. */
  counts: Record<string, number>;
  undocumented: number;
  /** Reference verdicts of the pairs. */
  verdicts: Record<Verdict, number>;
  /** Pairs by mutation family, and by mutation. */
  families: Record<string, number>;
  mutations: Record<string, number>;
}

/** Renders bytes as text: valid UTF-8 as it is, other bytes as \xNN. */
export function printable(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const byte = bytes[i]!;
    const length = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    try {
      out += utf8.decode(bytes.subarray(i, i + length));
      i += length;
    } catch {
      out += `\\x${byte.toString(16).toUpperCase().padStart(2, "0")}`;
      i++;
    }
  }
  return out;
}

function sentRequest(bytes: Uint8Array, lengths: number[], status: number): SentRequest {
  return {
    documentBase64: Buffer.from(bytes).toString("base64"),
    documentText: printable(bytes),
    chunkLengths: lengths,
    status,
  };
}

class Findings {
  readonly counts: Record<string, number> = {};
  undocumented = 0;
  private examples = new Map<string, Disagreement[]>();

  constructor(private perCategory: number) {}

  add(disagreement: Disagreement): void {
    const key = disagreement.exception ? `documented:${disagreement.exception}` : disagreement.category;
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    if (!disagreement.exception) this.undocumented++;
    const kept = this.examples.get(key) ?? [];
    kept.push(disagreement);
    kept.sort((a, b) => a.documentBase64.length - b.documentBase64.length);
    if (kept.length > this.perCategory) kept.pop();
    this.examples.set(key, kept);
  }

  all(): Disagreement[] {
    return [...this.examples.values()].flat();
  }
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export async function runDifferential(options: DifferentialOptions): Promise<DifferentialReport> {
  const log = options.log ?? (() => {});
  const perConfiguration = options.pairsPerConfiguration ?? 20;
  const fresh = options.fresh ?? true;
  const module = await compileFilter(options.modulePath);
  const ajv = newAjv();
  const rng = new Random(options.seed);
  const findings = new Findings(options.examplesPerCategory ?? 10);
  const verdicts: Record<Verdict, number> = { pass: 0, invalid_json: 0, schema: 0 };
  const families: Record<string, number> = {};
  const mutations: Record<string, number> = {};
  const started = performance.now();
  let requests = 0;
  let configurations = 0;
  let pair = 0;
  let lastLog = started;

  while (pair < options.pairs) {
    const configRng = rng.fork();
    const config = generateConfig(configRng);
    configurations++;
    const reference = referenceFor(ajv, config);
    let pooled: Emulator;
    try {
      pooled = await loadFilter(module, config);
    } catch (error) {
      findings.add({
        category: "configuration-refused",
        exception: undefined,
        pair,
        family: "none",
        mutation: "none",
        schema: config.schema,
        configuration: config.configuration,
        documentBase64: "",
        documentText: (error as Error).message.split("\n").slice(-2).join(" "),
        chunking: { strategy: "none", lengths: [] },
        validator: "fresh",
        previous: [],
        filter: {
          verdict: "other",
          status: 0,
          reason: "configuration refused",
          detail: "",
          bodyAltered: false,
        },
        reference: { verdict: "pass", why: "ajv compiled the schema" },
      });
      pair += perConfiguration;
      continue;
    }
    const history: SentRequest[] = [];
    const generator = new DocumentGenerator(
      configRng,
      config,
      (bytes) => reference.judge(bytes).verdict === "pass",
    );

    for (let n = 0; n < perConfiguration && pair < options.pairs; n++, pair++) {
      const document = generator.next();
      const bytes = document.bytes;
      const expected = reference.judge(bytes);
      bump(verdicts, expected.verdict);
      bump(families, document.family);
      bump(mutations, document.mutation);
      const whole = { strategy: "whole", lengths: [bytes.length] };
      const chunked = chunkLengths(configRng, bytes);
      const deliveries = [whole, chunked];

      const results = new Map<string, FilterVerdict>();
      const previousFor = new Map<string, SentRequest[]>();
      for (const kind of fresh ? (["fresh", "pooled"] as const) : (["pooled"] as const)) {
        for (const delivery of deliveries) {
          let emulator = pooled;
          if (kind === "fresh") emulator = await loadFilter(module, config);
          else
            previousFor.set(
              `${kind}/${delivery.strategy === "whole" ? "whole" : "chunked"}`,
              history.slice(-2),
            );
          const result = send(emulator, splitBytes(bytes, delivery.lengths));
          requests++;
          const verdict = filterVerdict(result, bytes);
          results.set(`${kind}/${delivery === whole ? "whole" : "chunked"}`, verdict);
          if (kind === "pooled") {
            history.push(sentRequest(bytes, delivery.lengths, verdict.status));
            if (history.length > 2) history.shift();
            if (verdict.status === 503) pooled = await loadFilter(module, config); // a trapped VM stays failed
          }
        }
      }

      for (const [key, verdict] of results) {
        if (verdict.verdict === expected.verdict && !verdict.bodyAltered) continue;
        const [kind, shape] = key.split("/") as [ValidatorKind, "whole" | "chunked"];
        const agrees = (other: FilterVerdict | undefined) => other?.verdict === expected.verdict;
        const observation: Observation = {
          bytes,
          filter: verdict,
          reference: expected,
          validator: kind,
          chunked: shape === "chunked",
          freshAgreed: agrees(results.get(`fresh/${shape}`)),
          wholeAgreed: agrees(results.get(`${kind}/whole`)),
        };
        const exception = documentedException({ bytes, filter: verdict, expected, reference });
        findings.add({
          category: classify(observation, config),
          exception: exception?.id,
          pair,
          family: document.family,
          mutation: document.mutation,
          schema: config.schema,
          configuration: config.configuration,
          documentBase64: Buffer.from(bytes).toString("base64"),
          documentText: printable(bytes),
          chunking: shape === "whole" ? whole : chunked,
          validator: kind,
          previous: kind === "pooled" ? (previousFor.get(key) ?? []) : [],
          filter: verdict,
          reference: expected,
        });
      }

      const now = performance.now();
      if (now - lastLog > 10000) {
        lastLog = now;
        log(
          `${pair + 1} pairs, ${requests} requests, ${findings.undocumented} undocumented disagreements, ${((pair + 1) / ((now - started) / 1000)).toFixed(0)} pairs/s`,
        );
      }
    }
    ajv.removeSchema();
  }

  const seconds = (performance.now() - started) / 1000;
  return {
    pairs: pair,
    requests,
    configurations,
    seconds,
    pairsPerSecond: pair / seconds,
    disagreements: findings.all(),
    counts: findings.counts,
    undocumented: findings.undocumented,
    verdicts,
    families,
    mutations,
  };
}

// ---- Reporting ----

export function describeDisagreement(disagreement: Disagreement): string {
  const lines = [
    `[${disagreement.exception ? `documented: ${disagreement.exception}` : disagreement.category}] pair ${disagreement.pair}, ${disagreement.validator} validator, ${disagreement.chunking.strategy} delivery, mutation ${disagreement.family}/${disagreement.mutation}`,
    `  configuration: ${JSON.stringify(disagreement.configuration)}`,
    `  document:      ${JSON.stringify(disagreement.documentText)} (base64 ${disagreement.documentBase64})`,
    `  chunks:        ${JSON.stringify(disagreement.chunking.lengths)}`,
    `  filter:        ${disagreement.filter.status} ${disagreement.filter.reason} ${disagreement.filter.detail}${disagreement.filter.bodyAltered ? " (upstream got other bytes)" : ""}`,
    `  reference:     ${disagreement.reference.verdict} (${disagreement.reference.why})`,
  ];
  for (const previous of disagreement.previous) {
    lines.push(
      `  after:         ${JSON.stringify(previous.documentText)} in chunks ${JSON.stringify(previous.chunkLengths)} → ${previous.status}`,
    );
  }
  return lines.join("\n");
}

export function summarize(report: DifferentialReport, examplesPerCategory = 2): string {
  const lines = [
    `pairs: ${report.pairs} (${report.configurations} configurations), requests: ${report.requests}`,
    `time: ${report.seconds.toFixed(1)} s, ${report.pairsPerSecond.toFixed(0)} pairs/s, ${(report.requests / report.seconds).toFixed(0)} requests/s`,
    `reference verdicts: ${JSON.stringify(report.verdicts)}`,
    `mutation families: ${JSON.stringify(report.families)}`,
    `disagreements (requests) by category: ${Object.keys(report.counts).length === 0 ? "none" : ""}`,
    ...Object.entries(report.counts)
      .sort(([, a], [, b]) => b - a)
      .map(([category, count]) => `  ${category}: ${count}`),
    `undocumented disagreements: ${report.undocumented}`,
  ];
  const byCategory = new Map<string, Disagreement[]>();
  for (const disagreement of report.disagreements) {
    const key = disagreement.exception ? `documented:${disagreement.exception}` : disagreement.category;
    byCategory.set(key, [...(byCategory.get(key) ?? []), disagreement]);
  }
  for (const [category, examples] of byCategory) {
    lines.push(`\nshortest examples of ${category}:`);
    for (const example of examples.slice(0, examplesPerCategory)) lines.push(describeDisagreement(example));
  }
  return lines.join("\n");
}

function argument(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number`);
  return value;
}

async function main(args: string[]): Promise<number> {
  const report = await runDifferential({
    pairs: argument(args, "--pairs", 10000),
    seed: argument(args, "--seed", 1),
    pairsPerConfiguration: argument(args, "--per-configuration", 20),
    fresh: !args.includes("--no-fresh"),
    examplesPerCategory: argument(args, "--examples", 10),
    log: (line) => console.error(line),
  });
  console.log(summarize(report, argument(args, "--show", 3)));
  return report.undocumented === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
