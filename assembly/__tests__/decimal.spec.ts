import { parseDecimal } from "../decimal";

/** The bits parseDecimal reads `text` as (the expected bits come from Node's Number()). */
function bitsOf(text: string): u64 {
  const bytes = String.UTF8.encode(text);
  return reinterpret<u64>(parseDecimal(changetype<usize>(bytes), bytes.byteLength));
}

function expectBits(text: string, expected: u64): void {
  expect(bitsOf(text)).toBe(expected, text);
}

function repeat(text: string, count: i32): string {
  return text.repeat(count);
}

describe("parseDecimal: issue 12 regressions", () => {
  test("17-19-digit significands above 2^53 with exponents of 23-37", () => {
    expectBits("9007199254740993e37", 0x4aee17b84357691c);
    expectBits("2.1109937267781136e+52", 0x4acc3600aace2c00);
    expectBits("7.2057594037927933e16", 0x4370000000000000);
  });

  test("near-midpoint decimals round to the nearest double", () => {
    expectBits("9.9999999999999991119", 0x4024000000000000); // exactly 10
    expectBits("12.999999999999999112", 0x402a000000000000); // exactly 13
  });

  test("exact ties round to even; a nonzero digit past them breaks the tie upwards", () => {
    expectBits("9007199254740993", 0x4340000000000000); // 2^53 + 1: down to 2^53
    expectBits("9007199254740995", 0x4340000000000002); // 2^53 + 3: up to 2^53 + 4
    expectBits("9007199254740993." + repeat("0", 239), 0x4340000000000000);
    expectBits("9007199254740993." + repeat("0", 238) + "1", 0x4340000000000001);
    expectBits("-9007199254740993." + repeat("0", 237) + "1", 0xc340000000000001);
  });
});

describe("parseDecimal: ordinary numbers", () => {
  test("fast path texts", () => {
    expectBits("0", 0);
    expectBits("1", 0x3ff0000000000000);
    expectBits("12.99", 0x4029fae147ae147b);
    expectBits("1234567", 0x4132d68700000000);
    expectBits("-0.000123", 0xbf201f31f46ed246);
    expectBits("1.5e10", 0x420bf08eb0000000);
    expectBits("1e22", 0x4480f0cf064dd592);
    expectBits("1e23", 0x44b52d02c7e14af6);
    expectBits("1e37", 0x479e17b84357691b);
  });

  test("shortest forms of 17 digits", () => {
    expectBits("0.30000000000000004", 0x3fd3333333333334);
    expectBits("2.2568234443043783e-9", 0x3e2362cea72142da);
    expectBits("8.98846567431158e307", 0x7fe0000000000000);
  });

  test("more than 19 digits", () => {
    expectBits("123456789012345678901234567890", 0x45f8ee90ff6c373e);
  });
});

describe("parseDecimal: the edges of the double range", () => {
  test("subnormals and the smallest normal", () => {
    expectBits("4.9406564584124654e-324", 0x0000000000000001);
    expectBits("2.4703282292062327e-324", 0); // below half the smallest subnormal
    expectBits("2.4703282292062328e-324", 0x0000000000000001);
    expectBits("2.2250738585072011e-308", 0x000fffffffffffff);
    expectBits("2.2250738585072012e-308", 0x0010000000000000);
  });

  test("the largest double, and the first text past it", () => {
    expectBits("1.7976931348623157e308", 0x7fefffffffffffff);
    expectBits("1.7976931348623158e308", 0x7fefffffffffffff);
    expectBits("1.7976931348623159e308", 0x7ff0000000000000);
    expectBits("-1.7976931348623159e308", 0xfff0000000000000);
  });

  test("zeros keep their sign", () => {
    expectBits("-0", 0x8000000000000000);
    expectBits("-0.0e-5", 0x8000000000000000);
    expectBits("0e999999", 0);
    expectBits("-1e-400", 0x8000000000000000);
  });

  test("exponents too long for an i32", () => {
    expectBits("1e000000000000000000000000001", 0x4024000000000000);
    expectBits("1e-99999999999999", 0);
    expectBits("1e99999999999999999999", 0x7ff0000000000000);
    expectBits("0.0000000000000000000000000001e99999999999999999999", 0x7ff0000000000000);
  });

  test("256-character tokens", () => {
    expectBits("9." + repeat("9", 254), 0x4024000000000000);
    expectBits("1" + repeat("0", 255), 0x74e10cb132c2ff63);
    expectBits("0." + repeat("0", 200) + repeat("1", 54), 0x1635c5d72f62a344);
    expectBits("1e" + repeat("0", 250) + "308", 0x7fe1ccf385ebc8a0);
    expectBits("2.2250738585072011" + repeat("0", 200) + "e-308", 0x000fffffffffffff);
  });
});
