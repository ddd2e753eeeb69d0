// How a rollout changes what the canary and the rest of the fleet run. The judge, the looks, the
// report and the audit records are the rollout's (rollout.ts); an engine only moves releases:
// graft's own slots, written directly or through agents (fleet-engine.ts), or an Istio WasmPlugin
// pair patched through the Kubernetes API (../mesh/istio/rollout-engine.ts).
import type { FleetReport } from "../inject/fleet.ts";

/** The outcome of putting the release on the canary. */
export interface CanaryInjection {
  /** What was done where (absent when the engine failed before it could say). */
  action?: FleetReport;
  /** Set when the canary is not fully in: the rollout ends as ERROR and rollback() removes what went in. */
  error?: string;
}

export interface CanaryEngine {
  /** What moves releases, as the audit log's rollout-start record says: "files", "agents" or "istio". */
  readonly through: "files" | "agents" | "istio";
  /** The same for people, e.g. "slot graft-slot-0 through graft agents". */
  readonly description: string;
  /** Through agents: the rollout's operation id (a re-run with it resumes an interrupted rollout). */
  readonly operationId?: string;
  /** Puts the release on the canary arm; throws only when it cannot tell what happened. */
  injectCanary(): Promise<CanaryInjection>;
  /** Whether something of this rollout may be in the canary, so ending without PROMOTE must roll back. */
  canaryTouched(): boolean;
  /** Whether the canary step completed, so PROMOTE may give the release to the rest. */
  canaryDone(): boolean;
  /** Gives the release to the rest of the fleet (the canary keeps it). */
  promote(): Promise<FleetReport>;
  /** Takes the rollout's release out of the canary, restoring what it ran before. */
  rollback(): Promise<FleetReport>;
}
