/**
 * Proxy-Wasm ABI 0.2.x numbers as Envoy 1.40 (proxy-wasm-cpp-host) uses them. Source:
 * proxy-wasm/spec and proxy-wasm-cpp-host (metric id layout included), as Envoy 1.40 answers them.
 */
export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

export const HeaderMapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;

export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;

export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;
export type MetricKind = "counter" | "gauge" | "histogram";
export const METRIC_KINDS: readonly MetricKind[] = ["counter", "gauge", "histogram"];
/** Envoy numbers each type's metrics from type + 4, in steps of 4; the low two bits are the type. */
export const METRIC_ID_INCREMENT = 4;
export const METRIC_TYPE_MASK = 3;

export const FilterHeadersStatus = {
  Continue: 0,
  StopIteration: 1,
  ContinueAndEndStream: 2,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const;

export const FilterDataStatus = {
  Continue: 0,
  StopIterationAndBuffer: 1,
  StopIterationAndWatermark: 2,
  StopIterationNoBuffer: 3,
} as const;

export const FilterTrailersStatus = { Continue: 0, StopIteration: 1 } as const;

export const StreamType = { Request: 0, Response: 1, Downstream: 2, Upstream: 3 } as const;

/** Log levels of proxy_log and proxy_get_log_level, and the names Envoy prints for them. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "critical"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export function logLevelNumber(level: LogLevelName | "warn"): number {
  const index = LOG_LEVELS.indexOf(level === "warn" ? "warning" : level);
  if (index < 0) throw new Error(`unknown log level ${String(level)}; use one of ${LOG_LEVELS.join(", ")}`);
  return index;
}

/** The ABI versions graft's host speaks; a module must export exactly one of these markers. */
export const SUPPORTED_ABI_VERSIONS = ["proxy_abi_version_0_2_0", "proxy_abi_version_0_2_1"] as const;

/** WASI errno values the host returns. */
export const Errno = { Success: 0, Badf: 8, Inval: 28, Nosys: 52 } as const;
