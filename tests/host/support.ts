// Test helpers for the host emulator: the Go fixture build, fixture paths.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { buildDir, projectRoot } from "../../src/util/paths.ts";

export const goFilterDir = path.join(projectRoot, "tests", "fixtures", "go-filter");
export const goFilterWasm = path.join(buildDir, "fixtures", "go-filter.wasm");

/** Whether `go` runs here; the Go fixture's tests skip with this reason when it does not. */
export function goMissing(): string | false {
  const result = spawnSync("go", ["version"], { encoding: "utf8" });
  return result.status === 0 ? false : "go is not installed: the Go proxy-wasm fixture cannot be built";
}

/** Builds tests/fixtures/go-filter to build/fixtures/go-filter.wasm unless the output is newer than its sources. */
export function buildGoFilter(): string {
  const sources = ["main.go", "go.mod", "go.sum"].map(
    (file) => statSync(path.join(goFilterDir, file)).mtimeMs,
  );
  if (existsSync(goFilterWasm) && statSync(goFilterWasm).mtimeMs > Math.max(...sources)) return goFilterWasm;
  const result = spawnSync("go", ["build", "-buildmode=c-shared", "-o", goFilterWasm, "."], {
    cwd: goFilterDir,
    encoding: "utf8",
    env: { ...process.env, GOOS: "wasip1", GOARCH: "wasm", GOFLAGS: "-mod=readonly" },
    timeout: 300_000,
  });
  if (result.status !== 0)
    throw new Error(`go build of ${goFilterDir} failed:\n${result.stderr}${result.stdout}`);
  return goFilterWasm;
}
