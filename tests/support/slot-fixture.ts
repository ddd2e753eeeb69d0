import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEnvoy, type EnvoyRuntime, type RunningEnvoy } from "../../src/envoy/runtime.ts";
import { ensureSlotFile } from "../../src/inject/ecds-file.ts";
import { slotHttpFilter } from "../../src/inject/slot.ts";
import type { Target } from "../../src/inject/target.ts";
import { EchoUpstream } from "../../src/upstream/echo.ts";

/** A real Envoy whose listener carries injectable slots, and the graft Target that reaches it. */
export interface SlotEnvoy {
  envoy: RunningEnvoy;
  target: Target;
  url: string;
}

export interface SlotFleet {
  echo: EchoUpstream;
  envoys: SlotEnvoy[];
  workDir: string;
  stop(): Promise<void>;
}

/** Starts one echo upstream and `count` Envoys with `slots`, each with its own ECDS directory. */
export async function startSlotFleet(
  count: number,
  options: {
    slots?: string[];
    concurrency?: number;
    labels?: (index: number) => Record<string, string>;
    runtime?: EnvoyRuntime;
  } = {},
): Promise<SlotFleet> {
  const slots = options.slots ?? ["graft-slot-0"];
  const workDir = await mkdtemp(path.join(tmpdir(), "graft-fleet-"));
  const echo = await EchoUpstream.start({ keepHistory: false });
  const envoys: SlotEnvoy[] = [];
  const stop = async () => {
    await Promise.all(envoys.map((e) => e.envoy.stop()));
    await echo.stop();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < count; index++) {
      const name = `envoy-${index}`;
      const ecdsDir = path.join(workDir, name, "ecds");
      for (const slot of slots) await ensureSlotFile(ecdsDir, slot);
      const moduleDir = path.join(workDir, "modules");
      await mkdir(moduleDir, { recursive: true });
      const envoy = await startEnvoy(options.runtime ?? "process", {
        readOnlyDirs: [moduleDir],
        label: name,
        nodeId: name,
        concurrency: options.concurrency ?? 2,
        upstream: { host: "127.0.0.1", port: echo.port },
        listeners: [{ name: "main", httpFilters: slots.map((slot) => slotHttpFilter(slot, ecdsDir)) }],
      });
      envoys.push({
        envoy,
        url: await envoy.listenerUrl("main"),
        target: {
          name,
          adminUrl: envoy.admin.baseUrl,
          ecdsDir,
          moduleDir,
          labels: options.labels?.(index) ?? {},
          slots,
          logs: () => envoy.logs(),
        },
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { echo, envoys, workDir, stop };
}
