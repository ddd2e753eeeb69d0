// A local fleet the way graft is meant to run: real Envoys on loopback, each with its own graft
// agent beside it (the only writer of that Envoy's slots), a signed trust policy pinned in every
// agent, and a targets file that reaches the agents (and the admin APIs, for the judge's reads
// only). The demo, the rollout and crash tests and the agent tests start from here.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { loadAgentConfig, type AgentConfig } from "../agent/config.ts";
import { startAgent, type RunningAgent } from "../agent/daemon.ts";
import { checkpointPath } from "../audit/log.ts";
import { generateKeyPair, verifyingKeyFromPem, type VerifyingKey } from "../sign/keys.ts";
import { projectRoot } from "../util/paths.ts";
import { startLocalFleet, type LocalFleet, type LocalFleetOptions, type SlotEnvoy } from "./local-fleet.ts";
import { loadTargetsFile, type Target } from "./target.ts";

/** A public key as the agents' configuration files name it. */
export interface NamedPublicKey {
  name: string;
  publicKeyPem: string;
}

export interface LocalAgentsOptions extends Omit<LocalFleetOptions, "workDir"> {
  /** The trust-root keys every agent pins; `threshold` of them must sign a policy. */
  trustRoot: NamedPublicKey[];
  threshold?: number;
  /** The signed trust policy (`graft policy sign`) each agent starts from. */
  policy: unknown;
  /** The control-plane keys the agents accept as callers; the name is the actor in their audit logs. */
  callers: NamedPublicKey[];
  /**
   * "process" (default): each agent is a `graft agent --config <file>` child process, as on a host
   * (it can be killed). "in-process": started in this process (tests that reach into the enforcer).
   */
  agentMode?: "process" | "in-process";
  /** The agents' timer: TTLs, re-verification, drift repair. Default 250ms. */
  enforceInterval?: string;
  /** Filter folders outside graft's filters/ every agent may run (its configuration's `filters:`). */
  filters?: string[];
  /** Where everything goes; default a fresh temporary directory (removed on stop). */
  workDir?: string;
}

/** One Envoy and its agent. */
export interface LocalAgentHost {
  name: string;
  envoy: SlotEnvoy;
  /** The Envoy's listener URL. */
  url: string;
  /** `http://127.0.0.1:<port>` of the agent's signed API (the same port across agent restarts). */
  agentUrl: string;
  /** The agent's directory: agent.yaml, its key pair, state, module store, audit log. */
  dir: string;
  configFile: string;
  /** The agent's signed, hash-chained audit log and its checkpoint file beside it. */
  auditLog: string;
  /** The agent's public key: pinned in the targets file, and what its audit records verify with. */
  agentKey: VerifyingKey;
  agentPublicKeyPath: string;
  /** The target as the control plane's targets file describes it: the agent, plus admin for reads. */
  target: Target;
  /** The agent's configuration as loaded (in-process mode: what the running agent uses). */
  config: AgentConfig;
  /** The running agent (in-process mode only). */
  agent?: RunningAgent;
  /** The agent child process (process mode only). */
  process?: ChildProcess;
  /** What the agent process printed (process mode). */
  agentLogs(): string;
  /** Stops the agent (SIGTERM in process mode). */
  stopAgent(): Promise<void>;
  /** SIGKILLs the agent process (process mode only): a crash, nothing flushed or closed. */
  killAgent(): Promise<void>;
  /** Starts the agent again on the same port from the same configuration and state. */
  startAgent(): Promise<void>;
}

export interface LocalAgents {
  fleet: LocalFleet;
  hosts: LocalAgentHost[];
  workDir: string;
  /** targets.yaml: every host by its agent (pinned key) and admin URL. */
  targetsFile: string;
  /** The targets as `loadTargetsFile(targetsFile)` reads them. */
  targets: Target[];
  stop(): Promise<void>;
}

const READY = /graft agent \S+ listening on (http:\/\/\S+)/;

