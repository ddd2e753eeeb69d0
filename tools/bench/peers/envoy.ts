// One Envoy per benchmark variant: a bootstrap of our own (direct_response route or one loopback
// upstream, no request ids, logs at warn), `--concurrency N`, pinned to a CPU with taskset, and
// its CPU time (per-thread schedstat, nanoseconds) and RSS read from /proc. Also a check that a
// filter's peer groups make bootstraps Envoy accepts.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { resolveEnvoyBinary } from "../../../src/envoy/binary.ts";
import type { HttpFilter } from "../../../src/envoy/bootstrap.ts";
import { validateBootstrap } from "../../../src/envoy/launcher.ts";
import { variantsOf, type FilterPeers, type GroupContext } from "./groups.ts";
import type { Variant } from "./variants.ts";

export type Route = { kind: "direct" } | { kind: "upstream"; port: number };

/** The body every direct_response route answers. */
export const DIRECT_BODY = "ok";

export interface PeerEnvoyOptions {
  label: string;
  filters: HttpFilter[];
  route: Route;
  concurrency?: number;
  /** CPU list for taskset (e.g. "1"); null runs unpinned. */
  cpus?: string | null;
  /** Per-connection buffer limit (bytes); the payload bodies need more than Envoy's 1 MiB default only past it. */
  bufferLimit?: number;
}

const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
    dynamic_stats: false,
  },
};

/** The bootstrap (JSON) of one variant: admin and one listener on 127.0.0.1, kernel-chosen ports. */
export function peerBootstrap(options: PeerEnvoyOptions): Record<string, unknown> {
  const route =
    options.route.kind === "direct"
      ? { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: DIRECT_BODY } } }
      : { match: { prefix: "/" }, route: { cluster: "upstream", timeout: "10s" } };
  const clusters =
    options.route.kind === "upstream"
      ? [
          {
            name: "upstream",
            type: "STATIC",
            connect_timeout: "1s",
            circuit_breakers: {
              thresholds: [{ max_connections: 10000, max_pending_requests: 10000, max_requests: 10000 }],
            },
            load_assignment: {
              cluster_name: "upstream",
              endpoints: [
                {
                  lb_endpoints: [
                    {
                      endpoint: {
                        address: { socket_address: { address: "127.0.0.1", port_value: options.route.port } },
                      },
                    },
                  ],
                },
              ],
            },
          },
        ]
      : [];
  return {
    node: { id: `peer-${options.label}`, cluster: "graft-bench" },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: "main",
          address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
          ...(options.bufferLimit ? { per_connection_buffer_limit_bytes: options.bufferLimit } : {}),
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type":
                      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "main",
                    codec_type: "HTTP1",
                    generate_request_id: false,
                    route_config: {
                      name: "routes",
                      virtual_hosts: [{ name: "all", domains: ["*"], routes: [route] }],
                    },
                    http_filters: [...options.filters, ROUTER],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters,
    },
  };
}

/** Has `envoy --mode validate` load a variant's bootstrap (Wasm VMs are created and configured). */
export async function validatePeerBootstrap(options: PeerEnvoyOptions): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "graft-peer-check-"));
  try {
    const file = path.join(dir, "bootstrap.json");
    await writeFile(file, JSON.stringify(peerBootstrap(options)));
    await validateBootstrap(file);
  } catch (error) {
    if (error instanceof Error) error.message = `${options.label}: ${error.message}`;
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Has Envoy validate the bootstrap of every variant of `peers`' groups, on each group's route (a
 * variant shared by groups on the same route once), and of its memory chain entry. A variant whose
 * peer is not built is left out (the benchmark builds it). `context` stands in for the run: a
 * group whose variants depend on it gets these figures. Returns the labels validated.
 */
export async function validatePeerGroups(
  peers: FilterPeers,
  context: GroupContext = { noFilterSaturation: async () => 10_000, note: () => {} },
): Promise<string[]> {
  const done = new Map<Variant, Set<string>>();
  const validated: string[] = [];
  for (const group of peers.groups)
    for (const variant of await variantsOf(group, context)) {
      if (variant.build && !existsSync(variant.build.output)) continue;
      const routes = done.get(variant) ?? new Set<string>();
      if (routes.has(group.route)) continue;
      done.set(variant, routes.add(group.route));
      const label = `${group.id}/${variant.id}`;
      await validatePeerBootstrap({
        label,
        filters: variant.filters(),
        // Validation opens no connection: any port stands for the upstream.
        route: group.route === "direct" ? { kind: "direct" } : { kind: "upstream", port: 9 },
        bufferLimit: 2 << 20,
      });
      validated.push(label);
    }
  if (peers.chain) {
    await validatePeerBootstrap({
      label: "chain",
      filters: peers.chain.filters(),
      route: { kind: "direct" },
    });
    validated.push("chain");
  }
  return validated;
}

/** CPU nanoseconds of all of a process's threads (schedstat: time on CPU). */
export function processCpuNs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return total;
}

