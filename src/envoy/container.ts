/**
 * Envoy in a Docker container (testcontainers 11), with the same surface as `EnvoyProcess`.
 *
 * The container uses host networking (there is no bridge network here), so Envoy binds
 * 127.0.0.1 exactly as the process runtime does and the admin API is reached the same way. Every
 * host directory the bootstrap needs is bind-mounted at the same path inside the container, so
 * the rendered bootstrap works unchanged. Envoy runs as the image's non-root user (uid 101).
 *
 * Needs a Docker engine (scripts/setup-docker) and the image (scripts/build-envoy-image, run on
 * demand by `ensureEnvoyImage`). Tests call `dockerAvailable()` to skip with a reason.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { StartedTestContainer } from "testcontainers";
import { AdminClient } from "./admin.ts";
import { RunningEnvoyBase } from "./running-envoy.ts";
import { resolveEnvoyBinary } from "./binary.ts";
import { bootstrapYaml } from "./bootstrap.ts";
import { EnvoyStartError, envoyArgs, validateBootstrap, type EnvoyOptions } from "./launcher.ts";
import { projectRoot } from "../util/paths.ts";

const execFileAsync = promisify(execFile);

/** Label set on every container graft starts; `docker ps -a --filter label=graft.envoy=1` lists them. */
export const GRAFT_CONTAINER_LABEL = "graft.envoy";

export interface EnvoyContainerOptions extends EnvoyOptions {
  /** Image to run; default: `ensureEnvoyImage()` (GRAFT_ENVOY_IMAGE, else graft's own image). */
  image?: string;
  /**
   * Host directories Envoy reads (Wasm modules, ECDS files and the Wasm files they name). Mounted
   * read-only at the same path. Directories of absolute `filename` and `path` values in the
   * listeners' filters (Wasm `code.local.filename`, ECDS `path_config_source`) are added on their own.
   * Their files are made readable by others (uid 101) where they are not.
   */
  readOnlyDirs?: string[];
  /**
   * Host directories mounted read-write at the same path (made writable by others), for files
   * Envoy writes. Host-side changes, renames included, are seen inside the container either way,
   * because whole directories are mounted, never single files.
   */
  writableDirs?: string[];
  /** Extra container labels (for example a test run id to find leftovers by). */
  labels?: Record<string, string>;
  /** Hot-restart handling: `--disable-hot-restart` (default) or `--use-dynamic-base-id`. */
  hotRestart?: "disable" | "dynamic-base-id";
}

type Testcontainers = typeof import("testcontainers");

let testcontainersModule: Promise<Testcontainers> | undefined;

/**
 * Loads testcontainers after setting the environment it needs here: no reaper (its image cannot be
 * pulled) and 127.0.0.1 as the host (there is no bridge gateway to find). Caller settings win.
 */
function loadTestcontainers(): Promise<Testcontainers> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";
  testcontainersModule ??= import("testcontainers");
  return testcontainersModule;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Whether a Docker engine answers, both to testcontainers and to the docker CLI (which
 * scripts/build-envoy-image uses); `reason` says why not and how to get one.
 */
