// Seeded generation of payload-validator configurations (a JSON Schema within the documented
// subset, max_depth, reject_duplicate_keys) and of request bodies *near* each schema: a valid
// document, then at most one mutation that may break the schema, strict JSON, or graft's limits.
// Bodies are bytes, so invalid UTF-8 can be expressed. The generator never judges a document: the
// differential compares the filter with JSON.parse + ajv on whatever bytes come out.
//
// Ordering matters to the expected verdict: the filter stops at the first failure as it streams,
// so a document that is invalid JSON *and* breaks the schema earlier would get 422, not 400. To
// keep the reference simple, breaking mutations (syntax, UTF-8, depth, duplicates, overflow) are
// applied only to documents the reference finds schema-valid, and never cut a number token short
// (a shortened number is a different value, checked before the syntax error).

// ---- Seeded randomness ----

/** mulberry32: small, fast, and good enough to spread cases; the same seed gives the same run. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.int(items.length)]!;
  }

  /** Picks by weight: `[[weight, value], …]`. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let roll = this.float() * total;
    for (const [weight, value] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return choices[choices.length - 1]![1];
  }

  /** A new generator seeded from this one (so sub-streams do not shift each other). */
  fork(): Random {
    return new Random(this.int(0x100000000));
  }
}

// ---- Schemas ----

export const TYPE_NAMES = ["null", "boolean", "integer", "number", "string", "array", "object"] as const;
export type TypeName = (typeof TYPE_NAMES)[number];
export type Scalar = string | number | boolean | null;
export type Schema = boolean | SchemaObject;
export interface SchemaObject {
  type?: TypeName | TypeName[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  enum?: Scalar[];
  const?: Scalar;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  [annotation: string]: unknown;
}

export interface GeneratedConfig {
  schema: Schema;
  /** As configured; undefined = the filter's default (32). */
  maxDepth: number | undefined;
  /** As configured; undefined = the filter's default (true). */
  rejectDuplicateKeys: boolean | undefined;
  /** The payload-validator configuration sent to the filter. */
  configuration: { mode: "enforce"; json: Record<string, unknown> };
}

export const DEFAULT_MAX_DEPTH = 32;

// Object-prototype names (constructor, __proto__, toString) are left out: ajv reads properties as
// JS object members, and forbidden_keys is not what this suite is about.
const NAMES = [
  "id",
  "name",
  "a",
  "b",
  "c",
  "items",
  "note",
  "price",
  "é",
  "ключ",
  "日本",
  "😀",
  "a b",
  "",
  "x/y",
  "~t",
  "tab\t",
  'q"uote',
  "back\\slash",
  "n0",
  "n1",
  "€uro",
  "e\u0301",
];

const STRINGS = [
  "EUR",
  "USD",
  "",
  "é",
  "e\u0301",
  "😀",
  'a"b',
  "x\\y",
  "\u0000",
  "日本",
  "1",
  "true",
  "null",
  "a b",
];

/** Bounds and values where parsers and comparisons go wrong: neighbours, midpoints, huge, tiny. */
const AWKWARD_NUMBERS = [
  0,
  1,
  -1,
  10,
  13,
  100,
  0.1,
  0.3,
  2.5,
  -7.25,
  1e21,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53) - 2,
  Number("9007199254740993e37"),
  1e300,
  -1e300,
  1.7976931348623157e308,
  5e-324,
  2.2250738585072014e-308,
  12.999999999999998,
  9.999999999999998,
  0.30000000000000004,
  1 / 3,
  123456789.12345678,
  1e-7,
  4.35,
];

const SCALARS: Scalar[] = [
  ...STRINGS,
  0,
  1,
  -1,
  1.5,
  0.1,
  100,
  1e21,
  2 ** 53,
  12.999999999999998,
  13,
  true,
  false,
  null,
];

const ANNOTATIONS: Record<string, (rng: Random) => unknown> = {
  title: () => "a title",
  description: () => "what it is ✓",
  $comment: () => "why",
  default: (rng) => rng.pick([0, "x", null, { a: [1] }]),
  examples: () => [1, "two", { three: 3 }],
  deprecated: (rng) => rng.chance(0.5),
  readOnly: () => false,
  writeOnly: () => false,
};

function sameScalar(a: Scalar, b: Scalar): boolean {
  return typeof a === typeof b && (a === b || (Number.isNaN(a) && Number.isNaN(b)));
}

function distinctScalars(rng: Random, count: number): Scalar[] {
  const values: Scalar[] = [];
  for (let i = 0; i < count; i++) {
    const value = rng.chance(0.3) ? rng.pick(AWKWARD_NUMBERS) : rng.pick(SCALARS);
    if (!values.some((known) => sameScalar(known, value))) values.push(value);
  }
  return values;
}

function boundValue(rng: Random, integer: boolean): number {
  const value = rng.weighted<() => number>([
    [4, () => rng.pick(AWKWARD_NUMBERS)],
    [3, () => rng.between(-20, 20)],
    [1, () => (rng.float() - 0.5) * 10 ** rng.between(-5, 25)],
  ])();
  return integer && rng.chance(0.7) ? Math.round(value) : value;
}

function addNumberBounds(rng: Random, schema: SchemaObject, integer: boolean): void {
  for (const keyword of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] as const) {
    if (rng.chance(0.3)) schema[keyword] = boundValue(rng, integer);
  }
  // The filter refuses minimum > maximum at configure time (documented); keep the pair ordered.
  if (schema.minimum !== undefined && schema.maximum !== undefined && schema.minimum > schema.maximum) {
    [schema.minimum, schema.maximum] = [schema.maximum, schema.minimum];
  }
  if (
    schema.exclusiveMinimum !== undefined &&
    schema.exclusiveMaximum !== undefined &&
    schema.exclusiveMinimum > schema.exclusiveMaximum
  ) {
    [schema.exclusiveMinimum, schema.exclusiveMaximum] = [schema.exclusiveMaximum, schema.exclusiveMinimum];
  }
}

/** min/max pairs the filter checks for contradiction are generated ordered. */
function addCounts(rng: Random, schema: SchemaObject, min: string, max: string, largest: number): void {
  const low = rng.chance(0.4) ? rng.between(0, largest) : undefined;
  const high = rng.chance(0.4) ? rng.between(low ?? 0, Math.max(low ?? 0, largest)) : undefined;
  if (low !== undefined) schema[min] = low;
  if (high !== undefined) schema[max] = high;
}

function addStringKeywords(rng: Random, schema: SchemaObject): void {
  addCounts(rng, schema, "minLength", "maxLength", rng.chance(0.1) ? 40 : 6);
}

function addArrayKeywords(rng: Random, schema: SchemaObject, depthLeft: number): void {
  if (rng.chance(0.75)) schema.items = generateSchema(rng, depthLeft - 1);
  addCounts(rng, schema, "minItems", "maxItems", 4);
}

