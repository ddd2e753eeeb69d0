// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { KeyObject } from "node:crypto";
import yaml from "js-yaml";
import { parseDuration } from "./duration.ts";
import { GraftPolicyError, GraftSignError } from "./errors.ts";
import { matchAny } from "./glob.ts";
import { verifyingKeyFromPem } from "./keys.ts";
import { parseRfc3339 } from "./time.ts";
import { checkAgainstSchema } from "../init/file-schema.ts";

/** The trust policy's JSON Schema (README.md "Files"); editors can validate with it too. */
export const POLICY_SCHEMA = new URL("./policy.schema.json", import.meta.url);

/**
 * The trust policy: which keys may approve which filters for which targets, for how long, and how many
 * approvals a change needs. Written in YAML by people, so every problem is reported with the file, the
 * field path and the fix, and unknown fields are errors (a typo such as `maxTTL` must not silently drop
 * a limit). Example:
 *
 * ```yaml
 * version: 1
 * maxTtl: 24h              # longest expires - created a statement may ask for
 * clockSkew: 1m            # optional (default 1m): how far `created` may lie in the future
 * keys:
 *   - name: alice          # optional label used in messages
 *     id: sha256:4f0c…     # optional; when given it must equal the key's computed id
 *     publicKeyPath: keys/alice.pub.pem   # relative to this file; or publicKey: | PEM text
 *     notBefore: 2026-01-01T00:00:00Z     # optional validity window, inclusive at both ends
 *     notAfter: 2026-07-01T00:00:00Z
 *     filters: ["rate-limit", "header-*"] # required: globs over filter names ("*" = any filter)
 *     targets: { tier: payments }         # optional: every label here must be on the target (value or list of globs)
 * revoked:
 *   - sha256:9b1e…
 * approvalRules:
 *   - filters: ["*"]                      # optional (default: every filter)
 *     targets: { tier: payments }         # optional (default: every target)
 *     approvals: 2                        # distinct trusted signers needed
 * ```
 * With no matching rule an artifact needs one signature; when several rules match, the largest count wins.
 */
export const DEFAULT_CLOCK_SKEW = "1m";

/** Label name → allowed value globs. A target matches when it carries every label with a matching value. */
export type LabelSelector = Record<string, string[]>;

export interface TrustedKey {
  keyId: string;
  name: string | null;
  publicKey: KeyObject;
  /** Inclusive bounds in epoch ms; null = unbounded on that side. */
  notBeforeMs: number | null;
  notAfterMs: number | null;
  filters: string[];
  targets: LabelSelector | null;
}

export interface ApprovalRule {
  /** Position in `approvalRules`, for messages. */
  index: number;
  filters: string[] | null;
  targets: LabelSelector | null;
  approvals: number;
}

export interface TrustPolicy {
  /** The file (or label) the policy came from; named in errors. */
  source: string;
  /**
   * Monotonic policy version (`serial:`), required in a signed policy: an agent refuses a policy
   * older than one it accepted, so restoring an old file cannot un-revoke a key. 0 when absent.
   */
  serial: number;
  maxTtlMs: number;
  clockSkewMs: number;
  keys: Map<string, TrustedKey>;
  revoked: Set<string>;
  approvalRules: ApprovalRule[];
}

const KEY_ID = /^sha256:[0-9a-f]{64}$/;

export async function loadTrustPolicy(file: string): Promise<TrustPolicy> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new GraftPolicyError(
      "POLICY_UNREADABLE",
      file,
      "(file)",
      `cannot read it (${code})`,
      "pass an existing trust policy with --policy",
      {
        cause: error,
      },
    );
  }
  return parseTrustPolicy(text, { source: file, baseDir: path.dirname(file) });
}