export async function dockerAvailable(): Promise<{ ok: boolean; reason?: string }> {
  const hint = "run scripts/setup-docker (as root) to install and start one";
  if (!process.env.DOCKER_HOST && !existsSync("/var/run/docker.sock")) {
    return {
      ok: false,
      reason: `no Docker engine: /var/run/docker.sock does not exist and DOCKER_HOST is unset; ${hint}`,
    };
  }
  try {
    await execFileAsync("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 15_000 });
  } catch (error) {
    const failure = error as { code?: string; stderr?: string };
    const why =
      failure.code === "ENOENT"
        ? "the docker CLI is not installed"
        : (failure.stderr ?? message(error)).trim();
    return { ok: false, reason: `no Docker engine reachable (docker info: ${why}); ${hint}` };
  }
  try {
    const { getContainerRuntimeClient } = await loadTestcontainers();
    const client = await withTimeout(getContainerRuntimeClient(), 15_000, "the Docker engine");
    await withTimeout(client.container.list(), 15_000, "the Docker engine");
    return { ok: true };
  } catch (error) {
    return {
      ok: false,
      reason: `no Docker engine reachable for testcontainers (${message(error)}); ${hint}`,
    };
  }
}

let imageReady: Promise<string> | undefined;

/**
 * The image name to run Envoy from, built first when needed by scripts/build-envoy-image (which
 * skips the build when the image already carries the binary's sha256). With GRAFT_ENVOY_IMAGE set
 * it only checks that image exists locally. Once per process.
 */
export function ensureEnvoyImage(): Promise<string> {
  imageReady ??= (async () => {
    const env = { ...process.env };
    // The image must hold the binary `validateBootstrap` checks with.
    if (!env.GRAFT_ENVOY_IMAGE) env.ENVOY_BIN = resolveEnvoyBinary({ install: true });
    const script = path.join(projectRoot, "scripts", "build-envoy-image");
    try {
      const { stdout } = await execFileAsync(script, [], { env, maxBuffer: 1 << 20 });
      const image = /^image: (\S+)\s*$/m.exec(stdout)?.[1];
      if (!image) throw new Error(`scripts/build-envoy-image printed no image name:\n${stdout}`);
      return image;
    } catch (error) {
      const failure = error as { code?: number | string; stdout?: string; stderr?: string };
      const output = `${failure.stdout ?? ""}${failure.stderr ?? ""}`.trim() || message(error);
      throw new Error(`scripts/build-envoy-image failed (exit ${failure.code ?? "?"}):\n${output}`);
    }
  })();
  imageReady.catch(() => (imageReady = undefined));
  return imageReady;
}

/**
 * Host directories the filters name: the directory of each absolute `filename` (a DataSource, e.g.
 * Wasm `code.local.filename`) and of ECDS `path_config_source.path`, and ECDS
 * `watched_directory.path` itself. Other `path` fields (route matches, health checks) are URLs,
 * not files, and are left alone.
 */
function referencedDirs(value: unknown, found = new Set<string>(), parentKey = ""): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedDirs(item, found, parentKey);
  } else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === "string" && path.isAbsolute(item)) {
        if (key === "filename" || (key === "path" && parentKey === "path_config_source")) {
          found.add(path.dirname(item));
        } else if (key === "path" && parentKey === "watched_directory") {
          found.add(item);
        }
      } else {
        referencedDirs(item, found, key);
      }
    }
  }
  return found;
}

/** Adds `bits` to a path's mode when missing (only what is needed, never removes bits). */
async function addMode(target: string, bits: number): Promise<void> {
  const mode = (await stat(target)).mode & 0o7777;
  if ((mode & bits) !== bits) await chmod(target, mode | bits);
}

/** Makes a tree readable (and directories traversable) by others, i.e. by uid 101 in the container. */
async function makeReadableByOthers(dir: string): Promise<void> {
  await addMode(dir, 0o005);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeReadableByOthers(full);
    else if (entry.isFile()) await addMode(full, 0o004);
  }
}

/** Drops directories nested in another one of the list (their parent's mount covers them). */
function outermost(dirs: string[]): string[] {
  const sorted = [...new Set(dirs.map((dir) => path.resolve(dir)))].sort();
  return sorted.filter((dir) => !sorted.some((other) => other !== dir && dir.startsWith(other + path.sep)));
}

/** One Envoy in a container on the host network (127.0.0.1), started from a rendered bootstrap. */
export class EnvoyContainer extends RunningEnvoyBase {
  private logText = "";
  private logEnded: Promise<void> = Promise.resolve();
  private container: StartedTestContainer | undefined;
  private stopped = false;
  private hostPid: number | undefined;

  private constructor(
    readonly workDir: string,
    readonly configPath: string,
    readonly label: string,
    readonly name: string,
    public admin: AdminClient = new AdminClient("http://127.0.0.1:0"),
  ) {
    super();
  }

