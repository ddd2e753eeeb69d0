// A canary setup for rollout tests that depend on no filter of this repository: two real Envoys
// (baseline and canary) with a slot, a trust policy with one operator key, and releases of the
// sample filter (the one `graft new` writes) signed by that key, its stable release in both slots.
import { readFile } from "node:fs/promises";
import path from "node:path";
import yaml from "js-yaml";
import type { FilterInfo } from "../../src/filters/catalog.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import type { Target } from "../../src/inject/target.ts";
import type { RolloutArtifact } from "../../src/rollout/rollout.ts";
import { generateKeyPair, saveKeyPair, signingKeyFromPem } from "../../src/sign/keys.ts";
import { parseTrustPolicy } from "../../src/sign/policy.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { sampleFilter } from "./sample-filter.ts";
import { startSlotFleet, type SlotFleet } from "./slot-fixture.ts";

export const SLOT = "graft-slot-0";

export interface SampleCanary {
  fleet: SlotFleet;
  filter: FilterInfo;
  audit: { auditLog: string; actor: string };
  /** Both Envoys' targets (labels role=baseline and role=canary). */
  targets(): Target[];
  canaryTargets(): Target[];
  /** A signed release of the sample filter refusing `blocked` path prefixes. */
  release(injectionId: string, blocked: string[]): Promise<RolloutArtifact>;
  stop(): Promise<void>;
}

export async function startSampleCanary(actor: string): Promise<SampleCanary> {
  const filter = await sampleFilter();
  const fleet = await startSlotFleet(2, {
    concurrency: 1,
    labels: (i) => ({ role: i === 0 ? "baseline" : "canary" }),
  });
  const pair = generateKeyPair();
  const saved = await saveKeyPair(pair, path.join(fleet.workDir, "keys"), "op");
  const policy = parseTrustPolicy(
    yaml.dump({
      version: 1,
      maxTtl: "2h",
      keys: [{ name: "op", publicKeyPath: saved.publicKeyPath, filters: ["*"] }],
    }),
    { source: "test policy", baseDir: fleet.workDir },
  );
  const audit = { auditLog: path.join(fleet.workDir, "audit.log"), actor };
  const targets = () => fleet.envoys.map((e) => e.target);
  const release = async (injectionId: string, blocked: string[]): Promise<RolloutArtifact> => {
    const module = await readFile(filter.releaseWasm);
    const configuration = { blocked_prefixes: blocked };
    const statement = createStatement({
      wasmBytes: module,
      moduleName: `${filter.name}.wasm`,
      filter: filter.name,
      version: "1.0.0",
      injectionId,
      author: "t",
      reason: "t",
      configuration,
      ttl: "1h",
    });
    return {
      module,
      envelope: signEnvelope(statement, signingKeyFromPem(pair.privateKeyPem)),
      configuration,
      policy,
      filter,
    };
  };
  await injectFleet({ ...audit, ...(await release("stable", ["/never"])), targets: targets(), slot: SLOT });
  return {
    fleet,
    filter,
    audit,
    targets,
    canaryTargets: () => targets().filter((t) => t.labels.role === "canary"),
    release,
    stop: () => fleet.stop(),
  };
}
