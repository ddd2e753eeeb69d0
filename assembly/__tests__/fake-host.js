// A small in-memory proxy-wasm host for the SDK's as-pect specs: header maps, metrics, logs,
// properties, shared data, buffers, the tick period and the clock. as-pect.config.js links one per
// spec file: its `env` functions are the ABI calls the SDK makes (signatures as in
// src/host/host-calls.ts, behaviour far simpler: this is a test double, not the emulator), and its
// `fake_host` functions let a spec arrange and inspect the host (see fake-host.ts, their
// AssemblyScript side). Every ABI call a spec makes no use of answers Unimplemented.
//
// Values cross the boundary as bytes and are kept as byte strings (one char per byte), so what a
// module wrote is what it reads back. The host allocates what it returns through the module's
// runtime (`__new` + `__pin`, exported because as-pect.asconfig.json sets exportRuntime), as Envoy
// does through `malloc`: the module owns, and unpins, what it is given.

export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  Empty: 7,
  CasMismatch: 8,
  Unimplemented: 12,
};

const ARRAY_BUFFER_ID = 1; // AssemblyScript's class id of ArrayBuffer

/** Every proxy-wasm 0.2.1 call proxy-runtime declares in the `env` module. */
const ABI_CALLS = [
  "proxy_log",
  "proxy_get_log_level",
  "proxy_get_status",
  "proxy_set_tick_period_milliseconds",
  "proxy_get_current_time_nanoseconds",
  "proxy_get_property",
  "proxy_set_property",
  "proxy_continue_stream",
  "proxy_close_stream",
  "proxy_send_local_response",
  "proxy_get_shared_data",
  "proxy_set_shared_data",
  "proxy_register_shared_queue",
  "proxy_resolve_shared_queue",
  "proxy_dequeue_shared_queue",
  "proxy_enqueue_shared_queue",
  "proxy_add_header_map_value",
  "proxy_get_header_map_value",
  "proxy_get_header_map_pairs",
  "proxy_set_header_map_pairs",
  "proxy_replace_header_map_value",
  "proxy_remove_header_map_value",
  "proxy_get_header_map_size",
  "proxy_get_buffer_bytes",
  "proxy_get_buffer_status",
  "proxy_set_buffer_bytes",
  "proxy_http_call",
  "proxy_grpc_call",
  "proxy_grpc_stream",
  "proxy_grpc_cancel",
  "proxy_grpc_close",
  "proxy_grpc_send",
  "proxy_define_metric",
  "proxy_increment_metric",
  "proxy_record_metric",
  "proxy_get_metric",
  "proxy_set_effective_context",
  "proxy_done",
  "proxy_call_foreign_function",
];

export class FakeHost {
  constructor() {
    this.exports = undefined;
    this.reset();
  }

  /** The instantiated module's exports (memory and runtime), once as-pect has instantiated it. */
  bind(exports) {
    this.exports = exports;
  }

  reset() {
    /** Header maps by HeaderMapType: [name, value] pairs in order. Request and response headers exist. */
    this.maps = new Map([
      [0, []],
      [2, []],
    ]);
    /** Metrics by id (from 1): { type, name, value }. */
    this.metrics = [];
    /** Log lines as "<level>: <message>". */
    this.logs = [];
    this.logLevel = 2; // info
    /** Properties by path (segments joined with NUL). */
    this.properties = new Map();
    /** Shared data by key: { value, cas }. */
    this.shared = new Map();
    this.nextCas = 1;
    /** Buffers by BufferType (7 is the plugin configuration). */
    this.buffers = new Map();
    this.tickPeriod = -1;
    this.timeNanos = 0n;
    /** ABI calls made to fail with a status, by name. */
    this.failures = new Map();
    this.localReply = "";
  }

  // Memory helpers. The memory can grow, so every access takes a fresh view.
  bytes() {
    return new Uint8Array(this.exports.memory.buffer);
  }
  view() {
    return new DataView(this.exports.memory.buffer);
  }
  read(ptr, size) {
    let text = "";
    const bytes = this.bytes();
    for (let i = 0; i < size; i++) text += String.fromCharCode(bytes[ptr + i]);
    return text;
  }
  /** Copies `text` (a byte string) into a new pinned ArrayBuffer and writes its pointer and size. */
  give(text, ptrPtr, sizePtr) {
    const ptr = this.exports.__pin(this.exports.__new(text.length, ARRAY_BUFFER_ID));
    const bytes = this.bytes();
    for (let i = 0; i < text.length; i++) bytes[ptr + i] = text.charCodeAt(i);
    this.view().setUint32(ptrPtr, ptr, true);
    this.view().setUint32(sizePtr, text.length, true);
    return WasmResult.Ok;
  }

