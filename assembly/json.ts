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
  constructor(public message: string, public offset: i32, public path: string) {}
  toString(): string {
    return (this.path.length > 0 ? this.path : "/") + ": " + this.message + " at byte " + this.offset.toString();
  }
}

/**
 * Receives the parse events. A callback that returns false stops the parser; it should set
 * `error` to say why (the parser reports it with the offset and path).
 */
export abstract class JsonHandler {
  error: string = "";
  /** False spares the parser building each number's text; onNumber then gets "". */
  wantsNumberText: bool = true;
  onStartObject(): bool { return true; }
  onEndObject(): bool { return true; }
  onStartArray(): bool { return true; }
  onEndArray(): bool { return true; }
  onKey(key: string): bool { return true; }
  onString(value: string): bool { return true; }
  onNumber(text: string, value: f64): bool { return true; }
  onBool(value: bool): bool { return true; }
  onNull(): bool { return true; }
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
const POWERS_OF_TEN: StaticArray<f64> = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16];
const DUPLICATE_SCAN_LIMIT: i32 = 16;
const FRAME_ARRAY: i32 = 2;

// A growable byte buffer for the token being read.
class Bytes {
  data: Uint8Array = new Uint8Array(64);
  length: i32 = 0;

  push(byte: u8): void {
    if (this.length == this.data.length) {
      const bigger = new Uint8Array(this.data.length << 1);
      memory.copy(bigger.dataStart, this.data.dataStart, this.length);
      this.data = bigger;
    }
    unchecked((this.data[this.length++] = byte));
  }

