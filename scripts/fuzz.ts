// npm run fuzz [-- --requests N --seed S --numbers N --pairs N]: seeded request fuzzing on the
// emulator of every filter with a configuration generator (filters/<name>/fuzz-config.ts; memory
// tracked per VM, minimised findings in .graft/fuzz/), the JSON number fuzzer, then each filter's
// own fuzzer (filters/<name>/fuzz.ts, run with --pairs cases).
// Exit 1 on any finding.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { listFilters } from "../src/filters/catalog.ts";
import { runRequestFuzz } from "../tools/fuzz/requests.ts";
import { runNumberFuzz } from "../tools/fuzz/json-numbers.ts";

interface FilterFuzzer {
  fuzz(options: {
    count: number;
    seed: number;
    log: (line: string) => void;
  }): Promise<{ failed: boolean; summary: string }>;
}

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
let filterFailed = false;
for (const filter of listFilters()) {
  const file = path.join(filter.dir, "fuzz.ts");
  if (!existsSync(file)) continue;
  const fuzzer = (await import(pathToFileURL(file).href)) as FilterFuzzer;
  const result = await fuzzer.fuzz({ count: Number(values.pairs), seed, log });
  console.log(`${filter.name}: ${result.summary}`);
  filterFailed ||= result.failed;
}
const failed = requests.findings.length > 0 || numbers.mismatchCount > 0 || filterFailed;
process.exit(failed ? 1 : 0);
