// graft's JSON number reader (assembly/decimal.ts, parseDecimal) against Node's Number(), bit for
// bit, on generated texts (tools/fuzz/json-numbers.ts; seeded, so every run checks the same ones).
// The long run: node --import tsx tools/fuzz/json-numbers.ts --count 5000000 --seed 7
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bitsOf, harnessNumberReader, NUMBER_KINDS, runNumberFuzz } from "../../tools/fuzz/json-numbers.ts";
import { builtWasm } from "../support/envoy-fixture.ts";

describe("JSON numbers: parseDecimal agrees with Number()", () => {
  const read = harnessNumberReader(builtWasm("fixtures/json-harness.wasm"));

  it("reads the issue 12 regressions and the edges of the double range", () => {
    const texts = [
      "9007199254740993e37",
      "2.1109937267781136e+52",
      "9.9999999999999991119",
      "12.999999999999999112",
      "4.9406564584124654e-324",
      "2.2250738585072011e-308",
      "2.2250738585072012e-308",
      "1.7976931348623157e308",
      "1.7976931348623158e308",
      "1.7976931348623159e308",
      "-0",
      "0e999999",
      "1e000000000000000000000000001",
      "1e-99999999999999",
      "5e-324",
      "1234567890123456789012345678901234567890e250",
      "1234567890123456789012345678901234567890e-300",
      ((2n ** 54n - 1n) << 970n).toString(), // the overflow threshold: a tie, to Infinity
      `2.${(5n ** 1075n).toString().slice(1)}e-324`, // 2^-1075: a tie, to 0
      `2.${(5n ** 1075n).toString().slice(1)}${"0".repeat(100)}1e-324`, // past 768 digits
    ];
    for (const text of texts) assert.equal(bitsOf(read(text)), bitsOf(Number(text)), text);
  });

  it("reads 280,000 generated texts exactly", () => {
    const result = runNumberFuzz({ count: 40_000 * NUMBER_KINDS.length, seed: 12, read });
    const report = result.mismatches.map((m) => `${m.text}: expected ${m.expected}, got ${m.got}`);
    assert.deepEqual(report, [], `${result.mismatchCount} mismatches`);
    for (const kind of NUMBER_KINDS) assert.equal(result.perKind[kind], 40_000, kind);
    console.log(`  ${result.count} texts in ${(result.milliseconds / 1000).toFixed(1)} s`);
  });
});
