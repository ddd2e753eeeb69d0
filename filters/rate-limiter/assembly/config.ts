// rate-limiter's configuration, rule matching and key extraction, free of host calls so as-pect
// can test it. Schema: ../schema.json; behaviour: ../README.md.
import {
  MAX_CAS_RETRIES,
  MAX_FILL_INTERVAL_MS,
  MAX_PATH_SEGMENTS,
  MAX_PROBES,
  MAX_RULES,
  MAX_SLOTS,
  MAX_TOKENS,
  MAX_TOTAL_SLOTS,
} from "./contract.generated";
import { ConfigReader, listText } from "../../../assembly/config";
import { unsignedDecimal } from "../../../assembly/text";
import { RequestView, lowerAscii } from "../../../assembly/request";
import { JsonValue } from "../../../assembly/json";
import { BucketParams, SlotCache } from "./bucket";
import {
  MISSING_FINGERPRINT,
  addressFingerprint,
  headerFingerprint,
  pathFingerprint,
  pathWithoutQuery,
  slotKeyPrefix,
} from "./keys";

export { RequestView };

export const enum KeySource {
  Global,
  Header,
  ClientAddress,
  Path,
}
/** The one key of a global rule. */
export const GLOBAL_FINGERPRINT: u64 = 1;
export const enum Overflow {
  Share,
  Deny,
  Allow,
}

export class Rule {
  methods: string[] = [];
  pathPrefix: string | null = null;
  source: KeySource = KeySource.Global;
  /** Header name (KeySource.Header). */
  headerName: string = "";
  /** Path segments kept (KeySource.Path); 0 = the whole path. */
  segments: i32 = 0;
  /** A request without the key skips the rule (true) or shares one bucket with the others that lack it. */
  skipMissing: bool = false;
  params: BucketParams = new BucketParams(1, 1000, 1);
  slots: i32 = 1;
  probes: i32 = 1;
  overflow: Overflow = Overflow.Share;
  /** `graft.rl/<injection>/<rule>/`: the slot number follows. */
  keyPrefix: string = "";
  /** Shared-data keys of the slots, UTF-8, made on first use (up to KEY_CACHE_SLOTS of them). */
  private slotKeys: Array<ArrayBuffer | null> = [];
  /** `RateLimit-Policy` item for this rule (`"name";q=…;w=…`). */
  policy: string = "";
  /** This VM's memory of the slots (the first KEY_CACHE_SLOTS of them), made on first use. */
  private slotCache: SlotCache | null = null;

  constructor(public name: string) {}

  matches(view: RequestView): bool {
    if (this.methods.length > 0 && !this.methods.includes(view.method())) return false;
    if (this.pathPrefix !== null && !pathWithoutQuery(view.path()).startsWith(this.pathPrefix!)) return false;
    return true;
  }

  /**
   * The fingerprint of the request's key for this rule (see keys.ts), or 0 when the rule does not
   * apply to it (key missing with `missing: skip`).
   */
  keyFingerprint(view: RequestView): u64 {
    switch (this.source) {
      case KeySource.Global:
        return GLOBAL_FINGERPRINT;
      case KeySource.Header: {
        const value = view.header(this.headerName);
        if (value !== null) return headerFingerprint(value);
        return this.skipMissing ? 0 : MISSING_FINGERPRINT;
      }
      case KeySource.ClientAddress: {
        const address = view.sourceAddressBytes();
        if (address !== null) return addressFingerprint(address);
        return this.skipMissing ? 0 : MISSING_FINGERPRINT;
      }
      default:
        return pathFingerprint(view.path(), this.segments);
    }
  }

  cache(): SlotCache {
    let cache = this.slotCache;
    if (cache === null) {
      cache = new SlotCache(min(this.slots, KEY_CACHE_SLOTS));
      this.slotCache = cache;
    }
    return cache;
  }

