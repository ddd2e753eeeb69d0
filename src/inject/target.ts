import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import yaml from "js-yaml";
import type { KeyObject } from "node:crypto";
import { AdminClient } from "../envoy/admin.ts";
import { verifyingKeyFromPem } from "../sign/keys.ts";
import { isValidSlotName } from "./slot.ts";
import { GraftError } from "../util/errors.ts";
import { checkAgainstSchema } from "../init/file-schema.ts";

/** The targets file's JSON Schema (README.md "Files"); editors can validate with it too. */
export const TARGETS_SCHEMA = new URL("./targets.schema.json", import.meta.url);

/** One Envoy graft can act on: its admin API, the directory its slots are read from, its labels. */
export interface Target {
  name: string;
  adminUrl: string;
  /** Directory of the slot files; Envoy must see the same path (bind-mount it for containers). */
  ecdsDir: string;
  /** Where injected modules are stored, content-addressed; Envoy must see the same path. */
  moduleDir: string;
  labels: Record<string, string>;
  slots: string[];
  /** Envoy's log file, if graft may read it: rejection reasons come from there. */
  logPath?: string;
  /** In-process alternative to logPath (an Envoy graft started itself). */
  logs?: () => string;
  /**
   * The graft agent beside this Envoy. When set, graft never writes this Envoy's files itself: it
   * sends signed requests to the agent, which verifies and applies them, and checks every answer
   * against the pinned public key.
   */
  agent?: AgentEndpoint;
}

export interface AgentEndpoint {
  /** `http://<host>:<port>` of the agent's API. */
  url: string;
  /** The agent's pinned Ed25519 public key (it signs responses, audit records and checkpoints). */
  publicKey: KeyObject;
  keyId: string;
}

const TARGET_FIELDS = ["name", "admin", "ecdsDir", "moduleDir", "slots", "labels", "logPath", "agent"];
const AGENT_FIELDS = ["url", "publicKey", "publicKeyPath"];

export class TargetsFileError extends GraftError<"INVALID_TARGETS"> {
  constructor(message: string) {
    super("INVALID_TARGETS", message);
  }
}

/**
 * Reads a targets file:
 *
 * ```yaml
 * targets:
 *   - name: payments-1
 *     admin: http://127.0.0.1:9901
 *     ecdsDir: /var/lib/graft/payments-1/ecds
 *     moduleDir: /var/lib/graft/modules        # optional, default <ecdsDir>/modules
 *     slots: [graft-slot-0]
 *     labels: { tier: payments, role: canary }
 *     logPath: /var/log/envoy/payments-1.log   # optional
 *   - name: payments-2                         # an Envoy with a graft agent beside it
 *     agent:
 *       url: http://10.0.0.12:7070
 *       publicKeyPath: keys/payments-2.agent.pub.pem   # pinned; or publicKey: | <PEM>
 *     slots: [graft-slot-0]
 *     labels: { tier: payments }               # for --select only: the agent verifies with its own
 * ```
 * Relative paths resolve against the file's directory. Unknown fields are errors: a misspelt
 * `lables:` would otherwise select targets by labels nobody wrote.
 */
export async function loadTargetsFile(file: string): Promise<Target[]> {
  let doc: unknown;
  try {
    doc = yaml.load(await readFile(file, "utf8"));
  } catch (error) {
    throw new TargetsFileError(`${file}: cannot read targets: ${(error as Error).message}`);
  }
  const base = path.dirname(path.resolve(file));
  const list = (doc as { targets?: unknown })?.targets;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TargetsFileError(
      `${file}: "targets" must be a non-empty list of {name, admin, ecdsDir, slots, labels}`,
    );
  }
  const names = new Set<string>();
  const targets = list.map((entry, index): Target => {
    const at = `${file}: targets[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry))
      throw new TargetsFileError(`${at}: expected a mapping with name, slots and admin/ecdsDir or agent`);
    const raw = entry as Record<string, unknown>;
    for (const field of Object.keys(raw)) {
      if (!TARGET_FIELDS.includes(field))
        throw new TargetsFileError(
          `${at}.${field}: unknown field; remove it or use one of: ${TARGET_FIELDS.join(", ")}`,
        );
    }
    const text = (field: string, required = true): string | undefined => {
      const value = raw?.[field];
      if (value === undefined && !required) return undefined;
      if (typeof value !== "string" || value.length === 0)
        throw new TargetsFileError(`${at}.${field}: expected a non-empty string`);
      return value;
    };
    const name = text("name")!;
    if (names.has(name))
      throw new TargetsFileError(`${at}.name: "${name}" appears twice; target names must be unique`);
    names.add(name);
    const agent = raw.agent === undefined ? undefined : readAgent(raw.agent, `${at}.agent`, base);
    // With an agent, the agent owns the Envoy's files: admin and ecdsDir are only for observing.
    const adminUrl = text("admin", agent === undefined) ?? "";
    if (adminUrl !== "" && !/^https?:\/\//.test(adminUrl))
      throw new TargetsFileError(`${at}.admin: expected an http(s) URL such as http://127.0.0.1:9901`);
    const ecdsText = text("ecdsDir", agent === undefined);
    const ecdsDir = ecdsText === undefined ? "" : path.resolve(base, ecdsText);
    const moduleText = text("moduleDir", false);
    const moduleDir =
      moduleText !== undefined
        ? path.resolve(base, moduleText)
        : ecdsDir === ""
          ? ""
          : path.join(ecdsDir, "modules");
    const logPath = text("logPath", false);
    const slots = raw.slots;
    if (
      !Array.isArray(slots) ||
      slots.length === 0 ||
      !slots.every((slot) => typeof slot === "string" && isValidSlotName(slot))
    ) {
      throw new TargetsFileError(
        `${at}.slots: expected a list of slot names (A-Z, a-z, 0-9, _ and -) as configured in the Envoy's listeners`,
      );
    }
    const labels = raw.labels ?? {};
    if (
      typeof labels !== "object" ||
      Array.isArray(labels) ||
      !Object.values(labels as object).every((v) => typeof v === "string")
    ) {
      throw new TargetsFileError(`${at}.labels: expected a map of string labels, e.g. { tier: payments }`);
    }
    return {
      name,
      adminUrl,
      ecdsDir,
      moduleDir,
      slots: slots as string[],
      labels: labels as Record<string, string>,
      logPath: logPath ? path.resolve(base, logPath) : undefined,
      ...(agent ? { agent } : {}),
    };
  });
  // The checks above name the field in the reader's words; the schema is the documented contract.
  checkAgainstSchema(doc, TARGETS_SCHEMA, file, (problem) => {
    throw new TargetsFileError(problem.message);
  });
  return targets;
}

