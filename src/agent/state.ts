import path from "node:path";
import type { DsseEnvelope } from "../sign/dsse.ts";
import type { FailurePolicy } from "../envoy/wasm-filter.ts";
import type { SlotResource } from "../inject/ecds-file.ts";
import { readFileNoFollow, writeFileAtomic } from "../util/atomic-write.ts";

/**
 * What the agent remembers, in its own 0700 state directory (never beside the slot files): per slot
 * the verified injections (top = active) with the envelope and configuration they were verified
 * with, and what the agent last wrote to the slot file; the highest policy serial it accepted; the
 * operation ids it has answered. Nothing here is trusted on its own: an entry is verified again
 * against the current policy before every activation, and the slot content is rebuilt from it, so a
 * hand-edited state file can at worst make the agent refuse.
 */
export interface AgentEntry {
  injectionId: string;
  filter: string;
  /** The signed release version (predicate.version). */
  release: string;
  moduleSha256: string;
  configSha256: string;
  expires: string;
  envelope: DsseEnvelope;
  configuration: Record<string, unknown>;
  failurePolicy: FailurePolicy;
  appliedAt: string;
}

export interface SlotState {
  /** Write counter: every write gets a fresh version_info (Envoy skips a config it saw before). */
  seq: number;
  stack: AgentEntry[];
  /** The slot file content the agent last wrote (and Envoy last accepted). */
  applied: SlotResource | null;
}

export interface OperationRecord {
  action: string;
  at: string;
  status: number;
  response: unknown;
}

export interface AgentState {
  policySerial: number;
  slots: Record<string, SlotState>;
  operations: Record<string, OperationRecord>;
}

const OPERATIONS_KEPT = 2000;

export function stateFile(stateDir: string): string {
  return path.join(stateDir, "state.json");
}

export async function readAgentState(stateDir: string, slots: string[]): Promise<AgentState> {
  let state: AgentState = { policySerial: 0, slots: {}, operations: {} };
  try {
    state = JSON.parse((await readFileNoFollow(stateFile(stateDir))).toString("utf8")) as AgentState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT")
      throw new Error(
        `${stateFile(stateDir)} is unreadable (${(error as Error).message}); the agent will not guess its verified state: restore the file or remove it (every slot then starts empty)`,
      );
  }
  for (const slot of slots) state.slots[slot] ??= { seq: 0, stack: [], applied: null };
  return state;
}

export async function writeAgentState(stateDir: string, state: AgentState): Promise<void> {
  const ids = Object.keys(state.operations);
  if (ids.length > OPERATIONS_KEPT) {
    const oldest = ids
      .sort((a, b) => state.operations[a]!.at.localeCompare(state.operations[b]!.at))
      .slice(0, ids.length - OPERATIONS_KEPT);
    for (const id of oldest) delete state.operations[id];
  }
  await writeFileAtomic(stateFile(stateDir), JSON.stringify(state, null, 1), { mode: 0o600 });
}
