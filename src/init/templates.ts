/**
 * `graft init`'s starter files, with comments that say what each field does. The bootstrap comes
 * from src/envoy/bootstrap.ts (slots from src/inject/slot.ts, stats tags from src/metrics/tags.ts),
 * so a starter Envoy is configured exactly like the ones graft starts itself; the filter
 * configurations come from the filters' own folders (their contract's configuration.starter).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { bootstrapYaml } from "../envoy/bootstrap.ts";
import { listFilters, type FilterInfo } from "../filters/catalog.ts";
import { slotHttpFilter } from "../inject/slot.ts";
import { projectRoot } from "../util/paths.ts";

export interface StarterFleet {
  /** Absolute folder the files go to; the bootstraps name their slot files by absolute path. */
  dir: string;
  slot: string;
  /** Admin port of the first Envoy; the others count up from it. */
  adminPort: number;
  /** Listener port of the first Envoy; the others count up from it. */
  port: number;
  upstream: { host: string; port: number };
  /** Names of the Envoys: the first is the canary, the rest the baseline. */
  envoys: string[];
  keyName: string;
}

export interface StarterFile {
  name: string;
  text: string;
}

const ecdsDirOf = (fleet: StarterFleet, envoy: string) => path.join(fleet.dir, "ecds", envoy);

/** A trust policy trusting one key for every filter; valid as soon as the key exists. */
export function starterPolicy(key: { name: string; keyId?: string; publicKeyPath: string }): string {
  return [
    "# graft trust policy (schema: src/sign/policy.schema.json). graft verify, inject and rollout",
    "# accept an artifact only when keys listed here signed it, within maxTtl.",
    "version: 1",
    "maxTtl: 24h            # the longest TTL (expires - created) a signature may ask for",
    "clockSkew: 1m          # how far a signature's creation time may lie in the future",
    "keys:",
    `  - name: ${key.name}           # shown in messages and audit records`,
    ...(key.keyId ? [`    id: ${key.keyId}   # checked against the key file`] : []),
    `    publicKeyPath: ${key.publicKeyPath}   # relative to this file (or publicKey: | PEM)`,
    '    filters: ["*"]     # filter names or globs this key may approve, e.g. ["header-*"]',
    "    # targets: { tier: payments }     # only for targets carrying these labels",
    "    # notBefore: 2026-01-01T00:00:00Z # validity window (RFC 3339)",
    "revoked: []            # key ids that no longer count",
    'approvalRules: []      # e.g. [{ filters: ["*"], targets: { tier: payments }, approvals: 2 }]',
    "",
  ].join("\n");
}

export function starterTargets(fleet: StarterFleet): string {
  const lines = [
    "# graft targets file (schema: src/inject/targets.schema.json): the Envoys graft acts on.",
    "# Relative paths resolve against this file's folder. Commands pick targets with",
    "# --select key=value,key!=value on the labels; the rollout plan's canary/baseline too.",
    "targets:",
  ];
  fleet.envoys.forEach((envoy, index) => {
    lines.push(
      `  - name: ${envoy}`,
      `    admin: http://127.0.0.1:${fleet.adminPort + index}   # its admin API (keep it on loopback)`,
      `    ecdsDir: ecds/${envoy}            # the slot files this Envoy watches (its bootstrap names them)`,
      `    # moduleDir: modules               # where modules are stored (default <ecdsDir>/modules)`,
      `    slots: [${fleet.slot}]`,
      `    labels: { role: ${index === 0 ? "canary" : "baseline"} }`,
      `    # logPath: logs/${envoy}.log       # Envoy's --log-path: rejection reasons are quoted from it`,
    );
  });
  lines.push(
    "# Production: run `graft agent` beside each Envoy and give the agent instead of admin/ecdsDir:",
    "#  - name: payments-1",
    "#    agent: { url: http://10.0.0.12:7070, publicKeyPath: keys/payments-1.pub.pem }",
    "#    slots: [graft-slot-0]",
    "#    labels: { tier: payments }",
    "",
  );
  return lines.join("\n");
}

