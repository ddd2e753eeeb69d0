// `graft test`: the command module on its own (the lead wires it into src/cli/program.ts), and the
// emulator benchmark's floor.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { Command, CommanderError } from "commander";
import { register } from "../../src/cli/commands/test.ts";
import { measureEmulator } from "../../tools/bench/emulator.ts";
import { builtWasm } from "../support/envoy-fixture.ts";
import { sampleFilter, SAMPLE_FILTER } from "../support/sample-filter.ts";

async function runCli(args: string[]): Promise<{ output: string; error?: CommanderError }> {
  const program = new Command("graft").exitOverride();
  program.configureOutput({
    writeErr: (text) => void (output += text),
    writeOut: (text) => void (output += text),
  });
  register(program);
  let output = "";
  const log = console.log;
  console.log = (...parts: unknown[]) => void (output += `${parts.join(" ")}\n`);
  try {
    await program.parseAsync(["node", "graft", ...args]);
    return { output };
  } catch (error) {
    if (error instanceof CommanderError) return { output, error };
    throw error;
  } finally {
    console.log = log;
  }
}

describe("graft test", () => {
  it("runs a filter's unit tests, then its scenarios on the emulator, and prints one row each", async () => {
    const { dir } = await sampleFilter();
    const { output, error } = await runCli(["test", dir]);
    assert.equal(error, undefined, output);
    assert.match(output, new RegExp(`^unit tests \\(${SAMPLE_FILTER}\\):$`, "m"));
    assert.match(output, /^scenario\s+emulator\s+result$/m);
    assert.match(output, /^blocks-prefix\s+pass \(\d+ ms\)\s+ok$/m);
    assert.match(output, /^config-error-prefix\s+pass \(\d+ ms\)\s+ok$/m);
    assert.match(output, /(\d+) of \1 scenarios passed/);
  });

  it("runs a module against a scenario directory, on Envoy too, and fails with exit code 1 on an unmet expectation", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "graft-cli-test-"));
    try {
      await writeFile(
        path.join(dir, "wrong.yaml"),
        "module: build/fixtures/trap-probe.wasm\nroot_id: trap-probe\nsteps:\n  - request: { path: /reply }\n    expect: { status: 200 }\n",
      );
      const { output, error } = await runCli([
        "test",
        builtWasm("fixtures/trap-probe.wasm"),
        "--scenarios",
        dir,
        "--envoy",
      ]);
      assert.ok(error, "the command fails");
      assert.equal(error.exitCode, 1);
      assert.match(output, /^scenario\s+emulator\s+envoy\s+compare\s+result$/m);
      assert.match(output, /^wrong\s+FAIL 1\s+FAIL 1\s+same\s+FAILED$/m);
      assert.match(output, /wrong \[emulator\]: steps\[0\]: expected status 200, got 418/);
      assert.match(error.message, /1 of 1 scenarios failed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown filter and a module without --scenarios", async () => {
    assert.match(
      (await runCli(["test", "no-such-filter"])).error?.message ?? "",
      /no filter named "no-such-filter"/,
    );
    assert.match(
      (await runCli(["test", builtWasm("fixtures/trap-probe.wasm")])).error?.message ?? "",
      /give --scenarios/,
    );
  });
});

describe("emulator benchmark", () => {
  it("runs a filter well above 20,000 requests/s even on a busy machine (the target is 50,000)", async () => {
    const result = await measureEmulator({
      requests: 30_000,
      filter: await sampleFilter(),
      configuration: { blocked_prefixes: ["/admin", "/internal"] },
    });
    assert.deepEqual(result.statuses, { 200: 30_000 });
    assert.ok(result.requestsPerSecond > 20_000, `${Math.round(result.requestsPerSecond)} requests/s`);
  });
});
