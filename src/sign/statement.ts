// SPDX-License-Identifier: Apache-2.0
import { createHash } from "node:crypto";
import { canonicalJson, canonicalSha256 } from "./canonical-json.ts";
import { parseDuration } from "./duration.ts";
import { GraftSignError } from "./errors.ts";
import { formatRfc3339, parseRfc3339 } from "./time.ts";

/**
 * The in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) graft
 * signs: one subject (the .wasm module, by sha256) and an injection predicate saying which filter, which
 * version, for which injection, by whom, why, until when, and with which configuration it was approved.
 */
export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const INJECTION_PREDICATE_TYPE = "https://graft.dev/injection/v1";

export interface InjectionPredicate {
  /** Filter name (folder = root_id = plugin name). */
  filter: string;
  version: string;
  injectionId: string;
  author: string;
  reason: string;
  /** RFC 3339; when the statement was made. */
  created: string;
  /** RFC 3339; `created` + TTL. The artifact must not be (re)injected at or after this instant. */
  expires: string;
  /** Hex sha256 of the canonical JSON (see canonical-json.ts) of the approved filter configuration. */
  configSha256: string;
  /** Optional scope: the slots this approval is valid for (absent = any slot). */
  slots?: string[];
  /** Optional scope: labels a target must carry (absent = any target the policy allows). */
  targets?: Record<string, string>;
  /**
   * The newer release of the same filter this (older) release may replace: the signed approval of a
   * downgrade. Without it an agent refuses a release older than the active one.
   */
  downgradeFrom?: string;
}

/** Filter names: what a filter folder, root_id and plugin name may be (never a path). */
export const FILTER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Injection ids: they end up in stat names, slot versions and log lines. */
export const INJECTION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SLOT_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const LABEL = /^[A-Za-z0-9_./-]{1,63}$/;

export interface StatementSubject {
  name: string;
  digest: { sha256: string };
}

export interface InjectionStatement {
  _type: typeof STATEMENT_TYPE;
  subject: [StatementSubject];
  predicateType: typeof INJECTION_PREDICATE_TYPE;
  predicate: InjectionPredicate;
}

export interface StatementInput {
  wasmBytes: Uint8Array;
  /** Subject name; usually the module's file name. */
  moduleName: string;
  filter: string;
  version: string;
  injectionId: string;
  author: string;
  reason: string;
  /** The filter configuration as a JSON value (an object is hashed as an object, a string as a string). */
  configuration: unknown;
  /** Milliseconds, or a duration such as `2h` / `1h30m`. */
  ttl: number | string;
  /** Signing time; defaults to the current time. */
  now?: Date;
  /** Optional scope and downgrade approval (see InjectionPredicate). */
  slots?: string[];
  targets?: Record<string, string>;
  downgradeFrom?: string;
}

