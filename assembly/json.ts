// Strict JSON (RFC 8259) for filters: one streaming parser that reads configurations into a
// small DOM and lets the payload validator check request bodies as they arrive, chunk by chunk.
//
// - Input is UTF-8 bytes, validated: overlong forms, UTF-8-encoded surrogates, code points above
//   U+10FFFF and truncated sequences are errors. A byte order mark is an error (RFC 8259 §8.1 lets
//   a parser ignore it; graft refuses it, as it refuses every byte the grammar does not name).
// - \u escapes must form valid UTF-16: a lone or reversed surrogate is an error.
// - Numbers follow the grammar exactly; one whose value overflows a double (1e999) is an error,
//   one that underflows reads as 0.
// - No recursion: containers live on an explicit stack bounded by JsonLimits.maxDepth, so hostile
//   nesting fails with an error instead of overflowing the Wasm stack.
// - Tokens, escapes and UTF-8 sequences may be split across chunks.
// - Handlers get keys and strings as UTF-8 byte ranges, not strings, and numbers as their text: a
//   request body is checked without allocating per value. A token that lies whole in one chunk
//   (the common case) is handed over in place; one split across chunks, or holding escapes, is
//   assembled in a buffer first.

import { parseDecimal } from "./decimal";

const E_DEPTH = "nesting deeper than the limit";
const E_STRING_LENGTH = "string longer than the limit";
const E_NUMBER_LENGTH = "number longer than the limit";
const E_NUMBER = "invalid number";
const E_NUMBER_RANGE = "number out of range";
const E_CONTROL = "control character in string";
const E_ESCAPE = "invalid escape";
const E_SURROGATE = "invalid surrogate escape";
const E_UTF8 = "invalid UTF-8";
const E_UNEXPECTED = "unexpected character";
const E_END = "unexpected end of input";
const E_TRAILING = "unexpected data after the JSON value";
const E_DUPLICATE = "duplicate key";
const E_KEYS = "too many keys in object";
const E_ITEMS = "too many items in array";
const E_SIZE = "document larger than the limit";

export class JsonLimits {
  maxDepth: i32 = 64;
  /** Bytes of one decoded string (key or value). */
  maxStringBytes: i32 = 1 << 20;
  maxNumberChars: i32 = 256;
  /** Members of one object; 0 = no limit. */
  maxKeys: i32 = 0;
  /** Items of one array; 0 = no limit. */
  maxItems: i32 = 0;
  /** Bytes of the whole document; 0 = no limit. */
  maxBytes: i32 = 0;
  rejectDuplicateKeys: bool = true;
}

export class JsonError {
  constructor(
    public message: string,
    public offset: i32,
    public path: string,
  ) {}
  toString(): string {
    return (
      (this.path.length > 0 ? this.path : "/") + ": " + this.message + " at byte " + this.offset.toString()
    );
  }
}

/** `length` bytes of UTF-8 at `ptr` as a string. */
export function utf8Text(ptr: usize, length: i32): string {
  return String.UTF8.decodeUnsafe(ptr, <usize>length);
}

/** Where the parser is: handlers name a refused value by it. */
export abstract class JsonPosition {
  /**
   * During onKey: the key repeats an earlier key of the same object. Only ever true when duplicate
   * keys are allowed (otherwise the repeat is an error), so a handler can count distinct names.
   */
  keyRepeats: bool = false;
  /** JSON Pointer of the outermost `depth` containers, each at its current key or index. */
  abstract pointer(depth: i32): string;
}

/**
 * Receives the parse events. A callback that returns false stops the parser; it should set
 * `error` to say why (the parser reports it with the offset and path).
 *
 * Keys and strings arrive decoded, as `length` bytes of UTF-8 at `ptr`; numbers as their text as
 * written (a handler that wants the value reads it with numberValue: a module whose handlers never
 * do carries no decimal reader). The bytes are valid only during the call. `escaped`: the text held
 * escapes, so its decoded bytes differ from the raw input.
 */
export abstract class JsonHandler {
  error: string = "";
  /** The parser feeding this handler. */
  position: JsonPosition | null = null;
  onStartObject(): bool {
    return true;
  }
  onEndObject(): bool {
    return true;
  }
  onStartArray(): bool {
    return true;
  }
  onEndArray(): bool {
    return true;
  }
  onKey(ptr: usize, length: i32, escaped: bool): bool {
    return true;
  }
  onString(ptr: usize, length: i32, escaped: bool): bool {
    return true;
  }
  /** A number token, `length` bytes at `ptr`, known to follow the grammar and to be finite as a double. */
  onNumber(ptr: usize, length: i32): bool {
    return true;
  }
  onBool(value: bool): bool {
    return true;
  }
  onNull(): bool {
    return true;
  }
}

// Structural states.
const S_VALUE: i32 = 0; // a value must come (document start, after ':' or ',' in an array)
const S_ARRAY_FIRST: i32 = 1; // after '[': a value or ']'
const S_OBJECT_FIRST: i32 = 2; // after '{': a key or '}'
const S_KEY: i32 = 3; // after ',' in an object: a key
const S_COLON: i32 = 4;
const S_AFTER_VALUE: i32 = 5; // ',' or the closing bracket
const S_DONE: i32 = 6; // only whitespace
const S_FAILED: i32 = 7;

// Token states.
const T_NONE: i32 = 0;
const T_STRING: i32 = 1;
const T_NUMBER: i32 = 2;
const T_LITERAL: i32 = 3;

// Number grammar states.
const N_MINUS: i32 = 0;
const N_ZERO: i32 = 1;
const N_INT: i32 = 2;
const N_DOT: i32 = 3;
const N_FRAC: i32 = 4;
const N_E: i32 = 5;
const N_ESIGN: i32 = 6;
const N_EXP: i32 = 7;

const FRAME_OBJECT: i32 = 1;
const FRAME_ARRAY: i32 = 2;
/** i32 slots a container takes in JsonStreamParser.frames (the last two: a u64, 8-byte aligned). */
const FRAME_SLOTS: i32 = 6;
const DUPLICATE_SCAN_LIMIT: i32 = 16;

// "true", "alse", "null" as little-endian u32 words, to match a literal in one load.
const WORD_TRUE: u32 = 0x65757274;
const WORD_ALSE: u32 = 0x65736c61;
const WORD_NULL: u32 = 0x6c6c756e;

// A growable byte buffer: the token being assembled, or the parser's keys.
class Bytes {
  data: StaticArray<u8> = new StaticArray<u8>(64);
  length: i32 = 0;

  @inline reserve(count: i32): void {
    if (this.length + count > this.data.length) this.grow(count);
  }

  private grow(count: i32): void {
    let capacity = this.data.length;
    while (this.length + count > capacity) capacity <<= 1;
    const bigger = new StaticArray<u8>(capacity);
    memory.copy(changetype<usize>(bigger), changetype<usize>(this.data), this.length);
    this.data = bigger;
  }

