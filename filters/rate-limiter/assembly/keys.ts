// rate-limiter's key handling: what a request's key is, its fingerprint and home slot, and the
// shared-data key of a slot. Free of host calls so as-pect can test it.

// A key's fingerprint is FNV-1a (64 bits) over the UTF-16 code units of its text: "h:<header
// value>", "a:<address without port>", "p:<path or prefix>", or "-" for a request without the key.
// The functions below hash those texts straight from the request's bytes and strings, without
// building them; each equals fingerprint() of the text (as-pect checks it).
const FNV_OFFSET: u64 = 0xcbf29ce484222325;
const FNV_PRIME: u64 = 0x100000001b3;

/** Continues FNV-1a over text[start, end). */
export function fnvText(hash: u64, text: string, start: i32, end: i32): u64 {
  for (let i = start; i < end; i++) {
    hash ^= <u64>text.charCodeAt(i);
    hash *= FNV_PRIME;
  }
  return hash;
}

/** Never 0: 0 marks a free slot. */
@inline function nonZero(hash: u64): u64 {
  return hash == 0 ? 1 : hash;
}

/** FNV-1a, 64 bits, over the UTF-16 code units of `text`. Never 0. */
export function fingerprint(text: string): u64 {
  return nonZero(fnvText(FNV_OFFSET, text, 0, text.length));
}

const HEADER_SEED: u64 = fnvText(FNV_OFFSET, "h:", 0, 2);
const ADDRESS_SEED: u64 = fnvText(FNV_OFFSET, "a:", 0, 2);
const PATH_SEED: u64 = fnvText(FNV_OFFSET, "p:", 0, 2);
/** The fingerprint shared by requests that lack the key. */
export const MISSING_FINGERPRINT: u64 = fingerprint("-");

/** fingerprint("h:" + value). */
export function headerFingerprint(value: string): u64 {
  return nonZero(fnvText(HEADER_SEED, value, 0, value.length));
}

/** fingerprint("p:" + pathPrefix(path, segments)), or of the whole path without query when segments is 0. */
export function pathFingerprint(path: string, segments: i32): u64 {
  let end = path.indexOf("?");
  if (end < 0) end = path.length;
  if (segments > 0) {
    let at = 0;
    for (let i = 0; i < segments; i++) {
      const next = path.indexOf("/", at + 1);
      if (next < 0 || next >= end) {
        at = end;
        break;
      }
      at = next;
    }
    end = at;
  }
  return nonZero(fnvText(PATH_SEED, path, 0, end));
}

/** fingerprint("a:" + stripPort(address)) from the ASCII bytes of Envoy's `source.address`. */
export function addressFingerprint(bytes: ArrayBuffer): u64 {
  const base = changetype<usize>(bytes);
  const n = bytes.byteLength;
  let start = 0;
  let end = n;
  if (n > 0 && load<u8>(base) == 0x5b /* [ */) {
    for (let i = 1; i < n; i++) {
      if (load<u8>(base + i) == 0x5d /* ] */) {
        start = 1;
        end = i;
        break;
      }
    }
  } else {
    let colons = 0;
    let first = -1;
    for (let i = 0; i < n; i++) {
      if (load<u8>(base + i) == 0x3a /* : */) {
        if (colons++ == 0) first = i;
      }
    }
    if (colons == 1) end = first;
  }
  let hash = ADDRESS_SEED;
  for (let i = start; i < end; i++) {
    hash ^= <u64>load<u8>(base + i);
    hash *= FNV_PRIME;
  }
  return nonZero(hash);
}

/** The slot a fingerprint lives in first: splitmix64's finalizer spreads FNV's low bits. */
export function homeSlot(fp: u64, slots: i32): i32 {
  let z = fp;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  z = z ^ (z >> 31);
  return <i32>(z % <u64>slots);
}

/**
 * The shared-data key of one slot. The injection id and the rule name are in it, so two versions
 * of the filter (canary and baseline) or two rules never share a bucket, even in one VM.
 */
export function slotKeyPrefix(injection: string, rule: string): string {
  return "graft.rl/" + injection + "/" + rule + "/";
}

/** The address of Envoy's `source.address` (`ip:port`, `[v6]:port`) without its port. */
export function stripPort(address: string): string {
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    return close < 0 ? address : address.substring(1, close);
  }
  const colon = address.indexOf(":");
  if (colon < 0) return address;
  // More than one colon without brackets is a bare IPv6 address: no port to strip.
  if (address.indexOf(":", colon + 1) >= 0) return address;
  return address.substring(0, colon);
}

/** `:path` without its query string. */
export function pathWithoutQuery(path: string): string {
  const query = path.indexOf("?");
  return query < 0 ? path : path.substring(0, query);
}

/** The first `segments` segments of a path (query removed): `/api/users/7` with 2 → `/api/users`. */
export function pathPrefix(path: string, segments: i32): string {
  const bare = pathWithoutQuery(path);
  let at = 0;
  for (let i = 0; i < segments; i++) {
    const next = bare.indexOf("/", at + 1);
    if (next < 0) return bare;
    at = next;
  }
  return bare.substring(0, at);
}
