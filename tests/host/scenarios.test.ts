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
import { listFilters } from "../../src/filters/catalog.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { buildGoFilter, goMissing } from "./support.ts";

const filters = listFilters();

function scenarioDirs(): string[] {
  const dirs = filters.map((filter) => path.join(filter.dir, "scenarios")).filter((dir) => existsSync(dir));
  const fixtures = path.join(projectRoot, "tests", "fixtures");
  for (const entry of readdirSync(fixtures, { withFileTypes: true })) {
    const dir = path.join(fixtures, entry.name, "scenarios");
    if (entry.isDirectory() && existsSync(dir)) dirs.push(dir);
  }
  return dirs.sort();
}

const dirs = scenarioDirs();
const all = new Map<string, Scenario[]>();
for (const dir of dirs) all.set(dir, await loadScenarios(dir));

it("finds scenarios for every filter, configuration errors among them", () => {
  assert.ok(filters.length > 0, "no filters in filters/");
  for (const filter of filters) {
    const scenarios = all.get(path.join(filter.dir, "scenarios")) ?? [];
    const refused = scenarios.filter((scenario) => scenario.refused).length;
    assert.ok(scenarios.length >= 5, `${filter.name}: ${scenarios.length} scenarios`);
    assert.ok(refused >= 1, `${filter.name}: no scenario of a refused configuration`);
    assert.ok(refused < scenarios.length, `${filter.name}: only refused configurations`);
  }
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
