// SPDX-License-Identifier: Apache-2.0
/**
 * A real OCI registry for tests: Debian's `docker-registry` (CNCF Distribution 2.8, installed by
 * scripts/setup-mesh-tools), started on 127.0.0.1 with a temporary storage directory and stopped by
 * pid. Distribution 2.8 has no referrers API, so it exercises graft's tag-schema fallback.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";

export const REGISTRY_BINARY = process.env.GRAFT_DOCKER_REGISTRY ?? "docker-registry";

/** Why the registry cannot run here (the binary is missing), or undefined when it can. */
export function registrySkipReason(): string | undefined {
  const probe = spawnSync(REGISTRY_BINARY, ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0)
    return `${REGISTRY_BINARY} is not installed (run scripts/setup-mesh-tools, which apt-installs Debian's docker-registry)`;
  return undefined;
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  storage: string;
  log: () => string;
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

export async function startRegistry(): Promise<RunningRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), "graft-registry-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = {
    version: 0.1,
    log: { level: "warn", fields: { service: "registry" } },
    storage: { filesystem: { rootdirectory: path.join(dir, "data") }, delete: { enabled: true } },
    http: { addr: host, headers: { "X-Content-Type-Options": ["nosniff"] } },
    health: { storagedriver: { enabled: false } },
  };
  const configFile = path.join(dir, "config.yml");
  await writeFile(configFile, yaml.dump(config));
  let output = "";
  const child: ChildProcess = spawn(REGISTRY_BINARY, ["serve", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(
        `${REGISTRY_BINARY} exited with ${child.exitCode} before answering on ${host}:\n${output}`,
      );
    }
    try {
      const response = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${REGISTRY_BINARY} did not answer on http://${host}/v2/ within 15 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { host, storage: path.join(dir, "data"), log: () => output, stop };
}