  map(type) {
    return this.maps.get(type);
  }

  /** The ABI calls, for the `env` import module. */
  env() {
    return abiCalls(this);
  }

  /** What a spec arranges and inspects, for the `fake_host` import module (see fake-host.ts). */
  control() {
    return controls(this);
  }
}

function abiCalls(host) {
  const calls = {
    proxy_log(level, ptr, size) {
      host.logs.push(`${level}: ${decodeUtf8(host.read(ptr, size))}`);
      return WasmResult.Ok;
    },
    proxy_get_log_level(ptr) {
      host.view().setUint32(ptr, host.logLevel, true);
      return WasmResult.Ok;
    },
    proxy_set_tick_period_milliseconds(period) {
      host.tickPeriod = period;
      return WasmResult.Ok;
    },
    proxy_get_current_time_nanoseconds(ptr) {
      host.view().setBigUint64(ptr, host.timeNanos, true);
      return WasmResult.Ok;
    },
    proxy_get_property(pathPtr, pathSize, valuePtr, valueSize) {
      const value = host.properties.get(host.read(pathPtr, pathSize));
      return value === undefined ? WasmResult.NotFound : host.give(value, valuePtr, valueSize);
    },
    proxy_set_property(pathPtr, pathSize, valuePtr, valueSize) {
      host.properties.set(host.read(pathPtr, pathSize), host.read(valuePtr, valueSize));
      return WasmResult.Ok;
    },
    proxy_send_local_response(status, detailsPtr, detailsSize, bodyPtr, bodySize) {
      host.localReply = `${status} ${host.read(detailsPtr, detailsSize)} ${host.read(bodyPtr, bodySize)}`;
      return WasmResult.Ok;
    },
    proxy_get_shared_data(keyPtr, keySize, valuePtr, valueSize, casPtr) {
      const entry = host.shared.get(host.read(keyPtr, keySize));
      if (entry === undefined) return WasmResult.NotFound;
      host.view().setUint32(casPtr, entry.cas, true);
      return host.give(entry.value, valuePtr, valueSize);
    },
    proxy_set_shared_data(keyPtr, keySize, valuePtr, valueSize, cas) {
      const key = host.read(keyPtr, keySize);
      const entry = host.shared.get(key);
      if (cas !== 0 && entry !== undefined && entry.cas !== cas) return WasmResult.CasMismatch;
      host.shared.set(key, { value: host.read(valuePtr, valueSize), cas: host.nextCas++ });
      return WasmResult.Ok;
    },
    proxy_get_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      const map = host.map(type);
      if (!map) return WasmResult.BadArgument;
      const name = host.read(keyPtr, keySize);
      const pair = map.find(([n]) => n === name);
      return pair === undefined ? WasmResult.NotFound : host.give(pair[1], valuePtr, valueSize);
    },
    proxy_add_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      const map = host.map(type);
      if (!map) return WasmResult.BadArgument;
      map.push([host.read(keyPtr, keySize), host.read(valuePtr, valueSize)]);
      return WasmResult.Ok;
    },
    proxy_replace_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      const map = host.map(type);
      if (!map) return WasmResult.BadArgument;
      const name = host.read(keyPtr, keySize);
      const value = host.read(valuePtr, valueSize);
      const at = map.findIndex(([n]) => n === name);
      const rest = map.filter(([n]) => n !== name);
      rest.splice(at < 0 ? rest.length : at, 0, [name, value]);
      host.maps.set(type, rest);
      return WasmResult.Ok;
    },
    proxy_remove_header_map_value(type, keyPtr, keySize) {
      const map = host.map(type);
      if (!map) return WasmResult.BadArgument;
      const name = host.read(keyPtr, keySize);
      host.maps.set(
        type,
        map.filter(([n]) => n !== name),
      );
      return WasmResult.Ok;
    },
    proxy_get_header_map_pairs(type, ptrPtr, sizePtr) {
      const map = host.map(type);
      if (!map) return WasmResult.BadArgument;
      return host.give(serializePairs(map), ptrPtr, sizePtr);
    },
    proxy_get_buffer_bytes(type, start, length, ptrPtr, sizePtr) {
      const buffer = host.buffers.get(type);
      if (buffer === undefined) return WasmResult.NotFound;
      return host.give(buffer.slice(start, start + length), ptrPtr, sizePtr);
    },
    proxy_get_buffer_status(type, lengthPtr, flagsPtr) {
      const buffer = host.buffers.get(type);
      if (buffer === undefined) return WasmResult.NotFound;
      host.view().setUint32(lengthPtr, buffer.length, true);
      host.view().setUint32(flagsPtr, 0, true);
      return WasmResult.Ok;
    },
    proxy_define_metric(type, namePtr, nameSize, idPtr) {
      const name = decodeUtf8(host.read(namePtr, nameSize));
      let at = host.metrics.findIndex((m) => m.name === name);
      if (at < 0) at = host.metrics.push({ type, name, value: 0n }) - 1;
      host.view().setUint32(idPtr, at + 1, true);
      return WasmResult.Ok;
    },
    proxy_increment_metric(id, offset) {
      const metric = host.metrics[id - 1];
      if (metric === undefined) return WasmResult.NotFound;
      metric.value += offset;
      return WasmResult.Ok;
    },
    proxy_record_metric(id, value) {
      const metric = host.metrics[id - 1];
      if (metric === undefined) return WasmResult.NotFound;
      metric.value = value;
      return WasmResult.Ok;
    },
    proxy_get_metric(id, resultPtr) {
      const metric = host.metrics[id - 1];
      if (metric === undefined) return WasmResult.NotFound;
      host.view().setBigUint64(resultPtr, BigInt.asUintN(64, metric.value), true);
      return WasmResult.Ok;
    },
    proxy_set_effective_context() {
      return WasmResult.Ok;
    },
    proxy_done() {
      return WasmResult.Ok;
    },
  };
  const env = {};
  for (const name of ABI_CALLS) {
    const call = calls[name] ?? (() => WasmResult.Unimplemented);
    env[name] = (...args) => {
      const failure = host.failures.get(name);
      return failure === undefined ? call(...args) : failure;
    };
  }
  return env;
}

