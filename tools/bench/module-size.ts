// `node --import tsx tools/bench/module-size.ts <module.wasm | filter name>... [--top N]`: where a
// module's bytes go, by section and by function. Function names come from the name section; a
// filter name builds its release configuration once more with names kept (asc --debug adds the
// name section and changes no code), so the figures are the release module's.
import asc from "assemblyscript/asc";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { sdkPackagePath } from "../../src/compile/compile.ts";
import { projectRoot } from "../../src/util/paths.ts";

const SECTION_NAMES = [
  "custom",
  "type",
  "import",
  "function",
  "table",
  "memory",
  "global",
  "export",
  "start",
  "element",
  "code",
  "data",
  "datacount",
];

export interface FunctionSize {
  index: number;
  name: string;
  bytes: number;
}

export interface ModuleSizes {
  total: number;
  /** Bytes per section (custom sections by their name), headers included. */
  sections: Record<string, number>;
  /** Bodies of the module's own functions, largest first. */
  functions: FunctionSize[];
  /** Bytes of the data segments. */
  data: number;
}

class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public at = 0,
  ) {}
  u8(): number {
    return this.bytes[this.at++]!;
  }
  leb(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.u8();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  }
  name(): string {
    const length = this.leb();
    const text = Buffer.from(this.bytes.subarray(this.at, this.at + length)).toString("utf8");
    this.at += length;
    return text;
  }
}

/** Section, function and data sizes of a module. */
export function moduleSizes(bytes: Uint8Array): ModuleSizes {
  const reader = new Reader(bytes, 8);
  const sections: Record<string, number> = {};
  const names = new Map<number, string>();
  const bodies: { index: number; bytes: number }[] = [];
  let importedFunctions = 0;
  let data = 0;
  while (reader.at < bytes.length) {
    const start = reader.at;
    const id = reader.u8();
    const size = reader.leb();
    const body = reader.at;
    const end = body + size;
    let label = SECTION_NAMES[id] ?? `section ${id}`;
    if (id === 0) {
      const name = reader.name();
      label = `custom "${name}"`;
      if (name === "name") readNames(new Reader(bytes.subarray(reader.at, end)), names);
    } else if (id === 2) {
      const count = reader.leb();
      for (let i = 0; i < count; i++) {
        reader.name();
        reader.name();
        const kind = reader.u8();
        if (kind === 0) {
          reader.leb();
          importedFunctions++;
        } else if (kind === 1) {
          reader.u8();
          limits(reader);
        } else if (kind === 2) limits(reader);
        else if (kind === 3) reader.at += 2;
      }
    } else if (id === 10) {
      const count = reader.leb();
      for (let i = 0; i < count; i++) {
        const length = reader.leb();
        bodies.push({ index: importedFunctions + i, bytes: length });
        reader.at += length;
      }
    } else if (id === 11) {
      const count = reader.leb();
      for (let i = 0; i < count; i++) {
        const flags = reader.leb();
        if (flags === 2) reader.leb();
        if (flags !== 1) constantExpression(reader); // the offset
        const length = reader.leb();
        data += length;
        reader.at += length;
      }
    }
    sections[label] = (sections[label] ?? 0) + (end - start);
    reader.at = end;
  }
  const functions = bodies
    .map((body) => ({ ...body, name: names.get(body.index) ?? `function ${body.index}` }))
    .sort((a, b) => b.bytes - a.bytes);
  return { total: bytes.length, sections, functions, data };
}

/**
 * Skips a constant expression (a data segment's offset): one instruction and its immediate, then
 * `end`. The immediate is read as a LEB, as its bytes may hold 0x0b themselves.
 */
function constantExpression(reader: Reader): void {
  const opcode = reader.u8();
  // i32.const, i64.const and global.get take a LEB; f64.const and f32.const 8 and 4 bytes.
  if (opcode === 0x41 || opcode === 0x42 || opcode === 0x23) reader.leb();
  else if (opcode === 0x44) reader.at += 8;
  else if (opcode === 0x43) reader.at += 4;
  while (reader.u8() !== 0x0b); // end (and anything this reader does not know)
}

function limits(reader: Reader): void {
  const flags = reader.u8();
  reader.leb();
  if (flags & 1) reader.leb();
}

