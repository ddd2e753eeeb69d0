// Decimal text to double, correctly rounded (round half to even): bit for bit what JavaScript's
// Number() gives for a JSON number token. The standard library's parseFloat is not: it mis-scales
// long significands with large exponents and rounds near-midpoints one ulp off (issue 12).
//
// Three tiers, cheapest first:
// 1. Clinger's fast path: the significand w and 10^|e| are exact doubles, so one IEEE multiply or
//    divide is the correctly rounded answer.
// 2. Up to 19 significant digits and |e| <= 27: a double estimate, moved to the right double by
//    comparing the exact value with the midpoints around it in 128-bit integer arithmetic.
// 3. Anything else (long significands, exponents out to the ends of the range): the same estimate
//    and correction in big integers, u32 limbs: the digits times a power of five against a midpoint
//    times a power of two. No tables (Eisel-Lemire would want ~10 KB of 128-bit powers of five:
//    graft's modules are meant to stay small), and bounded: a token of up to 256 bytes costs at
//    most about a thousand limb operations, so a body full of hostile numbers (5e-324,
//    1.7976931348623157e308, 256-digit midpoints) costs microseconds per number, not the tens of
//    microseconds of the decimal-buffer conversion this replaced (tools/bench/json-numbers.ts).

const MINUS: u32 = 0x2d;
const DOT: u32 = 0x2e;
const PLUS: u32 = 0x2b;

/** 10^k for k <= 22: every one an exact double (5^22 < 2^53). */
const POWERS_OF_TEN: StaticArray<f64> = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
  1e20, 1e21, 1e22,
];
const MAX_EXACT_POWER = 22;
const MAX_EXACT_INTEGER: u64 = 1 << 53;
/** 10^19 - 1 < 2^64: this many leading digits always fit a u64. */
const SIGNIFICAND_DIGITS = 19;
/** 5^27 < 2^63, so w * 5^27 and (2^55) * 5^27 both fit in 128 bits. */
const MAX_MIDDLE_POWER = 27;
/** Exponents are read saturating here: far beyond any double, far from overflowing an i32. */
const EXPONENT_LIMIT = 1_000_000;

const FRACTION_MASK: u64 = (1 << 52) - 1;
const HIDDEN_BIT: u64 = 1 << 52;
const EXPONENT_BIAS = 1023;

/**
 * The correctly rounded double of a number token that follows the JSON grammar
 * (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`): ±Infinity when it overflows, ±0 when it
 * underflows. Exact for tokens of any length (see MAX_SIGNIFICANT).
 */
export function parseDecimal(ptr: usize, length: i32): f64 {
  const negative = <u32>load<u8>(ptr) == MINUS;
  // Every digit goes into one integer, leading zeros too (they add nothing): exact up to 19 digits,
  // which is all but the rarest tokens, so those take one tight loop.
  let w: u64 = 0;
  let digits = 0;
  let digitsBeforePoint = -1;
  let k = negative ? 1 : 0;
  for (; k < length; k++) {
    const c = <u32>load<u8>(ptr + <usize>k);
    const digit = c - 0x30;
    if (digit < 10) {
      w = w * 10 + <u64>digit;
      if (++digits > SIGNIFICAND_DIGITS) break; // longMagnitude reads it again
    } else if (c == DOT) {
      digitsBeforePoint = digits;
    } else {
      break; // 'e' or 'E'
    }
  }
  let magnitude: f64 = 0;
  if (k == length && digits <= 15) {
    // The common case, kept to one division (none for an integer): no exponent, w < 10^15 < 2^53
    // (Clinger).
    magnitude =
      digitsBeforePoint < 0 ? <f64>w : <f64>w / unchecked(POWERS_OF_TEN[digits - digitsBeforePoint]);
  } else if (digits > SIGNIFICAND_DIGITS) {
    magnitude = longMagnitude(ptr, length);
  } else if (w != 0) {
    const fractionDigits = digitsBeforePoint < 0 ? 0 : digits - digitsBeforePoint;
    magnitude = magnitudeOf(w, exponentAt(ptr, k + 1, length) - fractionDigits);
  }
  return negative ? -magnitude : magnitude;
}

