// Host calls, with one status policy: a call that can fail returns its outcome (false, null or
// the WasmResult) and never aborts, so the filter decides what a failure means for the request.
// proxy-runtime's own wrappers kill the VM on any non-OK status (CHECK_RESULT), and its header
// getter cannot tell a missing header from an empty one: filters use these instead.
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { WasmResultValues, HeaderMapTypeValues } from "@solo-io/proxy-runtime/assembly";

// A host-filled (pointer, size) pair. The host allocates through the module's malloc, which pins
// the buffer; take() hands it to the GC exactly once.
class HostBuffer {
  data: usize = 0;
  size: usize = 0;
  cas: u32 = 0;

  dataPtr(): usize {
    return changetype<usize>(this) + offsetof<HostBuffer>("data");
  }
  sizePtr(): usize {
    return changetype<usize>(this) + offsetof<HostBuffer>("size");
  }
  casPtr(): usize {
    return changetype<usize>(this) + offsetof<HostBuffer>("cas");
  }
  take(): ArrayBuffer {
    if (this.data == 0) return new ArrayBuffer(0);
    const buffer = changetype<ArrayBuffer>(this.data);
    __unpin(this.data);
    this.data = 0;
    this.size = 0;
    return buffer;
  }
}

const hostBuffer = new HostBuffer();

/**
 * The header's value as UTF-8 bytes, or null when absent (an empty value is an empty buffer); `name`
 * is the lowercase name in UTF-8. The byte forms are for hot paths: names encoded once at configure
 * time, values kept as the bytes Envoy gave (no UTF-16 round trip).
 */
export function getHeaderBytes(map: HeaderMapTypeValues, name: ArrayBuffer): ArrayBuffer | null {
  const result = imports.proxy_get_header_map_value(
    map,
    changetype<usize>(name),
    name.byteLength,
    hostBuffer.dataPtr(),
    hostBuffer.sizePtr(),
  );
  const value = hostBuffer.take();
  return result == WasmResultValues.Ok ? value : null;
}

/** The header's value, or null when the header is absent (an empty value is ""). */
export function getHeader(map: HeaderMapTypeValues, name: string): string | null {
  const value = getHeaderBytes(map, String.UTF8.encode(name));
  return value === null ? null : String.UTF8.decode(value);
}

/**
 * Every header of `map` in one host call, serialized as the ABI gives it: a u32 count, a
 * (u32 name length, u32 value length) pair per header, then each name and value with a NUL after
 * it. Null when the map is not available in this callback.
 */
export function getHeaderPairs(map: HeaderMapTypeValues): ArrayBuffer | null {
  const result = imports.proxy_get_header_map_pairs(map, hostBuffer.dataPtr(), hostBuffer.sizePtr());
  const pairs = hostBuffer.take();
  return result == WasmResultValues.Ok && pairs.byteLength >= 4 ? pairs : null;
}

export function setHeaderBytes(map: HeaderMapTypeValues, name: ArrayBuffer, value: ArrayBuffer): bool {
  return (
    imports.proxy_replace_header_map_value(
      map,
      changetype<usize>(name),
      name.byteLength,
      changetype<usize>(value),
      value.byteLength,
    ) == WasmResultValues.Ok
  );
}

export function appendHeaderBytes(map: HeaderMapTypeValues, name: ArrayBuffer, value: ArrayBuffer): bool {
  return (
    imports.proxy_add_header_map_value(
      map,
      changetype<usize>(name),
      name.byteLength,
      changetype<usize>(value),
      value.byteLength,
    ) == WasmResultValues.Ok
  );
}

export function removeHeaderBytes(map: HeaderMapTypeValues, name: ArrayBuffer): bool {
  return (
    imports.proxy_remove_header_map_value(map, changetype<usize>(name), name.byteLength) ==
    WasmResultValues.Ok
  );
}

export function setHeader(map: HeaderMapTypeValues, name: string, value: string): bool {
  return setHeaderBytes(map, String.UTF8.encode(name), String.UTF8.encode(value));
}

