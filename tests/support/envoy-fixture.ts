import { existsSync } from "node:fs";
import path from "node:path";
import type { HttpFilter } from "../../src/envoy/bootstrap.ts";
import assert from "node:assert/strict";
import { EnvoyStartError, validateHttpFilters, type EnvoyOptions } from "../../src/envoy/launcher.ts";
import { startEnvoy, type EnvoyRuntime, type RunningEnvoy } from "../../src/envoy/runtime.ts";
import { EchoUpstream, type EchoedRequest } from "../../src/upstream/echo.ts";
import { buildDir } from "../../src/util/paths.ts";

/** A real Envoy in front of the echo upstream, with one listener ("main") carrying `filters`. */
export interface EnvoyFixture {
  envoy: RunningEnvoy;
  echo: EchoUpstream;
  /** `http://127.0.0.1:<port>` of the listener. */
  url: string;
  stop(): Promise<void>;
}

export async function startEnvoyFixture(
  filters: HttpFilter[],
  options: Partial<Pick<EnvoyOptions, "concurrency" | "componentLogLevel" | "label">> & {
    runtime?: EnvoyRuntime;
  } = {},
): Promise<EnvoyFixture> {
  const echo = await EchoUpstream.start();
  try {
    const { runtime, ...envoyOptions } = options;
    const envoy = await startEnvoy(runtime ?? "process", {
      ...envoyOptions,
      upstream: { host: "127.0.0.1", port: echo.port },
      listeners: [{ name: "main", httpFilters: filters }],
    });
    const url = await envoy.listenerUrl("main");
    return {
      envoy,
      echo,
      url,
      async stop() {
        await envoy.stop();
        await echo.stop();
      },
    };
  } catch (error) {
    await echo.stop();
    throw error;
  }
}

/**
 * Wraps a test body so that a failure carries the tail of Envoy's log: the reason for most
 * real-Envoy failures is there, not in the assertion.
 */
export function withEnvoyLog(
  fixture: () => { envoy: { label: string; logs(): string } } | undefined,
  body: () => Promise<void>,
): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (error) {
      const envoy = fixture()?.envoy;
      if (envoy && error instanceof Error) {
        const tail = envoy.logs().split("\n").slice(-80).join("\n");
        error.message += `\n--- ${envoy.label} log (last 80 lines) ---\n${tail}`;
      }
      throw error;
    }
  };
}

/** The request the echo upstream saw, from the echo body of a response. */
export async function echoed(response: Response): Promise<EchoedRequest> {
  return (await response.json()) as EchoedRequest;
}

/** Path of a built module; a clear failure when `npm run build` has not run. */
export function builtWasm(relative: string): string {
  const file = path.join(buildDir, relative);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  return file;
}

/**
 * Asserts that Envoy refuses `filter` at configure time and that its log carries the filter's
 * "invalid configuration" line with `reason` (a refused configuration names its field).
 */
export async function assertRefusedByEnvoy(
  filter: HttpFilter,
  filterName: string,
  reason: RegExp,
): Promise<void> {
  await assert.rejects(validateHttpFilters([filter]), (error: unknown) => {
    assert.ok(
      error instanceof EnvoyStartError,
      `expected Envoy to refuse the configuration, got ${String(error)}`,
    );
    assert.match(error.log, new RegExp(`${filterName}\\[[^\\]]*\\]: invalid configuration: `));
    assert.match(error.log, reason);
    return true;
  });
}
