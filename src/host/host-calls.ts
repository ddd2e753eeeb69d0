// The host functions of Envoy 1.40 a module imports (proxy-wasm ABI 0.2.0/0.2.1 `env` and the WASI
// subset Envoy gives), and the host state they read: header maps, buffers, properties, local
// replies and callouts of the VM's current stream.
import { getRandomValues } from "node:crypto";
import { BufferType, Errno, HeaderMapType, LOG_LEVELS, StreamType, WasmResult } from "./abi.ts";
import { asciiLower, HeaderMap } from "./headers.ts";
import { concat, decodeBytes, EMPTY, encodeLatin1, encoder, encodeUtf8 } from "./memory.ts";
import { incrementMetric, recordMetric } from "./state.ts";
import { ModuleLoadError, type Callout, type UpstreamRequest, type WorkerVm } from "./vm.ts";

type Fn = (...args: never[]) => unknown;

/** Checks a module the way Envoy does before instantiating it: ABI marker, then every import. */
function headerMap(vm: WorkerVm, type: number): HeaderMap | undefined {
  const stream = vm.current;
  switch (type) {
    case HeaderMapType.RequestHeaders:
      return stream?.requestHeaders;
    case HeaderMapType.RequestTrailers:
      return stream?.requestTrailers;
    case HeaderMapType.ResponseHeaders:
      return stream?.responseHeaders;
    case HeaderMapType.ResponseTrailers:
      return stream?.responseTrailers;
    case HeaderMapType.HttpCallResponseHeaders:
      return vm.callout?.headers;
    case HeaderMapType.HttpCallResponseTrailers:
      return vm.callout?.trailers;
    default:
      return undefined;
  }
}

function bufferOf(vm: WorkerVm, type: number): Uint8Array | undefined {
  switch (type) {
    case BufferType.HttpRequestBody:
      return vm.current?.requestBody;
    case BufferType.HttpResponseBody:
      return vm.current?.responseBody;
    case BufferType.HttpCallResponseBody:
      return vm.callout?.body;
    case BufferType.PluginConfiguration:
      return vm.plugin.configuration;
    case BufferType.VmConfiguration:
      return vm.plugin.vmConfiguration;
    default:
      return undefined;
  }
}

/** Envoy's body buffer writes: replace from 0, prepend (length 0 at 0), or append (start at the end). */
function setBuffer(vm: WorkerVm, type: number, start: number, length: number, data: Uint8Array): number {
  const stream = vm.current;
  if (!stream || (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody))
    return WasmResult.BadArgument;
  const current = type === BufferType.HttpRequestBody ? stream.requestBody : stream.responseBody;
  let next: Uint8Array;
  if (start === 0) {
    if (length === 0) next = concat([data, current]);
    else if (length >= current.length) next = data;
    else return WasmResult.BadArgument;
  } else if (start >= current.length) next = concat([current, data]);
  else return WasmResult.BadArgument;
  if (type === BufferType.HttpRequestBody) stream.requestBody = next;
  else stream.responseBody = next;
  return WasmResult.Ok;
}

