import asc from "assemblyscript/asc";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { checkModuleForEnvoy, type ModuleCheck } from "./envoy-abi.ts";
import { listFilters } from "../filters/catalog.ts";
import { buildDir, projectRoot } from "../util/paths.ts";

export type BuildTarget = "release" | "debug";

export interface BuiltModule {
  name: string;
  target: BuildTarget;
  path: string;
  bytes: number;
  check: ModuleCheck;
}

export class BuildError extends Error {}

/** Compiles one AssemblyScript entry point with the project's asconfig.json target, then checks its imports. */
export async function compileModule(name: string, entry: string, outFile: string, target: BuildTarget): Promise<BuiltModule> {
  await mkdir(path.dirname(outFile), { recursive: true });
  let diagnostics = "";
  const collect = { write: (chunk: string | Uint8Array) => ((diagnostics += chunk.toString()), true) };
  const { error } = await asc.main(
    [path.relative(projectRoot, entry), "--config", "asconfig.json", "--target", target, "--outFile", path.relative(projectRoot, outFile)],
    { stdout: collect, stderr: collect, readFile: undefined },
  );
  if (error) throw new BuildError(`${name} (${target}) failed to compile:\n${diagnostics.trim() || error.message}`);
  const bytes = await readFile(outFile);
  const check = checkModuleForEnvoy(bytes);
  if (check.problems.length > 0) {
    throw new BuildError(`${name} (${target}) would not load in Envoy 1.40:\n  - ${check.problems.join("\n  - ")}`);
  }
  return { name, target, path: outFile, bytes: bytes.byteLength, check };
}

/** Test fixtures that are Wasm modules too: tests/fixtures/<name>/assembly/index.ts → build/fixtures/<name>.wasm. */
function fixtureEntries(): { name: string; entry: string }[] {
  const dir = path.join(projectRoot, "tests", "fixtures");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, "assembly", "index.ts")))
    .map((entry) => ({ name: entry.name, entry: path.join(dir, entry.name, "assembly", "index.ts") }));
}

/**
 * Builds every filter (release and debug) and every Wasm test fixture. `only` narrows to the named
 * filters. Compiles run in sequence: the machine has two cores and asc is single-threaded anyway.
 */
export async function buildAll(only: string[] = []): Promise<BuiltModule[]> {
  const built: BuiltModule[] = [];
  const filters = listFilters().filter((filter) => only.length === 0 || only.includes(filter.name));
  if (only.length > 0 && filters.length !== only.length) {
    const missing = only.filter((name) => !filters.some((filter) => filter.name === name));
    throw new BuildError(`no filter named ${missing.join(", ")}; see filters/`);
  }
  for (const filter of filters) {
    built.push(await compileModule(filter.name, filter.entry, filter.releaseWasm, "release"));
    built.push(await compileModule(filter.name, filter.entry, filter.debugWasm, "debug"));
  }
  if (only.length === 0) {
    for (const fixture of fixtureEntries()) {
      built.push(await compileModule(fixture.name, fixture.entry, path.join(buildDir, "fixtures", `${fixture.name}.wasm`), "release"));
    }
  }
  return built;
}

export function formatBuildReport(modules: BuiltModule[]): string {
  const rows = modules.map((module) => {
    const kib = (module.bytes / 1024).toFixed(1).padStart(7);
    return `${module.target.padEnd(8)}${kib} KiB  ${path.relative(projectRoot, module.path)}  (${module.check.abi}, ${module.check.imports.length} imports)`;
  });
  return rows.join("\n");
}
