// tools/bench/module-size.ts: section, data and per-function sizes read from a module's binary and
// its name section.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { byOrigin, formatSizes, moduleSizes } from "../../tools/bench/module-size.ts";
import { listFilters } from "../../src/filters/catalog.ts";

/** A module with one function `f` (body: 2 bytes), one data segment of 3 bytes and a name section. */
function tinyModule(dataOffset = 0): Uint8Array<ArrayBuffer> {
  const section = (id: number, bytes: number[]) => [id, bytes.length, ...bytes];
  const name = [...Buffer.from("name")];
  const fnName = [...Buffer.from("filters/x/assembly/f")];
  const names = [1, fnName.length + 3, 1, 0, fnName.length, ...fnName];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 0, 0]), // type: () -> ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0, 1]), // memory: min 1 page
    ...section(10, [1, 2, 0, 0x0b]), // code: one body, no locals, end
    ...section(11, [1, 0, 0x41, dataOffset, 0x0b, 3, 1, 2, 3]), // data: active, at dataOffset (< 64), 3 bytes
    ...section(0, [name.length, ...name, ...names]),
  ]);
}

describe("module sizes", () => {
  it("reads sections, function bodies by name and data bytes", () => {
    const bytes = tinyModule();
    assert.ok(WebAssembly.validate(bytes), "the test module is valid Wasm");
    const sizes = moduleSizes(bytes);
    assert.equal(sizes.total, bytes.length);
    assert.equal(
      Object.values(sizes.sections).reduce((a, b) => a + b, 0),
      bytes.length - 8,
      "sections cover the module after its header",
    );
    assert.deepEqual(sizes.functions, [{ index: 0, bytes: 2, name: "filters/x/assembly/f" }]);
    assert.equal(sizes.data, 3);
    assert.deepEqual(byOrigin(sizes.functions), { filter: 2 });
    assert.match(formatSizes("tiny", sizes), /\| `filters\/x\/assembly\/f` \| 2 \|/);
  });

  it("reads a data segment whose offset holds the byte that ends an expression (0x0b)", () => {
    const bytes = tinyModule(0x0b);
    assert.ok(WebAssembly.validate(bytes), "the test module is valid Wasm");
    const sizes = moduleSizes(bytes);
    assert.equal(sizes.data, 3);
    assert.deepEqual(sizes.functions, [{ index: 0, bytes: 2, name: "filters/x/assembly/f" }]);
  });

  const built = listFilters().filter((filter) => existsSync(filter.releaseWasm));
  it("reads a built filter", { skip: built.length > 0 ? false : "run npm run build first" }, () => {
    const sizes = moduleSizes(readFileSync(built[0]!.releaseWasm));
    assert.ok((sizes.sections.code ?? 0) > 0 && (sizes.sections.data ?? 0) > 0);
    assert.ok(sizes.functions.length > 50);
  });

  // Issue 17's goal is every release module within 40 KiB. A filter's contract may set a ceiling
  // (maxModuleKiB: its size when it was last cut plus about 1 KiB), so growth is a decision rather
  // than an accident.
  for (const filter of listFilters().filter((f) => f.contract.maxModuleKiB !== undefined)) {
    const kib = filter.contract.maxModuleKiB!;
    it(
      `${filter.name}'s release module is within its contract's ${kib} KiB`,
      { skip: existsSync(filter.releaseWasm) ? false : "run npm run build first" },
      () => {
        const bytes = readFileSync(filter.releaseWasm).byteLength;
        assert.ok(bytes <= kib * 1024, `${filter.name}: ${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB)`);
      },
    );
  }
});
