import { ConfigReader } from "../../../../assembly/config";
import { RequestCheck, mediaType, parseContentLength } from "../check";
import { DenyRule, IN_BODY, StreamMatcher, containsBytes, lowerBytes, percentDecode } from "../deny";
import { Verdict, excerpt } from "../problem";
import { PayloadConfig, parseConfig } from "../settings";
import { FakeRequest } from "../../../../assembly/__tests__/fake-request";
import { configOf } from "./config-of";

function errorOf(json: string): string {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode(json)));
  if (root !== null) parseConfig(reader, root);
  expect(reader.ok()).toBe(false, json + " should be refused");
  return reader.error!.toString();
}

function json(body: string): FakeRequest {
  return new FakeRequest("POST", "/orders").with("content-type", "application/json");
}

/** Runs a whole request: headers, the body in chunks of `chunk` bytes, end. */
function run(config: PayloadConfig, request: FakeRequest, body: string, chunk: i32 = 0): Verdict | null {
  const check = new RequestCheck(config);
  const bytes = Uint8Array.wrap(String.UTF8.encode(body));
  let verdict = check.headers(request, bytes.length == 0);
  if (verdict !== null) return verdict;
  const step = chunk > 0 ? chunk : max(1, bytes.length);
  for (let i = 0; i < bytes.length; i += step) {
    verdict = check.bodyChunk(bytes.subarray(i, min(bytes.length, i + step)));
    if (verdict !== null) return verdict;
  }
  return check.end();
}

function reasonOf(verdict: Verdict | null): string {
  return verdict === null ? "pass" : verdict.reason;
}

function bytesOf(text: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(text));
}

describe("deny rules", () => {
  test("a pattern is found at every offset of a long text, in any ASCII case; near misses are not", () => {
    const patterns = ["${jndi:", "select", "x"];
    for (let p = 0; p < patterns.length; p++) {
      const needle = lowerBytes(bytesOf(patterns[p]));
      const upper = patterns[p].toUpperCase();
      for (let at = 0; at < 40; at++) {
        const before = "-".repeat(at);
        const after = "-".repeat(40 - at);
        expect(containsBytes(bytesOf(before + patterns[p] + after), needle)).toBe(
          true,
          patterns[p] + " at " + at.toString(),
        );
        expect(containsBytes(bytesOf(before + upper + after), needle)).toBe(
          true,
          upper + " at " + at.toString(),
        );
        // The pattern cut short at the very end.
        expect(
          containsBytes(bytesOf(before + patterns[p].substring(0, patterns[p].length - 1)), needle),
        ).toBe(false);
      }
    }
    // '$' is no letter: 0x04 (which '$' | 0x20 would also match) must not count.
    expect(containsBytes(bytesOf("\u0004{jndi:" + "-".repeat(30)), lowerBytes(bytesOf("${jndi:")))).toBe(
      false,
    );
    expect(containsBytes(bytesOf("-".repeat(30) + "sElEcT"), lowerBytes(bytesOf("select")))).toBe(true);
  });

  test("a body pattern split across chunks at every position is found", () => {
    const rule = new DenyRule(IN_BODY, "", "${jndi:", 0);
    const body = '{"user":"x${JNDI:ldap://evil/a}"}';
    for (let chunk = 1; chunk <= body.length; chunk++) {
      const matcher = new StreamMatcher([rule]);
      const bytes = Uint8Array.wrap(String.UTF8.encode(body));
      let found = false;
      for (let i = 0; i < bytes.length && !found; i += chunk) {
        const part = bytes.subarray(i, min(bytes.length, i + chunk));
        found = matcher.feed(part.dataStart, part.length) !== null;
      }
      expect(found).toBe(true, "chunks of " + chunk.toString());
    }
  });

  test("a pattern spread over more chunks than the tail holds is still found; near misses are not", () => {
    const matcher = new StreamMatcher([
      new DenyRule(IN_BODY, "", "abcdef", 0),
      new DenyRule(IN_BODY, "", "xy", 1),
    ]);
    const parts = ["..a", "b", "c", "d", "e"];
    for (let i = 0; i < parts.length; i++) {
      const b = Uint8Array.wrap(String.UTF8.encode(parts[i]));
      expect(matcher.feed(b.dataStart, b.length)).toBeNull();
    }
    const f = Uint8Array.wrap(String.UTF8.encode("F!"));
    expect(matcher.feed(f.dataStart, f.length)!.index).toBe(0);
    const other = new StreamMatcher([new DenyRule(IN_BODY, "", "abc", 0)]);
    const miss = Uint8Array.wrap(String.UTF8.encode("ab-c abd"));
    expect(other.feed(miss.dataStart, miss.length)).toBeNull();
  });

  test("percent-decoding, with '+' only in the query", () => {
    expect(
      String.UTF8.decode(
        percentDecode(Uint8Array.wrap(String.UTF8.encode("a%24%7bb+c")), true)!.slice().buffer,
      ),
    ).toBe("a${b c");
    expect(percentDecode(Uint8Array.wrap(String.UTF8.encode("plain")), false)).toBeNull();
  });

  test("header (every value of a repeated header), path and query rules, case-insensitive", () => {
    const config = configOf(
      '{"deny":[{"in":"header","name":"User-Agent","contains":"${jndi:"},{"in":"header","contains":"<script"},{"in":"path","contains":"/../"},{"in":"query","contains":"union select"}]}',
    );
    expect(
      reasonOf(
        run(
          config,
          new FakeRequest("GET", "/").with("user-agent", "curl").with("user-agent", "x${JnDi:ldap"),
          "",
        ),
      ),
    ).toBe("denied");
    const any = run(config, new FakeRequest("GET", "/").with("x-other", "<SCRIPT>"), "");
    expect(any!.detail).toBe("header matches deny rule 1");
    expect(reasonOf(run(config, new FakeRequest("GET", "/a/%2e%2e/b"), ""))).toBe("denied");
    expect(run(config, new FakeRequest("GET", "/a/..b/c").with("x", "/../"), "")).toBeNull();
    expect(reasonOf(run(config, new FakeRequest("GET", "/a%2F..%2Fb"), ""))).toBe("denied");
    expect(reasonOf(run(config, new FakeRequest("GET", "/a/..%252F/b"), ""))).toBe("denied");
    expect(reasonOf(run(config, new FakeRequest("GET", "/s?q=1+UNION+Select+2"), ""))).toBe("denied");
    expect(run(config, new FakeRequest("GET", "/union select/x?q=1"), "")).toBeNull();
    expect(run(config, new FakeRequest("GET", "/?user-agent=${jndi:"), "")).toBeNull();
  });

  test("body rules also see JSON strings after unescaping", () => {
    const config = configOf('{"json":{},"deny":[{"in":"body","contains":"${jndi:"}]}');
    const verdict = run(config, json(""), '{"a":["\\u0024{jndi:x"]}');
    expect(verdict!.reason).toBe("denied");
    expect(verdict!.detail).toBe("/a/0: body matches deny rule 0");
    expect(reasonOf(run(config, json(""), '{"a":"${JNDI:x"}', 3))).toBe("denied");
    expect(run(config, json(""), '{"a":"$ {jndi:"}', 3)).toBeNull();
  });
});

