import { readFile } from "node:fs/promises";
import yaml from "js-yaml";
import { parseDuration } from "../sign/duration.ts";
import type { MetricConfig } from "../judge/judge.ts";
import { GraftError } from "../util/errors.ts";
import { checkAgainstSchema } from "../init/file-schema.ts";
import { FAIL_STRATEGIES, PHASES, type FailStrategy, type Phase } from "../mesh/istio/wasmplugin.ts";

/** The rollout plan's JSON Schema (README.md "Files"); editors can validate with it too. */
export const PLAN_SCHEMA = new URL("./plan.schema.json", import.meta.url);

/** The health signals the collector knows by name. */
export type BuiltInSignal = "5xx" | "4xx" | "slow" | "filter_rejections" | "vm_failures";
export const BUILT_IN_SIGNALS: readonly BuiltInSignal[] = [
  "5xx",
  "4xx",
  "slow",
  "filter_rejections",
  "vm_failures",
];

/**
 * A health signal: a named ratio of counters with a direction. The built-in names say which Envoy
 * counters they read; any other name reads a graft filter counter (`counter`, e.g.
 * graft.limited_total) per request, so a filter's own signal needs no judge or collector change.
 */
export interface SignalPlan extends MetricConfig {
  name: string;
  /** For `slow`: a request is slow above this latency (ms); must be one of the histogram bounds. */
  thresholdMs?: number;
  /** For a filter signal: the counter's name as the filter defines it, e.g. graft.limited_total. */
  counter?: string;
  /**
   * For a filter signal: "up" (default) when more counts are worse (rejections), "down" when fewer
   * are (e.g. cache hits): the judged bad events are then the requests the counter did not count.
   */
  worse?: "up" | "down";
}

/** What the rollout does when maxDuration passes without a decision. */
export type OnTimeout = "rollback" | "hold";

/** What `graft rollout` does: which Envoys are canary and baseline, how long, and what counts as harm. */
export interface RolloutPlan {
  slot: string;
  /** The listener whose HTTP stats are judged (its stat_prefix). */
  listener: string;
  canary: string;
  baseline: string;
  /** Targets that receive the filter on PROMOTE (default: every target that is not canary). */
  promote?: string;
  intervalMs: number;
  minDurationMs: number;
  /** Undefined ("auto"): set when the rollout starts, from how long PROMOTE takes at its traffic. */
  maxDurationMs: number | undefined;
  /** INCONCLUSIVE at maxDuration rolls the canary back (default) or leaves it in place. */
  onTimeout: OnTimeout;
  /** Bursts shorter than this are one unit of evidence (default 1m; see src/judge/README.md). */
  burstWindowMs: number;
  alpha: number;
  minRequests: number;
  signals: SignalPlan[];
  /** Roll back after this many VM failures (reloads, restarts) on the canary within windowMinutes. */
  crashLoop: { maxFailures: number; windowMinutes: number };
  /** Roll back when the canary provably burns a signal's error budget faster than maxBurn × the SLO allows. */
  burnRate: { signal: string; slo: number; maxBurn: number }[];
  /** Where the Envoys' counters are read: their admin APIs (default) or a Prometheus scraping them. */
  metrics: PlanMetrics;
  /** What moves the release: the targets' slots (default) or an Istio WasmPlugin pair. */
  engine: PlanEngine;
}

export type PlanMetrics = { source: "admin" } | { source: "prometheus"; url: string };

/**
 * What moves the release. `fleet` (default): the targets file's slots, directly or through agents.
 * `istio`: a WasmPlugin pair patched through the Kubernetes API, the plan's canary and baseline
 * selectors being workload labels (src/mesh/istio/rollout-engine.ts).
 */
export type PlanEngine = { kind: "fleet" } | IstioEngineSettings;

