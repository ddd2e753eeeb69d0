import path from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout's root: every project-relative path (build/, .tools/, filters/) hangs off it. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export const buildDir = path.join(projectRoot, "build");
export const filtersDir = path.join(projectRoot, "filters");
export const toolsDir = path.join(projectRoot, ".tools");
