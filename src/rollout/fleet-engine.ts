// The rollout engine for graft's own fleets: ECDS slots on targets from a targets file, written by
// graft (file mode) or asked of the graft agent beside each Envoy, which verifies every step itself.
import { injectFleet, rollbackFleet, type AuditContext, type FleetReport } from "../inject/fleet.ts";
import { agentStatus, hasAgents, newOperationId } from "../inject/agent-fleet.ts";
import { readHistory } from "../inject/history.ts";
import type { Target } from "../inject/target.ts";
import { adminApiSource, type MetricSource } from "../observe/source.ts";
import type { CanaryEngine, CanaryInjection } from "./engine.ts";
import type { RolloutPlan } from "./plan.ts";
import { RolloutError, type RolloutArtifact } from "./rollout.ts";

export interface FleetEngineInput {
  plan: RolloutPlan;
  artifact: RolloutArtifact;
  audit: AuditContext;
  canary: Target[];
  baseline: Target[];
  /** Targets that receive the release on PROMOTE. */
  promoteTo: Target[];
  metrics: MetricSource;
  dryRun: boolean;
  /** The injection id the envelope signs, when it can be read: how "is ours in?" is answered. */
  injectionId: string | undefined;
}

/**
 * Checks a rollout through agents before anything happens: every target has an agent or none does,
 * the agents' caller key is there, and the judge can read each arm's counters (the agent API serves
 * no stats: a target needs `admin:` for the admin-API source). Returns whether agents are used.
 */
function preflightAgents(input: FleetEngineInput): boolean {
  const { audit, metrics, dryRun } = input;
  const involved = [...new Set([...input.canary, ...input.baseline, ...input.promoteTo])];
  let agents: boolean;
  try {
    agents = hasAgents(involved);
  } catch (error) {
    throw new RolloutError(
      `${(error as Error).message}: a rollout goes through agents everywhere or nowhere`,
    );
  }
  if (!agents) return false;
  if (!dryRun && !audit.caller)
    throw new RolloutError(
      "these targets have graft agents: give the control-plane key the agents trust (--key <pem> or $GRAFT_CONTROL_KEY)",
    );
  if (audit.operationId !== undefined && audit.operationId.length > 119)
    throw new RolloutError(
      `operation id ${audit.operationId}: at most 119 characters (the steps add .canary, .promote, .rollback)`,
    );
  if (metrics === adminApiSource) {
    const blind = [...input.canary, ...input.baseline].filter((target) => target.adminUrl === "");
    if (blind.length > 0)
      throw new RolloutError(
        `${blind.map((t) => t.name).join(", ")}: no admin URL in the targets file, so the judge cannot read ` +
          "their counters (the agent owns the slots but serves no stats); add `admin: http://<host>:<port>` " +
          "to each (graft only reads /stats there) or read the counters from Prometheus",
      );
  }
  return true;
}

async function filterAsync<T>(items: T[], keep: (item: T) => Promise<boolean>): Promise<T[]> {
  const kept: T[] = [];
  for (const item of items) if (await keep(item)) kept.push(item);
  return kept;
}

/** Checks the targets (agents everywhere or nowhere, keys, admin URLs) and returns the engine. */
export function fleetEngine(input: FleetEngineInput): CanaryEngine {
  const { plan, artifact, audit, canary, promoteTo, injectionId } = input;
  const agents = preflightAgents(input);
  const operationId = agents ? (audit.operationId ?? newOperationId("rollout")) : undefined;
  /** The fleet context of one step: through agents, its own operation id under the rollout's. */
  const step = (name: "canary" | "promote" | "rollback"): AuditContext =>
    operationId === undefined ? audit : { ...audit, operationId: `${operationId}.${name}` };

  /**
   * Canary targets where this rollout's injection may be in: rolled back on ROLLBACK or ERROR. Not
   * the ones that already served it (outcome "unchanged") or refused it: rolling those back would
   * remove the release that was there before the rollout.
   */
  let inCanary: Target[] = [];
  let canaryStepDone = false;
  /** Whether the rollout's own injection is what `target`'s slot serves now (undefined: cannot tell). */
  const oursActive = async (target: Target): Promise<boolean | undefined> => {
    if (injectionId === undefined) return undefined;
    try {
      if (target.agent) {
        const status = (await agentStatus(target, audit.caller!)) as {
          slots?: Record<string, { active?: { injectionId?: string } | null }>;
        };
        return status.slots?.[plan.slot]?.active?.injectionId === injectionId;
      }
      return (await readHistory(target.ecdsDir, plan.slot)).stack.at(-1)?.injectionId === injectionId;
    } catch {
      return undefined;
    }
  };

  return {
    through: agents ? "agents" : "files",
    description: agents ? `slot ${plan.slot} through graft agents` : `slot ${plan.slot} (ECDS files)`,
    ...(operationId !== undefined ? { operationId } : {}),
    canaryTouched: () => inCanary.length > 0,
    canaryDone: () => canaryStepDone,
    async injectCanary(): Promise<CanaryInjection> {
      let injection: FleetReport;
      try {
        injection = await injectFleet({ ...step("canary"), ...artifact, targets: canary, slot: plan.slot });
      } catch (error) {
        // Whatever went in before the error (it may have thrown after writing) comes out again.
        inCanary = await filterAsync(canary, async (t) => (await oursActive(t)) !== false);
        return { error: `canary injection failed: ${(error as Error).message}` };
      }
      canaryStepDone = true;
      // A partial injection is still an injection: roll back whatever went in.
      const ended: string[] = [];
      inCanary = await filterAsync(canary, async (target) => {
        const answer = injection.results.find((r) => r.target === target.name);
        if (answer?.outcome === "unchanged") return false;
        if (answer?.outcome === "applied" && !answer.replayed) return true;
        // Failed, or answered from an earlier run of this operation id: ask what the slot serves now.
        const active = await oursActive(target);
        if (answer && active === false) ended.push(target.name);
        return active !== false;
      });
      if (ended.length > 0)
        return {
          action: injection,
          error:
            `operation ${operationId} already ended on ${ended.join(", ")} (an earlier run removed its canary there); ` +
            "its canary is now removed everywhere; start a new rollout (without --operation-id) to canary again",
        };
      if (injection.failures.length > 0)
        return {
          action: injection,
          error: `canary injection failed: ${injection.failures.map((f) => `${f.target}: ${f.error}`).join("; ")}`,
        };
      return { action: injection };
    },
    promote: () => injectFleet({ ...step("promote"), ...artifact, targets: promoteTo, slot: plan.slot }),
    rollback: () => rollbackFleet(inCanary, plan.slot, step("rollback")),
  };
}