export function appendHeader(map: HeaderMapTypeValues, name: string, value: string): bool {
  return appendHeaderBytes(map, String.UTF8.encode(name), String.UTF8.encode(value));
}

export function removeHeader(map: HeaderMapTypeValues, name: string): bool {
  return removeHeaderBytes(map, String.UTF8.encode(name));
}

/** A property path as the ABI spells it (NUL-separated segments); encode once, read often. */
export function encodePropertyPath(path: string): ArrayBuffer {
  return String.UTF8.encode(path.split(".").join("\0"));
}

/** A property such as `request.path` or `source.address`, or null when the host has none. */
export function getProperty(path: string): ArrayBuffer | null {
  return getPropertyEncoded(encodePropertyPath(path));
}

/** getProperty with a path from encodePropertyPath (no per-call encoding on hot paths). */
export function getPropertyEncoded(path: ArrayBuffer): ArrayBuffer | null {
  const result = imports.proxy_get_property(
    changetype<usize>(path),
    path.byteLength,
    hostBuffer.dataPtr(),
    hostBuffer.sizePtr(),
  );
  const value = hostBuffer.take();
  return result == WasmResultValues.Ok ? value : null;
}

/** What a shared-data read returned; one instance, reused: copy what you keep. */
export class SharedDataRead {
  result: i32 = 0;
  value: ArrayBuffer = new ArrayBuffer(0);
  cas: u32 = 0;
}

const sharedDataRead = new SharedDataRead();

/**
 * Reads shared data (process-wide, seen by every worker's VM with the same vm_id). The key is
 * pre-encoded UTF-8, so hot paths encode it once.
 */
export function getSharedData(key: ArrayBuffer): SharedDataRead {
  hostBuffer.cas = 0;
  sharedDataRead.result = imports.proxy_get_shared_data(
    changetype<usize>(key),
    key.byteLength,
    hostBuffer.dataPtr(),
    hostBuffer.sizePtr(),
    hostBuffer.casPtr(),
  );
  sharedDataRead.value = hostBuffer.take();
  sharedDataRead.cas = hostBuffer.cas;
  return sharedDataRead;
}

/** Writes shared data; `cas` 0 writes unconditionally, otherwise CasMismatch (8) when another write came first. */
export function setSharedData(key: ArrayBuffer, value: ArrayBuffer, cas: u32): i32 {
  return imports.proxy_set_shared_data(
    changetype<usize>(key),
    key.byteLength,
    changetype<usize>(value),
    value.byteLength,
    cas,
  );
}

/** Bytes of a host buffer (body, configuration), or an empty buffer. */
export function getBufferBytes(buffer: i32, start: u32, length: u32): ArrayBuffer {
  if (length == 0) return new ArrayBuffer(0);
  const result = imports.proxy_get_buffer_bytes(
    buffer,
    start,
    length,
    hostBuffer.dataPtr(),
    hostBuffer.sizePtr(),
  );
  if (result != WasmResultValues.Ok) {
    hostBuffer.take();
    return new ArrayBuffer(0);
  }
  return hostBuffer.take();
}

/** The host's current log level for the `wasm` logger (0 trace … 5 critical). */
export function hostLogLevel(): i32 {
  const level = memory.data(4);
  if (imports.proxy_get_log_level(level) != WasmResultValues.Ok) return 0;
  return load<u32>(level);
}

/** Nanoseconds since the epoch, from the host clock. */
export function nowNanos(): u64 {
  const slot = memory.data(8);
  imports.proxy_get_current_time_nanoseconds(slot);
  return load<u64>(slot);
}

/** Asks for proxy_on_tick every `milliseconds` (0 stops it); false when the host refuses. */
export function setTickPeriod(milliseconds: u32): bool {
  return imports.proxy_set_tick_period_milliseconds(milliseconds) == WasmResultValues.Ok;
}
