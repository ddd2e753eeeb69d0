// header-rewrite's configuration and matching, free of host calls so as-pect can test it.
import { MAX_RULES } from "./contract.generated";
import { ConfigReader } from "../../../assembly/config";
import { JsonValue, JsonKind } from "../../../assembly/json";
import { RequestView } from "../../../assembly/request";

export { RequestView };

export const enum HeaderTest { Present, Absent, Equals }
export const enum Op { Set, Append, Remove }

export class HeaderMatch {
  constructor(public name: string, public test: HeaderTest, public value: string) {}

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

export class Template {
  kinds: i32[] = [];
  texts: string[] = [];

  render(view: RequestView): string {
    // Common case: a plain value, no lookups.
    if (this.kinds.length == 1 && this.kinds[0] == PART_LITERAL) return this.texts[0];
    let out = "";
    for (let i = 0; i < this.kinds.length; i++) {
      if (this.kinds[i] == PART_LITERAL) {
        out += this.texts[i];
      } else {
        const value = view.header(this.texts[i]);
        if (value !== null) out += value;
      }
    }
    return out;
  }
}

const HEADER_VARIABLE = "request.header.";

/** Parses a template; on a bad variable it records the error on `reader` at `path`. */
export function parseTemplate(source: string, reader: ConfigReader, path: string, filter: string, injection: string, rule: string): Template {
  const template = new Template();
  let literal = "";
  let i = 0;
  while (i < source.length) {
    if (source.charCodeAt(i) == 36 /* $ */ && i + 1 < source.length && source.charCodeAt(i + 1) == 123 /* { */) {
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
        template.texts.push(variable.substring(HEADER_VARIABLE.length).toLowerCase());
      } else {
        reader.fail(path, "unknown variable ${" + variable + "}; use ${injection_id}, ${filter}, ${rule} or ${request.header.<name>}");
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
  return template;
}

export class Action {
  constructor(public op: Op, public name: string, public value: Template | null) {}
}

/** A response action resolved at request time, applied when the response headers arrive. */
export class PendingAction {
  constructor(public op: Op, public name: string, public value: string, public failedMetricId: u32 = 0) {}
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
export function parseConfig(reader: ConfigReader, root: JsonValue, filter: string, injection: string): HeaderRewriteConfig {
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
  return config;
}

function parseRule(reader: ConfigReader, item: JsonValue, path: string, filter: string, injection: string): Rule {
  reader.onlyKeys(item, path, ["name", "match", "request", "response"]);
  const rule = new Rule(reader.identifier(item, path, "name", true));
  const match = reader.object(item, path, "match", false);
  if (match !== null) parseMatch(reader, match, path + "/match", rule);
  const request = reader.objects(item, path, "request", false);
  if (request !== null) rule.request = parseActions(reader, request, path + "/request", filter, injection, rule.name);
  const response = reader.objects(item, path, "response", false);
  if (response !== null) rule.response = parseActions(reader, response, path + "/response", filter, injection, rule.name);
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
      reader.fail(path + "/methods/" + i.toString(), "unknown method \"" + methods[i] + "\"; use one of " + METHODS.join(", "));
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
    if (hasExact) rule.pathExact = startsWithSlash(reader, at + "/exact", reader.string(pathMatch, at, "exact", true));
    if (hasPrefix) rule.pathPrefix = startsWithSlash(reader, at + "/prefix", reader.string(pathMatch, at, "prefix", true));
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
    if (forAction) reader.fail(path + "/name", "pseudo-headers (" + name + ") cannot be rewritten; header-rewrite changes regular headers only");
    else if (name != ":authority" && name != ":method" && name != ":path" && name != ":scheme") reader.fail(path + "/name", "unknown pseudo-header " + name);
  } else if (!isToken(name)) {
    reader.fail(path + "/name", "\"" + name + "\" is not a valid header name");
  }
  return name.toLowerCase();
}

function isToken(name: string): bool {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
    if (!ok) return false;
  }
  return true;
}

function parseActions(reader: ConfigReader, list: JsonValue[], path: string, filter: string, injection: string, rule: string): Action[] {
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