describe("request checks", () => {
  test("max_body_bytes: content-length at the headers, or the running size", () => {
    const config = configOf('{"max_body_bytes":10}');
    expect(run(config, json(""), "0123456789")).toBeNull();
    const big = run(config, json("").with("content-length", "11"), "01234567890");
    expect(big!.detail).toBe("content-length 11 exceeds the limit of 10 bytes");
    const check = new RequestCheck(config);
    expect(check.headers(json(""), false)).toBeNull();
    expect(check.bodyChunk(Uint8Array.wrap(String.UTF8.encode("012345")))).toBeNull();
    const verdict = check.bodyChunk(Uint8Array.wrap(String.UTF8.encode("6789X")));
    expect(verdict!.reason).toBe("body_too_large");
    expect(verdict!.status()).toBe(413);
  });

  test("content types: media type without parameters, case-insensitive, type/* wildcards", () => {
    const config = configOf('{"content_types":["application/json","text/*"]}');
    expect(
      run(config, new FakeRequest("POST", "/").with("content-type", "Application/JSON; charset=utf-8"), "{}"),
    ).toBeNull();
    expect(run(config, new FakeRequest("POST", "/").with("content-type", "text/csv"), "a,b")).toBeNull();
    const xml = run(config, new FakeRequest("POST", "/").with("content-type", "application/xml"), "<a/>");
    expect(xml!.reason).toBe("unsupported_media_type");
    expect(xml!.detail).toBe("content-type application/xml is not allowed");
    expect(run(config, new FakeRequest("POST", "/"), "x")!.detail).toBe("content-type is missing");
    expect(run(config, new FakeRequest("GET", "/"), "")).toBeNull();
    expect(mediaType(" A/B ;q=1")).toBe("a/b");
  });

  test("json without content_types allows JSON media types only, and validates +json too", () => {
    const config = configOf('{"json":{"schema":{"type":"object"}}}');
    expect(reasonOf(run(config, new FakeRequest("POST", "/").with("content-type", "text/plain"), "{}"))).toBe(
      "unsupported_media_type",
    );
    expect(
      reasonOf(
        run(config, new FakeRequest("POST", "/").with("content-type", "application/merge-patch+json"), "[]"),
      ),
    ).toBe("schema");
    expect(reasonOf(run(config, json(""), "{} x"))).toBe("invalid_json");
    expect(run(config, json(""), "")).toBeNull();
  });

  test("an allowed non-JSON type is not parsed as JSON", () => {
    const config = configOf('{"content_types":["application/json","text/plain"],"json":{}}');
    expect(
      run(config, new FakeRequest("POST", "/").with("content-type", "text/plain"), "not json"),
    ).toBeNull();
    expect(reasonOf(run(config, json(""), "not json"))).toBe("invalid_json");
  });

  test("body_required_methods and body_forbidden_methods", () => {
    const config = configOf('{"body_required_methods":["POST"],"body_forbidden_methods":["GET"]}');
    const missing = run(config, new FakeRequest("POST", "/"), "");
    expect(missing!.reason).toBe("body_required");
    expect(missing!.detail).toBe("POST requires a request body");
    expect(reasonOf(run(config, new FakeRequest("POST", "/").with("content-length", "0"), ""))).toBe(
      "body_required",
    );
    // Chunked with no bytes: decided at the end.
    const check = new RequestCheck(config);
    expect(check.headers(new FakeRequest("POST", "/"), false)).toBeNull();
    expect(check.end()!.reason).toBe("body_required");
    expect(run(config, new FakeRequest("GET", "/"), "")).toBeNull();
    expect(reasonOf(run(config, new FakeRequest("GET", "/").with("content-length", "2"), "{}"))).toBe(
      "body_forbidden",
    );
    expect(reasonOf(run(config, new FakeRequest("GET", "/"), "x"))).toBe("body_forbidden");
    expect(run(config, new FakeRequest("PUT", "/"), "")).toBeNull();
  });

  test("content-length parsing", () => {
    expect(parseContentLength("42")).toBe(42);
    expect(parseContentLength(null)).toBe(-1);
    expect(parseContentLength("4 2")).toBe(-1);
  });

  test("problem+json bodies escape and shorten client input", () => {
    const verdict = new Verdict("schema", '/a"b: expected number');
    expect(verdict.problemJson()).toBe(
      '{"type":"https://graft.dev/problems/schema","title":"Request body does not match the schema","status":422,"reason":"schema","detail":"/a\\"b: expected number"}',
    );
    expect(excerpt("x".repeat(40))).toBe("x".repeat(31) + "…");
    // A surrogate pair is never split.
    expect(excerpt("x".repeat(30) + "\ud83d\ude00" + "y".repeat(10))).toBe("x".repeat(30) + "…");
  });
});