function propertyValue(vm: WorkerVm, path: string): Uint8Array | undefined {
  const stream = vm.current;
  const custom = stream?.properties.get(path) ?? vm.rootProperties.get(path);
  if (custom) return custom;
  switch (path) {
    case "plugin_root_id":
      return encodeUtf8(vm.plugin.rootId);
    case "plugin_name":
      return encodeUtf8(vm.plugin.name);
    case "plugin_vm_id":
      return encodeUtf8(vm.plugin.vmId);
  }
  const extra = vm.host.properties.get(path.split("\0").join("."));
  if (extra !== undefined) return propertyBytes(extra);
  if (!stream) return undefined;
  const headers = stream.requestHeaders;
  const requestPath = headers.get(":path") ?? "";
  const query = requestPath.indexOf("?");
  switch (path) {
    case "request\0path":
      return encodeLatin1(requestPath);
    case "request\0url_path":
      return encodeLatin1(query < 0 ? requestPath : requestPath.slice(0, query));
    case "request\0query":
      return encodeLatin1(query < 0 ? "" : requestPath.slice(query + 1));
    case "request\0method":
      return encodeLatin1(headers.get(":method") ?? "");
    case "request\0host":
      return encodeLatin1(headers.get(":authority") ?? "");
    case "request\0scheme":
      return encodeUtf8(headers.get(":scheme") ?? "http");
    case "request\0protocol":
      return encodeUtf8("HTTP/1.1");
    case "request\0id":
      return encodeUtf8(stream.requestId);
    case "request\0useragent":
      return encodeLatin1(headers.get("user-agent") ?? "");
    case "request\0referer":
      return encodeLatin1(headers.get("referer") ?? "");
    case "request\0time":
      return int64Bytes(BigInt(Math.round(stream.startMs * 1e6)));
    case "request\0headers":
      return vm.mem.serializePairs(headers);
    case "response\0code":
      return stream.status ? int64Bytes(BigInt(stream.status)) : undefined;
    case "response\0code_details":
      return stream.details ? encodeUtf8(stream.details) : undefined;
    case "response\0headers":
      return vm.mem.serializePairs(stream.responseHeaders);
    case "source\0address":
      return encodeUtf8(`127.0.0.1:${stream.sourcePort}`);
    case "source\0port":
      return int64Bytes(BigInt(stream.sourcePort));
    case "destination\0address":
      return encodeUtf8("127.0.0.1:10000");
    case "destination\0port":
      return int64Bytes(10000n);
  }
  if (path.startsWith("request\0headers\0")) {
    const value = headers.get(asciiLower(path.slice("request\0headers\0".length)));
    return value === undefined ? undefined : encodeLatin1(value);
  }
  if (path.startsWith("response\0headers\0")) {
    const value = stream.responseHeaders.get(asciiLower(path.slice("response\0headers\0".length)));
    return value === undefined ? undefined : encodeLatin1(value);
  }
  return undefined;
}

function sendLocalResponse(
  vm: WorkerVm,
  status: number,
  details: string,
  body: Uint8Array,
  headers: HeaderMap,
): number {
  const stream = vm.current;
  if (!stream) return WasmResult.BadArgument;
  stream.localReply = { status, details, body, headers };
  return WasmResult.Ok;
}

function httpCall(
  vm: WorkerVm,
  cluster: string,
  headers: HeaderMap,
  body: Uint8Array,
  trailers: HeaderMap,
  timeoutMs: number,
): number | undefined {
  const method = headers.get(":method");
  const path = headers.get(":path");
  const authority = headers.get(":authority");
  if (!method || !path || !authority) return undefined;
  const request: UpstreamRequest = { method, path, authority, headers, body, trailers };
  const token = vm.nextCalloutToken++;
  const answer = vm.host.httpCall(cluster, request, timeoutMs);
  if (answer === undefined) return undefined;
  vm.pending.push(() => {
    if (vm.failed) return;
    const fn = (vm.instance.exports as Record<string, unknown>).proxy_on_http_call_response as
      ((id: number, token: number, headers: number, body: number, trailers: number) => void) | undefined;
    if (!fn) return;
    const callout: Callout =
      answer === "timeout"
        ? { headers: new HeaderMap(), body: EMPTY, trailers: new HeaderMap() }
        : {
            headers: withStatus(answer.status, answer.headers),
            body: answer.body ?? EMPTY,
            trailers: answer.trailers ?? new HeaderMap(),
          };
    const saved = vm.current;
    vm.current = undefined;
    vm.callout = callout;
    try {
      vm.guard("proxy_on_http_call_response", () =>
        fn(vm.rootContextId, token, callout.headers.size, callout.body.length, callout.trailers.size),
      );
    } finally {
      vm.callout = undefined;
      // The callback may have chosen a stream with proxy_set_effective_context; the stream resumes with its own.
      vm.current = saved;
    }
  });
  return token;
}

