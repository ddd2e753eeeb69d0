// `node --import tsx tools/bench/emulator.ts`: requests per second through the host emulator for
// header-rewrite (build/header-rewrite.wasm), with a fixed upstream answer so the figure is the
// filter and the host, not the upstream. Bounded: 200,000 requests after 20,000 warm-up ones.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { buildDir } from "../../src/util/paths.ts";
import { Emulator } from "../../src/host/emulator.ts";
import { HeaderMap } from "../../src/host/headers.ts";
import type { UpstreamResponse } from "../../src/host/vm.ts";

const CONFIG = {
  injection_id: "bench",
  rules: [
    {
      name: "tag-api",
      match: { methods: ["GET", "POST"], path: { prefix: "/api/" } },
      request: [
        { op: "set", name: "x-graft", value: "${injection_id}" },
        { op: "append", name: "x-trace", value: "graft" },
        { op: "remove", name: "x-internal" },
      ],
      response: [{ op: "set", name: "x-graft-response", value: "user=${request.header.x-user}" }],
    },
    {
      name: "health",
      match: { path: { exact: "/health" } },
      response: [{ op: "set", name: "cache-control", value: "no-store" }],
    },
  ],
};

export interface EmulatorBenchResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
}

export async function measureEmulator(
  requests = 200_000,
  wasm = path.join(buildDir, "header-rewrite.wasm"),
): Promise<EmulatorBenchResult> {
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing: run \`npm run build\` first`);
  const emulator = await Emulator.load({ module: wasm, rootId: "header-rewrite", configuration: CONFIG });
  const answer: UpstreamResponse = {
    status: 200,
    headers: HeaderMap.from({ "content-type": "application/json", "x-upstream": "bench" }),
  };
  const upstream = () => answer;
  const headers = { "x-user": "alice", "x-trace": "client", "x-internal": "secret", "user-agent": "bench" };
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      const result = emulator.request({ path: i % 4 === 0 ? "/health" : "/api/items", headers, upstream });
      if (result.status !== 200) throw new Error(`request ${i} answered ${result.status}`);
    }
  };
  run(Math.min(20_000, requests));
  const started = process.hrtime.bigint();
  run(requests);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { requests, seconds, requestsPerSecond: requests / seconds };
}

/** A printable report of the emulator's throughput for header-rewrite. */
export async function benchEmulator(): Promise<string> {
  const result = await measureEmulator();
  return [
    "host emulator, header-rewrite (2 rules, 4 request headers, fixed upstream answer), 1 worker, in process",
    `  ${result.requests.toLocaleString("en-US")} requests in ${result.seconds.toFixed(2)} s: ${Math.round(result.requestsPerSecond).toLocaleString("en-US")} requests/s`,
  ].join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(await benchEmulator());
}
