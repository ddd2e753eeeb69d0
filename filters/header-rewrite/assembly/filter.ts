// header-rewrite's filter: root context (configuration, metrics) and stream context (rewrites).
import {
  GraftRootContext,
  GraftStream,
  ConfigReader,
  FilterMetrics,
  JsonValue,
  EnvoyRequest,
  FilterHeadersStatusValues,
  HeaderMapTypeValues,
  setHeader,
  appendHeader,
  removeHeader,
  increment,
  TAG_RULE,
} from "../../../assembly";
import { FILTER, METRIC_REQUESTS_TOTAL, METRIC_REWRITE_FAILED_TOTAL, METRIC_RULE_APPLIED_TOTAL } from "./contract.generated";
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
  }

  createContext(context_id: u32): HeaderRewriteStream {
    return new HeaderRewriteStream(context_id, this);
  }
}

const envoyRequest = new EnvoyRequest();
// The request's rendering budget (MAX_RENDERED_BYTES) and its quoted headers, read once each.
const budget = new RenderBudget();

/** Applies one action; false when Envoy refused the change (counted as the rule's failure). */
function apply(map: HeaderMapTypeValues, op: Op, name: string, value: string): bool {
  if (op == Op.Set) return setHeader(map, name, value);
  if (op == Op.Append) return appendHeader(map, name, value);
  removeHeader(map, name); // removing an absent header is not a failure
  return true;
}

export class HeaderRewriteStream extends GraftStream<HeaderRewriteRoot> {
  pending: PendingAction[] = [];

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const root = this.root;
    envoyRequest.reset();
    budget.reset();
    increment(root.requestsMetric);
    const rules = root.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!rule.matches(envoyRequest)) continue;
      // Response values are rendered now: they may quote request headers.
      // An action whose value would pass the request's rendering budget is not applied: it
      // counts as the rule's failure, as a write Envoy refuses does.
      for (let j = 0; j < rule.response.length; j++) {
        const action = rule.response[j];
        const value = render(action);
        if (value === null) increment(rule.failedMetricId);
        else this.pending.push(new PendingAction(action.op, action.name, value, rule.failedMetricId));
      }
      for (let j = 0; j < rule.request.length; j++) {
        const action = rule.request[j];
        const value = render(action);
        if (value === null || !apply(HeaderMapTypeValues.RequestHeaders, action.op, action.name, value)) increment(rule.failedMetricId);
      }
      increment(rule.metricId);
    }
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    for (let i = 0; i < this.pending.length; i++) {
      const action = this.pending[i];
      if (!apply(HeaderMapTypeValues.ResponseHeaders, action.op, action.name, action.value)) increment(action.failedMetricId);
    }
    return FilterHeadersStatusValues.Continue;
  }
}

function render(action: Action): string | null {
  const template = action.value;
  return template === null ? "" : template.render(envoyRequest, budget);
}
