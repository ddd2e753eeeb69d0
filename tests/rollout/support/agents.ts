// A baseline and a canary Envoy, each with a graft agent as its own process (`graft agent --config`),
// the keys around them, signed releases of the sample filter (tests/support/sample-filter.ts, whose
// folder the agents' configurations list) and live traffic part of which a faulty release refuses:
// what the rollout-through-agents and the crash tests start from.
import { readFile } from "node:fs/promises";
import { verifyAuditLog } from "../../../src/audit/log.ts";
import { agentStatus } from "../../../src/inject/agent-fleet.ts";
import {
  readAgentCheckpoint,
  startLocalAgents,
  type LocalAgentHost,
  type LocalAgents,
} from "../../../src/inject/local-agents.ts";
import type { RolloutArtifact } from "../../../src/rollout/rollout.ts";
import type { TrustPolicy } from "../../../src/sign/policy.ts";
import { startTraffic, type TrafficRun } from "../../../tools/load/traffic.ts";
import {
  alice,
  controller,
  release,
  roots,
  sample,
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
  signals: [
    { name: "5xx", maxRatio: 1.5, floorRate: 0.005 },
    { name: "filter_rejections", maxRatio: 1.5, floorRate: 0.005 },
  ],
};

/** What a good release blocks: nothing live traffic asks for. */
export const GOOD_BLOCKED = ["/never"];
/** What the faulty release blocks: the path of 4% of startRolloutTraffic's requests. */
export const FAULTY_BLOCKED = ["/checkout"];

/** Live traffic to each URL for `durationMs`: `ratePerUrl` requests a second, 96% to /, 4% to /checkout. */
export function startRolloutTraffic(urls: string[], durationMs: number, ratePerUrl = 200): TrafficRun {
  const checkout = Math.max(1, Math.round(ratePerUrl * 0.04));
  const runs = [
    startTraffic({ urls, ratePerUrl: ratePerUrl - checkout, durationMs }),
    startTraffic({ urls, ratePerUrl: checkout, durationMs, path: "/checkout" }),
  ];
  return {
    get stats() {
      const merged = new Map<string, { sent: number; byStatus: Map<number, number>; errors: number }>();
      for (const run of runs)
        for (const [url, stat] of run.stats) {
          const into = merged.get(url) ?? { sent: 0, byStatus: new Map<number, number>(), errors: 0 };
          into.sent += stat.sent;
          into.errors += stat.errors;
          for (const [status, count] of stat.byStatus)
            into.byStatus.set(status, (into.byStatus.get(status) ?? 0) + count);
          merged.set(url, into);
        }
      return merged;
    },
    done: Promise.all(runs.map((run) => run.done)).then(() => undefined),
    stop: () => runs.forEach((run) => run.stop()),
  };
}

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

/** A sample-filter release blocking `blocked`, signed by alice (whom the agents' policy trusts), as a rollout artifact. */
export function agentArtifact(
  injectionId: string,
  version: string,
  blocked: string[] = GOOD_BLOCKED,
): RolloutArtifact {
  const r = release(injectionId, [alice], {
    version,
    configuration: { ...TAG_CONFIG, blocked_prefixes: blocked },
  });
  return {
    module: r.module,
    envelope: r.envelope,
    configuration: r.configuration,
    policy: AGENTS_POLICY,
    filter: sample,
  };
}

/**
 * envoy-baseline and envoy-canary, each with its agent process; signed policy serial 1 (2-of-2
 * roots); the agents' configurations list the sample filter's folder.
 */
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
    filters: [sample.dir],
    ...(options.workDir ? { workDir: options.workDir } : {}),
  });
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
