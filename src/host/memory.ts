// Guest memory of one VM: views over the module's linear memory (re-made when it grows), reads and
// writes, handing bytes to the module through its malloc (Envoy's copyToPointerSize), and the
// ABI's serialized header pairs.
import { WasmResult } from "./abi.ts";
import { asciiLower, HeaderMap } from "./headers.ts";

export const EMPTY = new Uint8Array(0);
export const decoder = new TextDecoder("utf-8", { fatal: false });
export const encoder = new TextEncoder();

/** Strings the host writes into guest memory again and again (header names and values). */
const encodeCache = new Map<string, Uint8Array>();
export function encodeUtf8(text: string): Uint8Array {
  let bytes = encodeCache.get(text);
  if (bytes === undefined) {
    bytes = encoder.encode(text);
    if (encodeCache.size >= 4096) encodeCache.clear();
    if (text.length <= 256) encodeCache.set(text, bytes);
  }
  return bytes;
}

/** Header names and values go to the module byte for byte (they are byte strings, see headers.ts). */
const latin1Cache = new Map<string, Uint8Array>();
export function encodeLatin1(text: string): Uint8Array {
  let bytes = latin1Cache.get(text);
  if (bytes === undefined) {
    bytes = Buffer.from(text, "latin1");
    if (latin1Cache.size >= 4096) latin1Cache.clear();
    if (text.length <= 256) latin1Cache.set(text, bytes);
  }
  return bytes;
}

export function decodeBytes(bytes: Uint8Array): string {
  return bytes.length === 0 ? "" : decoder.decode(bytes);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 0) return EMPTY;
  if (parts.length === 1) return parts[0]!;
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export class GuestMemory {
  private u8 = new Uint8Array(0);
  private view = new DataView(new ArrayBuffer(0));

  constructor(
    readonly memory: WebAssembly.Memory,
    private readonly malloc: (size: number) => number,
  ) {
    this.refreshViews();
  }

  // Guest memory
  private refreshViews(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  /** The byte view, re-made when the memory has grown (growth detaches the old buffer). */
  bytes(): Uint8Array {
    if (this.u8.byteLength === 0 || this.u8.buffer !== this.memory.buffer) this.refreshViews();
    return this.u8;
  }

  dv(): DataView {
    if (this.view.byteLength === 0 || this.view.buffer !== this.memory.buffer) this.refreshViews();
    return this.view;
  }

  inBounds(ptr: number, size: number): boolean {
    return ptr >= 0 && size >= 0 && ptr + size <= this.bytes().length;
  }

  readString(ptr: number, size: number): string {
    const u8 = this.bytes();
    if (size <= 64) {
      let text = "";
      for (let i = 0; i < size; i++) {
        const c = u8[ptr + i]!;
        if (c >= 0x80) return decoder.decode(u8.subarray(ptr, ptr + size));
        text += String.fromCharCode(c);
      }
      return text;
    }
    return decoder.decode(u8.subarray(ptr, ptr + size));
  }

  /** Bytes as a byte string (one char per byte): header names and values. */
  readLatin1(ptr: number, size: number): string {
    const u8 = this.bytes();
    if (size <= 64) {
      let text = "";
      for (let i = 0; i < size; i++) text += String.fromCharCode(u8[ptr + i]!);
      return text;
    }
    return Buffer.from(u8.buffer, u8.byteOffset + ptr, size).toString("latin1");
  }

  readBytes(ptr: number, size: number): Uint8Array {
    return this.bytes().slice(ptr, ptr + size);
  }

  writeU32(ptr: number, value: number): void {
    this.dv().setUint32(ptr, value >>> 0, true);
  }

  writeU64(ptr: number, value: bigint): void {
    this.dv().setBigUint64(ptr, value, true);
  }

  /** Hands bytes to the module: allocated by its malloc, pointer and size written out (Envoy's copyToPointerSize). */
  copyOut(data: Uint8Array, ptrPtr: number, sizePtr: number): number {
    let pointer = 0;
    if (data.length > 0) {
      pointer = this.malloc(data.length) >>> 0;
      const u8 = this.bytes();
      if (pointer === 0 || pointer + data.length > u8.length) return WasmResult.InvalidMemoryAccess;
      u8.set(data, pointer);
    }
    if (!this.inBounds(ptrPtr, 4) || !this.inBounds(sizePtr, 4)) return WasmResult.InvalidMemoryAccess;
    this.writeU32(ptrPtr, pointer);
    this.writeU32(sizePtr, data.length);
    return WasmResult.Ok;
  }

  copyOutString(text: string, ptrPtr: number, sizePtr: number): number {
    return this.copyOut(encodeUtf8(text), ptrPtr, sizePtr);
  }

  /** Header names and values (byte strings) to the module, byte for byte. */
  copyOutLatin1(text: string, ptrPtr: number, sizePtr: number): number {
    return this.copyOut(encodeLatin1(text), ptrPtr, sizePtr);
  }

  serializePairs(map: HeaderMap): Uint8Array {
    const names = map.names.map(encodeLatin1);
    const values = map.values.map(encodeLatin1);
    let size = 4;
    for (let i = 0; i < names.length; i++) size += 8 + names[i]!.length + values[i]!.length + 2;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, names.length, true);
    let offset = 4;
    for (let i = 0; i < names.length; i++) {
      view.setUint32(offset, names[i]!.length, true);
      view.setUint32(offset + 4, values[i]!.length, true);
      offset += 8;
    }
    for (let i = 0; i < names.length; i++) {
      out.set(names[i]!, offset);
      offset += names[i]!.length + 1;
      out.set(values[i]!, offset);
      offset += values[i]!.length + 1;
    }
    return out;
  }

  /** Reads the ABI's serialized pairs; undefined when malformed. */
  deserializePairs(ptr: number, size: number): HeaderMap | undefined {
    const map = new HeaderMap();
    if (size === 0) return map;
    if (!this.inBounds(ptr, size) || size < 4) return undefined;
    const view = this.dv();
    const count = view.getUint32(ptr, true);
    let sizes = ptr + 4;
    let data = sizes + count * 8;
    if (data > ptr + size) return undefined;
    for (let i = 0; i < count; i++) {
      const nameSize = view.getUint32(sizes, true);
      const valueSize = view.getUint32(sizes + 4, true);
      sizes += 8;
      if (data + nameSize + valueSize + 2 > ptr + size) return undefined;
      const name = this.readLatin1(data, nameSize);
      data += nameSize + 1;
      const value = this.readLatin1(data, valueSize);
      data += valueSize + 1;
      map.add(asciiLower(name), value);
    }
    return map;
  }
}