function addObjectKeywords(rng: Random, schema: SchemaObject, depthLeft: number): void {
  // Wide objects take the filter's hashed name lookup (more than 8 names) and the 64-bit
  // required mask (up to 64 names).
  const wide = rng.chance(0.06);
  const names: string[] = [];
  const count = wide ? rng.between(9, 70) : rng.between(0, 5);
  for (let i = 0; i < count; i++) {
    const name = wide && rng.chance(0.8) ? `p${i}` : rng.pick(NAMES);
    if (!names.includes(name)) names.push(name);
  }
  const properties: Record<string, Schema> = {};
  for (const name of names) {
    if (rng.chance(0.8)) properties[name] = generateSchema(rng, wide ? 0 : depthLeft - 1);
  }
  if (Object.keys(properties).length > 0 || rng.chance(0.2)) schema.properties = properties;
  const required = names.filter(() => rng.chance(wide ? 0.9 : 0.5)).slice(0, 64);
  if (rng.chance(0.15)) {
    const outsider = rng.pick(NAMES);
    if (!required.includes(outsider) && required.length < 64) required.push(outsider);
  }
  if (required.length > 0) schema.required = required;
  const additional = rng.weighted<boolean | undefined>([
    [4, undefined],
    [3, false],
    [3, true],
  ]);
  if (additional !== undefined) schema.additionalProperties = additional;
  addCounts(rng, schema, "minProperties", "maxProperties", wide ? 70 : 5);
}

function addKeywordsFor(rng: Random, schema: SchemaObject, type: TypeName, depthLeft: number): void {
  if (type === "string") addStringKeywords(rng, schema);
  else if (type === "number") addNumberBounds(rng, schema, false);
  else if (type === "integer") addNumberBounds(rng, schema, true);
  else if (type === "array" && depthLeft > 0) addArrayKeywords(rng, schema, depthLeft);
  else if (type === "object" && depthLeft > 0) addObjectKeywords(rng, schema, depthLeft);
}

/** A schema of the subset, nesting containers at most `depthLeft` deep. */
export function generateSchema(rng: Random, depthLeft: number): Schema {
  const shape = rng.weighted<string>([
    [4, "true"],
    [1, "false"],
    [3, "unconstrained"],
    [depthLeft > 0 ? 20 : 0, "object"],
    [depthLeft > 0 ? 12 : 0, "array"],
    [14, "string"],
    [11, "number"],
    [10, "integer"],
    [4, "boolean"],
    [3, "null"],
    [8, "enum"],
    [5, "const"],
    [8, "union"],
    [4, "typeless"],
  ]);
  if (shape === "true") return true;
  if (shape === "false") return false;
  const schema: SchemaObject = {};
  if (shape === "enum" || shape === "const") {
    if (rng.chance(0.3)) schema.type = rng.pick(["string", "number", "integer", "boolean", "null"] as const);
    if (shape === "enum") schema.enum = distinctScalars(rng, rng.between(1, 5));
    else schema.const = rng.chance(0.3) ? rng.pick(AWKWARD_NUMBERS) : rng.pick(SCALARS);
    if (shape === "enum" && rng.chance(0.1)) schema.const = rng.pick(schema.enum!);
    if (schema.type === "string" || schema.type === undefined) addStringKeywords(rng, schema);
    if (schema.type === "number" || schema.type === "integer") addNumberBounds(rng, schema, false);
  } else if (shape === "union") {
    const types = [...TYPE_NAMES].filter(() => rng.chance(0.35));
    if (types.length === 0) types.push(rng.pick(TYPE_NAMES));
    schema.type = types.length === 1 && rng.chance(0.5) ? types[0]! : types;
    for (const type of types) addKeywordsFor(rng, schema, type, depthLeft);
  } else if (shape === "typeless") {
    // Keywords without `type` apply only to values of their kind.
    for (const type of TYPE_NAMES) if (rng.chance(0.4)) addKeywordsFor(rng, schema, type, depthLeft);
  } else if (shape !== "unconstrained") {
    schema.type = shape as TypeName;
    addKeywordsFor(rng, schema, shape as TypeName, depthLeft);
  }
  for (const [name, value] of Object.entries(ANNOTATIONS)) if (rng.chance(0.03)) schema[name] = value(rng);
  return schema;
}

/** Free value positions (no constraint) get random values up to this many containers deep. */
const FREE_DEPTH = 2;

/** Containers a generated document can nest (valid or after a shape-changing mutation). */
export function documentDepthBound(schema: Schema | undefined): number {
  if (schema === undefined || typeof schema === "boolean" || isUnconstrained(schema)) return FREE_DEPTH;
  const children = [
    ...Object.values(schema.properties ?? {}).map(documentDepthBound),
    schema.items === undefined ? FREE_DEPTH : documentDepthBound(schema.items),
    FREE_DEPTH,
  ];
  return 1 + Math.max(...children);
}

/** The configuration of a given schema (hand-written cases use it too). */
export function configFor(schema: Schema, maxDepth?: number, rejectDuplicateKeys?: boolean): GeneratedConfig {
  const json: Record<string, unknown> = { schema };
  if (maxDepth !== undefined) json.max_depth = maxDepth;
  if (rejectDuplicateKeys !== undefined) json.reject_duplicate_keys = rejectDuplicateKeys;
  return { schema, maxDepth, rejectDuplicateKeys, configuration: { mode: "enforce", json } };
}

export function generateConfig(rng: Random): GeneratedConfig {
  const schema = generateSchema(rng, rng.between(0, 4));
  if (typeof schema === "object" && rng.chance(0.05))
    schema.$schema = "https://json-schema.org/draft/2020-12/schema";
  // max_depth at least one above what valid documents and schema mutations reach, so only the
  // deep-nesting mutation crosses it; sometimes the default (32).
  const bound = documentDepthBound(schema) + 1;
  const maxDepth = rng.chance(0.03)
    ? 1024 // the largest allowed: deep-nesting mutations then send 1024 and 1025 levels
    : bound <= DEFAULT_MAX_DEPTH && rng.chance(0.25)
      ? undefined
      : bound + rng.int(4);
  const rejectDuplicateKeys = rng.weighted<boolean | undefined>([
    [4, undefined],
    [3, true],
    [3, false],
  ]);
  return configFor(schema, maxDepth, rejectDuplicateKeys);
}

export function isUnconstrained(schema: Schema): boolean {
  if (schema === true) return true;
  if (schema === false) return false;
  return Object.keys(schema).every((key) => key in ANNOTATIONS || key === "$schema");
}

// ---- Numbers: exact decimals, neighbours, midpoints ----

const float = new Float64Array(1);
const bits = new BigUint64Array(float.buffer);

/** The next double above `x` (finite x). */
export function nextUp(x: number): number {
  if (x === 0) return 5e-324;
  float[0] = x;
  bits[0] = x > 0 ? bits[0]! + 1n : bits[0]! - 1n;
  return float[0]!;
}

export function nextDown(x: number): number {
  return -nextUp(-x);
}

/** |x| as mantissa × 2^exponent, exactly. */
function binary(x: number): { mantissa: bigint; exponent: number } {
  float[0] = Math.abs(x);
  const raw = bits[0]!;
  const biased = Number((raw >> 52n) & 0x7ffn);
  const fraction = raw & ((1n << 52n) - 1n);
  if (biased === 0) return { mantissa: fraction, exponent: -1074 };
  return { mantissa: fraction | (1n << 52n), exponent: biased - 1075 };
}

