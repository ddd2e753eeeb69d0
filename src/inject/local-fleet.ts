import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEnvoy, type EnvoyRuntime, type RunningEnvoy } from "../envoy/runtime.ts";
import { EchoUpstream } from "../upstream/echo.ts";
import { ensureSlotFile } from "./ecds-file.ts";
import { slotHttpFilter } from "./slot.ts";
import type { Target } from "./target.ts";

/** A real Envoy whose listener carries injectable slots, and the graft Target that reaches it. */
export interface SlotEnvoy {
  envoy: RunningEnvoy;
  target: Target;
  /** `http://127.0.0.1:<port>` of its listener ("main"). */
  url: string;
  /**
   * Stops this Envoy and starts a fresh process (or container) on the same admin and listener ports
   * with the same slot files: its counters start again from zero and it loads whatever the slot
   * files hold (a crash and restart, as a supervisor would do). `envoy` is the new one afterwards.
   */
  restart(): Promise<void>;
}

export interface LocalFleet {
  echo: EchoUpstream;
  envoys: SlotEnvoy[];
  workDir: string;
  stop(): Promise<void>;
}

export interface LocalFleetOptions {
  /** Envoy names; each gets its own ECDS directory. Default envoy-0 … envoy-(count-1). */
  names?: string[];
  count?: number;
  slots?: string[];
  concurrency?: number;
  labels?: (index: number, name: string) => Record<string, string>;
  runtime?: EnvoyRuntime;
  /** Where ECDS and module directories go; default a fresh temporary directory (removed on stop). */
  workDir?: string;
  componentLogLevel?: string;
}

/**
 * An echo upstream and Envoys on loopback whose listener "main" carries injectable slots: what the
 * demo, the benchmarks and the tests inject into. Modules are stored in one shared directory.
 */
export async function startLocalFleet(options: LocalFleetOptions = {}): Promise<LocalFleet> {
  const names = options.names ?? Array.from({ length: options.count ?? 1 }, (_, i) => `envoy-${i}`);
  const slots = options.slots ?? ["graft-slot-0"];
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(path.join(tmpdir(), "graft-fleet-")));
  const moduleDir = path.join(workDir, "modules");
  await mkdir(moduleDir, { recursive: true });
  const echo = await EchoUpstream.start({ keepHistory: false });
  const envoys: SlotEnvoy[] = [];
  const stop = async () => {
    await Promise.all(envoys.map((e) => e.envoy.stop()));
    await echo.stop();
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  };
  try {
    for (const [index, name] of names.entries()) {
      const ecdsDir = path.join(workDir, name, "ecds");
      for (const slot of slots) await ensureSlotFile(ecdsDir, slot);
      const launch = (ports?: { admin: number; listener: number }) =>
        startEnvoy(options.runtime ?? "process", {
          readOnlyDirs: [moduleDir],
          label: name,
          nodeId: name,
          concurrency: options.concurrency ?? 2,
          componentLogLevel: options.componentLogLevel,
          upstream: { host: "127.0.0.1", port: echo.port },
          ...(ports ? { adminPort: ports.admin } : {}),
          listeners: [
            {
              name: "main",
              httpFilters: slots.map((slot) => slotHttpFilter(slot, ecdsDir)),
              ...(ports ? { port: ports.listener } : {}),
            },
          ],
        });
      const envoy = await launch();
      const slotEnvoy: SlotEnvoy = {
        envoy,
        url: await envoy.listenerUrl("main"),
        target: {
          name,
          adminUrl: envoy.admin.baseUrl,
          ecdsDir,
          moduleDir,
          labels: options.labels?.(index, name) ?? {},
          slots,
          logs: () => slotEnvoy.envoy.logs(),
        },
        async restart() {
          const ports = {
            admin: Number(new URL(slotEnvoy.envoy.admin.baseUrl).port),
            listener: Number(new URL(slotEnvoy.url).port),
          };
          await slotEnvoy.envoy.stop();
          slotEnvoy.envoy = await launch(ports);
        },
      };
      envoys.push(slotEnvoy);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { echo, envoys, workDir, stop };
}
