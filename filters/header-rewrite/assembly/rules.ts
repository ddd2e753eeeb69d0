// header-rewrite's configuration and matching, free of host calls so as-pect can test it.
import { MAX_RENDERED_BYTES, MAX_RULES } from "./contract.generated";
import { ConfigReader, listText } from "../../../assembly/config";
import { JsonValue } from "../../../assembly/json";
import { RequestView, lowerAscii } from "../../../assembly/request";

export { RequestView };

export const enum HeaderTest {
  Present,
  Absent,
  Equals,
}
export const enum Op {
  Set,
  Append,
  Remove,
}

export class HeaderMatch {
  constructor(
    public name: string,
    public test: HeaderTest,
    public value: string,
  ) {}

  matches(view: RequestView): bool {
    const actual = view.header(this.name);
    if (this.test == HeaderTest.Present) return actual !== null;
    if (this.test == HeaderTest.Absent) return actual === null;
    return actual !== null && actual == this.value;
  }
}

// A header value template: literal text with ${injection_id}, ${filter}, ${rule} and
// ${request.header.<name>} (empty when the header is absent). Parsed once, at configure time.
const PART_LITERAL: i32 = 0;
const PART_HEADER: i32 = 1;

/**
 * What one request may render: at most MAX_RENDERED_BYTES (UTF-8) of header values over all its
 * actions, and each quoted request header read from the host once (as the UTF-8 bytes the host
 * gives: values are never decoded). One instance per worker, reset as each request starts.
 */
export class RenderBudget {
  remaining: i32 = MAX_RENDERED_BYTES;
  private names: string[] = [];
  private values: (ArrayBuffer | null)[] = [];
  reset(): void {
    this.remaining = MAX_RENDERED_BYTES;
    if (this.names.length > 0) {
      this.names.length = 0;
      this.values.length = 0;
    }
  }
  /** The quoted header's index here, read once per request; `encoded` is its name in UTF-8. */
  quote(view: RequestView, name: string, encoded: ArrayBuffer | null = null): i32 {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (unchecked(names[i]) == name) return i;
    names.push(name);
    this.values.push(view.headerBytes(name, encoded));
    return names.length - 1;
  }
  /** The quoted header's value as UTF-8, or null when absent. */
  value(index: i32): ArrayBuffer | null {
    return this.values[index];
  }
  /** The quoted header's size in bytes (0 when absent). */
  size(index: i32): i32 {
    const value = this.values[index];
    return value === null ? 0 : value.byteLength;
  }
}

// Where renderBytes() keeps each part's quote index: one buffer for the worker, grown as needed.
let quoteScratch = new StaticArray<i32>(8);

export class Template {
  kinds: i32[] = [];
  texts: string[] = [];
  /** Each part's text in UTF-8: a literal's value, a quoted header's name. */
  bytes: ArrayBuffer[] = [];
  /** UTF-8 bytes of the literal parts. */
  literalBytes: i32 = 0;

  /** Encodes the parts once, when the template is parsed. */
  seal(): void {
    this.bytes = new Array<ArrayBuffer>(this.texts.length);
    for (let k = 0; k < this.texts.length; k++) {
      const encoded = String.UTF8.encode(this.texts[k]);
      this.bytes[k] = encoded;
      if (this.kinds[k] == PART_LITERAL) this.literalBytes += encoded.byteLength;
    }
  }

