// Differential fuzzing of graft's JSON number reader (assembly/decimal.ts, parseDecimal) against
// JavaScript's Number(): both must give the same double, bit for bit, for every text.
//
// One seeded, deterministic generator serves both tests/sdk/json-number.test.ts (a few hundred
// thousand texts) and the long run:
//
//   node --import tsx tools/fuzz/json-numbers.ts --count 5000000 --seed 1
//
// The texts follow the JSON number grammar and aim at what breaks readers: shortest forms of random
// doubles, exact decimal expansions of midpoints between adjacent doubles (and texts a hair either
// side of them), long significands with large exponents, integers past 2^53, long digit runs, and
// the shapes a hostile client would pick to make a reader slow (the edges of the double range).
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { buildDir } from "../../src/util/paths.ts";

/** Reads a number text the way the filter does, or the way Number() does. */
export type NumberReader = (text: string) => number;

export interface NumberText {
  kind: NumberKind;
  text: string;
}

export const NUMBER_KINDS = [
  "shortest",
  "exponential",
  "midpoint",
  "long-significand",
  "integer",
  "digit-run",
  "extreme",
] as const;
export type NumberKind = (typeof NUMBER_KINDS)[number];

export interface Mismatch {
  text: string;
  /** Bits of Number(text), as 16 hex digits. */
  expected: string;
  got: string;
}

export interface NumberFuzzOptions {
  count: number;
  seed: number;
  /** Progress and mismatch lines; silent when absent. */
  log?: (line: string) => void;
  /** The reader under test; by default parseDecimal in build/fixtures/json-harness.wasm. */
  read?: NumberReader;
  /** How many mismatches to keep and log (all are counted). */
  keep?: number;
}

export interface NumberFuzzResult {
  count: number;
  mismatchCount: number;
  /** The first mismatches, in generation order. */
  mismatches: Mismatch[];
  perKind: Record<NumberKind, number>;
  milliseconds: number;
}

/** The longest text the generator makes: a midpoint's exact expansion has at most 767 digits. */
const MAX_TEXT = 1024;

/** parseDecimal from a built json-harness module (its json_number export). */
export function harnessNumberReader(
  wasmFile = path.join(buildDir, "fixtures", "json-harness.wasm"),
): NumberReader {
  const module = new WebAssembly.Module(readFileSync(wasmFile));
  // The harness carries the proxy-wasm ABI like every graft module; none of it runs here.
  const imports: Record<string, Record<string, () => number>> = {};
  for (const entry of WebAssembly.Module.imports(module))
    (imports[entry.module] ??= {})[entry.name] = () => 0;
  const exports = new WebAssembly.Instance(module, imports).exports as {
    memory: WebAssembly.Memory;
    json_alloc(length: number): number;
    json_number(ptr: number, length: number): number;
  };
  // One buffer for every text: json_number leaves it allocated.
  const ptr = exports.json_alloc(MAX_TEXT);
  let bytes = new Uint8Array(exports.memory.buffer, ptr, MAX_TEXT);
  return (text) => {
    if (text.length > MAX_TEXT) throw new Error(`number text longer than ${MAX_TEXT} bytes`);
    if (bytes.byteLength === 0) bytes = new Uint8Array(exports.memory.buffer, ptr, MAX_TEXT); // memory grew
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return exports.json_number(ptr, text.length);
  };
}

