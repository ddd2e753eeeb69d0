// SPDX-License-Identifier: Apache-2.0
/**
 * The suite runs in a private network namespace of its own (`unshare --net`): Istio's sidecar listeners
 * bind 0.0.0.0 and cannot be told otherwise, and the API server, etcd and istiod use fixed ports. Inside,
 * only `lo` exists, so nothing the suite starts is reachable from the host or collides with anything on it.
 *
 * Node cannot enter a namespace itself, so the test file runs itself again under `unshare --net`. The
 * namespace has no name and no bind mount: it disappears with its last process. The outer run makes sure
 * that happens: after the inner run it kills whatever still lives in that namespace (found by its inode in
 * /proc/<pid>/ns/net), whatever the inner run did or failed to do.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";

const MARKER = "GRAFT_MESH_E2E_NETNS_FILE";

function netnsOf(pid: number | "self"): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** True inside the namespace made by runInPrivateNetns (and nowhere else). */
export function insidePrivateNetns(): boolean {
  return process.env[MARKER] !== undefined && netnsOf("self") !== netnsOf(1);
}

/** Why a private network namespace with loopback and iptables cannot be had here, or undefined. */
export function privateNetnsSkipReason(): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  for (const tool of ["unshare", "ip", "iptables"]) {
    const probe = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
    if (probe.status !== 0) return `${tool} is not installed (needed for the private network namespace)`;
  }
  const probe = spawnSync(
    "unshare",
    ["--net", "--", "sh", "-c", "ip link set lo up && iptables -t nat -L OUTPUT -n >/dev/null"],
    { encoding: "utf8", timeout: 10_000 },
  );
  if (probe.status !== 0)
    return `cannot make a private network namespace with loopback and iptables nat here (unshare --net needs root or CAP_SYS_ADMIN): ${(probe.stderr || String(probe.error)).trim()}`;
  return undefined;
}

/** Inside the namespace: bring up `lo` and record the namespace for the outer run's reaper. */
export function prepareInsideNetns(): void {
  execFileSync("ip", ["link", "set", "lo", "up"]);
  writeFileSync(process.env[MARKER]!, netnsOf("self")!);
}

/**
 * Sends the outbound traffic to 127.0.0.1:`servicePort` through Envoy's virtualOutbound listener (as
 * istio-init's iptables rules do in a pod), except traffic of group `envoyGid`: Envoy's own upstream
 * connections would otherwise loop back into it.
 */
export function redirectToEnvoy(servicePort: number, outboundPort: number, envoyGid: number): void {
  execFileSync("iptables", [
    "-t",
    "nat",
    "-A",
    "OUTPUT",
    "-p",
    "tcp",
    "-d",
    "127.0.0.1",
    "--dport",
    String(servicePort),
    "-m",
    "owner",
    "!",
    "--gid-owner",
    String(envoyGid),
    "-j",
    "REDIRECT",
    "--to-ports",
    String(outboundPort),
  ]);
}

export interface InnerRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** pids the reaper had to kill after the inner run (should be none). */
  reaped: number[];
}

/** Runs `command args` in a new network namespace; then kills anything left in it. */
export async function runInPrivateNetns(
  command: string,
  args: string[],
  options: { env: Record<string, string>; timeoutMs: number; netnsFile: string },
): Promise<InnerRun> {
  writeFileSync(options.netnsFile, "");
  const child = spawn("unshare", ["--net", "--", command, ...args], {
    env: { ...process.env, ...options.env, [MARKER]: options.netnsFile },
    stdio: "inherit",
    detached: true,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!, "SIGTERM");
    setTimeout(() => killGroup(child.pid!, "SIGKILL"), 5_000).unref();
  }, options.timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once("exit", (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  );
  clearTimeout(timer);
  killGroup(child.pid!, "SIGKILL");
  const netns = readFileSync(options.netnsFile, "utf8").trim();
  // Helpers that exit on their own when the run ends (tsx's esbuild service) get a moment to do so.
  const graceEnd = Date.now() + 2_000;
  while (processesIn(netns).length > 0 && Date.now() < graceEnd) await new Promise((r) => setTimeout(r, 100));
  return { code, signal, timedOut, reaped: reapNamespace(netns) };
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** The pids in network namespace `netns` (e.g. "net:[4026532301]"). */
function processesIn(netns: string): number[] {
  if (!netns || netns === netnsOf("self")) return [];
  return readdirSync("/proc")
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid && netnsOf(pid) === netns);
}

/** SIGKILLs every process still in network namespace `netns`. */
function reapNamespace(netns: string): number[] {
  const reaped: number[] = [];
  for (const pid of processesIn(netns)) {
    try {
      process.kill(pid, "SIGKILL");
      reaped.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return reaped;
}
