// A filter for toolkit tests that must not depend on any filter of this repository: the one
// `graft new` writes (it answers 403 under a blocked prefix and counts that as its bad event),
// scaffolded and built once per test process in a temporary folder.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildFilter } from "../../src/compile/compile.ts";
import { filterFromDir, type FilterInfo } from "../../src/filters/catalog.ts";
import { scaffoldFilter } from "../../src/filters/scaffold.ts";

export const SAMPLE_FILTER = "sample-filter";

let built: Promise<FilterInfo> | undefined;

/** The sample filter, built (release and debug) in its own folder. */
export function sampleFilter(): Promise<FilterInfo> {
  built ??= (async () => {
    const dir = await scaffoldFilter(SAMPLE_FILTER, mkdtempSync(path.join(tmpdir(), "graft-sample-")));
    const filter = filterFromDir(dir);
    await buildFilter(filter);
    return filter;
  })();
  return built;
}
