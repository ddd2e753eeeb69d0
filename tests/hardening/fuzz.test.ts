// The CI version of `npm run fuzz` (issue 18, point 3): 100,000 seeded requests across the three
// filters on the emulator, with hostile headers, chunkings, HTTP/2 framing and clock jumps. No
// trap, and no VM above its README's memory bound.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MEMORY_BOUND_BYTES, runRequestFuzz } from "../../tools/fuzz/requests.ts";

describe("request fuzzing (CI size)", () => {
  it("100,000 requests: no trap, memory within bounds", { timeout: 180_000 }, async () => {
    const result = await runRequestFuzz({ requests: 100_000, seed: 18, outDir: ".graft/fuzz/ci" });
    console.log(JSON.stringify({ ...result, findings: result.findings.length }));
    assert.deepEqual(
      result.findings.map((f) => `${f.filter} ${f.kind} ${f.detail.slice(0, 300)}`),
      [],
    );
    for (const [filter, bytes] of Object.entries(result.maxMemoryBytes))
      assert.ok(
        bytes <= MEMORY_BOUND_BYTES[filter as keyof typeof MEMORY_BOUND_BYTES],
        `${filter}: ${bytes}`,
      );
    assert.ok(result.configurations > 100);
  });
});