  push(byte: u8): void {
    this.reserve(1);
    unchecked((this.data[this.length++] = byte));
  }

  append(ptr: usize, count: i32): void {
    this.reserve(count);
    copyBytes(changetype<usize>(this.data) + <usize>this.length, ptr, count);
    this.length += count;
  }

  pushCodePoint(cp: u32): void {
    if (cp < 0x80) {
      this.push(<u8>cp);
    } else if (cp < 0x800) {
      this.push(<u8>(0xc0 | (cp >> 6)));
      this.push(<u8>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      this.push(<u8>(0xe0 | (cp >> 12)));
      this.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
      this.push(<u8>(0x80 | (cp & 0x3f)));
    } else {
      this.push(<u8>(0xf0 | (cp >> 18)));
      this.push(<u8>(0x80 | ((cp >> 12) & 0x3f)));
      this.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
      this.push(<u8>(0x80 | (cp & 0x3f)));
    }
  }

  @inline start(): usize {
    return changetype<usize>(this.data);
  }
}

/**
 * Copies `count` bytes. Short copies, the usual case for keys and values, run as a plain loop:
 * V8 compiles `memory.copy` to a call out of the module, which costs more than a few bytes do.
 */
function copyBytes(destination: usize, source: usize, count: i32): void {
  if (count > 32) {
    memory.copy(destination, source, <usize>count);
    return;
  }
  let k = 0;
  for (; k + 8 <= count; k += 8) store<u64>(destination + <usize>k, load<u64>(source + <usize>k));
  for (; k < count; k++) store<u8>(destination + <usize>k, load<u8>(source + <usize>k));
}

@inline function isWhitespace(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

/** A string byte that needs no attention: printable ASCII other than '"' and '\'. */
@inline function isPlain(c: u32): bool {
  return c - 0x20 < 0x60 && c != 0x22 && c != 0x5c;
}

/**
 * The first index in [from, length) whose byte is not plain (see isPlain), or `length`: sixteen
 * bytes at a time while they last, so long string values cost a fraction of a byte-by-byte scan.
 */
function plainRunEnd(ptr: usize, from: i32, length: i32): i32 {
  let j = from;
  const control = i8x16.splat(0x20);
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  while (j + 16 <= length) {
    const bytes = v128.load(ptr + <usize>j);
    // Signed, bytes at or above 0x80 are negative: one comparison finds them and controls alike.
    const special = v128.or(
      i8x16.lt_s(bytes, control),
      v128.or(i8x16.eq(bytes, quote), i8x16.eq(bytes, backslash)),
    );
    const mask = i8x16.bitmask(special);
    if (mask != 0) return j + ctz(mask);
    j += 16;
  }
  while (j < length && isPlain(<u32>load<u8>(ptr + <usize>j))) j++;
  return j;
}

@inline function hexValue(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x61 + 10);
  if (c >= 0x41 && c <= 0x46) return <i32>(c - 0x41 + 10);
  return -1;
}

/**
 * Length of the valid, complete UTF-8 sequence of a non-ASCII lead byte at `ptr` (`available`
 * bytes readable), or 0 when it is invalid or cut off (the byte-by-byte path then decides).
 */
function utf8SequenceLength(ptr: usize, available: i32): i32 {
  const lead = <u32>load<u8>(ptr);
  let need = 0;
  let lower: u32 = 0x80;
  let upper: u32 = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    need = 1;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    need = 2;
    if (lead == 0xe0) lower = 0xa0;
    else if (lead == 0xed) upper = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 3;
    if (lead == 0xf0) lower = 0x90;
    else if (lead == 0xf4) upper = 0x8f;
  } else {
    return 0;
  }
  if (available <= need) return 0;
  const second = <u32>load<u8>(ptr, 1);
  if (second < lower || second > upper) return 0;
  for (let k = 2; k <= need; k++) {
    const next = <u32>load<u8>(ptr + <usize>k);
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return need + 1;
}

/**
 * The value of a number token (already known to follow the grammar): the correctly rounded double
 * of its decimal text, as JavaScript's Number() reads it, or ±Infinity when it overflows.
 */
export function numberValue(ptr: usize, length: i32): f64 {
  return parseDecimal(ptr, length);
}

/**
 * 2^1024 - 2^970 in decimal, nine digits a group (309 digits; the last group is padded with zeros):
 * halfway between the largest double and 2^1024. A number at or above it rounds to Infinity (ties
 * go to the even significand, and 2^1024 counts as even).
 */
const OVERFLOW_DIGITS: StaticArray<u32> = [
  179769313, 486231580, 793728971, 405303415, 79934132, 710037826, 936173778, 980444968, 292764750, 946649017,
  977587207, 96330286, 416692887, 910946555, 547851940, 402630657, 488671505, 820681908, 902000708, 383676273,
  854845817, 711531764, 475730270, 69855571, 366959622, 842914819, 860834936, 475292719, 74168444, 365510704,
  342711559, 699508093, 42880177, 904174497, 792000000,
];
const OVERFLOW_DIGIT_COUNT = 309;
/** The decimal exponent of OVERFLOW_DIGITS' first digit. */
const OVERFLOW_EXPONENT: i64 = 308;
/** Exponents are read saturating here: far beyond any double, far from overflowing. */
const EXPONENT_LIMIT: i64 = 1_000_000;

/**
 * Whether a number token (known to follow the grammar) is too large for a double, that is, reads as
 * ±Infinity: the decimal exponent of its first significant digit against 308, and at 308 its digits
 * against OVERFLOW_DIGITS. No conversion: exact for tokens of any length, and cheap.
 */
export function numberOverflows(ptr: usize, length: i32): bool {
  // The significand ends at the exponent's 'e' or 'E', if any; the point, if any, is in it.
  let end = 0;
  let point = -1;
  let first = -1; // the first nonzero digit
  for (; end < length; end++) {
    const c = <u32>load<u8>(ptr + <usize>end);
    if ((c | 0x20) == 0x65) break;
    if (c == 0x2e) point = end;
    else if (first < 0 && c - 0x31 < 9) first = end;
  }
  if (first < 0) return false; // zero
  let exponent: i64 = 0;
  if (end < length) {
    let k = end + 1;
    const sign = load<u8>(ptr + <usize>k);
    if (sign == 0x2d || sign == 0x2b) k++;
    for (; k < length; k++) {
      if (exponent < EXPONENT_LIMIT) exponent = exponent * 10 + i64(load<u8>(ptr + <usize>k) - 0x30);
    }
    if (sign == 0x2d) exponent = -exponent;
  }
  if (point < 0) point = end;
  // The decimal exponent of the first nonzero digit.
  const lead = i64(first < point ? point - first - 1 : point - first) + exponent;
  if (lead != OVERFLOW_EXPONENT) return lead > OVERFLOW_EXPONENT;
  // The significant digits, the point skipped, against the boundary's.
  let at = first;
  let divisor: u32 = 0;
  let group: u32 = 0;
  for (let i = 0; i < OVERFLOW_DIGIT_COUNT; i++, at++) {
    if (at == point) at++;
    // Fewer digits: below the boundary, whose remaining digits are not all zeros.
    if (at >= end) return false;
    if (divisor == 0) {
      group = unchecked(OVERFLOW_DIGITS[i / 9]);
      divisor = 100_000_000;
    }
    const expected = (group / divisor) % 10;
    divisor /= 10;
    const digit = <u32>load<u8>(ptr + <usize>at) - 0x30;
    if (digit != expected) return digit > expected;
  }
  return true; // the boundary itself, or above it
}

/** A copy of `ints` with room for `capacity` items. */
export function grownInts(ints: StaticArray<i32>, capacity: i32): StaticArray<i32> {
  const bigger = new StaticArray<i32>(capacity);
  memory.copy(changetype<usize>(bigger), changetype<usize>(ints), (<usize>ints.length) << 2);
  return bigger;
}

/** Whether `length` bytes at `a` and at `b` are equal; inline, as most compared keys differ early. */
@inline export function sameBytesAt(a: usize, b: usize, length: i32): bool {
  let k = 0;
  while (k < length && load<u8>(a + <usize>k) == load<u8>(b + <usize>k)) k++;
  return k == length;
}

/**
 * A key's bytes in one word, to compare keys by: exact (with the length) up to 8 bytes, a digest of
 * the first and last 8 beyond. Reads only the `length` bytes at `ptr`.
 */
@inline export function keyPrint(ptr: usize, length: i32): u64 {
  if (length > 8) return load<u64>(ptr) ^ rotl<u64>(load<u64>(ptr + <usize>length - 8), 31);
  if (length >= 4) return u64(load<u32>(ptr)) | (u64(load<u32>(ptr + <usize>length - 4)) << 32);
  if (length == 0) return 0;
  const middle = u64(load<u8>(ptr + <usize>(length >> 1)));
  return u64(load<u8>(ptr)) | (middle << 8) | (u64(load<u8>(ptr + <usize>length - 1)) << 16);
}

/** Escapes a JSON Pointer token (RFC 6901): `~` as `~0`, `/` as `~1`. */
export function pointerToken(key: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c != 0x7e && c != 0x2f) continue;
    out += key.substring(start, i) + (c == 0x7e ? "~0" : "~1");
    start = i + 1;
  }
  return start == 0 ? key : out + key.substring(start);
}

