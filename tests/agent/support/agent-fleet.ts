// Real Envoys, each with a graft agent beside it (in this process), the keys around them, and the
// releases tests inject: the fixture every agent test starts from. The releases are of the sample
// filter (tests/support/sample-filter.ts), whose folder every agent's configuration lists.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import type { AgentConfig } from "../../../src/agent/config.ts";
import type { RunningAgent } from "../../../src/agent/daemon.ts";
import { startLocalAgents } from "../../../src/inject/local-agents.ts";
import type { LocalFleet, SlotEnvoy } from "../../../src/inject/local-fleet.ts";
import type { Target } from "../../../src/inject/target.ts";
import type { DsseEnvelope } from "../../../src/sign/dsse.ts";
import type { SigningKey } from "../../../src/sign/keys.ts";
import { signPolicy } from "../../../src/sign/policy-bundle.ts";
import { addSignature, signEnvelope } from "../../../src/sign/sign.ts";
import { createStatement, type StatementInput } from "../../../src/sign/statement.ts";
import { approver, type Approver } from "../../sign/helpers.ts";
import { sampleFilter } from "../../support/sample-filter.ts";

export const SLOT = "graft-slot-0";
export const alice = approver("alice");
export const bob = approver("bob");
export const carol = approver("carol");
export const mallory = approver("mallory");
export const roots = [approver("root-a"), approver("root-b")];
export const controller = approver("ops-ctl");

/** The sample filter, built; agents started here list its folder. */
export const sample = await sampleFilter();
export const sampleModule = (): Buffer => readFileSync(sample.releaseWasm);
/** The sample filter tagging every response with the injection id in x-graft-injection. */
export const TAG_CONFIG = { response_header: "x-graft-injection" };

export interface Release {
  module: Buffer;
  envelope: DsseEnvelope;
  configuration: Record<string, unknown>;
  injectionId: string;
}

/** A sample-filter release signed by `signers` (first signs, the rest co-sign). */
export function release(
  injectionId: string,
  signers: Approver[],
  overrides: Partial<StatementInput> = {},
): Release {
  const module = (overrides.wasmBytes as Buffer | undefined) ?? sampleModule();
  const configuration = (overrides.configuration as Record<string, unknown> | undefined) ?? TAG_CONFIG;
  const statement = createStatement({
    wasmBytes: module,
    moduleName: `${sample.name}.wasm`,
    filter: sample.name,
    version: "1.0.0",
    injectionId,
    author: "test",
    reason: "agent tests",
    configuration,
    ttl: "1h",
    ...overrides,
  });
  let envelope = signEnvelope(statement, signers[0]!.key);
  for (const signer of signers.slice(1)) envelope = addSignature(envelope, signer.key);
  return { module, envelope, configuration, injectionId };
}

export interface PolicyOptions {
  serial: number;
  trusted?: Approver[];
  revoked?: Approver[];
  approvalRules?: unknown[];
  maxTtl?: string;
  signers?: Approver[];
}

export function policyYaml(options: PolicyOptions): string {
  return yaml.dump({
    version: 1,
    serial: options.serial,
    maxTtl: options.maxTtl ?? "24h",
    clockSkew: "1m",
    keys: (options.trusted ?? [alice, bob, carol]).map((a) => ({
      name: a.name,
      publicKey: a.pair.publicKeyPem,
      filters: ["*"],
    })),
    ...(options.revoked ? { revoked: options.revoked.map((a) => a.pair.keyId) } : {}),
    ...(options.approvalRules ? { approvalRules: options.approvalRules } : {}),
  });
}

export function signedPolicy(options: PolicyOptions): DsseEnvelope {
  return signPolicy(
    policyYaml(options),
    (options.signers ?? roots).map((r) => r.key),
  );
}

export interface AgentHost {
  name: string;
  envoy: SlotEnvoy;
  /** The listener URL. */
  url: string;
  config: AgentConfig;
  agent: RunningAgent;
  /** The target as the control plane's targets file would describe it. */
  target: Target;
  restart(): Promise<void>;
}

export interface AgentFleet {
  fleet: LocalFleet;
  hosts: AgentHost[];
  workDir: string;
  caller: SigningKey;
  stop(): Promise<void>;
}

export interface AgentFleetOptions {
  count?: number;
  labels?: Record<string, string>;
  policy?: PolicyOptions;
  enforceIntervalMs?: number;
  /** The filter folders the agents' configurations list (default: the sample filter's). */
  filters?: string[];
}

/**
 * `count` Envoys, each with an agent in this process (labels, signed policy serial 1 by default,
 * 2-of-2 root): src/inject/local-agents.ts with the test keys, agents reachable for reaching in.
 */
export async function startAgentFleet(options: AgentFleetOptions = {}): Promise<AgentFleet> {
  const local = await startLocalAgents({
    count: options.count ?? 1,
    concurrency: 1,
    slots: [SLOT],
    labels: () => options.labels ?? { tier: "payments" },
    trustRoot: roots.map((root) => ({ name: root.name, publicKeyPem: root.pair.publicKeyPem })),
    threshold: 2,
    policy: signedPolicy(options.policy ?? { serial: 1 }),
    callers: [{ name: controller.name, publicKeyPem: controller.pair.publicKeyPem }],
    agentMode: "in-process",
    enforceInterval: `${options.enforceIntervalMs ?? 250}ms`,
    filters: options.filters ?? [sample.dir],
  });
  const hosts = local.hosts.map((host): AgentHost => ({
    name: host.name,
    envoy: host.envoy,
    url: host.url,
    target: host.target,
    get config() {
      return host.config;
    },
    get agent() {
      return host.agent!;
    },
    async restart() {
      await host.stopAgent();
      await host.startAgent();
    },
  }));
  return { fleet: local.fleet, hosts, workDir: local.workDir, caller: controller.key, stop: local.stop };
}

/** The x-graft-injection header a listener answers with (null: the slot serves no tagging filter). */
export async function served(url: string): Promise<string | null> {
  const response = await fetch(`${url}/x`);
  await response.arrayBuffer();
  return response.headers.get("x-graft-injection");
}

/** Polls `check` until it returns true or `ms` pass. */
export async function eventually(
  check: () => Promise<boolean>,
  ms = 5_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function auditRecords(log: string): {
  action: string;
  outcome: string;
  actor: string;
  reason: string | null;
  details?: Record<string, unknown>;
}[] {
  return readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as never);
}
