// A rollout result made by the real judge over synthetic looks (no Envoy): what the report and the
// live view are tested and photographed with.
import { judge } from "../../src/judge/judge.ts";
import type { Observations, Snapshot } from "../../src/observe/observations.ts";
import { parseRolloutPlan, signalKey } from "../../src/rollout/plan.ts";
import { judgeConfig, type Look, type RolloutResult } from "../../src/rollout/rollout.ts";
import type { RolledOut } from "../../src/rollout/report.ts";
import type { ArmTotals } from "../../src/observe/collect.ts";
import { SAMPLE_FILTER } from "../support/sample-filter.ts";

export const PLAN = parseRolloutPlan(
  {
    slot: "graft-slot-0",
    canary: "role=canary",
    baseline: "role=baseline",
    interval: "2s",
    minDuration: "10s",
    maxDuration: "90s",
    minRequests: 1000,
    burstWindow: "6s",
    signals: [
      { name: "5xx", maxRatio: 1.5, floorRate: 0.005 },
      { name: "slow", thresholdMs: 50, maxRatio: 1.5, floorRate: 0.03 },
    ],
  },
  "synthetic plan",
);

export const ROLLED_OUT: RolledOut = {
  filter: SAMPLE_FILTER,
  version: "1.2.0",
  injectionId: "sf-v3",
  moduleSha256: "d05c6b1393e7fb7f1c688cc06b1633717d208cbc5c557ff3b8adc6fd1fa201f5",
  signers: ["alice", "bob"],
  author: "carol",
  reason: "tag API responses with the release (CHG-1234)",
  expires: "2026-12-05T20:00:00.000Z",
};

const totals = (requests: number, rq5xx: number): ArmTotals => ({
  requests,
  rq4xx: 0,
  rq5xx,
  slowerThan: new Map([[50, Math.round(requests * 0.01)]]),
  vmFailures: 0,
  filterCounters: {},
  resets: 0,
  memoryAllocated: 0,
});

/** `count` looks 2 s apart at 300 requests/s per arm; the canary answers `canary5xx` of them with 503. */
export function syntheticLooks(count: number, canary5xx: number): Look[] {
  const history: Record<string, Snapshot[]> = {};
  const looks: Look[] = [];
  for (let i = 1; i <= count; i++) {
    const requests = 600 * i;
    const canary = totals(requests, Math.round(requests * canary5xx));
    const baseline = totals(requests, Math.round(requests * 0.001));
    for (const signal of [...PLAN.signals, { name: "vm_failures" }]) {
      const key = signalKey(signal as { name: string; thresholdMs?: number });
      const pick = (arm: ArmTotals) =>
        key === "5xx"
          ? { bad: arm.rq5xx, exposure: arm.requests }
          : key === "vm_failures"
            ? { bad: 0, exposure: (i * 2) / 60 }
            : { bad: arm.slowerThan.get(50)!, exposure: arm.requests };
      (history[key] ??= []).push({ canary: pick(canary), baseline: pick(baseline), atMinute: (i * 2) / 60 });
    }
    const verdict = judge(history as Observations, judgeConfig(PLAN));
    looks.push({ elapsedMs: i * 2000, verdict, canary, baseline });
    if (verdict.decision !== "CONTINUE" && i * 2000 >= PLAN.minDurationMs) break;
  }
  return looks;
}

/** A finished rollout: PROMOTE of a healthy canary, or ROLLBACK of one answering 4% with 503. */
export function syntheticResult(kind: "PROMOTE" | "ROLLBACK"): RolloutResult & { rolledOut: RolledOut } {
  const looks = syntheticLooks(30, kind === "PROMOTE" ? 0.001 : 0.04);
  const last = looks.at(-1)!;
  const inject = (targets: string[]) => ({
    action: "inject" as const,
    results: targets.map((target) => ({
      target,
      slot: "graft-slot-0",
      outcome: "applied" as const,
      version: "sf-v3#4",
      injectionId: "sf-v3",
      ms: 84,
    })),
    failures: [],
    expired: [],
  });
  const actions =
    kind === "PROMOTE"
      ? [inject(["edge-1"]), inject(["edge-2", "edge-3"])]
      : [
          inject(["edge-1"]),
          {
            action: "rollback" as const,
            results: [
              {
                target: "edge-1",
                slot: "graft-slot-0",
                outcome: "rolled-back" as const,
                version: "sf-v2#5",
                injectionId: "sf-v2",
                ms: 79,
              },
            ],
            failures: [],
            expired: [],
          },
        ];
  return {
    decision: last.verdict.decision === "CONTINUE" ? "INCONCLUSIVE" : last.verdict.decision,
    reason: last.verdict.reasons[0] ?? "",
    canaryState: kind === "PROMOTE" ? "promoted" : "rolled back",
    dryRun: false,
    canaryTargets: ["edge-1"],
    baselineTargets: ["edge-2", "edge-3"],
    maxDurationMs: 90_000,
    warnings: [],
    looks,
    actions,
    startedAt: "2026-12-05T18:00:00.000Z",
    endedAt: "2026-12-05T18:00:" + String(Math.round(last.elapsedMs / 1000)).padStart(2, "0") + ".000Z",
    rolledOut: ROLLED_OUT,
  };
}
