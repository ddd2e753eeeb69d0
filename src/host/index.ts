// graft's proxy-wasm host emulator and scenario runner (see README.md beside this file).
export { Emulator, ConfigurationRejectedError, type EmulatorOptions, type HttpRequest } from "./emulator.ts";
export { HeaderMap, type HeaderInput } from "./headers.ts";
export { ManualClock, systemClock, type Clock, type LogEntry, type Metric } from "./state.ts";
export {
  ModuleLoadError,
  VmFailure,
  type FailurePolicy,
  type StreamResult,
  type StreamOutcome,
  type Upstream,
  type UpstreamRequest,
  type UpstreamResponse,
  type HttpCallHandler,
} from "./vm.ts";
export { echoUpstream } from "./echo-model.ts";
export {
  parseScenario,
  loadScenarios,
  runOnEmulator,
  runOnEnvoy,
  runScenarios,
  checkRun,
  compareRuns,
  formatReports,
  type Scenario,
  type ScenarioRun,
  type ScenarioReport,
} from "./scenario.ts";
