import { ConfigReader } from "../../../../assembly/config";
import {
  GLOBAL_FINGERPRINT,
  KeySource,
  Mode,
  Overflow,
  RateLimitConfig,
  parseConfig,
  policyItem,
} from "../config";
import { MISSING_FINGERPRINT, fingerprint } from "../keys";
import { SCALE } from "../bucket";
import { FakeRequest } from "../../../../assembly/__tests__/fake-request";

function config(json: string): RateLimitConfig {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode(json)))!;
  const result = parseConfig(reader, root, "inj-1");
  expect(reader.ok()).toBe(true, reader.ok() ? "" : reader.error!.toString());
  return result;
}

function errorOf(json: string): string {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode(json)));
  if (root !== null) parseConfig(reader, root, "inj-1");
  expect(reader.ok()).toBe(false);
  return reader.error!.toString();
}

function expectErrorContaining(json: string, fragment: string): void {
  const error = errorOf(json);
  expect(error.includes(fragment)).toBe(true, error);
}

const BUCKET = '"tokens_per_fill":100,"fill_interval_ms":1000,"max_tokens":50';

function ruleJson(key: string, extra: string = ""): string {
  return '{"rules":[{"name":"r","key":' + key + "," + BUCKET + extra + "}]}";
}

describe("rate-limiter configuration", () => {
  test("defaults: enforce, deny on CAS exhaustion, 16 retries, no quota headers", () => {
    const c = config(ruleJson('{"source":"global"}'));
    expect(c.mode).toBe(Mode.Enforce);
    expect(c.denyOnCasExhausted).toBe(true);
    expect(c.casMaxRetries).toBe(16);
    expect(c.quotaHeaders).toBe(false);
    expect(c.staleCas).toBe(false);
    const rule = c.rules[0];
    expect(rule.source).toBe(KeySource.Global);
    expect(rule.slots).toBe(1);
    expect(rule.probes).toBe(1);
    expect(rule.params.maxFp).toBe(50 * SCALE);
    expect(rule.keyPrefix).toBe("graft.rl/inj-1/r/");
    expect(rule.policy).toBe('"r";q=100;w=1');
  });

  test("every top-level option", () => {
    const c = config(
      '{"mode":"monitor","on_cas_exhausted":"allow","cas_max_retries":0,"quota_headers":true,"test_stale_cas":true,"rules":[]}',
    );
    expect(c.mode).toBe(Mode.Monitor);
    expect(c.denyOnCasExhausted).toBe(false);
    expect(c.casMaxRetries).toBe(0);
    expect(c.quotaHeaders).toBe(true);
    expect(c.staleCas).toBe(true);
  });

  test("keyed rules default to 1024 slots, 4 probes, share on overflow", () => {
    const rule = config(ruleJson('{"source":"header","name":"X-Api-Key"}')).rules[0];
    expect(rule.source).toBe(KeySource.Header);
    expect(rule.headerName).toBe("x-api-key");
    expect(rule.slots).toBe(1024);
    expect(rule.probes).toBe(4);
    expect(rule.overflow).toBe(Overflow.Share);
    const small = config(ruleJson('{"source":"client_address"}', ',"slots":2,"on_overflow":"deny"')).rules[0];
    expect(small.probes).toBe(2);
    expect(small.overflow).toBe(Overflow.Deny);
  });

  test("the policy item rounds the window up to whole seconds", () => {
    expect(policyItem("a", 10, 100)).toBe('"a";q=100;w=1');
    expect(policyItem("a", 5, 1500)).toBe('"a";q=6;w=2');
    expect(policyItem("a", 60, 60000)).toBe('"a";q=60;w=60');
  });
});

