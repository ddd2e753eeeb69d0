import { mkdir } from "node:fs/promises";
import path from "node:path";
import { storeModule as storeInModuleStore } from "./module-store.ts";
import { wasmTypedConfig, type FailurePolicy } from "../envoy/wasm-filter.ts";
import { applySlot, slotStatus } from "./activate.ts";
import { isExpired, readHistory, writeHistory, type InjectionEntry, type SlotHistory } from "./history.ts";
import { NOOP_FILTER_CONFIG } from "./slot.ts";
import { adminOf, type Target } from "./target.ts";
import { withLockFile } from "../util/lock-file.ts";

/** What to inject into a slot: a verified module and the configuration it was approved with. */
export interface Injection {
  filter: string;
  rootId: string;
  injectionId: string;
  module: Uint8Array;
  /** The filter configuration; sent to the filter as JSON with `injection_id` set. */
  configuration: Record<string, unknown>;
  configSha256: string;
  expires?: string;
  failurePolicy?: FailurePolicy;
}

export type SlotOutcome = "applied" | "unchanged" | "rolled-back" | "emptied" | "disabled" | "expired";

export interface SlotResult {
  target: string;
  slot: string;
  outcome: SlotOutcome;
  /** The version the slot serves afterwards. */
  version: string;
  /** Injection now active, or undefined when the slot is empty. */
  injectionId?: string;
  ms: number;
  /** Through an agent: the operation id was answered before, nothing was done again. */
  replayed?: boolean;
  /** Kill switch through an agent: Envoy reported the no-op version through its admin API. */
  confirmed?: boolean;
  /** Rollback through an agent: entries passed over because they no longer verify. */
  skipped?: { injectionId: string; code: string }[];
}

/** Stores a module under its digest (full sha256 checked); see module-store.ts. */
export async function storeModule(
  moduleDir: string,
  module: Uint8Array,
): Promise<{ path: string; sha256: string }> {
  const { path: file, sha256 } = await storeInModuleStore(moduleDir, module);
  return { path: file, sha256 };
}

/** Serialises actions on one slot across processes: an exclusive lock file next to its history. */
async function withSlotLock<T>(target: Target, slot: string, action: () => Promise<T>): Promise<T> {
  const lock = path.join(target.ecdsDir, ".graft", `${slot}.lock`);
  await mkdir(path.dirname(lock), { recursive: true });
  return withLockFile(
    lock,
    { timeoutMs: 15_000, staleMs: 60_000, code: "SLOT_LOCKED", what: `slot ${slot} of ${target.name}` },
    action,
  );
}

/** The slot content for a history entry; a fresh version string makes Envoy apply it even if an identical config was refused or shown before. */
function entryResource(entry: InjectionEntry | undefined, version: string) {
  if (!entry) return { version, typedConfig: NOOP_FILTER_CONFIG };
  const typedConfig = structuredClone(entry.typedConfig) as {
    config: { vm_config: { environment_variables?: { key_values: Record<string, string> } } };
  };
  typedConfig.config.vm_config.environment_variables = { key_values: { GRAFT_SLOT_VERSION: version } };
  return { version, typedConfig };
}

async function writeEntry(
  target: Target,
  slot: string,
  history: SlotHistory,
  entry: InjectionEntry | undefined,
  label: string,
): Promise<{ version: string; ms: number }> {
  // Every write gets a fresh version, also a retry of a refused one: Envoy silently skips a
  // config identical to the last one it saw, refused or not.
  history.seq += 1;
  const version = `${label}#${history.seq}`;
  const resource = entryResource(entry, version);
  let ms: number;
  try {
    ({ ms } = await applySlot(target, slot, resource));
  } catch (error) {
    const stored = await readHistory(target.ecdsDir, slot);
    await writeHistory(target.ecdsDir, slot, { ...stored, seq: history.seq });
    throw error;
  }
  if (entry) {
    entry.version = version;
    entry.typedConfig = resource.typedConfig;
  }
  return { version, ms };
}

