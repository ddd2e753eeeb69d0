import { assertLoopback } from "./loopback.ts";

/**
 * A bounded, paced HTTP load for loopback targets: demos and tests use it to feed canary and
 * baseline. It stops by itself after `durationMs` (or `stop()`), and refuses non-loopback URLs.
 */
export interface TrafficOptions {
  urls: string[];
  /** Requests per second to each URL. */
  ratePerUrl: number;
  durationMs: number;
  /** Requests in flight per URL at most. */
  concurrency?: number;
  headers?: Record<string, string>;
  path?: string;
}

export interface TrafficStats {
  sent: number;
  byStatus: Map<number, number>;
  errors: number;
}

export interface TrafficRun {
  stats: Map<string, TrafficStats>;
  done: Promise<void>;
  stop(): void;
}

export function startTraffic(options: TrafficOptions): TrafficRun {
  options.urls.forEach(assertLoopback);
  let stopped = false;
  const deadline = Date.now() + options.durationMs;
  const stats = new Map(
    options.urls.map((url) => [url, { sent: 0, byStatus: new Map<number, number>(), errors: 0 }]),
  );
  const intervalMs = 1000 / options.ratePerUrl;
  const concurrency = options.concurrency ?? 16;
  const drive = async (url: string) => {
    const stat = stats.get(url)!;
    let inFlight = 0;
    let next = performance.now();
    const pending = new Set<Promise<void>>();
    while (!stopped && Date.now() < deadline) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      next += intervalMs;
      if (inFlight >= concurrency) continue; // shed instead of queueing: the rate stays honest
      inFlight++;
      stat.sent++;
      const request = fetch(url + (options.path ?? "/"), { headers: options.headers })
        .then(async (response) => {
          await response.arrayBuffer();
          stat.byStatus.set(response.status, (stat.byStatus.get(response.status) ?? 0) + 1);
        })
        .catch(() => {
          stat.errors++;
        })
        .finally(() => {
          inFlight--;
          pending.delete(request);
        });
      pending.add(request);
    }
    await Promise.all(pending);
  };
  const done = Promise.all(options.urls.map(drive)).then(() => undefined);
  return { stats, done, stop: () => (stopped = true) };
}
