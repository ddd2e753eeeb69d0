// Decimal text to double, correctly rounded (round half to even): bit for bit what JavaScript's
// Number() gives for a JSON number token. The standard library's parseFloat is not: it mis-scales
// long significands with large exponents and rounds near-midpoints one ulp off (issue 12).
//
// Three tiers, cheapest first:
// 1. Clinger's fast path: the significand w and 10^|e| are exact doubles, so one IEEE multiply or
//    divide is the correctly rounded answer.
// 2. Up to 19 significant digits and |e| <= 27: a double estimate, moved to the right double by
//    comparing the exact value with the midpoints around it in 128-bit integer arithmetic.
// 3. Anything else (longer or extreme numbers): the "simple decimal conversion", i.e. the digits in
//    a decimal buffer, shifted by powers of two until the value lies in [1/2, 1), then 53 bits
//    taken and rounded. Slow but exact, and it needs no tables, where Eisel-Lemire would need
//    ~10 KB of 128-bit powers of five: graft's modules are meant to stay small.

const MINUS: u32 = 0x2d;
const DOT: u32 = 0x2e;
const PLUS: u32 = 0x2b;

/** 10^k for k <= 22: every one an exact double (5^22 < 2^53). */
const POWERS_OF_TEN: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
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
 * underflows. Exact for tokens of up to 256 bytes (see Decimal for why).
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
      digits++;
    } else if (c == DOT) {
      digitsBeforePoint = digits;
    } else {
      break; // 'e' or 'E'
    }
  }
  let magnitude: f64 = 0;
  if (k == length && digits <= 15) {
    // The common case, kept to one division: no exponent, w < 10^15 < 2^53 (Clinger).
    const fractionDigits = digitsBeforePoint < 0 ? 0 : digits - digitsBeforePoint;
    magnitude = <f64>w / unchecked(POWERS_OF_TEN[fractionDigits]);
  } else if (digits > SIGNIFICAND_DIGITS) {
    magnitude = longMagnitude(ptr, length);
  } else if (w != 0) {
    const fractionDigits = digitsBeforePoint < 0 ? 0 : digits - digitsBeforePoint;
    magnitude = magnitudeOf(w, exponentAt(ptr, k + 1, length) - fractionDigits, ptr, length);
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
function magnitudeOf(w: u64, exponent: i32, ptr: usize, length: i32): f64 {
  if (w <= MAX_EXACT_INTEGER) {
    const exact = exactlyScaled(w, exponent);
    if (exact >= 0) return exact;
  }
  if (inMiddleRange(exponent)) return nearestDouble(w, exponent);
  return decimal.read(ptr, length).toDouble();
}

@inline function inMiddleRange(exponent: i32): bool {
  return exponent >= -MAX_MIDDLE_POWER && exponent <= MAX_MIDDLE_POWER;
}

/** A token of more than 19 digits: its first 19 significant ones decide, unless they are too few. */
function longMagnitude(ptr: usize, length: i32): f64 {
  const negative = <u32>load<u8>(ptr) == MINUS;
  let w: u64 = 0;
  let count = 0;
  let nonzeroTail = false;
  let point = 0; // the value is 0.d1d2d3... * 10^point
  let afterDot = false;
  let k = negative ? 1 : 0;
  for (; k < length; k++) {
    const c = <u32>load<u8>(ptr + <usize>k);
    const digit = c - 0x30;
    if (digit < 10) {
      if (count == 0 && digit == 0) {
        if (afterDot) point--; // a leading zero of the fraction moves the point, not the digits
        continue;
      }
      if (count < SIGNIFICAND_DIGITS) w = w * 10 + <u64>digit;
      else if (digit != 0) nonzeroTail = true;
      count++;
      if (!afterDot) point++;
    } else if (c == DOT) {
      afterDot = true;
    } else {
      break;
    }
  }
  if (count == 0) return 0;
  // The value is w * 10^exponent, plus less than one unit of w when nonzeroTail.
  const exponent = point + exponentAt(ptr, k + 1, length) - min(count, SIGNIFICAND_DIGITS);
  if (!nonzeroTail) return magnitudeOf(w, exponent, ptr, length);
  if (inMiddleRange(exponent)) {
    // The value lies strictly between w and w + 1 units: where both round alike, so does it.
    const below = nearestDouble(w, exponent);
    if (below == nearestDouble(w + 1, exponent)) return below;
  }
  return decimal.read(ptr, length).toDouble();
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
  return <u64>(unchecked(POWERS_OF_TEN[k]) / <f64>(<u64>1 << <u64>k));
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
  while (true) {
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
      mantissa == HIDDEN_BIT ? compareWithMidpoint(4 * mantissa - 1, twos - 2) : compareWithMidpoint(2 * mantissa - 1, twos - 1);
    if (below < 0 || (below == 0 && odd)) {
      bits--;
      continue;
    }
    return reinterpret<f64>(bits);
  }
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
  return shift >= 64 ? low << <u64>(shift - 64) : (high << <u64>shift) | (low >> <u64>(64 - shift));
}

@inline function shiftedLow(low: u64, shift: i32): u64 {
  return shift >= 64 ? 0 : low << <u64>shift;
}

// ---- Tier 3: simple decimal conversion ----

/**
 * Digits kept. With tokens of up to 256 bytes, numbers below 1 never need more (doubling adds no
 * fraction digits), and for large ones the digits dropped lie below 10^-565 of the value, where no
 * decimal that is not a midpoint comes that close to one. Dropped nonzero digits still count:
 * `truncated` breaks an exact tie upwards.
 */
const MAX_DIGITS = 800;
/** The largest shift one pass makes: a digit times 2^60 plus carry still fits a u64. */
const MAX_SHIFT = 60;
/** The largest left shift one pass makes in 32 bits: 9 * 2^28 plus a carry below 2^28 < 2^32. */
const MAX_LEFT_STEP = 28;

/** A decimal 0.d1d2...dn * 10^point, d1 != 0, no trailing zeros, that can double and halve exactly. */
class Decimal {
  digits: StaticArray<u8> = new StaticArray<u8>(MAX_DIGITS);
  count: i32 = 0;
  point: i32 = 0;
  truncated: bool = false;

  /** Loads a token's significant digits and decimal point. */
  read(ptr: usize, length: i32): Decimal {
    let count = 0;
    let truncated = false;
    let point = 0;
    let afterDot = false;
    const digits = this.digits;
    let k = 0;
    for (; k < length; k++) {
      const c = <u32>load<u8>(ptr + <usize>k);
      const digit = c - 0x30;
      if (digit >= 10) {
        if (c == DOT) afterDot = true;
        else if (c != MINUS) break; // the exponent
        continue;
      }
      if (count == 0 && digit == 0) {
        if (afterDot) point--;
        continue;
      }
      if (count < MAX_DIGITS) unchecked((digits[count] = <u8>digit));
      else if (digit != 0) truncated = true;
      count++;
      if (!afterDot) point++;
    }
    this.count = min(count, MAX_DIGITS);
    this.point = point + exponentAt(ptr, k + 1, length);
    this.truncated = truncated;
    this.trim();
    return this;
  }

  toDouble(): f64 {
    // 0.1 * 10^311 is past the largest double; 10^-330 is below half the smallest subnormal.
    if (this.count == 0 || this.point < -330) return 0;
    if (this.point > 310) return Infinity;
    let twos = 0;
    while (this.point > 0) {
      const shift = shiftFor(this.point);
      this.shiftRight(shift);
      twos += shift;
    }
    while (this.point < 0 || (this.point == 0 && unchecked(this.digits[0]) < 5)) {
      const shift = shiftFor(-this.point);
      this.shiftLeft(shift);
      twos -= shift;
    }
    // Now in [1/2, 1) * 2^twos, i.e. [1, 2) * 2^(twos - 1): the form of a normal double.
    twos--;
    if (twos < 1 - EXPONENT_BIAS) {
      // Subnormal: scale to the smallest exponent; the mantissa loses its leading bits.
      for (let left = 1 - EXPONENT_BIAS - twos; left > 0; left -= MAX_SHIFT) this.shiftRight(min(left, MAX_SHIFT));
      twos = 1 - EXPONENT_BIAS;
    }
    if (twos > EXPONENT_BIAS) return Infinity;
    this.shiftLeft(53);
    let mantissa = this.roundedInteger();
    if (mantissa == HIDDEN_BIT << 1) {
      // Rounding carried into a new bit.
      mantissa >>= 1;
      if (++twos > EXPONENT_BIAS) return Infinity;
    }
    const biased = mantissa < HIDDEN_BIT ? 0 : <u64>(twos + EXPONENT_BIAS);
    return reinterpret<f64>((biased << 52) | (mantissa & FRACTION_MASK));
  }

  /** Multiplies by 2^shift (shift <= MAX_SHIFT). */
  private shiftLeft(shift: i32): void {
    for (; shift > MAX_LEFT_STEP; shift -= MAX_LEFT_STEP) this.shiftLeftBy(MAX_LEFT_STEP);
    this.shiftLeftBy(shift);
  }

  /**
   * Multiplies by 2^shift (shift <= MAX_LEFT_STEP), right to left with a carry: in 32 bits, where
   * V8 turns the division by 10 into a multiplication (a 64-bit division costs far more).
   */
  private shiftLeftBy(shift: i32): void {
    const digits = this.digits;
    // 10/33 > log10(2): room for every digit the carry can add in front.
    const added = (shift * 10) / 33 + 1;
    const end = min(this.count + added, MAX_DIGITS);
    let write = this.count + added;
    let carry: u32 = 0;
    for (let read = this.count - 1; read >= 0; read--) {
      carry = this.put(--write, carry + (<u32>unchecked(digits[read]) << <u32>shift));
    }
    while (carry > 0) carry = this.put(--write, carry);
    const base = changetype<usize>(digits);
    memory.copy(base, base + <usize>write, <usize>(end - write));
    this.count = end - write;
    this.point += added - write;
    this.trim();
  }

  /**
   * Stores the last decimal digit of `value` at `at` (or notes a nonzero one past the buffer) and
   * returns the carry, value / 10.
   */
  @inline private put(at: i32, value: u32): u32 {
    const carry = value / 10;
    const digit = <u8>(value - carry * 10);
    if (at < MAX_DIGITS) unchecked((this.digits[at] = digit));
    else if (digit != 0) this.truncated = true;
    return carry;
  }

  /** Divides by 2^shift (shift <= MAX_SHIFT), left to right with a remainder. */
  private shiftRight(shift: i32): void {
    const digits = this.digits;
    const mask: u64 = (<u64>1 << <u64>shift) - 1;
    let read = 0;
    let remainder: u64 = 0;
    // Take digits until the first quotient digit is nonzero (zeros past the end when needed).
    while (remainder >> <u64>shift == 0) {
      remainder = remainder * 10 + (read < this.count ? <u64>unchecked(digits[read]) : 0);
      read++;
    }
    this.point -= read - 1;
    let write = 0;
    for (; read < this.count; read++) {
      unchecked((digits[write++] = <u8>(remainder >> <u64>shift)));
      remainder = (remainder & mask) * 10 + <u64>unchecked(digits[read]);
    }
    while (remainder > 0) {
      const digit = <u8>(remainder >> <u64>shift);
      if (write < MAX_DIGITS) unchecked((digits[write++] = digit));
      else if (digit != 0) this.truncated = true;
      remainder = (remainder & mask) * 10;
    }
    this.count = write;
    this.trim();
  }

  private trim(): void {
    while (this.count > 0 && unchecked(this.digits[this.count - 1]) == 0) this.count--;
    if (this.count == 0) this.point = 0;
  }

  /** The integer part rounded half to even (the value is below 2^53 here). */
  private roundedInteger(): u64 {
    let n: u64 = 0;
    for (let i = 0; i < this.point; i++) n = n * 10 + (i < this.count ? <u64>unchecked(this.digits[i]) : 0);
    return this.roundsUp() ? n + 1 : n;
  }

  private roundsUp(): bool {
    const point = this.point;
    if (point < 0 || point >= this.count) return false; // the fraction is below 1/10, or nothing
    const first = unchecked(this.digits[point]);
    // Trailing zeros are trimmed: more digits after a 5 mean more than half.
    if (first != 5 || point + 1 < this.count) return first >= 5;
    if (this.truncated) return true;
    return point > 0 && (unchecked(this.digits[point - 1]) & 1) != 0;
  }
}

/**
 * Bits to shift by to move the decimal point at most `places` places: 2^n <= 10^places, so a value
 * below 10^-places doubled n times stays below 1 (106/32 < log2(10); 2^59 < 10^18).
 */
@inline function shiftFor(places: i32): i32 {
  if (places == 0) return 1;
  return places >= 18 ? 59 : (places * 106) >> 5;
}

/** Tier 3's buffer, allocated once. */
const decimal = new Decimal();
