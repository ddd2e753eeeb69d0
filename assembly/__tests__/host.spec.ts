// The SDK's host wrappers (../host) against the fake host: what each call does to the host, and
// the status policy (a call that fails returns its outcome and never aborts the VM).
import { HeaderMapTypeValues, BufferTypeValues } from "@solo-io/proxy-runtime/assembly";
import {
  appendHeader,
  encodePropertyPath,
  getBufferBytes,
  getHeader,
  getHeaderPairs,
  getProperty,
  getSharedData,
  hostLogLevel,
  nowNanos,
  removeHeader,
  setHeader,
  setSharedData,
  setTickPeriod,
} from "../host";
import {
  addHeader,
  dropMap,
  failCall,
  headersOf,
  resetHost,
  setBuffer,
  setLogLevel,
  setProperty,
  setTime,
  tickPeriod,
} from "./fake-host";

const REQUEST = HeaderMapTypeValues.RequestHeaders;
const RESPONSE = HeaderMapTypeValues.ResponseHeaders;

function bytes(text: string): ArrayBuffer {
  return String.UTF8.encode(text);
}

function text(buffer: ArrayBuffer | null): string {
  return buffer === null ? "<null>" : String.UTF8.decode(buffer);
}

describe("headers", () => {
  beforeEach(() => {
    resetHost();
  });

  test('getHeader: the first value, "" for an empty one, null for an absent one', () => {
    addHeader(REQUEST, "x-a", "1");
    addHeader(REQUEST, "x-a", "2");
    addHeader(REQUEST, "x-empty", "");
    expect(getHeader(REQUEST, "x-a")).toBe("1");
    expect(getHeader(REQUEST, "x-empty")).toBe("");
    expect(getHeader(REQUEST, "x-missing")).toBeNull();
  });

  test("getHeader reads UTF-8 values", () => {
    addHeader(REQUEST, "x-name", "Zoë €");
    expect(getHeader(REQUEST, "x-name")).toBe("Zoë €");
  });

  test("setHeader replaces every value in place; appendHeader adds one; removeHeader removes all", () => {
    addHeader(REQUEST, "x-a", "1");
    addHeader(REQUEST, "x-b", "b");
    addHeader(REQUEST, "x-a", "2");
    expect(setHeader(REQUEST, "x-a", "new")).toBe(true);
    expect(headersOf(REQUEST)).toBe("x-a: new\nx-b: b\n");
    expect(appendHeader(REQUEST, "x-a", "more")).toBe(true);
    expect(headersOf(REQUEST)).toBe("x-a: new\nx-b: b\nx-a: more\n");
    expect(removeHeader(REQUEST, "x-a")).toBe(true);
    expect(headersOf(REQUEST)).toBe("x-b: b\n");
    expect(setHeader(RESPONSE, "x-new", "v")).toBe(true);
    expect(headersOf(RESPONSE)).toBe("x-new: v\n");
  });

  test("a map the host does not have: null and false, never an abort", () => {
    dropMap(RESPONSE);
    expect(getHeader(RESPONSE, "x-a")).toBeNull();
    expect(setHeader(RESPONSE, "x-a", "1")).toBe(false);
    expect(appendHeader(RESPONSE, "x-a", "1")).toBe(false);
    expect(removeHeader(RESPONSE, "x-a")).toBe(false);
    expect(getHeaderPairs(RESPONSE)).toBeNull();
  });

  test("getHeaderPairs: the map serialized as the ABI gives it", () => {
    addHeader(REQUEST, ":path", "/p");
    addHeader(REQUEST, "x-a", "va");
    const pairs = getHeaderPairs(REQUEST)!;
    const base = changetype<usize>(pairs);
    expect(load<u32>(base)).toBe(2);
    expect(load<u32>(base + 4)).toBe(5); // ":path"
    expect(load<u32>(base + 8)).toBe(2); // "/p"
    expect(load<u32>(base + 12)).toBe(3); // "x-a"
    expect(load<u32>(base + 16)).toBe(2); // "va"
    expect(String.UTF8.decodeUnsafe(base + 20, pairs.byteLength - 20)).toBe(":path\0/p\0x-a\0va\0");
  });

  test("getHeaderPairs of an empty map is still a map (count 0)", () => {
    const pairs = getHeaderPairs(REQUEST)!;
    expect(pairs.byteLength).toBe(4);
    expect(load<u32>(changetype<usize>(pairs))).toBe(0);
  });
});

describe("properties", () => {
  beforeEach(() => {
    resetHost();
  });

  test("a property by its dotted path, or null", () => {
    setProperty("source.address", "10.0.0.1:5000");
    expect(text(getProperty("source.address"))).toBe("10.0.0.1:5000");
    expect(getProperty("source.port")).toBeNull();
  });

  test("encodePropertyPath spells the path with NUL separators", () => {
    expect(String.UTF8.decode(encodePropertyPath("a.b.c"))).toBe("a\0b\0c");
  });
});

describe("shared data", () => {
  beforeEach(() => {
    resetHost();
  });

  test("absent, then written, then read with its CAS", () => {
    const key = bytes("k");
    expect(getSharedData(key).result).toBe(1); // NotFound
    expect(setSharedData(key, bytes("v1"), 0)).toBe(0);
    const read = getSharedData(key);
    expect(read.result).toBe(0);
    expect(text(read.value)).toBe("v1");
    expect(read.cas).toBeGreaterThan(0);
  });

  test("a write with a stale CAS is refused (CasMismatch), one with the current CAS lands", () => {
    const key = bytes("counter");
    setSharedData(key, bytes("1"), 0);
    const cas = getSharedData(key).cas;
    expect(setSharedData(key, bytes("2"), cas)).toBe(0);
    expect(setSharedData(key, bytes("3"), cas)).toBe(8);
    expect(text(getSharedData(key).value)).toBe("2");
  });
});

describe("buffers, clock, log level and ticks", () => {
  beforeEach(() => {
    resetHost();
  });

  test("getBufferBytes: the slice asked for; empty when the host has none or the length is 0", () => {
    setBuffer(BufferTypeValues.PluginConfiguration, '{"a":1}');
    expect(text(getBufferBytes(BufferTypeValues.PluginConfiguration, 0, 7))).toBe('{"a":1}');
    expect(text(getBufferBytes(BufferTypeValues.PluginConfiguration, 1, 3))).toBe('"a"');
    expect(getBufferBytes(BufferTypeValues.PluginConfiguration, 0, 0).byteLength).toBe(0);
    expect(getBufferBytes(BufferTypeValues.HttpRequestBody, 0, 4).byteLength).toBe(0);
  });

  test("nowNanos and hostLogLevel read the host", () => {
    setTime(1_700_000_000_123_456_789);
    expect(nowNanos()).toBe(1_700_000_000_123_456_789);
    setLogLevel(4);
    expect(hostLogLevel()).toBe(4);
  });

  test("hostLogLevel is 0 (trace: log everything) when the host cannot tell", () => {
    failCall("proxy_get_log_level", 12);
    expect(hostLogLevel()).toBe(0);
  });

  test("setTickPeriod asks the host, and reports a refusal", () => {
    expect(setTickPeriod(250)).toBe(true);
    expect(tickPeriod()).toBe(250);
    failCall("proxy_set_tick_period_milliseconds", 2);
    expect(setTickPeriod(500)).toBe(false);
    expect(tickPeriod()).toBe(250);
  });
});
