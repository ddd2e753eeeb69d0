import { spawn, type ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { AdminClient } from "./admin.ts";
import { RunningEnvoyBase } from "./running-envoy.ts";
import { resolveEnvoyBinary } from "./binary.ts";
import { bootstrapYaml, type BootstrapSpec, type HttpFilter } from "./bootstrap.ts";
import { GraftError } from "../util/errors.ts";

const execFileAsync = promisify(execFile);

export interface EnvoyOptions extends BootstrapSpec {
  /** Worker threads (`--concurrency`); 1 unless set. */
  concurrency?: number;
  /** `--component-log-level`; the `wasm` logger carries filter logs. */
  componentLogLevel?: string;
  /** Label for logs and errors when several Envoys run at once. */
  label?: string;
  /** How long to wait for `/ready`. */
  readyTimeoutMs?: number;
}

export const DEFAULT_LOG_LEVEL = "wasm:debug,config:debug";

/**
 * Envoy's command line for a graft-run Envoy, shared by the process and container runtimes.
 * Hot restart is off: its domain socket is shared by every Envoy in a network namespace.
 */
export function envoyArgs(
  configPath: string,
  adminAddressPath: string,
  options: EnvoyOptions,
  hotRestartFlag = "--disable-hot-restart",
): string[] {
  return [
    "-c",
    configPath,
    "--concurrency",
    String(options.concurrency ?? 1),
    hotRestartFlag,
    "--admin-address-path",
    adminAddressPath,
    "--component-log-level",
    options.componentLogLevel ?? DEFAULT_LOG_LEVEL,
    "--drain-time-s",
    "1",
  ];
}

/** Thrown when Envoy refuses a bootstrap or does not become ready; carries Envoy's own words. */
export class EnvoyStartError extends GraftError<"ENVOY_START_FAILED"> {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super("ENVOY_START_FAILED", `${message}\n--- envoy log ---\n${log.trim()}`);
  }
}

/** Checks a bootstrap with `envoy --mode validate` (which also loads and configures Wasm filters). */
export async function validateBootstrap(
  configPath: string,
  binary = resolveEnvoyBinary({ install: true }),
): Promise<void> {
  try {
    await execFileAsync(binary, [
      "--mode",
      "validate",
      "-c",
      configPath,
      "--disable-hot-restart",
      "-l",
      "warn",
    ]);
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    throw new EnvoyStartError(
      `Envoy rejected ${configPath}`,
      `${failure.stdout ?? ""}${failure.stderr ?? ""}`,
    );
  }
}

/**
 * Checks HTTP filters the way Envoy would load them, without running an Envoy: they go into a
 * throwaway bootstrap that `envoy --mode validate` loads, which creates Wasm VMs and runs the
 * filters' configure step. Rejects with EnvoyStartError carrying Envoy's log (the filter's reason).
 */
export async function validateHttpFilters(filters: HttpFilter[]): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "graft-validate-"));
  try {
    const configPath = path.join(dir, "bootstrap.yaml");
    await writeFile(
      configPath,
      bootstrapYaml({
        upstream: { host: "127.0.0.1", port: 9 },
        listeners: [{ name: "main", httpFilters: filters }],
      }),
    );
    await validateBootstrap(configPath);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One Envoy process on 127.0.0.1, started from a rendered bootstrap. Several may run at once. */
export class EnvoyProcess extends RunningEnvoyBase {
  private logText = "";
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly workDir: string,
    readonly configPath: string,
    readonly label: string,
    public admin: AdminClient = new AdminClient("http://127.0.0.1:0"),
  ) {
    super();
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (this.logText += chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (this.logText += chunk));
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  static async start(options: EnvoyOptions): Promise<EnvoyProcess> {
    const binary = resolveEnvoyBinary({ install: true });
    const workDir = await mkdtemp(path.join(tmpdir(), "graft-envoy-"));
    const configPath = path.join(workDir, "bootstrap.yaml");
    await writeFile(configPath, bootstrapYaml(options));
    await validateBootstrap(configPath, binary);

    const adminAddressPath = path.join(workDir, "admin-address");
    const args = envoyArgs(configPath, adminAddressPath, options);
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    const envoy = new EnvoyProcess(child, workDir, configPath, options.label ?? "envoy");
    try {
      await envoy.waitReady(adminAddressPath, options.readyTimeoutMs ?? 15_000);
    } catch (error) {
      await envoy.stop();
      throw error;
    }
    return envoy;
  }

  private async waitReady(adminAddressPath: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | null | undefined;
    void this.exited.then((code) => (exitCode = code));
    while (Date.now() < deadline) {
      if (exitCode !== undefined) {
        throw new EnvoyStartError(
          `${this.label} exited with code ${exitCode} before it was ready`,
          this.logText,
        );
      }
      const address = await readFile(adminAddressPath, "utf8").catch(() => "");
      if (address.trim()) {
        this.admin = new AdminClient(`http://${address.trim()}`);
        if (await this.admin.isReady()) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new EnvoyStartError(`${this.label} was not ready after ${timeoutMs} ms`, this.logText);
  }

  /** Everything Envoy wrote to stdout and stderr so far. */
  logs(): string {
    return this.logText;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.workDir, { recursive: true, force: true });
  }
}
