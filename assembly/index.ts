// graft's filter SDK: what a filter author imports. Filters use these, never raw host calls.
export { GraftRootContext, INJECTION_ID_FIELD, DEFAULT_INJECTION_ID } from "./filter";
export { ConfigReader, ConfigError, isIdentifier } from "./config";
export { Logger } from "./log";
export { FilterMetrics, taggedMetricName, increment, record, TAG_FILTER, TAG_INJECTION, TAG_RULE, TAG_REASON, TAG_OUTCOME } from "./metrics";
export { sendReply } from "./reply";
export { RequestView, EnvoyRequest, RequestHeaderSnapshot } from "./request";
export { getHeader, setHeader, appendHeader, removeHeader, getProperty, getPropertyEncoded, encodePropertyPath, getSharedData, setSharedData, SharedDataRead, getBufferBytes, getHeaderPairs, nowNanos } from "./host";
export { JsonValue, JsonKind } from "./json";