function readNames(reader: Reader, names: Map<number, string>): void {
  while (reader.at < reader.bytes.length) {
    const id = reader.u8();
    const size = reader.leb();
    const end = reader.at + size;
    if (id === 1) {
      const count = reader.leb();
      for (let i = 0; i < count; i++) names.set(reader.leb(), reader.name());
    }
    reader.at = end;
  }
}

/** A filter's release build with a name section (the same code as build/<name>.wasm), as bytes. */
export async function namedReleaseBuild(filter: string): Promise<Uint8Array> {
  const dir = mkdtempSync(path.join(tmpdir(), "graft-size-"));
  try {
    const out = path.join(dir, `${filter}.wasm`);
    let diagnostics = "";
    const collect = { write: (chunk: string | Uint8Array) => ((diagnostics += chunk.toString()), true) };
    const { error } = await asc.main(
      [
        path.join("filters", filter, "assembly", "index.ts"),
        "--config",
        "asconfig.json",
        "--target",
        "release",
        "--debug",
        "--outFile",
        out,
        "--baseDir",
        projectRoot,
        "--path",
        sdkPackagePath(),
      ],
      { stdout: collect, stderr: collect },
    );
    if (error) throw new Error(`${filter}: ${diagnostics || error.message}`);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Groups functions by where they come from (`~lib/…` AssemblyScript's library, `assembly/` the SDK, …). */
export function byOrigin(functions: FunctionSize[]): Record<string, number> {
  const groups: Record<string, number> = {};
  for (const fn of functions) {
    const name = fn.name;
    let origin = "other";
    if (name.startsWith("~lib/@solo-io/proxy-runtime") || name.includes("proxy-runtime"))
      origin = "proxy-runtime";
    else if (name.startsWith("~lib/rt") || name.startsWith("~lib/shared"))
      origin = "AS runtime (GC, allocator)";
    else if (name.startsWith("~lib/util/number") || name.includes("dtoa") || name.includes("itoa"))
      origin = "AS number formatting";
    else if (name.startsWith("~lib/util/string") || name.startsWith("~lib/string")) origin = "AS strings";
    else if (name.startsWith("~lib/")) origin = "AS library (other)";
    else if (name.startsWith("filters/")) origin = "filter";
    else if (name.startsWith("assembly/json") || name.includes("/assembly/json")) origin = "SDK json";
    else if (name.startsWith("assembly/decimal") || name.includes("/assembly/decimal"))
      origin = "SDK decimal (JSON numbers)";
    else if (name.startsWith("assembly/config") || name.includes("/assembly/config"))
      origin = "SDK config reader";
    else if (/^(\.\.\/)*assembly\//.test(name) || name.startsWith("~lib/graft-envoy")) origin = "SDK (other)";
    else if (name.startsWith("filters/") || name.includes("filters/")) origin = "filter";
    else if (name.startsWith("start:")) origin = "start functions";
    groups[origin] = (groups[origin] ?? 0) + fn.bytes;
  }
  return groups;
}

export function formatSizes(label: string, sizes: ModuleSizes, top = 25): string {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const lines = [
    `${label}: ${kib(sizes.total)} (${sizes.total} bytes)`,
    "",
    "| section | bytes |",
    "|---|---:|",
  ];
  for (const [name, bytes] of Object.entries(sizes.sections).sort((a, b) => b[1] - a[1]))
    lines.push(`| ${name} | ${bytes} |`);
  lines.push("", "| origin | code bytes |", "|---|---:|");
  for (const [name, bytes] of Object.entries(byOrigin(sizes.functions)).sort((a, b) => b[1] - a[1]))
    lines.push(`| ${name} | ${bytes} |`);
  lines.push("", `| largest functions (${sizes.functions.length} in all) | bytes |`, "|---|---:|");
  for (const fn of sizes.functions.slice(0, top)) lines.push(`| \`${fn.name}\` | ${fn.bytes} |`);
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf("--top");
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
  for (const target of args) {
    const bytes = target.endsWith(".wasm") ? readFileSync(target) : await namedReleaseBuild(target);
    const sizes = moduleSizes(bytes);
    // The name section is not part of the release module.
    const named = Object.entries(sizes.sections).find(([name]) => name === 'custom "name"');
    if (named && !target.endsWith(".wasm")) {
      sizes.total -= named[1];
      delete sizes.sections[named[0]];
    }
    console.log(formatSizes(target, sizes, top) + "\n");
  }
}
