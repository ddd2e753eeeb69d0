// Every scenario of every filter (filters/*/scenarios) and of the emulator's fixtures
// (tests/fixtures/*/scenarios) runs on the host emulator and on real Envoy 1.40; a test fails on
// any unmet expectation and on any difference between the two.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import {
  compareRuns,
  loadScenarios,
  runOnEmulator,
  runOnEnvoy,
  type Scenario,
} from "../../src/host/scenario.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { buildGoFilter, goMissing } from "./support.ts";

function scenarioDirs(): string[] {
  const dirs: string[] = [];
  for (const parent of [path.join(projectRoot, "filters"), path.join(projectRoot, "tests", "fixtures")]) {
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      const dir = path.join(parent, entry.name, "scenarios");
      if (entry.isDirectory() && existsSync(dir)) dirs.push(dir);
    }
  }
  return dirs.sort();
}

const dirs = scenarioDirs();
const all = new Map<string, Scenario[]>();
for (const dir of dirs) all.set(dir, await loadScenarios(dir));

it("finds at least 15 header-rewrite scenarios, configuration errors among them", () => {
  const headerRewrite = all.get(path.join(projectRoot, "filters", "header-rewrite", "scenarios")) ?? [];
  assert.ok(headerRewrite.length >= 15, `${headerRewrite.length} header-rewrite scenarios`);
  assert.ok(headerRewrite.filter((scenario) => scenario.refused).length >= 5);
});

for (const [dir, scenarios] of all) {
  const isGo = dir.includes(`${path.sep}go-filter${path.sep}`);
  const skip = isGo ? goMissing() : false;
  describe(path.relative(projectRoot, dir), { skip }, () => {
    if (isGo) before(() => void buildGoFilter());
    for (const scenario of scenarios) {
      it(`${scenario.name}: ${scenario.description ?? ""}`, async () => {
        const emulator = scenario.backends.includes("emulator") ? await runOnEmulator(scenario) : undefined;
        const envoy = scenario.backends.includes("envoy") ? await runOnEnvoy(scenario) : undefined;
        const problems = [
          ...(emulator?.failures.map((failure) => `emulator: ${failure}`) ?? []),
          ...(envoy?.failures.map((failure) => `envoy: ${failure}`) ?? []),
          ...(emulator && envoy ? compareRuns(emulator, envoy) : []),
        ];
        assert.deepEqual(problems, [], `${scenario.file}:\n  ${problems.join("\n  ")}`);
      });
    }
  });
}
