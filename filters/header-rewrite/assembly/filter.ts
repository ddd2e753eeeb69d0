// header-rewrite's filter: root context (configuration, metrics) and stream context (rewrites).
//
// The request path is built around host calls, which dominate its cost: counters are batched in the
// SDK (flushed on the tick), names and literal values are UTF-8 encoded once at configure time,
// quoted request headers are read only when a matching rule's template needs them and are kept as
// the bytes Envoy gives, and the response callback returns at once when no rule rewrites responses.
import {
  GraftRootContext,
  GraftStream,
  ConfigReader,
  FilterMetrics,
  JsonValue,
  EnvoyRequest,
  FilterHeadersStatusValues,
  HeaderMapTypeValues,
  increment,
  TAG_RULE,
} from "../../../assembly";
import { batchCounters, flushCounters } from "../../../assembly/metrics";
import { appendHeaderBytes, removeHeaderBytes, setHeaderBytes } from "../../../assembly/host";
import {
  FILTER,
  METRIC_REQUESTS_TOTAL,
  METRIC_REWRITE_FAILED_TOTAL,
  METRIC_RULE_APPLIED_TOTAL,
} from "./contract.generated";
import { Action, HeaderRewriteConfig, Op, PendingAction, RenderBudget, parseConfig } from "./rules";

export class HeaderRewriteRoot extends GraftRootContext {
  config: HeaderRewriteConfig = new HeaderRewriteConfig();
  requestsMetric: u32 = 0;

  constructor(context_id: u32) {
    super(context_id, FILTER);
  }

  configure(reader: ConfigReader, root: JsonValue, metrics: FilterMetrics): void {
    const config = parseConfig(reader, root, FILTER, metrics.injection);
    if (!reader.ok()) return;
    for (let i = 0; i < config.rules.length; i++) {
      const rule = config.rules[i];
      rule.metricId = metrics.counter(METRIC_RULE_APPLIED_TOTAL, TAG_RULE, rule.name);
      rule.failedMetricId = metrics.counter(METRIC_REWRITE_FAILED_TOTAL, TAG_RULE, rule.name);
    }
    this.requestsMetric = metrics.counter(METRIC_REQUESTS_TOTAL);
    this.config = config;
    if (!batchCounters()) this.log.warn("no tick: every counter increment is a host call");
  }

  onTick(): void {
    flushCounters();
  }

  createContext(context_id: u32): HeaderRewriteStream {
    return new HeaderRewriteStream(context_id, this);
  }
}

const envoyRequest = new EnvoyRequest();
// The request's rendering budget (MAX_RENDERED_BYTES) and its quoted headers, read once each.
const budget = new RenderBudget();

/** Applies one action; false when Envoy refused the change (counted as the rule's failure). */
function apply(map: HeaderMapTypeValues, action: Action, value: ArrayBuffer): bool {
  const op = action.op;
  if (op == Op.Set) return setHeaderBytes(map, action.nameBytes, value);
  if (op == Op.Append) return appendHeaderBytes(map, action.nameBytes, value);
  removeHeaderBytes(map, action.nameBytes); // removing an absent header is not a failure
  return true;
}

const EMPTY = new ArrayBuffer(0);

export class HeaderRewriteStream extends GraftStream<HeaderRewriteRoot> {
  // Response actions of the rules this request matched, rendered when the request headers came:
  // the first in fields of its own (no allocation for the common single action), the rest in a list.
  firstAction: Action | null = null;
  firstValue: ArrayBuffer = EMPTY;
  firstFailedMetric: u32 = 0;
  more: PendingAction[] | null = null;

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const root = this.root;
    envoyRequest.reset();
    budget.reset();
    increment(root.requestsMetric);
    const rules = root.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = unchecked(rules[i]);
      if (!rule.matches(envoyRequest)) continue;
      // Response values are rendered now: they may quote request headers.
      // An action whose value would pass the request's rendering budget is not applied: it
      // counts as the rule's failure, as a write Envoy refuses does.
      const response = rule.response;
      for (let j = 0; j < response.length; j++) {
        const action = unchecked(response[j]);
        const value = render(action);
        if (value === null) increment(rule.failedMetricId);
        else this.keep(action, value, rule.failedMetricId);
      }
      const request = rule.request;
      for (let j = 0; j < request.length; j++) {
        const action = unchecked(request[j]);
        const value = render(action);
        if (value === null || !apply(HeaderMapTypeValues.RequestHeaders, action, value))
          increment(rule.failedMetricId);
      }
      increment(rule.metricId);
    }
    return FilterHeadersStatusValues.Continue;
  }

  private keep(action: Action, value: ArrayBuffer, failedMetric: u32): void {
    if (this.firstAction === null) {
      this.firstAction = action;
      this.firstValue = value;
      this.firstFailedMetric = failedMetric;
      return;
    }
    let more = this.more;
    if (more === null) this.more = more = [];
    more.push(new PendingAction(action, value, failedMetric));
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    // No rule rewrote this response: nothing to do (and no rule at all rewrites responses: the
    // same early return, before any work).
    const first = this.firstAction;
    if (first === null) return FilterHeadersStatusValues.Continue;
    if (!apply(HeaderMapTypeValues.ResponseHeaders, first, this.firstValue))
      increment(this.firstFailedMetric);
    const more = this.more;
    if (more === null) return FilterHeadersStatusValues.Continue;
    for (let i = 0; i < more.length; i++) {
      const item = unchecked(more[i]);
      if (!apply(HeaderMapTypeValues.ResponseHeaders, item.action, item.value))
        increment(item.failedMetricId);
    }
    return FilterHeadersStatusValues.Continue;
  }
}

function render(action: Action): ArrayBuffer | null {
  const template = action.value;
  return template === null ? EMPTY : template.renderBytes(envoyRequest, budget);
}
