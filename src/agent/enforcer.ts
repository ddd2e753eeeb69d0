import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import {
  appendAuditRecord,
  auditHead,
  checkpointPath,
  signCheckpoint,
  type AuditCheckpoint,
  type AuditEntry,
} from "../audit/log.ts";
import { wasmTypedConfig, type FailurePolicy } from "../envoy/wasm-filter.ts";
import { findFilter, listFilters, type FilterInfo } from "../filters/catalog.ts";
import { validateFilterConfig } from "../filters/config-schema.ts";
import { applySlot, slotStatus, SlotUpdateRejected } from "../inject/activate.ts";
import { readSlotFile, writeSlotFile, type SlotResource } from "../inject/ecds-file.ts";
import { modulePath, storedModuleSha256, storeModule } from "../inject/module-store.ts";
import { NOOP_FILTER_CONFIG } from "../inject/slot.ts";
import { adminOf, type Target } from "../inject/target.ts";
import type { DsseEnvelope } from "../sign/dsse.ts";
import { GraftError, GraftVerifyError } from "../sign/errors.ts";
import { selectorMatches, type TrustPolicy } from "../sign/policy.ts";
import { verifySignedPolicy } from "../sign/policy-bundle.ts";
import { sha256Hex } from "../sign/statement.ts";
import { verifyArtifact, type VerifiedArtifact } from "../sign/verify.ts";
import { readFileNoFollow, writeFileAtomic } from "../util/atomic-write.ts";
import { errorCode } from "../util/errors.ts";
import type { AgentConfig } from "./config.ts";
import { compareReleases } from "./releases.ts";
import { writeAgentState, type AgentEntry, type AgentState } from "./state.ts";

/** A refusal or failure the API answers with: a stable code, an HTTP status, a sentence. */
export class AgentError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface InjectBody {
  operationId: string;
  slot: string;
  /** The module, base64. */
  module: string;
  envelope: unknown;
  configuration: Record<string, unknown>;
  failurePolicy?: FailurePolicy;
}

export interface SlotReport {
  slot: string;
  outcome: "applied" | "unchanged" | "rolled-back" | "emptied" | "disabled" | "expired" | "repaired";
  version: string;
  injectionId?: string;
  release?: string;
  ms: number;
  /** Entries a rollback passed over because they no longer verify (revoked key, expired…). */
  skipped?: { injectionId: string; code: string }[];
  /** Kill switch: Envoy reported the no-op version through its admin API. */
  confirmed?: boolean;
  auditError?: string;
}

export interface OperationResponse {
  agent: string;
  operationId: string;
  results: SlotReport[];
  /** True when this operation id was answered before: nothing was done again. */
  replayed?: boolean;
}

/** A filter's name as its contract spells it (src/filters/filter-contract.schema.json). */
const FILTER_NAME = /^[a-z][a-z0-9-]{0,62}[a-z0-9]$/;

const NOOP = (version: string): SlotResource => ({ version, typedConfig: NOOP_FILTER_CONFIG });
const CONFIRM_TIMEOUT_MS = 3_000;

/**
 * The agent's enforcement: every change to this Envoy's slots goes through here, one at a time.
 * It verifies against the agent's own policy and labels, writes an intent record before the proxy
 * changes and a result after, restores the last good slot file when Envoy rejects an update, and,
 * on its timer, removes what no longer verifies (TTL, revocation) and repairs drift.
 */
export class Enforcer {
  private queue: Promise<unknown> = Promise.resolve();
  /** The head this process last wrote: a log cut on disk (and its checkpoint file restored) shows against it. */
  lastCheckpoint: AuditCheckpoint | undefined;
  private readonly target: Target;
  private readonly pristineDir: string;

  constructor(
    private readonly config: AgentConfig,
    private policy: TrustPolicy,
    private readonly state: AgentState,
    envoyLogs?: () => string,
  ) {
    this.target = {
      name: config.name,
      adminUrl: config.envoy.admin,
      ecdsDir: config.envoy.ecdsDir,
      moduleDir: config.moduleStore,
      labels: config.labels,
      slots: config.envoy.slots,
      logPath: config.envoy.logPath,
      logs: envoyLogs,
    };
    this.pristineDir = path.join(config.stateDir, "modules");
  }

  get policySerial(): number {
    return this.state.policySerial;
  }

