// payload-validator's deny rules: case-insensitive substrings (`${jndi:`) refused in a header, the
// path, the query string or the body. Pure logic, tested by as-pect.
//
// - Case folding is ASCII-only (A-Z → a-z) and byte-wise, so it works on raw bodies of any encoding.
// - Path and query are matched raw and percent-decoded (up to three rounds, so %2524 is caught);
//   in the query, '+' also reads as a space once decoded.
// - Bodies are matched as they stream: each chunk is searched together with the last
//   (longest pattern - 1) bytes of the chunks before it, so a pattern split across chunks is found.

export const IN_HEADER: i32 = 0;
export const IN_PATH: i32 = 1;
export const IN_QUERY: i32 = 2;
export const IN_BODY: i32 = 3;

export const DENY_LOCATIONS: string[] = ["header", "path", "query", "body"];

export class DenyRule {
  /** The pattern as UTF-8 bytes, ASCII-lowercased. */
  bytes: Uint8Array;

  /** `name`: a lowercase header name, or "" for every header (only for IN_HEADER). */
  constructor(
    public where: i32,
    public name: string,
    public contains: string,
    public index: i32,
  ) {
    this.bytes = lowerBytes(Uint8Array.wrap(String.UTF8.encode(contains)));
  }

  describe(): string {
    let where = DENY_LOCATIONS[this.where];
    if (this.where == IN_HEADER && this.name.length > 0) where += " " + this.name;
    return where + " matches deny rule " + this.index.toString();
  }
}

@inline export function lowerByte(c: u8): u8 {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/** A copy of `bytes`, ASCII-lowercased. */
export function lowerBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) unchecked((out[i] = lowerByte(unchecked(bytes[i]))));
  return out;
}

/** True when `needle` (already lowercased) occurs in `length` bytes at `hay`, ignoring ASCII case. */
export function containsAt(hay: usize, length: i32, needle: Uint8Array): bool {
  const n = needle.length;
  if (n == 0) return true;
  const first = <u32>unchecked(needle[0]);
  // A letter matches either case: b | 0x20 folds exactly A-Z and a-z onto a-z. Other bytes must match as they are.
  const fold: u32 = first >= 0x61 && first <= 0x7a ? 0x20 : 0;
  const last = length - n;
  let i = 0;
  // Sixteen bytes at a time, the positions where the first byte matches; each is then compared.
  const wanted = i8x16.splat(<i8>first);
  const folds = i8x16.splat(<i8>fold);
  while (i + 16 <= length) {
    let candidates = i8x16.bitmask(i8x16.eq(v128.or(v128.load(hay + <usize>i), folds), wanted));
    while (candidates != 0) {
      const at = i + ctz(candidates);
      if (at > last) return false;
      if (restMatches(hay + <usize>at, needle)) return true;
      candidates &= candidates - 1;
    }
    i += 16;
  }
  for (; i <= last; i++) {
    if (((<u32>load<u8>(hay + <usize>i)) | fold) == first && restMatches(hay + <usize>i, needle)) return true;
  }
  return false;
}

/** Whether the bytes at `at` continue `needle` past its first byte, ignoring ASCII case. */
@inline function restMatches(at: usize, needle: Uint8Array): bool {
  const n = needle.length;
  let j = 1;
  while (j < n && lowerByte(load<u8>(at + <usize>j)) == unchecked(needle[j])) j++;
  return j == n;
}

export function containsBytes(hay: Uint8Array, needle: Uint8Array): bool {
  return containsAt(hay.dataStart, hay.length, needle);
}

function hexDigit(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>c - 0x30;
  if (c >= 0x61 && c <= 0x66) return <i32>c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return <i32>c - 0x41 + 10;
  return -1;
}

/** One round of percent-decoding ('+' → space when `plus`); null when nothing changed. */
export function percentDecode(bytes: Uint8Array, plus: bool): Uint8Array | null {
  let changed = false;
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = unchecked(bytes[i]);
    if (c == 0x25 && i + 2 < bytes.length) {
      const hi = hexDigit(unchecked(bytes[i + 1]));
      const lo = hexDigit(unchecked(bytes[i + 2]));
      if (hi >= 0 && lo >= 0) {
        unchecked((out[n++] = <u8>((hi << 4) | lo)));
        i += 2;
        changed = true;
        continue;
      }
    }
    if (c == 0x2b && plus) {
      unchecked((out[n++] = 0x20));
      changed = true;
      continue;
    }
    unchecked((out[n++] = c));
  }
  return changed ? out.subarray(0, n) : null;
}

/** Whether `text` (raw, then up to three rounds of percent-decoding) contains the rule's pattern. */
export function matchesDecoded(text: string, rule: DenyRule, plus: bool): bool {
  let bytes: Uint8Array | null = Uint8Array.wrap(String.UTF8.encode(text));
  for (let round = 0; round < 4 && bytes !== null; round++) {
    if (containsBytes(bytes, rule.bytes)) return true;
    bytes = percentDecode(bytes, plus);
  }
  return false;
}

/** Whether a plain value (a header) contains the rule's pattern, ignoring ASCII case. */
export function matchesPlain(value: string, rule: DenyRule): bool {
  return containsBytes(Uint8Array.wrap(String.UTF8.encode(value)), rule.bytes);
}

/** The path part of `:path` (before '?'). */
export function pathPart(path: string): string {
  const q = path.indexOf("?");
  return q < 0 ? path : path.substring(0, q);
}

/** The query part of `:path` (after '?'), or "". */
export function queryPart(path: string): string {
  const q = path.indexOf("?");
  return q < 0 ? "" : path.substring(q + 1);
}

/**
 * Finds body deny patterns in a stream of chunks, searching each chunk where it lies. Keeps the
 * last (longest pattern - 1) bytes seen: a match split across chunks is found in a small seam
 * window of those bytes and the start of the next chunk.
 */
export class StreamMatcher {
  private tailLength: i32 = 0;
  private keep: i32 = 0;
  /** The seam: up to `keep` bytes of the past, then up to `keep` of the new chunk. */
  private window: Uint8Array;

  constructor(public rules: DenyRule[]) {
    let longest = 0;
    for (let i = 0; i < rules.length; i++) longest = max(longest, rules[i].bytes.length);
    const keep = longest > 0 ? longest - 1 : 0;
    this.window = new Uint8Array(keep << 1);
    this.keep = keep;
  }

  /** Feeds `length` bytes at `ptr`; the first rule found, or null. */
  feed(ptr: usize, length: i32): DenyRule | null {
    if (this.rules.length == 0 || length <= 0) return null;
    const base = this.window.dataStart;
    const keep = this.keep;
    const head = min(keep, length);
    memory.copy(base + <usize>this.tailLength, ptr, <usize>head);
    const seam = this.tailLength + head;
    let found = this.search(base, seam);
    if (found === null) found = this.search(ptr, length);
    // The new tail: the last `keep` bytes of the past and this chunk.
    if (length >= keep) {
      memory.copy(base, ptr + <usize>(length - keep), <usize>keep);
      this.tailLength = keep;
    } else {
      const tail = min(keep, seam);
      memory.copy(base, base + <usize>(seam - tail), <usize>tail);
      this.tailLength = tail;
    }
    return found;
  }

  private search(ptr: usize, length: i32): DenyRule | null {
    const rules = this.rules;
    for (let r = 0; r < rules.length; r++) {
      const rule = unchecked(rules[r]);
      if (containsAt(ptr, length, rule.bytes)) return rule;
    }
    return null;
  }
}