/** A decimal value: digits × 10^exponent, digits without leading zeros ("0" for zero). */
export interface Decimal {
  negative: boolean;
  digits: string;
  exponent: number;
}

function decimalOf(mantissa: bigint, exponent2: number, negative: boolean): Decimal {
  let digits: string;
  let exponent = 0;
  if (exponent2 >= 0) digits = (mantissa << BigInt(exponent2)).toString();
  else {
    digits = (mantissa * 5n ** BigInt(-exponent2)).toString();
    exponent = exponent2;
  }
  const trimmed = digits.replace(/0+$/, "");
  if (trimmed === "") return { negative, digits: "0", exponent: 0 };
  return { negative, digits: trimmed, exponent: exponent + digits.length - trimmed.length };
}

/** The exact decimal value of a double. */
export function exactDecimal(x: number): Decimal {
  const { mantissa, exponent } = binary(x);
  return decimalOf(mantissa, exponent, x < 0 || Object.is(x, -0));
}

/** The exact midpoint of two finite doubles of the same sign, a < b (or both ≥ 0). */
export function exactMidpoint(a: number, b: number): Decimal {
  const negative = a < 0 && b <= 0;
  const x = binary(a);
  const y = binary(b);
  const low = Math.min(x.exponent, y.exponent);
  const sum = (x.mantissa << BigInt(x.exponent - low)) + (y.mantissa << BigInt(y.exponent - low));
  return decimalOf(sum, low - 1, negative);
}

