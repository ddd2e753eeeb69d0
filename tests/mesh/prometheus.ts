// SPDX-License-Identifier: Apache-2.0
/**
 * A real Prometheus (Debian's, from scripts/setup-mesh-tools) answering PromQL over data backfilled
 * with `promtool tsdb create-blocks-from openmetrics`, so rendered queries are run, not just parsed.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export function prometheusSkipReason(): string | undefined {
  for (const binary of ["prometheus", "promtool"]) {
    const probe = spawnSync(binary, ["--version"], { encoding: "utf8" });
    if (probe.error || probe.status !== 0)
      return `${binary} is not installed (run scripts/setup-mesh-tools, which apt-installs Debian's prometheus)`;
  }
  return undefined;
}

export interface CounterSeries {
  /** Without `_total`: the OpenMetrics family name. */
  family: string;
  labels: Record<string, string>;
  /** Increase per second. */
  perSecond: number;
}

export interface RunningPrometheus {
  /** Evaluates `query` at `time` (unix seconds); returns the vector's values. */
  query: (query: string, time: number) => Promise<number[]>;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Backfills linear counters sampled every 15 s over [start, end], then starts Prometheus on it. */
export async function startPrometheusWith(
  series: CounterSeries[],
  start: number,
  end: number,
): Promise<RunningPrometheus> {
  const dir = await mkdtemp(path.join(tmpdir(), "graft-prometheus-"));
  const lines: string[] = [];
  for (const family of [...new Set(series.map((s) => s.family))]) {
    lines.push(`# TYPE ${family} counter`);
    for (const s of series.filter((x) => x.family === family)) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(",");
      for (let t = start; t <= end; t += 15)
        lines.push(`${family}_total{${labels}} ${(t - start) * s.perSecond} ${t}`);
    }
  }
  lines.push("# EOF");
  const input = path.join(dir, "data.om");
  await writeFile(input, lines.join("\n") + "\n");
  const data = path.join(dir, "tsdb");
  const backfill = spawnSync("promtool", ["tsdb", "create-blocks-from", "openmetrics", input, data], {
    encoding: "utf8",
  });
  if (backfill.status !== 0)
    throw new Error(`promtool backfill failed: ${backfill.stderr}${backfill.stdout}`);
  const config = path.join(dir, "prometheus.yml");
  await writeFile(config, "global:\n  scrape_interval: 1h\n");
  const port = await freePort();
  let output = "";
  const child = spawn(
    "prometheus",
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${data}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=30d",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    await rm(dir, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(1000) })).status === 200) break;
    } catch {
      // not up yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready on ${base}:\n${output.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    async query(query: string, time: number): Promise<number[]> {
      const url = `${base}/api/v1/query?${new URLSearchParams({ query, time: String(time) })}`;
      const body = (await (await fetch(url)).json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { value: [number, string] }[] };
      };
      if (body.status !== "success") throw new Error(`PromQL refused: ${body.error}\n${query}`);
      return (body.data?.result ?? []).map((r) => Number(r.value[1]));
    },
    stop,
  };
}