  static async start(options: EnvoyContainerOptions): Promise<EnvoyContainer> {
    const binary = resolveEnvoyBinary({ install: true });
    const image = options.image ?? (await ensureEnvoyImage());
    const workDir = await mkdtemp(path.join(tmpdir(), "graft-envoy-container-"));
    const configDir = path.join(workDir, "config");
    const runDir = path.join(workDir, "run");
    const label = options.label ?? "envoy";
    const envoy = new EnvoyContainer(
      workDir,
      path.join(configDir, "bootstrap.yaml"),
      label,
      `graft-envoy-${randomUUID().slice(0, 12)}`,
    );
    try {
      await mkdir(configDir, { mode: 0o755 });
      await mkdir(runDir);
      await writeFile(envoy.configPath, bootstrapYaml({ nodeId: label, ...options }), { mode: 0o644 });
      // mkdtemp makes 0700 directories; the container's uid 101 reads config/ and writes run/.
      await chmod(configDir, 0o755);
      await chmod(envoy.configPath, 0o644);
      await chmod(runDir, 0o777);
      // The image holds this same binary (ensureEnvoyImage builds it from it), so the host check
      // gives Envoy's own reasons without starting a container.
      await validateBootstrap(envoy.configPath, binary);

      const writable = outermost(options.writableDirs ?? []);
      const readOnly = outermost([
        ...(options.readOnlyDirs ?? []),
        ...referencedDirs(options.listeners.map((listener) => listener.httpFilters)),
      ]).filter((dir) => !writable.some((other) => dir === other || dir.startsWith(other + path.sep)));
      for (const dir of [...readOnly, ...writable]) {
        if (!existsSync(dir)) throw new Error(`${label}: directory to mount does not exist: ${dir}`);
        if (dir === path.parse(dir).root) throw new Error(`${label}: refusing to mount the root directory`);
        await makeReadableByOthers(dir);
      }
      for (const dir of writable) await addMode(dir, 0o007);

      const adminAddressPath = path.join(runDir, "admin-address");
      // With host networking every Envoy shares one network namespace, hence one hot-restart socket.
      const hotRestartFlag =
        options.hotRestart === "dynamic-base-id" ? "--use-dynamic-base-id" : "--disable-hot-restart";
      const command = envoyArgs(envoy.configPath, adminAddressPath, options, hotRestartFlag);

      const { GenericContainer, ImageName, getContainerRuntimeClient } = await loadTestcontainers();
      // No registry is reachable: never let testcontainers try to pull a missing image.
      const client = await getContainerRuntimeClient();
      if (!(await client.image.exists(ImageName.fromString(image)))) {
        throw new Error(
          `image ${image} is not present locally (no registry is reachable: build it with scripts/build-envoy-image or load it with docker load)`,
        );
      }
      const definition = new GenericContainer(image)
        .withName(envoy.name)
        .withNetworkMode("host")
        .withCommand(command)
        .withLabels({ ...options.labels, [GRAFT_CONTAINER_LABEL]: "1", "graft.label": label })
        .withBindMounts([
          { source: configDir, target: configDir, mode: "ro" },
          { source: runDir, target: runDir, mode: "rw" },
          ...readOnly.map((dir) => ({ source: dir, target: dir, mode: "ro" as const })),
          ...writable.map((dir) => ({ source: dir, target: dir, mode: "rw" as const })),
        ])
        .withLogConsumer((stream) => {
          envoy.logEnded = new Promise((resolve) => {
            stream.on("data", (chunk: Buffer | string) => (envoy.logText += chunk.toString()));
            stream.on("end", () => resolve());
            stream.on("close", () => resolve());
            stream.on("error", () => resolve());
          });
        });
      envoy.container = await definition.start();
      await envoy.waitReady(adminAddressPath, options.readyTimeoutMs ?? 15_000);
      envoy.hostPid = (await envoy.inspect()).State.Pid || undefined;
    } catch (error) {
      await envoy.stop().catch(() => undefined);
      if (error instanceof EnvoyStartError) throw error;
      throw new EnvoyStartError(
        `${label}: cannot start the Envoy container (${message(error)})`,
        envoy.logText,
      );
    }
    return envoy;
  }