/** Compares `read` with Number() on `count` generated texts. */
export function runNumberFuzz(options: NumberFuzzOptions): NumberFuzzResult {
  const { count, seed, log } = options;
  const read = options.read ?? harnessNumberReader();
  const keep = options.keep ?? 20;
  const perKind = Object.fromEntries(NUMBER_KINDS.map((kind) => [kind, 0])) as Record<NumberKind, number>;
  const mismatches: Mismatch[] = [];
  let mismatchCount = 0;
  const started = performance.now();
  const progressEvery = Math.max(1_000_000, Math.ceil(count / 10));
  let done = 0;
  for (const { kind, text } of numberTexts(seed)) {
    if (done === count) break;
    perKind[kind]++;
    const expected = Number(text);
    const got = read(text);
    if (!Object.is(expected, got)) {
      mismatchCount++;
      if (mismatches.length < keep) {
        const mismatch = { text, expected: bitsOf(expected), got: bitsOf(got) };
        mismatches.push(mismatch);
        log?.(`mismatch (${kind}): ${text}\n  expected ${mismatch.expected}, got ${mismatch.got}`);
      }
    }
    done++;
    if (done % progressEvery === 0 && done < count) log?.(`  ${done} texts, ${mismatchCount} mismatches`);
  }
  return { count: done, mismatchCount, mismatches, perKind, milliseconds: performance.now() - started };
}

const bitsView = new DataView(new ArrayBuffer(8));

export function bitsOf(value: number): string {
  bitsView.setFloat64(0, value);
  return bitsView.getBigUint64(0).toString(16).padStart(16, "0");
}

/** Endless number texts, the kinds in turn, deterministic for a seed. */
export function* numberTexts(seed: number): Generator<NumberText> {
  const random = new Random(seed);
  for (let i = 0; ; i++) {
    const kind = NUMBER_KINDS[i % NUMBER_KINDS.length]!;
    yield { kind, text: TEXT_OF[kind](random) };
  }
}

const TEXT_OF: Record<NumberKind, (random: Random) => string> = {
  shortest: (random) => String(randomDouble(random)),
  exponential: (random) => randomDouble(random).toExponential(random.below(21)),
  midpoint: midpointText,
  "long-significand": longSignificandText,
  integer: integerText,
  "digit-run": digitRunText,
  extreme: extremeText,
};

/** xoshiro128**: small, fast and good enough to spread texts over the space. */
export class Random {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  constructor(seed: number) {
    // splitmix32 spreads the seed over the state (all zero would be a fixed point).
    let x = seed >>> 0;
    const mix = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
  }