export interface IstioEngineSettings {
  kind: "istio";
  namespace: string;
  /** The pair's base name: `<plugin>-stable` and `<plugin>-canary`. */
  plugin: string;
  /** Workload labels both plugins select; the canary's and baseline's own labels are added to them. */
  selector: Record<string, string>;
  /** Relative to the plan's folder; default $KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  context?: string;
  phase?: Phase;
  priority?: number;
  failStrategy?: FailStrategy;
}

const ISTIO_FIELDS = [
  "kind",
  "namespace",
  "plugin",
  "selector",
  "kubeconfig",
  "context",
  "phase",
  "priority",
  "failStrategy",
];

function planEngine(value: unknown, source: string): PlanEngine {
  if (value === undefined) return { kind: "fleet" };
  const example =
    "engine: { kind: istio, namespace: shop, plugin: checkout-guard, selector: { app: checkout } }";
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new PlanError(`${source}: engine: expected a mapping, e.g. ${example}`);
  const raw = value as Record<string, unknown>;
  if (raw.kind === "fleet" || raw.kind === undefined) {
    const extra = Object.keys(raw).filter((key) => key !== "kind");
    if (extra.length > 0)
      throw new PlanError(`${source}: engine.${extra[0]}: only the istio engine takes settings`);
    return { kind: "fleet" };
  }
  if (raw.kind !== "istio")
    throw new PlanError(
      `${source}: engine.kind: expected fleet (the targets file's slots) or istio (a WasmPlugin pair)`,
    );
  for (const key of Object.keys(raw))
    if (!ISTIO_FIELDS.includes(key))
      throw new PlanError(`${source}: engine.${key}: unknown field; fields are ${ISTIO_FIELDS.join(", ")}`);
  const text = (field: string, required: boolean): string | undefined => {
    const v = raw[field];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || v.length === 0)
      throw new PlanError(`${source}: engine.${field}: expected a string, e.g. ${example}`);
    return v;
  };
  const selector = raw.selector ?? {};
  if (
    typeof selector !== "object" ||
    selector === null ||
    Array.isArray(selector) ||
    Object.values(selector).some((v) => typeof v !== "string")
  )
    throw new PlanError(`${source}: engine.selector: expected workload labels, e.g. { app: checkout }`);
  const settings: IstioEngineSettings = {
    kind: "istio",
    namespace: text("namespace", true)!,
    plugin: text("plugin", true)!,
    selector: selector as Record<string, string>,
  };
  const kubeconfig = text("kubeconfig", false);
  if (kubeconfig !== undefined) settings.kubeconfig = kubeconfig;
  const context = text("context", false);
  if (context !== undefined) settings.context = context;
  if (raw.phase !== undefined) {
    if (!(PHASES as readonly unknown[]).includes(raw.phase))
      throw new PlanError(`${source}: engine.phase: expected one of ${PHASES.join(", ")}`);
    settings.phase = raw.phase as Phase;
  }
  if (raw.failStrategy !== undefined) {
    if (!(FAIL_STRATEGIES as readonly unknown[]).includes(raw.failStrategy))
      throw new PlanError(`${source}: engine.failStrategy: expected one of ${FAIL_STRATEGIES.join(", ")}`);
    settings.failStrategy = raw.failStrategy as FailStrategy;
  }
  if (raw.priority !== undefined) {
    if (!Number.isInteger(raw.priority))
      throw new PlanError(`${source}: engine.priority: expected a whole number (higher runs first)`);
    settings.priority = raw.priority as number;
  }
  return settings;
}

function planMetrics(value: unknown, source: string): PlanMetrics {
  if (value === undefined) return { source: "admin" };
  const example = "metrics: { source: prometheus, url: http://127.0.0.1:9090 }";
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new PlanError(`${source}: metrics: expected a mapping, e.g. ${example}`);
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw))
    if (key !== "source" && key !== "url")
      throw new PlanError(`${source}: metrics.${key}: unknown field; fields are source, url`);
  if (raw.source === "admin" || raw.source === undefined) {
    if (raw.url !== undefined)
      throw new PlanError(`${source}: metrics.url: only a prometheus source takes a url`);
    return { source: "admin" };
  }
  if (raw.source !== "prometheus")
    throw new PlanError(`${source}: metrics.source: expected admin (each Envoy's admin API) or prometheus`);
  if (typeof raw.url !== "string" || !/^https?:\/\/[^/\s]+/.test(raw.url))
    throw new PlanError(`${source}: metrics.url: expected Prometheus's base URL, e.g. ${example}`);
  return { source: "prometheus", url: raw.url };
}

/** The observation key of a signal: `slow` is one per latency band, e.g. `slow>50ms`. */
export function signalKey(signal: Pick<SignalPlan, "name" | "thresholdMs">): string {
  return signal.name === "slow" ? `slow>${signal.thresholdMs}ms` : signal.name;
}

/**
 * Errors, filter rejections, the bulk of latency (slow>50ms) and its tail: slow>100ms has a low
 * floor, so a regression that slows 0.5% of requests by 150 ms (p99 64 → 72 ms) is rolled back even
 * though it hardly moves the 50 ms band (src/judge/README.md, "Latency tails").
 */
export const DEFAULT_SIGNALS: SignalPlan[] = [
  { name: "5xx", maxRatio: 1.25, floorRate: 0.002 },
  { name: "filter_rejections", maxRatio: 1.25, floorRate: 0.002 },
  { name: "slow", thresholdMs: 50, maxRatio: 1.25, floorRate: 0.01 },
  { name: "slow", thresholdMs: 100, maxRatio: 1.5, floorRate: 0.001 },
];

export class PlanError extends GraftError<"INVALID_PLAN"> {
  constructor(message: string) {
    super("INVALID_PLAN", message);
  }
}

/** Reads and checks a plan; every error names the file, the field and what to write instead. */
export async function loadRolloutPlan(file: string): Promise<RolloutPlan> {
  let doc: unknown;
  try {
    doc = yaml.load(await readFile(file, "utf8"));
  } catch (error) {
    throw new PlanError(`${file}: cannot read the rollout plan: ${(error as Error).message}`);
  }
  return parseRolloutPlan(doc, file);
}

export function parseRolloutPlan(doc: unknown, source: string): RolloutPlan {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw new PlanError(`${source}: a rollout plan is a YAML mapping`);
  const raw = doc as Record<string, unknown>;
  const known = [
    "slot",
    "listener",
    "canary",
    "baseline",
    "promote",
    "interval",
    "minDuration",
    "maxDuration",
    "alpha",
    "minRequests",
    "signals",
    "crashLoop",
    "burnRate",
    "onTimeout",
    "burstWindow",
    "metrics",
    "engine",
  ];
  for (const key of Object.keys(raw)) {
    if (!known.includes(key))
      throw new PlanError(`${source}: unknown field "${key}"; fields are ${known.join(", ")}`);
  }
  const text = (field: string, fallback?: string): string => {
    const value = raw[field] ?? fallback;
    if (typeof value !== "string" || value.length === 0)
      throw new PlanError(
        `${source}: ${field}: expected a string, e.g. ${field}: ${field === "canary" ? "role=canary" : "…"}`,
      );
    return value;
  };
  const duration = (field: string, fallback: string): number => {
    const value = raw[field] ?? fallback;
    const ms = typeof value === "string" ? parseDuration(value) : null;
    if (ms === null || ms <= 0)
      throw new PlanError(`${source}: ${field}: expected a duration such as 5s, 2m or 1h30m`);
    return ms;
  };
  const number = (field: string, fallback: number, check: (n: number) => boolean, hint: string): number => {
    const value = raw[field] ?? fallback;
    if (typeof value !== "number" || !check(value))
      throw new PlanError(`${source}: ${field}: expected ${hint}`);
    return value;
  };
  const engine = planEngine(raw.engine, source);
  const plan: RolloutPlan = {
    // The istio engine has no slot: its plugin pair's name stands in for it in reports and audit records.
    slot: engine.kind === "istio" && raw.slot === undefined ? engine.plugin : text("slot"),
    listener: text("listener", "main"),
    canary: text("canary"),
    baseline: text("baseline"),
    promote: raw.promote === undefined ? undefined : text("promote"),
    intervalMs: duration("interval", "5s"),
    minDurationMs: duration("minDuration", "30s"),
    maxDurationMs:
      raw.maxDuration === undefined || raw.maxDuration === "auto"
        ? undefined
        : duration("maxDuration", "10m"),
    onTimeout: onTimeout(raw.onTimeout, source),
    metrics: planMetrics(raw.metrics, source),
    engine,
    burstWindowMs: duration("burstWindow", "1m"),
    alpha: number("alpha", 0.05, (n) => n > 0 && n < 0.5, "a probability between 0 and 0.5, e.g. 0.05"),
    minRequests: number(
      "minRequests",
      500,
      (n) => Number.isInteger(n) && n >= 0,
      "a whole number of canary requests",
    ),
    signals: DEFAULT_SIGNALS,
    crashLoop: { maxFailures: 3, windowMinutes: 5 },
    burnRate: [],
  };
  if (engine.kind === "istio") {
    if (plan.metrics.source !== "prometheus")
      throw new PlanError(
        `${source}: metrics: the istio engine judges the sidecars from Prometheus; add metrics: { source: prometheus, url: http://prometheus:9090 }`,
      );
    if (plan.promote !== undefined)
      throw new PlanError(
        `${source}: promote: the istio engine promotes to the baseline's workloads (its stable plugin); remove promote`,
      );
  }
  if (plan.maxDurationMs !== undefined && plan.maxDurationMs < plan.minDurationMs)
    throw new PlanError(`${source}: maxDuration is shorter than minDuration`);
  if (raw.signals !== undefined) {
    if (!Array.isArray(raw.signals) || raw.signals.length === 0)
      throw new PlanError(`${source}: signals: expected a list such as [{ name: 5xx, maxRatio: 1.25 }]`);
    plan.signals = raw.signals.map((entry, index) => parseSignal(entry, `${source}: signals[${index}]`));
  }
  if (raw.crashLoop !== undefined) {
    const guard = raw.crashLoop as { maxFailures?: unknown; windowMinutes?: unknown };
    if (typeof guard.maxFailures !== "number" || typeof guard.windowMinutes !== "number")
      throw new PlanError(`${source}: crashLoop: expected { maxFailures: 3, windowMinutes: 5 }`);
    plan.crashLoop = { maxFailures: guard.maxFailures, windowMinutes: guard.windowMinutes };
  }
  if (raw.burnRate !== undefined) {
    const example = "[{ signal: 5xx, slo: 0.999, maxBurn: 3 }]";
    if (!Array.isArray(raw.burnRate))
      throw new PlanError(`${source}: burnRate: expected a list such as ${example}`);
    plan.burnRate = raw.burnRate.map((entry, index) => {
      const guard = entry as { signal?: unknown; slo?: unknown; maxBurn?: unknown };
      const at = `${source}: burnRate[${index}]`;
      const judged = plan.signals.some(
        (signal) => signal.name === guard.signal && signal.counter !== undefined,
      );
      if (guard.signal !== "5xx" && guard.signal !== "4xx" && guard.signal !== "filter_rejections" && !judged)
        throw new PlanError(
          `${at}.signal: expected 5xx, 4xx, filter_rejections or a filter signal of the plan`,
        );
      if (typeof guard.slo !== "number" || !(guard.slo > 0 && guard.slo < 1))
        throw new PlanError(`${at}.slo: expected the SLO as a fraction below 1, e.g. 0.999`);
      if (guard.maxBurn !== undefined && !(typeof guard.maxBurn === "number" && guard.maxBurn > 0))
        throw new PlanError(`${at}.maxBurn: expected a positive number, e.g. 3`);
      return {
        signal: guard.signal as string,
        slo: guard.slo,
        maxBurn: (guard.maxBurn as number | undefined) ?? 3,
      };
    });
  }
  const keys = plan.signals.map(signalKey);
  const repeated = keys.find((key, index) => keys.indexOf(key) !== index);
  if (repeated)
    throw new PlanError(
      `${source}: signals: ${repeated} appears twice; give each slow band its own thresholdMs`,
    );
  // The checks above are the specific ones; the schema is the documented contract.
  checkAgainstSchema(doc, PLAN_SCHEMA, source, (problem) => {
    throw new PlanError(problem.message);
  });
  return plan;
}

function onTimeout(value: unknown, source: string): OnTimeout {
  if (value === undefined) return "rollback";
  if (value === "rollback" || value === "hold") return value;
  throw new PlanError(
    `${source}: onTimeout: expected rollback (take the canary out when maxDuration passes undecided) or hold (leave it in)`,
  );
}

const SIGNAL_FIELDS = [
  "name",
  "thresholdMs",
  "counter",
  "worse",
  "maxRatio",
  "floorRate",
  "minExposure",
  "dispersion",
  "learnDispersion",
] as const;

function parseSignal(entry: unknown, at: string): SignalPlan {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry))
    throw new PlanError(`${at}: expected a mapping such as { name: 5xx, maxRatio: 1.25 }`);
  const signal = entry as Partial<SignalPlan>;
  for (const key of Object.keys(signal)) {
    if (!(SIGNAL_FIELDS as readonly string[]).includes(key))
      throw new PlanError(`${at}: unknown field "${key}"; fields are ${SIGNAL_FIELDS.join(", ")}`);
  }
  const name = signal.name;
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name))
    throw new PlanError(
      `${at}.name: expected one of ${BUILT_IN_SIGNALS.join(", ")}, or a name for a filter counter`,
    );
  const builtIn = (BUILT_IN_SIGNALS as readonly string[]).includes(name);
  if (!builtIn && typeof signal.counter !== "string")
    throw new PlanError(
      `${at}.name: expected one of ${BUILT_IN_SIGNALS.join(", ")}; a signal of your own needs counter: <filter counter>, e.g. counter: graft.limited_total`,
    );
  if (builtIn && signal.counter !== undefined)
    throw new PlanError(
      `${at}.counter: ${name} is built in and reads its own counters; remove counter or rename the signal`,
    );
  if (signal.worse !== undefined && signal.worse !== "up" && signal.worse !== "down")
    throw new PlanError(`${at}.worse: expected up (more counts are worse) or down (fewer are)`);
  if (signal.maxRatio !== undefined && !(typeof signal.maxRatio === "number" && signal.maxRatio >= 1))
    throw new PlanError(`${at}.maxRatio: expected a number ≥ 1, e.g. 1.25`);
  if (
    signal.floorRate !== undefined &&
    !(typeof signal.floorRate === "number" && signal.floorRate >= 0 && signal.floorRate < 1)
  )
    throw new PlanError(`${at}.floorRate: expected a rate in [0, 1), e.g. 0.002`);
  if (signal.dispersion !== undefined && !(typeof signal.dispersion === "number" && signal.dispersion >= 1))
    throw new PlanError(
      `${at}.dispersion: expected a number ≥ 1: how many times more variable than independent requests its counts are (1 = not at all)`,
    );
  if (name === "slow" && !(typeof signal.thresholdMs === "number" && signal.thresholdMs > 0))
    throw new PlanError(`${at}.thresholdMs: slow needs a latency threshold in ms, e.g. 50`);
  return {
    ...signal,
    name,
    maxRatio: signal.maxRatio ?? (signal.floorRate === undefined ? 1.25 : undefined),
  } as SignalPlan;
}