  private async inspect(): Promise<{ State: { Running: boolean; ExitCode: number; Pid: number } }> {
    const { getContainerRuntimeClient } = await loadTestcontainers();
    const client = await getContainerRuntimeClient();
    return client.container.inspect(client.container.getById(this.name));
  }

  /** Exit code when the container has stopped, else undefined. */
  private async exitCode(): Promise<number | undefined> {
    const info = await this.inspect();
    return info.State.Running ? undefined : info.State.ExitCode;
  }

  private async waitReady(adminAddressPath: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let logsEnded = false;
    void this.logEnded.then(() => (logsEnded = true));
    while (Date.now() < deadline) {
      const address = await readFile(adminAddressPath, "utf8").catch(() => "");
      if (address.trim()) {
        this.admin = new AdminClient(`http://${address.trim()}`);
        if (await this.admin.isReady()) return;
      }
      // The log stream ends when the container exits; its last lines are Envoy's reason.
      if (logsEnded) {
        const code = await this.exitCode().catch(() => undefined);
        throw new EnvoyStartError(
          `${this.label} exited with code ${code ?? "?"} before it was ready`,
          this.logText,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new EnvoyStartError(`${this.label} was not ready after ${timeoutMs} ms`, this.logText);
  }

  /** Everything Envoy wrote to stdout and stderr so far (the container's log stream). */
  logs(): string {
    return this.logText;
  }

  /** Envoy's process id as the host sees it (the container's init process), once ready. */
  get pid(): number | undefined {
    return this.hostPid;
  }

  /** The container id, once started. */
  get id(): string | undefined {
    return this.container?.getId();
  }

  /** Stops Envoy (SIGTERM, SIGKILL after 5 s) and always removes the container and the work dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    let failure: unknown;
    try {
      // SIGTERM, then SIGKILL after 5 s; testcontainers removes the container afterwards.
      await this.container?.stop({ timeout: 5_000, remove: true }).catch(() => undefined);
      // Also when start() failed half-way or the stop above did not remove it: remove by name.
      failure = await removeContainer(this.name);
      await withTimeout(this.logEnded, 2_000, "the log stream").catch(() => undefined);
    } finally {
      await rm(this.workDir, { recursive: true, force: true });
    }
    if (failure)
      throw new Error(`${this.label}: could not remove container ${this.name}: ${message(failure)}`);
  }
}

/** Force-removes a container by name or id; a container that does not exist is fine. */
async function removeContainer(nameOrId: string): Promise<unknown> {
  try {
    const { getContainerRuntimeClient } = await loadTestcontainers();
    const client = await getContainerRuntimeClient();
    await client.container.getById(nameOrId).remove({ force: true, v: true });
    return undefined;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    // 404: gone already; 409: removal already in progress.
    return status === 404 || status === 409 ? undefined : error;
  }
}

/** Containers (running or not) carrying graft's label and every label in `labels`: `docker ps -a --filter label=…`. */
export async function graftContainers(
  labels: Record<string, string> = {},
): Promise<{ id: string; name: string; state: string }[]> {
  const { getContainerRuntimeClient } = await loadTestcontainers();
  const client = await getContainerRuntimeClient();
  const filters = [
    `${GRAFT_CONTAINER_LABEL}=1`,
    ...Object.entries(labels).map(([key, value]) => `${key}=${value}`),
  ];
  const found = await client.container.dockerode.listContainers({ all: true, filters: { label: filters } });
  return found.map((info) => ({
    id: info.Id,
    name: (info.Names[0] ?? "").replace(/^\//, ""),
    state: info.State,
  }));
}
