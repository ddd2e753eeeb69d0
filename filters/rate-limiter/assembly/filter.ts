// rate-limiter's filter: root context (configuration, metrics, the shared-data limiter) and stream
// context (one decision per matching rule, the 429, the quota headers).
import {
  GraftRootContext,
  GraftStream,
  ConfigReader,
  FilterMetrics,
  JsonValue,
  FilterHeadersStatusValues,
  HeaderMapTypeValues,
  WasmResultValues,
  setHeader,
  increment,
  nowNanos,
  sendReply,
  TAG_RULE,
  getSharedData,
  setSharedData,
  EnvoyRequest,
} from "../../../assembly";
import { batchCounters, flushCounters } from "../../../assembly/metrics";
import { decimal } from "../../../assembly/text";
import {
  FILTER,
  METRIC_ALLOWED_TOTAL,
  METRIC_CAS_EXHAUSTED_TOTAL,
  METRIC_CAS_RETRIES_TOTAL,
  METRIC_LIMITED_TOTAL,
  METRIC_OVERFLOW_TOTAL,
  METRIC_REQUESTS_TOTAL,
} from "./contract.generated";
import { Mode, RateLimitConfig, Rule, parseConfig } from "./config";
import { Decision, Limiter, Outcome, SharedStore } from "./limiter";
import {
  REASON_CAS_EXHAUSTED,
  REASON_LIMITED,
  REASON_OVERFLOW,
  deniedBody,
  rateLimitItem,
  replyDetails,
  resetSeconds,
  retryAfterSeconds,
} from "./headers";

/** Rules with at most this many slots get them all at configure time; larger ones create slots on first use. */
const CREATE_SLOTS_UP_TO: i32 = 1024;

/**
 * Envoy's shared data: one process-wide map per vm_id, seen by every worker's VM. Direct host calls
 * with the rule's pre-encoded keys: the runtime's wrappers encode the key and allocate a result
 * object on every call, and this runs on every request.
 */
class EnvoySharedData extends SharedStore {
  get(key: ArrayBuffer): i32 {
    const read = getSharedData(key);
    if (read.result == WasmResultValues.Ok) {
      this.value = read.value;
      this.cas = read.cas;
    }
    return read.result;
  }
  set(key: ArrayBuffer, value: ArrayBuffer, cas: u32): i32 {
    return setSharedData(key, value, cas);
  }
}

/** One rule's counters: `graft.<name>{filter, injection, rule}`. */
// Counters are batched by the SDK (assembly/metrics.ts): flushed on the tick, exact at low traffic.
class RuleCounters {
  allowed: u32;
  limited: u32;
  casRetries: u32;
  casExhausted: u32;
  overflow: u32;

  constructor(metrics: FilterMetrics, rule: string) {
    this.allowed = metrics.counter(METRIC_ALLOWED_TOTAL, TAG_RULE, rule);
    this.limited = metrics.counter(METRIC_LIMITED_TOTAL, TAG_RULE, rule);
    this.casRetries = metrics.counter(METRIC_CAS_RETRIES_TOTAL, TAG_RULE, rule);
    this.casExhausted = metrics.counter(METRIC_CAS_EXHAUSTED_TOTAL, TAG_RULE, rule);
    this.overflow = metrics.counter(METRIC_OVERFLOW_TOTAL, TAG_RULE, rule);
  }
}

export class RateLimitRoot extends GraftRootContext {
  config: RateLimitConfig = new RateLimitConfig();
  limiter: Limiter = new Limiter(new EnvoySharedData(), 0, true);
  requests: u32 = 0;
  /** Counters of config.rules, index for index. */
  counters: RuleCounters[] = [];

  constructor(context_id: u32) {
    super(context_id, FILTER);
  }

