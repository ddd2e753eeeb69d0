// `node --import tsx tools/bench/json-numbers.ts [--wasm <json-harness.wasm>]... [--ms 20]`: the
// cost of graft's JSON number reader (assembly/decimal.ts, parseDecimal) per number, for typical
// texts and for the shapes a hostile client would pick to make it slow. The loop runs inside Wasm
// (json_number_bench in tests/fixtures/json-harness), so the figures are parseDecimal's, not the
// cost of calling into the module. Prints a Markdown table, a column per module (default: the
// built harness; give two to compare builds): ns per number, the best of 15 runs of about --ms.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { buildDir } from "../../src/util/paths.ts";
import { Random, doubleOfBits, exactMidpoint } from "../fuzz/json-numbers.ts";

interface Shape {
  name: string;
  worst: boolean;
  texts: string[];
}

interface BenchExports {
  memory: WebAssembly.Memory;
  json_alloc(length: number): number;
  json_number_bench(text: number, lengths: number, count: number, rounds: number): number;
}

/** Texts per shape: enough variety that no single branch pattern is learnt. */
const TEXTS_PER_SHAPE = 64;

function many(random: Random, make: (random: Random) => string): string[] {
  return Array.from({ length: TEXTS_PER_SHAPE }, () => make(random));
}

/** A random positive double within 2^±`range` (normal and finite). */
function doubleNear(random: Random, range: number): number {
  const biased = Math.max(1, Math.min(2046, 1023 + random.between(-range, range)));
  return doubleOfBits((BigInt(biased) << 52n) | (random.bigUint64() & ((1n << 52n) - 1n)));
}

/** The texts benchmarked, deterministic. */
export function shapes(): Shape[] {
  const random = new Random(2024);
  const cut = (text: string, length: number) => text.slice(0, length).replace(/[.eE+-]+$/, "");
  return [
    {
      name: "small integers (1-6 digits)",
      worst: false,
      texts: many(random, (r) => String(r.below(1_000_000))),
    },
    { name: "prices (12.99)", worst: false, texts: many(random, (r) => `${r.below(1000)}.${r.digits(2)}`) },
    {
      name: "shortest forms, |x| in 2^±60",
      worst: false,
      texts: many(random, (r) => String(doubleNear(r, 60))),
    },
    {
      name: "shortest forms, any exponent",
      worst: false,
      texts: many(random, (r) => String(doubleNear(r, 1100))),
    },
    {
      name: "19-digit integers",
      worst: false,
      texts: many(random, (r) => r.digits(19, true)),
    },
    {
      name: "smallest subnormals (5e-324)",
      worst: true,
      texts: many(
        random,
        (r) =>
          ["5e-324", "4.9406564584124654e-324", "2.4703282292062328e-324", "1e-323", "7.4e-323"][r.below(5)]!,
      ),
    },
    {
      name: "largest doubles (1.7976931348623157e308)",
      worst: true,
      texts: many(random, (r) => `1.79769313486231${r.between(50, 59)}e308`),
    },
    {
      name: "smallest normals (2.2250738585072011e-308)",
      worst: true,
      texts: many(random, (r) => `2.22507385850720${r.between(10, 14)}e-308`),
    },
    {
      name: "17 digits, exponents 28-300 (9007199254740993e37)",
      worst: true,
      texts: many(random, (r) => `${r.digits(17, true)}e${r.between(28, 290)}`),
    },
    {
      name: "17 digits, exponents -300 to -28",
      worst: true,
      texts: many(random, (r) => `${r.digits(17, true)}e-${r.between(28, 300)}`),
    },
    {
      name: "40 digits, |exponent| 250-300",
      worst: true,
      texts: many(random, (r) => `${r.digits(40, true)}e${r.chance(0.5) ? "-" : ""}${r.between(250, 268)}`),
    },
    {
      name: "exact halfway points at the extremes, 256 bytes",
      worst: true,
      texts: many(random, (r) => {
        const value = [Number.MAX_VALUE, 5e-324, 2.2250738585072014e-308, 1e-310][r.below(4)]!;
        const below = r.chance(0.5) ? -1 : 0; // the midpoint under the double, or over it
        const [digits, exponent] = exactMidpoint(value, below, r).split("e") as [string, string];
        return `${digits.slice(0, 255 - exponent.length)}e${exponent}`;
      }),
    },
    {
      name: "256-digit significands near 1e308",
      worst: true,
      texts: many(random, (r) => `${r.digits(256 - 4, true)}e${r.between(40, 57)}`),
    },
    {
      name: "256-digit significands near 1e-324",
      worst: true,
      texts: many(random, (r) => `0.${"0".repeat(r.below(8))}${r.digits(240, true)}e-${r.between(280, 315)}`),
    },
  ].map((shape) => ({ ...shape, texts: shape.texts.map((text) => cut(text, 256)) }));
}