/**
 * The parser, generic in its handler: with a handler class as H each event is a direct call the
 * compiler can inline; JsonStreamParser<JsonHandler> serves any handler through one copy of the
 * parser, at a virtual call per event (smaller, slower: see README.md).
 */
export class JsonStreamParser<H extends JsonHandler> extends JsonPosition {
  error: JsonError | null = null;
  /** Bytes consumed so far. */
  offset: i32 = 0;

  private state: i32 = S_VALUE;
  private token: i32 = T_NONE;
  private stringIsKey: bool = false;
  private stringEscaped: bool = false;
  private buffer: Bytes = new Bytes();

  // The limits read on every token, copied from `limits` when the parser is made.
  private maxItems: i32;
  private maxKeys: i32;
  private maxStringBytes: i32;
  private maxNumberChars: i32;
  private rejectDuplicateKeys: bool;

  // Container stack, [0, depth), FRAME_SLOTS i32s a frame in one array grown in steps (opening
  // and closing a container only writes slots): kind; for an array the index of the current item,
  // for an object its keys so far; where the frame's key records start; its current key's record;
  // a 64-bit filter of its keys (see isDuplicateKey).
  private depth: i32 = 0;
  private frames: StaticArray<i32> = new StaticArray<i32>(0);
  // Keys of the open objects, innermost last, as records (i32 length, then the bytes) in one
  // buffer (see the frame slots). A frame keeps all its keys and scans them for a repeat while
  // they are few, switching to a Set past DUPLICATE_SCAN_LIMIT; frames at and above depth have none.
  private keys: Bytes = new Bytes();
  private frameKeySet: StaticArray<Set<string> | null> = new StaticArray<Set<string> | null>(0);

  // String token state.
  private escape: i32 = 0; // 0 none, 1 after '\', 2..5 reading \u hex digits
  private unit: u32 = 0; // the \u code unit being read
  private highSurrogate: u32 = 0; // a high surrogate waiting for its low half
  private utf8Need: i32 = 0;
  private utf8Lower: u32 = 0x80;
  private utf8Upper: u32 = 0xbf;

  // Number token state.
  private numberState: i32 = N_MINUS;

  // Literal token state.
  private literal: string = "";
  private literalAt: i32 = 0;

  constructor(
    private handler: H,
    private limits: JsonLimits = new JsonLimits(),
  ) {
    super();
    handler.position = this;
    this.maxItems = limits.maxItems;
    this.maxKeys = limits.maxKeys;
    this.maxStringBytes = limits.maxStringBytes;
    this.maxNumberChars = limits.maxNumberChars;
    this.rejectDuplicateKeys = limits.rejectDuplicateKeys;
  }

  /** Bytes of the buffers the parser has grown (they grow with the longest string and the keys held). */
  bufferBytes(): i32 {
    return this.buffer.data.length + this.keys.data.length;
  }

  /** Makes the parser ready for a new document, keeping the memory it has grown. */
  reset(): void {
    // Every field a document can change goes back to its initial value: a pooled parser must
    // behave exactly as a fresh one, whatever byte the previous document failed at.
    this.error = null;
    this.offset = 0;
    this.state = S_VALUE;
    this.token = T_NONE;
    this.stringIsKey = false;
    this.stringEscaped = false;
    this.buffer.length = 0;
    this.keys.length = 0;
    for (let i = 0; i < this.depth; i++) unchecked((this.frameKeySet[i] = null));
    this.depth = 0;
    this.escape = 0;
    this.unit = 0;
    this.highSurrogate = 0;
    this.utf8Need = 0;
    this.utf8Lower = 0x80;
    this.utf8Upper = 0xbf;
    this.numberState = N_MINUS;
    this.literal = "";
    this.literalAt = 0;
    this.handler.error = "";
  }

  /** Feeds the next bytes; false once the input is known to be invalid (see `error`). */
  feed(chunk: Uint8Array): bool {
    return this.feedBytes(chunk.dataStart, chunk.length);
  }