export function starterPlan(fleet: StarterFleet): string {
  return [
    "# graft rollout plan (schema: src/rollout/plan.schema.json; the judge: src/judge/README.md).",
    "# These values suit a first try on one machine, where a verdict comes in seconds; for",
    "# production, raise interval to 10s-30s and minDuration to 5m or more.",
    `slot: ${fleet.slot}          # the slot to canary into`,
    "listener: main              # the listener whose HTTP stats are judged (its stat_prefix)",
    "canary: role=canary         # label selector of the canary arm",
    "baseline: role=baseline     # label selector of the baseline arm (disjoint from the canary)",
    "# promote: tier=payments    # who gets it on PROMOTE (default: every target not in the canary)",
    "interval: 2s                # time between looks",
    "minDuration: 10s            # PROMOTE never comes earlier",
    "maxDuration: 90s            # no verdict by then: INCONCLUSIVE (auto: derived from the traffic)",
    "onTimeout: rollback         # INCONCLUSIVE takes the canary out (or hold: leave it in)",
    "minRequests: 1000           # canary requests before any PROMOTE",
    "burstWindow: 6s             # bursts shorter than this count as one unit of evidence",
    "alpha: 0.05                 # false-rollback budget",
    "signals:                    # what counts as harm: canary rate > maxRatio x baseline, above floorRate",
    "  - { name: 5xx, maxRatio: 1.5, floorRate: 0.005 }",
    "  - { name: slow, thresholdMs: 100, maxRatio: 1.5, floorRate: 0.03 }  # thresholdMs: a latency bucket bound",
    "  # - { name: filter_rejections, maxRatio: 1.25, floorRate: 0.002 }  # the filter's own bad events",
    "# crashLoop: { maxFailures: 3, windowMinutes: 5 }   # VM failures on the canary",
    "# burnRate: [{ signal: 5xx, slo: 0.999, maxBurn: 3 }]",
    "# metrics: { source: prometheus, url: http://127.0.0.1:9090 }  # read counters from Prometheus, not admin APIs",
    "",
  ].join("\n");
}

/**
 * A filter's starter configuration (`<name>.yaml`), the first release to sign and inject: the file its
 * contract names as configuration.starter, under a header naming the schema. None when it names none.
 */
export function starterFilterConfig(filter: FilterInfo): StarterFile | undefined {
  const starter = filter.contract.configuration.starter;
  if (starter === undefined) return undefined;
  const file = path.join(filter.dir, filter.contract.configuration.schema);
  const schema = file.startsWith(projectRoot + path.sep) ? path.relative(projectRoot, file) : file;
  return {
    name: `${filter.name}.yaml`,
    text: [
      `# ${filter.name} configuration (schema: ${schema}).`,
      "# graft sign approves exactly this content; inject and rollout must be given the same file.",
      readFileSync(path.join(filter.dir, starter), "utf8").trimEnd(),
      "",
    ].join("\n"),
  };
}

export function starterBootstrap(fleet: StarterFleet, envoy: string, index: number): string {
  const body = bootstrapYaml({
    nodeId: envoy,
    adminPort: fleet.adminPort + index,
    listeners: [
      {
        name: "main",
        port: fleet.port + index,
        httpFilters: [slotHttpFilter(fleet.slot, ecdsDirOf(fleet, envoy))],
      },
    ],
    upstream: fleet.upstream,
  });
  return [
    `# Envoy bootstrap for ${envoy}: envoy -c ${path.basename(bootstrapFile(envoy))} --base-id ${index + 1}`,
    "# What graft needs here, besides your own listeners and clusters:",
    "#  - node: ECDS (the slot files) is refused without one;",
    "#  - stats_config.stats_tags: filter metrics become graft_<name>{filter,injection,…} in",
    "#    /stats/prometheus instead of one metric name per injection;",
    `#  - in http_filters, before the router: the slot ${fleet.slot}, read from its slot file.`,
    "# The admin API stays on 127.0.0.1: graft reads it, and nobody else should.",
    yaml.dump(yaml.load(body), { noRefs: true, lineWidth: -1 }).trimEnd(),
    "",
  ].join("\n");
}