/** JSON text of a decimal: plain or scientific. */
export function decimalText(value: Decimal, scientific: boolean, upperE = false): string {
  const sign = value.negative ? "-" : "";
  const { digits, exponent } = value;
  const e = upperE ? "E" : "e";
  if (scientific) {
    const power = exponent + digits.length - 1;
    return `${sign}${digits[0]}${digits.length > 1 ? "." + digits.slice(1) : ""}${e}${power}`;
  }
  if (exponent >= 0) return sign + digits + "0".repeat(exponent);
  const point = digits.length + exponent;
  if (point > 0) return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${sign}0.${"0".repeat(-point)}${digits}`;
}

/** The decimal cut to `significant` digits, then moved by `step` units in the last kept digit. */
function nudged(value: Decimal, significant: number, step: -1 | 0 | 1): Decimal {
  if (value.digits.length <= significant && step === 0) return value;
  const kept = value.digits.slice(0, significant).padEnd(significant, "0");
  const exponent = value.exponent + value.digits.length - significant;
  const moved = BigInt(kept) + BigInt(step);
  const digits = moved > 0n ? moved.toString() : "0";
  return { negative: value.negative, digits, exponent };
}

/**
 * Decimal text of at most 256 characters (graft refuses longer number tokens, a documented limit
 * only the long-number mutation means to reach): scientific when plain is too long, undefined
 * when even that is.
 */
function shortDecimalText(value: Decimal, scientific: boolean): string | undefined {
  const plain = scientific ? undefined : decimalText(value, false);
  if (plain !== undefined && plain.length <= 64) return plain;
  const text = decimalText(value, true);
  return text.length <= 256 ? text : undefined;
}

/** Spellings of a double that JSON.parse reads back as exactly that double. */
export function spellNumber(rng: Random, x: number): string {
  const integer = Number.isInteger(x) && Math.abs(x) < 1e21;
  return rng.weighted<() => string>([
    [6, () => (Object.is(x, -0) ? "-0" : JSON.stringify(x))],
    [
      2,
      () =>
        x
          .toExponential()
          .replace("e+", rng.chance(0.5) ? "e+" : "e")
          .replace("e", rng.pick(["e", "E"])),
    ],
    [2, () => shortDecimalText(exactDecimal(x), rng.chance(0.5)) ?? JSON.stringify(x)],
    [2, () => (integer ? `${x}.${"0".repeat(rng.between(1, 3))}` : x.toPrecision(17))],
    [1, () => (integer && Math.abs(x) < 2 ** 49 && x !== 0 ? `${x * 10}e-1` : x.toPrecision(21))],
  ])();
}

/** Decimal text just below, at or just above the midpoint between two neighbouring doubles. */
export function nearMidpointText(rng: Random, low: number, high: number): string {
  const mid = exactMidpoint(low, high);
  const significant = rng.between(16, 24);
  const step = rng.pick([-1, 0, 1] as const);
  const tie = mid.digits.length <= 40 && rng.chance(0.3);
  // The tie itself rounds to even; a nudged one to the nearer side.
  const near = tie ? mid : nudged(mid, significant, step);
  return shortDecimalText(near, rng.chance(0.6)) ?? decimalText(nudged(mid, significant, step), true);
}

/** Mantissas with more digits than a double holds, times a power of ten (9007199254740993e37). */
export function longMantissaText(rng: Random): string {
  const mantissa = rng.pick([
    "9007199254740993",
    "18014398509481985",
    "12345678901234567890",
    "4503599627370497",
  ]);
  return `${rng.chance(0.2) ? "-" : ""}${mantissa}e${rng.between(-330, 290)}`;
}

/** Text of a number near `bound`: at it, a neighbour, a midpoint, or respelled. */
export function numberNear(rng: Random, bound: number): string {
  return rng.weighted<() => string>([
    [3, () => spellNumber(rng, bound)],
    [2, () => spellNumber(rng, nextUp(bound))],
    [2, () => spellNumber(rng, nextDown(bound))],
    [3, () => nearMidpointText(rng, bound, nextUp(bound))],
    [3, () => nearMidpointText(rng, nextDown(bound), bound)],
    [1, () => spellNumber(rng, bound + rng.pick([-1, 1, 0.5, -0.5]))],
  ])();
}

// ---- Documents ----

/** A document as a tree; `schema` is the schema its position must satisfy (undefined: none). */
export type DocNode = (
  | { kind: "object"; members: DocMember[] }
  | { kind: "array"; items: DocNode[] }
  | { kind: "string"; value: string }
  | { kind: "number"; text: string }
  | { kind: "literal"; text: "true" | "false" | "null" }
  /** JSON text written as it is: how mutations express what no value can (a lone surrogate). */
  | { kind: "raw"; text: string }
) & { schema?: Schema };

export interface DocMember {
  key: string;
  /** The key's JSON text as written, quotes included, instead of `key` serialized. */
  rawKey?: string;
  value: DocNode;
}

/** Characters by UTF-8 length: string lengths are code points, bytes differ. */
const CHARACTERS = [
  ["a", "z", "0", " ", "~", "/", '"', "\\", "\n", "\t", "\u0001", "\u001f", "\u007f"],
  ["é", "ß", "ж", "ÿ", "\u0080", "\u07ff", "\u0301"],
  ["€", "日", "\u0800", "\ufffd", "\ufeff", "\ue000", "\ud7ff", "\uffff"],
  ["😀", "\u{10000}", "\u{10ffff}", "𝄞"],
] as const;

function randomCharacter(rng: Random): string {
  return rng.pick(
    CHARACTERS[
      rng.weighted([
        [5, 0],
        [2, 1],
        [2, 2],
        [2, 3],
      ] as const)
    ]!,
  );
}

export function randomString(rng: Random, length: number): string {
  let text = "";
  for (let i = 0; i < length; i++) text += randomCharacter(rng);
  return text;
}

function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function randomScalar(rng: Random): DocNode {
  return rng.weighted<() => DocNode>([
    [3, () => ({ kind: "string", value: randomString(rng, rng.between(0, 6)) })],
    [
      3,
      () => ({
        kind: "number",
        text: spellNumber(rng, rng.chance(0.5) ? rng.pick(AWKWARD_NUMBERS) : rng.between(-99, 99)),
      }),
    ],
    [2, () => ({ kind: "literal", text: rng.pick(["true", "false", "null"] as const) })],
  ])();
}

/** Any value, at most `levels` containers deep. */
export function randomValue(rng: Random, levels: number): DocNode {
  if (levels <= 0 || rng.chance(0.6)) return randomScalar(rng);
  if (rng.chance(0.5)) {
    return {
      kind: "array",
      items: Array.from({ length: rng.between(0, 3) }, () => randomValue(rng, levels - 1)),
    };
  }
  const members: DocMember[] = [];
  for (let i = rng.between(0, 3); i > 0; i--) {
    const key = rng.pick(NAMES);
    if (!members.some((member) => member.key === key))
      members.push({ key, value: randomValue(rng, levels - 1) });
  }
  return { kind: "object", members };
}

function schemaTypes(schema: SchemaObject): TypeName[] {
  if (schema.type === undefined) return [...TYPE_NAMES];
  return Array.isArray(schema.type) ? schema.type : [schema.type];
}

function scalarFits(value: Scalar, types: TypeName[]): boolean {
  if (value === null) return types.includes("null");
  if (typeof value === "boolean") return types.includes("boolean");
  if (typeof value === "string") return types.includes("string");
  return types.includes("number") || (types.includes("integer") && Number.isInteger(value));
}

function scalarNode(rng: Random, value: Scalar): DocNode {
  if (value === null) return { kind: "literal", text: "null" };
  if (typeof value === "boolean") return { kind: "literal", text: value ? "true" : "false" };
  if (typeof value === "string") return { kind: "string", value };
  return { kind: "number", text: spellNumber(rng, value) };
}

/** The lowest and highest numbers the schema's bounds allow (doubles). */
function numberRange(schema: SchemaObject): [number, number] {
  let low = -Number.MAX_VALUE;
  let high = Number.MAX_VALUE;
  if (schema.minimum !== undefined) low = Math.max(low, schema.minimum);
  if (schema.exclusiveMinimum !== undefined) low = Math.max(low, nextUp(schema.exclusiveMinimum));
  if (schema.maximum !== undefined) high = Math.min(high, schema.maximum);
  if (schema.exclusiveMaximum !== undefined) high = Math.min(high, nextDown(schema.exclusiveMaximum));
  return [low, high];
}

function numberWithin(rng: Random, schema: SchemaObject, integer: boolean): string {
  const [low, high] = numberRange(schema);
  const bounded = low > -Number.MAX_VALUE || high < Number.MAX_VALUE;
  let value: number;
  if (!bounded) value = rng.chance(0.5) ? rng.pick(AWKWARD_NUMBERS) : rng.between(-1000, 1000);
  else {
    const finiteLow = low > -Number.MAX_VALUE ? low : Math.min(high, 0) - 100;
    const finiteHigh = high < Number.MAX_VALUE ? high : Math.max(low, 0) + 100;
    value = rng.weighted<() => number>([
      [2, () => finiteLow],
      [2, () => finiteHigh],
      [3, () => finiteLow + (finiteHigh - finiteLow) * rng.float()],
    ])();
  }
  if (integer) {
    value = Math.ceil(value);
    if (value > high) value = Math.floor(high);
  }
  if (!Number.isFinite(value)) value = 0;
  return rng.chance(0.15) && bounded ? numberNear(rng, value) : spellNumber(rng, value);
}

function stringWithin(rng: Random, schema: SchemaObject): string {
  const low = schema.minLength ?? 0;
  const high = Math.min(schema.maxLength ?? low + 6, low + 40);
  return randomString(rng, rng.chance(0.4) ? rng.pick([low, high]) : rng.between(low, high));
}

function shuffle<T>(rng: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function objectWithin(rng: Random, schema: SchemaObject): DocNode {
  const properties = schema.properties ?? {};
  const members: DocMember[] = [];
  const has = (key: string) => members.some((member) => member.key === key);
  const add = (key: string) => {
    if (has(key)) return;
    const child = properties[key];
    members.push({ key, value: child === undefined ? randomValue(rng, FREE_DEPTH) : validValue(rng, child) });
  };
  for (const name of schema.required ?? []) add(name);
  for (const name of Object.keys(properties)) if (properties[name] !== false && rng.chance(0.4)) add(name);
  const extraAllowed = schema.additionalProperties !== false;
  if (extraAllowed) for (let i = rng.between(0, 2); i > 0; i--) add(rng.pick(NAMES));
  const optional = Object.keys(properties).filter((name) => properties[name] !== false);
  for (let guard = 0; members.length < (schema.minProperties ?? 0) && guard < 100; guard++) {
    const candidates = optional.filter((name) => !has(name));
    if (candidates.length > 0) add(rng.pick(candidates));
    else if (extraAllowed) add(`x${guard}`);
    else break;
  }
  const required = new Set(schema.required ?? []);
  while (schema.maxProperties !== undefined && members.length > schema.maxProperties) {
    const index = members.findIndex((member) => !required.has(member.key));
    if (index < 0) break;
    members.splice(index, 1);
  }
  return { kind: "object", members: shuffle(rng, members) };
}

function arrayWithin(rng: Random, schema: SchemaObject): DocNode {
  const low = schema.minItems ?? 0;
  const high = Math.min(schema.maxItems ?? low + 3, low + 6);
  const count = rng.between(low, high);
  const items: DocNode[] = [];
  for (let i = 0; i < count; i++) {
    items.push(schema.items === undefined ? randomValue(rng, FREE_DEPTH) : validValue(rng, schema.items));
  }
  return { kind: "array", items };
}

/** A value meant to satisfy `schema` (the reference decides whether it does). */
export function validValue(rng: Random, schema: Schema): DocNode {
  const node = generateValue(rng, schema);
  node.schema = schema;
  return node;
}

function generateValue(rng: Random, schema: Schema): DocNode {
  if (typeof schema === "boolean" || isUnconstrained(schema)) return randomValue(rng, FREE_DEPTH);
  const types = schemaTypes(schema);
  const allowed = schema.enum ?? (schema.const !== undefined ? [schema.const] : undefined);
  if (allowed !== undefined) {
    const fitting = allowed.filter(
      (value) => scalarFits(value, types) && (schema.const === undefined || sameScalar(value, schema.const)),
    );
    return scalarNode(rng, fitting.length > 0 ? rng.pick(fitting) : rng.pick(allowed));
  }
  const type = rng.pick(types);
  switch (type) {
    case "null":
      return { kind: "literal", text: "null" };
    case "boolean":
      return { kind: "literal", text: rng.chance(0.5) ? "true" : "false" };
    case "integer":
    case "number":
      return { kind: "number", text: numberWithin(rng, schema, type === "integer") };
    case "string":
      return { kind: "string", value: stringWithin(rng, schema) };
    case "array":
      return arrayWithin(rng, schema);
    case "object":
      return objectWithin(rng, schema);
  }
}

// ---- Serializing ----

/** Byte ranges of tokens: where a cut would change a value, and where strings lie. */
export interface TokenSpan {
  start: number;
  end: number;
  kind: "string" | "key" | "number" | "literal" | "raw";
}

export interface SerializedDocument {
  bytes: Buffer;
  spans: TokenSpan[];
}

interface WriteStyle {
  /** 0 compact, 1 spaces, 2 newlines and indents, 3 random whitespace. */
  whitespace: number;
  /** Chance that a character that may stand raw is written as an escape instead. */
  escapeRate: number;
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

function unicodeEscape(rng: Random, unit: number): string {
  const hex = unit.toString(16).padStart(4, "0");
  return "\\u" + (rng.chance(0.5) ? hex : hex.toUpperCase());
}

/** A string's JSON text: every character raw or escaped (\uXXXX, surrogate pairs, \/, short forms). */
export function quote(rng: Random, value: string, escapeRate: number): string {
  let out = '"';
  for (const character of value) {
    const point = character.codePointAt(0)!;
    const mustEscape = point < 0x20 || character === '"' || character === "\\";
    if (!mustEscape && !rng.chance(escapeRate)) out += character;
    else if (SHORT_ESCAPES[character] !== undefined && rng.chance(0.7)) out += SHORT_ESCAPES[character];
    else if (character === "/" && rng.chance(0.5)) out += "\\/";
    else if (point > 0xffff) {
      out +=
        unicodeEscape(rng, 0xd800 + ((point - 0x10000) >> 10)) +
        unicodeEscape(rng, 0xdc00 + ((point - 0x10000) & 0x3ff));
    } else out += unicodeEscape(rng, point);
  }
  return out + '"';
}

class DocumentWriter {
  private parts: string[] = [];
  private offset = 0;
  readonly spans: TokenSpan[] = [];

  constructor(
    private rng: Random,
    private style: WriteStyle,
  ) {}

  private write(text: string, kind?: TokenSpan["kind"]): void {
    const length = Buffer.byteLength(text);
    if (kind !== undefined) this.spans.push({ start: this.offset, end: this.offset + length, kind });
    this.parts.push(text);
    this.offset += length;
  }

  private space(level: number): void {
    const { whitespace } = this.style;
    if (whitespace === 1) this.write(" ");
    else if (whitespace === 2) this.write("\n" + "  ".repeat(level));
    else if (whitespace === 3 && this.rng.chance(0.4))
      this.write(this.rng.pick([" ", "\t", "\r\n", "\n  ", "  "]));
  }

  value(node: DocNode, level: number): void {
    switch (node.kind) {
      case "object":
        this.write("{");
        node.members.forEach((member, i) => {
          if (i > 0) this.write(",");
          this.space(level + 1);
          this.write(member.rawKey ?? quote(this.rng, member.key, this.style.escapeRate), "key");
          if (this.style.whitespace === 3) this.space(level + 1);
          this.write(":");
          if (this.style.whitespace > 0) this.space(0);
          this.value(member.value, level + 1);
        });
        if (node.members.length > 0) this.space(level);
        this.write("}");
        return;
      case "array":
        this.write("[");
        node.items.forEach((item, i) => {
          if (i > 0) this.write(",");
          this.space(level + 1);
          this.value(item, level + 1);
        });
        if (node.items.length > 0) this.space(level);
        this.write("]");
        return;
      case "string":
        this.write(quote(this.rng, node.value, this.style.escapeRate), "string");
        return;
      case "number":
        this.write(node.text, "number");
        return;
      case "literal":
        this.write(node.text, "literal");
        return;
      case "raw":
        this.write(node.text, "raw");
        return;
    }
  }

  document(root: DocNode): SerializedDocument {
    if (this.style.whitespace === 3) this.space(0);
    this.value(root, 0);
    if (this.style.whitespace >= 2 && this.rng.chance(0.5)) this.write("\n");
    return { bytes: Buffer.from(this.parts.join("")), spans: this.spans };
  }
}

export function serialize(rng: Random, root: DocNode): SerializedDocument {
  const style: WriteStyle = {
    whitespace: rng.weighted([
      [5, 0],
      [2, 1],
      [1, 2],
      [2, 3],
    ] as const),
    escapeRate: rng.weighted([
      [5, 0],
      [2, 0.1],
      [2, 0.5],
      [1, 1],
    ] as const),
  };
  return new DocumentWriter(rng, style).document(root);
}

// ---- Mutations ----

/** A value in the tree: where it sits, how deep (containers around it), and how to replace it. */
interface Place {
  node: DocNode;
  depth: number;
  replace(next: DocNode): void;
}

function places(holder: { root: DocNode }): Place[] {
  const found: Place[] = [];
  const visit = (node: DocNode, depth: number, replace: (next: DocNode) => void) => {
    found.push({ node, depth, replace });
    if (node.kind === "object") {
      for (const member of node.members) visit(member.value, depth + 1, (next) => (member.value = next));
    } else if (node.kind === "array") {
      node.items.forEach((item, i) => visit(item, depth + 1, (next) => (node.items[i] = next)));
    }
  };
  visit(holder.root, 0, (next) => (holder.root = next));
  return found;
}

function isFree(node: DocNode): boolean {
  return node.schema === undefined || isUnconstrained(node.schema);
}

function schemaObject(node: DocNode): SchemaObject | undefined {
  return typeof node.schema === "object" ? node.schema : undefined;
}

/** A value (containers at most one deep) of a type the position's schema does not list. */
function wrongTypeValue(rng: Random, node: DocNode): DocNode {
  const schema = schemaObject(node);
  const listed = schema ? schemaTypes(schema) : [...TYPE_NAMES];
  const others = TYPE_NAMES.filter(
    (type) => !listed.includes(type) && !(type === "integer" && listed.includes("number")),
  );
  const type = others.length > 0 ? rng.pick(others) : rng.pick(TYPE_NAMES);
  switch (type) {
    case "null":
      return { kind: "literal", text: "null" };
    case "boolean":
      return { kind: "literal", text: rng.chance(0.5) ? "true" : "false" };
    case "integer":
      return { kind: "number", text: spellNumber(rng, rng.between(-3, 3)) };
    case "number":
      return { kind: "number", text: rng.pick(["1.5", "-0.25", "1e-7", "12.999999999999999112"]) };
    case "string":
      return { kind: "string", value: rng.pick(["", "1", "true", "null", "é"]) };
    case "array":
      return randomValue(rng, 0).kind === "string"
        ? { kind: "array", items: [] }
        : { kind: "array", items: [randomScalar(rng)] };
    case "object":
      return { kind: "object", members: rng.chance(0.5) ? [] : [{ key: "a", value: randomScalar(rng) }] };
  }
}

const NUMBER_KEYWORDS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] as const;

function numberBoundaryText(rng: Random, node: DocNode): string {
  const schema = schemaObject(node);
  const bounds: number[] = schema ? NUMBER_KEYWORDS.flatMap((keyword) => schema[keyword] ?? []) : [];
  for (const value of schema?.enum ?? (schema?.const !== undefined ? [schema.const] : [])) {
    if (typeof value === "number") bounds.push(value);
  }
  if (bounds.length === 0 || rng.chance(0.1)) {
    return rng.chance(0.5) ? longMantissaText(rng) : numberNear(rng, rng.pick(AWKWARD_NUMBERS));
  }
  return numberNear(rng, rng.pick(bounds));
}

/** Integers written as 1.0 or 1e2, and numbers a hair away from an integer. */
function integerSpellingText(rng: Random, node: DocNode): string {
  const current = node.kind === "number" ? Number(node.text) : rng.between(-5, 5);
  const whole = Number.isFinite(current) ? Math.round(current) : 1;
  // Plain digits: appending ".0…" to an exponent form would not be JSON.
  const plain = decimalText(exactDecimal(whole), false);
  const digits = plain.length <= 200 ? plain : "1";
  return rng.weighted<() => string>([
    [3, () => spellNumber(rng, whole)],
    [1, () => `${digits}.${"0".repeat(rng.between(1, 20))}`],
    [1, () => (Math.abs(whole) < 1e15 ? `${whole / 100}e2` : digits)],
    [1, () => spellNumber(rng, whole + 0.5)],
    [1, () => spellNumber(rng, rng.chance(0.5) ? nextUp(whole) : nextDown(whole))],
    [1, () => `${digits}.${"0".repeat(rng.between(15, 17))}1`],
  ])();
}

/** A string of a length at, just under or just over one of the schema's length bounds. */
function stringLengthValue(rng: Random, node: DocNode): string {
  const schema = schemaObject(node);
  const bounds = [schema?.minLength, schema?.maxLength].filter((bound) => bound !== undefined);
  const current = node.kind === "string" ? codePointLength(node.value) : 2;
  const bound = bounds.length > 0 ? rng.pick(bounds) : current;
  return randomString(rng, Math.max(0, bound + rng.pick([-1, 0, 0, 1])));
}

/** An enum or const value nearly matching: another kind, a close string, a neighbouring number. */
function nearMissValue(rng: Random, node: DocNode): DocNode {
  const schema = schemaObject(node);
  const allowed = schema?.enum ?? (schema?.const !== undefined ? [schema.const] : [null]);
  const value = rng.pick(allowed);
  if (typeof value === "string") {
    return rng.weighted<() => DocNode>([
      [2, () => ({ kind: "string", value: value + rng.pick([" ", "\u0000", "é", "😀"]) })],
      [1, () => ({ kind: "string", value: value.slice(0, -1) })],
      [1, () => ({ kind: "string", value: value.normalize(rng.chance(0.5) ? "NFC" : "NFD") })],
      [1, () => ({ kind: "string", value: value.toUpperCase() })],
      [
        1,
        () =>
          value !== "" && /^-?\d+$/.test(value)
            ? { kind: "number", text: value }
            : { kind: "literal", text: "null" },
      ],
    ])();
  }
  if (typeof value === "number") {
    return rng.weighted<() => DocNode>([
      [2, () => ({ kind: "number", text: numberNear(rng, value) })],
      [1, () => ({ kind: "string", value: JSON.stringify(value) })],
    ])();
  }
  if (typeof value === "boolean") {
    return rng.chance(0.5)
      ? { kind: "string", value: String(value) }
      : { kind: "literal", text: value ? "false" : "true" };
  }
  return rng.chance(0.5) ? { kind: "string", value: "null" } : { kind: "literal", text: "false" };
}

function objects(all: Place[]): (Place & { node: { kind: "object"; members: DocMember[] } })[] {
  return all.filter((place) => place.node.kind === "object") as (Place & {
    node: { kind: "object"; members: DocMember[] };
  })[];
}

const LONE_SURROGATES = [
  "\\ud800",
  "\\uDC00",
  "\\udbff\\u0041",
  "\\ud83d\\ud83d\\ude00",
  "\\ude00\\ud83d",
  "\\uD83D",
];

function withLoneSurrogate(rng: Random, text: string): string {
  const characters = [...text];
  const at = rng.int(characters.length + 1);
  const escaped = (characters: string[]) =>
    characters
      .map((c) => (c === '"' || c === "\\" ? "\\" + c : c < " " ? unicodeEscape(rng, c.charCodeAt(0)) : c))
      .join("");
  return `"${escaped(characters.slice(0, at))}${rng.pick(LONE_SURROGATES)}${escaped(characters.slice(at))}"`;
}

/** Nested containers `levels` deep (the outermost included), a scalar inside. */
function nest(rng: Random, levels: number): DocNode {
  let node: DocNode = rng.chance(0.5) ? randomScalar(rng) : { kind: "array", items: [] };
  let remaining = levels;
  if (node.kind === "array") remaining--;
  for (; remaining > 0; remaining--) {
    node = rng.chance(0.6)
      ? { kind: "array", items: [node] }
      : { kind: "object", members: [{ key: rng.pick(NAMES), value: node }] };
  }
  return node;
}

/** The same number written with more than 256 characters (zeros that change nothing). */
function longNumberText(text: string): string {
  const exponentAt = text.search(/[eE]/);
  const mantissa = exponentAt < 0 ? text : text.slice(0, exponentAt);
  const exponent = exponentAt < 0 ? "" : text.slice(exponentAt);
  const padded = (mantissa.includes(".") ? mantissa : mantissa + ".") + "0".repeat(260);
  return padded + exponent;
}

const OVERFLOWS = ["1e400", "-1e999", "1.5e+9999", "123123e100000", "1.7976931348623159e308", "-18e307"];

type TreeMutation = (rng: Random, holder: { root: DocNode }, config: GeneratedConfig) => boolean;

function replaceSome(
  rng: Random,
  holder: { root: DocNode },
  filter: (place: Place) => boolean,
  make: (place: Place) => DocNode,
): boolean {
  const candidates = places(holder).filter(filter);
  if (candidates.length === 0) return false;
  const place = rng.pick(candidates);
  const next = make(place);
  next.schema = place.node.schema;
  place.replace(next);
  return true;
}

/** Changes that keep the document well-formed JSON; the schema may or may not still hold. */
const SCHEMA_MUTATIONS: Record<string, TreeMutation> = {
  "wrong-type": (rng, holder) =>
    replaceSome(
      rng,
      holder,
      () => true,
      (place) => wrongTypeValue(rng, place.node),
    ),
  "number-boundary": (rng, holder) =>
    replaceSome(
      rng,
      holder,
      (place) =>
        place.node.kind === "number" ||
        NUMBER_KEYWORDS.some((keyword) => schemaObject(place.node)?.[keyword] !== undefined),
      (place) => ({ kind: "number", text: numberBoundaryText(rng, place.node) }),
    ),
  "integer-spelling": (rng, holder) =>
    replaceSome(
      rng,
      holder,
      (place) => place.node.kind === "number",
      (place) => ({ kind: "number", text: integerSpellingText(rng, place.node) }),
    ),
  "string-length": (rng, holder) =>
    replaceSome(
      rng,
      holder,
      (place) => place.node.kind === "string",
      (place) => ({ kind: "string", value: stringLengthValue(rng, place.node) }),
    ),
  "enum-near-miss": (rng, holder) =>
    replaceSome(
      rng,
      holder,
      (place) =>
        schemaObject(place.node)?.enum !== undefined || schemaObject(place.node)?.const !== undefined,
      (place) => nearMissValue(rng, place.node),
    ),
  "remove-member": (rng, holder) => {
    const candidates = objects(places(holder)).filter((place) => place.node.members.length > 0);
    if (candidates.length === 0) return false;
    const { members } = rng.pick(candidates).node;
    members.splice(rng.int(members.length), 1);
    return true;
  },
  "extra-member": (rng, holder) => {
    const candidates = objects(places(holder));
    if (candidates.length === 0) return false;
    const place = rng.pick(candidates);
    const known = Object.keys(schemaObject(place.node)?.properties ?? {});
    const key =
      rng.chance(0.3) && known.length > 0
        ? rng.pick(known)
        : rng.chance(0.5)
          ? rng.pick(NAMES)
          : `extra${rng.int(9)}`;
    if (place.node.members.some((member) => member.key === key)) return false;
    const child = schemaObject(place.node)?.properties?.[key];
    const value = child !== undefined && rng.chance(0.7) ? validValue(rng, child) : randomValue(rng, 1);
    place.node.members.splice(rng.int(place.node.members.length + 1), 0, { key, value });
    return true;
  },
  "array-items": (rng, holder) => {
    const candidates = places(holder).filter((place) => place.node.kind === "array");
    if (candidates.length === 0) return false;
    const place = rng.pick(candidates);
    if (place.node.kind !== "array") return false;
    const { items } = place.node;
    if (items.length > 0 && rng.chance(0.5)) items.splice(rng.int(items.length), 1);
    else {
      const itemSchema = schemaObject(place.node)?.items;
      items.push(itemSchema === undefined ? randomValue(rng, 1) : validValue(rng, itemSchema));
    }
    return true;
  },
};

/** Changes graft refuses as invalid JSON though JSON.parse may accept them (or, with duplicate keys allowed, reads them differently). */
const GRAFT_MUTATIONS: Record<string, TreeMutation> = {
  "duplicate-key": (rng, holder, config) => {
    const candidates = objects(places(holder)).filter((place) => place.node.members.length > 0);
    if (candidates.length === 0) return false;
    const place = rng.pick(candidates);
    const { members } = place.node;
    const index = rng.int(members.length);
    const original = members[index]!;
    const child = schemaObject(place.node)?.properties?.[original.key];
    const value = rng.weighted<() => DocNode>([
      [2, () => original.value],
      [2, () => (child === undefined ? randomValue(rng, 1) : validValue(rng, child))],
      [2, () => wrongTypeValue(rng, original.value)],
    ])();
    // Before the original too: JSON.parse keeps the last occurrence, a streaming check sees the
    // first. When duplicates are refused, the refusal must come first: an earlier copy then has
    // the original's (valid) value.
    const before = rng.chance(0.5);
    const allowed = config.rejectDuplicateKeys === false;
    const at = before ? rng.between(0, index) : rng.between(index + 1, members.length);
    members.splice(at, 0, { key: original.key, value: before && !allowed ? original.value : value });
    return true;
  },
  overflow: (rng, holder) =>
    replaceSome(
      rng,
      holder,
      () => true,
      () => ({
        kind: "number",
        text: rng.chance(0.7) ? rng.pick(OVERFLOWS) : nearMidpointText(rng, Number.MAX_VALUE, Infinity),
      }),
    ),
  "lone-surrogate": (rng, holder) => {
    const all = places(holder);
    const withKeys = objects(all).filter((place) => place.node.members.length > 0);
    if (withKeys.length > 0 && rng.chance(0.3)) {
      const member = rng.pick(rng.pick(withKeys).node.members);
      member.rawKey = withLoneSurrogate(rng, member.key);
      return true;
    }
    return replaceSome(
      rng,
      holder,
      (place) => place.node.kind === "string",
      (place) => ({
        kind: "raw",
        text: withLoneSurrogate(rng, place.node.kind === "string" ? place.node.value : ""),
      }),
    );
  },
  "deep-nesting": (rng, holder, config) => {
    const maxDepth = config.maxDepth ?? DEFAULT_MAX_DEPTH;
    return replaceSome(
      rng,
      holder,
      (place) => isFree(place.node) && place.depth < maxDepth,
      (place) => nest(rng, maxDepth - place.depth + (rng.chance(0.6) ? 1 : 0)),
    );
  },
  "long-number": (rng, holder) =>
    replaceSome(
      rng,
      holder,
      (place) => place.node.kind === "number" || isFree(place.node),
      (place) => ({
        kind: "number",
        text: longNumberText(place.node.kind === "number" ? place.node.text : "0"),
      }),
    ),
};

// Byte-level changes, on the serialized document. None cuts a number token short.

function insideNumber(spans: TokenSpan[], at: number): boolean {
  return spans.some((span) => span.kind === "number" && span.start < at && at < span.end);
}

function insertAt(bytes: Buffer, at: number, inserted: Buffer | string, removed = 0): Buffer {
  return Buffer.concat([
    bytes.subarray(0, at),
    Buffer.from(inserted as string),
    bytes.subarray(at + removed),
  ]);
}

/** A position strictly inside a string or key token (between its quotes). */
function insideString(rng: Random, spans: TokenSpan[]): number | undefined {
  const strings = spans.filter(
    (span) => (span.kind === "string" || span.kind === "key") && span.end - span.start >= 2,
  );
  if (strings.length === 0) return undefined;
  const span = rng.pick(strings);
  return rng.between(span.start + 1, span.end - 1);
}

/** Offsets of structural bytes (outside every token). */
function structuralOffsets(document: SerializedDocument): number[] {
  const inToken = new Uint8Array(document.bytes.length);
  for (const span of document.spans) inToken.fill(1, span.start, span.end);
  const offsets: number[] = [];
  for (let i = 0; i < document.bytes.length; i++) if (inToken[i] === 0) offsets.push(i);
  return offsets;
}

const INVALID_UTF8 = [
  [0xe0],
  [0xed],
  [0xf0],
  [0xf4],
  [0xc3],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0x80],
  [0xbf],
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];
const BAD_ESCAPES = ["\\x", "\\u12G4", "\\U0041", "\\'", "\\u00", "\\a", "\\0", "\\\u00e9", "\\u{41}"];
const BAD_NUMBERS = [
  "-",
  "1.",
  ".5",
  "+1",
  "1e",
  "1e+",
  "-.5",
  "1.e5",
  "NaN",
  "Infinity",
  "-Infinity",
  "1.5E",
  "--1",
  "tru",
  "nul",
  "True",
  "nil",
];

type ByteMutation = (rng: Random, document: SerializedDocument) => Buffer | undefined;

const SYNTAX_MUTATIONS: Record<string, ByteMutation> = {
  truncate: (rng, { bytes, spans }) => {
    if (bytes.length < 2) return undefined;
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1).filter(
      (at) => !insideNumber(spans, at),
    );
    return cuts.length === 0 ? undefined : bytes.subarray(0, rng.pick(cuts));
  },
  "invalid-utf8": (rng, { bytes, spans }) => {
    const at = rng.chance(0.85) ? insideString(rng, spans) : rng.int(bytes.length + 1);
    if (at === undefined || insideNumber(spans, at)) return undefined;
    return insertAt(bytes, at, Buffer.from(rng.pick(INVALID_UTF8)));
  },
  "bad-escape": (rng, { bytes, spans }) => {
    const at = insideString(rng, spans);
    return at === undefined ? undefined : insertAt(bytes, at, rng.pick(BAD_ESCAPES));
  },
  "raw-control": (rng, { bytes, spans }) => {
    const at = insideString(rng, spans);
    return at === undefined
      ? undefined
      : insertAt(bytes, at, String.fromCharCode(rng.pick([0, 1, 9, 10, 13, 0x1f])));
  },
  "bad-number": (rng, { bytes, spans }) => {
    const numbers = spans.filter((span) => span.kind === "number" || span.kind === "literal");
    if (numbers.length === 0) return undefined;
    const span = rng.pick(numbers);
    return insertAt(bytes, span.start, rng.pick(BAD_NUMBERS), span.end - span.start);
  },
  punctuation: (rng, document) => {
    const { bytes } = document;
    const offsets = structuralOffsets(document);
    const commas = offsets.filter((at) => bytes[at] === 0x2c || bytes[at] === 0x3a);
    const closers = offsets.filter((at) => bytes[at] === 0x5d || bytes[at] === 0x7d);
    const openers = offsets.filter((at) => bytes[at] === 0x5b || bytes[at] === 0x7b);
    const choice = rng.int(5);
    if (choice === 0 && commas.length > 0) return insertAt(bytes, rng.pick(commas), "", 1); // drop , or :
    if (choice === 1 && commas.length > 0)
      return insertAt(bytes, rng.pick(commas), rng.pick([";", "=", ",,", " ,"]), 1);
    if (choice === 2 && closers.length > 0) return insertAt(bytes, rng.pick(closers), ","); // trailing comma
    if (choice === 3 && openers.length > 0)
      return insertAt(bytes, rng.pick(openers) + 1, rng.pick([",", ":", "'x'", "x"]));
    return undefined;
  },
  "trailing-data": (rng, { bytes }) =>
    Buffer.concat([bytes, Buffer.from(rng.pick([" x", "}", "]", ",", " {}", "\u0000", " 0", "\n[", '"']))]),
  "bad-whitespace": (rng, { bytes }) => {
    const odd = Buffer.from(rng.pick([[0xef, 0xbb, 0xbf], [0x0c], [0xc2, 0xa0], [0x0b], [0xe3, 0x80, 0x80]]));
    return rng.chance(0.5) ? Buffer.concat([odd, bytes]) : Buffer.concat([bytes, odd]);
  },
};

export type MutationFamily = "none" | "schema" | "graft" | "syntax" | "schema+trailing";

export interface GeneratedDocument {
  bytes: Buffer;
  family: MutationFamily;
  /** The mutation applied ("none" when the document is the generated one). */
  mutation: string;
}

/**
 * Documents near one configuration's schema. `schemaValid` is the reference's judgement of a
 * well-formed document: breaking mutations need a schema-valid starting point (see the top).
 */
export class DocumentGenerator {
  constructor(
    private rng: Random,
    private config: GeneratedConfig,
    private schemaValid: (bytes: Buffer) => boolean,
  ) {}

  next(): GeneratedDocument {
    const rng = this.rng;
    const holder = { root: validValue(rng, this.config.schema) };
    const family = rng.weighted<MutationFamily>([
      [30, "none"],
      [40, "schema"],
      [12, "graft"],
      [15, "syntax"],
      [3, "schema+trailing"],
    ]);
    if (family === "schema" || family === "schema+trailing") {
      const mutation = this.treeMutation(SCHEMA_MUTATIONS, holder);
      const { bytes } = serialize(rng, holder.root);
      if (family === "schema") return { bytes, family, mutation };
      return {
        bytes: Buffer.concat([bytes, Buffer.from(rng.pick([" x", ",", "}", " []", "\u00e9"]))]),
        family,
        mutation,
      };
    }
    const base = serialize(rng, holder.root);
    if (family === "none") return { bytes: base.bytes, family, mutation: "none" };
    if (!this.schemaValid(base.bytes))
      return { bytes: base.bytes, family: "none", mutation: "none (generated invalid)" };
    if (family === "graft") {
      const mutation = this.treeMutation(GRAFT_MUTATIONS, holder);
      return { bytes: serialize(rng, holder.root).bytes, family, mutation };
    }
    const names = Object.keys(SYNTAX_MUTATIONS);
    for (let attempt = 0; attempt < 5; attempt++) {
      const mutation = rng.pick(names);
      const bytes = SYNTAX_MUTATIONS[mutation]!(rng, base);
      if (bytes !== undefined && bytes.length > 0) return { bytes, family, mutation };
    }
    return { bytes: base.bytes, family: "none", mutation: "none (no syntax mutation applied)" };
  }

  private treeMutation(mutations: Record<string, TreeMutation>, holder: { root: DocNode }): string {
    const names = Object.keys(mutations);
    for (let attempt = 0; attempt < 6; attempt++) {
      const name = this.rng.pick(names);
      if (mutations[name]!(this.rng, holder, this.config)) return name;
    }
    return "none (no mutation applied)";
  }
}

// ---- Chunking ----

/** Chunk lengths (all > 0) for a chunked delivery: 1-byte, random, or cut inside UTF-8 sequences and escapes. */
export function chunkLengths(rng: Random, bytes: Uint8Array): { strategy: string; lengths: number[] } {
  const size = bytes.length;
  if (size < 2) return { strategy: "whole", lengths: [size] };
  const strategy = rng.weighted<string>([
    [size <= 600 ? 2 : 0, "1-byte"],
    [3, "random"],
    [3, "utf8-split"],
    [2, "token-split"],
  ]);
  if (strategy === "1-byte") return { strategy, lengths: Array.from({ length: size }, () => 1) };
  const cuts = new Set<number>();
  if (strategy === "utf8-split" || strategy === "token-split") {
    const interesting: number[] = [];
    for (let i = 1; i < size; i++) {
      const byte = bytes[i]!;
      const previous = bytes[i - 1]!;
      if (
        strategy === "utf8-split"
          ? (byte & 0xc0) === 0x80
          : previous === 0x5c ||
            previous === 0x75 ||
            (previous >= 0x30 && previous <= 0x39) ||
            previous === 0x2e ||
            previous === 0x65
      ) {
        interesting.push(i);
      }
    }
    for (const at of interesting) if (rng.chance(0.5)) cuts.add(at);
  }
  for (let n = rng.between(1, Math.min(8, size - 1)); n > 0; n--) cuts.add(rng.between(1, size - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const lengths: number[] = [];
  let from = 0;
  for (const at of sorted) {
    lengths.push(at - from);
    from = at;
  }
  lengths.push(size - from);
  return { strategy, lengths };
}

export function splitBytes(bytes: Uint8Array, lengths: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const length of lengths) {
    chunks.push(bytes.subarray(from, from + length));
    from += length;
  }
  return chunks;
}