  feedBytes(ptr: usize, length: i32): bool {
    if (this.state == S_FAILED) return false;
    if (this.limits.maxBytes > 0 && this.offset + length > this.limits.maxBytes) {
      return this.fail(E_SIZE, this.limits.maxBytes);
    }
    let i = 0;
    while (i < length) {
      const token = this.token;
      // Between tokens: the fast path takes every token that lies whole in the chunk. Not for the
      // DOM: configurations are small, and a module that parses nothing else carries no fast path.
      if (token == T_NONE && idof<H>() != idof<DomBuilder>()) {
        i = this.scan(ptr, i, length);
        if (i < 0) return false;
        if (i == length) break;
      } else if (token == T_STRING && this.escape == 0 && this.utf8Need == 0 && this.highSurrogate == 0) {
        // A string continued from an earlier chunk, or past an escape: copy plain ASCII runs in one go.
        const end = plainRunEnd(ptr, i, length);
        const run = end - i;
        if (run > 0) {
          if (this.buffer.length + run > this.maxStringBytes) {
            return this.fail(E_STRING_LENGTH, this.offset + this.maxStringBytes - this.buffer.length);
          }
          this.buffer.append(ptr + <usize>i, run);
          this.offset += run;
          i = end;
          if (i == length) break;
        }
      } else if (token == T_NUMBER && isDigit(<u32>load<u8>(ptr + <usize>i))) {
        // A run of digits inside a number's integer, fraction or exponent part.
        const state = this.numberState;
        if (state == N_INT || state == N_FRAC || state == N_EXP) {
          let end = i + 1;
          while (end < length && isDigit(<u32>load<u8>(ptr + <usize>end))) end++;
          const run = end - i;
          if (this.buffer.length + run > this.maxNumberChars) {
            return this.fail(E_NUMBER_LENGTH, this.offset + this.maxNumberChars - this.buffer.length);
          }
          this.buffer.append(ptr + <usize>i, run);
          this.offset += run;
          i = end;
          continue;
        }
      }
      if (!this.step(<u32>load<u8>(ptr + <usize>i))) return false;
      this.offset++;
      i++;
    }
    return true;
  }

