// payload-validator's configuration (../schema.json), read with the SDK's ConfigReader: every
// refusal names the field by its JSON Pointer. Pure logic, tested by as-pect.
import { ConfigReader } from "../../../assembly/config";
import { JsonValue } from "../../../assembly/json";
import { lowerAscii } from "../../../assembly/request";
import { DENY_LOCATIONS, DenyRule, IN_BODY, IN_HEADER, IN_PATH } from "./deny";
import { JsonOptions, compileSchema } from "./schema";
import { MAX_BODY_BYTES, MAX_JSON_DEPTH, MAX_PATTERN_CHARS } from "./contract.generated";

/** Code points of `text`, as JSON Schema's maxLength counts them. */
function codePointCount(text: string): i32 {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xdc00 && unit <= 0xdfff && i > 0) {
      const before = text.charCodeAt(i - 1);
      if (before >= 0xd800 && before <= 0xdbff) n--;
    }
  }
  return n;
}

export const MODE_ENFORCE = "enforce";
export const MODE_MONITOR = "monitor";

const FIELDS: string[] = [
  "mode",
  "max_body_bytes",
  "content_types",
  "body_required_methods",
  "body_forbidden_methods",
  "json",
  "deny",
];
const JSON_FIELDS: string[] = ["schema", "max_depth", "reject_duplicate_keys", "forbidden_keys"];
const DENY_FIELDS: string[] = ["in", "name", "contains"];

export class PayloadConfig {
  monitor: bool = false;
  /** 0: no limit of the filter's own (Envoy's buffer limit still applies while the body is held). */
  maxBodyBytes: i64 = 0;
  /** Allowed media types, lowercase, without parameters; `type/*` allowed. Empty: see jsonTypesOnly. */
  contentTypes: string[] = [];
  /** No content_types given but `json` is: only JSON media types (application/json, …+json). */
  jsonTypesOnly: bool = false;
  bodyRequiredMethods: string[] = [];
  bodyForbiddenMethods: string[] = [];
  /** null: bodies are not parsed. */
  json: JsonOptions | null = null;
  headerRules: DenyRule[] = [];
  pathRules: DenyRule[] = [];
  queryRules: DenyRule[] = [];
  bodyRules: DenyRule[] = [];

  /** Whether any check looks at body bytes (then enforce mode holds the body until the verdict). */
  inspectsBody(): bool {
    return this.json !== null || this.bodyRules.length > 0 || this.maxBodyBytes > 0;
  }
}

function isTokenChar(c: i32): bool {
  // RFC 9110 tchar.
  if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return true;
  return "!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(c)) >= 0;
}

export function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/** `type/subtype` of tokens, lowercase. */
function isMediaType(s: string): bool {
  const slash = s.indexOf("/");
  return slash > 0 && isToken(s.substring(0, slash)) && isToken(s.substring(slash + 1)) && s == lowerAscii(s);
}

function methods(reader: ConfigReader, root: JsonValue, key: string): string[] {
  const list = reader.strings(root, "", key, false);
  for (let i = 0; i < list.length && reader.ok(); i++) {
    const method = list[i];
    let ok = method.length > 0 && method.length <= 32;
    for (let j = 0; j < method.length && ok; j++) {
      const c = method.charCodeAt(j);
      ok = c >= 65 && c <= 90;
    }
    if (!ok) reader.fail("/" + key + "/" + i.toString(), "expected an uppercase method name such as POST");
  }
  return list;
}

export function parseConfig(reader: ConfigReader, root: JsonValue): PayloadConfig {
  const config = new PayloadConfig();
  reader.onlyKeys(root, "", FIELDS);
  if (!reader.ok()) return config;
  config.monitor =
    reader.choice(root, "", "mode", false, [MODE_ENFORCE, MODE_MONITOR], MODE_ENFORCE) == MODE_MONITOR;
  config.maxBodyBytes = reader.integer(root, "", "max_body_bytes", false, 1, MAX_BODY_BYTES, 0);

  const types = reader.strings(root, "", "content_types", false);
  for (let i = 0; i < types.length && reader.ok(); i++) {
    if (!isMediaType(types[i])) {
      reader.fail(
        "/content_types/" + i.toString(),
        "expected a lowercase media type such as application/json, without parameters",
      );
    }
  }
  if (root.get("content_types") !== null && types.length == 0 && reader.ok()) {
    reader.fail("/content_types", "expected at least one media type (leave the field out to allow any)");
  }
  config.contentTypes = types;

  config.bodyRequiredMethods = methods(reader, root, "body_required_methods");
  config.bodyForbiddenMethods = methods(reader, root, "body_forbidden_methods");
  for (let i = 0; i < config.bodyForbiddenMethods.length && reader.ok(); i++) {
    if (config.bodyRequiredMethods.includes(config.bodyForbiddenMethods[i])) {
      reader.fail(
        "/body_forbidden_methods/" + i.toString(),
        config.bodyForbiddenMethods[i] + " is also in body_required_methods",
      );
    }
  }

  const json = reader.object(root, "", "json", false);
  if (json !== null && reader.ok()) {
    const options = new JsonOptions();
    reader.onlyKeys(json, "/json", JSON_FIELDS);
    if (reader.ok()) {
      options.maxDepth = <i32>reader.integer(json, "/json", "max_depth", false, 1, MAX_JSON_DEPTH, 32);
      options.rejectDuplicateKeys = reader.boolean(json, "/json", "reject_duplicate_keys", false, true);
      options.forbid(reader.strings(json, "/json", "forbidden_keys", false));
      const schema = json.get("schema");
      if (schema !== null && reader.ok()) options.schema = compileSchema(reader, schema, "/json/schema");
    }
    config.json = options;
    config.jsonTypesOnly = types.length == 0;
  }

  const deny = reader.objects(root, "", "deny", false);
  if (deny !== null) {
    for (let i = 0; i < deny.length && reader.ok(); i++) {
      const item = deny[i];
      const path = "/deny/" + i.toString();
      reader.onlyKeys(item, path, DENY_FIELDS);
      const where = DENY_LOCATIONS.indexOf(reader.choice(item, path, "in", true, DENY_LOCATIONS, "body"));
      const name = lowerAscii(reader.string(item, path, "name", false));
      const contains = reader.string(item, path, "contains", true);
      if (!reader.ok()) break;
      if (item.get("name") !== null && where != IN_HEADER) {
        reader.fail(path + "/name", "only header rules take a name");
      } else if (item.get("name") !== null && (!isToken(name) || name.length > 256)) {
        reader.fail(path + "/name", "expected a header name");
      } else if (contains.length == 0) {
        reader.fail(path + "/contains", "must not be empty");
      } else if (codePointCount(contains) > MAX_PATTERN_CHARS) {
        reader.fail(path + "/contains", "longer than " + MAX_PATTERN_CHARS.toString() + " characters");
      }
      if (!reader.ok()) break;
      const rule = new DenyRule(where, name, contains, i);
      if (where == IN_HEADER) config.headerRules.push(rule);
      else if (where == IN_BODY) config.bodyRules.push(rule);
      else if (where == IN_PATH) config.pathRules.push(rule);
      else config.queryRules.push(rule);
    }
  }
  if (config.json !== null) config.json!.deny = config.bodyRules;
  return config;
}
