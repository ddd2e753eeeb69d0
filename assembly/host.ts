// Host calls the SDK needs beyond proxy-runtime's wrappers, with results instead of aborts:
// proxy-runtime's CHECK_RESULT kills the VM on any non-OK status, and its header getter cannot
// tell a missing header from an empty one.
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { WasmResultValues, HeaderMapTypeValues } from "@solo-io/proxy-runtime/assembly";

// A host-filled (pointer, size) pair. The host allocates through the module's malloc, which pins
// the buffer; take() hands it to the GC exactly once.
class HostBuffer {
  data: usize = 0;
  size: usize = 0;

  dataPtr(): usize {
    return changetype<usize>(this) + offsetof<HostBuffer>("data");
  }
  sizePtr(): usize {
    return changetype<usize>(this) + offsetof<HostBuffer>("size");
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

/** The header's value, or null when the header is absent (an empty value is ""). */
export function getHeader(map: HeaderMapTypeValues, name: string): string | null {
  const key = String.UTF8.encode(name);
  const result = imports.proxy_get_header_map_value(map, changetype<usize>(key), key.byteLength, hostBuffer.dataPtr(), hostBuffer.sizePtr());
  if (result != WasmResultValues.Ok) {
    hostBuffer.take();
    return null;
  }
  return String.UTF8.decode(hostBuffer.take());
}

export function setHeader(map: HeaderMapTypeValues, name: string, value: string): bool {
  const key = String.UTF8.encode(name);
  const val = String.UTF8.encode(value);
  return imports.proxy_replace_header_map_value(map, changetype<usize>(key), key.byteLength, changetype<usize>(val), val.byteLength) == WasmResultValues.Ok;
}

export function appendHeader(map: HeaderMapTypeValues, name: string, value: string): bool {
  const key = String.UTF8.encode(name);
  const val = String.UTF8.encode(value);
  return imports.proxy_add_header_map_value(map, changetype<usize>(key), key.byteLength, changetype<usize>(val), val.byteLength) == WasmResultValues.Ok;
}

export function removeHeader(map: HeaderMapTypeValues, name: string): bool {
  const key = String.UTF8.encode(name);
  return imports.proxy_remove_header_map_value(map, changetype<usize>(key), key.byteLength) == WasmResultValues.Ok;
}

/** A property such as `request.path` or `source.address`, or null when the host has none. */
export function getProperty(path: string): ArrayBuffer | null {
  // Property paths are NUL-separated segments in the ABI.
  const segments = path.split(".");
  const encoded = String.UTF8.encode(segments.join("\0"));
  const result = imports.proxy_get_property(changetype<usize>(encoded), encoded.byteLength, hostBuffer.dataPtr(), hostBuffer.sizePtr());
  if (result != WasmResultValues.Ok) {
    hostBuffer.take();
    return null;
  }
  return hostBuffer.take();
}

/** Bytes of a host buffer (body, configuration), or an empty buffer. */
export function getBufferBytes(buffer: i32, start: u32, length: u32): ArrayBuffer {
  if (length == 0) return new ArrayBuffer(0);
  const result = imports.proxy_get_buffer_bytes(buffer, start, length, hostBuffer.dataPtr(), hostBuffer.sizePtr());
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
