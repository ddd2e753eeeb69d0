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
// - Every byte is looked at once; tokens, escapes and UTF-8 sequences may be split across chunks.
// - Handlers get keys and strings as UTF-8 byte ranges, not strings: a request body is checked
//   without allocating per value. A token that lies whole in one chunk (the common case) is handed
//   over in place; one split across chunks, or holding escapes, is assembled in a buffer first.

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
 * Keys and strings arrive decoded, as `length` bytes of UTF-8 at `ptr`; numbers with their text as
 * written. The bytes are valid only during the call. `escaped`: the text held escapes, so its
 * decoded bytes differ from the raw input.
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
  onNumber(value: f64, ptr: usize, length: i32): bool {
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
const DUPLICATE_SCAN_LIMIT: i32 = 16;

// "true", "alse", "null" as little-endian u32 words, to match a literal in one load.
const WORD_TRUE: u32 = 0x65757274;
const WORD_ALSE: u32 = 0x65736c61;
const WORD_NULL: u32 = 0x6c6c756e;

// A growable byte buffer: the token being assembled, or the parser's keys.
class Bytes {
  data: Uint8Array = new Uint8Array(64);
  length: i32 = 0;

  @inline reserve(count: i32): void {
    if (this.length + count > this.data.length) this.grow(count);
  }

  private grow(count: i32): void {
    let capacity = this.data.length;
    while (this.length + count > capacity) capacity <<= 1;
    const bigger = new Uint8Array(capacity);
    memory.copy(bigger.dataStart, this.data.dataStart, this.length);
    this.data = bigger;
  }

  push(byte: u8): void {
    this.reserve(1);
    unchecked((this.data[this.length++] = byte));
  }

  append(ptr: usize, count: i32): void {
    this.reserve(count);
    copyBytes(this.data.dataStart + <usize>this.length, ptr, count);
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
    return this.data.dataStart;
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
    // Below 0x20 or at/above 0x80 (unsigned below 0x20 catches neither; signed negative is >= 0x80).
    const special = v128.or(
      v128.or(i8x16.lt_u(bytes, control), i8x16.lt_s(bytes, i8x16.splat(0))),
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
function numberValue(ptr: usize, length: i32): f64 {
  return parseDecimal(ptr, length);
}

/**
 * End (exclusive) of the number starting at `from`, when the whole token lies in the chunk and
 * follows the grammar; -1 otherwise (the byte-by-byte path then reads it, or reports the error).
 */
function numberEnd(ptr: usize, from: i32, length: i32): i32 {
  let j = from;
  if (load<u8>(ptr + <usize>j) == 0x2d) j++;
  if (j >= length) return -1;
  let c = <u32>load<u8>(ptr + <usize>j);
  if (c == 0x30) {
    j++;
  } else if (isDigit(c)) {
    j++;
    while (j < length && isDigit(<u32>load<u8>(ptr + <usize>j))) j++;
  } else {
    return -1;
  }
  if (j >= length) return -1;
  c = <u32>load<u8>(ptr + <usize>j);
  if (c == 0x2e) {
    j++;
    if (j >= length || !isDigit(<u32>load<u8>(ptr + <usize>j))) return -1;
    while (j < length && isDigit(<u32>load<u8>(ptr + <usize>j))) j++;
    if (j >= length) return -1;
    c = <u32>load<u8>(ptr + <usize>j);
  }
  if (c == 0x65 || c == 0x45) {
    j++;
    if (j < length) {
      const sign = <u32>load<u8>(ptr + <usize>j);
      if (sign == 0x2b || sign == 0x2d) j++;
    }
    if (j >= length || !isDigit(<u32>load<u8>(ptr + <usize>j))) return -1;
    while (j < length && isDigit(<u32>load<u8>(ptr + <usize>j))) j++;
    if (j >= length) return -1;
  }
  return j;
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

/** Escapes a JSON Pointer token (RFC 6901). */
export function pointerToken(key: string): string {
  if (key.indexOf("~") < 0 && key.indexOf("/") < 0) return key;
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * The parser, generic in its handler so that each event is a direct call the compiler can inline
 * (a handler subclass would otherwise be called through a virtual dispatch per event).
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

  // Container stack, [0, depth): kind, index of the current item (arrays), members or items so
  // far. Plain arrays grown in steps, so opening and closing a container only writes slots.
  private depth: i32 = 0;
  private frameKind: StaticArray<i32> = new StaticArray<i32>(0);
  private frameIndex: StaticArray<i32> = new StaticArray<i32>(0);
  private frameCounts: StaticArray<i32> = new StaticArray<i32>(0);
  // Keys of the open objects, innermost last, as records (i32 length, then the bytes) in one
  // buffer: a frame's records start at frameKeyStart, its current key's record is at frameKeyAt
  // (-1 before the first). With duplicate detection a frame keeps all its keys and scans them
  // while they are few, switching to a Set past DUPLICATE_SCAN_LIMIT; otherwise only the current.
  private keys: Bytes = new Bytes();
  private frameKeyStart: StaticArray<i32> = new StaticArray<i32>(0);
  private frameKeyAt: StaticArray<i32> = new StaticArray<i32>(0);
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
      // A string continued from an earlier chunk, or past an escape: copy plain ASCII runs in one go.
      if (token == T_STRING && this.escape == 0 && this.utf8Need == 0 && this.highSurrogate == 0) {
        const end = plainRunEnd(ptr, i, length);
        const run = end - i;
        if (run > 0) {
          if (this.buffer.length + run > this.limits.maxStringBytes) {
            return this.fail(E_STRING_LENGTH, this.offset + this.limits.maxStringBytes - this.buffer.length);
          }
          this.buffer.append(ptr + <usize>i, run);
          this.offset += run;
          i = end;
          if (i == length) break;
        }
      }
      let c = <u32>load<u8>(ptr + <usize>i);
      if (token == T_NONE) {
        if (isWhitespace(c)) {
          let end = i + 1;
          while (end < length && isWhitespace(<u32>load<u8>(ptr + <usize>end))) end++;
          this.offset += end - i;
          i = end;
          if (i == length) break;
          c = <u32>load<u8>(ptr + <usize>i);
        }
        const state = this.state;
        if (c == 0x3a && state == S_COLON) {
          this.state = S_VALUE;
          this.offset++;
          i++;
          continue;
        }
        if (c == 0x2c && state == S_AFTER_VALUE) {
          const top = this.depth - 1;
          if (unchecked(this.frameKind[top]) == FRAME_OBJECT) {
            this.state = S_KEY;
          } else {
            unchecked((this.frameIndex[top] = unchecked(this.frameIndex[top]) + 1));
            this.state = S_VALUE;
          }
          this.offset++;
          i++;
          continue;
        }
        if (c == 0x22) {
          // A key or a string value opens: set up the token here rather than through structural().
          if (state == S_KEY || state == S_OBJECT_FIRST) {
            this.startString(true);
          } else if (state == S_VALUE || state == S_ARRAY_FIRST) {
            if (!this.beginValue()) return false;
            this.startString(false);
          } else {
            return this.structural(c); // a quote where none may stand: the error
          }
          i = this.stringInChunk(ptr, i + 1, length);
          if (i < 0) return false;
          continue;
        }
        if (c == 0x7b || c == 0x5b) {
          if (state == S_VALUE || state == S_ARRAY_FIRST) {
            if (!this.beginValue() || !this.openContainer(c == 0x7b ? FRAME_OBJECT : FRAME_ARRAY))
              return false;
            this.offset++;
            i++;
            continue;
          }
        } else if (c == 0x7d || c == 0x5d) {
          const kind = c == 0x7d ? FRAME_OBJECT : FRAME_ARRAY;
          const closes =
            state == S_AFTER_VALUE ||
            (kind == FRAME_OBJECT ? state == S_OBJECT_FIRST : state == S_ARRAY_FIRST);
          if (closes && this.depth > 0 && unchecked(this.frameKind[this.depth - 1]) == kind) {
            if (!this.closeContainer(kind)) return false;
            this.offset++;
            i++;
            continue;
          }
        }
        if (state == S_VALUE || state == S_ARRAY_FIRST) {
          if (c == 0x2d || isDigit(c)) {
            const end = numberEnd(ptr, i, length);
            if (end > 0 && end - i <= this.limits.maxNumberChars) {
              if (!this.numberInChunk(ptr + <usize>i, end - i)) return false;
              i = end;
              continue;
            }
          } else if (i + 5 <= length && (c == 0x74 || c == 0x66 || c == 0x6e)) {
            const consumed = this.literalInChunk(ptr + <usize>i, c);
            if (consumed < 0) return false;
            if (consumed > 0) {
              i += consumed;
              continue;
            }
          }
        }
      } else if (token == T_NUMBER && isDigit(c)) {
        // A run of digits inside a number's integer, fraction or exponent part.
        const state = this.numberState;
        if (state == N_INT || state == N_FRAC || state == N_EXP) {
          let end = i + 1;
          while (end < length && isDigit(<u32>load<u8>(ptr + <usize>end))) end++;
          const run = end - i;
          if (this.buffer.length + run > this.limits.maxNumberChars) {
            return this.fail(E_NUMBER_LENGTH, this.offset + this.limits.maxNumberChars - this.buffer.length);
          }
          this.buffer.append(ptr + <usize>i, run);
          this.offset += run;
          i = end;
          continue;
        }
      }
      if (!this.step(c)) return false;
      this.offset++;
      i++;
    }
    return true;
  }

  /**
   * The string opened by the quote before `from`: when it ends in this chunk without escapes, it is
   * handed over in place. Otherwise what could be read is copied to the buffer and the
   * byte-by-byte path goes on from there. The next index, or -1 on failure.
   */
  private stringInChunk(ptr: usize, from: i32, length: i32): i32 {
    this.offset++; // the opening quote
    let j = plainRunEnd(ptr, from, length);
    // Past plain ASCII: complete, valid UTF-8 sequences continue the string.
    while (j < length && load<u8>(ptr + <usize>j) >= 0x80) {
      const sequence = utf8SequenceLength(ptr + <usize>j, length - j);
      if (sequence == 0) break;
      j = plainRunEnd(ptr, j + sequence, length);
    }
    const run = j - from;
    // Past the limit: the byte-by-byte path fails at the exact byte.
    if (run > this.limits.maxStringBytes) return from;
    if (j < length && load<u8>(ptr + <usize>j) == 0x22) {
      this.offset += run; // now at the closing quote, where a refusal points
      if (!this.endString(ptr + <usize>from, run)) return -1;
      this.offset++;
      return j + 1;
    }
    this.buffer.append(ptr + <usize>from, run);
    this.offset += run;
    return j;
  }

  /** A number token lying whole in the chunk. */
  private numberInChunk(ptr: usize, length: i32): bool {
    if (!this.beginValue()) return false;
    this.offset += length;
    return this.numberToken(ptr, length);
  }

  /** A literal whose bytes are in the chunk: its length, 0 if it is not a whole literal, -1 on failure. */
  private literalInChunk(ptr: usize, c: u32): i32 {
    let consumed = 0;
    if (c == 0x74) consumed = load<u32>(ptr) == WORD_TRUE ? 4 : 0;
    else if (c == 0x66) consumed = load<u32>(ptr, 1) == WORD_ALSE ? 5 : 0;
    else consumed = load<u32>(ptr) == WORD_NULL ? 4 : 0;
    if (consumed == 0) return 0;
    if (!this.beginValue()) return -1;
    this.offset += consumed - 1; // at the literal's last byte, where a refusal points
    const ok = c == 0x6e ? this.handler.onNull() : this.handler.onBool(c == 0x74);
    if (!ok) {
      this.handlerFailed();
      return -1;
    }
    this.offset++;
    this.valueDone();
    return consumed;
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

  /** The current key of the object frame `i`, or "" before its first. */
  private frameKey(i: i32): string {
    const at = unchecked(this.frameKeyAt[i]);
    if (at < 0) return "";
    const record = this.keys.start() + <usize>at;
    return utf8Text(record + 4, load<i32>(record));
  }

  /** JSON Pointer of the value being read. */
  path(): string {
    let path = "";
    for (let i = 0; i < this.depth; i++) {
      if (unchecked(this.frameKind[i]) == FRAME_OBJECT) {
        // The innermost object names its member once that member's key has been read.
        const readingKey = this.token == T_STRING && this.stringIsKey;
        const keyRead =
          this.state == S_COLON ||
          this.state == S_VALUE ||
          this.state == S_AFTER_VALUE ||
          (this.token != T_NONE && !readingKey);
        if (i < this.depth - 1 || keyRead) {
          path += "/" + pointerToken(this.frameKey(i));
        }
      } else {
        path += "/" + unchecked(this.frameIndex[i]).toString();
      }
    }
    return path;
  }

  pointer(depth: i32): string {
    let path = "";
    for (let i = 0; i < depth; i++) {
      if (unchecked(this.frameKind[i]) == FRAME_OBJECT) path += "/" + pointerToken(this.frameKey(i));
      else path += "/" + unchecked(this.frameIndex[i]).toString();
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

  /** A value starts (not a key): in an array it is one more item. */
  private beginValue(): bool {
    const state = this.state;
    const top = this.depth - 1;
    if (state == S_ARRAY_FIRST) {
      unchecked((this.frameCounts[top] = 1));
    } else if (top >= 0 && unchecked(this.frameKind[top]) == FRAME_ARRAY) {
      const count = unchecked(this.frameCounts[top]) + 1;
      if (this.limits.maxItems > 0 && count > this.limits.maxItems) return this.fail(E_ITEMS, this.offset);
      unchecked((this.frameCounts[top] = count));
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
      const kind = unchecked(this.frameKind[this.depth - 1]);
      if (c == 0x2c) {
        if (kind == FRAME_OBJECT) {
          this.state = S_KEY;
        } else {
          const top = this.depth - 1;
          unchecked((this.frameIndex[top] = this.frameIndex[top] + 1));
          this.state = S_VALUE;
        }
        return true;
      }
      if (c == 0x7d && kind == FRAME_OBJECT) return this.closeContainer(FRAME_OBJECT);
      if (c == 0x5d && kind == FRAME_ARRAY) return this.closeContainer(FRAME_ARRAY);
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
    if (top == this.frameKind.length) this.growFrames();
    unchecked((this.frameKind[top] = kind));
    unchecked((this.frameIndex[top] = 0));
    unchecked((this.frameCounts[top] = 0));
    unchecked((this.frameKeyStart[top] = this.keys.length));
    unchecked((this.frameKeyAt[top] = -1));
    unchecked((this.frameKeySet[top] = null));
    this.depth = top + 1;
    this.state = kind == FRAME_OBJECT ? S_OBJECT_FIRST : S_ARRAY_FIRST;
    return true;
  }

  private closeContainer(kind: i32): bool {
    const top = --this.depth;
    this.keys.length = unchecked(this.frameKeyStart[top]);
    unchecked((this.frameKeySet[top] = null));
    const ok = kind == FRAME_OBJECT ? this.handler.onEndObject() : this.handler.onEndArray();
    if (!ok) return this.handlerFailed();
    this.valueDone();
    return true;
  }

  private growFrames(): void {
    const capacity = max(8, this.frameKind.length << 1);
    this.frameKind = grownInts(this.frameKind, capacity);
    this.frameIndex = grownInts(this.frameIndex, capacity);
    this.frameCounts = grownInts(this.frameCounts, capacity);
    this.frameKeyStart = grownInts(this.frameKeyStart, capacity);
    this.frameKeyAt = grownInts(this.frameKeyAt, capacity);
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
    if (this.buffer.length >= this.limits.maxStringBytes) return this.fail(E_STRING_LENGTH, this.offset);
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
    if (this.buffer.length + 4 > this.limits.maxStringBytes) return this.fail(E_STRING_LENGTH, this.offset);
    this.buffer.pushCodePoint(cp);
    return true;
  }

  /** The string's decoded bytes (in the chunk, or in the buffer) are complete. */
  private endString(ptr: usize, length: i32): bool {
    this.token = T_NONE;
    const escaped = this.stringEscaped;
    if (!this.stringIsKey) {
      if (!this.handler.onString(ptr, length, escaped)) return this.handlerFailed();
      this.valueDone();
      return true;
    }
    const top = this.depth - 1;
    const count = unchecked(this.frameCounts[top]) + 1;
    unchecked((this.frameCounts[top] = count));
    // Every key of the open objects is kept, also when duplicates are allowed: a handler then
    // learns which keys repeat (keyRepeats), so counts of properties are counts of names.
    const keys = this.keys;
    const at = keys.length;
    keys.reserve(length + 4);
    const record = keys.start() + <usize>at;
    store<i32>(record, length);
    copyBytes(record + 4, ptr, length);
    keys.length = at + 4 + length;
    unchecked((this.frameKeyAt[top] = at));
    this.state = S_COLON;
    if (this.limits.maxKeys > 0 && count > this.limits.maxKeys) return this.fail(E_KEYS, this.offset);
    const repeats = this.isDuplicateKey(top, at);
    if (repeats && this.limits.rejectDuplicateKeys) return this.fail(E_DUPLICATE, this.offset);
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
    let scanned = 0;
    let other = unchecked(this.frameKeyStart[top]);
    while (other < at) {
      const otherRecord = base + <usize>other;
      const otherLength = load<i32>(otherRecord);
      if (otherLength == length && sameBytesAt(otherRecord + 4, record + 4, length)) return true;
      other += 4 + otherLength;
      scanned++;
    }
    if (scanned >= DUPLICATE_SCAN_LIMIT) {
      const bigger = new Set<string>();
      let k = unchecked(this.frameKeyStart[top]);
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
    if (this.buffer.length >= this.limits.maxNumberChars) {
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
    const value = numberValue(ptr, length);
    if (!isFinite(value)) return this.fail(E_NUMBER_RANGE, this.offset);
    if (!this.handler.onNumber(value, ptr, length)) return this.handlerFailed();
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
  num: f64 = 0;
  str: string = "";
  items: JsonValue[] = [];
  /** Object members in document order. */
  keys: string[] = [];
  values: JsonValue[] = [];

  constructor(public kind: JsonKind) {}

  /** The member named `key`, or null. */
  get(key: string): JsonValue | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (unchecked(this.keys[i]) == key) return unchecked(this.values[i]);
    }
    return null;
  }
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
  onNumber(number: f64, ptr: usize, length: i32): bool {
    const value = new JsonValue(JsonKind.Number);
    value.num = number;
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
  const builder = new DomBuilder();
  const parser = new JsonStreamParser<DomBuilder>(builder, limits);
  if (!parser.feed(bytes) || !parser.finish()) return new JsonParseResult(null, parser.error);
  return new JsonParseResult(builder.root, null);
}

export function parseJsonString(text: string, limits: JsonLimits = new JsonLimits()): JsonParseResult {
  return parseJson(Uint8Array.wrap(String.UTF8.encode(text)), limits);
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
    else out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
    start = i + 1;
  }
  return start == 0 ? s : out + s.substring(start);
}