export function hostImports(vm: WorkerVm): WebAssembly.Imports {
  // The host functions are plain functions the module calls; they close over this VM.
  const self = vm;
  const wallNow = () => (vm.host.clock.wall ? vm.host.clock.wall() : vm.host.clock.now());
  const host = vm.host;
  const env: Record<string, Fn> = {
    proxy_log(level: number, ptr: number, size: number): number {
      if (level < host.logLevel) return WasmResult.Ok;
      if (!self.mem.inBounds(ptr, size)) return WasmResult.InvalidMemoryAccess;
      const message = self.mem.readString(ptr, size);
      self.emitLog(
        Math.min(level, LOG_LEVELS.length - 1),
        "wasm",
        message,
        `wasm log ${self.logPrefix()}: ${message}`,
      );
      return WasmResult.Ok;
    },
    proxy_get_log_level(ptr: number): number {
      if (!self.mem.inBounds(ptr, 4)) return WasmResult.InvalidMemoryAccess;
      self.mem.writeU32(ptr, host.logLevel);
      return WasmResult.Ok;
    },
    proxy_get_status(codePtr: number, messagePtr: number, messageSize: number): number {
      if (!self.mem.inBounds(codePtr, 4)) return WasmResult.InvalidMemoryAccess;
      self.mem.writeU32(codePtr, 0);
      return self.mem.copyOut(EMPTY, messagePtr, messageSize);
    },
    proxy_set_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number): number {
      if (!self.mem.inBounds(pathPtr, pathSize) || !self.mem.inBounds(valuePtr, valueSize))
        return WasmResult.InvalidMemoryAccess;
      const path = self.mem.readString(pathPtr, pathSize);
      (self.current?.properties ?? self.rootProperties).set(path, self.mem.readBytes(valuePtr, valueSize));
      return WasmResult.Ok;
    },
    proxy_get_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number): number {
      if (!self.mem.inBounds(pathPtr, pathSize)) return WasmResult.InvalidMemoryAccess;
      const value = propertyValue(self, self.mem.readString(pathPtr, pathSize));
      if (value === undefined) return WasmResult.NotFound;
      return self.mem.copyOut(value, valuePtr, valueSize);
    },
    proxy_send_local_response(
      status: number,
      detailsPtr: number,
      detailsSize: number,
      bodyPtr: number,
      bodySize: number,
      headersPtr: number,
      headersSize: number,
      _grpcStatus: number,
    ): number {
      if (!self.mem.inBounds(detailsPtr, detailsSize) || !self.mem.inBounds(bodyPtr, bodySize))
        return WasmResult.InvalidMemoryAccess;
      const headers = self.mem.deserializePairs(headersPtr, headersSize);
      if (!headers) return WasmResult.BadArgument;
      return sendLocalResponse(
        self,
        status,
        self.mem.readString(detailsPtr, detailsSize),
        self.mem.readBytes(bodyPtr, bodySize),
        headers,
      );
    },
    proxy_get_shared_data(
      keyPtr: number,
      keySize: number,
      valuePtr: number,
      valueSize: number,
      casPtr: number,
    ): number {
      if (!self.mem.inBounds(keyPtr, keySize) || !self.mem.inBounds(casPtr, 4))
        return WasmResult.InvalidMemoryAccess;
      const entry = host.sharedData.get(self.plugin.vmId, self.mem.readString(keyPtr, keySize));
      if (!entry) return WasmResult.NotFound;
      const result = self.mem.copyOut(entry.value, valuePtr, valueSize);
      if (result === WasmResult.Ok) self.mem.writeU32(casPtr, entry.cas);
      return result;
    },
    proxy_set_shared_data(
      keyPtr: number,
      keySize: number,
      valuePtr: number,
      valueSize: number,
      cas: number,
    ): number {
      if (!self.mem.inBounds(keyPtr, keySize) || !self.mem.inBounds(valuePtr, valueSize))
        return WasmResult.InvalidMemoryAccess;
      const key = self.mem.readString(keyPtr, keySize);
      const value = self.mem.readBytes(valuePtr, valueSize);
      return host.sharedData.set(self.plugin.vmId, key, value, cas >>> 0);
    },
    proxy_register_shared_queue(namePtr: number, nameSize: number, tokenPtr: number): number {
      if (!self.mem.inBounds(namePtr, nameSize) || !self.mem.inBounds(tokenPtr, 4))
        return WasmResult.InvalidMemoryAccess;
      self.mem.writeU32(
        tokenPtr,
        host.queues.register(self.plugin.vmId, self.mem.readString(namePtr, nameSize), self),
      );
      return WasmResult.Ok;
    },
    proxy_resolve_shared_queue(
      vmPtr: number,
      vmSize: number,
      namePtr: number,
      nameSize: number,
      tokenPtr: number,
    ): number {
      if (
        !self.mem.inBounds(vmPtr, vmSize) ||
        !self.mem.inBounds(namePtr, nameSize) ||
        !self.mem.inBounds(tokenPtr, 4)
      )
        return WasmResult.InvalidMemoryAccess;
      const token = host.queues.resolve(
        self.mem.readString(vmPtr, vmSize),
        self.mem.readString(namePtr, nameSize),
      );
      if (token === undefined) return WasmResult.NotFound;
      self.mem.writeU32(tokenPtr, token);
      return WasmResult.Ok;
    },
    proxy_enqueue_shared_queue(token: number, dataPtr: number, dataSize: number): number {
      if (!self.mem.inBounds(dataPtr, dataSize)) return WasmResult.InvalidMemoryAccess;
      return host.queues.enqueue(token >>> 0, self.mem.bytes().subarray(dataPtr, dataPtr + dataSize));
    },
    proxy_dequeue_shared_queue(token: number, dataPtr: number, dataSize: number): number {
      const { result, data } = host.queues.dequeue(token >>> 0);
      if (result !== WasmResult.Ok || !data) return result;
      return self.mem.copyOut(data, dataPtr, dataSize);
    },
    proxy_get_header_map_value(
      type: number,
      keyPtr: number,
      keySize: number,
      valuePtr: number,
      valueSize: number,
    ): number {
      const map = headerMap(self, type);
      if (!map) return WasmResult.BadArgument;
      if (!self.mem.inBounds(keyPtr, keySize)) return WasmResult.InvalidMemoryAccess;
      const value = map.get(asciiLower(self.mem.readLatin1(keyPtr, keySize)));
      if (value === undefined) return WasmResult.NotFound;
      return self.mem.copyOutLatin1(value, valuePtr, valueSize);
    },
    proxy_add_header_map_value(
      type: number,
      keyPtr: number,
      keySize: number,
      valuePtr: number,
      valueSize: number,
    ): number {
      return writeHeader(self, type, keyPtr, keySize, valuePtr, valueSize, (map, name, value) =>
        map.add(name, value),
      );
    },
    proxy_replace_header_map_value(
      type: number,
      keyPtr: number,
      keySize: number,
      valuePtr: number,
      valueSize: number,
    ): number {
      return writeHeader(self, type, keyPtr, keySize, valuePtr, valueSize, (map, name, value) =>
        map.replace(name, value),
      );
    },
    proxy_remove_header_map_value(type: number, keyPtr: number, keySize: number): number {
      const map = headerMap(self, type);
      if (!map) return WasmResult.BadArgument;
      if (!self.mem.inBounds(keyPtr, keySize)) return WasmResult.InvalidMemoryAccess;
      map.remove(asciiLower(self.mem.readLatin1(keyPtr, keySize)));
      return WasmResult.Ok;
    },
    proxy_get_header_map_pairs(type: number, ptrPtr: number, sizePtr: number): number {
      const map = headerMap(self, type);
      if (!map) return WasmResult.BadArgument;
      return self.mem.copyOut(self.mem.serializePairs(map), ptrPtr, sizePtr);
    },
    proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
      const map = headerMap(self, type);
      if (!map) return WasmResult.BadArgument;
      const pairs = self.mem.deserializePairs(ptr, size);
      if (!pairs) return WasmResult.BadArgument;
      // Envoy removes every header the pairs name... and keeps the rest; then adds the pairs.
      for (const name of new Set(pairs.names)) map.remove(name);
      for (let i = 0; i < pairs.size; i++) map.add(pairs.names[i]!, pairs.values[i]!);
      return WasmResult.Ok;
    },
    proxy_get_header_map_size(type: number, sizePtr: number): number {
      const map = headerMap(self, type);
      if (!map) return WasmResult.BadArgument;
      if (!self.mem.inBounds(sizePtr, 4)) return WasmResult.InvalidMemoryAccess;
      self.mem.writeU32(sizePtr, map.byteSize());
      return WasmResult.Ok;
    },
    proxy_get_buffer_status(type: number, lengthPtr: number, flagsPtr: number): number {
      const buffer = bufferOf(self, type);
      if (!buffer) return WasmResult.NotFound;
      if (!self.mem.inBounds(lengthPtr, 4) || !self.mem.inBounds(flagsPtr, 4))
        return WasmResult.InvalidMemoryAccess;
      self.mem.writeU32(lengthPtr, buffer.length);
      self.mem.writeU32(flagsPtr, 0);
      return WasmResult.Ok;
    },
    proxy_get_buffer_bytes(
      type: number,
      start: number,
      length: number,
      ptrPtr: number,
      sizePtr: number,
    ): number {
      const buffer = bufferOf(self, type);
      if (!buffer) return WasmResult.NotFound;
      start >>>= 0;
      length >>>= 0;
      if (start > buffer.length) return WasmResult.BadArgument;
      if (start + length > buffer.length) length = buffer.length - start;
      if (length === 0) return WasmResult.Ok;
      return self.mem.copyOut(buffer.subarray(start, start + length), ptrPtr, sizePtr);
    },
    proxy_set_buffer_bytes(
      type: number,
      start: number,
      length: number,
      dataPtr: number,
      dataSize: number,
    ): number {
      if (!self.mem.inBounds(dataPtr, dataSize)) return WasmResult.InvalidMemoryAccess;
      return setBuffer(self, type, start >>> 0, length >>> 0, self.mem.readBytes(dataPtr, dataSize));
    },
    proxy_http_call(
      uriPtr: number,
      uriSize: number,
      headersPtr: number,
      headersSize: number,
      bodyPtr: number,
      bodySize: number,
      trailersPtr: number,
      trailersSize: number,
      timeoutMs: number,
      tokenPtr: number,
    ): number {
      if (
        !self.mem.inBounds(uriPtr, uriSize) ||
        !self.mem.inBounds(bodyPtr, bodySize) ||
        !self.mem.inBounds(tokenPtr, 4)
      )
        return WasmResult.InvalidMemoryAccess;
      const headers = self.mem.deserializePairs(headersPtr, headersSize);
      const trailers = self.mem.deserializePairs(trailersPtr, trailersSize);
      if (!headers || !trailers) return WasmResult.BadArgument;
      const token = httpCall(
        self,
        self.mem.readString(uriPtr, uriSize),
        headers,
        self.mem.readBytes(bodyPtr, bodySize),
        trailers,
        timeoutMs >>> 0,
      );
      if (token === undefined) return WasmResult.BadArgument;
      self.mem.writeU32(tokenPtr, token);
      return WasmResult.Ok;
    },
    proxy_grpc_call: () => WasmResult.Unimplemented,
    proxy_grpc_stream: () => WasmResult.Unimplemented,
    proxy_grpc_close: () => WasmResult.Unimplemented,
    proxy_grpc_cancel: () => WasmResult.Unimplemented,
    proxy_grpc_send: () => WasmResult.Unimplemented,
    proxy_set_tick_period_milliseconds(period: number): number {
      self.tickPeriodMs = period >>> 0;
      self.nextTickMs = host.clock.now() + self.tickPeriodMs;
      return WasmResult.Ok;
    },
    proxy_get_current_time_nanoseconds(ptr: number): number {
      if (!self.mem.inBounds(ptr, 8)) return WasmResult.InvalidMemoryAccess;
      self.mem.writeU64(ptr, BigInt(Math.round(wallNow() * 1e6)));
      return WasmResult.Ok;
    },
    proxy_define_metric(type: number, namePtr: number, nameSize: number, idPtr: number): number {
      if (!self.mem.inBounds(namePtr, nameSize) || !self.mem.inBounds(idPtr, 4))
        return WasmResult.InvalidMemoryAccess;
      const id = self.metricIds.define(type, self.mem.readString(namePtr, nameSize));
      if (id === undefined) return WasmResult.BadArgument;
      self.mem.writeU32(idPtr, id);
      return WasmResult.Ok;
    },
    proxy_increment_metric(id: number, offset: bigint): number {
      return incrementMetric(self.metricIds.get(id >>> 0), offset);
    },
    proxy_record_metric(id: number, value: bigint): number {
      return recordMetric(self.metricIds.get(id >>> 0), BigInt.asUintN(64, value));
    },
    proxy_get_metric(id: number, resultPtr: number): number {
      const metric = self.metricIds.get(id >>> 0);
      if (!metric) return WasmResult.NotFound;
      if (metric.kind === "histogram") return WasmResult.BadArgument;
      if (!self.mem.inBounds(resultPtr, 8)) return WasmResult.InvalidMemoryAccess;
      self.mem.writeU64(resultPtr, BigInt.asUintN(64, BigInt(metric.value)));
      return WasmResult.Ok;
    },
    proxy_set_effective_context(id: number): number {
      if (id === self.rootContextId) {
        self.current = undefined;
        return WasmResult.Ok;
      }
      const stream = self.streams.get(id);
      if (!stream) return WasmResult.BadArgument;
      self.current = stream;
      return WasmResult.Ok;
    },
    proxy_done: () => WasmResult.Ok,
    proxy_call_foreign_function(
      namePtr: number,
      nameSize: number,
      argPtr: number,
      argSize: number,
      resultsPtr: number,
      resultsSize: number,
    ): number {
      if (!self.mem.inBounds(namePtr, nameSize) || !self.mem.inBounds(argPtr, argSize))
        return WasmResult.InvalidMemoryAccess;
      const name = self.mem.readString(namePtr, nameSize);
      if (name === "clear_route_cache") return WasmResult.Ok;
      if (name === "declare_property" || name === "set_envoy_filter_state") return WasmResult.Ok;
      void resultsPtr;
      void resultsSize;
      return WasmResult.NotFound;
    },
    proxy_continue_stream(type: number): number {
      const stream = self.current;
      if (!stream) return WasmResult.BadArgument;
      if (type === StreamType.Request) stream.continued[0] = true;
      else if (type === StreamType.Response) stream.continued[1] = true;
      else return WasmResult.BadArgument;
      return WasmResult.Ok;
    },
    proxy_close_stream(type: number): number {
      const stream = self.current;
      if (!stream) return WasmResult.BadArgument;
      if (type !== StreamType.Request && type !== StreamType.Response) return WasmResult.BadArgument;
      stream.closed = true;
      return WasmResult.Ok;
    },
  };
  const wasi: Record<string, Fn> = {
    fd_write(fd: number, iovs: number, iovsLength: number, writtenPtr: number): number {
      if (!self.mem.inBounds(iovs, iovsLength * 8) || !self.mem.inBounds(writtenPtr, 4)) return Errno.Inval;
      const view = self.mem.dv();
      const parts: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < iovsLength; i++) {
        const ptr = view.getUint32(iovs + i * 8, true);
        const length = view.getUint32(iovs + i * 8 + 4, true);
        if (!self.mem.inBounds(ptr, length)) return Errno.Inval;
        parts.push(self.mem.readBytes(ptr, length));
        total += length;
      }
      self.mem.writeU32(writtenPtr, total);
      if (fd !== 1 && fd !== 2) return Errno.Badf;
      const message = decodeBytes(concat(parts)).replace(/\n$/, "");
      const level = fd === 1 ? 2 : 4;
      if (level >= host.logLevel)
        self.emitLog(level, "wasm", message, `wasm log ${self.logPrefix()}: ${message}`);
      return Errno.Success;
    },
    fd_read: () => Errno.Nosys,
    fd_seek: () => Errno.Nosys,
    fd_close: () => Errno.Success,
    fd_fdstat_get(fd: number, ptr: number): number {
      if (fd > 2) return Errno.Badf;
      if (!self.mem.inBounds(ptr, 24)) return Errno.Inval;
      const view = self.mem.dv();
      view.setUint8(ptr, 2); // character device
      view.setUint16(ptr + 2, 0, true);
      view.setBigUint64(ptr + 8, 0n, true);
      view.setBigUint64(ptr + 16, 0n, true);
      return Errno.Success;
    },
    fd_fdstat_set_flags: () => Errno.Nosys,
    fd_prestat_get: () => Errno.Badf,
    fd_prestat_dir_name: () => Errno.Nosys,
    path_open: () => Errno.Nosys,
    environ_sizes_get(countPtr: number, sizePtr: number): number {
      const entries = environ(self.plugin.env);
      if (!self.mem.inBounds(countPtr, 4) || !self.mem.inBounds(sizePtr, 4)) return Errno.Inval;
      self.mem.writeU32(countPtr, entries.length);
      self.mem.writeU32(
        sizePtr,
        entries.reduce((sum, entry) => sum + entry.length, 0),
      );
      return Errno.Success;
    },
    environ_get(environPtr: number, bufferPtr: number): number {
      const entries = environ(self.plugin.env);
      let offset = bufferPtr;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        if (!self.mem.inBounds(offset, entry.length) || !self.mem.inBounds(environPtr + i * 4, 4))
          return Errno.Inval;
        self.mem.writeU32(environPtr + i * 4, offset);
        self.mem.bytes().set(entry, offset);
        offset += entry.length;
      }
      return Errno.Success;
    },
    args_sizes_get(countPtr: number, sizePtr: number): number {
      if (!self.mem.inBounds(countPtr, 4) || !self.mem.inBounds(sizePtr, 4)) return Errno.Inval;
      self.mem.writeU32(countPtr, 0);
      self.mem.writeU32(sizePtr, 0);
      return Errno.Success;
    },
    args_get: () => Errno.Success,
    clock_time_get(id: number, _precision: bigint, resultPtr: number): number {
      if (!self.mem.inBounds(resultPtr, 8)) return Errno.Inval;
      // Clock 1 is WASI's monotonic clock; the others read the wall clock.
      self.mem.writeU64(resultPtr, BigInt(Math.round((id === 1 ? host.clock.now() : wallNow()) * 1e6)));
      return Errno.Success;
    },
    clock_res_get(_id: number, resultPtr: number): number {
      if (!self.mem.inBounds(resultPtr, 8)) return Errno.Inval;
      self.mem.writeU64(resultPtr, 1n);
      return Errno.Success;
    },
    random_get(ptr: number, length: number): number {
      if (!self.mem.inBounds(ptr, length)) return Errno.Inval;
      const target = self.mem.bytes().subarray(ptr, ptr + length);
      for (let offset = 0; offset < length; offset += 65536)
        getRandomValues(target.subarray(offset, Math.min(length, offset + 65536)));
      return Errno.Success;
    },
    // Envoy's proc_exit only logs: the module goes on (an AssemblyScript abort traps right after).
    proc_exit(code: number): void {
      self.emitLog(1, "host", `proc_exit(${code})`, `wasi proc_exit(${code}) called; Envoy ignores it`);
    },
    sched_yield: () => Errno.Success,
    poll_oneoff: () => Errno.Nosys,
  };
  const provided: Record<string, Record<string, Fn>> = {
    env,
    wasi_snapshot_preview1: wasi,
    wasi_unstable: wasi,
  };
  const imports: WebAssembly.Imports = {};
  for (const entry of WebAssembly.Module.imports(vm.module)) {
    const fn = provided[entry.module]?.[entry.name];
    if (entry.kind !== "function" || fn === undefined) {
      throw new ModuleLoadError(
        `Failed to load Wasm module due to a missing import: ${entry.module}.${entry.name}`,
      );
    }
    (imports[entry.module] ??= {})[entry.name] = fn as unknown as WebAssembly.ImportValue;
  }
  return imports;
}

