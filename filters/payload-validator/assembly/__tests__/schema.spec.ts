import { ConfigReader } from "../../../../assembly/config";
import { JsonBodyValidator } from "../schema";
import { Verdict } from "../problem";
import { configOf } from "./config-of";

/** The verdict for `body` under `schema` (JSON text), fed in chunks of `chunk` bytes; null = valid. */
function validate(schema: string, body: string, chunk: i32 = 0, options: string = ""): Verdict | null {
  const config = configOf(
    '{"json":{' + options + (options.length > 0 ? "," : "") + '"schema":' + schema + "}}",
  );
  const validator = new JsonBodyValidator(config.json!);
  const bytes = Uint8Array.wrap(String.UTF8.encode(body));
  const step = chunk > 0 ? chunk : bytes.length;
  for (let i = 0; i < bytes.length; i += step) {
    if (!validator.feed(bytes.subarray(i, min(bytes.length, i + step)))) return validator.verdict;
  }
  if (!validator.finish()) return validator.verdict;
  return null;
}

function passes(schema: string, body: string): void {
  const verdict = validate(schema, body);
  expect(verdict).toBeNull(verdict === null ? "" : schema + " " + body + " → " + verdict.toString());
  // The same, one byte at a time.
  expect(validate(schema, body, 1)).toBeNull();
}

function fails(schema: string, body: string, reason: string, detail: string): void {
  const verdict = validate(schema, body);
  expect(verdict).not.toBeNull(schema + " " + body + " should fail");
  expect(verdict!.reason).toBe(reason, verdict!.toString());
  expect(verdict!.detail).toBe(detail);
  const split = validate(schema, body, 1);
  expect(split!.detail).toBe(detail, "one byte at a time");
}