/** Starts `graft agent --config <file>` and resolves with its URL once it listens. */
function spawnAgent(
  configFile: string,
  onOutput: (text: string) => void,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [path.join(projectRoot, "bin", "graft.js"), "agent", "--config", configFile],
    {
      cwd: projectRoot,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`graft agent (${configFile}) did not listen within 60 s: ${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      onOutput(text);
      const match = READY.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]! });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`graft agent (${configFile}) exited (${code ?? signal}) before listening: ${output}`));
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** The agent configuration file graft agent reads (relative paths resolve against `dir`). */
function agentConfigYaml(options: {
  name: string;
  labels: Record<string, string>;
  port: number;
  envoy: SlotEnvoy;
  enforceInterval: string;
  threshold: number;
  trustRoot: NamedPublicKey[];
  callers: NamedPublicKey[];
  keysDir: string;
  policyFile: string;
  moduleStore: string;
  moduleStoreMode: string;
  filters: string[];
}): string {
  const keyFile = (key: NamedPublicKey) => path.join(options.keysDir, `${key.name}.pub.pem`);
  return yaml.dump({
    name: options.name,
    labels: options.labels,
    listen: `127.0.0.1:${options.port}`,
    envoy: {
      admin: options.envoy.target.adminUrl,
      ecdsDir: options.envoy.target.ecdsDir,
      slots: options.envoy.target.slots,
    },
    moduleStore: options.moduleStore,
    moduleStoreMode: options.moduleStoreMode,
    stateDir: "state",
    key: "agent.key.pem",
    trustRoot: {
      threshold: options.threshold,
      keys: options.trustRoot.map((key) => ({ name: key.name, publicKeyPath: keyFile(key) })),
    },
    policy: options.policyFile,
    auditLog: "audit.log",
    callers: options.callers.map((key) => ({ name: key.name, publicKeyPath: keyFile(key) })),
    enforceInterval: options.enforceInterval,
    ...(options.filters.length > 0 ? { filters: options.filters } : {}),
  });
}

/**
 * Envoys with injectable slots (startLocalFleet) and a graft agent beside each, on 127.0.0.1. Each
 * agent has its own key, configuration file, state, module store and signed audit log under
 * `<workDir>/<name>/agent`; the root and caller public keys are in `<workDir>/keys`.
 */
export async function startLocalAgents(options: LocalAgentsOptions): Promise<LocalAgents> {
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(path.join(tmpdir(), "graft-agents-")));
  const mode = options.agentMode ?? "process";
  const keysDir = path.join(workDir, "keys");
  await mkdir(keysDir, { recursive: true });
  for (const key of [...options.trustRoot, ...options.callers])
    await writeFile(path.join(keysDir, `${key.name}.pub.pem`), key.publicKeyPem);
  const policyFile = path.join(workDir, "policy.dsse.json");
  await writeFile(policyFile, `${JSON.stringify(options.policy)}\n`);
  const fleet = await startLocalFleet({ ...options, workDir });
  const hosts: LocalAgentHost[] = [];
  const stopAll = async () => {
    await Promise.all(hosts.map((host) => host.stopAgent().catch(() => undefined)));
    await fleet.stop();
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  };
  try {
    for (const [index, envoy] of fleet.envoys.entries()) {
      const name = envoy.target.name;
      const dir = path.join(workDir, name, "agent");
      await mkdir(dir, { recursive: true });
      const pair = generateKeyPair();
      await writeFile(path.join(dir, "agent.key.pem"), pair.privateKeyPem, { mode: 0o600 });
      const agentPublicKeyPath = path.join(dir, "agent.pub.pem");
      await writeFile(agentPublicKeyPath, pair.publicKeyPem);
      const configFile = path.join(dir, "agent.yaml");
      const container = options.runtime === "container";
      const writeConfig = (port: number) =>
        writeFile(
          configFile,
          agentConfigYaml({
            name,
            labels: options.labels?.(index, name) ?? {},
            port,
            envoy,
            enforceInterval: options.enforceInterval ?? "250ms",
            threshold: options.threshold ?? options.trustRoot.length,
            trustRoot: options.trustRoot,
            callers: options.callers,
            keysDir,
            policyFile,
            // Envoy reads modules from here; startLocalFleet mounts this directory into containers,
            // where Envoy runs as another user (so the store is world-readable there).
            moduleStore: path.join(envoy.target.moduleDir, name),
            moduleStoreMode: container ? "0755" : "0700",
            filters: (options.filters ?? []).map((dir) => path.resolve(dir)),
          }),
        );
      await writeConfig(0);
      let output = "";
      const host: LocalAgentHost = {
        name,
        envoy,
        url: envoy.url,
        agentUrl: "",
        dir,
        configFile,
        auditLog: path.join(dir, "audit.log"),
        agentKey: verifyingKeyFromPem(pair.publicKeyPem, agentPublicKeyPath),
        agentPublicKeyPath,
        target: undefined as unknown as Target,
        config: await loadAgentConfig(configFile),
        agentLogs: () => output,
        async stopAgent() {
          if (host.agent) {
            await host.agent.stop();
            host.agent = undefined;
          }
          const child = host.process;
          if (child) {
            host.process = undefined;
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
            await waitExit(child);
            clearTimeout(timer);
          }
        },
        async killAgent() {
          const child = host.process;
          if (!child)
            throw new Error(
              `${name}: the agent runs in this process (agentMode "in-process"); it cannot be killed`,
            );
          host.process = undefined;
          child.kill("SIGKILL");
          await waitExit(child);
        },
        async startAgent() {
          if (host.agent || host.process) throw new Error(`${name}: the agent is already running`);
          if (mode === "in-process") {
            host.agent = await startAgent(host.config, { envoyLogs: () => envoy.envoy.logs() });
            host.agentUrl = host.agent.url;
          } else {
            const started = await spawnAgent(configFile, (text) => (output += text));
            host.process = started.child;
            host.agentUrl = started.url;
          }
          if (host.config.listen.port === 0) {
            // Later starts (after a crash) bind the port the targets file pins.
            await writeConfig(Number(new URL(host.agentUrl).port));
            host.config = await loadAgentConfig(configFile);
          }
        },
      };
      hosts.push(host);
    }
    await Promise.all(hosts.map((host) => host.startAgent()));
    const targetsFile = path.join(workDir, "targets.yaml");
    await writeFile(
      targetsFile,
      yaml.dump({
        targets: hosts.map((host, index) => ({
          name: host.name,
          agent: { url: host.agentUrl, publicKeyPath: path.relative(workDir, host.agentPublicKeyPath) },
          // Only for reading stats (the judge); the agent owns the slots.
          admin: host.envoy.target.adminUrl,
          slots: host.envoy.target.slots,
          labels: options.labels?.(index, host.name) ?? {},
        })),
      }),
    );
    const targets = await loadTargetsFile(targetsFile);
    for (const [index, host] of hosts.entries()) host.target = targets[index]!;
    return { fleet, hosts, workDir, targetsFile, targets, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** An agent's audit log and signed checkpoint as `graft audit verify --key --checkpoint` reads them. */
export async function readAgentCheckpoint(host: LocalAgentHost): Promise<unknown> {
  return JSON.parse(await readFile(checkpointPath(host.auditLog), "utf8")) as unknown;
}