function controls(host) {
  return {
    reset: () => host.reset(),
    add_header(type, namePtr, nameSize, valuePtr, valueSize) {
      if (!host.maps.has(type)) host.maps.set(type, []);
      host.map(type).push([host.read(namePtr, nameSize), host.read(valuePtr, valueSize)]);
    },
    set_header(type, namePtr, nameSize, valuePtr, valueSize) {
      const name = host.read(namePtr, nameSize);
      const map = (host.map(type) ?? []).filter(([n]) => n !== name);
      map.push([name, host.read(valuePtr, valueSize)]);
      host.maps.set(type, map);
    },
    drop_map: (type) => void host.maps.delete(type),
    headers(type, ptrPtr, sizePtr) {
      const map = host.map(type) ?? [];
      host.give(map.map(([n, v]) => `${n}: ${v}\n`).join(""), ptrPtr, sizePtr);
    },
    metric(namePtr, nameSize) {
      const name = decodeUtf8(host.read(namePtr, nameSize));
      const metric = host.metrics.find((m) => m.name === name);
      return metric === undefined ? -1n : metric.value;
    },
    metric_count: () => host.metrics.length,
    logs(ptrPtr, sizePtr) {
      host.give(encodeUtf8(host.logs.map((line) => `${line}\n`).join("")), ptrPtr, sizePtr);
    },
    set_log_level: (level) => void (host.logLevel = level),
    set_property(pathPtr, pathSize, valuePtr, valueSize) {
      host.properties.set(host.read(pathPtr, pathSize), host.read(valuePtr, valueSize));
    },
    set_buffer(type, ptr, size) {
      host.buffers.set(type, host.read(ptr, size));
    },
    tick_period: () => host.tickPeriod,
    set_time: (nanos) => void (host.timeNanos = BigInt.asUintN(64, nanos)),
    fail(namePtr, nameSize, status) {
      host.failures.set(host.read(namePtr, nameSize), status);
    },
    local_reply(ptrPtr, sizePtr) {
      host.give(host.localReply, ptrPtr, sizePtr);
    },
  };
}

/** A header map as proxy_get_header_map_pairs gives it. */
function serializePairs(pairs) {
  const u32 = (n) => String.fromCharCode(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
  let out = u32(pairs.length);
  for (const [name, value] of pairs) out += u32(name.length) + u32(value.length);
  for (const [name, value] of pairs) out += `${name}\0${value}\0`;
  return out;
}

function decodeUtf8(bytes) {
  return Buffer.from(bytes, "latin1").toString("utf8");
}

function encodeUtf8(text) {
  return Buffer.from(text, "utf8").toString("latin1");
}