function load(wasmFile: string): BenchExports {
  const module = new WebAssembly.Module(readFileSync(wasmFile));
  const imports: Record<string, Record<string, () => number>> = {};
  for (const entry of WebAssembly.Module.imports(module))
    (imports[entry.module] ??= {})[entry.name] = () => 0;
  return new WebAssembly.Instance(module, imports).exports as unknown as BenchExports;
}

/** A loop over one shape's texts in one module: `rounds` passes over all of them. */
function prepare(exports: BenchExports, texts: string[]): (rounds: number) => void {
  const bytes = texts.join("");
  const text = exports.json_alloc(bytes.length);
  const lengths = exports.json_alloc(texts.length * 4);
  const memory = new Uint8Array(exports.memory.buffer);
  for (let i = 0; i < bytes.length; i++) memory[text + i] = bytes.charCodeAt(i);
  const view = new DataView(exports.memory.buffer);
  texts.forEach((t, i) => view.setInt32(lengths + i * 4, t.length, true));
  return (rounds) => exports.json_number_bench(text, lengths, texts.length, rounds);
}

/**
 * Nanoseconds per number for one shape in each module: the best of `runs` timed loops of about
 * `ms` each, the modules taking turns (the best, as other load on the machine only adds time).
 */
function measure(modules: BenchExports[], texts: string[], ms: number, runs = 15): number[] {
  const loops = modules.map((exports) => prepare(exports, texts));
  const rounds = loops.map((loop) => {
    // Calibrate so one loop takes about `ms` (the first runs also let the engine optimize).
    let n = 1;
    for (;;) {
      const started = performance.now();
      loop(n);
      const elapsed = performance.now() - started;
      if (elapsed > ms / 4) return Math.max(1, Math.round((n * ms) / elapsed));
      n *= 4;
    }
  });
  const best = loops.map(() => Infinity);
  for (let run = 0; run < runs; run++) {
    loops.forEach((loop, i) => {
      const started = performance.now();
      loop(rounds[i]!);
      const ns = ((performance.now() - started) * 1e6) / (rounds[i]! * texts.length);
      best[i] = Math.min(best[i]!, ns);
    });
  }
  return best;
}

/** The table for one or more builds of the harness (e.g. before and after a change). */
export function benchJsonNumbers(wasmFiles: string[], ms: number): string {
  const modules = wasmFiles.map(load);
  const names = wasmFiles.map((file) => path.relative(process.cwd(), file));
  const lines = [
    `| texts | ${names.map((name) => `ns/number (${name})`).join(" | ")} |`,
    `| --- |${" ---: |".repeat(names.length)}`,
  ];
  const worst = names.map(() => 0);
  for (const shape of shapes()) {
    const ns = measure(modules, shape.texts, ms);
    if (shape.worst) ns.forEach((n, i) => (worst[i] = Math.max(worst[i]!, n)));
    lines.push(
      `| ${shape.worst ? "hostile: " : ""}${shape.name} | ${ns.map((n) => n.toFixed(0)).join(" | ")} |`,
    );
  }
  lines.push(`| worst hostile shape | ${worst.map((n) => n.toFixed(0)).join(" | ")} |`);
  return lines.join("\n");
}

function main(): void {
  const { values } = parseArgs({
    options: {
      wasm: { type: "string", multiple: true },
      ms: { type: "string", default: "20" },
    },
  });
  const files = values.wasm ?? [path.join(buildDir, "fixtures", "json-harness.wasm")];
  console.log(benchJsonNumbers(files, Number(values.ms)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
