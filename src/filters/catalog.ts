// Where filters are: this repository's filters/<name>/ folders, or any folder with a filter.json
// (an author's own repository). Everything about a filter comes from its contract.
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { GraftError } from "../util/errors.ts";
import { buildDir, filtersDir } from "../util/paths.ts";
import {
  ContractError,
  configurationSchema,
  readContract,
  rootIdOf,
  CONTRACT_FILE,
  type FilterContract,
} from "./contract.ts";

/** One filter: its folder, its contract, and where its builds go. */
export interface FilterInfo {
  name: string;
  dir: string;
  contract: FilterContract;
  /** AssemblyScript entry point. */
  entry: string;
  /** The root id the module registers. */
  rootId: string;
  /** Constants the build generates from the contract (assembly/contract.generated.ts). */
  generatedConstants: string;
  releaseWasm: string;
  debugWasm: string;
}

/** Whether `dir` holds a filter (a filter.json). */
export function isFilterDir(dir: string): boolean {
  return existsSync(path.join(dir, CONTRACT_FILE));
}

/**
 * The filter in `dir`. This repository's filters build into build/; a filter elsewhere builds into
 * its own folder's build/, so an author's repository keeps its outputs.
 */
export function filterFromDir(dir: string): FilterInfo {
  const resolved = path.resolve(dir);
  const contract = readContract(resolved);
  const inRepository = path.dirname(resolved) === filtersDir;
  const out = inRepository ? buildDir : path.join(resolved, "build");
  return {
    name: contract.name,
    dir: resolved,
    contract,
    entry: path.join(resolved, "assembly", "index.ts"),
    rootId: rootIdOf(contract),
    generatedConstants: path.join(resolved, "assembly", "contract.generated.ts"),
    releaseWasm: path.join(out, `${contract.name}.wasm`),
    debugWasm: path.join(out, "debug", `${contract.name}.wasm`),
  };
}

/** This repository's filters, by name. */
export function listFilters(): FilterInfo[] {
  if (!existsSync(filtersDir)) return [];
  return readdirSync(filtersDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && isFilterDir(path.join(filtersDir, entry.name)))
    .map((entry) => filterFromDir(path.join(filtersDir, entry.name)))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** A filter by name (one of filters/) or by folder path (anywhere). */
export function findFilter(nameOrDir: string): FilterInfo {
  if (nameOrDir.includes("/") || nameOrDir === "." || nameOrDir === "..") {
    if (!isFilterDir(nameOrDir)) {
      throw new ContractError(
        path.join(nameOrDir, CONTRACT_FILE),
        "missing: a filter folder holds a filter.json (create one with `graft new <name> --dir <parent>`)",
      );
    }
    return filterFromDir(nameOrDir);
  }
  const dir = path.join(filtersDir, nameOrDir);
  if (!isFilterDir(dir)) {
    const known = listFilters().map((filter) => filter.name);
    throw new GraftError(
      "UNKNOWN_FILTER",
      `no filter named "${nameOrDir}" (filters/${nameOrDir}/${CONTRACT_FILE} is missing); known filters: ${known.join(", ") || "none"}; a filter outside this repository is named by its folder path`,
    );
  }
  return filterFromDir(dir);
}

/** The schema a configuration of this filter must satisfy (its own plus the shared fields). */
export function loadSchema(info: FilterInfo): Record<string, unknown> {
  return configurationSchema(info.dir, info.contract);
}
