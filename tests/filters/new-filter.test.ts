// `graft new` is where a filter author starts: the folder it writes, outside this repository,
// builds against the SDK as a package, and passes its unit tests, its configuration corpus and its
// scenarios on the emulator and on real Envoy, exactly as written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { findFilter, loadSchema } from "../../src/filters/catalog.ts";
import { ConfigurationRejectedError, Emulator } from "../../src/host/index.ts";
import { projectRoot } from "../../src/util/paths.ts";

const graft = path.join(projectRoot, "bin", "graft.js");

function run(args: string[], cwd: string) {
  const result = spawnSync(process.execPath, [graft, ...args], { cwd, encoding: "utf8", timeout: 240_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("a filter created by graft new outside the repository", () => {
  let parent = "";
  let dir = "";
  before(() => {
    parent = mkdtempSync(path.join(tmpdir(), "graft-author-"));
    dir = path.join(parent, "block-admin");
  });
  after(() => rmSync(parent, { recursive: true, force: true }));

  it("is written with its contract, schema, source, tests, scenarios and examples", () => {
    const created = run(["new", "block-admin", "--dir", parent], parent);
    assert.equal(created.status, 0, created.output);
    for (const file of [
      "filter.json",
      "schema.json",
      "assembly/index.ts",
      "assembly/__tests__/config.spec.ts",
      "scenarios/blocks-prefix.yaml",
      "configs/good/minimal.json",
      "README.md",
    ]) {
      assert.ok(existsSync(path.join(dir, file)), `${file} is missing`);
    }
    // Its AssemblyScript imports the SDK as a package, never proxy-runtime.
    const source = readFileSync(path.join(dir, "assembly", "filter.ts"), "utf8");
    assert.match(source, /from "graft-envoy\/assembly"/);
    assert.doesNotMatch(source, /proxy-runtime/);
  });

  it("builds into its own folder", () => {
    const built = run(["build", dir], parent);
    assert.equal(built.status, 0, built.output);
    assert.ok(existsSync(path.join(dir, "build", "block-admin.wasm")));
  });

  it("passes its unit tests and its scenarios on the emulator and on real Envoy", () => {
    const tested = run(["test", dir, "--envoy"], parent);
    assert.equal(tested.status, 0, tested.output);
    assert.match(tested.output, /\[Result\]: ✔ Pass!/);
    assert.match(tested.output, /2 of 2 scenarios passed/);
  });

  it("gets the same answer from its schema and from its parser for its example configurations", async () => {
    const filter = findFilter(dir);
    const validate = new Ajv2020({ strict: false }).compile(loadSchema(filter));
    for (const [file, good] of [
      ["good/blocked.json", true],
      ["bad/prefix-without-slash.json", false],
    ] as const) {
      const configuration = JSON.parse(readFileSync(path.join(dir, "configs", file), "utf8")) as unknown;
      assert.equal(validate(configuration), good, file);
      let accepted = true;
      try {
        await Emulator.load({ module: filter.releaseWasm, rootId: filter.rootId, configuration });
      } catch (error) {
        if (!(error instanceof ConfigurationRejectedError)) throw error;
        accepted = false;
      }
      assert.equal(accepted, good, file);
    }
  });

  it("refuses a name that is not a filter name, and a folder that exists", () => {
    const bad = run(["new", "Block_Admin", "--dir", parent], parent);
    assert.notEqual(bad.status, 0);
    assert.match(bad.output, /"Block_Admin" is not a filter name/);
    const again = run(["new", "block-admin", "--dir", parent], parent);
    assert.notEqual(again.status, 0);
    assert.match(again.output, /exists already/);
  });
});