describe("schema keywords", () => {
  test("type, with integer apart from number", () => {
    passes('{"type":"object"}', "{}");
    fails('{"type":"object"}', "[]", "schema", "/: expected object, got array");
    passes('{"type":"integer"}', "3");
    passes('{"type":"integer"}', "3.0");
    fails('{"type":"integer"}', "3.5", "schema", "/: expected integer, got number");
    passes('{"type":"number"}', "3");
    fails('{"type":"number"}', '"3"', "schema", "/: expected number, got string");
    passes('{"type":["string","null"]}', "null");
    fails('{"type":["string","null"]}', "true", "schema", "/: expected null or string, got boolean");
    passes('{"type":"boolean"}', "false");
    passes('{"type":"array"}', "[1]");
  });

  test("properties, nested, with the path of the offending value", () => {
    const schema =
      '{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"price":{"type":"number"}}}}}}';
    passes(schema, '{"items":[{"price":1},{"price":2.5}]}');
    fails(
      schema,
      '{"items":[{"price":1},{},{"price":3},{"price":"4"}]}',
      "schema",
      "/items/3/price: expected number, got string",
    );
  });

  test("required", () => {
    const schema =
      '{"type":"object","required":["id","name"],"properties":{"sub":{"type":"object","required":["x"]}}}';
    passes(schema, '{"name":"a","id":1}');
    fails(schema, '{"id":1}', "schema", '/: missing required property "name"');
    fails(schema, '{"id":1,"name":"n","sub":{}}', "schema", '/sub: missing required property "x"');
  });

  test("additionalProperties false", () => {
    const schema = '{"properties":{"a":{}},"additionalProperties":false}';
    passes(schema, '{"a":[1,{"b":2}]}');
    fails(schema, '{"a":1,"b":2}', "schema", "/b: property not allowed");
  });

  test("property names of every length are told apart, byte for byte", () => {
    // Names of up to 8 bytes are compared by length and one word, longer ones byte for byte too:
    // each pair here differs in one byte only (first, middle or last), or in length only.
    const names = [
      "",
      "a",
      "b",
      "ab",
      "ac",
      "abc",
      "axc",
      "abcd",
      "abce",
      "abcdefgh",
      "abcdxfgh",
      "abcdefghi",
    ];
    const more = [
      "abcdexghi",
      "abcdefghj",
      "0123456789abcdefX",
      "0123456789abcdefY",
      "0123456X89abcdefX",
      "01234567Z9abcdefX",
      "é",
      "è",
    ];
    const all = names.concat(more);
    // All the names in one schema (a hash table), and a few at a time (a list).
    for (let from = -1; from < all.length; from += 3) {
      const start = max(from, 0);
      const end = from < 0 ? all.length : min(all.length, from + 8);
      let properties = "";
      for (let i = start; i < end; i++) {
        properties += (i > start ? "," : "") + '"' + all[i] + '":{"const":' + i.toString() + "}";
      }
      const schema = '{"properties":{' + properties + '},"additionalProperties":false}';
      for (let i = start; i < end; i++) {
        passes(schema, '{"' + all[i] + '":' + i.toString() + "}");
        const wrong = '{"' + all[i] + '":' + (i + 1).toString() + "}";
        fails(schema, wrong, "schema", "/" + all[i] + ": not the constant value");
      }
      fails(schema, '{"abcdefghk":1}', "schema", "/abcdefghk: property not allowed");
      fails(schema, '{"abcdy":1}', "schema", "/abcdy: property not allowed");
    }
    const few =
      '{"properties":{"abcdefgh":{"type":"string"},"abcdefghij":{"type":"string"}},"additionalProperties":false}';
    passes(few, '{"abcdefgh":"x","abcdefghij":"y"}');
    fails(few, '{"abcdefgi":"x"}', "schema", "/abcdefgi: property not allowed");
    fails(few, '{"abcdefghiJ":"x"}', "schema", "/abcdefghiJ: property not allowed");
    fails(few, '{"abcdefgh":1}', "schema", "/abcdefgh: expected string, got integer");
  });

  test("items", () => {
    passes('{"items":{"type":"string"}}', '["a","b"]');
    fails('{"items":{"type":"string"}}', '["a",2]', "schema", "/1: expected string, got integer");
  });

  test("enum and const", () => {
    passes('{"enum":["a",1,true,null]}', "1.0");
    passes('{"enum":["a",1,true,null]}', "null");
    fails('{"enum":["a",1,true,null]}', '"b"', "schema", "/: not one of the allowed values");
    fails('{"enum":["a"]}', "{}", "schema", "/: not one of the allowed values");
    passes('{"const":"v1"}', '"v1"');
    fails('{"properties":{"v":{"const":"v1"}}}', '{"v":"v2"}', "schema", "/v: not the constant value");
  });

  test("minLength and maxLength count code points", () => {
    passes('{"minLength":2,"maxLength":3}', '"ab"');
    passes('{"maxLength":2}', '"\\ud83d\\ude00é"');
    fails('{"minLength":2}', '"a"', "schema", "/: shorter than 2 characters");
    fails('{"maxLength":3}', '"abcd"', "schema", "/: longer than 3 characters");
    fails('{"minLength":2}', '"\\ud83d\\ude00"', "schema", "/: shorter than 2 characters");
  });

  test("minimum, maximum and the exclusive bounds", () => {
    passes('{"minimum":1,"maximum":2}', "1");
    passes('{"minimum":1,"maximum":2}', "2");
    fails('{"minimum":1}', "0.5", "schema", "/: less than minimum 1");
    fails('{"maximum":2}', "3", "schema", "/: greater than maximum 2");
    passes('{"exclusiveMinimum":0,"exclusiveMaximum":1}', "0.5");
    fails('{"exclusiveMinimum":0}', "0", "schema", "/: not greater than exclusiveMinimum 0");
    fails('{"exclusiveMaximum":1}', "1", "schema", "/: not less than exclusiveMaximum 1");
  });

  test("minItems and maxItems (maxItems fails as soon as one item too many starts)", () => {
    passes('{"minItems":1,"maxItems":2}', "[1,2]");
    fails('{"minItems":1}', "[]", "schema", "/: fewer than 1 items");
    fails('{"maxItems":2}', "[1,2,3", "schema", "/: more than 2 items");
  });

  test("maxProperties and minProperties", () => {
    passes('{"maxProperties":1}', '{"a":1}');
    fails(
      '{"properties":{"o":{"maxProperties":1}}}',
      '{"o":{"a":1,"b":2}}',
      "schema",
      "/o: more than 1 properties",
    );
    fails('{"minProperties":1}', "{}", "schema", "/: fewer than 1 properties");
  });

  test("true and false schemas", () => {
    passes('{"properties":{"a":true}}', '{"a":[1]}');
    fails('{"properties":{"a":false}}', '{"a":1}', "schema", "/a: no value is allowed here");
  });
});

