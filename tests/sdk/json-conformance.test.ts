// graft's JSON parser (assembly/json.ts) against JSONTestSuite: every y_ document accepted, every
// n_ document refused, each i_ (implementation-defined) document with the outcome graft chose and
// documents in assembly/README.md. Each document is also fed in 1- and 7-byte chunks: streaming
// must never change the answer.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { projectRoot } from "../../src/util/paths.ts";
import { builtWasm } from "../support/envoy-fixture.ts";

const SUITE = path.join(projectRoot, "tests", "data", "JSONTestSuite", "test_parsing");

/** graft's decisions for the implementation-defined cases (see assembly/README.md, "JSON"). */
const IMPLEMENTATION_DEFINED: Record<string, "accept" | "reject"> = {
  i_number_double_huge_neg_exp: "accept",
  i_number_huge_exp: "reject",
  i_number_neg_int_huge_exp: "reject",
  i_number_pos_double_huge_exp: "reject",
  i_number_real_neg_overflow: "reject",
  i_number_real_pos_overflow: "reject",
  i_number_real_underflow: "accept",
  i_number_too_big_neg_int: "accept",
  i_number_too_big_pos_int: "accept",
  i_number_very_big_negative_int: "accept",
  i_object_key_lone_2nd_surrogate: "reject",
  i_string_1st_surrogate_but_2nd_missing: "reject",
  i_string_1st_valid_surrogate_2nd_invalid: "reject",
  "i_string_UTF-16LE_with_BOM": "reject",
  "i_string_UTF-8_invalid_sequence": "reject",
  "i_string_UTF8_surrogate_U+D800": "reject",
  i_string_incomplete_surrogate_and_escape_valid: "reject",
  i_string_incomplete_surrogate_pair: "reject",
  i_string_incomplete_surrogates_escape_valid: "reject",
  i_string_invalid_lonely_surrogate: "reject",
  i_string_invalid_surrogate: "reject",
  "i_string_invalid_utf-8": "reject",
  "i_string_inverted_surrogates_U+1D11E": "reject",
  i_string_iso_latin_1: "reject",
  i_string_lone_second_surrogate: "reject",
  i_string_lone_utf8_continuation_byte: "reject",
  i_string_not_in_unicode_range: "reject",
  i_string_overlong_sequence_2_bytes: "reject",
  i_string_overlong_sequence_6_bytes: "reject",
  i_string_overlong_sequence_6_bytes_null: "reject",
  "i_string_truncated-utf-8": "reject",
  i_string_utf16BE_no_BOM: "reject",
  i_string_utf16LE_no_BOM: "reject",
  i_structure_500_nested_arrays: "reject",
  "i_structure_UTF-8_BOM_empty_object": "reject",
};

interface Harness {
  check(bytes: Uint8Array, chunk: number, rfc: boolean): boolean;
  /** Byte offset of the last check's failure, or -1. */
  errorOffset(): number;
}

function loadHarness(): Harness {
  const module = new WebAssembly.Module(readFileSync(builtWasm("fixtures/json-harness.wasm")));
  // The harness carries the proxy-wasm ABI like every graft module; none of it runs here.
  const imports: Record<string, Record<string, () => number>> = {};
  for (const entry of WebAssembly.Module.imports(module))
    (imports[entry.module] ??= {})[entry.name] = () => 0;
  const exports = new WebAssembly.Instance(module, imports).exports as {
    memory: WebAssembly.Memory;
    json_alloc(length: number): number;
    json_check(ptr: number, length: number, chunk: number, rfc: number): number;
    json_error_offset(): number;
  };
  return {
    check(bytes, chunk, rfc) {
      const ptr = exports.json_alloc(bytes.length);
      new Uint8Array(exports.memory.buffer, ptr, bytes.length).set(bytes);
      return exports.json_check(ptr, bytes.length, Math.max(1, chunk), rfc ? 1 : 0) === 1;
    },
    errorOffset: () => exports.json_error_offset(),
  };
}

const files = readdirSync(SUITE)
  .filter((name) => name.endsWith(".json"))
  .sort();
const ofKind = (prefix: string) => files.filter((name) => name.startsWith(prefix));

describe("JSONTestSuite conformance (RFC 8259 mode: duplicate keys allowed)", () => {
  const harness = loadHarness();
  const verdict = (file: string) => {
    const bytes = readFileSync(path.join(SUITE, file));
    // Whole tokens take the parser's in-place paths, split ones its byte-by-byte path: both must
    // agree on the answer and on the byte a refusal names.
    const answers = [bytes.length, 1, 7].map((chunk) => {
      const ok = harness.check(bytes, chunk, true);
      return `${ok ? "accept" : "reject"}@${harness.errorOffset()}`;
    });
    assert.ok(
      answers.every((answer) => answer === answers[0]),
      `${file}: chunking changed the answer (${answers.join(", ")})`,
    );
    return answers[0]!.startsWith("accept");
  };

  it("accepts all 95 y_ documents", () => {
    const y = ofKind("y_");
    assert.equal(y.length, 95);
    assert.deepEqual(
      y.filter((file) => !verdict(file)),
      [],
    );
  });

  it("refuses all 188 n_ documents", () => {
    const n = ofKind("n_");
    assert.equal(n.length, 188);
    assert.deepEqual(
      n.filter((file) => verdict(file)),
      [],
    );
  });

  it("gives every i_ document its documented outcome", () => {
    const i = ofKind("i_");
    assert.deepEqual(
      i.map((file) => file.replace(/\.json$/, "")).sort(),
      Object.keys(IMPLEMENTATION_DEFINED).sort(),
    );
    for (const file of i) {
      assert.equal(
        verdict(file) ? "accept" : "reject",
        IMPLEMENTATION_DEFINED[file.replace(/\.json$/, "")],
        file,
      );
    }
  });

  it("refuses duplicate keys in graft's default mode (configurations)", () => {
    for (const file of ["y_object_duplicated_key.json", "y_object_duplicated_key_and_value.json"]) {
      assert.equal(harness.check(readFileSync(path.join(SUITE, file)), 1 << 20, false), false, file);
    }
  });

  it("parses a 1 MiB document in 64 KiB chunks", () => {
    const items = Array.from({ length: 15_000 }, (_, i) => ({
      id: i,
      name: `item-${i}`,
      tags: ["a", "b"],
      price: i * 1.25,
      ok: i % 2 === 0,
    }));
    const bytes = Buffer.from(JSON.stringify({ items }));
    assert.ok(bytes.length > 1 << 20);
    const started = performance.now();
    assert.equal(harness.check(bytes, 64 * 1024, false), true);
    const ms = performance.now() - started;
    console.log(
      `  1 MiB in 64 KiB chunks: ${ms.toFixed(1)} ms (${(bytes.length / 1024 / 1024 / (ms / 1000)).toFixed(0)} MiB/s)`,
    );
  });
});
