// Host calls per request, counted on graft's host emulator: every import the module calls, and
// every call the host makes into the module (callbacks, and malloc for each value it hands over).
// The emulator is used as it is; the counting wraps WebAssembly.Instance while a module loads.
import { existsSync } from "node:fs";
import { Emulator } from "../../../src/host/emulator.ts";
import { HeaderMap } from "../../../src/host/headers.ts";
import type { UpstreamResponse } from "../../../src/host/vm.ts";
import type { FilterWithPeers } from "./groups.ts";

export interface HostCallCount {
  /** Imports called per request, in the steady state (counters batched, no tick due). */
  perRequest: number;
  /** The same, by import name. */
  byName: Record<string, number>;
  /** Calls into the module per request (callbacks and the host's malloc calls). */
  entriesPerRequest: number;
  /** malloc calls per request (each value the host hands the module). */
  mallocPerRequest: number;
  /** Host calls one flush tick makes. */
  perTick: number;
  /** The VM's linear memory after the run (bytes). */
  memoryBytes: number;
}

export interface CountedRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

type Counts = Map<string, number>;

/** Loads `module` in the emulator with counting imports and exports. */
async function countingEmulator(
  load: () => Promise<Emulator>,
): Promise<{ emulator: Emulator; imports: Counts; entries: Counts }> {
  const imports: Counts = new Map();
  const entries: Counts = new Map();
  const Original = WebAssembly.Instance;
  function Counting(this: unknown, module: WebAssembly.Module, provided?: WebAssembly.Imports) {
    const wrapped: WebAssembly.Imports = {};
    for (const [space, fns] of Object.entries(provided ?? {})) {
      wrapped[space] = {};
      for (const [name, fn] of Object.entries(fns)) {
        (wrapped[space] as Record<string, unknown>)[name] =
          typeof fn === "function"
            ? (...args: unknown[]) => {
                imports.set(name, (imports.get(name) ?? 0) + 1);
                return (fn as (...a: unknown[]) => unknown)(...args);
              }
            : fn;
      }
    }
    const instance = new Original(module, wrapped);
    const exports: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(instance.exports)) {
      exports[name] =
        typeof value === "function"
          ? Object.defineProperty(
              (...args: unknown[]) => {
                entries.set(name, (entries.get(name) ?? 0) + 1);
                return (value as (...a: unknown[]) => unknown)(...args);
              },
              "name",
              { value: name },
            )
          : value;
    }
    return { exports };
  }
  (WebAssembly as { Instance: unknown }).Instance = Counting;
  try {
    return { emulator: await load(), imports, entries };
  } finally {
    (WebAssembly as { Instance: unknown }).Instance = Original;
  }
}

const sum = (counts: Counts) => [...counts.values()].reduce((a, b) => a + b, 0);

/** Counts host calls of `requests` identical requests after `warmup` ones, on one worker. */
export async function countHostCalls(
  options: { module: string; rootId: string; configuration: unknown },
  request: CountedRequest,
  requests = 500,
  warmup = 200,
): Promise<HostCallCount> {
  const { emulator, imports, entries } = await countingEmulator(() =>
    Emulator.load({ module: options.module, rootId: options.rootId, configuration: options.configuration }),
  );
  const answer: UpstreamResponse = { status: 200, headers: HeaderMap.from({ "content-type": "text/plain" }) };
  const send = () => {
    const result = emulator.request({
      method: request.method ?? "GET",
      path: request.path,
      headers: request.headers,
      body: request.body,
      upstream: () => answer,
    });
    if (result.outcome !== "continued")
      throw new Error(`${options.module}: request ${result.outcome} ${result.status}`);
  };
  for (let i = 0; i < warmup; i++) send();
  imports.clear();
  entries.clear();
  for (let i = 0; i < requests; i++) send();
  const byName: Record<string, number> = {};
  for (const [name, count] of [...imports].sort((a, b) => b[1] - a[1])) byName[name] = count / requests;
  const result: HostCallCount = {
    perRequest: sum(imports) / requests,
    byName,
    entriesPerRequest: sum(entries) / requests,
    mallocPerRequest:
      ((entries.get("malloc") ?? 0) + (entries.get("proxy_on_memory_allocate") ?? 0)) / requests,
    perTick: 0,
    memoryBytes: emulator.workers[0]?.memoryBytes() ?? 0,
  };
  imports.clear();
  try {
    emulator.advance(1000);
    result.perTick = sum(imports);
  } catch {
    // a clock the emulator cannot move
  }
  return result;
}

/**
 * Host calls per request of every module the filters' peers modules name, filter by filter in the
 * catalog's order; a module that is not built (a peer whose build failed) is left out.
 */
export async function countAllHostCalls(filters: FilterWithPeers[]): Promise<Record<string, HostCallCount>> {
  const out: Record<string, HostCallCount> = {};
  for (const { peers } of filters)
    for (const subject of peers.hostCalls ?? []) {
      if (!existsSync(subject.module)) continue;
      out[subject.name] = await countHostCalls(subject, subject.request, subject.requests, subject.warmup);
    }
  return out;
}
