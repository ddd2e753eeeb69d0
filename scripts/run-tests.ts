// Runs every TypeScript test (tests/**/*.test.ts and filters/<name>/tests/*.test.ts) with node's
// test runner. Arguments narrow the run to files whose path contains one of them:
// `npm run test:ts -- launcher inject`.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { listFilters } from "../src/filters/catalog.ts";
import { projectRoot } from "../src/util/paths.ts";

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "fixtures" ? [] : testFiles(full);
    return entry.name.endsWith(".test.ts") ? [full] : [];
  });
}

const filters = process.argv.slice(2);
// The toolkit's tests, and each filter's own (filters/<name>/tests/).
const filterTests = listFilters().flatMap((filter) =>
  existsSync(path.join(filter.dir, "tests")) ? testFiles(path.join(filter.dir, "tests")) : [],
);
// The real-mesh suite runs under `npm run test:mesh` (it builds its binaries first), not here,
// unless asked for by name.
const inMeshSuite = (file: string) => file.includes(`${path.sep}mesh-e2e${path.sep}`);
const files = [...testFiles(path.join(projectRoot, "tests")), ...filterTests]
  .filter((file) =>
    filters.length === 0 ? !inMeshSuite(file) : filters.some((filter) => file.includes(filter)),
  )
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  { stdio: "inherit", cwd: projectRoot },
);

// Containers have no reaper here: every suite must remove what it started, even on failure.
const leftover = spawnSync("docker", ["ps", "-aq", "--filter", "label=graft.envoy=1"], { encoding: "utf8" });
if (leftover.status === 0 && leftover.stdout.trim()) {
  console.error(`graft containers left behind by the tests: ${leftover.stdout.trim().split("\n").join(" ")}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
