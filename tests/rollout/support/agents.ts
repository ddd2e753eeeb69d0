// A baseline and a canary Envoy, each with a graft agent as its own process (`graft agent --config`),
// the keys around them, and signed header-rewrite releases: what the rollout-through-agents and the
// crash tests start from.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { verifyAuditLog } from "../../../src/audit/log.ts";
import { compileModule } from "../../../src/compile/compile.ts";
import { agentStatus } from "../../../src/inject/agent-fleet.ts";
import {
  readAgentCheckpoint,
  startLocalAgents,
  type LocalAgentHost,
  type LocalAgents,
} from "../../../src/inject/local-agents.ts";
import type { RolloutArtifact } from "../../../src/rollout/rollout.ts";
import type { TrustPolicy } from "../../../src/sign/policy.ts";
import { projectRoot } from "../../../src/util/paths.ts";
import {
  alice,
  controller,
  release,
  roots,
  signedPolicy,
  SLOT,
  TAG_CONFIG,
} from "../../agent/support/agent-fleet.ts";

export { SLOT, controller };

/** A plan that decides within seconds on loopback traffic (no bursts: each look is its own block). */
export const AGENT_PLAN = {
  slot: SLOT,
  canary: "role=canary",
  baseline: "role=baseline",
  interval: "1s",
  minDuration: "3s",
  maxDuration: "40s",
  minRequests: 800,
  burstWindow: "1s",
  signals: [{ name: "5xx", maxRatio: 1.5, floorRate: 0.005 }],
};

/** The agents verify against their own policy: the rollout's file-mode policy is never read. */
export const AGENTS_POLICY: TrustPolicy = {
  source: "(agents)",
  serial: 0,
  maxTtlMs: 0,
  clockSkewMs: 0,
  keys: new Map(),
  revoked: new Set(),
  approvalRules: [],
};

/** A release signed by alice (whom the agents' policy trusts), as a rollout artifact. */
export function agentArtifact(injectionId: string, version: string, module?: Uint8Array): RolloutArtifact {
  const r = release(injectionId, [alice], {
    version,
    configuration: TAG_CONFIG,
    ...(module ? { wasmBytes: Buffer.from(module) } : {}),
  });
  return { module: r.module, envelope: r.envelope, configuration: r.configuration, policy: AGENTS_POLICY };
}

/** envoy-baseline and envoy-canary, each with its agent process; signed policy serial 1 (2-of-2 roots). */
export function startRolloutAgents(options: { workDir?: string } = {}): Promise<LocalAgents> {
  return startLocalAgents({
    names: ["envoy-baseline", "envoy-canary"],
    concurrency: 1,
    slots: [SLOT],
    labels: (_, name) => ({ role: name.replace("envoy-", ""), tier: "payments" }),
    trustRoot: roots.map((root) => ({ name: root.name, publicKeyPem: root.pair.publicKeyPem })),
    threshold: 2,
    policy: signedPolicy({ serial: 1 }),
    callers: [{ name: controller.name, publicKeyPem: controller.pair.publicKeyPem }],
    agentMode: "process",
    ...(options.workDir ? { workDir: options.workDir } : {}),
  });
}

/** The demo's faulty header-rewrite (every 25th request answered 503), built into `dir`. */
export async function faultyModule(dir: string): Promise<Uint8Array> {
  const built = await compileModule(
    "faulty",
    path.join(projectRoot, "scripts", "demo-faulty-filter", "assembly", "index.ts"),
    path.join(dir, "faulty.wasm"),
    "release",
  );
  return readFile(built.path);
}

/** The injection the agent says is active in the slot (null: empty). */
export async function activeOn(host: LocalAgentHost): Promise<string | null> {
  const status = (await agentStatus(host.target, controller.key)) as {
    slots: Record<string, { active: { injectionId: string } | null }>;
  };
  return status.slots[SLOT]?.active?.injectionId ?? null;
}

export interface AgentAuditRecord {
  action: string;
  outcome: string;
  actor: string;
  reason: string | null;
  details?: { operationId?: string; injectionId?: string; from?: string; to?: string | null };
}

export async function agentRecords(host: LocalAgentHost): Promise<AgentAuditRecord[]> {
  return (await readFile(host.auditLog, "utf8"))
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AgentAuditRecord);
}

/** The agent's log verifies with its own key and its signed checkpoint (as `graft audit verify --key --checkpoint`). */
export async function verifyAgentLog(host: LocalAgentHost): Promise<{ ok: boolean; detail: string }> {
  const result = await verifyAuditLog(host.auditLog, {
    keys: [host.agentKey],
    checkpoint: await readAgentCheckpoint(host),
  });
  return result.ok
    ? { ok: true, detail: `${result.records} records` }
    : { ok: false, detail: `line ${result.line}: ${result.problem}` };
}
