// Test helpers for the host emulator: the Go fixture build, fixture paths, the header-echo probe.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { compileModule } from "../../src/compile/compile.ts";
import { buildDir, projectRoot } from "../../src/util/paths.ts";

/** The root id of the header-echo probe (tests/host/header-echo). */
export const HEADER_ECHO = "header-echo";

let headerEcho: Promise<string> | undefined;

/**
 * The header-echo probe module (tests/host/header-echo/assembly/index.ts: it shows on the response
 * what a filter sees of the request headers), compiled once per test process. Its path.
 */
export function headerEchoWasm(): Promise<string> {
  headerEcho ??= (async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), "graft-header-echo-")), `${HEADER_ECHO}.wasm`);
    const entry = path.join(projectRoot, "tests", "host", "header-echo", "assembly", "index.ts");
    await compileModule(HEADER_ECHO, entry, out, "release");
    return out;
  })();
  return headerEcho;
}

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