  /**
   * The fast path, from `i` while no token is open: whitespace, structure, and every key and value
   * that lies whole in the chunk (strings without escapes), with the state and the offset in
   * locals, stored before each call out. Stops at the first byte it leaves to step(), the
   * byte-by-byte path (a token the chunk cuts, a string with escapes, anything invalid: step()
   * reports it), and returns its index; -1 when a handler refused or a limit was hit.
   */
  private scan(ptr: usize, i: i32, length: i32): i32 {
    let state = this.state;
    const base = this.offset - i; // the offset of byte i is base + i
    while (i < length) {
      const c = <u32>load<u8>(ptr + <usize>i);
      if (c <= 0x20) {
        if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) {
          i++;
          continue;
        }
        break;
      }
      if (state == S_AFTER_VALUE) {
        const frames = this.frames;
        const slot = (this.depth - 1) * FRAME_SLOTS;
        const kind = unchecked(frames[slot]);
        if (c == 0x2c) {
          if (kind == FRAME_OBJECT) {
            state = S_KEY;
          } else {
            unchecked((frames[slot + 1] = unchecked(frames[slot + 1]) + 1));
            state = S_VALUE;
          }
          i++;
          continue;
        }
        if (c != (kind == FRAME_OBJECT ? 0x7d : 0x5d)) break;
        this.state = state;
        this.offset = base + i;
        if (!this.closeContainer(kind)) return -1;
        state = this.state;
        i++;
        continue;
      }
      if (state == S_COLON) {
        if (c != 0x3a) break;
        state = S_VALUE;
        i++;
        continue;
      }
      this.state = state;
      this.offset = base + i;
      let next = i;
      if (state == S_KEY || state == S_OBJECT_FIRST) {
        if (c == 0x22) next = this.stringInChunk(ptr, i, length, true);
        else if (c == 0x7d && state == S_OBJECT_FIRST) next = this.closeContainer(FRAME_OBJECT) ? i + 1 : -1;
      } else if (state != S_DONE) {
        // S_VALUE or S_ARRAY_FIRST: a value.
        if (c == 0x22) {
          next = this.stringInChunk(ptr, i, length, false);
        } else if (c == 0x2d || isDigit(c)) {
          next = this.numberInChunk(ptr, i, length);
        } else if (c == 0x7b || c == 0x5b) {
          next = this.beginValue() && this.openContainer(c == 0x7b ? FRAME_OBJECT : FRAME_ARRAY) ? i + 1 : -1;
        } else if (c == 0x5d) {
          if (state == S_ARRAY_FIRST) next = this.closeContainer(FRAME_ARRAY) ? i + 1 : -1;
        } else if (i + 5 <= length && (c == 0x74 || c == 0x66 || c == 0x6e)) {
          next = this.literalInChunk(ptr, i, c);
        }
      }
      if (next == i) break;
      if (next < 0) return -1;
      state = this.state;
      i = next;
    }
    this.state = state;
    this.offset = base + i;
    return i;
  }

  /**
   * A key or string value whose opening quote is at `i` (this.offset): when it ends in this chunk
   * without escapes (and within the length limit), it is handed over in place and the index past
   * its closing quote returned; otherwise `i`, and step() reads it byte by byte. -1 on failure.
   */
  private stringInChunk(ptr: usize, i: i32, length: i32, isKey: bool): i32 {
    const from = i + 1;
    let j = plainRunEnd(ptr, from, length);
    // Past plain ASCII: complete, valid UTF-8 sequences continue the string.
    while (j < length && load<u8>(ptr + <usize>j) >= 0x80) {
      const sequence = utf8SequenceLength(ptr + <usize>j, length - j);
      if (sequence == 0) break;
      j = plainRunEnd(ptr, j + sequence, length);
    }
    const run = j - from;
    if (j >= length || load<u8>(ptr + <usize>j) != 0x22 || run > this.maxStringBytes) return i;
    if (isKey) {
      this.offset += j - i; // at the closing quote, where a refusal points
      return this.endKey(ptr + <usize>from, run, false) ? j + 1 : -1;
    }
    if (!this.beginValue()) return -1;
    this.offset += j - i;
    if (!this.handler.onString(ptr + <usize>from, run, false)) {
      this.handlerFailed();
      return -1;
    }
    this.valueDone();
    return j + 1;
  }

  /**
   * A number starting at `i` (this.offset): when the whole token lies in the chunk and follows the
   * grammar, it is handed over and the index past it returned; otherwise `i` (step() reads it, or
   * reports the error). -1 on failure.
   */
  private numberInChunk(ptr: usize, i: i32, length: i32): i32 {
    let j = i;
    if (load<u8>(ptr + <usize>j) == 0x2d) j++;
    if (j >= length) return i;
    let c = <u32>load<u8>(ptr + <usize>j);
    if (c == 0x30) {
      j++;
    } else if (isDigit(c)) {
      j++;
      while (j < length && isDigit(<u32>load<u8>(ptr + <usize>j))) j++;
    } else {
      return i;
    }
    if (j >= length) return i;
    c = <u32>load<u8>(ptr + <usize>j);
    if (c == 0x2e) {
      j++;
      if (j >= length || !isDigit(<u32>load<u8>(ptr + <usize>j))) return i;
      while (j < length && isDigit(<u32>load<u8>(ptr + <usize>j))) j++;
      if (j >= length) return i;
      c = <u32>load<u8>(ptr + <usize>j);
    }
    let exponent = false;
    if (c == 0x65 || c == 0x45) {
      exponent = true;
      j++;
      if (j < length) {
        const sign = <u32>load<u8>(ptr + <usize>j);
        if (sign == 0x2b || sign == 0x2d) j++;
      }
      if (j >= length || !isDigit(<u32>load<u8>(ptr + <usize>j))) return i;
      while (j < length && isDigit(<u32>load<u8>(ptr + <usize>j))) j++;
      if (j >= length) return i;
    }
    const tokenLength = j - i;
    if (tokenLength > this.maxNumberChars) return i;
    if (!this.beginValue()) return -1;
    this.offset += tokenLength;
    // Without an exponent, a token of fewer than 309 characters is below 10^308: no overflow.
    const token = ptr + <usize>i;
    if ((exponent || tokenLength >= OVERFLOW_DIGIT_COUNT) && numberOverflows(token, tokenLength)) {
      this.fail(E_NUMBER_RANGE, this.offset);
      return -1;
    }
    if (!this.handler.onNumber(token, tokenLength)) {
      this.handlerFailed();
      return -1;
    }
    this.valueDone();
    return j;
  }

  /**
   * A literal starting with `c` at `i` (this.offset), 5 bytes readable: the index past it when the
   * chunk holds it whole, `i` when it does not (step() reads it), -1 on failure.
   */
  private literalInChunk(ptr: usize, i: i32, c: u32): i32 {
    const at = ptr + <usize>i;
    let consumed = 0;
    if (c == 0x74) consumed = load<u32>(at) == WORD_TRUE ? 4 : 0;
    else if (c == 0x66) consumed = load<u32>(at, 1) == WORD_ALSE ? 5 : 0;
    else consumed = load<u32>(at) == WORD_NULL ? 4 : 0;
    if (consumed == 0) return i;
    if (!this.beginValue()) return -1;
    this.offset += consumed - 1; // at the literal's last byte, where a refusal points
    const ok = c == 0x6e ? this.handler.onNull() : this.handler.onBool(c == 0x74);
    if (!ok) {
      this.handlerFailed();
      return -1;
    }
    this.valueDone();
    return i + consumed;
  }

  /** Ends the input; true when it held exactly one complete JSON value. */
  finish(): bool {
    if (this.state == S_FAILED) return false;
    if (this.token == T_NUMBER) {
      if (!this.endNumber()) return false;
    }
    if (this.token != T_NONE || this.state != S_DONE) return this.fail(E_END, this.offset);
    return true;
  }

  /** True when a complete value has been read (only whitespace may follow). */
  done(): bool {
    return this.state == S_DONE && this.token == T_NONE;
  }

  /** JSON Pointer of the value being read. */
  path(): string {
    // The innermost object names its member once that member's key has been read.
    const depth = this.depth;
    if (depth == 0) return "";
    const readingKey = this.token == T_STRING && this.stringIsKey;
    const state = this.state;
    const keyRead =
      state == S_COLON || state == S_VALUE || state == S_AFTER_VALUE || (this.token != T_NONE && !readingKey);
    const named = keyRead || unchecked(this.frames[(depth - 1) * FRAME_SLOTS]) != FRAME_OBJECT;
    return this.pointer(named ? depth : depth - 1);
  }

  pointer(depth: i32): string {
    let path = "";
    const frames = this.frames;
    for (let i = 0; i < depth; i++) {
      const slot = i * FRAME_SLOTS;
      if (unchecked(frames[slot]) == FRAME_ARRAY) {
        path += "/" + unchecked(frames[slot + 1]).toString();
        continue;
      }
      // An object: its current key, or "" before the first.
      const at = unchecked(frames[slot + 3]);
      let key = "";
      if (at >= 0) {
        const record = this.keys.start() + <usize>at;
        key = utf8Text(record + 4, load<i32>(record));
      }
      path += "/" + pointerToken(key);
    }
    return path;
  }

  private fail(message: string, at: i32): bool {
    if (this.state != S_FAILED) {
      this.error = new JsonError(message, at, this.path());
      this.state = S_FAILED;
    }
    return false;
  }

  private handlerFailed(): bool {
    const message = this.handler.error.length > 0 ? this.handler.error : "rejected";
    return this.fail(message, this.offset);
  }

  private step(c: u32): bool {
    switch (this.token) {
      case T_STRING:
        return this.stringByte(c);
      case T_NUMBER: {
        if (this.numberByte(c)) return true;
        // The byte ends the number; it belongs to the structure.
        if (!this.endNumber()) return false;
        return this.structural(c);
      }
      case T_LITERAL:
        return this.literalByte(c);
      default:
        return this.structural(c);
    }
  }

  /**
   * A value starts (not a key). In an array it is item index + 1 (the index moves at each comma),
   * checked against maxItems.
   */
  @inline private beginValue(): bool {
    const maxItems = this.maxItems;
    return maxItems <= 0 || this.itemAllowed(maxItems);
  }

  private itemAllowed(maxItems: i32): bool {
    const top = this.depth - 1;
    if (top < 0) return true;
    const slot = top * FRAME_SLOTS;
    const frames = this.frames;
    if (unchecked(frames[slot]) == FRAME_ARRAY && unchecked(frames[slot + 1]) >= maxItems) {
      return this.fail(E_ITEMS, this.offset);
    }
    return true;
  }

  private structural(c: u32): bool {
    if (isWhitespace(c)) return true;
    const state = this.state;
    if (state == S_DONE) return this.fail(E_TRAILING, this.offset);
    if (state == S_COLON) {
      if (c != 0x3a) return this.fail(E_UNEXPECTED, this.offset);
      this.state = S_VALUE;
      return true;
    }
    if (state == S_OBJECT_FIRST || state == S_KEY) {
      if (c == 0x22) return this.startString(true);
      if (c == 0x7d && state == S_OBJECT_FIRST) return this.closeContainer(FRAME_OBJECT);
      return this.fail(E_UNEXPECTED, this.offset);
    }
    if (state == S_AFTER_VALUE) {
      const slot = (this.depth - 1) * FRAME_SLOTS;
      const kind = unchecked(this.frames[slot]);
      if (c == 0x2c) {
        if (kind == FRAME_OBJECT) {
          this.state = S_KEY;
        } else {
          unchecked((this.frames[slot + 1] = unchecked(this.frames[slot + 1]) + 1));
          this.state = S_VALUE;
        }
        return true;
      }
      if (c == (kind == FRAME_OBJECT ? 0x7d : 0x5d)) return this.closeContainer(kind);
      return this.fail(E_UNEXPECTED, this.offset);
    }
    // S_VALUE or S_ARRAY_FIRST: a value starts here.
    if (c == 0x5d && state == S_ARRAY_FIRST) return this.closeContainer(FRAME_ARRAY);
    if (!this.beginValue()) return false;
    switch (c) {
      case 0x7b:
        return this.openContainer(FRAME_OBJECT);
      case 0x5b:
        return this.openContainer(FRAME_ARRAY);
      case 0x22:
        return this.startString(false);
      case 0x74:
        return this.startLiteral("true");
      case 0x66:
        return this.startLiteral("false");
      case 0x6e:
        return this.startLiteral("null");
      default: {
        if (c == 0x2d || isDigit(c)) {
          this.token = T_NUMBER;
          this.buffer.length = 0;
          this.buffer.push(<u8>c);
          this.numberState = c == 0x2d ? N_MINUS : c == 0x30 ? N_ZERO : N_INT;
          return true;
        }
        return this.fail(E_UNEXPECTED, this.offset);
      }
    }
  }

  private openContainer(kind: i32): bool {
    const top = this.depth;
    if (top >= this.limits.maxDepth) return this.fail(E_DEPTH, this.offset);
    const ok = kind == FRAME_OBJECT ? this.handler.onStartObject() : this.handler.onStartArray();
    if (!ok) return this.handlerFailed();
    const slot = top * FRAME_SLOTS;
    if (slot == this.frames.length) this.growFrames();
    const frames = this.frames;
    unchecked((frames[slot] = kind));
    unchecked((frames[slot + 1] = 0));
    unchecked((frames[slot + 2] = this.keys.length));
    unchecked((frames[slot + 3] = -1));
    store<u64>(changetype<usize>(frames) + ((<usize>(slot + 4)) << 2), 0);
    this.depth = top + 1;
    this.state = kind == FRAME_OBJECT ? S_OBJECT_FIRST : S_ARRAY_FIRST;
    return true;
  }

  private closeContainer(kind: i32): bool {
    const top = --this.depth;
    this.keys.length = unchecked(this.frames[top * FRAME_SLOTS + 2]);
    if (unchecked(this.frameKeySet[top]) !== null) unchecked((this.frameKeySet[top] = null));
    const ok = kind == FRAME_OBJECT ? this.handler.onEndObject() : this.handler.onEndArray();
    if (!ok) return this.handlerFailed();
    this.valueDone();
    return true;
  }

  private growFrames(): void {
    const capacity = max(8, this.frameKeySet.length << 1);
    this.frames = grownInts(this.frames, capacity * FRAME_SLOTS);
    const sets = new StaticArray<Set<string> | null>(capacity);
    for (let i = 0; i < this.frameKeySet.length; i++) sets[i] = this.frameKeySet[i];
    this.frameKeySet = sets;
  }

  @inline private valueDone(): void {
    this.state = this.depth == 0 ? S_DONE : S_AFTER_VALUE;
  }

  @inline private startString(isKey: bool): bool {
    this.token = T_STRING;
    this.stringIsKey = isKey;
    this.stringEscaped = false;
    this.buffer.length = 0;
    this.escape = 0;
    this.highSurrogate = 0;
    this.utf8Need = 0;
    return true;
  }

  private stringByte(c: u32): bool {
    if (this.utf8Need > 0) {
      if (c < this.utf8Lower || c > this.utf8Upper) return this.fail(E_UTF8, this.offset);
      this.utf8Need--;
      this.utf8Lower = 0x80;
      this.utf8Upper = 0xbf;
      return this.pushStringByte(c);
    }
    if (this.escape > 0) return this.escapeByte(c);
    if (c == 0x5c) {
      this.escape = 1;
      this.stringEscaped = true;
      return true;
    }
    // A high surrogate escape must be followed at once by a low one.
    if (this.highSurrogate != 0) return this.fail(E_SURROGATE, this.offset);
    if (c == 0x22) return this.endString(this.buffer.start(), this.buffer.length);
    if (c < 0x20) return this.fail(E_CONTROL, this.offset);
    if (c >= 0x80) {
      // The lead byte sets both bounds of the next byte, never only the one it tightens: bounds
      // left by a sequence that failed (in this document or an earlier one) must not carry over.
      let lower: u32 = 0x80;
      let upper: u32 = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) {
        this.utf8Need = 1;
      } else if (c >= 0xe0 && c <= 0xef) {
        this.utf8Need = 2;
        if (c == 0xe0)
          lower = 0xa0; // overlong
        else if (c == 0xed) upper = 0x9f; // surrogates
      } else if (c >= 0xf0 && c <= 0xf4) {
        this.utf8Need = 3;
        if (c == 0xf0)
          lower = 0x90; // overlong
        else if (c == 0xf4) upper = 0x8f; // above U+10FFFF
      } else {
        return this.fail(E_UTF8, this.offset);
      }
      this.utf8Lower = lower;
      this.utf8Upper = upper;
    }
    return this.pushStringByte(c);
  }

  @inline private pushStringByte(c: u32): bool {
    if (this.buffer.length >= this.maxStringBytes) return this.fail(E_STRING_LENGTH, this.offset);
    this.buffer.push(<u8>c);
    return true;
  }

  private escapeByte(c: u32): bool {
    if (this.escape == 1) {
      let decoded: u32 = 0xffffffff;
      switch (c) {
        case 0x22:
          decoded = 0x22;
          break;
        case 0x5c:
          decoded = 0x5c;
          break;
        case 0x2f:
          decoded = 0x2f;
          break;
        case 0x62:
          decoded = 0x08;
          break;
        case 0x66:
          decoded = 0x0c;
          break;
        case 0x6e:
          decoded = 0x0a;
          break;
        case 0x72:
          decoded = 0x0d;
          break;
        case 0x74:
          decoded = 0x09;
          break;
        case 0x75: {
          this.escape = 2;
          this.unit = 0;
          return true;
        }
        default:
          return this.fail(E_ESCAPE, this.offset);
      }
      if (this.highSurrogate != 0) return this.fail(E_SURROGATE, this.offset);
      this.escape = 0;
      return this.pushStringByte(decoded);
    }
    const digit = hexValue(c);
    if (digit < 0) return this.fail(E_ESCAPE, this.offset);
    this.unit = (this.unit << 4) | (<u32>digit);
    if (++this.escape < 6) return true;
    this.escape = 0;
    const unit = this.unit;
    if (this.highSurrogate != 0) {
      if (unit < 0xdc00 || unit > 0xdfff) return this.fail(E_SURROGATE, this.offset);
      const cp = 0x10000 + ((this.highSurrogate - 0xd800) << 10) + (unit - 0xdc00);
      this.highSurrogate = 0;
      return this.pushCodePoint(cp);
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
      this.highSurrogate = unit;
      return true;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return this.fail(E_SURROGATE, this.offset);
    return this.pushCodePoint(unit);
  }

  private pushCodePoint(cp: u32): bool {
    if (this.buffer.length + 4 > this.maxStringBytes) return this.fail(E_STRING_LENGTH, this.offset);
    this.buffer.pushCodePoint(cp);
    return true;
  }

  /** The string's decoded bytes (in the chunk, or in the buffer) are complete. */
  private endString(ptr: usize, length: i32): bool {
    this.token = T_NONE;
    const escaped = this.stringEscaped;
    if (this.stringIsKey) return this.endKey(ptr, length, escaped);
    if (!this.handler.onString(ptr, length, escaped)) return this.handlerFailed();
    this.valueDone();
    return true;
  }

  /** A key's decoded bytes are complete: recorded, checked for repeats, handed over. */
  private endKey(ptr: usize, length: i32, escaped: bool): bool {
    const top = this.depth - 1;
    const slot = top * FRAME_SLOTS;
    const count = unchecked(this.frames[slot + 1]) + 1;
    unchecked((this.frames[slot + 1] = count));
    // Every key of the open objects is kept, also when duplicates are allowed: a handler then
    // learns which keys repeat (keyRepeats), so counts of properties are counts of names.
    const keys = this.keys;
    const at = keys.length;
    keys.reserve(length + 4);
    const record = keys.start() + <usize>at;
    store<i32>(record, length);
    copyBytes(record + 4, ptr, length);
    keys.length = at + 4 + length;
    unchecked((this.frames[slot + 3] = at));
    this.state = S_COLON;
    if (this.maxKeys > 0 && count > this.maxKeys) return this.fail(E_KEYS, this.offset);
    const repeats = this.isDuplicateKey(top, at);
    if (repeats && this.rejectDuplicateKeys) return this.fail(E_DUPLICATE, this.offset);
    this.keyRepeats = repeats;
    const ok = this.handler.onKey(keys.start() + <usize>at + 4, length, escaped);
    this.keyRepeats = false;
    if (!ok) return this.handlerFailed();
    return true;
  }

  /** Whether the key recorded at `at` repeats one before it in frame `top` (and remembers it). */
  private isDuplicateKey(top: i32, at: i32): bool {
    const base = this.keys.start();
    const record = base + <usize>at;
    const length = load<i32>(record);
    const set = unchecked(this.frameKeySet[top]);
    if (set !== null) {
      const text = utf8Text(record + 4, length);
      if (set.has(text)) return true;
      set.add(text);
      return false;
    }
    const slot = top * FRAME_SLOTS;
    const print = keyPrint(record + 4, length);
    // The frame's filter: a bit per key, picked by its keyPrint. A key whose bit no earlier key
    // set is new without a look at them.
    const filterAt = changetype<usize>(this.frames) + ((<usize>(slot + 4)) << 2);
    const filter = load<u64>(filterAt);
    const bit = (<u64>1) << ((print * 0x9e3779b97f4a7c15) >> 58);
    store<u64>(filterAt, filter | bit);
    const first = unchecked(this.frames[slot + 2]);
    if ((filter & bit) != 0) {
      let other = first;
      while (other < at) {
        const otherRecord = base + <usize>other;
        const otherLength = load<i32>(otherRecord);
        if (otherLength == length && keyPrint(otherRecord + 4, length) == print) {
          if (length <= 8 || sameBytesAt(otherRecord + 4, record + 4, length)) return true;
        }
        other += 4 + otherLength;
      }
    }
    // Past DUPLICATE_SCAN_LIMIT keys before this one, the frame's keys go into a Set.
    if (unchecked(this.frames[slot + 1]) > DUPLICATE_SCAN_LIMIT) {
      const bigger = new Set<string>();
      let k = first;
      while (k <= at) {
        const kLength = load<i32>(base + <usize>k);
        bigger.add(utf8Text(base + <usize>k + 4, kLength));
        k += 4 + kLength;
      }
      unchecked((this.frameKeySet[top] = bigger));
    }
    return false;
  }

  /** Consumes `c` if it continues the number; false when it cannot (the number may end there). */
  private numberByte(c: u32): bool {
    const digit = isDigit(c);
    let next: i32 = -1;
    switch (this.numberState) {
      case N_MINUS:
        next = c == 0x30 ? N_ZERO : digit ? N_INT : -1;
        break;
      case N_ZERO:
        next = c == 0x2e ? N_DOT : c == 0x65 || c == 0x45 ? N_E : -1;
        break;
      case N_INT:
        next = digit ? N_INT : c == 0x2e ? N_DOT : c == 0x65 || c == 0x45 ? N_E : -1;
        break;
      case N_DOT:
        next = digit ? N_FRAC : -1;
        break;
      case N_FRAC:
        next = digit ? N_FRAC : c == 0x65 || c == 0x45 ? N_E : -1;
        break;
      case N_E:
        next = digit ? N_EXP : c == 0x2b || c == 0x2d ? N_ESIGN : -1;
        break;
      case N_ESIGN:
        next = digit ? N_EXP : -1;
        break;
      default:
        next = digit ? N_EXP : -1;
        break;
    }
    if (next < 0) return false;
    if (this.buffer.length >= this.maxNumberChars) {
      this.fail(E_NUMBER_LENGTH, this.offset);
      return true; // consumed; the failure stops the parse
    }
    this.numberState = next;
    this.buffer.push(<u8>c);
    return true;
  }

  private endNumber(): bool {
    if (this.state == S_FAILED) return false;
    this.token = T_NONE;
    const state = this.numberState;
    if (state != N_ZERO && state != N_INT && state != N_FRAC && state != N_EXP)
      return this.fail(E_NUMBER, this.offset);
    return this.numberToken(this.buffer.start(), this.buffer.length);
  }

  /** A complete number token (grammar already checked); this.offset is just past it. */
  private numberToken(ptr: usize, length: i32): bool {
    if (numberOverflows(ptr, length)) return this.fail(E_NUMBER_RANGE, this.offset);
    if (!this.handler.onNumber(ptr, length)) return this.handlerFailed();
    this.valueDone();
    return true;
  }

  private startLiteral(text: string): bool {
    this.token = T_LITERAL;
    this.literal = text;
    this.literalAt = 1;
    return true;
  }

  private literalByte(c: u32): bool {
    if (c != <u32>this.literal.charCodeAt(this.literalAt)) return this.fail(E_UNEXPECTED, this.offset);
    if (++this.literalAt < this.literal.length) return true;
    this.token = T_NONE;
    let ok = true;
    if (this.literal == "null") ok = this.handler.onNull();
    else ok = this.handler.onBool(this.literal == "true");
    if (!ok) return this.handlerFailed();
    this.valueDone();
    return true;
  }
}

