// `npm run bench [-- <name>... | all]`: graft's benchmarks, each printing a Markdown report. Loads
// target loopback only and are bounded in time.
//
// With no name, the default set runs, in this order (measured on the 2-core CI machine, idle):
//   swap        live module swaps under traffic, requests lost                        ~5 s
//   emulator    the first filter of filters/ on the in-process host emulator         ~2 s
//   judge       the canary judge's error rates and detection times (simulated)      ~21 s
//   peers       every filter beside native filters, Lua, the Go SDK and a C floor   ~12 min
//               on real Envoy; writes bench/results/<time>.json, .md, .svg and the
//               latest run into BENCHMARKS.md
// about 12.5 minutes in all, inside the 15 the issue allows. Each filter's own bench.ts (named by
// the filter; 70-105 s each today) measures on Envoy what peers' groups measure side by side, so it
// runs only by name; `all` runs every benchmark (about 15.5 minutes).
// Each benchmark is imported only when it runs.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { listFilters } from "../src/filters/catalog.ts";

const benches: Record<string, () => Promise<string>> = {
  swap: async () => (await import("../tools/bench/swap-bench.ts")).benchSwap(),
  emulator: async () => (await import("../tools/bench/emulator.ts")).benchEmulator(),
  judge: async () => (await import("../tools/bench/judge.ts")).judgeBenchMarkdown({}),
  peers: async () => (await import("../tools/bench/peers/index.ts")).benchPeers(),
};
/** What `npm run bench` runs with no name (see above). */
const DEFAULT_SET = ["swap", "emulator", "judge", "peers"];
for (const filter of listFilters()) {
  const file = path.join(filter.dir, "bench.ts");
  if (!existsSync(file)) continue;
  benches[filter.name] = async () => {
    const module = (await import(pathToFileURL(file).href)) as { bench?: () => Promise<string> };
    if (typeof module.bench !== "function")
      throw new Error(`${file}: export async function bench(): Promise<string>`);
    return module.bench();
  };
}

const args = process.argv.slice(2);
const wanted = args.length === 0 ? DEFAULT_SET : args.includes("all") ? Object.keys(benches) : args;
const unknown = wanted.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark ${unknown.join(", ")}; choose from ${Object.keys(benches).join(", ")}, or all`,
  );
  process.exit(1);
}
const started = Date.now();
const took: string[] = [];
for (const name of wanted) {
  const start = Date.now();
  console.log(await benches[name]!());
  const seconds = (Date.now() - start) / 1000;
  took.push(`${name} ${seconds.toFixed(1)} s`);
  console.log(`\n(${name}: ${seconds.toFixed(1)} s)\n`);
}
if (wanted.length > 1)
  console.log(`(${took.join(", ")}; ${((Date.now() - started) / 60_000).toFixed(1)} min in all)`);