describe("configuration errors name the field", () => {
  test("each refusal", () => {
    expect(errorOf('{"mode":"audit"}')).toBe('/mode: expected one of enforce, monitor, got "audit"');
    expect(errorOf('{"max_body_bytes":0}')).toBe(
      "/max_body_bytes: expected a whole number from 1 to 1073741824",
    );
    expect(errorOf('{"content_types":["application/json; charset=utf-8"]}')).toBe(
      "/content_types/0: expected a lowercase media type such as application/json, without parameters",
    );
    expect(errorOf('{"body_required_methods":["post"]}')).toBe(
      "/body_required_methods/0: expected an uppercase method name such as POST",
    );
    expect(errorOf('{"body_required_methods":["PUT"],"body_forbidden_methods":["GET","PUT"]}')).toBe(
      "/body_forbidden_methods/1: PUT is also in body_required_methods",
    );
    expect(errorOf('{"json":{"max_depth":0}}')).toBe(
      "/json/max_depth: expected a whole number from 1 to 1024",
    );
    expect(
      errorOf('{"json":{"schema":{"properties":{"a":{"type":"float"}}}}}').startsWith(
        '/json/schema/properties/a/type: unknown type "float"',
      ),
    ).toBe(true);
    expect(
      errorOf('{"json":{"schema":{"items":{"pattern":"^a"}}}}').startsWith(
        "/json/schema/items/pattern: unsupported schema keyword",
      ),
    ).toBe(true);
    expect(errorOf('{"json":{"schema":{"enum":[{"a":1}]}}}')).toBe(
      "/json/schema/enum/0: only strings, numbers, booleans and null are supported",
    );
    expect(errorOf('{"json":{"schema":{"required":["a","a"]}}}')).toBe(
      '/json/schema/required/1: "a" is listed twice',
    );
    expect(errorOf('{"json":{"schema":{"minLength":3,"maxLength":2}}}')).toBe(
      "/json/schema/minLength: greater than maxLength",
    );
    expect(errorOf('{"json":{"schema":{"additionalProperties":{}}}}')).toBe(
      "/json/schema/additionalProperties: expected a boolean (schemas are not supported here)",
    );
    expect(errorOf('{"json":{"schema":{"maxItems":-1}}}')).toBe(
      "/json/schema/maxItems: expected a whole number from 0 to 2147483647",
    );
    expect(errorOf('{"json":{"schema":5}}')).toBe(
      "/json/schema: expected a schema (an object or a boolean), got a number",
    );
    expect(errorOf('{"json":{"strict":true}}').startsWith("/json/strict: unknown field")).toBe(true);
    expect(errorOf('{"deny":[{"in":"cookie","contains":"x"}]}')).toBe(
      '/deny/0/in: expected one of header, path, query, body, got "cookie"',
    );
    expect(errorOf('{"deny":[{"in":"body","name":"x","contains":"x"}]}')).toBe(
      "/deny/0/name: only header rules take a name",
    );
    expect(errorOf('{"deny":[{"in":"query","contains":""}]}')).toBe("/deny/0/contains: must not be empty");
    expect(errorOf('{"deny":[{"in":"header"}]}')).toBe("/deny/0/contains: is required");
    expect(errorOf('{"maxbody":1}').startsWith("/maxbody: unknown field")).toBe(true);
  });
});