  /** The shared-data key of `slot`, as UTF-8 bytes. */
  slotKey(slot: i32): ArrayBuffer {
    if (slot >= KEY_CACHE_SLOTS) return String.UTF8.encode(this.keyPrefix + slot.toString());
    if (this.slotKeys.length == 0)
      this.slotKeys = new Array<ArrayBuffer | null>(min(this.slots, KEY_CACHE_SLOTS));
    let key = unchecked(this.slotKeys[slot]);
    if (key === null) {
      key = String.UTF8.encode(this.keyPrefix + slot.toString());
      unchecked((this.slotKeys[slot] = key));
    }
    return key;
  }
}

export const enum Mode {
  Enforce,
  Monitor,
}

export class RateLimitConfig {
  mode: Mode = Mode.Enforce;
  casMaxRetries: i32 = DEFAULT_CAS_RETRIES;
  denyOnCasExhausted: bool = true;
  quotaHeaders: bool = false;
  /** Test-only: every CAS write uses a stale CAS, so Envoy refuses it (exercises on_cas_exhausted). */
  staleCas: bool = false;
  rules: Rule[] = [];
}

export const DEFAULT_CAS_RETRIES: i32 = 16;
/** Slots whose encoded keys and last seen states a rule keeps (per VM): 4096 × ~60 bytes at most. */
export const KEY_CACHE_SLOTS: i32 = 4096;
export const DEFAULT_SLOTS: i32 = 1024;
export const DEFAULT_PROBES: i32 = 4;

const METHODS: string[] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
const TOP_KEYS: string[] = [
  "mode",
  "on_cas_exhausted",
  "cas_max_retries",
  "quota_headers",
  "rules",
  "test_stale_cas",
];
const RULE_KEYS: string[] = [
  "name",
  "match",
  "key",
  "tokens_per_fill",
  "fill_interval_ms",
  "max_tokens",
  "slots",
  "probes",
  "on_overflow",
];

/** Reads and checks the whole configuration; errors land on `reader` with their JSON Pointer. */
export function parseConfig(reader: ConfigReader, root: JsonValue, injection: string): RateLimitConfig {
  const config = new RateLimitConfig();
  reader.onlyKeys(root, "", TOP_KEYS);
  config.mode =
    reader.choice(root, "", "mode", false, ["enforce", "monitor"], "enforce") == "monitor"
      ? Mode.Monitor
      : Mode.Enforce;
  config.denyOnCasExhausted =
    reader.choice(root, "", "on_cas_exhausted", false, ["deny", "allow"], "deny") == "deny";
  config.casMaxRetries = <i32>(
    reader.integer(root, "", "cas_max_retries", false, 0, MAX_CAS_RETRIES, DEFAULT_CAS_RETRIES)
  );
  config.quotaHeaders = reader.boolean(root, "", "quota_headers", false, false);
  config.staleCas = reader.boolean(root, "", "test_stale_cas", false, false);
  const rules = reader.objects(root, "", "rules", true, MAX_RULES);
  if (rules === null || !reader.ok()) return config;
  const names = new Set<string>();
  let totalSlots = 0;
  for (let i = 0; i < rules.length && reader.ok(); i++) {
    const path = "/rules/" + i.toString();
    const rule = parseRule(reader, rules[i], path, injection);
    if (!reader.ok()) break;
    reader.unique(names, rule.name, path + "/name", "rule name");
    if (!reader.ok()) break;
    totalSlots += rule.slots;
    if (totalSlots > MAX_TOTAL_SLOTS) {
      reader.fail(
        path + "/slots",
        "all rules together may keep at most " +
          MAX_TOTAL_SLOTS.toString() +
          " slots (shared data has no delete)",
      );
      break;
    }
    config.rules.push(rule);
  }
  return config;
}

