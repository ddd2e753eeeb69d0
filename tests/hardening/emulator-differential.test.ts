// Issue 18: the emulator against real Envoy 1.40 on fuzzed requests. For every filter of the catalog,
// its configs/good examples plus generated variations, each replayed with seeded fuzz requests
// (tools/fuzz/requests.ts) on the emulator and on one Envoy per configuration (--concurrency 1),
// compared as scenarios are (status, outcome, the headers the upstream saw and the client got,
// bodies, metric deltas). Every difference must be one of src/host/known-differences.ts.
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { listFilters, type FilterInfo } from "../../src/filters/catalog.ts";
import { explainDifferences } from "../../src/host/known-differences.ts";
import { replayOnBoth, type ReplayCase } from "../../src/host/replay.ts";
import { differentialConfiguration, differentialRequest, Rng } from "../../tools/fuzz/requests.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { builtWasm } from "../support/envoy-fixture.ts";

const CASES_PER_FILTER = Number(process.env.GRAFT_DIFFERENTIAL_CASES ?? 200);
const CONFIGURATIONS_PER_FILTER = 5;
const SEED = Number(process.env.GRAFT_DIFFERENTIAL_SEED ?? 18);

function goodExamples(info: FilterInfo): { name: string; configuration: unknown }[] {
  const dir = path.join(info.dir, "configs", "good");
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => ({ name: file, configuration: JSON.parse(readFileSync(path.join(dir, file), "utf8")) }));
}

describe("emulator and Envoy agree on fuzzed requests", () => {
  for (const info of listFilters()) {
    it(`${info.name}: ${CASES_PER_FILTER} seeded cases`, { timeout: 120_000 }, async () => {
      const wasm = builtWasm(`${info.name}.wasm`);
      const rng = new Rng(SEED * 7919 + info.name.length);
      const configurations = goodExamples(info);
      for (let i = 0; configurations.length < CONFIGURATIONS_PER_FILTER && i < 20; i++) {
        const generated = await differentialConfiguration(rng, info.name);
        if (generated === undefined) break;
        configurations.push({ name: `variation ${i}`, configuration: generated });
      }
      const batched = info.contract.metrics.some((metric) => metric.batched === true);
      const per = Math.ceil(CASES_PER_FILTER / configurations.length);
      const unexplained: string[] = [];
      const explained = new Map<string, number>();
      let cases = 0;
      for (const { name, configuration } of configurations) {
        const list: ReplayCase[] = Array.from({ length: per }, (_, i) => ({
          name: `case ${i + 1}`,
          request: differentialRequest(rng),
        }));
        cases += list.length;
        const result = await replayOnBoth({
          module: wasm,
          wasmPath: wasm,
          rootId: info.rootId,
          name: info.name,
          configuration,
          cases: list,
          batchedMetrics: batched,
        });
        const verdict = explainDifferences(result, list);
        for (const [id, count] of verdict.explained) explained.set(id, (explained.get(id) ?? 0) + count);
        unexplained.push(...verdict.unexplained.map((line) => `${name}: ${line}`));
        if (verdict.cases.length > 0) {
          // Saved whole, to replay one by one: .graft/differential/<filter>.json
          mkdirSync(path.join(projectRoot, ".graft", "differential"), { recursive: true });
          appendFileSync(
            path.join(projectRoot, ".graft", "differential", `${info.name}.jsonl`),
            verdict.cases.map((c) => JSON.stringify({ configuration, ...c })).join("\n") + "\n",
          );
        }
      }
      console.log(
        `${info.name}: ${cases} cases over ${configurations.length} configurations; known differences ${JSON.stringify(Object.fromEntries(explained))}`,
      );
      assert.ok(cases >= CASES_PER_FILTER);
      assert.deepEqual(unexplained.slice(0, 40), []);
    });
  }
});