/** Parses policy YAML. `baseDir` resolves `publicKeyPath` entries (default: the current directory). */
export function parseTrustPolicy(
  text: string,
  options: { source: string; baseDir?: string; inlineKeysOnly?: boolean },
): TrustPolicy {
  let document: unknown;
  try {
    document = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: options.source });
  } catch (error) {
    const mark = (error as { mark?: { line: number; column: number } }).mark;
    const where = mark ? `line ${mark.line + 1}, column ${mark.column + 1}` : "(yaml)";
    const reason = (error as { reason?: string }).reason ?? (error as Error).message;
    throw new GraftPolicyError(
      "POLICY_INVALID",
      options.source,
      where,
      `not valid YAML (${reason})`,
      "correct the YAML syntax",
      {
        cause: error,
      },
    );
  }
  const policy = new PolicyReader(
    options.source,
    options.baseDir ?? process.cwd(),
    options.inlineKeysOnly ?? false,
  ).read(document);
  // The reader's checks come first (their messages are the most specific); the schema is the
  // documented contract and catches what they do not.
  checkAgainstSchema(document, POLICY_SCHEMA, options.source, (problem) => {
    throw new GraftPolicyError("POLICY_INVALID", options.source, problem.field, problem.problem, problem.fix);
  });
  return policy;
}

class PolicyReader {
  constructor(
    private readonly source: string,
    private readonly baseDir: string,
    /** In a signed policy every key is inside the signed text: a publicKeyPath could be swapped. */
    private readonly inlineKeysOnly: boolean,
  ) {}

  fail(field: string, problem: string, fix: string, cause?: unknown): never {
    throw new GraftPolicyError(
      "POLICY_INVALID",
      this.source,
      field,
      problem,
      fix,
      cause ? { cause } : undefined,
    );
  }

