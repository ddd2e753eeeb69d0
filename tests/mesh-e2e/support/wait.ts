// SPDX-License-Identifier: Apache-2.0
/** Bounded polling: every wait in the suite has a deadline, and gives up early when its process died. */
import type { ManagedProcess } from "./processes.ts";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Fail at once (with its log) if this process exits while waiting. */
  process?: ManagedProcess;
}

/** Polls `probe` until it returns a value other than undefined; throws with `what` on timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const exited = options.process?.exitReason;
    if (exited !== undefined)
      throw new Error(
        `${what}: ${options.process!.name} ${exited}; its log ends:\n${options.process!.logTail()}`,
      );
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError ? ` (last error: ${(lastError as Error).message})` : "";
      const log = options.process ? `\n${options.process.name} log ends:\n${options.process.logTail()}` : "";
      throw new Error(`${what}: not within ${options.timeoutMs} ms${detail}${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Milliseconds since `start`, rounded, for the suite's timeline. */
export function elapsedMs(start: number): number {
  return Math.round(performance.now() - start);
}
