// payload-validator against a reference (strict UTF-8 + JSON.parse + graft's documented strictness,
// then ajv 2020-12): 10,000 seeded (schema, document) pairs, whole and chunked, on fresh and pooled
// validators, must agree except for the documented exceptions; each exception is pinned by its own
// test so it cannot widen, and each disagreement cause found so far has a minimal reproduction.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DOCUMENTED_EXCEPTIONS,
  checkCase,
  forAjv,
  newAjv,
  referenceFor,
  runDifferential,
  summarize,
  type CaseDelivery,
  type Verdict,
} from "../fuzz/differential.ts";
import { configFor, type GeneratedConfig, type Schema } from "../fuzz/schema-generator.ts";

const bytes = (text: string) => Buffer.from(text, "utf8");
const oneByteChunks = (body: Uint8Array) => Array.from(body, () => 1);

describe("payload-validator agrees with JSON.parse + ajv", () => {
  it(
    "10,000 seeded pairs, whole and chunked, fresh and pooled: no undocumented disagreement",
    { timeout: 180_000 },
    async () => {
      const report = await runDifferential({ pairs: 10_000, seed: 1 });
      // The generator must stay near the schema: both outcomes in bulk, every family of change.
      const failing = (report.verdicts.invalid_json + report.verdicts.schema) / report.pairs;
      assert.ok(failing > 0.35 && failing < 0.65, `fraction of failing documents ${failing}`);
      for (const family of ["none", "schema", "graft", "syntax", "schema+trailing"]) {
        assert.ok(
          (report.families[family] ?? 0) > 50,
          `few ${family} documents: ${JSON.stringify(report.families)}`,
        );
      }
      assert.equal(report.undocumented, 0, summarize(report, 2));
    },
  );
});

describe("the reference", () => {
  const judge = (schema: Schema, text: string, maxDepth?: number, rejectDuplicateKeys?: boolean) =>
    referenceFor(newAjv(), configFor(schema, maxDepth, rejectDuplicateKeys)).judge(bytes(text)).verdict;

  it("refuses what graft documents as invalid JSON, though JSON.parse accepts it", () => {
    assert.equal(judge(true, '"\\ud800"'), "invalid_json");
    assert.equal(judge(true, '{"\\udc00":1}'), "invalid_json");
    assert.equal(judge(true, '"\\ud83d\\ude00"'), "pass");
    assert.equal(judge(true, "[1e400]"), "invalid_json");
    assert.equal(judge(true, "1e-400"), "pass");
    assert.equal(judge(true, "[[]]", 2), "pass");
    assert.equal(judge(true, "[[[]]]", 2), "invalid_json");
    assert.equal(judge(true, '{"a":1,"\\u0061":2}'), "invalid_json");
    assert.equal(judge(true, '{"a":1,"a":2}', undefined, false), "pass");
    assert.equal(judge(true, "\ufeff{}"), "invalid_json");
    // "Edges, stated": parser limits.
    assert.equal(judge(true, "1." + "0".repeat(254)), "pass");
    assert.equal(judge(true, "1." + "0".repeat(255)), "invalid_json");
    assert.equal(judge(true, JSON.stringify("é".repeat(1 << 19))), "pass");
    assert.equal(judge(true, JSON.stringify("a".repeat((1 << 20) + 1))), "invalid_json");
    assert.equal(
      referenceFor(newAjv(), configFor(true)).judge(Buffer.from([0x22, 0xe0, 0x22])).verdict,
      "invalid_json",
    );
  });

  it("keeps the last of duplicate keys, as JSON.parse does, when duplicates are allowed", () => {
    const schema: Schema = { properties: { a: { type: "array" } } };
    assert.equal(judge(schema, '{"a":1,"a":[]}', undefined, false), "pass");
    assert.equal(judge(schema, '{"a":[],"a":1}', undefined, false), "schema");
  });

  it('checks a required "" (ajv 8 alone never reports it missing)', () => {
    assert.equal(newAjv().compile({ required: [""] })({}), true, "ajv fixed? then forAjv can go");
    assert.equal(judge({ required: ["", "a"] }, '{"a":1}'), "schema");
    assert.equal(judge({ required: [""] }, '{"":1}'), "pass");
    assert.equal(judge({ required: [""] }, "3"), "pass");
    assert.deepEqual(forAjv({ required: ["a"] }), { required: ["a"] });
  });
});

