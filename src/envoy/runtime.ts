import { EnvoyContainer } from "./container.ts";
import { EnvoyProcess, type EnvoyOptions } from "./launcher.ts";
import type { RunningEnvoyBase } from "./running-envoy.ts";

/** How graft runs an Envoy: a child process of the official binary, or a container of the same binary. */
export type EnvoyRuntime = "process" | "container";

export const ENVOY_RUNTIMES: readonly EnvoyRuntime[] = ["process", "container"];

/** A running Envoy, whichever runtime runs it. */
export type RunningEnvoy = RunningEnvoyBase;

export interface RuntimeOptions extends EnvoyOptions {
  /** Host directories Envoy must read besides those the bootstrap names (e.g. injected modules). */
  readOnlyDirs?: string[];
}

export function parseRuntime(value: string | undefined): EnvoyRuntime {
  const runtime = value ?? "process";
  if (!(ENVOY_RUNTIMES as readonly string[]).includes(runtime)) {
    throw new Error(`unknown Envoy runtime "${runtime}"; use ${ENVOY_RUNTIMES.join(" or ")}`);
  }
  return runtime as EnvoyRuntime;
}

export async function startEnvoy(runtime: EnvoyRuntime, options: RuntimeOptions): Promise<RunningEnvoy> {
  if (runtime === "container") return EnvoyContainer.start(options);
  return EnvoyProcess.start(options);
}