// ---- The DOM, for configurations ----

export enum JsonKind {
  Null,
  Boolean,
  Number,
  String,
  Array,
  Object,
}

export class JsonValue {
  bool: bool = false;
  /** A string's text; a number's text as written (`1e3`, `0.50`): see number() and wholeNumber(). */
  str: string = "";
  items: JsonValue[] = [];
  /** Object members in document order. */
  keys: string[] = [];
  values: JsonValue[] = [];

  constructor(public kind: JsonKind) {}

  /** A number's value: the correctly rounded double of its text (finite: the parser refuses others). */
  number(): f64 {
    const text = String.UTF8.encode(this.str);
    return parseDecimal(changetype<usize>(text), text.byteLength);
  }

  /**
   * A number's value when it is a whole number (`12`, `1.2e1`, `1200e-2`) within ±10^18, read
   * exactly from its text (no double in between, so no decimal reader either); NOT_WHOLE otherwise.
   */
  wholeNumber(): i64 {
    return wholeNumberOf(this.str);
  }

  /** The member named `key`, or null. */
  get(key: string): JsonValue | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (unchecked(this.keys[i]) == key) return unchecked(this.values[i]);
    }
    return null;
  }
}

/** JsonValue.wholeNumber's answer for a number with a fraction, or beyond ±10^18. */
export const NOT_WHOLE: i64 = i64.MIN_VALUE;
const WHOLE_DIGITS = 18;