describe("documented exceptions", () => {
  it("are exactly the ones tested here", () => {
    assert.deepEqual(
      DOCUMENTED_EXCEPTIONS.map((exception) => exception.id),
      ["first-failure-wins-before-trailing-data", "duplicate-keys-every-occurrence-checked"],
    );
    for (const exception of DOCUMENTED_EXCEPTIONS) {
      assert.match(exception.readme, /filters\/payload-validator\/README\.md/);
      assert.ok(exception.reason.length > 40);
    }
  });

  /** Whether the exception `id` would excuse this filter verdict against the reference's. */
  const excuses = (id: string, config: GeneratedConfig, body: string, filter: Verdict) => {
    const reference = referenceFor(newAjv(), config);
    const exception = DOCUMENTED_EXCEPTIONS.find((candidate) => candidate.id === id)!;
    return exception.matches({
      bytes: bytes(body),
      filter: { verdict: filter, status: 0, reason: filter, detail: "", bodyAltered: false },
      expected: reference.judge(bytes(body)),
      reference,
    });
  };

  describe("first-failure-wins-before-trailing-data", () => {
    const id = "first-failure-wins-before-trailing-data";
    const config = configFor({ type: "object", properties: { a: { type: "number" } } });

    it("a complete value that fails the schema, then more bytes: 422 schema, whole and byte by byte", async () => {
      for (const body of ['{"a":"x"} x', '{"a":"x"}}', '{"a":"x"},', '{"a":"x"}\xe9']) {
        for (const lengths of [undefined, oneByteChunks(bytes(body))]) {
          const result = await checkCase(config, { bytes: bytes(body), lengths });
          assert.equal(result.filter.verdict, "schema", body);
          assert.equal(result.reference.verdict, "invalid_json", body);
          assert.equal(result.exception?.id, id, body);
        }
      }
    });

    it("does not cover a valid value with trailing bytes (400 from both)", async () => {
      const result = await checkCase(config, { bytes: bytes('{"a":1} x') });
      assert.equal(result.filter.verdict, "invalid_json");
      assert.equal(result.reference.verdict, "invalid_json");
      assert.equal(excuses(id, config, '{"a":1} x', "schema"), false);
    });

    it("does not cover a schema failure before a cut or a syntax error inside the value", () => {
      for (const body of ['{"a":"x","b":', '{"a":"x",}', '{"a":"x" "b":1}', '{"a":"x"']) {
        assert.equal(excuses(id, config, body, "schema"), false, body);
      }
      assert.equal(excuses(id, config, '{"a":"x"} x', "pass"), false);
      assert.equal(excuses(id, config, '{"a":"x"} x', "schema"), true);
    });
  });

  describe("duplicate-keys-every-occurrence-checked", () => {
    const id = "duplicate-keys-every-occurrence-checked";
    const schema: Schema = { properties: { a: { type: "integer" } } };
    const allowing = configFor(schema, undefined, false);

    it("an earlier occurrence that fails: 422 schema though JSON.parse keeps a valid last one", async () => {
      for (const body of ['{"a":"x","a":1}', '{"a":1,"\\u0061":[],"a":2}', '[{"b":0,"a":null,"a":3}]']) {
        const config = body.startsWith("[") ? configFor({ items: schema }, undefined, false) : allowing;
        for (const lengths of [undefined, oneByteChunks(bytes(body))]) {
          const result = await checkCase(config, { bytes: bytes(body), lengths });
          assert.equal(result.filter.verdict, "schema", body);
          assert.equal(result.reference.verdict, "pass", body);
          assert.equal(result.exception?.id, id, body);
        }
      }
    });

    it("every occurrence valid: both pass", async () => {
      const result = await checkCase(allowing, { bytes: bytes('{"a":1,"a":2}') });
      assert.equal(result.filter.verdict, "pass");
      assert.equal(result.reference.verdict, "pass");
    });

    it("covers nothing else: no repeated key, duplicates refused, or a filter that lets it through", () => {
      assert.equal(excuses(id, allowing, '{"a":"x","a":1}', "schema"), true);
      assert.equal(excuses(id, allowing, '{"a":1,"b":"x"}', "schema"), false);
      assert.equal(excuses(id, allowing, '{"a":1,"a":2}', "schema"), false);
      assert.equal(excuses(id, configFor(schema), '{"a":"x","a":1}', "schema"), false);
      assert.equal(excuses(id, allowing, '{"a":"x","a":1}', "pass"), false);
      assert.equal(
        excuses(id, configFor({ ...schema, maxProperties: 1 }, undefined, false), '{"a":1,"a":2}', "schema"),
        false,
      );
    });
  });
});

// Each cause the differential has found, reduced to its smallest case. These fail while the cause
// is there; the lead decides which become fixes and which documented exceptions.
describe("disagreement causes (minimal reproductions)", () => {
  const expectAgreement = async (
    schema: Schema,
    delivery: CaseDelivery,
    before: CaseDelivery[] = [],
    rejectDuplicateKeys?: boolean,
  ) => {
    const result = await checkCase(configFor(schema, undefined, rejectDuplicateKeys), delivery, before);
    assert.equal(
      result.filter.verdict,
      result.reference.verdict,
      `filter ${result.filter.status} ${result.filter.reason} ${result.filter.detail}; reference ${result.reference.why}`,
    );
  };

  it("a pooled validator after a body that ended inside a UTF-8 sequence", async () => {
    const next = bytes('{"note":"\\u0041€"}');
    for (const lead of [0xe0, 0xed, 0xf0, 0xf4]) {
      const poison = Buffer.concat([bytes('{"note":"a'), Buffer.from([lead])]);
      await expectAgreement(
        { properties: { note: { type: "string" } } },
        { bytes: next, lengths: oneByteChunks(next) },
        [{ bytes: poison }],
      );
    }
  });

  it("numbers near a midpoint between doubles are read as the nearest double", async () => {
    await expectAgreement({ type: "integer" }, { bytes: bytes("12.999999999999999112") });
    await expectAgreement({ const: 10 }, { bytes: bytes("9.9999999999999991119") });
  });

  it("large bounds in the configuration are read as the nearest double", async () => {
    await expectAgreement({ maximum: 9007199254740993e37 }, { bytes: bytes("5.342094522580992e+52") });
  });

  it("numbers near zero and the smallest normal double are read as the nearest double", async () => {
    await expectAgreement({ exclusiveMinimum: 0 }, { bytes: bytes("2.4703282292062328e-324") });
    await expectAgreement({ minimum: 2.2250738585072014e-308 }, { bytes: bytes("2.2250738585072011e-308") });
  });

  it("with reject_duplicate_keys false, properties are counted by name", async () => {
    await expectAgreement({ maxProperties: 1 }, { bytes: bytes('{"a":1,"a":2}') }, [], false);
    await expectAgreement({ minProperties: 2 }, { bytes: bytes('{"a":1,"a":2}') }, [], false);
  });
});
