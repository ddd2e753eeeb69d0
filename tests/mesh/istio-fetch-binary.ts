// SPDX-License-Identifier: Apache-2.0
/**
 * tests/mesh/istio-fetch/ (a Go program around Istio's own fetcher, istio.io/istio/pkg/wasm) built once
 * into a cache outside the checkout and reused: `$XDG_CACHE_HOME/graft` or `~/.cache/graft`, in a
 * folder named after Istio's pseudo-version and a hash of go.mod, go.sum and main.go (an edit rebuilds).
 * The first build downloads Istio's module graph and compiles it: about 1.5 to 3 minutes here.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";

export const SOURCE_DIR = path.join(import.meta.dirname, "istio-fetch");
const SOURCES = ["go.mod", "go.sum", "main.go"];

export function istioVersion(): string {
  const match = /istio\.io\/istio (v\S+)/.exec(readFileSync(path.join(SOURCE_DIR, "go.mod"), "utf8"));
  if (!match) throw new Error(`${SOURCE_DIR}/go.mod: no istio.io/istio requirement`);
  return match[1]!;
}

export function cachedBinaryPath(): string {
  const hash = createHash("sha256");
  for (const file of SOURCES) hash.update(readFileSync(path.join(SOURCE_DIR, file)));
  const cacheRoot = process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache");
  return path.join(
    cacheRoot,
    "graft",
    `istio-fetch-${istioVersion()}-${hash.digest("hex").slice(0, 12)}`,
    "istio-fetch",
  );
}

export type IstioFetchBinary = { path: string; built: boolean; seconds: number } | { skip: string };

/** The cached binary, building it when missing; `skip` says precisely why it cannot be had here. */
export async function istioFetchBinary(timeoutMs: number): Promise<IstioFetchBinary> {
  const target = cachedBinaryPath();
  if (existsSync(target)) return { path: target, built: false, seconds: 0 };
  const go = spawnSync("go", ["version"], { encoding: "utf8" });
  if (go.error || go.status !== 0)
    return { skip: `no Go toolchain on PATH (needed once to build ${SOURCE_DIR} into ${target})` };
  await mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  const started = Date.now();
  let output = "";
  const child = spawn("go", ["build", "-trimpath", "-o", partial, "."], {
    cwd: SOURCE_DIR,
    env: { ...process.env, GOFLAGS: "-buildvcs=false -mod=readonly" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((resolve) =>
    child.once("close", (status) => resolve(status)),
  );
  clearTimeout(timer);
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  if (code !== 0) {
    await rm(partial, { force: true });
    const tail = output.trim().split("\n").slice(-15).join("\n");
    if (code === null)
      return {
        skip: `building ${SOURCE_DIR} (${go.stdout.trim()}) did not finish within ${timeoutMs / 1000} s and was killed after ${seconds} s; last output:\n${tail}`,
      };
    throw new Error(`go build in ${SOURCE_DIR} failed (exit ${code}, ${seconds} s):\n${tail}`);
  }
  await rename(partial, target);
  return { path: target, built: true, seconds };
}

export interface IstioFetchResult {
  manifestDigest?: string;
  sha256?: string;
  size?: number;
  error?: string;
}

/** Runs the fetcher on `reference` (host/repo:tag or @sha256:…), writing the module to `out`. */
export function runIstioFetch(binary: string, reference: string, out: string): IstioFetchResult {
  const run = spawnSync(binary, ["-out", out, reference], { encoding: "utf8", timeout: 60_000 });
  const line = run.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as IstioFetchResult;
  } catch {
    return { error: `istio-fetch printed no JSON (exit ${run.status}): ${run.stdout}${run.stderr}` };
  }
}
