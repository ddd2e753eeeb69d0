import type { EnvoyRuntime } from "../../src/envoy/runtime.ts";
import { startLocalFleet, type LocalFleet } from "../../src/inject/local-fleet.ts";

export type { SlotEnvoy } from "../../src/inject/local-fleet.ts";
export type SlotFleet = LocalFleet;

/** `count` real Envoys with injectable slots behind one echo upstream (2 workers each by default). */
export function startSlotFleet(
  count: number,
  options: {
    slots?: string[];
    concurrency?: number;
    labels?: (index: number) => Record<string, string>;
    runtime?: EnvoyRuntime;
  } = {},
): Promise<SlotFleet> {
  return startLocalFleet({ ...options, count });
}