  configure(reader: ConfigReader, root: JsonValue, metrics: FilterMetrics): void {
    const config = parseConfig(reader, root, metrics.injection);
    if (!reader.ok()) return;
    const limiter = new Limiter(this.limiter.store, config.casMaxRetries, config.denyOnCasExhausted);
    limiter.staleCas = config.staleCas;
    const now = nowNanos();
    const counters: RuleCounters[] = [];
    for (let i = 0; i < config.rules.length; i++) {
      const rule = config.rules[i];
      counters.push(new RuleCounters(metrics, rule.name));
      if (rule.slots <= CREATE_SLOTS_UP_TO) limiter.createSlots(rule, now);
    }
    flushCounters();
    this.requests = metrics.counter(METRIC_REQUESTS_TOTAL);
    this.counters = counters;
    this.limiter = limiter;
    this.config = config;
    if (!batchCounters()) this.log.warn("no tick: every counter increment is a host call");
  }

  onTick(): void {
    flushCounters();
  }

  createContext(context_id: u32): RateLimitStream {
    return new RateLimitStream(context_id, this);
  }
}

const envoyRequest = new EnvoyRequest();
const decision = new Decision();

export class RateLimitStream extends GraftStream<RateLimitRoot> {
  /** RateLimit-Policy and RateLimit values for the response, when quota headers are on. */
  quotaPolicy: string | null = null;
  quotaValue: string = "";

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const root = this.root;
    increment(root.requests);
    const config = root.config;
    const rules = config.rules;
    if (rules.length == 0) return FilterHeadersStatusValues.Continue;
    envoyRequest.reset();
    const now = nowNanos();
    let quotaRule: Rule | null = null;
    let quotaRemaining: u64 = u64.MAX_VALUE;
    let quotaReset: i64 = 0;
    let anyDenied = false;
    for (let i = 0; i < rules.length; i++) {
      const rule = unchecked(rules[i]);
      if (!rule.matches(envoyRequest)) continue;
      const fp = rule.keyFingerprint(envoyRequest);
      if (fp == 0) continue;
      root.limiter.decide(rule, fp, now, decision);
      const counters = unchecked(root.counters[i]);
      if (decision.casRetries > 0) increment(counters.casRetries, decision.casRetries);
      if (decision.overflowed) increment(counters.overflow);
      const outcome = decision.outcome;
      if (outcome == Outcome.Allowed) {
        increment(counters.allowed);
        if (decision.remaining < quotaRemaining) {
          quotaRule = rule;
          quotaRemaining = decision.remaining;
          quotaReset = resetSeconds(decision.waitNs);
        }
      } else if (outcome == Outcome.Limited) {
        increment(counters.limited);
      } else if (outcome == Outcome.CasExhausted) {
        increment(counters.casExhausted);
      }
      if (decision.passes()) continue;
      anyDenied = true;
      if (config.mode == Mode.Enforce) {
        deny(rule, decision);
        return FilterHeadersStatusValues.StopIteration;
      }
    }
    if (config.quotaHeaders && quotaRule !== null && !anyDenied) {
      this.quotaPolicy = quotaRule.policy;
      this.quotaValue = rateLimitItem(quotaRule.name, quotaRemaining, quotaReset);
    }
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const policy = this.quotaPolicy;
    if (policy !== null) {
      setHeader(HeaderMapTypeValues.ResponseHeaders, "ratelimit-policy", policy);
      setHeader(HeaderMapTypeValues.ResponseHeaders, "ratelimit", this.quotaValue);
    }
    return FilterHeadersStatusValues.Continue;
  }
}

function deny(rule: Rule, decision: Decision): void {
  const headers: string[] = ["ratelimit-policy", rule.policy];
  let reason = REASON_LIMITED;
  let retryAfter: i64 = 1;
  if (decision.outcome == Outcome.Limited) {
    retryAfter = retryAfterSeconds(decision.waitNs);
    headers.push("ratelimit");
    headers.push(rateLimitItem(rule.name, 0, retryAfter));
  } else {
    reason = decision.outcome == Outcome.CasExhausted ? REASON_CAS_EXHAUSTED : REASON_OVERFLOW;
  }
  headers.push("retry-after");
  headers.push(decimal(retryAfter));
  sendReply(
    429,
    replyDetails(reason),
    deniedBody(reason, rule.name, retryAfter),
    "application/json",
    headers,
  );
}