describe("rate-limiter matching and keys", () => {
  test("methods and a path prefix must both hold", () => {
    const rule = config(
      ruleJson('{"source":"global"}', ',"match":{"methods":["POST"],"path_prefix":"/api/"}'),
    ).rules[0];
    expect(rule.matches(new FakeRequest("POST", "/api/x?q"))).toBe(true);
    expect(rule.matches(new FakeRequest("GET", "/api/x"))).toBe(false);
    expect(rule.matches(new FakeRequest("POST", "/apix"))).toBe(false);
    expect(rule.matches(new FakeRequest("POST", "/x?/api/"))).toBe(false);
  });

  test("header keys; a missing header shares one bucket or skips the rule", () => {
    const shared = config(ruleJson('{"source":"header","name":"x-api-key"}')).rules[0];
    expect(shared.keyFingerprint(new FakeRequest("GET", "/").with("x-api-key", "alice"))).toBe(
      fingerprint("h:alice"),
    );
    expect(shared.keyFingerprint(new FakeRequest("GET", "/"))).toBe(MISSING_FINGERPRINT);
    const skip = config(ruleJson('{"source":"header","name":"x-api-key","missing":"skip"}')).rules[0];
    expect(skip.keyFingerprint(new FakeRequest("GET", "/"))).toBe(0);
  });

  test("client address keys drop the port", () => {
    const rule = config(ruleJson('{"source":"client_address"}')).rules[0];
    expect(rule.keyFingerprint(new FakeRequest("GET", "/").from("10.0.0.1:5555"))).toBe(
      fingerprint("a:10.0.0.1"),
    );
    expect(rule.keyFingerprint(new FakeRequest("GET", "/").from("10.0.0.1:6666"))).toBe(
      fingerprint("a:10.0.0.1"),
    );
    expect(rule.keyFingerprint(new FakeRequest("GET", "/").from(null))).toBe(MISSING_FINGERPRINT);
    const skip = config(ruleJson('{"source":"client_address","missing":"skip"}')).rules[0];
    expect(skip.keyFingerprint(new FakeRequest("GET", "/").from(null))).toBe(0);
  });

  test("path keys: whole path or leading segments", () => {
    const whole = config(ruleJson('{"source":"path"}')).rules[0];
    expect(whole.keyFingerprint(new FakeRequest("GET", "/a/b?c"))).toBe(fingerprint("p:/a/b"));
    const prefix = config(ruleJson('{"source":"path","segments":1}')).rules[0];
    expect(prefix.keyFingerprint(new FakeRequest("GET", "/a/b?c"))).toBe(fingerprint("p:/a"));
  });

  test("the global key has one fixed fingerprint", () => {
    const global = config(ruleJson('{"source":"global"}')).rules[0];
    expect(global.keyFingerprint(new FakeRequest("GET", "/x"))).toBe(GLOBAL_FINGERPRINT);
  });

  test("slot keys are the prefix and the slot number, UTF-8", () => {
    const rule = config(ruleJson('{"source":"path"}', ',"slots":5000')).rules[0];
    expect(String.UTF8.decode(rule.slotKey(7))).toBe("graft.rl/inj-1/r/7");
    expect(rule.slotKey(7)).toBe(rule.slotKey(7)); // cached
    expect(String.UTF8.decode(rule.slotKey(4999))).toBe("graft.rl/inj-1/r/4999"); // beyond the cache
  });
});

