import { readSlotFile } from "../inject/ecds-file.ts";
import { slotFilePath } from "../inject/slot.ts";
import type { FleetReport } from "../inject/fleet.ts";
import type { Target } from "../inject/target.ts";
import { REFUSAL_CODES } from "./exit-codes.ts";

/**
 * A per-target failure as an operator needs it: which target and slot, the URL or path graft was
 * talking to, the cause in words, and whether anything changed there ("no", "yes" with what, or
 * "unknown" when graft cannot tell).
 */
export interface ExplainedFailure {
  target: string;
  slot: string;
  /** The admin API (file mode) or agent (agent mode) address graft used. */
  url: string;
  /** File mode: the slot file graft writes. */
  path?: string;
  code?: string;
  cause: string;
  changed: "no" | "yes" | "unknown";
  /** What is in place now, in words. */
  now: string;
}

/** Slot file versions before an operation, so a failure can say whether its file changed. */
export type SlotSnapshot = Map<string, string | undefined>;

const key = (target: string, slot: string) => `${target}/${slot}`;

export async function snapshotSlots(targets: Target[]): Promise<SlotSnapshot> {
  const snapshot: SlotSnapshot = new Map();
  for (const target of targets) {
    if (target.agent) continue;
    for (const slot of target.slots)
      snapshot.set(key(target.name, slot), (await readSlotFile(target.ecdsDir, slot))?.version);
  }
  return snapshot;
}

/** Why `fetch` failed, from its cause (ECONNREFUSED, ENOTFOUND, a timeout…). */
export function fetchCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

/** Asks the admin API once more, to name why it did not answer. */
async function probe(url: string): Promise<string> {
  try {
    const response = await fetch(`${url.replace(/\/$/, "")}/ready`, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return `answers now (HTTP ${response.status})`;
  } catch (error) {
    return fetchCause(error);
  }
}

export async function explainFailures(
  report: FleetReport,
  targets: Target[],
  before: SlotSnapshot,
): Promise<ExplainedFailure[]> {
  const explained: ExplainedFailure[] = [];
  for (const failure of report.failures) {
    const target = targets.find((t) => t.name === failure.target);
    if (!target) {
      explained.push({ ...failure, url: "", cause: failure.error, changed: "unknown", now: "unknown" });
      continue;
    }
    if (target.agent) {
      // An agent verifies before it writes, and restores the slot file when Envoy rejects.
      const unchangedCodes = ["AGENT_UNREACHABLE", "AGENT_UNVERIFIED", "ENVOY_REJECTED", "AUDIT_UNAVAILABLE"];
      const nothing =
        failure.code !== undefined &&
        (REFUSAL_CODES.has(failure.code) || unchangedCodes.includes(failure.code));
      explained.push({
        target: failure.target,
        slot: failure.slot,
        url: target.agent.url,
        ...(failure.code ? { code: failure.code } : {}),
        cause: failure.error.replace(`${failure.target}: `, ""),
        changed: nothing ? "no" : "unknown",
        now: nothing
          ? "the agent keeps serving what it served before"
          : `unknown: run graft status --targets … --select … to see what ${failure.target} serves`,
      });
      continue;
    }
    const file = slotFilePath(target.ecdsDir, failure.slot);
    const was = before.get(key(failure.target, failure.slot));
    const is = (await readSlotFile(target.ecdsDir, failure.slot))?.version;
    const unreachable = /fetch failed|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT/.test(failure.error);
    const cause = unreachable
      ? `Envoy's admin API ${target.adminUrl} did not answer (${await probe(target.adminUrl)})`
      : failure.error.replace(`${failure.target}: `, "");
    const changed = was === is ? "no" : "yes";
    explained.push({
      target: failure.target,
      slot: failure.slot,
      url: target.adminUrl,
      path: file,
      ...(failure.code ? { code: failure.code } : {}),
      cause,
      changed,
      now:
        changed === "no"
          ? `nothing changed: ${file} still holds version ${was ?? "(none)"}`
          : `${file} changed from ${was ?? "(none)"} to ${is ?? "(none)"}; Envoy ${/rejected/.test(failure.error) ? "kept serving the previous filter" : "may not have applied it"}`,
    });
  }
  return explained;
}

export function failureLine(failure: ExplainedFailure): string {
  return `${failure.target}/${failure.slot}: FAILED: ${failure.cause}; ${failure.now}`;
}
