// header-rewrite's filter: root context (configuration, metrics) and stream context (rewrites).
import { Context, FilterHeadersStatusValues, HeaderMapTypeValues } from "@solo-io/proxy-runtime/assembly";
import { GraftRootContext, ConfigReader, FilterMetrics, JsonValue, EnvoyRequest, setHeader, appendHeader, removeHeader, increment, TAG_RULE } from "../../../assembly";
import { Action, HeaderRewriteConfig, Op, PendingAction, parseConfig } from "./rules";

export const FILTER = "header-rewrite";

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
      config.rules[i].metricId = metrics.counter("rule_applied_total", TAG_RULE, config.rules[i].name);
    }
    this.requestsMetric = metrics.counter("requests_total");
    this.config = config;
  }

  createContext(context_id: u32): Context {
    return new HeaderRewriteStream(context_id, this);
  }
}

const envoyRequest = new EnvoyRequest();

function apply(map: HeaderMapTypeValues, op: Op, name: string, value: string): void {
  if (op == Op.Set) setHeader(map, name, value);
  else if (op == Op.Append) appendHeader(map, name, value);
  else removeHeader(map, name);
}

export class HeaderRewriteStream extends Context {
  pending: PendingAction[] = [];

  constructor(context_id: u32, root: HeaderRewriteRoot) {
    super(context_id, root);
  }

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const root = this.root_context as HeaderRewriteRoot;
    envoyRequest.reset();
    increment(root.requestsMetric);
    const rules = root.config.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!rule.matches(envoyRequest)) continue;
      // Response values are rendered now: they may quote request headers.
      for (let j = 0; j < rule.response.length; j++) {
        const action = rule.response[j];
        this.pending.push(new PendingAction(action.op, action.name, render(action)));
      }
      for (let j = 0; j < rule.request.length; j++) {
        const action = rule.request[j];
        apply(HeaderMapTypeValues.RequestHeaders, action.op, action.name, render(action));
      }
      increment(rule.metricId);
    }
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    for (let i = 0; i < this.pending.length; i++) {
      const action = this.pending[i];
      apply(HeaderMapTypeValues.ResponseHeaders, action.op, action.name, action.value);
    }
    return FilterHeadersStatusValues.Continue;
  }
}

function render(action: Action): string {
  const template = action.value;
  return template === null ? "" : template.render(envoyRequest);
}
