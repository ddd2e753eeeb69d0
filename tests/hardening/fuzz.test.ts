// The CI version of `npm run fuzz` (issue 18, point 3): 100,000 seeded requests across every filter
// with a fuzz-config.ts on the emulator, with hostile headers, chunkings, HTTP/2 framing and clock
// jumps. No trap, and no VM above its README's memory bound.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fuzzedFilters, runRequestFuzz } from "../../tools/fuzz/requests.ts";

describe("request fuzzing (CI size)", () => {
  it("100,000 requests: no trap, memory within bounds", { timeout: 180_000 }, async () => {
    const result = await runRequestFuzz({ requests: 100_000, seed: 18, outDir: ".graft/fuzz/ci" });
    console.log(JSON.stringify({ ...result, findings: result.findings.length }));
    assert.deepEqual(
      result.findings.map((f) => `${f.filter} ${f.kind} ${f.detail.slice(0, 300)}`),
      [],
    );
    // Every filter with a fuzz configuration was fuzzed, each within its own bound.
    assert.deepEqual(Object.keys(result.maxMemoryBytes).sort(), [...(await fuzzedFilters()).keys()].sort());
    for (const [filter, bytes] of Object.entries(result.maxMemoryBytes))
      assert.ok(
        bytes <= result.memoryBoundBytes[filter]!,
        `${filter}: ${bytes} > ${result.memoryBoundBytes[filter]}`,
      );
    assert.ok(result.configurations > 100);
  });
});