/** The exponent whose sign or first digit is at `from` (0 when from is past the end), saturated. */
function exponentAt(ptr: usize, from: i32, length: i32): i32 {
  if (from >= length) return 0;
  let k = from;
  const sign = <u32>load<u8>(ptr + <usize>k);
  if (sign == MINUS || sign == PLUS) k++;
  let exponent = 0;
  for (; k < length; k++) {
    const digit = <i32>load<u8>(ptr + <usize>k) - 0x30;
    if (exponent < EXPONENT_LIMIT) exponent = exponent * 10 + digit;
  }
  return sign == MINUS ? -exponent : exponent;
}

/** w * 10^exponent, w exact and nonzero, through the cheapest tier that can give it. */
function magnitudeOf(w: u64, exponent: i32): f64 {
  if (w <= MAX_EXACT_INTEGER) {
    const exact = exactlyScaled(w, exponent);
    if (exact >= 0) return exact;
  }
  if (inMiddleRange(exponent)) return nearestDouble(w, exponent);
  const numerator = changetype<usize>(bigNumerator);
  store<u64>(numerator, w);
  numeratorLimbs = w >> 32 != 0 ? 2 : 1;
  truncated = false;
  return bigMagnitude(exponent);
}

@inline function inMiddleRange(exponent: i32): bool {
  return exponent >= -MAX_MIDDLE_POWER && exponent <= MAX_MIDDLE_POWER;
}

/** Eight ASCII zeros, as one little-endian u64. */
const ZEROS: u64 = 0x3030303030303030;

/**
 * A token of more than 19 digits: its first 19 significant ones decide, unless they are too few.
 * The same pass keeps every significant digit (up to MAX_SIGNIFICANT) in bigNumerator for tier 3,
 * eight at a time past the 19th.
 */
function longMagnitude(ptr: usize, length: i32): f64 {
  const negative = <u32>load<u8>(ptr) == MINUS;
  const numerator = changetype<usize>(bigNumerator);
  let limbs = 0;
  let chunk: u64 = 0; // digits not yet in bigNumerator
  let inChunk = 0;
  let w: u64 = 0;
  let count = 0;
  let nonzeroTail = false;
  truncated = false;
  let point = 0; // the value is 0.d1d2d3... * 10^point
  let afterDot = false;
  let k = negative ? 1 : 0;
  while (k < length) {
    if (k + 8 <= length) {
      const block = load<u64>(ptr + <usize>k);
      if (count == 0) {
        if (afterDot && block == ZEROS) {
          point -= 8;
          k += 8;
          continue;
        }
      } else if (count >= SIGNIFICAND_DIGITS && count <= MAX_SIGNIFICANT - 8 && isEightDigits(block)) {
        if (inChunk > CHUNK_DIGITS - 8) {
          limbs = multiplyAdd(numerator, numerator, limbs, <u64>unchecked(POWERS_OF_TEN[inChunk]), chunk);
          chunk = 0;
          inChunk = 0;
        }
        chunk = chunk * 100_000_000 + eightDigits(block);
        inChunk += 8;
        if (block != ZEROS) nonzeroTail = true;
        count += 8;
        if (!afterDot) point += 8;
        k += 8;
        continue;
      }
    }
    const c = <u32>load<u8>(ptr + <usize>k);
    k++;
    const digit = c - 0x30;
    if (digit < 10) {
      if (count == 0 && digit == 0) {
        if (afterDot) point--; // a leading zero of the fraction moves the point, not the digits
        continue;
      }
      if (count < SIGNIFICAND_DIGITS) w = w * 10 + <u64>digit;
      else if (digit != 0) nonzeroTail = true;
      if (count < MAX_SIGNIFICANT) {
        chunk = chunk * 10 + <u64>digit;
        if (++inChunk >= CHUNK_DIGITS) {
          limbs = multiplyAdd(numerator, numerator, limbs, <u64>unchecked(POWERS_OF_TEN[inChunk]), chunk);
          chunk = 0;
          inChunk = 0;
        }
      } else if (digit != 0) {
        truncated = true;
      }
      count++;
      if (!afterDot) point++;
    } else if (c == DOT) {
      afterDot = true;
    } else {
      break;
    }
  }
  if (count == 0) return 0;
  point += exponentAt(ptr, k, length);
  // The value is w * 10^exponent, plus less than one unit of w when nonzeroTail.
  const exponent = point - min(count, SIGNIFICAND_DIGITS);
  if (!nonzeroTail) return magnitudeOf(w, exponent);
  if (inMiddleRange(exponent)) {
    // The value lies strictly between w and w + 1 units: where both round alike, so does it.
    const below = nearestDouble(w, exponent);
    if (below == nearestDouble(w + 1, exponent)) return below;
  }
  numeratorLimbs = multiplyAdd(numerator, numerator, limbs, <u64>unchecked(POWERS_OF_TEN[inChunk]), chunk);
  return bigMagnitude(point - min(count, MAX_SIGNIFICANT));
}