  /** Runs `task` after every earlier one: the agent is the only writer, and it writes in order. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private slotState(slot: string) {
    const state = this.state.slots[slot];
    if (!state)
      throw new AgentError(
        "UNKNOWN_SLOT",
        404,
        `${this.config.name} has no slot ${slot} (its slots: ${this.config.envoy.slots.join(", ")})`,
      );
    return state;
  }

  private save(): Promise<void> {
    return writeAgentState(this.config.stateDir, this.state);
  }

  // ---- audit ------------------------------------------------------------------------------

  private async audit(entry: AuditEntry): Promise<void> {
    await appendAuditRecord(
      this.config.auditLog,
      { ...entry, targets: [this.config.name] },
      { signer: this.config.key },
    );
    const head = await auditHead(this.config.auditLog);
    const checkpoint = signCheckpoint({ log: this.config.name, ...head }, this.config.key);
    this.lastCheckpoint = checkpoint;
    await writeFileAtomic(checkpointPath(this.config.auditLog), `${JSON.stringify(checkpoint)}\n`);
  }

  /** The record before a proxy change. If it cannot be written, the change does not happen. */
  private async intent(entry: Omit<AuditEntry, "outcome">): Promise<void> {
    try {
      await this.audit({ ...entry, outcome: "intent" });
    } catch (error) {
      throw new AgentError(
        "AUDIT_UNAVAILABLE",
        503,
        `${this.config.name}: cannot write the intent record to ${this.config.auditLog} (${(error as Error).message}); nothing was changed`,
      );
    }
  }

  /** A result record; the change already happened, so a failure is reported, not thrown. */
  private async result(entry: AuditEntry): Promise<string | undefined> {
    try {
      await this.audit(entry);
      return undefined;
    } catch (error) {
      console.error(`graft agent ${this.config.name}: audit: ${(error as Error).message}`);
      return (error as Error).message;
    }
  }

  // ---- verification -----------------------------------------------------------------------

  private async pristineModule(sha256: string): Promise<Uint8Array> {
    const bytes = await readFileNoFollow(modulePath(this.pristineDir, sha256)).catch(() => undefined);
    if (!bytes || sha256Hex(bytes) !== sha256)
      throw new GraftVerifyError(
        "MODULE_TAMPERED",
        `the agent's copy of module sha256:${sha256} is missing or changed (${modulePath(this.pristineDir, sha256)})`,
      );
    return bytes;
  }

  /**
   * Everything an artifact must satisfy on this agent, now: signatures, approvals, key scopes, TTL
   * and revocation under the agent's policy and labels, the statement's own slot and target scope,
   * a known filter and a configuration its schema accepts.
   */
  private verifyArtifactHere(
    input: { envelope: unknown; wasmBytes: Uint8Array; configuration: Record<string, unknown> },
    slot: string,
    now: Date,
  ): VerifiedArtifact {
    const verified = verifyArtifact({
      ...input,
      policy: this.policy,
      targetLabels: this.config.labels,
      now,
    });
    const { predicate } = verified;
    if (predicate.slots && !predicate.slots.includes(slot))
      throw new GraftVerifyError(
        "OUT_OF_SCOPE",
        `the statement approves slots ${predicate.slots.join(", ")}, not ${slot}`,
      );
    if (predicate.targets) {
      const selector = Object.fromEntries(Object.entries(predicate.targets).map(([k, v]) => [k, [v]]));
      if (!selectorMatches(selector, this.config.labels))
        throw new GraftVerifyError(
          "OUT_OF_SCOPE",
          `the statement approves targets labelled ${JSON.stringify(predicate.targets)}; ${this.config.name} is ${JSON.stringify(this.config.labels)}`,
        );
    }
    const filter = this.filterNamed(predicate.filter);
    try {
      validateFilterConfig(
        filter,
        { ...input.configuration, injection_id: predicate.injectionId },
        "configuration",
      );
    } catch (error) {
      throw new AgentError("INVALID_CONFIGURATION", 422, (error as Error).message);
    }
    return verified;
  }

  private async verifyEntry(entry: AgentEntry, slot: string, now: Date): Promise<VerifiedArtifact> {
    const verified = this.verifyArtifactHere(
      {
        envelope: entry.envelope,
        wasmBytes: await this.pristineModule(entry.moduleSha256),
        configuration: entry.configuration,
      },
      slot,
      now,
    );
    if (verified.predicate.injectionId !== entry.injectionId || verified.moduleSha256 !== entry.moduleSha256)
      throw new GraftVerifyError(
        "PREDICATE_TAMPERED",
        `the agent's state names ${entry.injectionId} but its envelope approves ${verified.predicate.injectionId}`,
      );
    return verified;
  }

