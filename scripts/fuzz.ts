// npm run fuzz [-- --requests N --seed S --numbers N --pairs N]: seeded request fuzzing of every
// filter on the emulator (memory tracked per VM, minimised findings in .graft/fuzz/), then the JSON
// number and payload-validator differential fuzzers. Exit 1 on any finding.
import { parseArgs } from "node:util";
import { runRequestFuzz } from "../tools/fuzz/requests.ts";
import { runNumberFuzz } from "../tools/fuzz/json-numbers.ts";
import { runDifferential, summarize } from "../tools/fuzz/payload-validator-differential.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    numbers: { type: "string", default: "1000000" },
    pairs: { type: "string", default: "10000" },
  },
});
const seed = Number(values.seed);
const log = (line: string) => console.log(line);
const requests = await runRequestFuzz({ requests: Number(values.requests), seed, log });
console.log(
  `requests: ${requests.requests} over ${requests.configurations} configurations (${requests.refusedConfigurations} refused), ` +
    `${requests.traps} traps, ${requests.findings.length} findings, ${requests.seconds.toFixed(0)} s`,
);
console.log(
  `largest VM memory: ${JSON.stringify(requests.maxMemoryBytes)}; statuses ${JSON.stringify(requests.statuses)}`,
);
const numbers = runNumberFuzz({ count: Number(values.numbers), seed, log });
console.log(`json numbers: ${numbers.count} texts, ${numbers.mismatchCount} mismatches`);
const differential = await runDifferential({ pairs: Number(values.pairs), seed, log });
console.log(summarize(differential));
const failed = requests.findings.length > 0 || numbers.mismatchCount > 0 || differential.undocumented > 0;
process.exit(failed ? 1 : 0);