/** Whether eight bytes (little-endian in a u64) are all ASCII digits: each 0x3_, and below 0x3a. */
@inline function isEightDigits(block: u64): bool {
  const high = block & 0xf0f0f0f0f0f0f0f0;
  const carried = (block + 0x0606060606060606) & 0xf0f0f0f0f0f0f0f0;
  return (high | (carried >> 4)) == 0x3333333333333333;
}

/** The number eight ASCII digits spell, the first in the lowest byte. */
@inline function eightDigits(block: u64): u64 {
  let value = block - ZEROS;
  value = value * 10 + (value >> 8); // pairs of digits, in every other byte
  // Four pairs to one number: by 100 + 10^6 * 2^32 and 1 + 10^4 * 2^32, the sum in the high half.
  const even = (value & 0x000000ff000000ff) * 0x000f424000000064;
  const odd = ((value >> 16) & 0x000000ff000000ff) * 0x0000271000000001;
  return (even + odd) >> 32;
}

/**
 * Clinger's fast path: w * 10^exponent when one IEEE operation on exact operands gives it
 * (w <= 2^53), or -1. Past 10^22 the significand may absorb the excess power while it stays exact.
 */
function exactlyScaled(w: u64, exponent: i32): f64 {
  if (exponent < 0) {
    return exponent >= -MAX_EXACT_POWER ? <f64>w / unchecked(POWERS_OF_TEN[-exponent]) : -1;
  }
  if (exponent <= MAX_EXACT_POWER) return <f64>w * unchecked(POWERS_OF_TEN[exponent]);
  const excess = exponent - MAX_EXACT_POWER;
  if (excess > 15) return -1; // 10^16 > 2^53: no significand absorbs it
  const scale = <u64>unchecked(POWERS_OF_TEN[excess]);
  if (w > MAX_EXACT_INTEGER / scale) return -1;
  return <f64>(w * scale) * unchecked(POWERS_OF_TEN[MAX_EXACT_POWER]);
}

// ---- Tier 2: estimate, then correct against exact midpoints ----

// The exact value, as numerator / divisor * 2^valueTwos (numerator 128-bit).
let numeratorHigh: u64 = 0;
let numeratorLow: u64 = 0;
let divisor: u64 = 1;
let valueTwos = 0;

// The 128-bit result of multiply().
let productHigh: u64 = 0;
let productLow: u64 = 0;

/** a * b as 128 bits, in productHigh:productLow (Wasm has no 64x64->128 multiply). */
function multiply(a: u64, b: u64): void {
  const a0 = a & 0xffffffff;
  const a1 = a >> 32;
  const b0 = b & 0xffffffff;
  const b1 = b >> 32;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const middle = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff);
  productLow = (middle << 32) | (p00 & 0xffffffff);
  productHigh = a1 * b1 + (p01 >> 32) + (p10 >> 32) + (middle >> 32);
}

/** 5^k for k <= MAX_MIDDLE_POWER: 10^k / 2^k is exact while 10^k is an exact double. */
function powerOfFive(k: i32): u64 {
  if (k > MAX_EXACT_POWER) return powerOfFive(MAX_EXACT_POWER) * powerOfFive(k - MAX_EXACT_POWER);
  return <u64>(unchecked(POWERS_OF_TEN[k]) / <f64>((<u64>1) << (<u64>k)));
}

/** A double within a few ulps of w * 10^exponent (|exponent| <= MAX_MIDDLE_POWER). */
function estimate(w: u64, exponent: i32): f64 {
  const k = exponent < 0 ? -exponent : exponent;
  const first = unchecked(POWERS_OF_TEN[min(k, MAX_EXACT_POWER)]);
  const second = unchecked(POWERS_OF_TEN[max(k - MAX_EXACT_POWER, 0)]);
  return exponent < 0 ? <f64>w / first / second : <f64>w * first * second;
}