  /**
   * The filter a signed statement names: one of the configuration's own filter folders (`filters:`),
   * else one of graft's filters/. Only ever by name: a signed name is never read as a path.
   */
  private filterNamed(name: string): FilterInfo {
    const own = this.config.filters.find((filter) => filter.name === name);
    if (own) return own;
    if (FILTER_NAME.test(name)) {
      try {
        return findFilter(name);
      } catch (error) {
        // Not one of filters/ either: refused below. A contract there that cannot be read is not that.
        if (errorCode(error) !== "UNKNOWN_FILTER")
          throw new AgentError(errorCode(error) ?? "FILTER_UNAVAILABLE", 500, (error as Error).message);
      }
    }
    const listed = this.config.filters.map((filter) => filter.name);
    throw new AgentError(
      "UNKNOWN_FILTER",
      422,
      `agent ${this.config.name} has no filter named ${JSON.stringify(name)}: its configuration (${this.config.source}) lists ${listed.length > 0 ? `filters ${listed.join(", ")}` : "no filter folders"}, and graft's filters/ has ${
        listFilters()
          .map((filter) => filter.name)
          .join(", ") || "none"
      }; fix: add the filter's folder to filters: in ${this.config.source} and restart the agent`,
    );
  }

  // ---- activation -------------------------------------------------------------------------

  /** The slot content for an entry, built from the verified entry (never from stored YAML). */
  private async resourceFor(slot: string, entry: AgentEntry, version: string): Promise<SlotResource> {
    const stored = await storeModule(
      this.config.moduleStore,
      await this.pristineModule(entry.moduleSha256),
      this.config.moduleStoreMode,
    );
    return {
      version,
      typedConfig: wasmTypedConfig({
        name: slot,
        rootId: this.filterNamed(entry.filter).rootId,
        vmId: `${slot}-${entry.moduleSha256.slice(0, 12)}`,
        wasmPath: stored.path,
        configuration: { ...entry.configuration, injection_id: entry.injectionId },
        failurePolicy: entry.failurePolicy,
        // A fresh version per write: Envoy skips a config identical to one it saw, refused or not.
        env: { GRAFT_SLOT_VERSION: version },
      }),
    };
  }

  /**
   * Makes `entry` (or the empty slot) active and waits for Envoy to confirm. When Envoy rejects it
   * (or never confirms), the slot file goes back to the last good content before the error
   * propagates: a rejected config left in the file would be what Envoy loads after a restart.
   */
  private async activate(slot: string, entry: AgentEntry | undefined, label?: string) {
    const state = this.slotState(slot);
    const previous = state.applied;
    state.seq += 1;
    const version = `${label ?? entry?.injectionId ?? "empty"}#${state.seq}`;
    const resource = entry ? await this.resourceFor(slot, entry, version) : NOOP(version);
    try {
      const { ms } = await applySlot(this.target, slot, resource);
      state.applied = resource;
      await this.save();
      return { version, ms };
    } catch (error) {
      await this.restore(slot, previous);
      throw error;
    }
  }

  private async restore(slot: string, previous: SlotResource | null): Promise<void> {
    const state = this.slotState(slot);
    state.seq += 1;
    const version = `${previous?.version.replace(/#\d+$/, "") ?? "empty"}#${state.seq}`;
    let resource = NOOP(version);
    if (previous && !isDeepStrictEqual(previous.typedConfig, NOOP_FILTER_CONFIG)) {
      const typedConfig = structuredClone(previous.typedConfig) as {
        config: { vm_config: { environment_variables?: { key_values: Record<string, string> } } };
      };
      typedConfig.config.vm_config.environment_variables = { key_values: { GRAFT_SLOT_VERSION: version } };
      resource = { version, typedConfig };
    }
    try {
      await applySlot(this.target, slot, resource, 5_000);
    } catch {
      // Envoy is not answering: the file must still hold the last good content for its next start.
      await writeSlotFile(this.config.envoy.ecdsDir, slot, resource);
    }
    state.applied = resource;
    await this.save();
  }

  private async envoyServes(slot: string, version: string | undefined): Promise<boolean> {
    if (!version) return false;
    return (await slotStatus(adminOf(this.target), slot).catch(() => undefined))?.version === version;
  }

