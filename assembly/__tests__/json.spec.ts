import {
  JsonKind,
  JsonLimits,
  JsonHandler,
  JsonStreamParser,
  parseJson,
  parseJsonString,
  jsonEscape,
  pointerToken,
  utf8Text,
  numberValue,
  wholeNumberOf,
  NOT_WHOLE,
} from "../json";

function expectContains(actual: string, fragment: string): void {
  expect(actual.includes(fragment)).toBe(true, actual);
}

function errorOf(text: string, limits: JsonLimits = new JsonLimits()): string {
  const result = parseJsonString(text, limits);
  expect(result.ok()).toBe(false, text);
  return result.error!.toString();
}

class Recorder extends JsonHandler {
  events: string[] = [];
  onStartObject(): bool {
    this.events.push("{");
    return true;
  }
  onEndObject(): bool {
    this.events.push("}");
    return true;
  }
  onStartArray(): bool {
    this.events.push("[");
    return true;
  }
  onEndArray(): bool {
    this.events.push("]");
    return true;
  }
  onKey(ptr: usize, length: i32, escaped: bool): bool {
    this.events.push("k:" + utf8Text(ptr, length) + (escaped ? "(escaped)" : ""));
    return true;
  }
  onString(ptr: usize, length: i32, escaped: bool): bool {
    this.events.push("s:" + utf8Text(ptr, length) + (escaped ? "(escaped)" : ""));
    return true;
  }
  onNumber(ptr: usize, length: i32): bool {
    this.events.push("n:" + utf8Text(ptr, length) + "=" + numberValue(ptr, length).toString());
    return true;
  }
  onBool(value: bool): bool {
    this.events.push(value ? "true" : "false");
    return true;
  }
  onNull(): bool {
    this.events.push("null");
    return true;
  }
}

function eventsOf(text: string, chunk: i32, limits: JsonLimits = new JsonLimits()): string {
  const bytes = Uint8Array.wrap(String.UTF8.encode(text));
  const recorder = new Recorder();
  const parser = new JsonStreamParser<Recorder>(recorder, limits);
  let ok = true;
  for (let at = 0; ok && at < bytes.length; at += chunk)
    ok = parser.feed(bytes.subarray(at, min(at + chunk, bytes.length)));
  ok = ok && parser.finish();
  return (ok ? "ok " : "error ") + recorder.events.join(" ");
}

describe("JSON values", () => {
  test("every kind, in document order", () => {
    const root = parseJsonString('{"a":1.5,"b":[true,false,null],"c":"x","d":{}}').value!;
    expect(root.kind).toBe(JsonKind.Object);
    expect(root.keys.join(",")).toBe("a,b,c,d");
    expect(root.get("a")!.number()).toBe(1.5);
    expect(root.get("a")!.str).toBe("1.5");
    expect(root.get("b")!.items.length).toBe(3);
    expect(root.get("b")!.items[0].bool).toBe(true);
    expect(root.get("b")!.items[2].kind).toBe(JsonKind.Null);
    expect(root.get("c")!.str).toBe("x");
    expect(root.get("d")!.kind).toBe(JsonKind.Object);
    expect(root.get("missing")).toBeNull();
  });

  test("escapes and surrogate pairs decode to the right characters", () => {
    const value = parseJsonString('"a\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00"').value!;
    expect(value.str).toBe('a"b\\c/d\n\té😀');
  });

  test("numbers: integers, fractions, exponents, negative zero", () => {
    const items = parseJsonString("[0,-0,12,-34,1.25,1e3,2E-2,123456789012345678]").value!.items;
    expect(items[0].number()).toBe(0);
    expect(items[2].number()).toBe(12);
    expect(items[3].number()).toBe(-34);
    expect(items[4].number()).toBe(1.25);
    expect(items[5].number()).toBe(1000);
    expect(items[6].number()).toBe(0.02);
    expect(items[7].number()).toBe(123456789012345680);
  });
});

describe("whole numbers read exactly from the text", () => {
  test("integers, fractions and exponents that make whole numbers", () => {
    const texts = ["0", "-0", "12", "-34", "1e3", "1.2e1", "1200e-2", "100.00", "0.5e1", "1E+2", "-7.0"];
    const values: i64[] = [0, 0, 12, -34, 1000, 12, 12, 100, 5, 100, -7];
    for (let i = 0; i < texts.length; i++) expect(wholeNumberOf(texts[i])).toBe(values[i], texts[i]);
  });
  test("fractions, and magnitudes beyond 10^18, are not whole", () => {
    const texts = ["0.5", "1.25", "1e-1", "1205e-2", "1e-400", "1e18", "1000000000000000000", "1e99999999"];
    for (let i = 0; i < texts.length; i++) expect(wholeNumberOf(texts[i])).toBe(NOT_WHOLE, texts[i]);
    expect(wholeNumberOf("999999999999999999")).toBe(999999999999999999);
    expect(wholeNumberOf("-9.99999999999999999e17")).toBe(-999999999999999999);
    expect(wholeNumberOf("0.000000000000000000000000000001e30")).toBe(1);
  });
});

