// `npm run bench [-- <name>...]`: graft's benchmarks, each printing a Markdown report. Loads target
// loopback only and are bounded in time. Names: judge, swap, emulator, and every filter with a
// bench.ts in its folder (exporting `bench(): Promise<string>`).
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { listFilters } from "../src/filters/catalog.ts";
import { judgeBenchMarkdown } from "../tools/bench/judge.ts";
import { benchSwap } from "../tools/bench/swap-bench.ts";
import { benchEmulator } from "../tools/bench/emulator.ts";
import { benchPeers } from "../tools/bench/peers/index.ts";

const benches: Record<string, () => Promise<string>> = {
  judge: async () => judgeBenchMarkdown({}),
  swap: benchSwap,
  emulator: benchEmulator,
  // Every filter against the peers an operator would pick instead (about 12 minutes): BENCHMARKS.md.
  peers: () => benchPeers(),
};
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

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; choose from ${Object.keys(benches).join(", ")}`);
  process.exit(1);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
  const started = Date.now();
  console.log(await benches[name]!());
  console.log(`\n(${name}: ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
