// `npm run bench [-- <name>...]`: graft's benchmarks, each printing a Markdown report. Loads target
// loopback only and are bounded in time. Names: judge, swap, emulator, rate-limiter, payload-validator.
import { judgeBenchMarkdown } from "../tools/bench/judge.ts";
import { benchSwap } from "../tools/bench/swap-bench.ts";
import { benchEmulator } from "../tools/bench/emulator.ts";
import { benchRateLimiter } from "../tools/bench/rate-limiter.ts";
import { benchPayloadValidator } from "../tools/bench/payload-validator.ts";

const benches: Record<string, () => Promise<string>> = {
  judge: async () => judgeBenchMarkdown({}),
  swap: benchSwap,
  emulator: benchEmulator,
  "rate-limiter": () => benchRateLimiter(),
  "payload-validator": () => benchPayloadValidator(),
};

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
