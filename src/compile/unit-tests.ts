// A filter's AssemblyScript unit tests (assembly/__tests__/*.spec.ts), run with as-pect for any
// filter folder, in this repository or outside it: graft writes an as-pect configuration for the
// folder whose package path resolves the SDK, as the build does.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { FilterInfo } from "../filters/catalog.ts";
import { buildDir, projectRoot } from "../util/paths.ts";
import { sdkPackagePath, writeContractConstants } from "./compile.ts";

export interface UnitTestRun {
  /** False when the filter has no assembly/__tests__/*.spec.ts. */
  ran: boolean;
  passed: boolean;
  output: string;
}

function specFiles(dir: string): string[] {
  const tests = path.join(dir, "assembly", "__tests__");
  if (!existsSync(tests)) return [];
  return readdirSync(tests).filter((file) => file.endsWith(".spec.ts"));
}

/** Runs the filter's as-pect specs; the output is as-pect's summary. */
export function runUnitTests(filter: FilterInfo): UnitTestRun {
  if (specFiles(filter.dir).length === 0) return { ran: false, passed: true, output: "" };
  writeContractConstants(filter);
  const work = path.join(buildDir, ".as-pect", filter.name);
  mkdirSync(work, { recursive: true });
  const base = JSON.parse(readFileSync(path.join(projectRoot, "as-pect.asconfig.json"), "utf8")) as {
    options: Record<string, unknown>;
    entries: string[];
  };
  // asc reads the paths of an asconfig relative to the file: make them absolute.
  const asconfig = path.join(work, "asconfig.json");
  writeFileSync(
    asconfig,
    JSON.stringify({
      ...base,
      options: { ...base.options, path: [sdkPackagePath()] },
      entries: base.entries.map((entry) => path.resolve(projectRoot, entry)),
    }),
  );
  const config = path.join(work, "as-pect.config.mjs");
  const entries = path.relative(projectRoot, path.join(filter.dir, "assembly", "__tests__", "*.spec.ts"));
  writeFileSync(
    config,
    `export default {
  entries: [${JSON.stringify(entries)}],
  include: [],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
`,
  );
  const asp = path.join(projectRoot, "node_modules", "@as-pect", "cli", "bin", "asp.js");
  // as-pect joins the working directory and --config: an absolute path makes it crash (exit 7).
  const args = [
    "--config",
    path.relative(projectRoot, config),
    "--as-config",
    path.relative(projectRoot, asconfig),
  ];
  const result = spawnSync(process.execPath, [asp, ...args, "--summary", "--no-logo"], {
    cwd: projectRoot,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  // as-pect colours its summary (FORCE_COLOR=0 would switch that off, but crashes it too).
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.replace(/\u001b\[[0-9;]*m/g, "");
  return { ran: true, passed: result.status === 0, output };
}