  object(value: unknown, field: string, allowed: readonly string[]): Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(field, `expected a mapping, got ${describe(value)}`, `write ${field} as key: value lines`);
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!allowed.includes(key)) {
        const at = field === "(top level)" ? key : `${field}.${key}`;
        this.fail(at, "unknown field", `remove it or use one of: ${allowed.join(", ")}`);
      }
    }
    return record;
  }

  string(value: unknown, field: string, fix: string): string {
    if (typeof value !== "string" || value.trim() === "")
      this.fail(field, `expected a non-empty string, got ${describe(value)}`, fix);
    return value;
  }

  duration(value: unknown, field: string): number {
    const text = typeof value === "number" ? String(value) : value;
    const ms = typeof text === "string" ? parseDuration(text) : null;
    if (ms === null || ms <= 0) {
      this.fail(
        field,
        `${describe(value)} is not a positive duration`,
        'write it like "24h", "90m" or "1h30m"',
      );
    }
    return ms;
  }

  time(value: unknown, field: string): number | null {
    if (value === undefined || value === null) return null;
    const ms =
      typeof value === "string" ? parseRfc3339(value) : value instanceof Date ? value.getTime() : null;
    if (ms === null || Number.isNaN(ms)) {
      this.fail(field, `${describe(value)} is not an RFC 3339 time`, "write it like 2026-01-01T00:00:00Z");
    }
    return ms;
  }

  globs(value: unknown, field: string, fix: string): string[] {
    const list = typeof value === "string" ? [value] : value;
    if (!Array.isArray(list) || list.length === 0)
      this.fail(field, `expected a glob or a non-empty list of globs, got ${describe(value)}`, fix);
    return list.map((item, index) => this.string(item, `${field}[${index}]`, fix));
  }

  selector(value: unknown, field: string): LabelSelector | null {
    if (value === undefined || value === null) return null;
    if (typeof value !== "object" || Array.isArray(value)) {
      this.fail(
        field,
        `expected a mapping of label: value, got ${describe(value)}`,
        "write it like { tier: payments }",
      );
    }
    const selector: LabelSelector = {};
    for (const [label, allowed] of Object.entries(value as Record<string, unknown>)) {
      selector[label] = this.globs(
        allowed,
        `${field}.${label}`,
        "give a label value (glob) or a list of them",
      );
    }
    return selector;
  }

  read(document: unknown): TrustPolicy {
    if (document === undefined || document === null) {
      this.fail(
        "(top level)",
        "the file is empty",
        "write a policy with maxTtl and keys (see `graft verify --help`)",
      );
    }
    const top = this.object(document, "(top level)", [
      "version",
      "serial",
      "maxTtl",
      "clockSkew",
      "keys",
      "revoked",
      "approvalRules",
    ]);
    if (top["version"] !== undefined && top["version"] !== 1 && top["version"] !== "1") {
      this.fail("version", `unsupported version ${describe(top["version"])}`, "set version: 1");
    }
    let serial = 0;
    if (top["serial"] !== undefined) {
      const value = top["serial"];
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)
        this.fail(
          "serial",
          `expected a whole number ≥ 1, got ${describe(value)}`,
          "write serial: 1, then 2, 3, … for each new policy",
        );
      serial = value;
    } else if (this.inlineKeysOnly) {
      this.fail(
        "serial",
        "missing",
        "a signed policy needs serial: <n>, one more than the policy it replaces",
      );
    }
    if (top["maxTtl"] === undefined)
      this.fail("maxTtl", "missing", 'add maxTtl: "24h" (the longest TTL an artifact may ask for)');
    const maxTtlMs = this.duration(top["maxTtl"], "maxTtl");
    const clockSkewMs =
      top["clockSkew"] === undefined
        ? (parseDuration(DEFAULT_CLOCK_SKEW) as number)
        : this.nonNegativeDuration(top["clockSkew"]);

    const rawKeys = top["keys"];
    if (!Array.isArray(rawKeys) || rawKeys.length === 0) {
      this.fail(
        "keys",
        `expected a non-empty list of trusted keys, got ${describe(rawKeys)}`,
        "add at least one key with publicKeyPath and filters",
      );
    }
    const keys = new Map<string, TrustedKey>();
    rawKeys.forEach((raw, index) => {
      const key = this.key(raw, `keys[${index}]`);
      const previous = keys.get(key.keyId);
      if (previous) {
        this.fail(
          `keys[${index}]`,
          `same public key as an earlier entry (${previous.name ?? key.keyId})`,
          "list each key once; one key is one approver",
        );
      }
      keys.set(key.keyId, key);
    });

    const revoked = new Set<string>();
    if (top["revoked"] !== undefined && top["revoked"] !== null) {
      if (!Array.isArray(top["revoked"]))
        this.fail(
          "revoked",
          `expected a list of key ids, got ${describe(top["revoked"])}`,
          "write revoked: [sha256:…]",
        );
      top["revoked"].forEach((id, index) => {
        if (typeof id !== "string" || !KEY_ID.test(id)) {
          this.fail(
            `revoked[${index}]`,
            `${describe(id)} is not a key id`,
            "use the sha256:<64 hex> id that `graft keygen` printed",
          );
        }
        revoked.add(id);
      });
    }

    const approvalRules: ApprovalRule[] = [];
    if (top["approvalRules"] !== undefined && top["approvalRules"] !== null) {
      if (!Array.isArray(top["approvalRules"])) {
        this.fail(
          "approvalRules",
          `expected a list, got ${describe(top["approvalRules"])}`,
          "write approvalRules: [{ filters: [...], approvals: 2 }]",
        );
      }
      top["approvalRules"].forEach((raw, index) => approvalRules.push(this.rule(raw, index, keys.size)));
    }
    return { source: this.source, serial, maxTtlMs, clockSkewMs, keys, revoked, approvalRules };
  }

  nonNegativeDuration(value: unknown): number {
    if (value === 0 || value === "0") return 0;
    return this.duration(value, "clockSkew");
  }

  key(raw: unknown, field: string): TrustedKey {
    const entry = this.object(raw, field, [
      "id",
      "name",
      "publicKey",
      "publicKeyPath",
      "notBefore",
      "notAfter",
      "filters",
      "targets",
    ]);
    const name =
      entry["name"] === undefined
        ? null
        : this.string(entry["name"], `${field}.name`, "give a short label such as alice");
    const hasInline = entry["publicKey"] !== undefined;
    const hasPath = entry["publicKeyPath"] !== undefined;
    if (hasInline === hasPath) {
      this.fail(
        field,
        hasInline ? "has both publicKey and publicKeyPath" : "has no public key",
        "give exactly one of publicKey (PEM text) or publicKeyPath",
      );
    }
    let pem: string;
    let keyField: string;
    if (hasInline) {
      keyField = `${field}.publicKey`;
      pem = this.string(entry["publicKey"], keyField, "paste the PEM text of the .pub.pem file");
    } else {
      keyField = `${field}.publicKeyPath`;
      if (this.inlineKeysOnly)
        this.fail(
          keyField,
          "a signed policy cannot point at key files (they are outside the signature)",
          "paste the key as publicKey: | <PEM>",
        );
      const keyPath = path.resolve(
        this.baseDir,
        this.string(entry["publicKeyPath"], keyField, "give the path of a .pub.pem file"),
      );
      try {
        pem = readFileSync(keyPath, "utf8");
      } catch (error) {
        this.fail(
          keyField,
          `cannot read ${keyPath} (${(error as NodeJS.ErrnoException).code ?? error})`,
          "point it at an existing .pub.pem (relative to the policy file)",
          error,
        );
      }
    }
    let verifying;
    try {
      verifying = verifyingKeyFromPem(pem, keyField);
    } catch (error) {
      if (!(error instanceof GraftSignError)) throw error;
      this.fail(
        keyField,
        error.message,
        "use the ed25519 public key written by `graft keygen` (<name>.pub.pem)",
        error,
      );
    }
    if (entry["id"] !== undefined && entry["id"] !== verifying.keyId) {
      this.fail(
        `${field}.id`,
        `${describe(entry["id"])} is not the id of this public key`,
        `set it to ${verifying.keyId} or remove it`,
      );
    }
    const notBeforeMs = this.time(entry["notBefore"], `${field}.notBefore`);
    const notAfterMs = this.time(entry["notAfter"], `${field}.notAfter`);
    if (notBeforeMs !== null && notAfterMs !== null && notAfterMs < notBeforeMs) {
      this.fail(`${field}.notAfter`, "is before notBefore", "swap them or fix the dates");
    }
    if (entry["filters"] === undefined) {
      this.fail(
        `${field}.filters`,
        "missing",
        'list the filters this key may approve, or filters: ["*"] for all',
      );
    }
    const filters = this.globs(
      entry["filters"],
      `${field}.filters`,
      'list filter names or globs, e.g. ["rate-limit", "header-*"]',
    );
    const targets = this.selector(entry["targets"], `${field}.targets`);
    return {
      keyId: verifying.keyId,
      name,
      publicKey: verifying.publicKey,
      notBeforeMs,
      notAfterMs,
      filters,
      targets,
    };
  }

  rule(raw: unknown, index: number, keyCount: number): ApprovalRule {
    const field = `approvalRules[${index}]`;
    const entry = this.object(raw, field, ["filters", "targets", "approvals"]);
    const filters =
      entry["filters"] === undefined
        ? null
        : this.globs(entry["filters"], `${field}.filters`, "list filter names or globs");
    const targets = this.selector(entry["targets"], `${field}.targets`);
    const approvals = entry["approvals"];
    if (typeof approvals !== "number" || !Number.isInteger(approvals) || approvals < 1) {
      this.fail(
        `${field}.approvals`,
        `expected a whole number ≥ 1, got ${describe(approvals)}`,
        "write approvals: 2",
      );
    }
    if (approvals > keyCount) {
      this.fail(
        `${field}.approvals`,
        `needs ${approvals} approvals but the policy trusts only ${keyCount} key(s)`,
        "add keys or lower approvals",
      );
    }
    return { index, filters, targets, approvals };
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** True when the target carries every label of the selector with a value matching one of its globs. */
export function selectorMatches(
  selector: LabelSelector | null,
  targetLabels: Readonly<Record<string, string>>,
): boolean {
  if (selector === null) return true;
  return Object.entries(selector).every(([label, globs]) => {
    const value = Object.hasOwn(targetLabels, label) ? targetLabels[label] : undefined;
    return value !== undefined && matchAny(globs, value);
  });
}

/** Distinct signers needed for `filter` on a target with these labels: the largest matching rule, else 1. */
export function requiredApprovals(
  policy: TrustPolicy,
  filter: string,
  targetLabels: Readonly<Record<string, string>>,
): { approvals: number; rule: ApprovalRule | null } {
  let best: { approvals: number; rule: ApprovalRule | null } = { approvals: 1, rule: null };
  for (const rule of policy.approvalRules) {
    const filterMatches = rule.filters === null || matchAny(rule.filters, filter);
    if (filterMatches && selectorMatches(rule.targets, targetLabels) && rule.approvals > best.approvals) {
      best = { approvals: rule.approvals, rule };
    }
  }
  return best;
}

export function describeKey(key: TrustedKey): string {
  return key.name ? `${key.name} (${key.keyId})` : key.keyId;
}
