import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic-write.ts";

/** One injection as a slot remembers it, so it can be rolled back to or expired. */
export interface InjectionEntry {
  /** version_info written to the slot file. */
  version: string;
  injectionId: string;
  filter: string;
  moduleSha256: string;
  configSha256: string;
  /** RFC 3339; absent means no expiry. */
  expires?: string;
  appliedAt: string;
  /** The Wasm filter config as written; rollback writes it again. */
  typedConfig: Record<string, unknown>;
}

/**
 * A slot's injection stack (top = active) and write counter, kept beside the slot files
 * (`<ecdsDir>/.graft/<slot>.json`) so that every operator and `graft control` acting on a target
 * shares it, and an interrupted command converges when it is run again.
 */
export interface SlotHistory {
  seq: number;
  stack: InjectionEntry[];
}

function historyPath(ecdsDir: string, slot: string): string {
  return path.join(ecdsDir, ".graft", `${slot}.json`);
}

export async function readHistory(ecdsDir: string, slot: string): Promise<SlotHistory> {
  try {
    return JSON.parse(await readFile(historyPath(ecdsDir, slot), "utf8")) as SlotHistory;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { seq: 0, stack: [] };
    throw new Error(
      `${historyPath(ecdsDir, slot)} is unreadable (${(error as Error).message}); restore it from the audit log or remove it to start the slot afresh`,
    );
  }
}

export async function writeHistory(ecdsDir: string, slot: string, history: SlotHistory): Promise<void> {
  await writeFileAtomic(historyPath(ecdsDir, slot), JSON.stringify(history, null, 2), {
    mode: 0o600,
    createDirMode: 0o700,
  });
}

export function isExpired(entry: InjectionEntry, now: Date): boolean {
  return entry.expires !== undefined && Date.parse(entry.expires) <= now.getTime();
}
