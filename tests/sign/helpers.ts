// SPDX-License-Identifier: Apache-2.0
// Shared fixtures for the artifact tests: three approvers, a module, a configuration and a policy builder.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { GraftError } from "../../src/sign/errors.ts";
import { generateKeyPair, signingKeyFromPem, type KeyPairPem, type SigningKey } from "../../src/sign/keys.ts";
import { parseTrustPolicy, type TrustPolicy } from "../../src/sign/policy.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement, type StatementInput } from "../../src/sign/statement.ts";
import type { DsseEnvelope } from "../../src/sign/dsse.ts";

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
export const carol = approver("carol");
export const mallory = approver("mallory");

/** A stand-in module: only its bytes (and so its sha256) matter to signing. */
export const wasmBytes = Buffer.from("\0asm\x01\0\0\0graft-test-module", "binary");
export const configuration = { limit: 100, window: "1s", paths: ["/pay", "/refund"] };

export const CREATED = new Date("2026-03-01T12:00:00.000Z");
export const HOUR = 3_600_000;

export function statementInput(overrides: Partial<StatementInput> = {}): StatementInput {
  return {
    wasmBytes,
    moduleName: "rate-limit.wasm",
    filter: "rate-limit",
    version: "1.4.0",
    injectionId: "inj-2026-0301-a",
    author: "alice",
    reason: "throttle card-testing bots on /pay",
    configuration,
    ttl: "2h",
    now: CREATED,
    ...overrides,
  };
}

export function signedBy(signer: Approver, overrides: Partial<StatementInput> = {}): DsseEnvelope {
  return signEnvelope(createStatement(statementInput(overrides)), signer.key);
}

export interface KeyEntry {
  approver: Approver;
  filters?: string[] | string;
  targets?: Record<string, string | string[]>;
  notBefore?: string;
  notAfter?: string;
}

/** A trust policy (as YAML text run through the real parser) trusting the given approvers. */
export function policyOf(
  entries: KeyEntry[],
  extra: { maxTtl?: string; clockSkew?: string; revoked?: Approver[]; approvalRules?: unknown[] } = {},
): TrustPolicy {
  const document = {
    version: 1,
    maxTtl: extra.maxTtl ?? "24h",
    ...(extra.clockSkew !== undefined ? { clockSkew: extra.clockSkew } : {}),
    keys: entries.map((entry) => ({
      name: entry.approver.name,
      id: entry.approver.pair.keyId,
      publicKey: entry.approver.pair.publicKeyPem,
      ...(entry.notBefore !== undefined ? { notBefore: entry.notBefore } : {}),
      ...(entry.notAfter !== undefined ? { notAfter: entry.notAfter } : {}),
      filters: entry.filters ?? ["*"],
      ...(entry.targets !== undefined ? { targets: entry.targets } : {}),
    })),
    ...(extra.revoked ? { revoked: extra.revoked.map((revoked) => revoked.pair.keyId) } : {}),
    ...(extra.approvalRules ? { approvalRules: extra.approvalRules } : {}),
  };
  return parseTrustPolicy(yaml.dump(document), { source: "trust.yaml" });
}

/** Runs `fn` and asserts it throws `type` with `code`; returns the error for further checks. */
export function assertThrowsCode<E extends GraftError>(
  fn: () => unknown,
  type: new (...args: never[]) => E,
  code: string,
): E {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof type,
    `expected ${type.name} ${code}, got ${caught === undefined ? "no error" : String(caught)}`,
  );
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`);
  return caught;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "graft-artifact-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
