// `node --import tsx tools/bench/emulator.ts [--filter <name|folder>] [--config <file.json>]`:
// requests per second through the host emulator for one filter, with a fixed upstream answer so
// the figure is the filter and the host, not the upstream. The filter defaults to the first one of
// filters/ and the configuration to its richest example (the largest of configs/good/*.json, as
// its contract declares them). Bounded: 200,000 requests after 20,000 warm-up ones.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { findFilter, listFilters, type FilterInfo } from "../../src/filters/catalog.ts";
import { Emulator } from "../../src/host/emulator.ts";
import { HeaderMap } from "../../src/host/headers.ts";
import type { UpstreamResponse } from "../../src/host/vm.ts";

export interface EmulatorBenchOptions {
  /** Timed requests (after min(20,000, requests) warm-up ones). */
  requests?: number;
  /** The filter (default: the first filter of filters/). */
  filter?: FilterInfo;
  /** Its configuration (default: its richest example configuration). */
  configuration?: unknown;
}

export interface EmulatorBenchResult {
  filter: string;
  /** Where the configuration came from (an example's file name, or "given"). */
  configuration: string;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Timed requests by response status. */
  statuses: Record<number, number>;
}

/** The filter a bench runs when none is given: the first filter of filters/. */
export function defaultBenchFilter(): FilterInfo {
  const first = listFilters()[0];
  if (!first) throw new Error("filters/ holds no filter: give one (a filter folder)");
  return first;
}

/** A filter's richest example configuration: the largest of its configs/good/*.json, or {}. */
export function exampleConfiguration(filter: FilterInfo): { source: string; configuration: unknown } {
  const examples = filter.contract.configuration.examples;
  const dir = examples === undefined ? "" : path.join(filter.dir, examples, "good");
  if (!dir || !existsSync(dir)) return { source: "{}", configuration: {} };
  const files = readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .map((name) => path.join(dir, name))
    .sort((a, b) => statSync(b).size - statSync(a).size || a.localeCompare(b));
  const richest = files[0];
  if (!richest) return { source: "{}", configuration: {} };
  return {
    source: path.relative(filter.dir, richest),
    configuration: JSON.parse(readFileSync(richest, "utf8")) as unknown,
  };
}

export async function measureEmulator(options: EmulatorBenchOptions = {}): Promise<EmulatorBenchResult> {
  const requests = options.requests ?? 200_000;
  const filter = options.filter ?? defaultBenchFilter();
  const example = options.configuration === undefined ? exampleConfiguration(filter) : undefined;
  const configuration = {
    injection_id: "bench",
    ...((example?.configuration ?? options.configuration) as Record<string, unknown>),
  };
  const wasm = filter.releaseWasm;
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing: run \`graft build ${filter.name}\` first`);
  const emulator = await Emulator.load({ module: wasm, rootId: filter.rootId, configuration });
  const answer: UpstreamResponse = {
    status: 200,
    headers: HeaderMap.from({ "content-type": "application/json", "x-upstream": "bench" }),
  };
  const upstream = () => answer;
  const headers = { "x-user": "alice", "x-trace": "client", "x-internal": "secret", "user-agent": "bench" };
  const statuses: Record<number, number> = {};
  const run = (count: number, tally: boolean) => {
    for (let i = 0; i < count; i++) {
      const result = emulator.request({ path: i % 4 === 0 ? "/health" : "/api/items", headers, upstream });
      if (tally) statuses[result.status] = (statuses[result.status] ?? 0) + 1;
    }
  };
  run(Math.min(20_000, requests), false);
  const started = process.hrtime.bigint();
  run(requests, true);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    filter: filter.name,
    configuration: example?.source ?? "given",
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    statuses,
  };
}

/** A printable report of the emulator's throughput for a filter (default: the first of filters/). */
export async function benchEmulator(options: EmulatorBenchOptions = {}): Promise<string> {
  const result = await measureEmulator(options);
  const statuses = Object.entries(result.statuses)
    .map(([status, count]) => `${status} ×${count.toLocaleString("en-US")}`)
    .join(", ");
  return [
    `host emulator, ${result.filter} (configuration: ${result.configuration}; 4 request headers, fixed upstream answer), 1 worker, in process`,
    `  ${result.requests.toLocaleString("en-US")} requests in ${result.seconds.toFixed(2)} s: ${Math.round(result.requestsPerSecond).toLocaleString("en-US")} requests/s (answers: ${statuses})`,
  ].join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({
    options: { filter: { type: "string" }, config: { type: "string" }, requests: { type: "string" } },
  });
  console.log(
    await benchEmulator({
      ...(values.filter ? { filter: findFilter(values.filter) } : {}),
      ...(values.config ? { configuration: JSON.parse(readFileSync(values.config, "utf8")) as unknown } : {}),
      ...(values.requests ? { requests: Number(values.requests) } : {}),
    }),
  );
}
