// Checking scenario runs: a run's unmet expectations, and where two runs of one scenario (the
// emulator's and Envoy's) differ.
import type { HeaderExpectation, HeaderValue } from "./scenario-file.ts";
import type { ScenarioRun } from "./scenario-run.ts";

function show(value: unknown): string {
  return value === undefined ? "(absent)" : JSON.stringify(value);
}

function headerText(value: HeaderValue | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

function checkHeaders(
  where: string,
  expectation: HeaderExpectation,
  headers: Record<string, HeaderValue> | undefined,
  body: string | undefined,
): string[] {
  const failures: string[] = [];
  if (!headers) return [`${where}: the request did not reach the upstream`];
  for (const [name, value] of Object.entries(expectation.headers)) {
    const actual = headerText(headers[name]);
    if (actual !== value)
      failures.push(`${where} header ${name}: expected ${show(value)}, got ${show(actual)}`);
  }
  for (const name of expectation.absent) {
    if (headers[name] !== undefined)
      failures.push(`${where} header ${name}: expected absent, got ${show(headerText(headers[name]))}`);
  }
  if (expectation.body !== undefined && body !== expectation.body)
    failures.push(`${where} body: expected ${show(expectation.body)}, got ${show(body)}`);
  if (expectation.bodyContains !== undefined && !(body ?? "").includes(expectation.bodyContains)) {
    failures.push(
      `${where} body: expected it to contain ${show(expectation.bodyContains)}, got ${show(body)}`,
    );
  }
  return failures;
}

function checkMetrics(
  where: string,
  expected: Record<string, number>,
  actual: Record<string, number>,
): string[] {
  const failures: string[] = [];
  for (const [name, delta] of Object.entries(expected)) {
    if ((actual[name] ?? 0) !== delta)
      failures.push(`${where} metric ${name}: expected +${delta}, got +${actual[name] ?? 0}`);
  }
  return failures;
}

function checkLogs(where: string, patterns: string[], logs: string): string[] {
  return patterns
    .filter((pattern) => !new RegExp(pattern, "m").test(logs))
    .map((pattern) => `${where}: no log line matches /${pattern}/`);
}

/** The expectations a run did not meet. */
export function checkRun(run: ScenarioRun): string[] {
  const scenario = run.scenario;
  const failures: string[] = [];
  if (scenario.refused) {
    if (!run.refused) return ["the configuration was accepted; the scenario expects it to be refused"];
    return checkLogs("refused", scenario.refused.logs, run.logs);
  }
  if (run.refused) return [`the configuration was refused:\n${run.logs.split("\n").slice(-20).join("\n")}`];
  let index = 0;
  const totals: Record<string, number> = {};
  for (const step of scenario.steps) {
    for (let i = 0; i < step.repeat; i++) {
      const observation = run.observations[index++];
      const where = step.repeat > 1 ? `${step.name} #${i + 1}` : step.name;
      if (!observation) {
        failures.push(`${where}: not run`);
        continue;
      }
      for (const [name, delta] of Object.entries(observation.metrics))
        totals[name] = (totals[name] ?? 0) + delta;
      const expect = step.expect;
      if (expect.outcome !== undefined && observation.outcome !== expect.outcome)
        failures.push(`${where}: expected outcome ${expect.outcome}, got ${observation.outcome}`);
      if (expect.status !== undefined && observation.status !== expect.status)
        failures.push(`${where}: expected status ${expect.status}, got ${observation.status}`);
      if (
        expect.details !== undefined &&
        run.backend === "emulator" &&
        observation.details !== expect.details
      ) {
        failures.push(`${where}: expected details ${expect.details}, got ${show(observation.details)}`);
      }
      if (expect.upstream)
        failures.push(
          ...checkHeaders(
            `${where}: upstream`,
            expect.upstream,
            observation.upstreamHeaders,
            observation.upstreamBody,
          ),
        );
      if (expect.response)
        failures.push(
          ...checkHeaders(
            `${where}: response`,
            expect.response,
            observation.responseHeaders,
            observation.responseBody,
          ),
        );
      failures.push(...checkMetrics(where, expect.metrics, observation.metrics));
    }
    failures.push(...checkLogs(step.name, step.expect.logs, run.logs));
  }
  failures.push(...checkMetrics("scenario", scenario.expect.metrics, totals));
  failures.push(...checkLogs("scenario", scenario.expect.logs, run.logs));
  return failures;
}

/** Headers that differ between any two deliveries (addresses, ids, timing, framing) and are not compared. */
const VOLATILE_HEADERS = new Set([
  "date",
  "server",
  "host",
  "x-request-id",
  "x-envoy-upstream-service-time",
  "x-envoy-expected-rq-timeout-ms",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
]);

function compareHeaders(
  where: string,
  named: Set<string>,
  a: Record<string, HeaderValue> | undefined,
  b: Record<string, HeaderValue> | undefined,
): string[] {
  const names = new Set([...named, ...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  const differences: string[] = [];
  for (const name of [...names].sort()) {
    if (VOLATILE_HEADERS.has(name) && !named.has(name)) continue;
    const left = headerText(a?.[name]);
    const right = headerText(b?.[name]);
    if (left !== right) differences.push(`${where} header ${name}: ${show(left)} vs ${show(right)}`);
  }
  return differences;
}

/**
 * Where two runs of one scenario differ: refusal, and per request the outcome, status, every
 * header the upstream and the client saw (but volatile ones), the body the upstream got, the body
 * of local replies, and every wasmcustom metric delta.
 */
export function compareRuns(a: ScenarioRun, b: ScenarioRun): string[] {
  const label = `${a.backend} vs ${b.backend}`;
  if (a.refused !== b.refused)
    return [`${label}: configuration refused ${show(a.refused)} vs ${show(b.refused)}`];
  const differences: string[] = [];
  const count = Math.max(a.observations.length, b.observations.length);
  const steps = a.scenario.steps.flatMap((step) => Array.from({ length: step.repeat }, () => step));
  for (let i = 0; i < count; i++) {
    const left = a.observations[i];
    const right = b.observations[i];
    const step = steps[i];
    const where = `${label}: ${left?.step ?? right?.step ?? `request ${i + 1}`}`;
    if (!left || !right || !step) {
      differences.push(`${where}: ran on one side only`);
      continue;
    }
    if (left.outcome !== right.outcome)
      differences.push(`${where}: outcome ${left.outcome} vs ${right.outcome}`);
    if (left.status !== right.status) differences.push(`${where}: status ${left.status} vs ${right.status}`);
    const upstreamNames = new Set([
      ...Object.keys(step.expect.upstream?.headers ?? {}),
      ...(step.expect.upstream?.absent ?? []),
    ]);
    if (left.upstreamHeaders || right.upstreamHeaders)
      differences.push(
        ...compareHeaders(`${where}: upstream`, upstreamNames, left.upstreamHeaders, right.upstreamHeaders),
      );
    if (left.upstreamBody !== right.upstreamBody)
      differences.push(`${where}: upstream body ${show(left.upstreamBody)} vs ${show(right.upstreamBody)}`);
    const responseNames = new Set([
      ...Object.keys(step.expect.response?.headers ?? {}),
      ...(step.expect.response?.absent ?? []),
    ]);
    differences.push(
      ...compareHeaders(`${where}: response`, responseNames, left.responseHeaders, right.responseHeaders),
    );
    if (left.outcome !== "continued" && left.responseBody !== right.responseBody) {
      differences.push(`${where}: response body ${show(left.responseBody)} vs ${show(right.responseBody)}`);
    }
    const metricNames = new Set(
      a.scenario.batchedMetrics ? [] : [...Object.keys(left.metrics), ...Object.keys(right.metrics)],
    );
    for (const name of metricNames) {
      if ((left.metrics[name] ?? 0) !== (right.metrics[name] ?? 0))
        differences.push(
          `${where}: metric ${name} +${left.metrics[name] ?? 0} vs +${right.metrics[name] ?? 0}`,
        );
    }
  }
  return differences;
}