  append(ptr: usize, count: i32): void {
    let capacity = this.data.length;
    if (this.length + count > capacity) {
      while (this.length + count > capacity) capacity <<= 1;
      const bigger = new Uint8Array(capacity);
      memory.copy(bigger.dataStart, this.data.dataStart, this.length);
      this.data = bigger;
    }
    memory.copy(this.data.dataStart + <usize>this.length, ptr, count);
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

  text(): string {
    return String.UTF8.decodeUnsafe(this.data.dataStart, <usize>this.length);
  }
}

// Object keys repeat (every item of an array of objects has the same ones): short keys are
// decoded once and reused from a small table, indexed by a hash of their bytes.
const KEY_CACHE_SIZE: i32 = 128;
const KEY_CACHE_MAX_BYTES: i32 = 48;
const keyCacheText = new StaticArray<string>(KEY_CACHE_SIZE);
const keyCacheBytes = new StaticArray<ArrayBuffer>(KEY_CACHE_SIZE);

function keyText(bytes: Bytes): string {
  const length = bytes.length;
  if (length > KEY_CACHE_MAX_BYTES) return bytes.text();
  const data = bytes.data.dataStart;
  let hash: u32 = 2166136261;
  for (let k = 0; k < length; k++) hash = (hash ^ <u32>load<u8>(data + <usize>k)) * 16777619;
  const slot = <i32>(hash & <u32>(KEY_CACHE_SIZE - 1));
  const cached = unchecked(keyCacheBytes[slot]);
  if (changetype<usize>(cached) != 0 && cached.byteLength == length && memory.compare(changetype<usize>(cached), data, length) == 0) {
    return unchecked(keyCacheText[slot]);
  }
  const copy = new ArrayBuffer(length);
  memory.copy(changetype<usize>(copy), data, length);
  const text = bytes.text();
  unchecked((keyCacheBytes[slot] = copy));
  unchecked((keyCacheText[slot] = text));
  return text;
}

@inline function isWhitespace(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

@inline function hexValue(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x61 + 10);
  if (c >= 0x41 && c <= 0x46) return <i32>(c - 0x41 + 10);
  return -1;
}

/** Escapes a JSON Pointer token (RFC 6901). */
export function pointerToken(key: string): string {
  if (key.indexOf("~") < 0 && key.indexOf("/") < 0) return key;
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

export class JsonStreamParser {
  error: JsonError | null = null;
  /** Bytes consumed so far. */
  offset: i32 = 0;

  private state: i32 = S_VALUE;
  private token: i32 = T_NONE;
  private stringIsKey: bool = false;
  private buffer: Bytes = new Bytes();

  // Container stack: kind, and the key or index the current child sits at (for paths).
  private frames: i32[] = [];
  private frameKeys: string[] = [];
  private frameIndex: i32[] = [];
  private frameCounts: i32[] = [];
  // Duplicate-key detection: the keys of every open object, innermost last; a frame scans its
  // own keys while it has few, and switches to a Set past DUPLICATE_SCAN_LIMIT.
  private keyStack: string[] = [];
  private frameKeyStart: i32[] = [];
  private frameKeySet: Array<Set<string> | null> = [];

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

  constructor(private handler: JsonHandler, private limits: JsonLimits = new JsonLimits()) {}

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
      // Fast path: a run of plain ASCII inside a string is copied in one go.
      if (this.token == T_STRING && this.escape == 0 && this.utf8Need == 0 && this.highSurrogate == 0) {
        let end = i;
        while (end < length) {
          const b = <u32>load<u8>(ptr + <usize>end);
          if (b < 0x20 || b >= 0x80 || b == 0x22 || b == 0x5c) break;
          end++;
        }
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
      // Fast path: whitespace between tokens.
      if (this.token == T_NONE && isWhitespace(c) && this.state != S_FAILED) {
        let end = i + 1;
        while (end < length && isWhitespace(<u32>load<u8>(ptr + <usize>end))) end++;
        this.offset += end - i;
        i = end;
        if (i == length) break;
        c = <u32>load<u8>(ptr + <usize>i);
      }
      // Fast path: separators, the commonest structural bytes.
      if (this.token == T_NONE) {
        if (c == 0x3a && this.state == S_COLON) {
          this.state = S_VALUE;
          this.offset++;
          i++;
          continue;
        }
        if (c == 0x2c && this.state == S_AFTER_VALUE) {
          const top = this.frames.length - 1;
          if (unchecked(this.frames[top]) == FRAME_OBJECT) {
            this.state = S_KEY;
          } else {
            unchecked((this.frameIndex[top] = unchecked(this.frameIndex[top]) + 1));
            this.state = S_VALUE;
          }
          this.offset++;
          i++;
          continue;
        }
      }
      // Fast path: a run of digits inside a number's integer, fraction or exponent part.
      if (this.token == T_NUMBER && c >= 0x30 && c <= 0x39) {
        const state = this.numberState;
        if (state == N_INT || state == N_FRAC || state == N_EXP) {
          let end = i + 1;
          while (end < length) {
            const d = <u32>load<u8>(ptr + <usize>end);
            if (d < 0x30 || d > 0x39) break;
            end++;
          }
          const run = end - i;
          if (this.buffer.length + run > this.limits.maxNumberChars) return this.fail(E_NUMBER_LENGTH, this.offset);
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
    let path = "";
    for (let i = 0; i < this.frames.length; i++) {
      if (unchecked(this.frames[i]) == FRAME_OBJECT) {
        const key = unchecked(this.frameKeys[i]);
        // The innermost object names its member once that member's key has been read.
        const readingKey = this.token == T_STRING && this.stringIsKey;
        const keyRead = this.state == S_COLON || this.state == S_VALUE || this.state == S_AFTER_VALUE || (this.token != T_NONE && !readingKey);
        if (i < this.frames.length - 1 || keyRead) {
          path += "/" + pointerToken(key);
        }
      } else {
        path += "/" + unchecked(this.frameIndex[i]).toString();
      }
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
      case T_STRING: return this.stringByte(c);
      case T_NUMBER: {
        if (this.numberByte(c)) return true;
        // The byte ends the number; it belongs to the structure.
        if (!this.endNumber()) return false;
        return this.structural(c);
      }
      case T_LITERAL: return this.literalByte(c);
      default: return this.structural(c);
    }
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
      const kind = unchecked(this.frames[this.frames.length - 1]);
      if (c == 0x2c) {
        if (kind == FRAME_OBJECT) {
          this.state = S_KEY;
        } else {
          const top = this.frames.length - 1;
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
    if (state == S_ARRAY_FIRST) {
      unchecked((this.frameCounts[this.frames.length - 1] = 1));
    } else if (this.frames.length > 0 && unchecked(this.frames[this.frames.length - 1]) == FRAME_ARRAY) {
      const top = this.frames.length - 1;
      const count = unchecked(this.frameCounts[top]) + 1;
      if (this.limits.maxItems > 0 && count > this.limits.maxItems) return this.fail(E_ITEMS, this.offset);
      unchecked((this.frameCounts[top] = count));
    }
    switch (c) {
      case 0x7b: return this.openContainer(FRAME_OBJECT);
      case 0x5b: return this.openContainer(FRAME_ARRAY);
      case 0x22: return this.startString(false);
      case 0x74: return this.startLiteral("true");
      case 0x66: return this.startLiteral("false");
      case 0x6e: return this.startLiteral("null");
      default: {
        if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
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
    if (this.frames.length >= this.limits.maxDepth) return this.fail(E_DEPTH, this.offset);
    const ok = kind == FRAME_OBJECT ? this.handler.onStartObject() : this.handler.onStartArray();
    if (!ok) return this.handlerFailed();
    this.frames.push(kind);
    this.frameKeys.push("");
    this.frameIndex.push(0);
    this.frameCounts.push(0);
    this.frameKeyStart.push(this.keyStack.length);
    this.frameKeySet.push(null);
    this.state = kind == FRAME_OBJECT ? S_OBJECT_FIRST : S_ARRAY_FIRST;
    return true;
  }

  private closeContainer(kind: i32): bool {
    this.frames.pop();
    this.frameKeys.pop();
    this.frameIndex.pop();
    this.frameCounts.pop();
    this.keyStack.length = this.frameKeyStart.pop();
    this.frameKeySet.pop();
    const ok = kind == FRAME_OBJECT ? this.handler.onEndObject() : this.handler.onEndArray();
    if (!ok) return this.handlerFailed();
    this.valueDone();
    return true;
  }

  @inline private valueDone(): void {
    this.state = this.frames.length == 0 ? S_DONE : S_AFTER_VALUE;
  }

  private startString(isKey: bool): bool {
    this.token = T_STRING;
    this.stringIsKey = isKey;
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
      return true;
    }
    // A high surrogate escape must be followed at once by a low one.
    if (this.highSurrogate != 0) return this.fail(E_SURROGATE, this.offset);
    if (c == 0x22) return this.endString();
    if (c < 0x20) return this.fail(E_CONTROL, this.offset);
    if (c >= 0x80) {
      if (c >= 0xc2 && c <= 0xdf) {
        this.utf8Need = 1;
      } else if (c >= 0xe0 && c <= 0xef) {
        this.utf8Need = 2;
        if (c == 0xe0) this.utf8Lower = 0xa0; // overlong
        else if (c == 0xed) this.utf8Upper = 0x9f; // surrogates
      } else if (c >= 0xf0 && c <= 0xf4) {
        this.utf8Need = 3;
        if (c == 0xf0) this.utf8Lower = 0x90; // overlong
        else if (c == 0xf4) this.utf8Upper = 0x8f; // above U+10FFFF
      } else {
        return this.fail(E_UTF8, this.offset);
      }
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
        case 0x22: decoded = 0x22; break;
        case 0x5c: decoded = 0x5c; break;
        case 0x2f: decoded = 0x2f; break;
        case 0x62: decoded = 0x08; break;
        case 0x66: decoded = 0x0c; break;
        case 0x6e: decoded = 0x0a; break;
        case 0x72: decoded = 0x0d; break;
        case 0x74: decoded = 0x09; break;
        case 0x75: {
          this.escape = 2;
          this.unit = 0;
          return true;
        }
        default: return this.fail(E_ESCAPE, this.offset);
      }
      if (this.highSurrogate != 0) return this.fail(E_SURROGATE, this.offset);
      this.escape = 0;
      return this.pushStringByte(decoded);
    }
    const digit = hexValue(c);
    if (digit < 0) return this.fail(E_ESCAPE, this.offset);
    this.unit = (this.unit << 4) | <u32>digit;
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

  private endString(): bool {
    this.token = T_NONE;
    const text = this.stringIsKey ? keyText(this.buffer) : this.buffer.text();
    if (this.stringIsKey) {
      const top = this.frames.length - 1;
      const count = unchecked(this.frameCounts[top]) + 1;
      unchecked((this.frameCounts[top] = count));
      unchecked((this.frameKeys[top] = text));
      this.state = S_COLON;
      if (this.limits.maxKeys > 0 && count > this.limits.maxKeys) return this.fail(E_KEYS, this.offset);
      if (this.limits.rejectDuplicateKeys && this.isDuplicateKey(top, text)) return this.fail(E_DUPLICATE, this.offset);
      if (!this.handler.onKey(text)) return this.handlerFailed();
      return true;
    }
    if (!this.handler.onString(text)) return this.handlerFailed();
    this.valueDone();
    return true;
  }

  private isDuplicateKey(top: i32, key: string): bool {
    const set = unchecked(this.frameKeySet[top]);
    if (set !== null) {
      if (set.has(key)) return true;
      set.add(key);
      return false;
    }
    const start = unchecked(this.frameKeyStart[top]);
    const keys = this.keyStack;
    for (let k = start; k < keys.length; k++) {
      if (unchecked(keys[k]) == key) return true;
    }
    keys.push(key);
    if (keys.length - start > DUPLICATE_SCAN_LIMIT) {
      const bigger = new Set<string>();
      for (let k = start; k < keys.length; k++) bigger.add(unchecked(keys[k]));
      unchecked((this.frameKeySet[top] = bigger));
    }
    return false;
  }

  /** Consumes `c` if it continues the number; false when it cannot (the number may end there). */
  private numberByte(c: u32): bool {
    const digit = c >= 0x30 && c <= 0x39;
    let next: i32 = -1;
    switch (this.numberState) {
      case N_MINUS: next = c == 0x30 ? N_ZERO : digit ? N_INT : -1; break;
      case N_ZERO: next = c == 0x2e ? N_DOT : c == 0x65 || c == 0x45 ? N_E : -1; break;
      case N_INT: next = digit ? N_INT : c == 0x2e ? N_DOT : c == 0x65 || c == 0x45 ? N_E : -1; break;
      case N_DOT: next = digit ? N_FRAC : -1; break;
      case N_FRAC: next = digit ? N_FRAC : c == 0x65 || c == 0x45 ? N_E : -1; break;
      case N_E: next = digit ? N_EXP : c == 0x2b || c == 0x2d ? N_ESIGN : -1; break;
      case N_ESIGN: next = digit ? N_EXP : -1; break;
      default: next = digit ? N_EXP : -1; break;
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
    if (state != N_ZERO && state != N_INT && state != N_FRAC && state != N_EXP) return this.fail(E_NUMBER, this.offset);
    let value: f64;
    let text = "";
    if ((state == N_INT || state == N_ZERO || state == N_FRAC) && this.buffer.length <= 16) {
      // At most 15 digits, no exponent: the digits form an exact double n, and n / 10^k for
      // k <= 22 is correctly rounded (one IEEE division of exact operands), so no parseFloat.
      const data = this.buffer.data;
      const negative = unchecked(data[0]) == 0x2d;
      let n: i64 = 0;
      let fraction = -1;
      for (let k = negative ? 1 : 0; k < this.buffer.length; k++) {
        const c = unchecked(data[k]);
        if (c == 0x2e) fraction = 0;
        else {
          n = n * 10 + <i64>(c - 0x30);
          if (fraction >= 0) fraction++;
        }
      }
      value = fraction > 0 ? <f64>n / unchecked(POWERS_OF_TEN[fraction]) : <f64>n;
      if (negative) value = -value;
      if (this.handler.wantsNumberText) text = this.buffer.text();
    } else {
      text = this.buffer.text();
      value = parseFloat(text);
      if (!isFinite(value)) return this.fail(E_NUMBER_RANGE, this.offset);
      if (!this.handler.wantsNumberText) text = "";
    }
    if (!this.handler.onNumber(text, value)) return this.handlerFailed();
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

export enum JsonKind { Null, Boolean, Number, String, Array, Object }

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
  wantsNumberText: bool = false;
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
  onKey(key: string): bool {
    this.pendingKey = key;
    return true;
  }
  onString(text: string): bool {
    const value = new JsonValue(JsonKind.String);
    value.str = text;
    this.add(value);
    return true;
  }
  onNumber(text: string, number: f64): bool {
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
  constructor(public value: JsonValue | null, public error: JsonError | null) {}
  ok(): bool {
    return this.error === null;
  }
}

/** Parses a whole document into a JsonValue tree. */
export function parseJson(bytes: Uint8Array, limits: JsonLimits = new JsonLimits()): JsonParseResult {
  const builder = new DomBuilder();
  const parser = new JsonStreamParser(builder, limits);
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
    if (c == 0x22) out += "\\\"";
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
    start = i + 1;
  }
  return start == 0 ? s : out + s.substring(start);
}