describe("JSON numbers read without parseFloat", () => {
  test("decimal fractions are correctly rounded, as parseFloat reads them", () => {
    const samples = [
      "0.1",
      "0.2",
      "0.3",
      "9.99",
      "-1.5",
      "123.456",
      "0.000001",
      "3.14159265358979",
      "99999999999999.9",
      "-0.0",
      "1.7976931348623",
      "0.1000000000000000",
    ];
    for (let i = 0; i < samples.length; i++) {
      const value = parseJsonString(samples[i]).value!.number();
      expect(value).toBe(parseFloat(samples[i]), samples[i]);
    }
  });
});

describe("JSON errors carry the JSON Pointer and byte offset", () => {
  test("a wrong value inside nested members", () => {
    expect(errorOf('{"items":[{"price":1},{"price":x}]}')).toBe(
      "/items/1/price: unexpected character at byte 31",
    );
  });
  test("trailing commas and garbage", () => {
    expect(errorOf("[1,]")).toBe("/1: unexpected character at byte 3");
    expect(errorOf("{} x")).toBe("/: unexpected data after the JSON value at byte 3");
    expect(errorOf('{"a":1,}')).toBe("/: unexpected character at byte 7");
  });
  test("truncated input", () => {
    expect(errorOf('{"a":[1,2')).toBe("/a/1: unexpected end of input at byte 9");
    expect(errorOf('"abc')).toBe("/: unexpected end of input at byte 4");
  });
  test("leading zeros and bare signs", () => {
    expectContains(errorOf("01"), "unexpected data after the JSON value");
    expectContains(errorOf("-"), "invalid number");
    expectContains(errorOf("1."), "invalid number");
  });
  test("control characters, bad escapes, lone surrogates", () => {
    expectContains(errorOf('"a\tb"'), "control character in string");
    expectContains(errorOf('"\\x"'), "invalid escape");
    expectContains(errorOf('"\\ud800"'), "invalid surrogate escape");
    expectContains(errorOf('"\\udc00"'), "invalid surrogate escape");
  });
  test("invalid UTF-8: overlong, encoded surrogate, truncated", () => {
    const overlong = new Uint8Array(4);
    overlong[0] = 0x22;
    overlong[1] = 0xc0;
    overlong[2] = 0xaf;
    overlong[3] = 0x22;
    expect(parseJson(overlong).error!.message).toBe("invalid UTF-8");
    const surrogate = new Uint8Array(5);
    surrogate[0] = 0x22;
    surrogate[1] = 0xed;
    surrogate[2] = 0xa0;
    surrogate[3] = 0x80;
    surrogate[4] = 0x22;
    expect(parseJson(surrogate).error!.message).toBe("invalid UTF-8");
  });
  test("a number longer than 256 characters: refused at its 257th character, however it is chunked", () => {
    const text = '{"n":-' + "1".repeat(300) + "}";
    const bytes = Uint8Array.wrap(String.UTF8.encode(text));
    for (let chunk = 1; chunk <= bytes.length; chunk = chunk < 8 ? chunk + 1 : chunk * 3) {
      const parser = new JsonStreamParser<Recorder>(new Recorder());
      let ok = true;
      for (let i = 0; ok && i < bytes.length; i += chunk)
        ok = parser.feed(bytes.subarray(i, min(bytes.length, i + chunk)));
      if (ok) ok = parser.finish();
      expect(ok).toBe(false);
      // The token starts at byte 5 ("-" included), so its 257th character is byte 261.
      expect(parser.error!.toString()).toBe(
        "/n: number longer than the limit at byte 261",
        "chunk " + chunk.toString(),
      );
    }
  });
  test("a number that overflows a double", () => {
    expectContains(errorOf("[1e999]"), "number out of range");
    // 309 digits without an exponent, in one chunk and byte by byte: 2^1024 - 2^970 is the first
    // integer that rounds to Infinity, one less is the largest double.
    const midpoint =
      "1797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070" +
      "9633028641669288791094655554785194040263065748867150582068190890200070838367627385484581771153176447" +
      "5730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904" +
      "174497792";
    const long = new JsonLimits();
    long.maxNumberChars = 400;
    expectContains(errorOf("[" + midpoint + "]", long), "/0: number out of range at byte 310");
    const below = midpoint.substring(0, 308) + "1";
    expect(parseJsonString("[" + below + "]", long).ok()).toBe(true);
    expect(eventsOf("[-" + below + " ]", 1, long)).toBe("ok [ n:-" + below + "=-1.7976931348623157e+308 ]");
    expect(eventsOf("[-" + midpoint + " ]", 1, long).startsWith("error")).toBe(true);
  });
  test("duplicate keys are found among few keys and many, short and long", () => {
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 3 == 0) names.push("k" + i.toString());
      else if (i % 3 == 1) names.push("a-long-key-name-" + i.toString() + "-end");
      else names.push("0123456789".substring(0, i % 10) + "x" + i.toString());
    }
    for (let n = 1; n <= 40; n += 3) {
      let text = "{";
      for (let i = 0; i < n; i++) text += '"' + names[i] + '":' + i.toString() + ",";
      expect(parseJsonString(text.substring(0, text.length - 1) + "}").ok()).toBe(true, n.toString());
      for (let j = 0; j < n; j += 4) {
        expectContains(errorOf(text + '"' + names[j] + '":0}'), "/" + names[j] + ": duplicate key");
      }
    }
    // Keys alike in their first and last 8 bytes are still different keys.
    expect(parseJsonString('{"aaaaaaaa1bbbbbbbb":1,"aaaaaaaa2bbbbbbbb":2}').ok()).toBe(true);
    expectContains(errorOf('{"aaaaaaaa1bbbbbbbb":1,"aaaaaaaa1bbbbbbbb":2}'), "duplicate key");
  });

  test("duplicate keys, by default", () => {
    expectContains(errorOf('{"a":1,"b":2,"a":3}'), "/a: duplicate key");
    const relaxed = new JsonLimits();
    relaxed.rejectDuplicateKeys = false;
    expect(parseJsonString('{"a":1,"a":2}', relaxed).ok()).toBe(true);
  });
});

