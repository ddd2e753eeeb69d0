// SPDX-License-Identifier: Apache-2.0
/**
 * The suite's child processes (etcd, kube-apiserver, istiod, Envoy): each in its own process group with
 * its output in a log file, stopped by that group (SIGTERM, then SIGKILL after a grace period), in the
 * reverse order of their start. Nothing here is killed by name.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import path from "node:path";

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logDir: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Run with this group id (Envoy: so an iptables owner match can tell its own traffic apart). */
  gid?: number;
}

export class ManagedProcess {
  private exitCode: number | null | undefined;
  private exitSignal: NodeJS.Signals | null = null;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Why the process is no longer running, or undefined while it is. */
  get exitReason(): string | undefined {
    if (this.exitCode === undefined) return undefined;
    return this.exitSignal ? `killed by ${this.exitSignal}` : `exited with ${this.exitCode}`;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** The last lines of the log, for failure messages. */
  logTail(lines = 25): string {
    return this.log().trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    signalGroup(this.pid, "SIGTERM");
    const timer = setTimeout(() => signalGroup(this.pid, "SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
    // The leader may exit before helpers it forked: clear the group too.
    signalGroup(this.pid, "SIGKILL");
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Starts processes and stops all of them, last started first. */
export class ProcessGroup {
  private readonly processes: ManagedProcess[] = [];
  private readonly started: ManagedProcess[] = [];

  start(options: StartOptions): ManagedProcess {
    const logFile = path.join(options.logDir, `${options.name}.log`);
    const fd = openSync(logFile, "a");
    const child = spawn(options.command, options.args, {
      cwd: options.cwd ?? options.logDir,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", fd, fd],
      detached: true, // its own process group, so stop() reaches anything it forks
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    closeSync(fd);
    child.once("error", () => {}); // a missing binary: reported just below, not as an unhandled event
    if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.command}`);
    const started = new ManagedProcess(options.name, logFile, child);
    this.processes.push(started);
    this.started.push(started);
    return started;
  }

  /** Every process started so far, running or not. */
  list(): ManagedProcess[] {
    return [...this.started];
  }

  async stopAll(): Promise<void> {
    for (const running of this.processes.splice(0).reverse()) await running.stop();
  }

  /** Synchronous last resort (process exit): SIGKILL every group still registered. */
  killAllNow(): void {
    for (const running of this.processes.splice(0)) signalGroup(running.pid, "SIGKILL");
  }
}
