// SPDX-License-Identifier: Apache-2.0
// Shared material for the mesh tests: the real header-rewrite module, approvers, signed envelopes and
// trust policies (built through src/sign's exported functions, never by hand).
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import type { DsseEnvelope } from "../../src/sign/dsse.ts";
import { generateKeyPair, signingKeyFromPem, type KeyPairPem, type SigningKey } from "../../src/sign/keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "../../src/sign/policy.ts";
import { addSignature, signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { buildDir, projectRoot } from "../../src/util/paths.ts";

export const FILTER = "header-rewrite";
export const MODULE_PATH = path.join(buildDir, `${FILTER}.wasm`);

/** The built header-rewrite module, or a stand-in with a Wasm header when the build has not run. */
export const wasm: Buffer = existsSync(MODULE_PATH)
  ? readFileSync(MODULE_PATH)
  : Buffer.concat([Buffer.from("\0asm\x01\0\0\0", "binary"), Buffer.from("graft-mesh-test-module")]);

export function exampleConfig(injectionId = "hr-canary-1"): Record<string, unknown> {
  const file = path.join(projectRoot, "filters", FILTER, "configs", "good", "minimal.json");
  const base = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  return { ...base, injection_id: injectionId };
}

export interface Approver {
  name: string;
  pair: KeyPairPem;
  key: SigningKey;
}

export function approver(name: string): Approver {
  const pair = generateKeyPair();
  return { name, pair, key: signingKeyFromPem(pair.privateKeyPem) };
}

export const alice = approver("alice");
export const bob = approver("bob");
export const mallory = approver("mallory");

export function signed(
  signers: Approver[],
  configuration: unknown,
  options: { module?: Uint8Array; ttl?: string; now?: Date; injectionId?: string; filter?: string } = {},
): DsseEnvelope {
  const statement = createStatement({
    wasmBytes: options.module ?? wasm,
    moduleName: `${FILTER}.wasm`,
    filter: options.filter ?? FILTER,
    version: "1.0.0",
    injectionId: options.injectionId ?? "hr-canary-1",
    author: signers[0]!.name,
    reason: "mesh test",
    configuration,
    ttl: options.ttl ?? "2h",
    ...(options.now ? { now: options.now } : {}),
  });
  let envelope = signEnvelope(statement, signers[0]!.key);
  for (const signer of signers.slice(1)) envelope = addSignature(envelope, signer.key);
  return envelope;
}

/** A trust policy (YAML through the real parser) trusting `trusted` for every filter. */
export function policyText(trusted: Approver[], extra: Record<string, unknown> = {}): string {
  return yaml.dump({
    version: 1,
    maxTtl: "24h",
    keys: trusted.map((a) => ({
      name: a.name,
      id: a.pair.keyId,
      publicKey: a.pair.publicKeyPem,
      filters: ["*"],
    })),
    ...extra,
  });
}

export function policyOf(trusted: Approver[], extra: Record<string, unknown> = {}): TrustPolicy {
  return parseTrustPolicy(policyText(trusted, extra), { source: "trust.yaml" });
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "graft-mesh-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
