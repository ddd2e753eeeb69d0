// The one lock helper: an exclusive lock file across processes. The lock is created whole (its
// content written to a private temporary file, then hard-linked into place, which fails if the lock
// exists), so a holder killed at any moment never leaves an empty lock. A lock is stale when its
// holder on this host is no longer alive (judged by its PID, at once), or when it is older than
// `staleMs` (a holder on another host sharing the directory).
import { randomUUID } from "node:crypto";
import { link, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { GraftError } from "./errors.ts";

interface LockContent {
  pid: number;
  host: string;
  nonce: string;
  time: string;
}

export interface LockOptions {
  /** Give up after this long (the error names the holder). */
  timeoutMs: number;
  /** A lock this old is stale whatever its holder. */
  staleMs: number;
  /** Code of the error when the lock cannot be taken in time. */
  code: string;
  /** What is locked, for the error message (e.g. "the audit log", "slot graft-slot-0 of edge-1"). */
  what: string;
}

/** Takes the lock (waiting up to timeoutMs); resolves to its release. */
export async function acquireLockFile(lockPath: string, options: LockOptions): Promise<() => Promise<void>> {
  const content: LockContent = {
    pid: process.pid,
    host: hostname(),
    nonce: randomUUID(),
    time: new Date().toISOString(),
  };
  const text = JSON.stringify(content);
  const deadline = Date.now() + options.timeoutMs;
  let wait = 2;
  for (;;) {
    if (await tryCreate(lockPath, text, content.nonce)) {
      return async () => {
        // Only remove our own lock: if it was broken as stale and re-taken, leave the new holder's.
        const current = await readFile(lockPath, "utf8").catch(() => null);
        if (current === text) await unlink(lockPath).catch(() => undefined);
      };
    }
    if (await breakIfStale(lockPath, options.staleMs)) continue;
    if (Date.now() >= deadline) {
      const holder = await readFile(lockPath, "utf8").catch(() => "(unreadable)");
      throw new GraftError(
        options.code,
        `could not lock ${options.what} (${lockPath}) within ${options.timeoutMs} ms: held by ${holder}; if that process is gone, delete the lock file`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, wait + Math.random() * wait));
    wait = Math.min(wait * 2, 50);
  }
}

/** Runs `action` holding the lock. */
export async function withLockFile<T>(
  lockPath: string,
  options: LockOptions,
  action: () => Promise<T>,
): Promise<T> {
  const release = await acquireLockFile(lockPath, options);
  try {
    return await action();
  } finally {
    await release();
  }
}

async function tryCreate(lockPath: string, text: string, nonce: string): Promise<boolean> {
  const temporary = `${lockPath}.${nonce}.tmp`;
  await writeFile(temporary, text, { flag: "wx", mode: 0o644 });
  try {
    await link(temporary, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return false;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    text = await readFile(lockPath, "utf8");
    mtimeMs = (await stat(lockPath)).mtimeMs;
  } catch {
    return false; // gone already (released), or unreadable: try to take it again
  }
  let holder: Partial<LockContent> = {};
  try {
    holder = JSON.parse(text) as Partial<LockContent>;
  } catch {
    // Not graft's format (locks are created whole): only age makes it stale.
  }
  const old = Date.now() - mtimeMs > staleMs;
  const dead = holder.host === hostname() && typeof holder.pid === "number" && !isAlive(holder.pid);
  if (!old && !dead) return false;
  const again = await readFile(lockPath, "utf8").catch(() => null);
  if (again !== text) return false;
  await unlink(lockPath).catch(() => undefined);
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