  /**
   * The value for this request in UTF-8, or null when it would take the request's rendered bytes
   * past MAX_RENDERED_BYTES (then nothing is built and the budget is unchanged).
   */
  renderBytes(view: RequestView, budget: RenderBudget): ArrayBuffer | null {
    const kinds = this.kinds;
    const count = kinds.length;
    // Common case: a plain value, no lookups, no copy.
    if (count == 1 && unchecked(kinds[0]) == PART_LITERAL) {
      if (this.literalBytes > budget.remaining) return null;
      budget.remaining -= this.literalBytes;
      return unchecked(this.bytes[0]);
    }
    // Size first, so an oversized value is never built.
    let size = this.literalBytes;
    if (quoteScratch.length < count) quoteScratch = new StaticArray<i32>(count);
    const quotes = quoteScratch;
    for (let i = 0; i < count; i++) {
      if (unchecked(kinds[i]) == PART_HEADER) {
        const index = budget.quote(view, unchecked(this.texts[i]), unchecked(this.bytes[i]));
        quotes[i] = index;
        size += budget.size(index);
        if (size > budget.remaining) return null;
      }
    }
    budget.remaining -= size;
    const out = new ArrayBuffer(size);
    let at = changetype<usize>(out);
    for (let i = 0; i < count; i++) {
      let part: ArrayBuffer | null;
      if (unchecked(kinds[i]) == PART_LITERAL) part = unchecked(this.bytes[i]);
      else part = budget.value(unchecked(quotes[i]));
      if (part === null) continue;
      memory.copy(at, changetype<usize>(part), <usize>part.byteLength);
      at += <usize>part.byteLength;
    }
    return out;
  }

  /** renderBytes() as a string (tests, logs). */
  render(view: RequestView, budget: RenderBudget): string | null {
    const bytes = this.renderBytes(view, budget);
    return bytes === null ? null : String.UTF8.decode(bytes);
  }
}

const HEADER_VARIABLE = "request.header.";

/** Parses a template; on a bad variable it records the error on `reader` at `path`. */
export function parseTemplate(
  source: string,
  reader: ConfigReader,
  path: string,
  filter: string,
  injection: string,
  rule: string,
): Template {
  const template = new Template();
  let literal = "";
  let i = 0;
  while (i < source.length) {
    if (
      source.charCodeAt(i) == 36 /* $ */ &&
      i + 1 < source.length &&
      source.charCodeAt(i + 1) == 123 /* { */
    ) {
      const end = source.indexOf("}", i + 2);
      if (end < 0) {
        reader.fail(path, "unclosed ${ at character " + i.toString());
        return template;
      }
      const variable = source.substring(i + 2, end);
      if (variable == "injection_id") literal += injection;
      else if (variable == "filter") literal += filter;
      else if (variable == "rule") literal += rule;
      else if (variable.startsWith(HEADER_VARIABLE) && variable.length > HEADER_VARIABLE.length) {
        if (literal.length > 0) {
          template.kinds.push(PART_LITERAL);
          template.texts.push(literal);
          literal = "";
        }
        template.kinds.push(PART_HEADER);
        template.texts.push(lowerAscii(variable.substring(HEADER_VARIABLE.length)));
      } else {
        reader.fail(
          path,
          "unknown variable ${" +
            variable +
            "}; use ${injection_id}, ${filter}, ${rule} or ${request.header.<name>}",
        );
        return template;
      }
      i = end + 1;
    } else {
      literal += source.charAt(i);
      i++;
    }
  }
  if (literal.length > 0 || template.kinds.length == 0) {
    template.kinds.push(PART_LITERAL);
    template.texts.push(literal);
  }
  template.seal();
  return template;
}

export class Action {
  /** The name in UTF-8, encoded once. */
  nameBytes: ArrayBuffer;
  constructor(
    public op: Op,
    public name: string,
    public value: Template | null,
  ) {
    this.nameBytes = String.UTF8.encode(name);
  }
}

/** A response action resolved at request time, applied when the response headers arrive. */
export class PendingAction {
  constructor(
    public action: Action,
    public value: ArrayBuffer,
    public failedMetricId: u32 = 0,
  ) {}
}

export class Rule {
  methods: string[] = [];
  pathExact: string | null = null;
  pathPrefix: string | null = null;
  headers: HeaderMatch[] = [];
  request: Action[] = [];
  response: Action[] = [];
  /** Metric ids of this rule's counters; set when the configuration becomes active. */
  metricId: u32 = 0;
  failedMetricId: u32 = 0;

  constructor(public name: string) {}