/**
 * The double nearest to w * 10^exponent (|exponent| <= MAX_MIDDLE_POWER): every such value is a
 * normal double, and the estimate is off by a few ulps at most, so a few exact comparisons with
 * the midpoints next to it settle the answer, ties included.
 */
function nearestDouble(w: u64, exponent: i32): f64 {
  if (exponent >= 0) {
    multiply(w, powerOfFive(exponent));
    numeratorHigh = productHigh;
    numeratorLow = productLow;
    divisor = 1;
  } else {
    numeratorHigh = 0;
    numeratorLow = w;
    divisor = powerOfFive(-exponent);
  }
  valueTwos = exponent;
  let bits = reinterpret<u64>(estimate(w, exponent));
  // The estimate is within 3 ulps, so this takes a few steps; the cap only makes termination
  // evident (a hostile token must never cost more than a bounded number of comparisons).
  for (let step = 0; step < MAX_CORRECTION_STEPS; step++) {
    const mantissa = (bits & FRACTION_MASK) | HIDDEN_BIT;
    const twos = <i32>(bits >> 52) - 1075; // the double is mantissa * 2^twos
    const odd = (mantissa & 1) != 0;
    const above = compareWithMidpoint(2 * mantissa + 1, twos - 1);
    if (above > 0 || (above == 0 && odd)) {
      bits++;
      continue;
    }
    // Below a power of two the next double down is half as far away.
    const below =
      mantissa == HIDDEN_BIT
        ? compareWithMidpoint(4 * mantissa - 1, twos - 2)
        : compareWithMidpoint(2 * mantissa - 1, twos - 1);
    if (below < 0 || (below == 0 && odd)) {
      bits--;
      continue;
    }
    return reinterpret<f64>(bits);
  }
  return reinterpret<f64>(bits);
}

/**
 * The sign of value - midpoint * 2^twos, exactly: compares numerator * 2^(valueTwos - twos) with
 * midpoint * divisor. The two are close (the estimate is good), so shifting the smaller side up
 * keeps both below 2^128.
 */
function compareWithMidpoint(midpoint: u64, twos: i32): i32 {
  multiply(midpoint, divisor);
  let leftHigh = numeratorHigh;
  let leftLow = numeratorLow;
  let rightHigh = productHigh;
  let rightLow = productLow;
  const shift = valueTwos - twos;
  if (shift > 0) {
    leftHigh = shiftedHigh(leftHigh, leftLow, shift);
    leftLow = shiftedLow(leftLow, shift);
  } else if (shift < 0) {
    rightHigh = shiftedHigh(rightHigh, rightLow, -shift);
    rightLow = shiftedLow(rightLow, -shift);
  }
  if (leftHigh != rightHigh) return leftHigh > rightHigh ? 1 : -1;
  if (leftLow != rightLow) return leftLow > rightLow ? 1 : -1;
  return 0;
}

/** The high half of high:low << shift, for 0 < shift < 128 (Wasm shifts count modulo 64). */
@inline function shiftedHigh(high: u64, low: u64, shift: i32): u64 {
  return shift >= 64 ? low << u64(shift - 64) : (high << u64(shift)) | (low >> u64(64 - shift));
}

@inline function shiftedLow(low: u64, shift: i32): u64 {
  return shift >= 64 ? 0 : low << u64(shift);
}

// ---- Tier 3: estimate, then correct against exact midpoints in big integers ----

/**
 * Significant digits kept. Every midpoint between two doubles has at most 768 of them, so the first
 * 768 decide every comparison but a tie, which a nonzero digit dropped breaks upwards
 * (`truncated`). Tokens of up to 256 bytes never come near.
 */
const MAX_SIGNIFICANT = 768;
/**
 * u32 limbs per big integer (least significant first): 768 digits are below 2^2552; past
 * bigMagnitude's range checks the largest power of five is 5^1102 (768 digits at about 10^-325),
 * and that times a 55-bit midpoint is below 2^2615, 82 limbs; a product with 5^e stays below 2^1034.
 */