/** See JsonValue.wholeNumber: `text` follows the JSON number grammar. */
export function wholeNumberOf(text: string): i64 {
  // The significand ends at the exponent's 'e' or 'E', if any; the point, if any, is in it.
  const length = text.length;
  let end = 0;
  let point = -1;
  let first = -1; // the first and last nonzero digits
  let last = -1;
  for (; end < length; end++) {
    const c = text.charCodeAt(end);
    if ((c | 0x20) == 0x65) break;
    if (c == 0x2e) point = end;
    else if (c != 0x30 && c != 0x2d) {
      if (first < 0) first = end;
      last = end;
    }
  }
  if (first < 0) return 0;
  if (point < 0) point = end;
  let exponent: i64 = 0;
  if (end < length) {
    let k = end + 1;
    const sign = text.charCodeAt(k);
    if (sign == 0x2d || sign == 0x2b) k++;
    for (; k < length; k++) {
      if (exponent < EXPONENT_LIMIT) exponent = exponent * 10 + i64(text.charCodeAt(k) - 0x30);
    }
    if (sign == 0x2d) exponent = -exponent;
  }
  // The digits from the first to the last nonzero one, times 10^scale.
  let scale = exponent + i64(last < point ? point - last - 1 : point - last);
  const digits = last - first + 1 - (first < point && point < last ? 1 : 0);
  if (scale < 0 || i64(digits) + scale > WHOLE_DIGITS) return NOT_WHOLE;
  let value: i64 = 0;
  for (let k = first; k <= last; k++) {
    const c = text.charCodeAt(k);
    if (c != 0x2e) value = value * 10 + i64(c - 0x30);
  }
  for (; scale > 0; scale--) value *= 10;
  return text.charCodeAt(0) == 0x2d ? -value : value;
}