function parseRule(reader: ConfigReader, item: JsonValue, path: string, injection: string): Rule {
  reader.onlyKeys(item, path, RULE_KEYS);
  const rule = new Rule(reader.identifier(item, path, "name", true));
  const match = reader.object(item, path, "match", false);
  if (match !== null) parseMatch(reader, match, path + "/match", rule);
  const key = reader.object(item, path, "key", true);
  if (key !== null) parseKey(reader, key, path + "/key", rule);
  const tokensPerFill = reader.integer(item, path, "tokens_per_fill", true, 1, MAX_TOKENS);
  const fillIntervalMs = reader.integer(item, path, "fill_interval_ms", true, 1, MAX_FILL_INTERVAL_MS);
  const maxTokens = reader.integer(item, path, "max_tokens", true, 1, MAX_TOKENS);
  const global = rule.source == KeySource.Global;
  rule.slots = <i32>reader.integer(item, path, "slots", false, 1, MAX_SLOTS, global ? 1 : DEFAULT_SLOTS);
  rule.probes = <i32>(
    reader.integer(item, path, "probes", false, 1, MAX_PROBES, <i64>min(DEFAULT_PROBES, rule.slots))
  );
  const overflow = reader.choice(item, path, "on_overflow", false, ["share", "deny", "allow"], "share");
  if (!reader.ok()) return rule;
  if (
    global &&
    (item.get("slots") !== null || item.get("probes") !== null || item.get("on_overflow") !== null)
  ) {
    reader.fail(path + "/key", "a global key has one bucket: slots, probes and on_overflow do not apply");
    return rule;
  }
  if (rule.probes > rule.slots) {
    reader.fail(path + "/probes", "must not exceed slots (" + rule.slots.toString() + ")");
    return rule;
  }
  rule.overflow = overflow == "deny" ? Overflow.Deny : overflow == "allow" ? Overflow.Allow : Overflow.Share;
  rule.params = new BucketParams(<u64>tokensPerFill, <u64>fillIntervalMs, <u64>maxTokens);
  rule.keyPrefix = slotKeyPrefix(injection, rule.name);
  rule.policy = policyItem(rule.name, <u64>tokensPerFill, <u64>fillIntervalMs);
  return rule;
}

function parseMatch(reader: ConfigReader, match: JsonValue, path: string, rule: Rule): void {
  reader.onlyKeys(match, path, ["methods", "path_prefix"]);
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
  if (match.get("path_prefix") !== null) {
    const prefix = reader.string(match, path, "path_prefix", true);
    if (reader.ok() && !prefix.startsWith("/")) reader.fail(path + "/path_prefix", "must start with /");
    rule.pathPrefix = prefix;
  }
}

function parseKey(reader: ConfigReader, key: JsonValue, path: string, rule: Rule): void {
  const source = reader.choice(key, path, "source", true, ["global", "header", "client_address", "path"], "");
  if (!reader.ok()) return;
  if (source == "global") {
    reader.onlyKeys(key, path, ["source"]);
    rule.source = KeySource.Global;
  } else if (source == "header") {
    reader.onlyKeys(key, path, ["source", "name", "missing"]);
    rule.source = KeySource.Header;
    const name = reader.string(key, path, "name", true);
    if (reader.ok() && !isToken(name))
      reader.fail(path + "/name", '"' + name + '" is not a valid header name');
    rule.headerName = lowerAscii(name);
    rule.skipMissing = reader.choice(key, path, "missing", false, ["shared", "skip"], "shared") == "skip";
  } else if (source == "client_address") {
    reader.onlyKeys(key, path, ["source", "missing"]);
    rule.source = KeySource.ClientAddress;
    rule.skipMissing = reader.choice(key, path, "missing", false, ["shared", "skip"], "shared") == "skip";
  } else {
    reader.onlyKeys(key, path, ["source", "segments"]);
    rule.source = KeySource.Path;
    rule.segments = <i32>reader.integer(key, path, "segments", false, 1, MAX_PATH_SEGMENTS, 0);
  }
}

function isToken(name: string): bool {
  if (name.length == 0) return false;
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

/**
 * The `RateLimit-Policy` item of a rule: quota `q` per window `w` (whole seconds, as the IETF
 * draft requires). The window is the fill interval rounded up to a second; the quota is what the
 * fill rate adds in it, rounded down: 10 per 100 ms → q=100;w=1, 5 per 1500 ms → q=6;w=2.
 */
export function policyItem(name: string, tokensPerFill: u64, fillIntervalMs: u64): string {
  const window = (fillIntervalMs + 999) / 1000;
  const quota = (tokensPerFill * window * 1000) / fillIntervalMs;
  return '"' + name + '";q=' + unsignedDecimal(quota) + ";w=" + unsignedDecimal(window);
}