const LIMBS = 96;
/** 10^18 < 2^63: the most digits one multiply-add by a u64 takes in. */
const CHUNK_DIGITS = 18;
/** 5^27 < 2^63: the largest power of five one multiply takes in. */
const FIVES_PER_STEP = 27;
const FIVE_TO_THE_STEP: u64 = 7_450_580_596_923_828_125;

// The exact value is bigNumerator / bigDenominator * 2^bigTwos; `truncated` when digits were dropped.
const bigNumerator = new StaticArray<u32>(LIMBS);
const bigDenominator = new StaticArray<u32>(LIMBS);
const bigProduct = new StaticArray<u32>(LIMBS);
let numeratorLimbs = 0;
let denominatorLimbs = 0;
let bigTwos = 0;
let truncated = false;
/** The bit length topBits() saw. */
let bitLength = 0;

/**
 * Any number tiers 1 and 2 do not settle: bigNumerator * 10^exponent, bigNumerator nonzero (plus
 * less than a unit when `truncated`). The value is N / D * 2^exponent with N = bigNumerator * 5^e
 * and D = 1 (e >= 0), or N = bigNumerator and D = 5^-e (e < 0). Their top 64 bits, as doubles, give
 * an estimate within 3 * 2^-53 relatively, so within three ulps; exact comparisons of
 * N * 2^exponent with midpoint * D, as in tier 2, then move it to the correctly rounded double.
 * About a thousand limb operations at most (256-byte tokens near 10^-324), two or three hundred
 * for 17 digits at either end of the range.
 */
function bigMagnitude(exponent: i32): f64 {
  const numerator = changetype<usize>(bigNumerator);
  topBits(numerator, numeratorLimbs);
  // 77/256 < log10(2) < 78/256: at least 10^309 overflows, below 10^-324 is under half of 2^-1074.
  if (exponent + (((bitLength - 1) * 77) >> 8) >= 309) return Infinity;
  if (exponent + ((bitLength * 78 + 255) >> 8) <= -324) return 0;
  const denominator = changetype<usize>(bigDenominator);
  store<u32>(denominator, 1);
  if (exponent >= 0) {
    numeratorLimbs = multiplyByFive(numerator, numeratorLimbs, exponent);
    denominatorLimbs = 1;
  } else {
    denominatorLimbs = multiplyByFive(denominator, 1, -exponent);
  }
  bigTwos = exponent;

  // N / D = (nTop / dTop) * 2^(bits of N - bits of D), each top within 2^-52 relatively.
  const numeratorTop = <f64>topBits(numerator, numeratorLimbs);
  const numeratorBits = bitLength;
  const ratio = numeratorTop / <f64>topBits(denominator, denominatorLimbs);
  const twos = numeratorBits - bitLength + exponent;
  const biased = <i32>(reinterpret<u64>(ratio) >> 52) + twos;
  let bits: u64;
  if (biased >= 2047) {
    bits = INFINITY_BITS;
  } else if (biased > 0) {
    bits = reinterpret<u64>(ratio) + ((<u64>twos) << 52);
  } else {
    // Subnormal: the estimate in units of 2^-1074 (twos > -1100 here, so the scale is normal).
    bits = <u64>nearest(ratio * reinterpret<f64>((<u64>(twos + 1074 + EXPONENT_BIAS)) << 52));
  }
  for (let step = 0; step < MAX_CORRECTION_STEPS; step++) {
    const biasedExponent = <i32>(bits >> 52);
    const fraction = bits & FRACTION_MASK;
    const mantissa = biasedExponent == 0 ? fraction : fraction | HIDDEN_BIT;
    const scale = max(biasedExponent, 1) - 1075; // the double is mantissa * 2^scale
    const odd = (mantissa & 1) != 0;
    if (bits < INFINITY_BITS) {
      const above = compareBig(2 * mantissa + 1, scale - 1);
      if (above > 0 || (above == 0 && odd)) {
        bits++;
        continue;
      }
    }
    if (bits == 0) return 0;
    // Below a power of two the next double down is half as far away (not below the smallest normal).
    const below =
      fraction == 0 && biasedExponent > 1
        ? compareBig(4 * mantissa - 1, scale - 2)
        : compareBig(2 * mantissa - 1, scale - 1);
    if (below < 0 || (below == 0 && odd)) {
      bits--;
      continue;
    }
    return reinterpret<f64>(bits);
  }
  return reinterpret<f64>(bits);
}

