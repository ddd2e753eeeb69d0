import { randomUUID } from "node:crypto";
import { AgentCallError, AgentClient } from "../agent/client.ts";
import type { OperationResponse } from "../agent/enforcer.ts";
import type { FailurePolicy } from "../envoy/wasm-filter.ts";
import type { SigningKey } from "../sign/keys.ts";
import type { SlotResult } from "./slot-ops.ts";
import type { AgentEndpoint, Target } from "./target.ts";

/**
 * Fleet operations through graft agents. The control plane only asks: each agent verifies against
 * its own policy and labels, applies, audits and signs its answer. Every operation carries an id;
 * an agent answers a repeated id from memory, so re-running a command after a crash (with the id it
 * printed) converges and never applies anything twice. Results are per agent.
 */
export interface AgentFleetOptions {
  /** The control-plane key the agents know as one of their callers. */
  caller: SigningKey;
  /** Default: a fresh id. Pass the id of an interrupted run to resume it. */
  operationId?: string;
  /** When one agent fails, roll back the agents this operation changed. */
  atomic?: boolean;
  /** Called as each agent answers (for printing progress as it happens). */
  onResult?: (result: SlotResult) => void;
}

export interface AgentFleetReport {
  action: string;
  operationId: string;
  results: SlotResult[];
  failures: { target: string; slot: string; error: string; code?: string }[];
  expired: SlotResult[];
  /** Targets --atomic rolled back after a failure. */
  reverted: string[];
}

export function hasAgents(targets: Target[]): boolean {
  if (targets.every((target) => target.agent)) return true;
  if (targets.some((target) => target.agent))
    throw new Error(
      `some targets have an agent and some do not (${targets
        .filter((t) => !t.agent)
        .map((t) => t.name)
        .join(", ")} have none); act on them separately`,
    );
  return false;
}

export function newOperationId(action: string): string {
  return `${action}-${randomUUID()}`;
}

function clientFor(target: Target, caller: SigningKey): AgentClient {
  return new AgentClient(target.name, target.agent as AgentEndpoint, caller);
}

async function eachAgent(
  action: string,
  targets: Target[],
  options: AgentFleetOptions,
  request: (client: AgentClient, operationId: string) => Promise<OperationResponse>,
  slotOf: (target: Target) => string,
): Promise<AgentFleetReport> {
  const operationId = options.operationId ?? newOperationId(action);
  const report: AgentFleetReport = {
    action,
    operationId,
    results: [],
    failures: [],
    expired: [],
    reverted: [],
  };
  for (const target of targets) {
    try {
      const answer = await request(clientFor(target, options.caller), operationId);
      for (const slot of answer.results) {
        const result = {
          target: target.name,
          slot: slot.slot,
          outcome: (slot.outcome === "repaired" ? "applied" : slot.outcome) as SlotResult["outcome"],
          version: slot.version,
          injectionId: slot.injectionId,
          ms: slot.ms,
          ...(answer.replayed ? { replayed: true } : {}),
          ...(slot.confirmed !== undefined ? { confirmed: slot.confirmed } : {}),
          ...(slot.skipped?.length ? { skipped: slot.skipped } : {}),
        };
        report.results.push(result);
        options.onResult?.(result);
      }
    } catch (error) {
      report.failures.push({
        target: target.name,
        slot: slotOf(target),
        error: (error as Error).message,
        code: error instanceof AgentCallError ? error.code : undefined,
      });
    }
  }
  return report;
}

export interface AgentInjectRequest {
  targets: Target[];
  slot: string;
  module: Uint8Array;
  envelope: unknown;
  configuration: Record<string, unknown>;
  failurePolicy?: FailurePolicy;
}

export async function injectThroughAgents(
  request: AgentInjectRequest,
  options: AgentFleetOptions,
): Promise<AgentFleetReport> {
  const module = Buffer.from(request.module).toString("base64");
  const report = await eachAgent(
    "inject",
    request.targets,
    options,
    (client, operationId) =>
      client.call<OperationResponse>("POST", "/v1/inject", {
        operationId,
        slot: request.slot,
        module,
        envelope: request.envelope,
        configuration: request.configuration,
        failurePolicy: request.failurePolicy,
      }),
    () => request.slot,
  );
  if (options.atomic && report.failures.length > 0) {
    // Only agents this operation changed go back; "unchanged" ones already served it before.
    const applied = request.targets.filter((target) =>
      report.results.some((r) => r.target === target.name && r.outcome === "applied"),
    );
    const revert = await rollbackThroughAgents(applied, request.slot, {
      ...options,
      atomic: false,
      onResult: undefined,
      operationId: `${report.operationId}.revert`,
    });
    report.reverted = revert.results.map((r) => r.target);
    report.failures.push(...revert.failures.map((f) => ({ ...f, error: `revert: ${f.error}` })));
  }
  return report;
}

export function rollbackThroughAgents(
  targets: Target[],
  slot: string,
  options: AgentFleetOptions,
): Promise<AgentFleetReport> {
  return eachAgent(
    "rollback",
    targets,
    options,
    (client, operationId) => client.call<OperationResponse>("POST", "/v1/rollback", { operationId, slot }),
    () => slot,
  );
}

/** The kill switch on every agent: no-op slots first, confirmed through each Envoy's admin API after. */
export function disableThroughAgents(
  targets: Target[],
  options: AgentFleetOptions,
): Promise<AgentFleetReport> {
  return eachAgent(
    "disable",
    targets,
    options,
    (client, operationId) => client.call<OperationResponse>("POST", "/v1/disable", { operationId }),
    () => "*",
  );
}

/** Sends a signed trust policy to every agent; each refuses an older serial. */
export async function installPolicyThroughAgents(
  targets: Target[],
  policy: unknown,
  caller: SigningKey,
): Promise<{ target: string; serial?: number; outcome?: string; error?: string }[]> {
  const answers = [];
  for (const target of targets) {
    try {
      const answer = await clientFor(target, caller).call<{ serial: number; outcome: string }>(
        "POST",
        "/v1/policy",
        { policy },
      );
      answers.push({ target: target.name, serial: answer.serial, outcome: answer.outcome });
    } catch (error) {
      answers.push({ target: target.name, error: (error as Error).message });
    }
  }
  return answers;
}

export async function agentStatus(target: Target, caller: SigningKey): Promise<Record<string, unknown>> {
  return clientFor(target, caller).call("GET", "/v1/status");
}

export async function fetchAgentAudit(
  target: Target,
  caller: SigningKey,
): Promise<{ agent: string; log: string; checkpoint: unknown }> {
  return clientFor(target, caller).call("GET", "/v1/audit");
}
