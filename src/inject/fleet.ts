import { verifyArtifact, type VerifiedArtifact } from "../sign/verify.ts";
import type { TrustPolicy } from "../sign/policy.ts";
import { appendAuditRecord, type AuditAction } from "../audit/log.ts";
import type { FailurePolicy } from "../envoy/wasm-filter.ts";
import { findFilter, type FilterInfo } from "../filters/catalog.ts";
import { validateFilterConfig } from "../filters/config-schema.ts";
import { disableSlot, expireSlot, injectSlot, rollbackSlot, type SlotResult } from "./slot-ops.ts";
import type { Target } from "./target.ts";
import type { SigningKey } from "../sign/keys.ts";
import {
  disableThroughAgents,
  hasAgents,
  injectThroughAgents,
  rollbackThroughAgents,
  type AgentFleetReport,
} from "./agent-fleet.ts";

export type { AgentFleetReport };

/** What happened on each target; a command reports all of them, even when some fail. */
export interface FleetReport {
  action: AuditAction;
  results: SlotResult[];
  /** `code`: an agent's refusal code (UNKNOWN_KEY, DOWNGRADE_REFUSED, AUDIT_UNAVAILABLE…). */
  failures: { target: string; slot: string; error: string; code?: string }[];
  /** Injections removed because their TTL passed, found while acting on the targets. */
  expired: SlotResult[];
}

export interface AuditContext {
  /** JSON Lines audit log every action is appended to (file mode; agents keep their own). */
  auditLog: string;
  actor?: string;
  /**
   * Targets with agents: the control-plane key the agents authenticate (they audit its name as the
   * actor, whatever `actor` says), the operation id to resume, and whether a failure reverts.
   */
  caller?: SigningKey;
  operationId?: string;
  atomic?: boolean;
  onResult?: (result: SlotResult) => void;
}

function agentOptions(context: AuditContext) {
  if (!context.caller)
    throw new Error(
      "these targets have graft agents: pass the control-plane key the agents trust (--key or GRAFT_CONTROL_KEY)",
    );
  return {
    caller: context.caller,
    operationId: context.operationId,
    atomic: context.atomic,
    onResult: context.onResult,
  };
}

export interface InjectRequest extends AuditContext {
  targets: Target[];
  slot: string;
  module: Uint8Array;
  /** The DSSE envelope around the injection statement (parsed JSON or text). */
  envelope: unknown;
  /** The filter configuration the envelope was signed for. */
  configuration: Record<string, unknown>;
  policy: TrustPolicy;
  failurePolicy?: FailurePolicy;
  now?: Date;
  /** Where the configuration came from, for error messages (e.g. its file name). */
  configSource?: string;
  /** The filter, when it is not the one of filters/ that the envelope names (an author's own folder). */
  filter?: FilterInfo;
}

/** The signed filter's catalog entry: the given one (which must be the signed one) or filters/'s. */
function signedFilter(request: InjectRequest, signedName: string): FilterInfo {
  if (!request.filter) return findFilter(signedName);
  if (request.filter.name !== signedName) {
    throw new Error(
      `the envelope approves filter ${signedName}, but the filter given is ${request.filter.name} (${request.filter.dir})`,
    );
  }
  return request.filter;
}

const moduleDigest = (verified: VerifiedArtifact) => `sha256:${verified.moduleSha256}`;

function slotFor(target: Target, slot: string): string {
  if (!target.slots.includes(slot)) {
    throw new Error(
      `${target.name} has no slot ${slot} (its slots: ${target.slots.join(", ")}); check the targets file`,
    );
  }
  return slot;
}

/** Applies the TTL: graft removes expired injections from a target whenever it acts on it. */
async function expireTargets(targets: Target[], context: AuditContext, now: Date): Promise<SlotResult[]> {
  const expired: SlotResult[] = [];
  for (const target of targets) {
    for (const slot of target.slots) {
      const result = await expireSlot(target, slot, now);
      if (!result) continue;
      expired.push(result);
      await appendAuditRecord(context.auditLog, {
        action: "expire",
        outcome: "ok",
        actor: context.actor,
        targets: [target.name],
        details: { slot, nowActive: result.injectionId ?? null, version: result.version },
      });
    }
  }
  return expired;
}

/**
 * Verifies a signed artifact against the trust policy for every target and the configuration against
 * the filter's schema, before anything is written: a refusal leaves every target as it was. Then
 * injects target by target and records the outcome in the audit log.
 */