export function bootstrapFile(envoy: string): string {
  return `envoy-${envoy}.yaml`;
}

/**
 * The configuration of the `graft agent` beside one Envoy (production mode): the same Envoy as the
 * targets file's entry, its own key, the trust root that signs policies, and the control plane's
 * caller key. Paths are relative to the file.
 */
export function starterAgent(fleet: StarterFleet, envoy: string, index: number): string {
  return [
    `# graft agent configuration for ${envoy}: graft agent --config agent-${envoy}.yaml (src/agent/README.md).`,
    "# The agent becomes the only writer of this Envoy's slots and verifies every change itself. Before",
    "# starting it, make its keys in this folder:",
    `#   graft keygen --out keys --name agent-${envoy}   # the agent's own key (pin its .pub.pem in targets.yaml)`,
    "#   graft keygen --out keys --name root-a           # the trust root that signs policies",
    "#   graft keygen --out keys --name ctl              # the control plane's caller key",
    "#   graft policy sign trust.yaml --key keys/root-a.key.pem --out policy.dsse.json   (trust.yaml needs serial: 1)",
    "# Relative paths resolve against this file's folder. Unknown fields are errors.",
    `name: ${envoy}                      # = its name in targets.yaml`,
    `labels: { role: ${index === 0 ? "canary" : "baseline"} }          # approval rules and key scopes are checked against these, not the caller's`,
    `listen: 127.0.0.1:${7070 + index}             # the signed API the control plane calls`,
    "envoy:",
    `  admin: http://127.0.0.1:${fleet.adminPort + index}`,
    `  ecdsDir: ecds/${envoy}            # the agent is the only writer of these slot files`,
    `  slots: [${fleet.slot}]`,
    `moduleStore: agents/${envoy}/modules   # 0700, content-addressed: Envoy reads modules from here`,
    `stateDir: agents/${envoy}/state        # 0700: verified history, policy, operation ids`,
    `key: keys/agent-${envoy}.key.pem        # signs its answers, audit records and checkpoints`,
    "trustRoot:",
    "  threshold: 1                   # root signatures a policy needs",
    "  keys: [{ name: root-a, publicKeyPath: keys/root-a.pub.pem }]",
    "policy: policy.dsse.json         # the signed policy it starts from (newer serials arrive by API)",
    `auditLog: agents/${envoy}/audit.log`,
    "callers:                         # who may call the API; the name is the audit actor",
    "  - { name: ctl, publicKeyPath: keys/ctl.pub.pem }",
    "enforceInterval: 1s              # TTLs, re-verification and drift repair",
    "# filters: [../my-filters/block-admin]   # filter folders of your own it may run, beside graft's filters/",
    "",
  ].join("\n");
}

/** Every starter file of a fleet, by name relative to its folder. */
export function starterFiles(fleet: StarterFleet): StarterFile[] {
  return [
    { name: "targets.yaml", text: starterTargets(fleet) },
    {
      name: "trust.yaml",
      text:
        `# Valid once the key exists: run graft keygen --out keys --name ${fleet.keyName} in this folder.\n` +
        starterPolicy({ name: fleet.keyName, publicKeyPath: `keys/${fleet.keyName}.pub.pem` }),
    },
    { name: "plan.yaml", text: starterPlan(fleet) },
    // One per filter of filters/ whose contract declares a starter configuration.
    ...listFilters().flatMap((filter) => starterFilterConfig(filter) ?? []),
    ...fleet.envoys.map((envoy, index) => ({
      name: bootstrapFile(envoy),
      text: starterBootstrap(fleet, envoy, index),
    })),
    ...fleet.envoys.map((envoy, index) => ({
      name: `agent-${envoy}.yaml`,
      text: starterAgent(fleet, envoy, index),
    })),
  ];
}

export { ecdsDirOf };
