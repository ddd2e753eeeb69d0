// The request as filters see it. Filter logic takes a RequestView, so it runs unchanged on Envoy's
// headers (EnvoyRequest) and on fakes in as-pect tests.
import { HeaderMapTypeValues } from "@solo-io/proxy-runtime/assembly";
import { getHeader, getHeaderBytes, getHeaderPairs, getPropertyEncoded } from "./host";

export abstract class RequestView {
  abstract method(): string;
  /** `:path` including any query string. */
  abstract path(): string;
  /** The first value of a header, or null when absent. Names are lowercase. */
  abstract header(name: string): string | null;
  /**
   * header() as UTF-8 bytes; `encoded` is the name in UTF-8 when the caller has it (hot paths
   * encode names once). Views on Envoy read the bytes Envoy gives without decoding them.
   */
  headerBytes(name: string, encoded: ArrayBuffer | null = null): ArrayBuffer | null {
    const value = this.header(name);
    return value === null ? null : String.UTF8.encode(value);
  }
  /** Every value of the header `name` (all headers' values when `name` is ""). */
  headerValues(name: string): string[] {
    const value = this.header(name);
    return value === null ? [] : [value];
  }
  /** Envoy's `source.address` (`ip:port`) as bytes, or null. */
  sourceAddressBytes(): ArrayBuffer | null {
    return null;
  }
}

// `source.address` as the ABI spells a property path (NUL-separated), written out: encodePropertyPath
// would pull String#split into every module that reads requests.
const SOURCE_ADDRESS = String.UTF8.encode("source\0address");

/**
 * The current request's headers in Envoy, read lazily and at most once per request: call reset()
 * when a request starts (onRequestHeaders), since one instance serves every stream of a worker.
 */
export class EnvoyRequest extends RequestView {
  private methodValue: string | null = null;
  private pathValue: string | null = null;
  private addressRead: bool = false;
  private addressValue: ArrayBuffer | null = null;
  private pairsRead: bool = false;
  private pairs: ArrayBuffer | null = null;

  reset(): void {
    this.methodValue = null;
    this.pathValue = null;
    this.addressRead = false;
    this.addressValue = null;
    this.pairsRead = false;
    this.pairs = null;
  }

  method(): string {
    if (this.methodValue === null) {
      const value = getHeader(HeaderMapTypeValues.RequestHeaders, ":method");
      this.methodValue = value === null ? "" : value;
    }
    return this.methodValue!;
  }

  path(): string {
    if (this.pathValue === null) {
      const value = getHeader(HeaderMapTypeValues.RequestHeaders, ":path");
      this.pathValue = value === null ? "" : value;
    }
    return this.pathValue!;
  }

  header(name: string): string | null {
    return getHeader(HeaderMapTypeValues.RequestHeaders, name);
  }

  headerBytes(name: string, encoded: ArrayBuffer | null = null): ArrayBuffer | null {
    return getHeaderBytes(
      HeaderMapTypeValues.RequestHeaders,
      encoded === null ? String.UTF8.encode(name) : encoded,
    );
  }

  // proxy_get_header_map_value returns only the first of repeated headers; this reads them all.
  headerValues(name: string): string[] {
    return this.fromAllHeaders(name, false);
  }

  sourceAddressBytes(): ArrayBuffer | null {
    if (!this.addressRead) {
      this.addressRead = true;
      this.addressValue = getPropertyEncoded(SOURCE_ADDRESS);
    }
    return this.addressValue;
  }

  /** Values of the headers called `name` (every header's when ""), from all headers read in one host call, once. */
  protected fromAllHeaders(name: string, firstOnly: bool): string[] {
    if (!this.pairsRead) {
      this.pairsRead = true;
      this.pairs = getHeaderPairs(HeaderMapTypeValues.RequestHeaders);
    }
    return headerPairValues(this.pairs, name, firstOnly);
  }
}

/**
 * The request headers as one snapshot, read in a single host call on first use and looked up in
 * Wasm memory after that: for filters that read several headers (each separate read is a host
 * call, and the host calls back into the module to allocate the value) and change none, since a
 * header changed after the snapshot is not seen. Call reset() when a request starts.
 */
export class RequestHeaderSnapshot extends EnvoyRequest {
  method(): string {
    const value = this.header(":method");
    return value === null ? "" : value;
  }

  path(): string {
    const value = this.header(":path");
    return value === null ? "" : value;
  }

  header(name: string): string | null {
    const values = this.fromAllHeaders(name, true);
    return values.length == 0 ? null : values[0];
  }

  headerBytes(name: string, encoded: ArrayBuffer | null = null): ArrayBuffer | null {
    const value = this.header(name);
    return value === null ? null : String.UTF8.encode(value);
  }
}

/**
 * `text` with ASCII letters in lowercase, everything else as it is: header names and media types
 * are ASCII tokens, and String#toLowerCase carries Unicode case tables (about 6 KiB of module).
 */
export function lowerAscii(text: string): string {
  let i = 0;
  const length = text.length;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
    i++;
  }
  if (i == length) return text;
  const out = changetype<string>(__new((<usize>length) << 1, idof<string>()));
  memory.copy(changetype<usize>(out), changetype<usize>(text), (<usize>length) << 1);
  for (; i < length; i++) {
    const c = load<u16>(changetype<usize>(out) + ((<usize>i) << 1));
    if (c >= 65 && c <= 90) store<u16>(changetype<usize>(out) + ((<usize>i) << 1), c + 32);
  }
  return out;
}

/**
 * Values of the headers called `name` (every header's when `name` is ""), in order, from a header
 * map serialized as getHeaderPairs() returns it; only the values asked for are decoded.
 */
function headerPairValues(pairs: ArrayBuffer | null, name: string, firstOnly: bool): string[] {
  const out: string[] = [];
  if (pairs === null) return out;
  const base = changetype<usize>(pairs);
  const end = base + <usize>pairs.byteLength;
  const count = load<u32>(base);
  if (<u64>count * 8 + 4 > <u64>pairs.byteLength) return out; // a malformed map: read nothing from it
  let text = base + 4 + <usize>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLength = load<u32>(base + 4 + <usize>i * 8);
    const valueLength = load<u32>(base + 8 + <usize>i * 8);
    const value = text + <usize>nameLength + 1;
    if (value + <usize>valueLength > end) break; // a malformed map: stop rather than read past it
    if (name.length == 0 || sameAscii(name, text, nameLength)) {
      out.push(String.UTF8.decodeUnsafe(value, <usize>valueLength));
      if (firstOnly) break;
    }
    text = value + <usize>valueLength + 1;
  }
  return out;
}

/** Whether the string `name` (ASCII) equals the `length` bytes at `ptr`. */
function sameAscii(name: string, ptr: usize, length: u32): bool {
  if (<u32>name.length != length) return false;
  for (let i = 0; i < name.length; i++) {
    if (<u32>name.charCodeAt(i) != <u32>load<u8>(ptr + <usize>i)) return false;
  }
  return true;
}
