// SPDX-License-Identifier: Apache-2.0
// Shared material for the mesh tests: the sample filter (the one `graft new` writes, built in a
// temporary folder) and its module, contract variants, approvers, signed envelopes and trust policies
// (built through src/sign's exported functions, never by hand).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { filterFromDir, type FilterInfo } from "../../src/filters/catalog.ts";
import { CONTRACT_FILE, type ContractMetric, type FilterContract } from "../../src/filters/contract.ts";
import type { DsseEnvelope } from "../../src/sign/dsse.ts";
import { generateKeyPair, signingKeyFromPem, type KeyPairPem, type SigningKey } from "../../src/sign/keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "../../src/sign/policy.ts";
import { addSignature, signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { sampleFilter } from "../support/sample-filter.ts";

/** The sample filter, built. */
export const filter: FilterInfo = await sampleFilter();
export const FILTER = filter.name;
/** Its built release module. */
export const wasm: Buffer = readFileSync(filter.releaseWasm);

/** One of the sample filter's own good configurations (configs/good/blocked.json), for `injectionId`. */
export function exampleConfig(injectionId = "sf-canary-1"): Record<string, unknown> {
  const file = path.join(filter.dir, "configs", "good", "blocked.json");
  const base = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  return { ...base, injection_id: injectionId };
}

/**
 * The sample filter's contract and schema under another name with other metrics (tagged, several bad
 * events, a histogram): what contract-driven rendering needs, without a module.
 */
export function contractVariant(name: string, metrics: ContractMetric[]): FilterInfo {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "graft-mesh-contract-")), name);
  mkdirSync(dir);
  const contract: FilterContract = { ...filter.contract, name, metrics };
  writeFileSync(path.join(dir, CONTRACT_FILE), JSON.stringify(contract, null, 2));
  const schema = filter.contract.configuration.schema;
  writeFileSync(path.join(dir, schema), readFileSync(path.join(filter.dir, schema)));
  return filterFromDir(dir);
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
    injectionId: options.injectionId ?? "sf-canary-1",
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