  matches(view: RequestView): bool {
    if (this.methods.length > 0 && !this.methods.includes(view.method())) return false;
    if (this.pathExact !== null || this.pathPrefix !== null) {
      const path = pathWithoutQuery(view.path());
      if (this.pathExact !== null && path != this.pathExact!) return false;
      if (this.pathPrefix !== null && !path.startsWith(this.pathPrefix!)) return false;
    }
    for (let i = 0; i < this.headers.length; i++) {
      if (!this.headers[i].matches(view)) return false;
    }
    return true;
  }
}

export class HeaderRewriteConfig {
  rules: Rule[] = [];
}

export function pathWithoutQuery(path: string): string {
  const query = path.indexOf("?");
  return query < 0 ? path : path.substring(0, query);
}

const METHODS: string[] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/** Reads and checks the whole configuration; errors land on `reader` with their JSON Pointer. */
export function parseConfig(
  reader: ConfigReader,
  root: JsonValue,
  filter: string,
  injection: string,
): HeaderRewriteConfig {
  const config = new HeaderRewriteConfig();
  reader.onlyKeys(root, "", ["rules"]);
  const rules = reader.objects(root, "", "rules", true, MAX_RULES);
  if (rules === null) return config;
  const names = new Set<string>();
  for (let i = 0; i < rules.length && reader.ok(); i++) {
    const path = "/rules/" + i.toString();
    const rule = parseRule(reader, rules[i], path, filter, injection);
    if (!reader.ok()) break;
    reader.unique(names, rule.name, path + "/name", "rule name");
    config.rules.push(rule);
  }
  if (reader.ok()) checkRenderedBytes(reader, config);
  return config;
}

/**
 * A request renders at most MAX_RENDERED_BYTES of header values. Quoted headers are the client's
 * (their share is checked per request), but literal text is rendered by every request that matches
 * the rules: rules whose literal text alone passes the cap could never apply in full, so they are
 * refused here, naming the value that passes it.
 */
function checkRenderedBytes(reader: ConfigReader, config: HeaderRewriteConfig): void {
  let total: i32 = 0;
  for (let i = 0; i < config.rules.length; i++) {
    const rule = config.rules[i];
    for (let side = 0; side < 2; side++) {
      const actions = side == 0 ? rule.request : rule.response;
      for (let j = 0; j < actions.length; j++) {
        const template = actions[j].value;
        if (template === null) continue;
        total += template.literalBytes;
        if (total > MAX_RENDERED_BYTES) {
          const at =
            "/rules/" + i.toString() + (side == 0 ? "/request/" : "/response/") + j.toString() + "/value";
          reader.fail(
            at,
            "the rules' values render " +
              total.toString() +
              " bytes of literal text per request, over the limit of " +
              MAX_RENDERED_BYTES.toString() +
              " (max_rendered_bytes); shorten the values or split the rules across injections",
          );
          return;
        }
      }
    }
  }
}

function parseRule(
  reader: ConfigReader,
  item: JsonValue,
  path: string,
  filter: string,
  injection: string,
): Rule {
  reader.onlyKeys(item, path, ["name", "match", "request", "response"]);
  const rule = new Rule(reader.identifier(item, path, "name", true));
  const match = reader.object(item, path, "match", false);
  if (match !== null) parseMatch(reader, match, path + "/match", rule);
  const request = reader.objects(item, path, "request", false);
  if (request !== null)
    rule.request = parseActions(reader, request, path + "/request", filter, injection, rule.name);
  const response = reader.objects(item, path, "response", false);
  if (response !== null)
    rule.response = parseActions(reader, response, path + "/response", filter, injection, rule.name);
  if (reader.ok() && rule.request.length == 0 && rule.response.length == 0) {
    reader.fail(path, "a rule needs at least one request or response action");
  }
  return rule;
}