describe("JSON limits", () => {
  test("depth: 100000 nested arrays fail cleanly at the limit", () => {
    const deep = "[".repeat(100000);
    expectContains(errorOf(deep), "nesting deeper than the limit at byte 64");
  });
  test("string, number, keys, items and document size", () => {
    const limits = new JsonLimits();
    limits.maxStringBytes = 4;
    limits.maxNumberChars = 3;
    limits.maxKeys = 2;
    limits.maxItems = 2;
    expectContains(errorOf('"abcde"', limits), "string longer than the limit");
    expectContains(errorOf("1234", limits), "number longer than the limit");
    expectContains(errorOf('{"a":1,"b":2,"c":3}', limits), "too many keys in object");
    expectContains(errorOf("[1,2,3]", limits), "too many items in array");
    const small = new JsonLimits();
    small.maxBytes = 4;
    expectContains(errorOf("[1,2,3]", small), "document larger than the limit");
  });
});

describe("JSON streaming", () => {
  test("any split into chunks gives the same events as one piece", () => {
    const documents = [
      '{"a":[1,-2.5e3,"x\\u00e9y",true,null],"b\\"":{"c":"😀"}}',
      "  [ 123 , 4 ] ",
      '"\\ud83d\\ude00"',
    ];
    for (let d = 0; d < documents.length; d++) {
      const whole = eventsOf(documents[d], 1 << 20);
      expect(whole.startsWith("ok ")).toBe(true, whole);
      for (let chunk = 1; chunk < 12; chunk++) expect(eventsOf(documents[d], chunk)).toBe(whole);
    }
  });
  test("says which keys and strings held escapes (their decoded bytes differ from the input)", () => {
    expect(eventsOf('{"k\\u0041":"plain","p":"\\u0024{x}"}', 1 << 20)).toBe(
      "ok { k:kA(escaped) s:plain k:p s:${x}(escaped) }",
    );
  });
  test("long strings read sixteen bytes at a time stop at the exact byte that needs attention", () => {
    const specials = ["é", "\\n", "\\u00e9", "😀"];
    for (let k = 0; k < 40; k++) {
      for (let s = 0; s < specials.length; s++) {
        const doc = '["' + "a".repeat(k) + specials[s] + "b".repeat(20) + '"]';
        const whole = eventsOf(doc, 1 << 20);
        expect(whole.startsWith("ok ")).toBe(true, whole);
        expect(eventsOf(doc, 1)).toBe(whole);
        expect(eventsOf(doc, 7)).toBe(whole);
      }
      // A raw control character is refused where it stands.
      const error = errorOf('["' + "a".repeat(k) + "\u0001" + "b".repeat(20) + '"]');
      expectContains(error, "control character in string at byte " + (k + 2).toString());
    }
  });
  test("reports events in order", () => {
    expect(eventsOf('{"a":[1,"s",false]}', 3)).toBe("ok { k:a [ n:1=1.0 s:s false ] }");
  });
});

describe("JSON helpers", () => {
  test("jsonEscape escapes quotes, backslashes and control characters", () => {
    expect(jsonEscape('a"b\\c\nd\u0001')).toBe('a\\"b\\\\c\\nd\\u0001');
    expect(jsonEscape("plain")).toBe("plain");
  });
  test("pointerToken escapes ~ and /", () => {
    expect(pointerToken("a/b~c")).toBe("a~1b~0c");
  });
});