class DomBuilder extends JsonHandler {
  root: JsonValue | null = null;
  private stack: JsonValue[] = [];
  private pendingKey: string = "";

  private add(value: JsonValue): void {
    if (this.stack.length == 0) {
      this.root = value;
      return;
    }
    const parent = this.stack[this.stack.length - 1];
    if (parent.kind == JsonKind.Array) {
      parent.items.push(value);
    } else {
      parent.keys.push(this.pendingKey);
      parent.values.push(value);
    }
  }

  onStartObject(): bool {
    const value = new JsonValue(JsonKind.Object);
    this.add(value);
    this.stack.push(value);
    return true;
  }
  onStartArray(): bool {
    const value = new JsonValue(JsonKind.Array);
    this.add(value);
    this.stack.push(value);
    return true;
  }
  onEndObject(): bool {
    this.stack.pop();
    return true;
  }
  onEndArray(): bool {
    this.stack.pop();
    return true;
  }
  onKey(ptr: usize, length: i32, escaped: bool): bool {
    this.pendingKey = utf8Text(ptr, length);
    return true;
  }
  onString(ptr: usize, length: i32, escaped: bool): bool {
    const value = new JsonValue(JsonKind.String);
    value.str = utf8Text(ptr, length);
    this.add(value);
    return true;
  }
  onNumber(ptr: usize, length: i32): bool {
    const value = new JsonValue(JsonKind.Number);
    value.str = utf8Text(ptr, length);
    this.add(value);
    return true;
  }
  onBool(flag: bool): bool {
    const value = new JsonValue(JsonKind.Boolean);
    value.bool = flag;
    this.add(value);
    return true;
  }
  onNull(): bool {
    this.add(new JsonValue(JsonKind.Null));
    return true;
  }
}

export class JsonParseResult {
  constructor(
    public value: JsonValue | null,
    public error: JsonError | null,
  ) {}
  ok(): bool {
    return this.error === null;
  }
}

/** Parses a whole document into a JsonValue tree. */
export function parseJson(bytes: Uint8Array, limits: JsonLimits = new JsonLimits()): JsonParseResult {
  return parseJsonBytes(bytes.dataStart, bytes.length, limits);
}

/** Parses the document of `length` bytes at `ptr` into a JsonValue tree. */
export function parseJsonBytes(
  ptr: usize,
  length: i32,
  limits: JsonLimits = new JsonLimits(),
): JsonParseResult {
  const builder = new DomBuilder();
  const parser = new JsonStreamParser<DomBuilder>(builder, limits);
  if (!parser.feedBytes(ptr, length) || !parser.finish()) return new JsonParseResult(null, parser.error);
  return new JsonParseResult(builder.root, null);
}

export function parseJsonString(text: string, limits: JsonLimits = new JsonLimits()): JsonParseResult {
  return parseJson(Uint8Array.wrap(String.UTF8.encode(text)), limits);
}

/** The lowercase hexadecimal digit of `n` (0–15), as a character code. */
@inline function hexDigit(n: i32): i32 {
  return n < 10 ? 0x30 + n : 0x57 + n;
}

/** The body of a JSON string literal for `s`: quotes, backslashes and control characters escaped. */
export function jsonEscape(s: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out += s.substring(start, i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else out += "\\u00" + String.fromCharCode(0x30 + (c >> 4)) + String.fromCharCode(hexDigit(c & 15));
    start = i + 1;
  }
  return start == 0 ? s : out + s.substring(start);
}