function readAgent(value: unknown, at: string, base: string): AgentEndpoint {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new TargetsFileError(`${at}: expected { url, publicKeyPath } (or publicKey)`);
  const raw = value as Record<string, unknown>;
  for (const field of Object.keys(raw)) {
    if (!AGENT_FIELDS.includes(field))
      throw new TargetsFileError(`${at}.${field}: unknown field; use one of: ${AGENT_FIELDS.join(", ")}`);
  }
  if (typeof raw.url !== "string" || !/^http:\/\/[^/]+$/.test(raw.url.replace(/\/$/, "")))
    throw new TargetsFileError(`${at}.url: expected the agent's address, e.g. http://10.0.0.12:7070`);
  if ((raw.publicKey === undefined) === (raw.publicKeyPath === undefined))
    throw new TargetsFileError(
      `${at}: give exactly one of publicKey (PEM) or publicKeyPath: the agent's key is pinned here`,
    );
  let pem: string;
  let where: string;
  if (typeof raw.publicKeyPath === "string") {
    where = `${at}.publicKeyPath`;
    try {
      pem = readFileSync(path.resolve(base, raw.publicKeyPath), "utf8");
    } catch (error) {
      throw new TargetsFileError(
        `${where}: cannot read ${path.resolve(base, raw.publicKeyPath)} (${(error as NodeJS.ErrnoException).code ?? error}); point it at the agent's .pub.pem`,
      );
    }
  } else if (typeof raw.publicKey === "string") {
    where = `${at}.publicKey`;
    pem = raw.publicKey;
  } else {
    throw new TargetsFileError(`${at}: publicKey/publicKeyPath must be a string`);
  }
  try {
    const key = verifyingKeyFromPem(pem, where);
    return { url: raw.url.replace(/\/$/, ""), publicKey: key.publicKey, keyId: key.keyId };
  } catch (error) {
    throw new TargetsFileError(
      `${(error as Error).message}; fix: use the agent's public key (agent.pub.pem)`,
    );
  }
}

/** A label selector: `tier=payments,role!=canary`. Empty selects everything. */
/** One `key=value` or `key!=value` term of a label selector. */
export interface SelectorTerm {
  key: string;
  negate: boolean;
  value: string;
}

/** The terms of a selector (`k=v,k2!=v2`); throws with the fix on a term it cannot read. */
export function selectorTerms(selector: string): SelectorTerm[] {
  return selector.split(",").map((term) => {
    const match = /^\s*([A-Za-z0-9_./-]+)\s*(!=|=)\s*([A-Za-z0-9_./-]*)\s*$/.exec(term);
    if (!match)
      throw new TargetsFileError(
        `selector "${selector}": cannot read "${term}"; write key=value or key!=value, separated by commas`,
      );
    return { key: match[1]!, negate: match[2] === "!=", value: match[3]! };
  });
}

export function parseSelector(selector: string | undefined): (labels: Record<string, string>) => boolean {
  if (!selector) return () => true;
  const terms = selectorTerms(selector);
  return (labels) => terms.every((term) => (labels[term.key] === term.value) !== term.negate);
}

/**
 * Targets matching `selector`, then the first `percent`% of them by name (at least one when any
 * match): a stable choice, so re-running an interrupted command picks the same targets.
 */
export function selectTargets(targets: Target[], selector?: string, percent = 100): Target[] {
  if (!(percent > 0 && percent <= 100))
    throw new TargetsFileError(`--percent ${percent}: expected a number in (0, 100]`);
  const matches = parseSelector(selector);
  const selected = targets
    .filter((target) => matches(target.labels))
    .sort((a, b) => a.name.localeCompare(b.name));
  const count = Math.max(selected.length > 0 ? 1 : 0, Math.ceil((selected.length * percent) / 100));
  return selected.slice(0, count);
}

export function adminOf(target: Target): AdminClient {
  return new AdminClient(target.adminUrl.replace(/\/$/, ""));
}

/** Envoy's log text for reasons, from the in-process log or the log file. */
export async function targetLogs(target: Target): Promise<string> {
  if (target.logs) return target.logs();
  if (target.logPath) return readFile(target.logPath, "utf8").catch(() => "");
  return "";
}