  /** 32 random bits, unsigned. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** An integer in [0, n), n <= 2^32. */
  below(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  /** An integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.below(high - low + 1);
  }

  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  digits(count: number, nonzeroFirst = false): string {
    let text = "";
    for (let i = 0; i < count; i++)
      text += String(i === 0 && nonzeroFirst ? 1 + this.below(9) : this.below(10));
    return text;
  }

  bigUint64(): bigint {
    return (BigInt(this.next()) << 32n) | BigInt(this.next());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export function doubleOfBits(bits: bigint): number {
  bitsView.setBigUint64(0, bits);
  return bitsView.getFloat64(0);
}

/**
 * A finite double from random bits: half the time any exponent (mostly huge or tiny magnitudes),
 * half the time within 2^±80, where ordinary numbers live.
 */
function randomDouble(random: Random): number {
  for (;;) {
    let bits = random.bigUint64();
    if (random.chance(0.5)) {
      const exponent = BigInt(1023 + random.between(-80, 80));
      bits = (bits & ~(0x7ffn << 52n)) | (exponent << 52n);
    }
    const value = doubleOfBits(bits);
    if (Number.isFinite(value)) return value;
  }
}

/** A positive finite double as an odd-or-even significand and a power of two: value = m * 2^e. */
function significandAndExponent(value: number): { m: bigint; e: number } {
  bitsView.setFloat64(0, Math.abs(value));
  const bits = bitsView.getBigUint64(0);
  const biased = Number(bits >> 52n);
  const fraction = bits & ((1n << 52n) - 1n);
  return biased === 0 ? { m: fraction, e: -1074 } : { m: fraction | (1n << 52n), e: biased - 1075 };
}

/** The exact decimal digits of a * 2^e (a > 0), as digits * 10^exponent. */
function exactDecimal(a: bigint, e: number): { digits: string; exponent: number } {
  if (e >= 0) return { digits: (a << BigInt(e)).toString(), exponent: 0 };
  // a / 2^k = a * 5^k / 10^k
  return { digits: (a * 5n ** BigInt(-e)).toString(), exponent: e };
}

/** digits * 10^exponent as JSON: scientific, or positional when that stays short. */
function formatDecimal(digits: string, exponent: number, random: Random, negative: boolean): string {
  const sign = negative ? "-" : "";
  const pointAt = digits.length + exponent; // digits before the decimal point
  if (random.chance(0.3) && pointAt > -20 && pointAt < 40) {
    if (pointAt <= 0) return `${sign}0.${"0".repeat(-pointAt)}${digits}`;
    if (pointAt >= digits.length) return sign + digits + "0".repeat(pointAt - digits.length);
    return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  }
  const rest = digits.length > 1 ? "." + digits.slice(1) : "";
  return `${sign}${digits[0]}${rest}e${pointAt - 1}`;
}

/**
 * The exact midpoint between a random double and the next one up (ties round to even), or that
 * text one unit off in its last digit, or cut to 17-25 significant digits (with or without a unit
 * added): the texts a reader must round with all digits in view.
 */
function midpointText(random: Random): string {
  const { m, e } = significandAndExponent(randomDouble(random));
  let { digits, exponent } = exactDecimal(2n * m + 1n, e - 1);
  const variant = random.below(5);
  if (variant === 1 || variant === 2) {
    digits = (BigInt(digits) + (variant === 1 ? 1n : -1n)).toString();
  } else if (variant >= 3 && digits.length > 17) {
    const kept = Math.min(digits.length, random.between(17, 25));
    exponent += digits.length - kept;
    digits = digits.slice(0, kept);
    if (variant === 4) digits = (BigInt(digits) + 1n).toString();
  }
  const stripped = digits.replace(/^0+/, "");
  if (stripped === "") return "0";
  return formatDecimal(stripped, exponent, random, random.chance(0.2));
}

/**
 * The exact decimal expansion of the midpoint between `value` (positive, finite) and the double
 * next to it: above it, or below it when `side` is -1.
 */
export function exactMidpoint(value: number, side: 0 | -1, random: Random): string {
  bitsView.setFloat64(0, value);
  const bits = bitsView.getBigUint64(0) + BigInt(side);
  const { m, e } = significandAndExponent(doubleOfBits(bits));
  const { digits, exponent } = exactDecimal(2n * m + 1n, e - 1);
  return formatDecimal(digits.replace(/^0+/, ""), exponent, random, false);
}

/** A double at an edge of the range: the largest, the smallest normals, or a subnormal. */
function extremeDouble(random: Random): number {
  const fraction = random.bigUint64() & ((1n << 52n) - 1n);
  switch (random.below(4)) {
    case 0:
      return doubleOfBits((BigInt(random.between(2040, 2046)) << 52n) | fraction);
    case 1:
      return doubleOfBits((BigInt(random.between(1, 3)) << 52n) | fraction);
    case 2:
      return doubleOfBits(fraction); // subnormal (or zero)
    default:
      return doubleOfBits(fraction & 0x3ffn); // the smallest subnormals
  }
}

/**
 * The shapes a hostile client would send to make a reader slow: 17-40 digits with the decimal
 * point far out (up to the overflow and underflow thresholds), exact midpoints at the edges of the
 * range (or one unit off, or cut short to 17-40 or to 250 digits, with or without a unit added),
 * shortest forms there, and 17-19-digit integers past 2^53 with exponents past 22.
 */
function extremeText(random: Random): string {
  const negative = random.chance(0.2);
  switch (random.below(4)) {
    case 0: {
      const digits = random.digits(random.between(17, 40), true);
      const pointAt = random.chance(0.5) ? random.between(290, 310) : random.between(-325, -290);
      return formatDecimal(digits, pointAt - digits.length, random, negative);
    }
    case 1: {
      const value = extremeDouble(random);
      const { m, e } = significandAndExponent(value);
      let { digits, exponent } = exactDecimal(2n * m + 1n, e - 1);
      digits = digits.replace(/^0+/, "");
      const variant = random.below(4);
      const kept = variant === 3 ? 250 : random.between(17, 40);
      if (variant >= 2 && digits.length > kept) {
        exponent += digits.length - kept;
        digits = digits.slice(0, kept);
      }
      if (variant >= 1 && random.chance(0.5))
        digits = (BigInt(digits) + (random.chance(0.5) ? 1n : -1n)).toString();
      const stripped = digits.replace(/^0+/, "");
      return stripped === "" ? "0" : formatDecimal(stripped, exponent, random, negative);
    }
    case 2:
      return (negative ? "-" : "") + String(extremeDouble(random));
    default:
      return `${negative ? "-" : ""}${random.digits(random.between(17, 19), true)}e${random.between(23, 300)}`;
  }
}

/** 17-19 significant digits with a decimal exponent in -340..310: past Clinger's fast path. */
function longSignificandText(random: Random): string {
  const digits = random.digits(random.between(17, 19), true);
  const exponent = random.between(-340, 310);
  const sign = random.chance(0.2) ? "-" : "";
  if (random.chance(0.5)) return `${sign}${digits}e${exponent}`;
  return `${sign}${digits[0]}.${digits.slice(1)}e${exponent - digits.length + 1}`;
}

/** Integers around 2^53..2^64, where doubles stop holding every integer. */
function integerText(random: Random): string {
  const power = 1n << BigInt(random.between(53, 64));
  let value: bigint;
  if (random.chance(0.5)) {
    value = power + BigInt(random.between(-4096, 4096));
  } else {
    value = power + (random.bigUint64() % power); // anywhere in [2^k, 2^(k+1))
  }
  return (random.chance(0.2) ? "-" : "") + value.toString();
}

/**
 * Up to 256 characters: long integer parts, fractions with long runs of leading zeros, long
 * fractions, exponents with leading zeros or far out of range.
 */
function digitRunText(random: Random): string {
  let text = random.chance(0.3) ? "-" : "";
  text += random.chance(0.3) ? "0" : random.digits(random.between(1, 120), true);
  if (random.chance(0.8)) {
    text += "." + "0".repeat(random.chance(0.5) ? random.below(120) : 0);
    text += random.digits(random.between(1, 250 - text.length));
  }
  if (random.chance(0.6)) text += exponentText(random);
  return text.slice(0, 256).replace(/[.eE+-]+$/, "");
}

function exponentText(random: Random): string {
  const marker = random.chance(0.5) ? "e" : "E";
  const sign = ["", "+", "-"][random.below(3)]!;
  const zeros = random.chance(0.1) ? "0".repeat(random.between(1, 20)) : "";
  const magnitude = random.chance(0.05)
    ? random.digits(random.between(6, 30), true)
    : String(random.below(400));
  return marker + sign + zeros + magnitude;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "1000000" },
      seed: { type: "string", default: "1" },
      wasm: { type: "string" },
    },
  });
  const count = Number(values.count);
  const seed = Number(values.seed);
  const read = harnessNumberReader(values.wasm);
  console.log(`fuzzing parseDecimal against Number(): ${count} texts, seed ${seed}`);
  const result = runNumberFuzz({ count, seed, read, log: (line) => console.log(line) });
  const perKind = Object.entries(result.perKind)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ");
  console.log(`${result.count} texts (${perKind})`);
  console.log(
    `${result.mismatchCount} mismatches in ${(result.milliseconds / 1000).toFixed(1)} s ` +
      `(${((result.milliseconds * 1e6) / result.count).toFixed(0)} ns per text, generation included)`,
  );
  process.exitCode = result.mismatchCount === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
