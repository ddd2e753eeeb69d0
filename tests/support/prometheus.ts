// A real Prometheus (Debian's `prometheus`) on 127.0.0.1 for tests, scraping the given Envoys'
// /stats/prometheus every second, with its storage in a temporary folder removed on stop.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";

/** Why Prometheus cannot run here, or undefined when it can. */
export function prometheusMissing(): string | undefined {
  const found = spawnSync("prometheus", ["--version"], { encoding: "utf8" });
  return found.status === 0
    ? undefined
    : "Debian's prometheus is not installed (scripts/setup-mesh-tools installs it)";
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

export class TestPrometheus {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  /**
   * Starts Prometheus scraping `targets` (host:port of Envoy admin listeners), or groups of them with
   * labels (as service discovery would attach a pod's labels); resolves when it is ready.
   */
  static async start(
    targets: string[] | { targets: string[]; labels: Record<string, string> }[],
  ): Promise<TestPrometheus> {
    const staticConfigs = targets.every((t) => typeof t === "string")
      ? [{ targets }]
      : (targets as { targets: string[]; labels: Record<string, string> }[]);
    const dir = mkdtempSync(path.join(tmpdir(), "graft-prometheus-"));
    const config = {
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      scrape_configs: [
        {
          job_name: "envoy",
          scrape_interval: "1s",
          scrape_timeout: "900ms",
          metrics_path: "/stats/prometheus",
          static_configs: staticConfigs,
        },
      ],
    };
    writeFileSync(path.join(dir, "prometheus.yml"), yaml.dump(config));
    const port = await freePort();
    const child = spawn(
      "prometheus",
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: "ignore" },
    );
    const prometheus = new TestPrometheus(`http://127.0.0.1:${port}`, child, dir);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`${prometheus.url}/-/ready`)).ok) return prometheus;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await prometheus.stop();
    throw new Error(`Prometheus did not become ready on ${prometheus.url} within 20 s`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
