// `node --import tsx filters/payload-validator/bench-profile.ts`: where payload-validator's per-byte
// cost goes. The same 64 KiB (and 1 KiB) body through the filter on the host emulator (Node's V8,
// the engine Envoy embeds) with configurations that add one stage at a time: the body held and
// counted; + the body copied into the VM and scanned for a deny pattern; + JSON well-formedness;
// + the schema. The differences are the stages' costs per KiB. In process, bounded (a few seconds).
import { pathToFileURL } from "node:url";
import { findFilter } from "../../src/filters/catalog.ts";
import { Emulator } from "../../src/host/emulator.ts";
import { HeaderMap } from "../../src/host/headers.ts";
import { BENCH_CONFIG, benchBody } from "./bench.ts";
import { BUFFER_ONLY_CONFIG } from "./peers.ts";

export interface StageCost {
  stage: string;
  /** Microseconds per request in the emulator (filter plus emulated host). */
  usPerRequest: Record<string, number>;
}

const full = BENCH_CONFIG as unknown as { json: { max_depth: number; forbidden_keys: string[] } };
export const STAGES: { stage: string; configuration: unknown }[] = [
  { stage: "body held and counted (buffer only)", configuration: BUFFER_ONLY_CONFIG },
  {
    stage: "+ copied into the VM, deny pattern scanned",
    configuration: {
      ...BUFFER_ONLY_CONFIG,
      injection_id: "deny",
      deny: [{ in: "body", contains: "${jndi:" }],
    },
  },
  {
    stage: "+ JSON well-formedness (parser, no schema)",
    configuration: {
      ...BUFFER_ONLY_CONFIG,
      injection_id: "parse",
      deny: [{ in: "body", contains: "${jndi:" }],
      json: { max_depth: full.json.max_depth, forbidden_keys: full.json.forbidden_keys },
    },
  },
  { stage: "+ schema (the benchmark's full configuration)", configuration: BENCH_CONFIG },
];

async function timePerRequest(configuration: unknown, body: Uint8Array, seconds: number): Promise<number> {
  const filter = findFilter("payload-validator");
  const emulator = await Emulator.load({ module: filter.releaseWasm, rootId: filter.rootId, configuration });
  const answer = { status: 200, headers: HeaderMap.from({ "content-type": "text/plain" }) };
  const send = () => {
    const result = emulator.request({
      method: "POST",
      path: "/orders",
      headers: { "content-type": "application/json" },
      body,
      upstream: () => answer,
    });
    if (result.status !== 200) throw new Error(`refused: ${result.status}`);
  };
  for (let i = 0; i < 50; i++) send();
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < 20; i++) send();
    count += 20;
  }
  return ((performance.now() - start) * 1000) / count;
}

export async function profilePayload(sizes = [1024, 64 * 1024], seconds = 1): Promise<StageCost[]> {
  const out: StageCost[] = [];
  for (const { stage, configuration } of STAGES) {
    const usPerRequest: Record<string, number> = {};
    for (const size of sizes)
      usPerRequest[`${size / 1024} KiB`] = await timePerRequest(configuration, benchBody(size), seconds);
    out.push({ stage, usPerRequest });
  }
  return out;
}

export function formatProfile(costs: StageCost[]): string {
  const sizes = Object.keys(costs[0]?.usPerRequest ?? {});
  const lines = [
    `| stage | ${sizes.map((s) => `µs/request, ${s}`).join(" | ")} | added µs/KiB at ${sizes.at(-1)} |`,
    `|---|${sizes.map(() => "---:").join("|")}|---:|`,
  ];
  const kib = Number.parseFloat(sizes.at(-1) ?? "1");
  costs.forEach((cost, i) => {
    const last = cost.usPerRequest[sizes.at(-1)!]!;
    const previous = i > 0 ? costs[i - 1]!.usPerRequest[sizes.at(-1)!]! : NaN;
    lines.push(
      `| ${cost.stage} | ${sizes.map((s) => cost.usPerRequest[s]!.toFixed(1)).join(" | ")} | ${i > 0 ? ((last - previous) / kib).toFixed(2) : "–"} |`,
    );
  });
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(formatProfile(await profilePayload()));
}
