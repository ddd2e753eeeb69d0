import { injectSlot, rollbackSlot, type Injection } from "../../src/inject/slot-ops.ts";
import type { Target } from "../../src/inject/target.ts";

/** One slot change: when graft wrote it, when Envoy reported it active, and what it serves. */
export interface SwapEvent {
  kind: "inject" | "rollback";
  injectionId: string;
  writtenAt: number;
  activeAt: number;
}

/** One response of the load that ran during the swaps. */
export interface SwapResponse {
  sentAt: number;
  receivedAt: number;
  status: number;
  /** The injection id the response carries in the run's `injectionHeader`, or null. */
  injection: string | null;
  error?: string;
}

export interface SwapRun {
  events: SwapEvent[];
  responses: SwapResponse[];
}

/**
 * Injects and rolls back `cycles` times while `clients` keep-alive loops send requests to `url`
 * through the slot. With `injectionHeader`, `injection(i)` must make the filter answer
 * `<injectionHeader>: <its injection id>`, and each response records the id it carried.
 * Bounded: the load stops when the swaps are done.
 */
export async function swapUnderLoad(options: {
  target: Target;
  slot: string;
  url: string;
  cycles: number;
  clients?: number;
  injection: (cycle: number) => Injection;
  /** The response header that names the injection which served the request. */
  injectionHeader?: string;
}): Promise<SwapRun> {
  const events: SwapEvent[] = [];
  const responses: SwapResponse[] = [];
  let running = true;
  const client = async () => {
    while (running) {
      const sentAt = performance.now();
      try {
        const response = await fetch(`${options.url}/swap`);
        await response.arrayBuffer();
        responses.push({
          sentAt,
          receivedAt: performance.now(),
          status: response.status,
          injection: options.injectionHeader ? response.headers.get(options.injectionHeader) : null,
        });
      } catch (error) {
        responses.push({
          sentAt,
          receivedAt: performance.now(),
          status: 0,
          injection: null,
          error: (error as Error).message,
        });
      }
    }
  };
  const clients = Array.from({ length: options.clients ?? 4 }, client);
  try {
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      const next = options.injection(cycle);
      let writtenAt = performance.now();
      await injectSlot(options.target, options.slot, next);
      events.push({ kind: "inject", injectionId: next.injectionId, writtenAt, activeAt: performance.now() });
      await new Promise((resolve) => setTimeout(resolve, 50));
      writtenAt = performance.now();
      const back = await rollbackSlot(options.target, options.slot);
      events.push({
        kind: "rollback",
        injectionId: back.injectionId ?? "",
        writtenAt,
        activeAt: performance.now(),
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    running = false;
    await Promise.all(clients);
  }
  return { events, responses };
}

/**
 * The injections a response may carry: those that could have been serving at some moment between
 * its request and its answer. An injection can serve from the moment its slot file is written
 * until the next one is reported active on every worker.
 */
export function allowedInjections(run: SwapRun, initial: string, response: SwapResponse): Set<string> {
  const allowed = new Set<string>();
  const windows = [
    { id: initial, from: -Infinity },
    ...run.events.map((e) => ({ id: e.injectionId, from: e.writtenAt })),
  ];
  for (let i = 0; i < windows.length; i++) {
    const until = i + 1 < windows.length ? run.events[i]!.activeAt : Infinity;
    if (windows[i]!.from <= response.receivedAt && until >= response.sentAt) allowed.add(windows[i]!.id);
  }
  return allowed;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function swapTimings(run: SwapRun): {
  inject: { p50: number; max: number };
  rollback: { p50: number; max: number };
} {
  const of = (kind: SwapEvent["kind"]) =>
    run.events.filter((e) => e.kind === kind).map((e) => e.activeAt - e.writtenAt);
  const summary = (values: number[]) => ({ p50: percentile(values, 50), max: Math.max(...values) });
  return { inject: summary(of("inject")), rollback: summary(of("rollback")) };
}
