import { readFile } from "node:fs/promises";
import yaml from "js-yaml";
import { parseDuration } from "../sign/duration.ts";
import type { MetricConfig } from "../judge/judge.ts";

/** A health signal the rollout judges, and how the collector counts it. */
export type SignalName = "5xx" | "4xx" | "slow" | "filter_rejections" | "vm_failures";

export interface SignalPlan extends MetricConfig {
  name: SignalName;
  /** For `slow`: a request is slow above this latency (ms); must be one of the histogram bounds. */
  thresholdMs?: number;
}

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
  maxDurationMs: number;
  alpha: number;
  minRequests: number;
  signals: SignalPlan[];
  /** Roll back after this many VM failures (reloads, restarts) on the canary within windowMinutes. */
  crashLoop: { maxFailures: number; windowMinutes: number };
  /** Roll back when the canary provably burns a signal's error budget faster than maxBurn × the SLO allows. */
  burnRate: { signal: SignalName; slo: number; maxBurn: number }[];
}

/** The observation key of a signal: `slow` is one per latency band, e.g. `slow>50ms`. */
export function signalKey(signal: Pick<SignalPlan, "name" | "thresholdMs">): string {
  return signal.name === "slow" ? `slow>${signal.thresholdMs}ms` : signal.name;
}

export const DEFAULT_SIGNALS: SignalPlan[] = [
  { name: "5xx", maxRatio: 1.25, floorRate: 0.002 },
  { name: "filter_rejections", maxRatio: 1.25, floorRate: 0.002 },
  { name: "slow", thresholdMs: 50, maxRatio: 1.25, floorRate: 0.01 },
];

export class PlanError extends Error {}

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
  const plan: RolloutPlan = {
    slot: text("slot"),
    listener: text("listener", "main"),
    canary: text("canary"),
    baseline: text("baseline"),
    promote: raw.promote === undefined ? undefined : text("promote"),
    intervalMs: duration("interval", "5s"),
    minDurationMs: duration("minDuration", "30s"),
    maxDurationMs: duration("maxDuration", "10m"),
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
  if (plan.maxDurationMs < plan.minDurationMs)
    throw new PlanError(`${source}: maxDuration is shorter than minDuration`);
  if (raw.signals !== undefined) {
    if (!Array.isArray(raw.signals) || raw.signals.length === 0)
      throw new PlanError(`${source}: signals: expected a list such as [{ name: 5xx, maxRatio: 1.25 }]`);
    const names: SignalName[] = ["5xx", "4xx", "slow", "filter_rejections", "vm_failures"];
    plan.signals = raw.signals.map((entry, index) => {
      const signal = entry as Partial<SignalPlan>;
      if (!signal || !names.includes(signal.name as SignalName))
        throw new PlanError(`${source}: signals[${index}].name: expected one of ${names.join(", ")}`);
      if (signal.maxRatio !== undefined && !(typeof signal.maxRatio === "number" && signal.maxRatio >= 1))
        throw new PlanError(`${source}: signals[${index}].maxRatio: expected a number ≥ 1, e.g. 1.25`);
      if (
        signal.floorRate !== undefined &&
        !(typeof signal.floorRate === "number" && signal.floorRate >= 0 && signal.floorRate < 1)
      )
        throw new PlanError(`${source}: signals[${index}].floorRate: expected a rate in [0, 1), e.g. 0.002`);
      if (signal.name === "slow" && !(typeof signal.thresholdMs === "number" && signal.thresholdMs > 0))
        throw new PlanError(
          `${source}: signals[${index}].thresholdMs: slow needs a latency threshold in ms, e.g. 50`,
        );
      return {
        ...signal,
        name: signal.name as SignalName,
        maxRatio: signal.maxRatio ?? (signal.floorRate === undefined ? 1.25 : undefined),
      } as SignalPlan;
    });
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
      if (guard.signal !== "5xx" && guard.signal !== "4xx" && guard.signal !== "filter_rejections")
        throw new PlanError(`${at}.signal: expected 5xx, 4xx or filter_rejections`);
      if (typeof guard.slo !== "number" || !(guard.slo > 0 && guard.slo < 1))
        throw new PlanError(`${at}.slo: expected the SLO as a fraction below 1, e.g. 0.999`);
      if (guard.maxBurn !== undefined && !(typeof guard.maxBurn === "number" && guard.maxBurn > 0))
        throw new PlanError(`${at}.maxBurn: expected a positive number, e.g. 3`);
      return { signal: guard.signal, slo: guard.slo, maxBurn: (guard.maxBurn as number | undefined) ?? 3 };
    });
  }
  const keys = plan.signals.map(signalKey);
  const repeated = keys.find((key, index) => keys.indexOf(key) !== index);
  if (repeated)
    throw new PlanError(
      `${source}: signals: ${repeated} appears twice; give each slow band its own thresholdMs`,
    );
  return plan;
}
