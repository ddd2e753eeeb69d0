import { parseDecimal } from "../decimal";
import { numberOverflows } from "../json";

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

/** The midpoint between the largest double and 2^1024: from here up, Infinity. */
const OVERFLOW_MIDPOINT =
  "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587" +
  "207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711" +
  "531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093" +
  "042880177904174497792";

/** 2^-1075, half the smallest subnormal, digit for digit (d.ddd, times 10^-324). */
const UNDERFLOW_MIDPOINT =
  "247032822920623272088284396434110686182529901307162382212792841250337753635104375932649918180817" +
  "996189898282347722858865463328355177969898199387398005390939063150356595155702263922908583924491" +
  "051844359318028499365361525003193704576782492193656236698636584807570015857692699037063119282795" +
  "585513329278343384093519780155312465972635795746227664652728272200563740064854999770965994704540" +
  "208281662262378573934507363390079677619305775067401763246736009689513405355374585166611342237666" +
  "786041621596804619144672918403005300575308490487653917113865916462395249126236538818796362393732" +
  "804238910186723484976682350898633885879256283027559956575244555072551893136908362547791869486679" +
  "94968324049705821028513185451396213837722826145437693412532098591327667236328125";

/** UNDERFLOW_MIDPOINT's digits as d.ddd...e-324, with `tail` after the last one. */
function underflowText(tail: string): string {
  return UNDERFLOW_MIDPOINT.charAt(0) + "." + UNDERFLOW_MIDPOINT.substring(1) + tail + "e-324";
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

describe("parseDecimal: tier 3 (big integers)", () => {
  test("17-40 digits with exponents far out", () => {
    expectBits("1234567890123456789012345678901234567890e250", 0x7bf444f1fb6f55bb);
    expectBits("1234567890123456789012345678901234567890e-300", 0x09c3700254557e5f);
    expectBits("9999999999999999999999999999999999999999e-363", 0x0000000000000002);
    expectBits("1e-323", 0x0000000000000002);
    expectBits("7e-324", 0x0000000000000001);
  });

  test("the overflow threshold, exactly and a unit under it", () => {
    expectBits(OVERFLOW_MIDPOINT, 0x7ff0000000000000); // a tie: to even, which is Infinity
    expectBits(OVERFLOW_MIDPOINT.substring(0, 308) + "0.999999", 0x7fefffffffffffff);
    expectBits(OVERFLOW_MIDPOINT.substring(0, 40) + "e269", 0x7fefffffffffffff); // cut short: below
    expectBits(OVERFLOW_MIDPOINT.substring(0, 40) + "1e268", 0x7fefffffffffffff);
  });

  test("the underflow threshold: a tie goes to zero, any digit past it to 2^-1074", () => {
    expectBits(underflowText(""), 0);
    expectBits("-" + underflowText(""), 0x8000000000000000);
    expectBits(underflowText("1"), 0x0000000000000001);
    // Past 768 significant digits: the digits dropped still break the tie.
    expectBits(underflowText(repeat("0", 100)), 0);
    expectBits(underflowText(repeat("0", 100) + "1"), 0x0000000000000001);
  });
});

/** Whether the parser's overflow check (no conversion) says what parseDecimal's value says. */
function expectOverflowAgrees(text: string): void {
  const bytes = String.UTF8.encode(text);
  const value = parseDecimal(changetype<usize>(bytes), bytes.byteLength);
  expect(numberOverflows(changetype<usize>(bytes), bytes.byteLength)).toBe(!isFinite(value), text);
}

describe("numberOverflows: the parser's range check agrees with parseDecimal", () => {
  test("ordinary numbers, zeros, underflow and the largest double", () => {
    const texts = [
      "0",
      "-0",
      "0.0",
      "0e999999",
      "-0.0e-5",
      "1",
      "-12.5",
      "1e308",
      "9.99e307",
      "1e309",
      "-1e309",
      "1.7976931348623157e308",
      "1.7976931348623158e308",
      "1.7976931348623159e308",
      "-1.7976931348623159e308",
      "1e-400",
      "1e99999999999999999999",
      "1e-99999999999999",
      "0.0000000000000000000000000001e99999999999999999999",
      "0.01e310",
      "0.0179769313486231580793e310",
      "17976931348623158e292",
      "17976931348623159e292",
      "1" + repeat("0", 255),
      "1e" + repeat("0", 250) + "308",
      "9." + repeat("9", 254) + "e307",
    ];
    for (let i = 0; i < texts.length; i++) expectOverflowAgrees(texts[i]);
  });

  test("the midpoint with its point anywhere, and one unit either side of it", () => {
    const below = OVERFLOW_MIDPOINT.substring(0, 308) + "1"; // the last digit 2 made 1
    const above = OVERFLOW_MIDPOINT.substring(0, 308) + "3";
    const digits = [OVERFLOW_MIDPOINT, below, above, OVERFLOW_MIDPOINT + "0001", below + "9999"];
    for (let d = 0; d < digits.length; d++) {
      const text = digits[d];
      expectOverflowAgrees(text);
      expectOverflowAgrees("-" + text);
      expectOverflowAgrees(text.substring(0, 40)); // cut short
      for (let point = 1; point < text.length; point += 37) {
        // d.ddd with the exponent that keeps the value; and behind leading zeros of a fraction.
        const exponent = text.length - point;
        expectOverflowAgrees(
          text.substring(0, point) + "." + text.substring(point) + "e" + exponent.toString(),
        );
        expectOverflowAgrees("0.000" + text + "e" + (text.length + 3).toString());
      }
    }
  });
});
