/**
 * What the canary judges read: per metric, cumulative counts of bad events and exposure for the
 * canary arm and the baseline arm, one snapshot per look (scrape). Both judges (graft's and the
 * Flagger-style one) and the simulator share these types.
 */
import { GraftError } from "../util/errors.ts";

/** Cumulative counts for one arm, e.g. 5xx responses out of requests, or VM failures out of pod-minutes. */
export interface ArmCounts {
  bad: number;
  exposure: number;
}

/** One look at one metric: cumulative counts since the canary started, for both arms. */
export interface Snapshot {
  canary: ArmCounts;
  baseline: ArmCounts;
  /** Minutes since the canary started; defaults to the snapshot's index. Used by time-window guards. */
  atMinute?: number;
}

/** Snapshots per metric name, oldest first. A single snapshot is the whole canary as one batch. */
export type Observations = Readonly<Record<string, readonly Snapshot[] | undefined>>;

/** Counts that arrived between two consecutive snapshots. */
export interface Increment {
  canary: ArmCounts;
  baseline: ArmCounts;
  atMinute: number;
}

export type JudgeErrorCode =
  | "INVALID_COUNT"
  | "COUNTER_DECREASED"
  | "EVENTS_WITHOUT_EXPOSURE"
  | "MORE_BAD_THAN_EXPOSURE"
  | "UNKNOWN_METRIC"
  | "INVALID_CONFIG";

/** Bad input or configuration for a canary judge; `code` is stable, the message names the offending value. */
export class JudgeError extends GraftError<JudgeErrorCode> {}

const ZERO: ArmCounts = { bad: 0, exposure: 0 };

/** The unit of exposure in which every bad event is one of the exposure (a 5xx is one of the requests). */
export const REQUESTS = "requests";

function checkArm(metric: string, arm: string, index: number, counts: ArmCounts, unit: string): void {
  for (const [field, value] of [
    ["bad", counts.bad],
    ["exposure", counts.exposure],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) {
      throw new JudgeError(
        "INVALID_COUNT",
        `${metric}: ${arm}.${field} is ${value} at snapshot ${index}; counts are finite and ≥ 0`,
      );
    }
  }
  // Bad events are counted events; exposure may be a duration (pod-minutes) unless it counts requests.
  const wholeFields = unit === REQUESTS ? (["bad", "exposure"] as const) : (["bad"] as const);
  for (const field of wholeFields) {
    if (!Number.isInteger(counts[field])) {
      throw new JudgeError(
        "INVALID_COUNT",
        `${metric}: ${arm}.${field} is ${counts[field]} at snapshot ${index}; counters are whole numbers ` +
          "(pass the counters themselves, not rates or averages)",
      );
    }
  }
  if (unit === REQUESTS && counts.bad > counts.exposure) {
    throw new JudgeError(
      "MORE_BAD_THAN_EXPOSURE",
      `${metric}: ${arm} has ${counts.bad} bad requests out of ${counts.exposure} at snapshot ${index}; ` +
        "the bad-event counter must count a subset of the requests (check which counter feeds exposure)",
    );
  }
}

/**
 * Per-look increments of a metric's cumulative snapshots. Counters must not go down: a hot restart
 * resets Envoy's counters, and the collector has to stitch them before the judge sees them. With
 * `unit` "requests" (the default) counts must be whole and bad events cannot outnumber requests.
 */
export function increments(
  metric: string,
  snapshots: readonly Snapshot[],
  unit: string = REQUESTS,
): Increment[] {
  const result: Increment[] = [];
  let previous: Snapshot = { canary: ZERO, baseline: ZERO };
  snapshots.forEach((snapshot, index) => {
    checkArm(metric, "canary", index, snapshot.canary, unit);
    checkArm(metric, "baseline", index, snapshot.baseline, unit);
    const increment: Increment = {
      canary: delta(metric, "canary", index, previous.canary, snapshot.canary),
      baseline: delta(metric, "baseline", index, previous.baseline, snapshot.baseline),
      atMinute: snapshot.atMinute ?? index,
    };
    for (const arm of ["canary", "baseline"] as const) {
      if (increment[arm].bad > 0 && increment[arm].exposure === 0) {
        throw new JudgeError(
          "EVENTS_WITHOUT_EXPOSURE",
          `${metric}: ${arm} has ${increment[arm].bad} new bad events but no new exposure at snapshot ${index}`,
        );
      }
    }
    result.push(increment);
    previous = snapshot;
  });
  return result;
}

function delta(metric: string, arm: string, index: number, before: ArmCounts, after: ArmCounts): ArmCounts {
  const bad = after.bad - before.bad;
  const exposure = after.exposure - before.exposure;
  if (bad < 0 || exposure < 0) {
    throw new JudgeError(
      "COUNTER_DECREASED",
      `${metric}: ${arm} counter went down at snapshot ${index} ` +
        `(bad ${before.bad} → ${after.bad}, exposure ${before.exposure} → ${after.exposure})`,
    );
  }
  return { bad, exposure };
}

/** The last snapshot's totals, or zeros when there is none. */
export function totals(snapshots: readonly Snapshot[]): { canary: ArmCounts; baseline: ArmCounts } {
  const last = snapshots[snapshots.length - 1];
  return last ? { canary: last.canary, baseline: last.baseline } : { canary: ZERO, baseline: ZERO };
}
