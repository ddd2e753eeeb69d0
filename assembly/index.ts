// graft's filter SDK: the one import a filter needs (plus ./exports for its module's entry points).
// Filters use these, never proxy-runtime or raw host calls.
export { GraftRootContext, INJECTION_ID_FIELD, DEFAULT_INJECTION_ID } from "./filter";
export { GraftStream, registerFilter } from "./stream";
export { ConfigReader, ConfigError, isIdentifier } from "./config";
export { decimal, unsignedDecimal, listText } from "./text";
export { Logger } from "./log";
export {
  FilterMetrics,
  taggedMetricName,
  increment,
  record,
  TAG_FILTER,
  TAG_INJECTION,
  TAG_RULE,
  TAG_REASON,
} from "./metrics";
export { sendReply } from "./reply";
export { RequestView, EnvoyRequest, RequestHeaderSnapshot } from "./request";
export {
  getHeader,
  setHeader,
  appendHeader,
  removeHeader,
  getProperty,
  getPropertyEncoded,
  encodePropertyPath,
  getSharedData,
  setSharedData,
  SharedDataRead,
  getBufferBytes,
  getHeaderPairs,
  nowNanos,
  setTickPeriod,
} from "./host";
export { JsonValue, JsonKind } from "./json";
// The proxy-wasm types a filter's callbacks name.
export {
  RootContext,
  FilterHeadersStatusValues,
  FilterDataStatusValues,
  FilterTrailersStatusValues,
  HeaderMapTypeValues,
  BufferTypeValues,
  WasmResultValues,
} from "@solo-io/proxy-runtime/assembly";
