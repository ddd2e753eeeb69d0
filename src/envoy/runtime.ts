import type { AdminClient, EnvoyStats } from "./admin.ts";
import { EnvoyContainer } from "./container.ts";
import { EnvoyProcess, type EnvoyOptions } from "./launcher.ts";

/** How graft runs an Envoy: a child process of the official binary, or a container of the same binary. */
export type EnvoyRuntime = "process" | "container";

export const ENVOY_RUNTIMES: readonly EnvoyRuntime[] = ["process", "container"];

/** What tests, the demo and the tools need of a running Envoy, whichever runtime runs it. */
export interface RunningEnvoy {
  readonly label: string;
  readonly admin: AdminClient;
  /** Envoy's pid on this host: unchanged across injections, since graft never restarts Envoy. */
  readonly pid: number | undefined;
  logs(): string;
  listenerUrl(name: string): Promise<string>;
  stats(filter?: string): Promise<EnvoyStats>;
  stop(): Promise<void>;
}

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