function parseMatch(reader: ConfigReader, match: JsonValue, path: string, rule: Rule): void {
  reader.onlyKeys(match, path, ["methods", "path", "headers"]);
  const methods = reader.strings(match, path, "methods", false);
  for (let i = 0; i < methods.length && reader.ok(); i++) {
    if (!METHODS.includes(methods[i])) {
      reader.fail(
        path + "/methods/" + i.toString(),
        'unknown method "' + methods[i] + '"; use one of ' + listText(METHODS),
      );
    }
  }
  rule.methods = methods;
  const pathMatch = reader.object(match, path, "path", false);
  if (pathMatch !== null) {
    const at = path + "/path";
    reader.onlyKeys(pathMatch, at, ["exact", "prefix"]);
    const hasExact = pathMatch.get("exact") !== null;
    const hasPrefix = pathMatch.get("prefix") !== null;
    if (reader.ok() && hasExact == hasPrefix) reader.fail(at, "give exactly one of exact, prefix");
    if (hasExact)
      rule.pathExact = startsWithSlash(reader, at + "/exact", reader.string(pathMatch, at, "exact", true));
    if (hasPrefix)
      rule.pathPrefix = startsWithSlash(reader, at + "/prefix", reader.string(pathMatch, at, "prefix", true));
  }
  const headers = reader.objects(match, path, "headers", false);
  if (headers === null) return;
  for (let i = 0; i < headers.length && reader.ok(); i++) {
    const at = path + "/headers/" + i.toString();
    const entry = headers[i];
    reader.onlyKeys(entry, at, ["name", "present", "equals"]);
    const name = headerName(reader, entry, at, false);
    const hasPresent = entry.get("present") !== null;
    const hasEquals = entry.get("equals") !== null;
    if (reader.ok() && hasPresent == hasEquals) {
      reader.fail(at, "give exactly one of present (true/false), equals (a value)");
      return;
    }
    if (hasPresent) {
      const present = reader.boolean(entry, at, "present", true);
      rule.headers.push(new HeaderMatch(name, present ? HeaderTest.Present : HeaderTest.Absent, ""));
    } else {
      rule.headers.push(new HeaderMatch(name, HeaderTest.Equals, reader.string(entry, at, "equals", true)));
    }
  }
}

function startsWithSlash(reader: ConfigReader, path: string, value: string): string {
  if (reader.ok() && !value.startsWith("/")) reader.fail(path, "must start with /");
  return value;
}

/** A header name: an HTTP token, stored lowercase. Matches may test pseudo-headers; actions may not. */
function headerName(reader: ConfigReader, object: JsonValue, path: string, forAction: bool): string {
  const name = reader.string(object, path, "name", true);
  if (!reader.ok()) return name;
  if (name.length == 0) {
    reader.fail(path + "/name", "must not be empty");
  } else if (name.charCodeAt(0) == 58 /* : */) {
    if (forAction)
      reader.fail(
        path + "/name",
        "pseudo-headers (" + name + ") cannot be rewritten; header-rewrite changes regular headers only",
      );
    else if (name != ":authority" && name != ":method" && name != ":path" && name != ":scheme")
      reader.fail(path + "/name", "unknown pseudo-header " + name);
  } else if (!isToken(name)) {
    reader.fail(path + "/name", '"' + name + '" is not a valid header name');
  }
  return lowerAscii(name);
}

function isToken(name: string): bool {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok =
      (c >= 48 && c <= 57) ||
      (c >= 65 && c <= 90) ||
      (c >= 97 && c <= 122) ||
      "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
    if (!ok) return false;
  }
  return true;
}

function parseActions(
  reader: ConfigReader,
  list: JsonValue[],
  path: string,
  filter: string,
  injection: string,
  rule: string,
): Action[] {
  const actions: Action[] = [];
  for (let i = 0; i < list.length && reader.ok(); i++) {
    const at = path + "/" + i.toString();
    const entry = list[i];
    const op = reader.choice(entry, at, "op", true, ["set", "append", "remove"], "");
    if (!reader.ok()) break;
    if (op == "remove") {
      reader.onlyKeys(entry, at, ["op", "name"]);
      actions.push(new Action(Op.Remove, headerName(reader, entry, at, true), null));
    } else {
      reader.onlyKeys(entry, at, ["op", "name", "value"]);
      const name = headerName(reader, entry, at, true);
      const source = reader.string(entry, at, "value", true);
      if (!reader.ok()) break;
      const template = parseTemplate(source, reader, at + "/value", filter, injection, rule);
      actions.push(new Action(op == "set" ? Op.Set : Op.Append, name, template));
    }
  }
  return actions;
}