describe("JSON options", () => {
  test("syntax errors are invalid_json with the path and byte offset", () => {
    const verdict = validate("true", '{"a":[1,}');
    expect(verdict!.reason).toBe("invalid_json");
    expect(verdict!.detail).toBe("/a/1: unexpected character at byte 8");
    expect(validate("true", '{"a":1')!.detail).toBe("/a: unexpected end of input at byte 6");
  });

  test("max_depth", () => {
    expect(validate("true", "[[[1]]]", 0, '"max_depth":3')).toBeNull();
    const verdict = validate("true", "[[[[1]]]]", 0, '"max_depth":3');
    expect(verdict!.reason).toBe("invalid_json");
    expect(verdict!.detail).toBe("/0/0/0: nesting deeper than the limit at byte 3");
  });

  test("duplicate keys are refused unless allowed", () => {
    expect(validate("true", '{"a":1,"a":2}')!.detail).toBe("/a: duplicate key at byte 9");
    expect(validate("true", '{"a":1,"a":2}', 0, '"reject_duplicate_keys":false')).toBeNull();
  });

  test("with duplicate keys allowed, properties are counted by name and every occurrence is checked", () => {
    const allow = '"reject_duplicate_keys":false';
    // {"a":1,"a":2} has one property, as JSON.parse sees it.
    expect(validate('{"minProperties":2}', '{"a":1,"a":2}', 0, allow)!.detail).toBe(
      "/: fewer than 2 properties",
    );
    expect(validate('{"maxProperties":1}', '{"a":1,"a":2,"a":3}', 0, allow)).toBeNull();
    expect(validate('{"maxProperties":1}', '{"a":1,"a":2,"b":3}', 1, allow)!.detail).toBe(
      "/: more than 1 properties",
    );
    // Many repeats switch the parser's key scan to a set; the count must not change.
    let many = '{"k0":0';
    for (let i = 1; i < 40; i++) many += ',"k' + (i % 3).toString() + '":' + i.toString();
    expect(validate('{"maxProperties":3}', many + "}", 0, allow)).toBeNull();
    expect(validate('{"minProperties":4}', many + "}", 7, allow)!.detail).toBe("/: fewer than 4 properties");
    // A backend may keep the first or the last occurrence: each must satisfy the schema.
    const schema = '{"properties":{"a":{"type":"integer"}}}';
    expect(validate(schema, '{"a":"x","a":1}', 0, allow)!.detail).toBe("/a: expected integer, got string");
    expect(validate(schema, '{"a":1,"a":"x"}', 0, allow)!.detail).toBe("/a: expected integer, got string");
    expect(validate(schema, '{"a":1,"a":2}', 3, allow)).toBeNull();
  });

  test("forbidden keys, at any depth and however they are escaped", () => {
    const long = "k".repeat(70);
    const longer = "k".repeat(71);
    const options = '"forbidden_keys":["__proto__","constructor","","' + long + '"]';
    expect(validate("true", '{"' + longer + '":1,"constructos":2}', 0, options)).toBeNull();
    expect(validate("true", '{"' + long + '":1}', 0, options)!.detail).toBe(
      "…" + "k".repeat(31) + ": forbidden key",
    );
    expect(validate("true", '{"a":{"":1}}', 0, options)!.detail).toBe("/a/: forbidden key");
    expect(validate("true", '{"constructor":1}', 0, options)!.detail).toBe("/constructor: forbidden key");
    expect(validate("true", '{"a":{"__Proto__":1}}', 0, options)).toBeNull();
    const verdict = validate("true", '{"a":[{"\\u005f_proto__":{}}]}', 0, options);
    expect(verdict!.reason).toBe("schema");
    expect(verdict!.detail).toBe("/a/0/__proto__: forbidden key");
  });

  test("a long pointer is cut to its last 32 characters", () => {
    const key = "k".repeat(100);
    const verdict = validate('{"additionalProperties":false}', '{"' + key + '":1}');
    expect(verdict!.detail).toBe("…" + "k".repeat(31) + ": property not allowed");
  });
});

function run(validator: JsonBodyValidator, body: string): Verdict | null {
  if (!validator.feed(Uint8Array.wrap(String.UTF8.encode(body)))) return validator.verdict;
  return validator.finish() ? null : validator.verdict;
}

describe("body validators reused across requests", () => {
  test("a validator handed back after a refusal mid-document checks the next body afresh", () => {
    const config = configOf(
      '{"json":{"max_depth":4,"schema":{"type":"object","required":["id"],"properties":{"id":{"type":"integer"},"items":{"type":"array","maxItems":2}}}}}',
    );
    const json = config.json!;
    const first = json.validator();
    expect(run(first, '{"items":[1,2,{"x":[[')!.detail).toBe("/items: more than 2 items");
    json.recycle(first);
    const second = json.validator();
    expect(second).toBe(first, "the spare validator is reused");
    expect(run(second, '{"id":7,"items":[{"a":{"b":1}}]}')).toBeNull();
    json.recycle(second);
    const third = json.validator();
    expect(run(third, '{"items":[]}')!.detail).toBe('/: missing required property "id"');
    json.recycle(third);
    expect(run(json.validator(), '{"id":1,"id":2}')!.detail).toBe("/id: duplicate key at byte 11");
  });

  test("a validator whose buffers grew for a huge body is not kept for the next request", () => {
    const config = configOf('{"json":{"schema":true}}');
    const json = config.json!;
    const big = json.validator();
    // The escape makes the parser assemble the string in its buffer (a plain one is read in place).
    expect(run(big, '{"k":"\\t' + "x".repeat(40000) + '"}')).toBeNull();
    json.recycle(big);
    const next = json.validator();
    expect(next == big).toBe(false, "a 40 KB string's buffer must not stay pinned in the pool");
    expect(run(next, '{"k":"small"}')).toBeNull();
    json.recycle(next);
    expect(json.validator() == next).toBe(true, "a small one is reused");
  });
});

/** A schema nesting `levels` objects through `properties`, inside {"json":{"schema":…}}. */
function nested(levels: i32): string {
  let schema = '{"type":"object"}';
  for (let i = 0; i < levels; i++) schema = '{"properties":{"a":' + schema + "}}";
  return '{"json":{"schema":' + schema + "}}";
}

describe("configuration limits", () => {
  test("a schema nests 30 levels; one more is refused at configure time, naming where", () => {
    configOf(nested(30));
    const reader = new ConfigReader();
    reader.parse(Uint8Array.wrap(String.UTF8.encode(nested(31))));
    expect(reader.ok()).toBe(false);
    const message = reader.error!.toString();
    expect(message.includes("nesting deeper than the limit")).toBe(true, message);
  });
});