  // ---- operations -------------------------------------------------------------------------

  /** Answers a repeated operation id from memory: a re-run after a crash converges, never applies twice. */
  private async operation(
    operationId: unknown,
    action: string,
    task: () => Promise<SlotReport[]>,
  ): Promise<OperationResponse> {
    if (typeof operationId !== "string" || !/^[A-Za-z0-9:._-]{8,128}$/.test(operationId))
      throw new AgentError(
        "INVALID_REQUEST",
        400,
        "operationId must be 8-128 characters of A-Z a-z 0-9 : . _ -",
      );
    return this.serial(async () => {
      const seen = this.state.operations[operationId];
      if (seen) {
        if (seen.action !== action)
          throw new AgentError(
            "OPERATION_ID_REUSED",
            409,
            `operation ${operationId} was a ${seen.action}, not a ${action}; use a new operation id`,
          );
        return { ...(seen.response as OperationResponse), replayed: true };
      }
      const results = await task();
      const response: OperationResponse = { agent: this.config.name, operationId, results };
      this.state.operations[operationId] = { action, at: new Date().toISOString(), status: 200, response };
      await this.save();
      return response;
    });
  }

  async inject(body: InjectBody, caller: string, now = new Date()): Promise<OperationResponse> {
    return this.operation(body.operationId, "inject", async () => {
      const slot = body.slot;
      const state = this.slotState(slot);
      if (typeof body.module !== "string")
        throw new AgentError("INVALID_REQUEST", 400, "module must be base64");
      const module = Buffer.from(body.module, "base64");
      const configuration = body.configuration;
      if (typeof configuration !== "object" || configuration === null || Array.isArray(configuration))
        throw new AgentError("INVALID_REQUEST", 400, "configuration must be a JSON object");
      const failurePolicy = body.failurePolicy ?? "FAIL_CLOSED";
      if (!["FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"].includes(failurePolicy))
        throw new AgentError(
          "INVALID_REQUEST",
          400,
          "failurePolicy must be FAIL_CLOSED, FAIL_OPEN or FAIL_RELOAD",
        );
      const details: Record<string, unknown> = { operationId: body.operationId, slot };
      let verified: VerifiedArtifact;
      try {
        verified = this.verifyArtifactHere(
          { envelope: body.envelope, wasmBytes: module, configuration },
          slot,
          now,
        );
        this.refuseDowngrade(state.stack.at(-1), verified);
      } catch (error) {
        const code = (error as GraftError).code ?? "REFUSED";
        await this.result({
          action: "inject",
          outcome: "refused",
          actor: caller,
          artifact: `sha256:${sha256Hex(module)}`,
          reason: `${code}: ${(error as Error).message}`,
          details,
        });
        if (error instanceof AgentError) throw error;
        throw new AgentError(code, 403, `${this.config.name}: ${(error as Error).message}`);
      }
      const { predicate } = verified;
      Object.assign(details, {
        filter: predicate.filter,
        release: predicate.version,
        injectionId: predicate.injectionId,
        expires: predicate.expires,
        signers: verified.signers.map((s) => s.keyId),
        policySerial: this.policy.serial,
      });
      const top = state.stack.at(-1);
      if (
        top &&
        top.injectionId === predicate.injectionId &&
        top.moduleSha256 === verified.moduleSha256 &&
        top.configSha256 === predicate.configSha256 &&
        top.failurePolicy === failurePolicy &&
        (await this.envoyServes(slot, state.applied?.version))
      ) {
        return [
          {
            slot,
            outcome: "unchanged",
            version: state.applied!.version,
            injectionId: top.injectionId,
            release: top.release,
            ms: 0,
          },
        ];
      }
      const artifact = `sha256:${verified.moduleSha256}`;
      await this.intent({ action: "inject", actor: caller, artifact, details });
      await storeModule(this.pristineDir, module, 0o700);
      const entry: AgentEntry = {
        injectionId: predicate.injectionId,
        filter: predicate.filter,
        release: predicate.version,
        moduleSha256: verified.moduleSha256,
        configSha256: predicate.configSha256,
        expires: predicate.expires,
        envelope: body.envelope as DsseEnvelope,
        configuration,
        failurePolicy,
        appliedAt: now.toISOString(),
      };
      let activated;
      try {
        activated = await this.activate(slot, entry);
      } catch (error) {
        const rejected = error instanceof SlotUpdateRejected;
        await this.result({
          action: "inject",
          outcome: "failed",
          actor: caller,
          artifact,
          reason: (error as Error).message,
          details: { ...details, restored: state.applied?.version ?? null },
        });
        throw new AgentError(
          rejected ? "ENVOY_REJECTED" : "ENVOY_UNCONFIRMED",
          rejected ? 409 : 504,
          `${(error as Error).message}; the slot file was restored to ${state.applied?.version ?? "empty"}`,
        );
      }
      state.stack.push(entry);
      await this.save();
      const auditError = await this.result({
        action: "inject",
        outcome: "ok",
        actor: caller,
        artifact,
        details: { ...details, version: activated.version, ms: Math.round(activated.ms) },
      });
      return [
        {
          slot,
          outcome: "applied",
          version: activated.version,
          injectionId: entry.injectionId,
          release: entry.release,
          ms: activated.ms,
          ...(auditError ? { auditError } : {}),
        },
      ];
    });
  }