/** Injects into one slot; a repeat of the active injection changes nothing. */
export async function injectSlot(target: Target, slot: string, injection: Injection): Promise<SlotResult> {
  return withSlotLock(target, slot, async () => {
    const history = await readHistory(target.ecdsDir, slot);
    const stored = await storeModule(target.moduleDir, injection.module);
    const top = history.stack.at(-1);
    if (
      top &&
      top.injectionId === injection.injectionId &&
      top.moduleSha256 === stored.sha256 &&
      top.configSha256 === injection.configSha256
    ) {
      const status = await slotStatus(adminOf(target), slot);
      if (status.version === top.version) {
        return {
          target: target.name,
          slot,
          outcome: "unchanged",
          version: top.version,
          injectionId: top.injectionId,
          ms: 0,
        };
      }
    }
    const entry: InjectionEntry = {
      version: "",
      injectionId: injection.injectionId,
      filter: injection.filter,
      moduleSha256: stored.sha256,
      configSha256: injection.configSha256,
      expires: injection.expires,
      appliedAt: new Date().toISOString(),
      typedConfig: wasmTypedConfig({
        name: slot,
        rootId: injection.rootId,
        vmId: `${slot}-${stored.sha256.slice(0, 12)}`,
        wasmPath: stored.path,
        configuration: { ...injection.configuration, injection_id: injection.injectionId },
        failurePolicy: injection.failurePolicy ?? "FAIL_CLOSED",
      }),
    };
    const { version, ms } = await writeEntry(target, slot, history, entry, injection.injectionId);
    history.stack.push(entry);
    await writeHistory(target.ecdsDir, slot, history);
    return { target: target.name, slot, outcome: "applied", version, injectionId: injection.injectionId, ms };
  });
}

/** Returns a slot to the injection before the active one (or empty), dropping expired ones on the way. */
export async function rollbackSlot(target: Target, slot: string, now = new Date()): Promise<SlotResult> {
  return withSlotLock(target, slot, async () => {
    const history = await readHistory(target.ecdsDir, slot);
    history.stack.pop();
    history.stack = history.stack.filter((entry) => !isExpired(entry, now));
    const next = history.stack.at(-1);
    const { version, ms } = await writeEntry(target, slot, history, next, next?.injectionId ?? "empty");
    await writeHistory(target.ecdsDir, slot, history);
    return {
      target: target.name,
      slot,
      outcome: next ? "rolled-back" : "emptied",
      version,
      injectionId: next?.injectionId,
      ms,
    };
  });
}

/** The kill switch for one slot: the no-op filter, and no injection left to roll back to. */
export async function disableSlot(target: Target, slot: string): Promise<SlotResult> {
  return withSlotLock(target, slot, async () => {
    const history = await readHistory(target.ecdsDir, slot);
    history.stack = [];
    const { version, ms } = await writeEntry(target, slot, history, undefined, "disabled");
    await writeHistory(target.ecdsDir, slot, history);
    return { target: target.name, slot, outcome: "disabled", version, ms };
  });
}

/** Removes expired injections from a slot; the newest unexpired one below them becomes active. */
export async function expireSlot(
  target: Target,
  slot: string,
  now = new Date(),
): Promise<SlotResult | undefined> {
  return withSlotLock(target, slot, async () => {
    const history = await readHistory(target.ecdsDir, slot);
    const top = history.stack.at(-1);
    if (!top || !isExpired(top, now)) {
      const kept = history.stack.filter((entry) => !isExpired(entry, now));
      if (kept.length !== history.stack.length) {
        history.stack = kept;
        await writeHistory(target.ecdsDir, slot, history);
      }
      return undefined;
    }
    history.stack = history.stack.filter((entry) => !isExpired(entry, now));
    const next = history.stack.at(-1);
    const { version, ms } = await writeEntry(target, slot, history, next, next?.injectionId ?? "empty");
    await writeHistory(target.ecdsDir, slot, history);
    return { target: target.name, slot, outcome: "expired", version, injectionId: next?.injectionId, ms };
  });
}