/** Resident set size in bytes (VmRSS). */
export function processRssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : NaN;
}

export class PeerEnvoy {
  private log = "";
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly label: string,
    public port = 0,
    public adminPort = 0,
  ) {
    child.stdout
      ?.setEncoding("utf8")
      .on("data", (chunk: string) => (this.log = (this.log + chunk).slice(-20000)));
    child.stderr
      ?.setEncoding("utf8")
      .on("data", (chunk: string) => (this.log = (this.log + chunk).slice(-20000)));
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  static async start(options: PeerEnvoyOptions): Promise<PeerEnvoy> {
    const binary = resolveEnvoyBinary({ install: true });
    const dir = await mkdtemp(path.join(tmpdir(), "graft-peer-"));
    const config = path.join(dir, "bootstrap.json");
    await writeFile(config, JSON.stringify(peerBootstrap(options)));
    const adminPath = path.join(dir, "admin-address");
    const args = [
      "-c",
      config,
      "--concurrency",
      String(options.concurrency ?? 1),
      "--disable-hot-restart",
      "--admin-address-path",
      adminPath,
      "-l",
      "warn",
      "--drain-time-s",
      "1",
    ];
    const cpus = options.cpus ?? null;
    const child =
      cpus === null
        ? spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] })
        : spawn("taskset", ["-c", cpus, binary, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const envoy = new PeerEnvoy(child, dir, options.label);
    try {
      await envoy.waitReady(adminPath);
    } catch (error) {
      await envoy.stop();
      throw error;
    }
    return envoy;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  logs(): string {
    return this.log;
  }

  private async waitReady(adminPath: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    let code: number | null | undefined;
    void this.exited.then((value) => (code = value));
    while (Date.now() < deadline) {
      if (code !== undefined) throw new Error(`${this.label}: Envoy exited (${code}):\n${this.log}`);
      const address = (await readFile(adminPath, "utf8").catch(() => "")).trim();
      if (address) {
        this.adminPort = Number(address.split(":").pop());
        try {
          const ready = await fetch(`http://${address}/ready`);
          if (ready.ok) {
            const listeners = (await (await fetch(`http://${address}/listeners?format=json`)).json()) as {
              listener_statuses: {
                name: string;
                local_address: { socket_address: { port_value: number } };
              }[];
            };
            this.port = listeners.listener_statuses[0]!.local_address.socket_address.port_value;
            return;
          }
        } catch {
          // not listening yet
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${this.label}: Envoy was not ready in 30 s:\n${this.log}`);
  }

  /** Envoy's stats whose names match `filter` (admin /stats?filter=), as numbers. */
  async stats(filter: string): Promise<Map<string, number>> {
    const text = await (
      await fetch(`http://127.0.0.1:${this.adminPort}/stats?filter=${encodeURIComponent(filter)}`)
    ).text();
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
      const at = line.lastIndexOf(": ");
      if (at > 0 && /^\d+$/.test(line.slice(at + 2))) out.set(line.slice(0, at), Number(line.slice(at + 2)));
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