describe("rate-limiter configuration errors name the field", () => {
  test("rules are required", () => {
    expect(errorOf('{"mode":"enforce"}')).toBe("/rules: is required");
  });
  test("an unknown top-level field", () => {
    expectErrorContaining('{"rules":[],"modee":"x"}', "/modee: unknown field");
  });
  test("an unknown mode", () => {
    expectErrorContaining(
      '{"rules":[],"mode":"shadow"}',
      '/mode: expected one of enforce, monitor, got "shadow"',
    );
  });
  test("an unknown CAS policy", () => {
    expectErrorContaining(
      '{"rules":[],"on_cas_exhausted":"retry"}',
      "/on_cas_exhausted: expected one of deny, allow",
    );
  });
  test("too many CAS retries", () => {
    expectErrorContaining(
      '{"rules":[],"cas_max_retries":65}',
      "/cas_max_retries: expected a whole number from 0 to 64",
    );
  });
  test("a rule without a key", () => {
    expect(errorOf('{"rules":[{"name":"r",' + BUCKET + "}]}")).toBe("/rules/0/key: is required");
  });
  test("an unknown key source", () => {
    expectErrorContaining(
      ruleJson('{"source":"cookie"}'),
      "/rules/0/key/source: expected one of global, header, client_address, path",
    );
  });
  test("a header key without a name", () => {
    expect(errorOf(ruleJson('{"source":"header"}'))).toBe("/rules/0/key/name: is required");
  });
  test("a header key with an invalid name", () => {
    expectErrorContaining(
      ruleJson('{"source":"header","name":"a b"}'),
      '/rules/0/key/name: "a b" is not a valid header name',
    );
  });
  test("a field of another key source", () => {
    expectErrorContaining(ruleJson('{"source":"path","name":"x"}'), "/rules/0/key/name: unknown field");
  });
  test("zero tokens per fill", () => {
    expectErrorContaining(
      '{"rules":[{"name":"r","key":{"source":"global"},"tokens_per_fill":0,"fill_interval_ms":1000,"max_tokens":5}]}',
      "/rules/0/tokens_per_fill: expected a whole number from 1 to 1000000",
    );
  });
  test("a fractional fill interval", () => {
    expectErrorContaining(
      '{"rules":[{"name":"r","key":{"source":"global"},"tokens_per_fill":1,"fill_interval_ms":1.5,"max_tokens":5}]}',
      "/rules/0/fill_interval_ms: expected a whole number",
    );
  });
  test("a missing max_tokens", () => {
    expect(
      errorOf(
        '{"rules":[{"name":"r","key":{"source":"global"},"tokens_per_fill":1,"fill_interval_ms":1000}]}',
      ),
    ).toBe("/rules/0/max_tokens: is required");
  });
  test("slots on a global key", () => {
    expectErrorContaining(
      ruleJson('{"source":"global"}', ',"slots":8'),
      "/rules/0/key: a global key has one bucket",
    );
  });
  test("more probes than slots", () => {
    expect(errorOf(ruleJson('{"source":"path"}', ',"slots":2,"probes":3'))).toBe(
      "/rules/0/probes: must not exceed slots (2)",
    );
  });
  test("too many slots", () => {
    expectErrorContaining(
      ruleJson('{"source":"path"}', ',"slots":65537'),
      "/rules/0/slots: expected a whole number from 1 to 65536",
    );
  });
  test("too many slots in all rules together", () => {
    const rule = (name: string): string =>
      '{"name":"' + name + '","key":{"source":"path"},' + BUCKET + ',"slots":65536}';
    expect(errorOf('{"rules":[' + rule("a") + "," + rule("b") + "," + rule("c") + "]}")).toBe(
      "/rules/2/slots: all rules together may keep at most 131072 slots (shared data has no delete)",
    );
  });
  test("an unknown overflow policy", () => {
    expectErrorContaining(
      ruleJson('{"source":"path"}', ',"on_overflow":"evict"'),
      "/rules/0/on_overflow: expected one of share, deny, allow",
    );
  });
  test("a path prefix without a slash", () => {
    expect(errorOf(ruleJson('{"source":"global"}', ',"match":{"path_prefix":"api"}'))).toBe(
      "/rules/0/match/path_prefix: must start with /",
    );
  });
  test("an unknown method", () => {
    expectErrorContaining(
      ruleJson('{"source":"global"}', ',"match":{"methods":["FETCH"]}'),
      '/rules/0/match/methods/0: unknown method "FETCH"',
    );
  });
  test("duplicate rule names", () => {
    const rule = '{"name":"r","key":{"source":"global"},' + BUCKET + "}";
    expect(errorOf('{"rules":[' + rule + "," + rule + "]}")).toBe('/rules/1/name: duplicate rule name "r"');
  });
  test("a rule name unusable as a metric label", () => {
    expectErrorContaining(
      '{"rules":[{"name":"a b","key":{"source":"global"},' + BUCKET + "}]}",
      "/rules/0/name: must be 1-64 characters",
    );
  });
});
