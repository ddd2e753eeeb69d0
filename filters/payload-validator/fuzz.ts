// payload-validator's fuzzer for `npm run fuzz`: the reference differential (fuzz/differential.ts),
// generated schemas and documents run through the filter and through a strict parse plus ajv.
import { runDifferential, summarize } from "./fuzz/differential.ts";

export async function fuzz(options: {
  count: number;
  seed: number;
  log: (line: string) => void;
}): Promise<{ failed: boolean; summary: string }> {
  const report = await runDifferential({ pairs: options.count, seed: options.seed, log: options.log });
  return { failed: report.undocumented > 0, summary: summarize(report) };
}
