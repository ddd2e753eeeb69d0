// rate-limiter's response headers and bodies: Retry-After and the IETF RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "<name>";q=<quota>;w=<window s>`,
// `RateLimit: "<name>";r=<remaining>;t=<seconds>`). Free of host calls so as-pect can test it.
import { NS_PER_S } from "./bucket";
import { decimal, unsignedDecimal } from "../../../assembly/text";

export const REASON_LIMITED = "rate_limited";
export const REASON_CAS_EXHAUSTED = "rate_limit_contended";
export const REASON_OVERFLOW = "rate_limit_key_space_full";

/** Whole seconds to wait, rounded up, at least 1 (0 would invite an immediate retry). */
export function retryAfterSeconds(waitNs: f64): i64 {
  const seconds = <i64>Math.ceil(waitNs / NS_PER_S);
  return seconds < 1 ? 1 : seconds;
}

/** Whole seconds until the bucket is full again, rounded up (0 when it is full). */
export function resetSeconds(waitNs: f64): i64 {
  const seconds = <i64>Math.ceil(waitNs / NS_PER_S);
  return seconds < 0 ? 0 : seconds;
}

export function rateLimitItem(rule: string, remaining: u64, seconds: i64): string {
  return '"' + rule + '";r=' + unsignedDecimal(remaining) + ";t=" + decimal(seconds);
}

/** The JSON body of a 429: `{"error":"rate_limited","rule":"per-key","retry_after":1}`. Rule names are identifiers: nothing to escape. */
export function deniedBody(reason: string, rule: string, retryAfter: i64): string {
  return '{"error":"' + reason + '","rule":"' + rule + '","retry_after":' + decimal(retryAfter) + "}";
}

/** `%RESPONSE_CODE_DETAILS%` of a 429, so access logs tell graft's denials apart. */
export function replyDetails(reason: string): string {
  return "graft_" + reason;
}