export async function injectFleet(request: InjectRequest): Promise<FleetReport> {
  if (request.targets.length > 0 && hasAgents(request.targets)) {
    // The agents verify against their own policy and labels: request.policy is not consulted.
    return injectThroughAgents(request, agentOptions(request));
  }
  const now = request.now ?? new Date();
  const verified: VerifiedArtifact[] = [];
  try {
    if (request.targets.length === 0) throw new Error("no target matches; nothing to inject");
    for (const target of request.targets) {
      slotFor(target, request.slot);
      verified.push(
        verifyArtifact({
          envelope: request.envelope,
          wasmBytes: request.module,
          configuration: request.configuration,
          policy: request.policy,
          targetLabels: target.labels,
          now,
        }),
      );
    }
    const predicate = verified[0]!.predicate;
    const filter = signedFilter(request, predicate.filter);
    validateFilterConfig(
      filter,
      { ...request.configuration, injection_id: predicate.injectionId },
      request.configSource ?? "configuration",
    );
  } catch (error) {
    const code = (error as { code?: string }).code;
    await appendAuditRecord(request.auditLog, {
      action: "verify-refused",
      outcome: "refused",
      actor: request.actor,
      artifact: null,
      targets: request.targets.map((t) => t.name),
      reason: code ? `${code}: ${(error as Error).message}` : (error as Error).message,
      details: { slot: request.slot },
    });
    throw error;
  }

  const artifact = verified[0]!;
  const { predicate } = artifact;
  const expired = await expireTargets(request.targets, request, now);
  const report: FleetReport = { action: "inject", results: [], failures: [], expired };
  for (const target of request.targets) {
    try {
      report.results.push(
        await injectSlot(target, request.slot, {
          filter: predicate.filter,
          rootId: signedFilter(request, predicate.filter).rootId,
          injectionId: predicate.injectionId,
          module: request.module,
          configuration: request.configuration,
          configSha256: predicate.configSha256,
          expires: predicate.expires,
          failurePolicy: request.failurePolicy,
        }),
      );
    } catch (error) {
      report.failures.push({ target: target.name, slot: request.slot, error: (error as Error).message });
    }
  }
  await appendAuditRecord(request.auditLog, {
    action: "inject",
    outcome: report.failures.length === 0 ? "ok" : "failed",
    actor: request.actor,
    artifact: moduleDigest(artifact),
    targets: request.targets.map((t) => t.name),
    reason:
      report.failures.length > 0 ? report.failures.map((f) => `${f.target}: ${f.error}`).join("; ") : null,
    details: {
      slot: request.slot,
      filter: predicate.filter,
      version: predicate.version,
      injectionId: predicate.injectionId,
      expires: predicate.expires,
      signers: artifact.signers.map((s) => s.keyId),
      results: report.results.map((r) => ({
        target: r.target,
        outcome: r.outcome,
        version: r.version,
        ms: Math.round(r.ms),
      })),
    },
  });
  return report;
}

async function eachSlot(
  action: AuditAction,
  targets: Target[],
  slots: (target: Target) => string[],
  operate: (target: Target, slot: string) => Promise<SlotResult>,
  context: AuditContext & { now?: Date },
): Promise<FleetReport> {
  const now = context.now ?? new Date();
  const expired = action === "disable" ? [] : await expireTargets(targets, context, now);
  const report: FleetReport = { action, results: [], failures: [], expired };
  for (const target of targets) {
    for (const slot of slots(target)) {
      try {
        report.results.push(await operate(target, slot));
      } catch (error) {
        report.failures.push({ target: target.name, slot, error: (error as Error).message });
      }
    }
  }
  await appendAuditRecord(context.auditLog, {
    action,
    outcome: report.failures.length === 0 ? "ok" : "failed",
    actor: context.actor,
    targets: targets.map((t) => t.name),
    reason:
      report.failures.length > 0
        ? report.failures.map((f) => `${f.target}/${f.slot}: ${f.error}`).join("; ")
        : null,
    details: {
      results: report.results.map((r) => ({
        target: r.target,
        slot: r.slot,
        outcome: r.outcome,
        nowActive: r.injectionId ?? null,
        ms: Math.round(r.ms),
      })),
    },
  });
  return report;
}

/** Returns `slot` on every target to the injection before the active one. */
export function rollbackFleet(
  targets: Target[],
  slot: string,
  context: AuditContext & { now?: Date },
): Promise<FleetReport> {
  if (hasAgents(targets)) return rollbackThroughAgents(targets, slot, agentOptions(context));
  return eachSlot(
    "rollback",
    targets,
    (target) => [slotFor(target, slot)],
    (target, s) => rollbackSlot(target, s, context.now),
    context,
  );
}

/** The kill switch: every slot of every target back to the no-op filter. */
export function disableFleet(targets: Target[], context: AuditContext): Promise<FleetReport> {
  if (hasAgents(targets)) return disableThroughAgents(targets, agentOptions(context));
  return eachSlot("disable", targets, (target) => target.slots, disableSlot, context);
}

/** One pass of `graft control`: removes expired injections everywhere. */
export async function expireFleet(
  targets: Target[],
  context: AuditContext & { now?: Date },
): Promise<SlotResult[]> {
  // Agents enforce TTLs on their own timer; nothing to do from here.
  if (hasAgents(targets)) return [];
  return expireTargets(targets, context, context.now ?? new Date());
}
