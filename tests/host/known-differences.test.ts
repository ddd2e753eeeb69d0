// The differential's exception list (src/host/known-differences.ts): every entry documented, and
// only listed differences are let through.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { explainDifferences, KNOWN_DIFFERENCES } from "../../src/host/known-differences.ts";
import type { ReplayResult } from "../../src/host/replay.ts";
import type { ScenarioRun } from "../../src/host/scenario-run.ts";

describe("known emulator/Envoy differences", () => {
  it("each has an id, a reason and the Envoy behaviour it reflects", () => {
    const ids = new Set<string>();
    for (const difference of KNOWN_DIFFERENCES) {
      assert.match(difference.id, /^[a-z0-9-]+$/);
      assert.ok(!ids.has(difference.id), `duplicate ${difference.id}`);
      ids.add(difference.id);
      assert.ok(difference.reason.length > 20 && difference.envoy.length > 20, difference.id);
    }
  });

  it("echo-header-overflow-reset: only the reset of a request head past Node's 16 KiB", () => {
    const known = KNOWN_DIFFERENCES.find((difference) => difference.id === "echo-header-overflow-reset")!;
    const big = { path: "/", headers: [["content-type", "a".repeat(20_000)]] as [string, string][] };
    const small = { path: "/", headers: [["content-type", "a"]] as [string, string][] };
    const reset =
      'emulator vs envoy: case 3: response body "" vs "upstream connect error or disconnect/reset before headers. reset reason: connection termination"';
    assert.ok(known.covers("emulator vs envoy: case 3: status 431 vs 503", big));
    assert.ok(known.covers(reset, big));
    assert.ok(
      known.covers('emulator vs envoy: case 3: response header content-type: (absent) vs "text/plain"', big),
    );
    assert.ok(!known.covers("emulator vs envoy: case 3: status 431 vs 503", small));
    assert.ok(!known.covers("emulator vs envoy: case 3: status 200 vs 503", big));
  });

  it("lets nothing unlisted through, and names the request", () => {
    const run = {} as ScenarioRun;
    const result: ReplayResult = {
      emulator: run,
      envoy: run,
      differences: [
        "emulator vs envoy: case 1: status 200 vs 431",
        "emulator vs envoy: total metric wasmcustom.x +1 vs +2",
      ],
      byCase: new Map([[0, ["emulator vs envoy: case 1: status 200 vs 431"]]]),
    };
    const verdict = explainDifferences(result, [
      { name: "case 1", request: { path: "/", headers: [["x-big", "v"]] } },
    ]);
    assert.equal(verdict.unexplained.length, 2);
    assert.match(verdict.unexplained[0]!, /status 200 vs 431[\s\S]*request: .*x-big/);
    assert.match(verdict.unexplained[1]!, /total metric/);
    assert.equal(verdict.cases.length, 1);
  });
});