const INFINITY_BITS: u64 = 0x7ff0000000000000;
/** Far more ulp steps than an estimate within 3 ulps ever needs. */
const MAX_CORRECTION_STEPS: i32 = 16;

/**
 * The sign of N / D * 2^bigTwos - midpoint * 2^twos: of N * 2^(bigTwos - twos) - midpoint * D. A
 * tie with digits dropped is a value above. The sides are within a few bits of each other.
 */
function compareBig(midpoint: u64, twos: i32): i32 {
  const product = changetype<usize>(bigProduct);
  const productLimbs = multiplyAdd(product, changetype<usize>(bigDenominator), denominatorLimbs, midpoint, 0);
  const numerator = changetype<usize>(bigNumerator);
  const shift = bigTwos - twos;
  const sign =
    shift >= 0
      ? compareShifted(numerator, numeratorLimbs, product, productLimbs, shift)
      : -compareShifted(product, productLimbs, numerator, numeratorLimbs, -shift);
  return sign == 0 && truncated ? 1 : sign;
}

/**
 * to = from * factor + addend (limbs u32, least significant first; factor, addend < 2^63; `to` may
 * be `from`). Returns the limbs of the result.
 */
function multiplyAdd(to: usize, from: usize, limbs: i32, factor: u64, addend: u64): i32 {
  const low = factor & 0xffffffff;
  const high = factor >> 32;
  let carry = addend;
  for (let i = 0; i < limbs; i++) {
    const at = (<usize>i) << 2;
    const limb = <u64>load<u32>(from + at);
    // limb * high < 2^63 and the rest below 2^34: no overflow.
    const sum = limb * low + (carry & 0xffffffff);
    store<u32>(to + at, <u32>sum);
    carry = (carry >> 32) + (sum >> 32) + limb * high;
  }
  for (; carry != 0; carry >>= 32) {
    store<u32>(to + ((<usize>limbs) << 2), <u32>carry);
    limbs++;
  }
  return limbs;
}

/** Multiplies a big integer by 5^count in place; returns its limbs. */
function multiplyByFive(big: usize, limbs: i32, count: i32): i32 {
  for (; count > FIVES_PER_STEP; count -= FIVES_PER_STEP) {
    limbs = multiplyAdd(big, big, limbs, FIVE_TO_THE_STEP, 0);
  }
  return multiplyAdd(big, big, limbs, powerOfFive(count), 0);
}

/** The top 64 bits of a nonzero big integer, the highest set; its bit length in bitLength. */
function topBits(big: usize, limbs: i32): u64 {
  const at = big + ((<usize>limbs) << 2);
  const top = <u64>load<u32>(at - 4);
  const next = limbs > 1 ? <u64>load<u32>(at - 8) : 0;
  const third = limbs > 2 ? <u64>load<u32>(at - 12) : 0;
  const zeros = clz(top) - 32;
  bitLength = limbs * 32 - <i32>zeros;
  return (((top << 32) | next) << zeros) | ((third << zeros) >> 32);
}

/** The sign of a * 2^shift - b (shift >= 0), the shifted limbs made on the fly. */
function compareShifted(a: usize, aLimbs: i32, b: usize, bLimbs: i32, shift: i32): i32 {
  const limbShift = shift >> 5;
  const bitShift = <u64>(shift & 31);
  for (let i = max(aLimbs + limbShift, bLimbs - 1); i >= 0; i--) {
    // Limb i of a * 2^shift: the bits of a's limbs j and j - 1 that land there.
    const j = i - limbShift;
    const pair = (limbAt(a, aLimbs, j) << 32) | limbAt(a, aLimbs, j - 1);
    const left = <u32>((pair << bitShift) >> 32);
    const right = <u32>limbAt(b, bLimbs, i);
    if (left != right) return left > right ? 1 : -1;
  }
  return 0;
}

@inline function limbAt(big: usize, limbs: i32, i: i32): u64 {
  return <u32>i < <u32>limbs ? <u64>load<u32>(big + ((<usize>i) << 2)) : 0;
}
