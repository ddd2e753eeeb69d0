import { readFileSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { filterFromDir, isFilterDir, listFilters, type FilterInfo } from "../filters/catalog.ts";
import { parseDuration } from "../sign/duration.ts";
import { loadSigningKey, verifyingKeyFromPem, type SigningKey, type VerifyingKey } from "../sign/keys.ts";
import type { TrustRoot } from "../sign/policy-bundle.ts";
import { isValidSlotName } from "../inject/slot.ts";
import { GraftError } from "../util/errors.ts";

/**
 * The agent's own configuration: who it is (name, labels), the Envoy it guards, the keys it trusts
 * and the key it signs with. Everything the agent verifies against comes from here, never from a
 * caller: a caller's targets file, policy or labels carry no weight on the agent.
 *
 * ```yaml
 * name: payments-1                     # must equal the target's name in the control plane's targets file
 * labels: { tier: payments }           # the labels approval rules and key scopes are checked against
 * listen: 127.0.0.1:7070               # the signed API
 * envoy:
 *   admin: http://127.0.0.1:9901
 *   ecdsDir: /var/lib/graft/ecds       # the agent is the only writer of these slot files
 *   slots: [graft-slot-0]
 *   logPath: /var/log/envoy.log        # optional: Envoy's reasons for a rejected update
 * moduleStore: /var/lib/graft/modules  # 0700, content-addressed; Envoy reads modules from here
 * stateDir: /var/lib/graft/agent       # 0700: verified history, policy, operation ids, pristine modules
 * key: /etc/graft/agent.key.pem        # signs responses, audit records and checkpoints
 * trustRoot:
 *   threshold: 2
 *   keys: [{ name: root-a, publicKeyPath: root-a.pub.pem }, …]
 * policy: /etc/graft/policy.dsse.json  # signed policy to start from (a newer one can arrive by API)
 * auditLog: /var/log/graft/audit.log
 * callers:                             # who may call the API; the name becomes the audit actor
 *   - { name: alice, publicKeyPath: alice.ctl.pub.pem }
 * enforceInterval: 1s                  # TTLs, re-verification and drift repair
 * filters: [/opt/filters/block-admin]  # optional: filter folders outside graft's filters/ it may run
 * ```
 * Relative paths resolve against the file's directory. Unknown fields are errors.
 */
export interface AgentConfig {
  source: string;
  name: string;
  labels: Record<string, string>;
  listen: { host: string; port: number };
  envoy: { admin: string; ecdsDir: string; slots: string[]; logPath?: string };
  moduleStore: string;
  /** Mode of the module store directory: 0700 unless Envoy runs as another user (then 0750 + group). */
  moduleStoreMode: number;
  stateDir: string;
  key: SigningKey;
  trustRoot: TrustRoot;
  policyFile: string;
  auditLog: string;
  callers: { name: string; key: VerifyingKey }[];
  enforceIntervalMs: number;
  /**
   * Filters from folders of their own (`filters:`), beside this repository's filters/: what a signed
   * statement may name here besides those. Their names are distinct from each other and from filters/.
   */
  filters: FilterInfo[];
}

export class AgentConfigError extends GraftError<"INVALID_AGENT_CONFIG"> {
  constructor(message: string) {
    super("INVALID_AGENT_CONFIG", message);
  }
}

const TOP = [
  "name",
  "labels",
  "listen",
  "envoy",
  "moduleStore",
  "moduleStoreMode",
  "stateDir",
  "key",
  "trustRoot",
  "policy",
  "auditLog",
  "callers",
  "enforceInterval",
  "filters",
];

export async function loadAgentConfig(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new AgentConfigError(
      `${file}: cannot read the agent configuration (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  const base = path.dirname(path.resolve(file));
  const fail = (field: string, problem: string, fix: string): never => {
    throw new AgentConfigError(`${file}: ${field}: ${problem}; fix: ${fix}`);
  };
  let doc: unknown;
  try {
    doc = yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch (error) {
    return fail("(yaml)", (error as Error).message, "correct the YAML syntax");
  }
  const map = (value: unknown, field: string, allowed: string[]): Record<string, unknown> => {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      return fail(field, "expected a mapping", `write ${field} as key: value lines`);
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key))
        fail(
          field === "(top level)" ? key : `${field}.${key}`,
          "unknown field",
          `use one of: ${allowed.join(", ")}`,
        );
    }
    return value as Record<string, unknown>;
  };
  const str = (value: unknown, field: string, fix: string): string =>
    typeof value === "string" && value.trim() !== ""
      ? value
      : fail(field, "expected a non-empty string", fix);
  const file_ = (value: unknown, field: string) =>
    path.resolve(base, str(value, field, "give a path (relative to this file)"));
  const publicKey = (raw: Record<string, unknown>, field: string): VerifyingKey => {
    const hasPath = raw.publicKeyPath !== undefined;
    if (hasPath === (raw.publicKey !== undefined))
      fail(
        field,
        "needs exactly one of publicKey or publicKeyPath",
        "give the .pub.pem path or its PEM text",
      );
    const where = hasPath ? `${field}.publicKeyPath` : `${field}.publicKey`;
    let pem: string;
    try {
      pem = hasPath
        ? readFileSync(file_(raw.publicKeyPath, where), "utf8")
        : str(raw.publicKey, where, "paste the PEM");
    } catch (error) {
      return fail(
        where,
        `cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`,
        "point it at a .pub.pem",
      );
    }
    try {
      return verifyingKeyFromPem(pem, where);
    } catch (error) {
      return fail(where, (error as Error).message, "use an ed25519 public key from `graft keygen`");
    }
  };

  const top = map(doc, "(top level)", TOP);
  const name = str(top.name, "name", "give the agent the name its target has in the targets file");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name))
    fail("name", `${JSON.stringify(name)} is not a name`, "use letters, digits, '.', '_' and '-'");
  const labels = top.labels === undefined ? {} : map(top.labels, "labels", Object.keys(top.labels ?? {}));
  for (const [key, value] of Object.entries(labels))
    if (typeof value !== "string")
      fail(`labels.${key}`, "expected a string value", `write ${key}: "<value>"`);

  const listenText = str(top.listen ?? "127.0.0.1:7070", "listen", "write host:port, e.g. 127.0.0.1:7070");
  const listenMatch = /^([0-9.]+|\[[0-9a-f:]+\]|localhost):(\d{1,5})$/.exec(listenText);
  if (!listenMatch)
    fail("listen", `${JSON.stringify(listenText)} is not host:port`, "write e.g. 127.0.0.1:7070");
  const listen = { host: listenMatch![1]!, port: Number(listenMatch![2]) };

  const envoyRaw = map(top.envoy, "envoy", ["admin", "ecdsDir", "slots", "logPath"]);
  const admin = str(envoyRaw.admin, "envoy.admin", "give Envoy's admin URL, e.g. http://127.0.0.1:9901");
  if (!/^https?:\/\//.test(admin))
    fail("envoy.admin", "expected an http(s) URL", "e.g. http://127.0.0.1:9901");
  const slots = envoyRaw.slots;
  if (
    !Array.isArray(slots) ||
    slots.length === 0 ||
    !slots.every((s) => typeof s === "string" && isValidSlotName(s))
  )
    fail(
      "envoy.slots",
      "expected a non-empty list of slot names",
      "list the slots of this Envoy's listeners",
    );

  const rootRaw = map(top.trustRoot, "trustRoot", ["threshold", "keys"]);
  const rootKeysRaw = rootRaw.keys;
  if (!Array.isArray(rootKeysRaw) || rootKeysRaw.length === 0)
    fail("trustRoot.keys", "expected a non-empty list", "list the root keys that sign trust policies");
  const rootKeys = (rootKeysRaw as unknown[]).map((raw, index) =>
    publicKey(
      map(raw, `trustRoot.keys[${index}]`, ["name", "publicKey", "publicKeyPath"]),
      `trustRoot.keys[${index}]`,
    ),
  );
  const threshold = rootRaw.threshold ?? 1;
  if (
    typeof threshold !== "number" ||
    !Number.isInteger(threshold) ||
    threshold < 1 ||
    threshold > rootKeys.length
  )
    fail(
      "trustRoot.threshold",
      `expected 1..${rootKeys.length}`,
      "set how many root signatures a policy needs",
    );

  const callersRaw = top.callers;
  if (!Array.isArray(callersRaw) || callersRaw.length === 0)
    fail("callers", "expected a non-empty list", "list the control-plane keys allowed to call this agent");
  const callers = (callersRaw as unknown[]).map((raw, index) => {
    const entry = map(raw, `callers[${index}]`, ["name", "publicKey", "publicKeyPath"]);
    return {
      name: str(entry.name, `callers[${index}].name`, "name the caller; it becomes the audit actor"),
      key: publicKey(entry, `callers[${index}]`),
    };
  });

  const interval = parseDuration(String(top.enforceInterval ?? "1s"));
  if (interval === null || interval < 50) fail("enforceInterval", "expected a duration ≥ 50ms", "e.g. 1s");
  const storeMode =
    top.moduleStoreMode === undefined ? 0o700 : Number.parseInt(String(top.moduleStoreMode), 8);
  if (![0o700, 0o750, 0o755].includes(storeMode))
    fail("moduleStoreMode", "expected 0700, 0750 or 0755", "keep 0700 unless Envoy runs as another user");

  const filtersRaw = top.filters ?? [];
  if (!Array.isArray(filtersRaw))
    fail(
      "filters",
      "expected a list of filter folders",
      "write filters: [<folder>, …], each a folder holding a filter.json, relative to this file",
    );
  const builtIn = new Map(listFilters().map((filter) => [filter.name, filter]));
  const filters: FilterInfo[] = [];
  for (const [index, raw] of (filtersRaw as unknown[]).entries()) {
    const field = `filters[${index}]`;
    const dir = file_(raw, field);
    if (!isFilterDir(dir))
      fail(
        field,
        `${dir} holds no filter.json`,
        "give the folder of a filter (the one with its filter.json; `graft new <name> --dir <parent>` makes one)",
      );
    let filter: FilterInfo;
    try {
      filter = filterFromDir(dir);
    } catch (error) {
      return fail(field, (error as Error).message, "fix the filter's contract (filters/README.md)");
    }
    const earlier = filters.findIndex((other) => other.name === filter.name);
    if (earlier >= 0)
      fail(
        field,
        `${dir} is a filter named "${filter.name}", and so is filters[${earlier}] (${filters[earlier]!.dir})`,
        "list one filter per name",
      );
    const shadowed = builtIn.get(filter.name);
    if (shadowed)
      fail(
        field,
        `${dir} is a filter named "${filter.name}", and so is graft's own ${shadowed.dir}`,
        "give your filter another name (its folder and the name in its filter.json)",
      );
    filters.push(filter);
  }

  const keyFile = file_(top.key, "key");
  let key: SigningKey;
  try {
    key = await loadSigningKey(keyFile);
  } catch (error) {
    return fail(
      "key",
      (error as Error).message,
      "give the agent's private key (graft keygen --name <agent>)",
    );
  }
  return {
    source: file,
    name,
    labels: labels as Record<string, string>,
    listen,
    envoy: {
      admin: admin.replace(/\/$/, ""),
      ecdsDir: file_(envoyRaw.ecdsDir, "envoy.ecdsDir"),
      slots: slots as string[],
      ...(envoyRaw.logPath !== undefined ? { logPath: file_(envoyRaw.logPath, "envoy.logPath") } : {}),
    },
    moduleStore: file_(top.moduleStore, "moduleStore"),
    moduleStoreMode: storeMode,
    stateDir: file_(top.stateDir, "stateDir"),
    key,
    trustRoot: { keys: rootKeys, threshold: threshold as number },
    policyFile: file_(top.policy, "policy"),
    auditLog: file_(top.auditLog, "auditLog"),
    callers,
    enforceIntervalMs: interval as number,
    filters,
  };
}
