import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { buildDir, filtersDir } from "../util/paths.ts";

/** One filter of the library: `filters/<name>/` with its source, configuration schema and README. */
export interface FilterInfo {
  name: string;
  dir: string;
  /** AssemblyScript entry point. */
  entry: string;
  /** JSON Schema of the filter's configuration. */
  schemaPath: string;
  /** The root id the module registers; graft uses the filter name. */
  rootId: string;
  releaseWasm: string;
  debugWasm: string;
}

export function filterInfo(name: string): FilterInfo {
  const dir = path.join(filtersDir, name);
  return {
    name,
    dir,
    entry: path.join(dir, "assembly", "index.ts"),
    schemaPath: path.join(dir, "schema.json"),
    rootId: name,
    releaseWasm: path.join(buildDir, `${name}.wasm`),
    debugWasm: path.join(buildDir, "debug", `${name}.wasm`),
  };
}

export function listFilters(): FilterInfo[] {
  if (!existsSync(filtersDir)) return [];
  return readdirSync(filtersDir, { withFileTypes: true })
    .filter(
      (entry) => entry.isDirectory() && existsSync(path.join(filtersDir, entry.name, "assembly", "index.ts")),
    )
    .map((entry) => filterInfo(entry.name))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function findFilter(name: string): FilterInfo {
  const info = filterInfo(name);
  if (!existsSync(info.entry)) {
    const known = listFilters().map((filter) => filter.name);
    throw new Error(
      `no filter named "${name}" (filters/${name}/assembly/index.ts is missing); known filters: ${known.join(", ") || "none"}`,
    );
  }
  return info;
}

export function loadSchema(info: FilterInfo): Record<string, unknown> {
  return JSON.parse(readFileSync(info.schemaPath, "utf8")) as Record<string, unknown>;
}
