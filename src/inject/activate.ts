import type { AdminClient } from "../envoy/admin.ts";
import { isDeepStrictEqual } from "node:util";
import { readSlotFile, writeSlotFile, type SlotResource } from "./ecds-file.ts";
import { slotStat } from "./slot.ts";
import { adminOf, targetLogs, type Target } from "./target.ts";

/** What Envoy's ECDS stats say about one slot. */
export interface SlotStatus {
  /** version_info of the last accepted file. */
  version: string | undefined;
  configReload: number;
  updateRejected: number;
  configFail: number;
}

export async function slotStatus(admin: AdminClient, slot: string): Promise<SlotStatus> {
  const prefix = slotStat(slot, "");
  const stats = await admin.stats(`^${prefix.replace(/\./g, "\\.")}`);
  const count = (name: string) => stats.values.get(prefix + name) ?? 0;
  return {
    version: stats.text.get(prefix + "version_text"),
    configReload: count("config_reload"),
    updateRejected: count("update_rejected"),
    configFail: count("config_fail"),
  };
}

/** Envoy refused a slot update; the slot keeps serving what it served before. */
export class SlotUpdateRejected extends Error {
  constructor(
    readonly target: string,
    readonly slot: string,
    readonly reason: string,
  ) {
    super(`${target}: Envoy rejected the update of ${slot}: ${reason}; the previous filter stays active`);
  }
}

export class SlotUpdateTimeout extends Error {}

const REASON_LINE =
  /Filesystem config update rejected: (.*)|invalid configuration: (.*)|\]\[(?:critical|error)\]\[wasm\] \[[^\]]*\] (.*)/;

/** The lines of Envoy's log, written after `from`, that explain a rejection. */
function rejectionReason(log: string, from: number): string {
  const reasons: string[] = [];
  for (const line of log.slice(from).split("\n")) {
    const match = REASON_LINE.exec(line);
    const reason = match?.[2] ? `invalid configuration: ${match[2]}` : (match?.[1] ?? match?.[3]);
    if (reason && !reasons.includes(reason)) reasons.push(reason.trim());
  }
  return reasons.length > 0
    ? reasons.join("; ")
    : "see Envoy's log (no log access configured for this target)";
}

/**
 * Writes a slot file and waits until Envoy reports that version active (`version_text` and a new
 * `config_reload`), or rejects it (`update_rejected`/`config_fail` grow). Envoy applies the new
 * filter to new streams on every worker; on rejection the old one keeps serving.
 */
export async function applySlot(
  target: Target,
  slot: string,
  resource: SlotResource,
  timeoutMs = 10_000,
): Promise<{ ms: number }> {
  const admin = adminOf(target);
  const before = await slotStatus(admin, slot);
  const logStart = (await targetLogs(target)).length;
  // Envoy skips a config identical to the active one (only version_text moves): the empty slot
  // written again, for instance. Wasm configs never repeat (each carries its version).
  const previous = await readSlotFile(target.ecdsDir, slot);
  const unchanged = previous !== undefined && isDeepStrictEqual(previous.typedConfig, resource.typedConfig);
  const started = performance.now();
  await writeSlotFile(target.ecdsDir, slot, resource);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await slotStatus(admin, slot);
    if (now.version === resource.version && (unchanged || now.configReload > before.configReload)) {
      return { ms: performance.now() - started };
    }
    if (now.updateRejected > before.updateRejected || now.configFail > before.configFail) {
      // Envoy logs asynchronously to the rejection; give the reason a moment to land.
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw new SlotUpdateRejected(target.name, slot, rejectionReason(await targetLogs(target), logStart));
    }
    if (Date.now() > deadline) {
      throw new SlotUpdateTimeout(
        `${target.name}: ${slot} did not report version ${resource.version} within ${timeoutMs} ms (it reports ${now.version ?? "none"}); is ${target.ecdsDir} the directory this Envoy watches?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