/** Why the optional predicate fields are unusable, or null when they are fine (or absent). */
function scopeProblem(scope: { slots?: unknown; targets?: unknown; downgradeFrom?: unknown }): string | null {
  if (scope.slots !== undefined) {
    if (
      !Array.isArray(scope.slots) ||
      scope.slots.length === 0 ||
      !scope.slots.every((slot) => typeof slot === "string" && SLOT_NAME.test(slot))
    )
      return "slots must be a non-empty list of slot names (A-Z, a-z, 0-9, _ and -)";
  }
  if (scope.targets !== undefined) {
    const targets = scope.targets;
    if (
      typeof targets !== "object" ||
      targets === null ||
      Array.isArray(targets) ||
      Object.keys(targets).length === 0 ||
      !Object.entries(targets).every(([key, value]) => LABEL.test(key) && typeof value === "string")
    )
      return "targets must be a non-empty map of label: value, e.g. { tier: payments }";
  }
  if (
    scope.downgradeFrom !== undefined &&
    (typeof scope.downgradeFrom !== "string" || scope.downgradeFrom === "")
  )
    return "downgradeFrom must be the version being replaced, e.g. 1.5.0";
  return null;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function createStatement(input: StatementInput): InjectionStatement {
  for (const field of ["moduleName", "filter", "version", "injectionId", "author", "reason"] as const) {
    if (typeof input[field] !== "string" || input[field].trim() === "") {
      throw new GraftSignError("INVALID_STATEMENT", `${field} must be a non-empty string`);
    }
  }
  if (!FILTER_NAME.test(input.filter)) {
    throw new GraftSignError(
      "INVALID_STATEMENT",
      `filter ${JSON.stringify(input.filter)} is not a filter name; use lowercase letters, digits and '-' (the folder name under filters/)`,
    );
  }
  if (!INJECTION_ID.test(input.injectionId)) {
    throw new GraftSignError(
      "INVALID_STATEMENT",
      `injection id ${JSON.stringify(input.injectionId)} must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit`,
    );
  }
  const scope = scopeProblem(input);
  if (scope !== null) throw new GraftSignError("INVALID_STATEMENT", scope);
  const ttlMs = typeof input.ttl === "number" ? input.ttl : parseDuration(input.ttl);
  if (ttlMs === null || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new GraftSignError(
      "INVALID_STATEMENT",
      `ttl ${JSON.stringify(input.ttl)} is not a positive duration such as 2h`,
    );
  }
  let configSha256: string;
  try {
    configSha256 = canonicalSha256(input.configuration);
  } catch (error) {
    throw new GraftSignError("INVALID_STATEMENT", `configuration: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const created = (input.now ?? new Date()).getTime();
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: input.moduleName, digest: { sha256: sha256Hex(input.wasmBytes) } }],
    predicateType: INJECTION_PREDICATE_TYPE,
    predicate: {
      filter: input.filter,
      version: input.version,
      injectionId: input.injectionId,
      author: input.author,
      reason: input.reason,
      created: formatRfc3339(created),
      expires: formatRfc3339(created + ttlMs),
      configSha256,
      ...(input.slots !== undefined ? { slots: [...input.slots] } : {}),
      ...(input.targets !== undefined ? { targets: { ...input.targets } } : {}),
      ...(input.downgradeFrom !== undefined ? { downgradeFrom: input.downgradeFrom } : {}),
    },
  };
}

/** The payload bytes graft signs: the statement's canonical JSON in UTF-8 (deterministic for equal statements). */
export function serializeStatement(statement: InjectionStatement): Buffer {
  return Buffer.from(canonicalJson(statement), "utf8");
}

/** A statement whose fields were checked, with its times parsed. */
export interface ParsedStatement {
  statement: InjectionStatement;
  createdMs: number;
  expiresMs: number;
}

/**
 * Checks that `payload` is a graft injection statement. Returns it, or a sentence saying what is wrong.
 * Only one subject is accepted: an injection approves exactly one module.
 */
export function readStatement(payload: Uint8Array): ParsedStatement | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    return { problem: "the payload is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { problem: "the payload is not an object" };
  const raw = value as Record<string, unknown>;
  if (raw["_type"] !== STATEMENT_TYPE)
    return { problem: `_type is ${JSON.stringify(raw["_type"])}, want ${STATEMENT_TYPE}` };
  if (raw["predicateType"] !== INJECTION_PREDICATE_TYPE) {
    return {
      problem: `predicateType is ${JSON.stringify(raw["predicateType"])}, want ${INJECTION_PREDICATE_TYPE}`,
    };
  }
  const subject = raw["subject"];
  if (!Array.isArray(subject) || subject.length !== 1)
    return { problem: "subject must list exactly one module" };
  const only = subject[0] as Record<string, unknown> | null;
  const digest = only?.["digest"] as Record<string, unknown> | undefined;
  if (
    typeof only?.["name"] !== "string" ||
    typeof digest?.["sha256"] !== "string" ||
    !/^[0-9a-f]{64}$/.test(digest["sha256"])
  ) {
    return { problem: "subject[0] needs a name and a lowercase hex digest.sha256" };
  }
  const predicate = raw["predicate"] as Record<string, unknown> | null;
  if (typeof predicate !== "object" || predicate === null) return { problem: "predicate is missing" };
  for (const field of [
    "filter",
    "version",
    "injectionId",
    "author",
    "reason",
    "created",
    "expires",
    "configSha256",
  ]) {
    if (typeof predicate[field] !== "string")
      return { problem: `predicate.${field} is missing or not a string` };
  }
  if (!FILTER_NAME.test(predicate["filter"] as string))
    return { problem: `predicate.filter ${JSON.stringify(predicate["filter"])} is not a filter name` };
  if (!INJECTION_ID.test(predicate["injectionId"] as string))
    return {
      problem: `predicate.injectionId ${JSON.stringify(predicate["injectionId"])} is not an injection id`,
    };
  const scope = scopeProblem(predicate);
  if (scope !== null) return { problem: `predicate.${scope}` };
  if (!/^[0-9a-f]{64}$/.test(predicate["configSha256"] as string)) {
    return { problem: "predicate.configSha256 is not a lowercase hex sha256" };
  }
  const createdMs = parseRfc3339(predicate["created"] as string);
  const expiresMs = parseRfc3339(predicate["expires"] as string);
  if (createdMs === null)
    return { problem: `predicate.created ${JSON.stringify(predicate["created"])} is not RFC 3339` };
  if (expiresMs === null)
    return { problem: `predicate.expires ${JSON.stringify(predicate["expires"])} is not RFC 3339` };
  if (expiresMs <= createdMs) return { problem: "predicate.expires is not after predicate.created" };
  return { statement: value as InjectionStatement, createdMs, expiresMs };
}
