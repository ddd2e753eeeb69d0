// Scenarios: YAML files beside a filter (filters/<name>/scenarios/*.yaml) that say what requests do
// to a filter, run the same way on the host emulator and on real Envoy 1.40 in front of the echo
// upstream, so that the two can be compared. The format is described in src/host/README.md.
//
// Split by concern: scenario-file.ts (format, types, parsing), scenario-run.ts (running on the
// emulator and on Envoy), scenario-check.ts (expectations and comparison), scenario-report.ts
// (running a set and the table). This module keeps the one import path.
export {
  BACKENDS,
  ScenarioError,
  filterScenarioDir,
  loadScenarios,
  parseScenario,
  type Backend,
  type HeaderExpectation,
  type HeaderValue,
  type Outcome,
  type Scenario,
  type ScenarioRequest,
  type ScenarioStep,
  type StepExpectation,
} from "./scenario-file.ts";
export {
  runOn,
  runOnEmulator,
  runOnEnvoy,
  type RunOptions,
  type ScenarioRun,
  type StepObservation,
} from "./scenario-run.ts";
export { checkRun, compareRuns } from "./scenario-check.ts";
export { formatReports, runScenarios, type ScenarioReport } from "./scenario-report.ts";
