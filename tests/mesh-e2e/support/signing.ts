// SPDX-License-Identifier: Apache-2.0
/**
 * The approvals of the admission check, made with graft's own signing functions: one approver's key,
 * a trust policy that trusts it, and a signed envelope for a module and configuration.
 */
import yaml from "js-yaml";
import { generateKeyPair, signingKeyFromPem, type KeyPairPem } from "../../../src/sign/keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "../../../src/sign/policy.ts";
import { signEnvelope } from "../../../src/sign/sign.ts";
import { createStatement } from "../../../src/sign/statement.ts";

export interface Approver {
  name: string;
  pair: KeyPairPem;
}

export function newApprover(name: string): Approver {
  return { name, pair: generateKeyPair() };
}

export function trustPolicy(trusted: Approver[]): TrustPolicy {
  const text = yaml.dump({
    version: 1,
    maxTtl: "24h",
    keys: trusted.map((a) => ({
      name: a.name,
      id: a.pair.keyId,
      publicKey: a.pair.publicKeyPem,
      filters: ["*"],
    })),
  });
  return parseTrustPolicy(text, { source: "mesh-e2e trust policy" });
}

/** A DSSE envelope (JSON text) approving `module` with `configuration` for `filter`, signed by `approver`. */
export function signedEnvelope(
  approver: Approver,
  input: { module: Uint8Array; filter: string; injectionId: string; configuration: unknown },
): string {
  const statement = createStatement({
    wasmBytes: input.module,
    moduleName: `${input.filter}.wasm`,
    filter: input.filter,
    version: "1.0.0",
    injectionId: input.injectionId,
    author: approver.name,
    reason: "mesh end-to-end suite",
    configuration: input.configuration,
    ttl: "1h",
  });
  return JSON.stringify(signEnvelope(statement, signingKeyFromPem(approver.pair.privateKeyPem)));
}
