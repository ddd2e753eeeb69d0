// The AssemblyScript side of the fake proxy-wasm host (fake-host.js, linked by as-pect.config.js):
// what a spec uses to arrange the host before calling the SDK, and to see what the SDK did to it.

// @ts-ignore: decorator
@external("fake_host", "reset")
declare function host_reset(): void;
// @ts-ignore: decorator
@external("fake_host", "add_header")
declare function host_add_header(
  map: i32,
  name: usize,
  nameSize: usize,
  value: usize,
  valueSize: usize,
): void;
// @ts-ignore: decorator
@external("fake_host", "set_header")
declare function host_set_header(
  map: i32,
  name: usize,
  nameSize: usize,
  value: usize,
  valueSize: usize,
): void;
// @ts-ignore: decorator
@external("fake_host", "drop_map")
declare function host_drop_map(map: i32): void;
// @ts-ignore: decorator
@external("fake_host", "headers")
declare function host_headers(map: i32, ptr: usize, size: usize): void;
// @ts-ignore: decorator
@external("fake_host", "metric")
declare function host_metric(name: usize, nameSize: usize): i64;
// @ts-ignore: decorator
@external("fake_host", "metric_count")
declare function host_metric_count(): i32;
// @ts-ignore: decorator
@external("fake_host", "logs")
declare function host_logs(ptr: usize, size: usize): void;
// @ts-ignore: decorator
@external("fake_host", "set_log_level")
declare function host_set_log_level(level: i32): void;
// @ts-ignore: decorator
@external("fake_host", "set_property")
declare function host_set_property(path: usize, pathSize: usize, value: usize, valueSize: usize): void;
// @ts-ignore: decorator
@external("fake_host", "set_buffer")
declare function host_set_buffer(type: i32, ptr: usize, size: usize): void;
// @ts-ignore: decorator
@external("fake_host", "tick_period")
declare function host_tick_period(): i32;
// @ts-ignore: decorator
@external("fake_host", "set_time")
declare function host_set_time(nanos: u64): void;
// @ts-ignore: decorator
@external("fake_host", "fail")
declare function host_fail(name: usize, nameSize: usize, status: i32): void;
// @ts-ignore: decorator
@external("fake_host", "local_reply")
declare function host_local_reply(ptr: usize, size: usize): void;

const slot = memory.data(8);

/** A byte string the host allocated (pinned) and described at `slot`, as text; unpinned here. */
function taken(): string {
  const ptr = load<u32>(slot);
  const size = load<u32>(slot + 4);
  const text = String.UTF8.decodeUnsafe(<usize>ptr, <usize>size);
  __unpin(<usize>ptr);
  return text;
}

/** Empties the host: no headers (request and response maps exist), metrics, logs, properties, data. */
export function resetHost(): void {
  host_reset();
}

/** Adds a header to a map (creating the map when the host has none of that type). */
export function addHeader(map: i32, name: string, value: string): void {
  const n = String.UTF8.encode(name);
  const v = String.UTF8.encode(value);
  host_add_header(map, changetype<usize>(n), n.byteLength, changetype<usize>(v), v.byteLength);
}

/** Replaces every value of a header with one, as another filter (or Envoy) would. */
export function setHeaderForTest(map: i32, name: string, value: string): void {
  const n = String.UTF8.encode(name);
  const v = String.UTF8.encode(value);
  host_set_header(map, changetype<usize>(n), n.byteLength, changetype<usize>(v), v.byteLength);
}

/** Makes a map unavailable, as Envoy's response headers are while a request is read. */
export function dropMap(map: i32): void {
  host_drop_map(map);
}

/** The map as "name: value\n" lines, in order. */
export function headersOf(map: i32): string {
  host_headers(map, slot, slot + 4);
  return taken();
}

/** The value of the metric with this full name, or -1 when the module never defined it. */
export function metricValue(name: string): i64 {
  const n = String.UTF8.encode(name);
  return host_metric(changetype<usize>(n), n.byteLength);
}

export function metricCount(): i32 {
  return host_metric_count();
}

/** Every line logged, as "<level>: <message>\n". */
export function logged(): string {
  host_logs(slot, slot + 4);
  return taken();
}

export function setLogLevel(level: i32): void {
  host_set_log_level(level);
}

/** Sets a property; `path` as the SDK spells it (dots), stored as the ABI does (NUL-separated). */
export function setProperty(path: string, value: string): void {
  const p = String.UTF8.encode(path.split(".").join("\0"));
  const v = String.UTF8.encode(value);
  host_set_property(changetype<usize>(p), p.byteLength, changetype<usize>(v), v.byteLength);
}

export function setBuffer(type: i32, text: string): void {
  const bytes = String.UTF8.encode(text);
  host_set_buffer(type, changetype<usize>(bytes), bytes.byteLength);
}

/** The last tick period the module asked for, or -1. */
export function tickPeriod(): i32 {
  return host_tick_period();
}

export function setTime(nanos: u64): void {
  host_set_time(nanos);
}

/** From now on (until resetHost) the ABI call `name` answers `status` and does nothing. */
export function failCall(name: string, status: i32): void {
  const n = String.UTF8.encode(name);
  host_fail(changetype<usize>(n), n.byteLength, status);
}

/** The last local reply, as "<status> <details> <body>", or "". */
export function localReply(): string {
  host_local_reply(slot, slot + 4);
  return taken();
}