  /** A release older than the active one of the same filter needs a signed downgradeFrom for it. */
  private refuseDowngrade(active: AgentEntry | undefined, verified: VerifiedArtifact): void {
    const { predicate } = verified;
    if (!active || active.filter !== predicate.filter) return;
    const order = compareReleases(predicate.version, active.release);
    if (order === null || order >= 0) return;
    if (predicate.downgradeFrom === active.release) return;
    throw new GraftVerifyError(
      "DOWNGRADE_REFUSED",
      `${predicate.filter} ${predicate.version} is older than the active ${active.release}; a downgrade needs a statement signed with downgradeFrom: ${active.release} (graft sign --downgrade-from ${active.release})`,
    );
  }

  async rollback(
    body: { operationId: string; slot: string },
    caller: string,
    now = new Date(),
  ): Promise<OperationResponse> {
    return this.operation(body.operationId, "rollback", async () => {
      const slot = body.slot;
      const state = this.slotState(slot);
      const details: Record<string, unknown> = { operationId: body.operationId, slot };
      const original = [...state.stack];
      const removed = state.stack.pop();
      if (!removed) return [{ slot, outcome: "unchanged", version: state.applied?.version ?? "", ms: 0 }];
      // Nothing is re-activated on the strength of the state file: each candidate verifies again now.
      const skipped: { injectionId: string; code: string }[] = [];
      while (state.stack.length > 0) {
        const candidate = state.stack.at(-1)!;
        try {
          await this.verifyEntry(candidate, slot, now);
          break;
        } catch (error) {
          skipped.push({ injectionId: candidate.injectionId, code: (error as GraftError).code ?? "REFUSED" });
          state.stack.pop();
        }
      }
      const next = state.stack.at(-1);
      Object.assign(details, { from: removed.injectionId, to: next?.injectionId ?? null, skipped });
      try {
        await this.intent({ action: "rollback", actor: caller, details });
      } catch (error) {
        state.stack = original;
        throw error;
      }
      let activated;
      try {
        activated = await this.activate(slot, next);
      } catch (error) {
        state.stack = original;
        await this.save();
        await this.result({
          action: "rollback",
          outcome: "failed",
          actor: caller,
          reason: (error as Error).message,
          details,
        });
        throw new AgentError("ENVOY_REJECTED", 409, (error as Error).message);
      }
      const auditError = await this.result({
        action: "rollback",
        outcome: "ok",
        actor: caller,
        details: { ...details, version: activated.version },
      });
      return [
        {
          slot,
          outcome: next ? "rolled-back" : "emptied",
          version: activated.version,
          injectionId: next?.injectionId,
          release: next?.release,
          ms: activated.ms,
          skipped,
          ...(auditError ? { auditError } : {}),
        },
      ];
    });
  }