/** Adds or replaces one header from guest memory: the two ABI calls differ only in the write. */
function writeHeader(
  self: WorkerVm,
  type: number,
  keyPtr: number,
  keySize: number,
  valuePtr: number,
  valueSize: number,
  write: (map: HeaderMap, name: string, value: string) => void,
): number {
  const map = headerMap(self, type);
  if (!map) return WasmResult.BadArgument;
  if (!self.mem.inBounds(keyPtr, keySize) || !self.mem.inBounds(valuePtr, valueSize))
    return WasmResult.InvalidMemoryAccess;
  write(map, asciiLower(self.mem.readLatin1(keyPtr, keySize)), self.mem.readLatin1(valuePtr, valueSize));
  return WasmResult.Ok;
}

function environ(env: Record<string, string>): Uint8Array[] {
  return Object.entries(env).map(([key, value]) => encoder.encode(`${key}=${value}\0`));
}

function int64Bytes(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, value, true);
  return out;
}

function propertyBytes(value: string | number | bigint | Uint8Array): Uint8Array {
  if (typeof value === "string") return encodeUtf8(value);
  if (typeof value === "number") return int64Bytes(BigInt(Math.trunc(value)));
  if (typeof value === "bigint") return int64Bytes(value);
  return value;
}

function withStatus(status: number, headers: HeaderMap | undefined): HeaderMap {
  const map = new HeaderMap();
  map.add(":status", String(status));
  if (headers) for (let i = 0; i < headers.size; i++) map.add(headers.names[i]!, headers.values[i]!);
  return map;
}
