import asc from "assemblyscript/asc";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { checkModuleForEnvoy, type ModuleCheck } from "./envoy-abi.ts";
import { findFilter, listFilters, type FilterInfo } from "../filters/catalog.ts";
import { assemblyConstants } from "../filters/contract.ts";
import { buildDir, projectRoot } from "../util/paths.ts";
import { GraftError } from "../util/errors.ts";

export type BuildTarget = "release" | "debug";

export interface BuiltModule {
  name: string;
  target: BuildTarget;
  path: string;
  bytes: number;
  check: ModuleCheck;
}

export class BuildError extends GraftError<"BUILD_FAILED"> {
  constructor(message: string) {
    super("BUILD_FAILED", message);
  }
}

/** The package name filters outside this repository import the SDK by: `graft-envoy/assembly`. */
export const SDK_PACKAGE = "graft-envoy";

/**
 * A folder for asc's package resolution where SDK_PACKAGE is this checkout, so a filter in an
 * author's own repository builds against the graft that builds it (its own node_modules, when it
 * installed graft, is searched first).
 */
export function sdkPackagePath(): string {
  const dir = path.join(buildDir, ".packages");
  const link = path.join(dir, SDK_PACKAGE);
  mkdirSync(dir, { recursive: true });
  if (!existsSync(link)) symlinkSync(projectRoot, link, "dir");
  return dir;
}

/** Compiles one AssemblyScript entry point with the project's asconfig.json target, then checks its imports. */
export async function compileModule(
  name: string,
  entry: string,
  outFile: string,
  target: BuildTarget,
): Promise<BuiltModule> {
  await mkdir(path.dirname(outFile), { recursive: true });
  let diagnostics = "";
  const collect = { write: (chunk: string | Uint8Array) => ((diagnostics += chunk.toString()), true) };
  const { error } = await asc.main(
    [
      path.relative(projectRoot, entry),
      "--config",
      "asconfig.json",
      "--target",
      target,
      "--outFile",
      path.relative(projectRoot, outFile),
      // Paths are read from the project root whatever the working directory; the package path
      // is absolute, as asc resolves it from the working directory.
      "--baseDir",
      projectRoot,
      "--path",
      sdkPackagePath(),
    ],
    { stdout: collect, stderr: collect, readFile: undefined },
  );
  if (error)
    throw new BuildError(`${name} (${target}) failed to compile:\n${diagnostics.trim() || error.message}`);
  const bytes = await readFile(outFile);
  const check = checkModuleForEnvoy(bytes);
  if (check.problems.length > 0) {
    throw new BuildError(
      `${name} (${target}) would not load in Envoy 1.40:\n  - ${check.problems.join("\n  - ")}`,
    );
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
 * Writes the filter's assembly/contract.generated.ts from its filter.json (only when it changed, so
 * editors and watchers see no churn). Returns the file's path.
 */
export function writeContractConstants(filter: FilterInfo): string {
  const text = assemblyConstants(filter.contract);
  const current = existsSync(filter.generatedConstants)
    ? readFileSync(filter.generatedConstants, "utf8")
    : "";
  if (current !== text) writeFileSync(filter.generatedConstants, text);
  return filter.generatedConstants;
}

/** Builds one filter, release and debug, after generating its constants from the contract. */
export async function buildFilter(filter: FilterInfo): Promise<BuiltModule[]> {
  writeContractConstants(filter);
  return [
    await compileModule(filter.name, filter.entry, filter.releaseWasm, "release"),
    await compileModule(filter.name, filter.entry, filter.debugWasm, "debug"),
  ];
}

/**
 * Builds every filter (release and debug) and every Wasm test fixture. `only` narrows to the named
 * filters (names of filters/ or folder paths). Compiles run in sequence: the machine has two cores
 * and asc is single-threaded anyway.
 */
export async function buildAll(only: string[] = []): Promise<BuiltModule[]> {
  const built: BuiltModule[] = [];
  const filters = only.length === 0 ? listFilters() : only.map((name) => findFilter(name));
  for (const filter of filters) built.push(...(await buildFilter(filter)));
  if (only.length === 0) {
    for (const fixture of fixtureEntries()) {
      built.push(
        await compileModule(
          fixture.name,
          fixture.entry,
          path.join(buildDir, "fixtures", `${fixture.name}.wasm`),
          "release",
        ),
      );
    }
  }
  return built;
}

export function formatBuildReport(modules: BuiltModule[]): string {
  const rows = modules.map((module) => {
    const kib = (module.bytes / 1024).toFixed(1).padStart(7);
    return `${module.target.padEnd(8)}${kib} KiB  ${path.relative(process.cwd(), module.path)}  (${module.check.abi}, ${module.check.imports.length} imports)`;
  });
  return rows.join("\n");
}