  /**
   * The kill switch: the no-op filter into every slot file first (no admin call needed, so it works
   * while the admin port is down), then confirmation through the admin API. It goes ahead even when
   * the intent record cannot be written: making the proxy safe must not wait for the audit disk.
   */
  async disable(body: { operationId: string }, caller: string): Promise<OperationResponse> {
    return this.operation(body.operationId, "disable", async () => {
      let auditError: string | undefined;
      try {
        await this.intent({ action: "disable", actor: caller, details: { operationId: body.operationId } });
      } catch (error) {
        auditError = (error as Error).message;
      }
      const started = performance.now();
      const written: { slot: string; version: string }[] = [];
      for (const slot of this.config.envoy.slots) {
        const state = this.slotState(slot);
        state.seq += 1;
        const resource = NOOP(`disabled#${state.seq}`);
        await writeSlotFile(this.config.envoy.ecdsDir, slot, resource);
        state.stack = [];
        state.applied = resource;
        written.push({ slot, version: resource.version });
      }
      await this.save();
      const results: SlotReport[] = [];
      const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
      for (const { slot, version } of written) {
        let confirmed = false;
        while (!confirmed && Date.now() < deadline) {
          confirmed = await this.envoyServes(slot, version);
          if (!confirmed) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        results.push({ slot, outcome: "disabled", version, ms: performance.now() - started, confirmed });
      }
      const resultError = await this.result({
        action: "disable",
        outcome: results.every((r) => r.confirmed) ? "ok" : "failed",
        actor: caller,
        reason: results.every((r) => r.confirmed)
          ? null
          : "Envoy did not confirm the no-op slots through its admin API (the files are written)",
        details: {
          operationId: body.operationId,
          results: results.map(({ slot, version, confirmed }) => ({ slot, version, confirmed })),
        },
      });
      const error = auditError ?? resultError;
      return error ? results.map((r) => ({ ...r, auditError: error })) : results;
    });
  }

  /** Installs a newer signed policy; an older serial is refused, so a revoked key stays revoked. */
  async installPolicy(
    body: { policy: unknown },
    caller: string,
  ): Promise<{ agent: string; serial: number; outcome: string }> {
    return this.serial(async () => {
      let verified;
      try {
        verified = verifySignedPolicy(body.policy, this.config.trustRoot, {
          source: `policy from ${caller}`,
          minSerial: this.state.policySerial,
        });
      } catch (error) {
        await this.result({
          action: "policy",
          outcome: "refused",
          actor: caller,
          reason: `${(error as GraftError).code}: ${(error as Error).message}`,
        });
        throw new AgentError((error as GraftError).code ?? "POLICY_INVALID", 403, (error as Error).message);
      }
      const stored = path.join(this.config.stateDir, "policy.dsse.json");
      if (verified.policy.serial === this.state.policySerial) {
        const current = await readFileNoFollow(stored).then(
          (b) => b.toString("utf8"),
          () => "",
        );
        if (current && current !== `${JSON.stringify(body.policy)}\n`) {
          const same =
            verifySignedPolicy(JSON.parse(current), this.config.trustRoot, { source: stored }).text ===
            verified.text;
          if (!same)
            throw new AgentError(
              "POLICY_ROLLBACK",
              403,
              `serial ${verified.policy.serial} is already in use by another policy; sign the change as serial ${verified.policy.serial + 1}`,
            );
        }
        return { agent: this.config.name, serial: verified.policy.serial, outcome: "unchanged" };
      }
      await writeFileAtomic(stored, `${JSON.stringify(body.policy)}\n`, { mode: 0o600 });
      this.policy = verified.policy;
      this.state.policySerial = verified.policy.serial;
      await this.save();
      await this.result({
        action: "policy",
        outcome: "ok",
        actor: caller,
        details: { serial: verified.policy.serial, rootSigners: verified.signers },
      });
      return { agent: this.config.name, serial: verified.policy.serial, outcome: "installed" };
    }).then(async (answer) => {
      // What the new policy no longer allows leaves the proxy now, not at the next tick.
      await this.enforce();
      return answer;
    });
  }

  // ---- over time: TTL, re-verification, drift ------------------------------------------------

  /** One pass of the agent's timer over every slot. Returns what it changed. */
  async enforce(now = new Date()): Promise<SlotReport[]> {
    return this.serial(async () => {
      const reports: SlotReport[] = [];
      for (const slot of this.config.envoy.slots) {
        try {
          const report = (await this.removeInvalid(slot, now)) ?? (await this.repairDrift(slot));
          if (report) reports.push(report);
        } catch (error) {
          console.error(`graft agent ${this.config.name}: ${slot}: ${(error as Error).message}`);
        }
      }
      return reports;
    });
  }

  /** Drops entries that no longer verify (TTL passed, key revoked or out of its window). */
  private async removeInvalid(slot: string, now: Date): Promise<SlotReport | undefined> {
    const state = this.slotState(slot);
    const before = state.stack.at(-1);
    const dropped: { injectionId: string; code: string }[] = [];
    const kept: AgentEntry[] = [];
    for (const entry of state.stack) {
      try {
        await this.verifyEntry(entry, slot, now);
        kept.push(entry);
      } catch (error) {
        dropped.push({ injectionId: entry.injectionId, code: (error as GraftError).code ?? "REFUSED" });
      }
    }
    if (dropped.length === 0) return undefined;
    state.stack = kept;
    const top = kept.at(-1);
    const action = dropped.every((d) => d.code === "EXPIRED") ? "expire" : "reverify-removed";
    const details = { slot, dropped, nowActive: top?.injectionId ?? null };
    if (top === before) {
      await this.save();
      await this.result({ action, outcome: "ok", actor: `agent:${this.config.name}`, details });
      return undefined;
    }
    const auditError = await this.intent({ action, actor: `agent:${this.config.name}`, details }).then(
      () => undefined,
      (error: Error) => error.message, // removing what is no longer approved goes ahead regardless
    );
    const { version, ms } = await this.activate(slot, top);
    await this.result({
      action,
      outcome: "ok",
      actor: `agent:${this.config.name}`,
      details: { ...details, version },
    });
    return {
      slot,
      outcome: "expired",
      version,
      injectionId: top?.injectionId,
      ms,
      ...(auditError ? { auditError } : {}),
    };
  }

  /** What differs between the last verified state and what is on disk or served. */
  async findDrift(slot: string): Promise<string[]> {
    const state = this.slotState(slot);
    const drift: string[] = [];
    const file = await readSlotFile(this.config.envoy.ecdsDir, slot);
    if (state.applied === null) {
      // First start: an empty slot file is adopted as it is; anything else was not verified here.
      if (state.stack.length === 0 && file && isDeepStrictEqual(file.typedConfig, NOOP_FILTER_CONFIG)) {
        state.applied = file;
        await this.save();
        return [];
      }
      return [`the slot file holds ${file?.version ?? "nothing"}, which this agent never verified`];
    }
    if (!file || !isDeepStrictEqual(file, state.applied))
      drift.push(
        `the slot file holds ${file?.version ?? "nothing readable"}, the agent wrote ${state.applied.version}`,
      );
    const top = state.stack.at(-1);
    if (top) {
      const stored = await storedModuleSha256(this.config.moduleStore, top.moduleSha256);
      if (stored !== top.moduleSha256)
        drift.push(
          `the module store file for sha256:${top.moduleSha256} ${stored ? `now hashes to sha256:${stored}` : "is missing"}`,
        );
    }
    const status = await slotStatus(adminOf(this.target), slot).catch(() => undefined);
    if (status && status.version !== state.applied.version)
      drift.push(
        `Envoy serves version ${status.version ?? "none"}, the agent applied ${state.applied.version}`,
      );
    return drift;
  }

  private async repairDrift(slot: string): Promise<SlotReport | undefined> {
    const drift = await this.findDrift(slot);
    if (drift.length === 0) return undefined;
    const top = this.slotState(slot).stack.at(-1);
    const actor = `agent:${this.config.name}`;
    const details = { slot, drift, restoring: top?.injectionId ?? null };
    const auditError = await this.intent({ action: "drift-repair", actor, details }).then(
      () => undefined,
      (error: Error) => error.message,
    );
    try {
      const { version, ms } = await this.activate(slot, top);
      await this.result({ action: "drift-repair", outcome: "ok", actor, details: { ...details, version } });
      return {
        slot,
        outcome: "repaired",
        version,
        injectionId: top?.injectionId,
        ms,
        ...(auditError ? { auditError } : {}),
      };
    } catch (error) {
      await this.result({
        action: "drift-repair",
        outcome: "failed",
        actor,
        reason: (error as Error).message,
        details,
      });
      throw error;
    }
  }

  status(): Record<string, unknown> {
    return {
      agent: this.config.name,
      labels: this.config.labels,
      policySerial: this.state.policySerial,
      slots: Object.fromEntries(
        this.config.envoy.slots.map((slot) => {
          const state = this.slotState(slot);
          const top = state.stack.at(-1);
          return [
            slot,
            {
              version: state.applied?.version ?? null,
              depth: state.stack.length,
              active: top
                ? {
                    injectionId: top.injectionId,
                    filter: top.filter,
                    release: top.release,
                    moduleSha256: top.moduleSha256,
                    expires: top.expires,
                  }
                : null,
            },
          ];
        }),
      ),
    };
  }
}
