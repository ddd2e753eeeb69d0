// SPDX-License-Identifier: Apache-2.0
/**
 * `graft rollout` on Istio: the release moves through a WasmPlugin pair, `<plugin>-stable` selecting the
 * baseline's workloads and `<plugin>-canary` the canary's (the plan's selectors, as workload labels).
 * The canary step puts the signed release on the canary plugin; PROMOTE puts it on the stable plugin;
 * ROLLBACK restores the canary plugin as it was before the rollout (or deletes it if there was none).
 * Every write is checked first (signature, policy for the arm's labels, TTL, configuration schema, the
 * module behind the URL) and carries the envelope for graft's admission webhook; every write is audited.
 */
import { appendAuditRecord } from "../../audit/log.ts";
import type { FilterInfo } from "../../filters/catalog.ts";
import type { AuditContext, FleetReport } from "../../inject/fleet.ts";
import { selectorTerms } from "../../inject/target.ts";
import type { CanaryEngine, CanaryInjection } from "../../rollout/engine.ts";
import type { IstioEngineSettings } from "../../rollout/plan.ts";
import { RolloutError, type RolloutArtifact } from "../../rollout/rollout.ts";
import { sha256Hex } from "../../sign/statement.ts";
import { verifyArtifact, type VerifiedArtifact } from "../../sign/verify.ts";
import {
  KubernetesError,
  objectPath,
  statusMessage,
  type KubeApi,
  type KubeObject,
} from "../kubernetes/client.ts";
import { checkLabel, checkObjectName } from "../kubernetes/names.ts";
import { parseImageReference } from "../oci/reference.ts";
import { RegistryClient, type RegistryCredentials } from "../oci/registry-client.ts";
import {
  MANIFEST_MEDIA_TYPES,
  moduleFromLayer,
  moduleLayerOf,
  parseImageManifest,
} from "../oci/wasm-image.ts";
import { normalizePluginUrl, resolveSha256 } from "./plugin-url.ts";
import { FILTER_LABEL, WASMPLUGIN_API_VERSION, renderWasmPlugin, type WasmPlugin } from "./wasmplugin.ts";

/**
 * The workload labels of an arm: the engine's selector plus the plan's arm selector, which must be
 * `key=value` terms only (a WasmPlugin selects by matchLabels).
 */
function armLabels(
  settings: Pick<IstioEngineSettings, "selector">,
  armSelector: string,
  field: string,
): Record<string, string> {
  const labels: Record<string, string> = { ...settings.selector };
  // The same syntax errors as a targets-file rollout's selectors.
  for (const { key, negate, value } of selectorTerms(armSelector)) {
    if (negate)
      throw new RolloutError(
        `${field}: "${armSelector}": the istio engine selects workloads by WasmPlugin matchLabels, which has no !=; write key=value terms`,
      );
    checkLabel(key, value, field);
    if (key in settings.selector && settings.selector[key] !== value)
      throw new RolloutError(
        `${field}: ${key}=${value} contradicts engine.selector ${key}=${settings.selector[key]}; the arm's labels are added to the selector`,
      );
    labels[key] = value;
  }
  return labels;
}

/** Each arm's workload labels: what its plugin selects and how Prometheus finds its sidecars. */
export interface IstioArms {
  canary: Record<string, string>;
  baseline: Record<string, string>;
}

/** The arms of the plan's `canary` and `baseline` selectors; they must select disjoint workloads. */
export function istioArms(
  settings: Pick<IstioEngineSettings, "selector">,
  canarySelector: string,
  baselineSelector: string,
): IstioArms {
  const arms = {
    canary: armLabels(settings, canarySelector, "canary"),
    baseline: armLabels(settings, baselineSelector, "baseline"),
  };
  checkDisjoint(arms.canary, arms.baseline);
  return arms;
}

/** The canary and baseline select disjoint workloads: some label they both set differs. */
function checkDisjoint(canary: Record<string, string>, baseline: Record<string, string>): void {
  const differs = Object.keys(canary).some((key) => key in baseline && baseline[key] !== canary[key]);
  if (!differs)
    throw new RolloutError(
      `canary (${formatLabels(canary)}) and baseline (${formatLabels(baseline)}) could select the same workloads, ` +
        "which would then run both plugins; give both one label with different values, e.g. canary: track=canary, baseline: track=stable",
    );
}

export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

export interface IstioEngineInput {
  api: KubeApi;
  settings: IstioEngineSettings;
  arms: IstioArms;
  artifact: RolloutArtifact & { filter: FilterInfo };
  /** Where Istio fetches the module: oci:// (default), https:// or file://. */
  url: string;
  sha256?: string;
  registryCredentials?: RegistryCredentials;
  audit: AuditContext;
  now?: () => Date;
}

/**
 * WasmPlugin.sha256 for the signed module at `url`, after checking that the URL serves that module:
 * for oci:// the image's module layer must be the signed bytes, and the pin is the manifest digest
 * (what Istio compares); for http(s)/file the pin is the module's own sha256, so Istio refuses
 * anything else it might fetch there.
 */
export async function pinnedModuleSha256(
  url: string,
  module: Uint8Array,
  given: string | undefined,
  credentials?: RegistryCredentials,
): Promise<{ url: string; sha256: string }> {
  const parsed = normalizePluginUrl(url);
  const pinned = resolveSha256(parsed, given);
  const moduleSha256 = sha256Hex(module);
  if (parsed.scheme !== "oci") {
    if (pinned !== undefined && pinned !== moduleSha256)
      throw new RolloutError(
        `--sha256 ${pinned} is not the signed module's sha256 (${moduleSha256}); leave --sha256 out for ${parsed.scheme} URLs`,
      );
    return { url: parsed.url, sha256: moduleSha256 };
  }
  const reference = parseImageReference(parsed.url, "--url");
  const client = new RegistryClient({
    registry: reference.registry,
    ...(credentials ? { credentials } : {}),
  });
  const where = parsed.url;
  const manifest = await client.getManifest(
    reference.repository,
    pinned !== undefined ? `sha256:${pinned}` : (reference.digest ?? reference.tag!),
    MANIFEST_MEDIA_TYPES,
  );
  if (manifest === null)
    throw new RolloutError(`${where}: no such image in the registry; push it first (graft push)`);
  const layer = moduleLayerOf(parseImageManifest(manifest.bytes, where), where);
  const served = moduleFromLayer(await client.getBlob(reference.repository, layer.digest), where);
  if (sha256Hex(served) !== moduleSha256)
    throw new RolloutError(
      `${where} (${manifest.digest}) holds module sha256:${sha256Hex(served)}, not the signed module sha256:${moduleSha256}; push the signed module`,
    );
  return { url: parsed.url, sha256: manifest.digest.slice("sha256:".length) };
}

interface Pair {
  stable: KubeObject | undefined;
  canary: KubeObject | undefined;
}

/** The object to write: `rendered`'s spec, labels and annotations on `current`'s identity (if any). */
function replacing(current: KubeObject | undefined, rendered: WasmPlugin): KubeObject {
  const metadata = (current?.metadata ?? {}) as KubeObject["metadata"] & {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  return {
    apiVersion: WASMPLUGIN_API_VERSION,
    kind: "WasmPlugin",
    metadata: {
      name: rendered.metadata.name,
      namespace: rendered.metadata.namespace!,
      ...(metadata.resourceVersion !== undefined ? { resourceVersion: metadata.resourceVersion } : {}),
      labels: { ...metadata.labels, ...rendered.metadata.labels },
      annotations: { ...metadata.annotations, ...rendered.metadata.annotations },
    },
    spec: rendered.spec,
  };
}

function selectorOf(object: KubeObject): Record<string, string> | undefined {
  return (object.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector
    ?.matchLabels;
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  if (a === undefined) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/**
 * Checks everything before the first write (the pair's selectors, the signature for the canary's
 * labels, the module behind the URL) and returns the engine.
 */
export async function istioEngine(input: IstioEngineInput): Promise<CanaryEngine> {
  const { api, settings, artifact, audit } = input;
  const filter = artifact.filter;
  const now = input.now ?? (() => new Date());
  checkObjectName(settings.namespace, "engine.namespace");
  checkObjectName(`${settings.plugin}-canary`, "engine.plugin");
  const { canary: canaryLabels, baseline: baselineLabels } = input.arms;
  const names = { stable: `${settings.plugin}-stable`, canary: `${settings.plugin}-canary` };
  const verify = (labels: Record<string, string>): VerifiedArtifact =>
    verifyArtifact({
      envelope: artifact.envelope,
      wasmBytes: artifact.module,
      configuration: artifact.configuration,
      policy: artifact.policy,
      targetLabels: labels,
      now: now(),
    });
  const verified = verify(canaryLabels);
  if (verified.predicate.filter !== filter.name)
    throw new RolloutError(
      `the envelope approves filter ${verified.predicate.filter}, but the filter given is ${filter.name}`,
    );
  const module = await pinnedModuleSha256(
    input.url,
    artifact.module,
    input.sha256,
    input.registryCredentials,
  );
  const envelopeJson =
    typeof artifact.envelope === "string" ? artifact.envelope : JSON.stringify(artifact.envelope);
  const render = (which: "stable" | "canary", labels: Record<string, string>): WasmPlugin => {
    const plugin = renderWasmPlugin({
      filter,
      name: names[which],
      namespace: settings.namespace,
      url: module.url,
      sha256: module.sha256,
      configuration: artifact.configuration,
      configurationSource: "--config",
      selector: labels,
      envelopeJson,
      ...(settings.phase !== undefined ? { phase: settings.phase } : {}),
      ...(settings.priority !== undefined ? { priority: settings.priority } : {}),
      ...(settings.failStrategy !== undefined ? { failStrategy: settings.failStrategy } : {}),
    });
    plugin.metadata.labels["graft.dev/track"] = which;
    return plugin;
  };
  const canaryPlugin = render("canary", canaryLabels);
  const identity = (name: string) => ({
    apiVersion: WASMPLUGIN_API_VERSION,
    kind: "WasmPlugin",
    metadata: { name, namespace: settings.namespace },
  });
  const read = async (): Promise<Pair> => ({
    stable: await api.get(identity(names.stable)),
    canary: await api.get(identity(names.canary)),
  });
  const before = await read();
  for (const [which, labels] of [
    ["stable", baselineLabels],
    ["canary", canaryLabels],
  ] as const) {
    const existing = before[which];
    if (!existing) continue;
    const labelsOf = (existing.metadata as { labels?: Record<string, string> }).labels ?? {};
    if (labelsOf[FILTER_LABEL] !== undefined && labelsOf[FILTER_LABEL] !== filter.name)
      throw new RolloutError(
        `WasmPlugin ${settings.namespace}/${names[which]} runs filter ${labelsOf[FILTER_LABEL]}, not ${filter.name}; choose another engine.plugin`,
      );
    if (!sameLabels(selectorOf(existing), labels))
      throw new RolloutError(
        `WasmPlugin ${settings.namespace}/${names[which]} selects ${formatLabels(selectorOf(existing) ?? {}) || "every workload"}, ` +
          `not the ${which === "stable" ? "baseline" : "canary"}'s workloads (${formatLabels(labels)}): the arms would overlap; ` +
          "set its selector to those labels (graft istio canary renders the pair) and run the rollout again",
      );
  }

  let canaryTouched = false;
  let canaryDone = false;
  const target = (name: string) => `${settings.namespace}/${name}`;

  /** Creates or replaces (optimistically, by resourceVersion) one plugin; returns the ms it took. */
  const write = async (object: KubeObject, exists: boolean): Promise<number> => {
    const started = performance.now();
    const response = exists ? await api.request("PUT", objectPath(object), object) : await api.create(object);
    if (response.status < 200 || response.status > 299)
      throw new KubernetesError(
        `${exists ? "replace" : "create"} WasmPlugin ${target(object.metadata.name)}: HTTP ${response.status}: ${statusMessage(response)}`,
      );
    return performance.now() - started;
  };
  const auditWrite = (
    action: "inject" | "rollback",
    name: string,
    outcome: "ok" | "failed",
    details: Record<string, unknown>,
    reason: string | null = null,
  ) =>
    appendAuditRecord(audit.auditLog, {
      action,
      outcome,
      actor: audit.actor,
      artifact: `sha256:${verified.moduleSha256}`,
      targets: [`WasmPlugin ${target(name)}`],
      reason,
      details: { engine: "istio", url: module.url, sha256: module.sha256, ...details },
    });
  const report = (action: "inject" | "rollback"): FleetReport => ({
    action,
    results: [],
    failures: [],
    expired: [],
  });
  const { predicate } = verified;

  /** Writes the release on one plugin of the pair, and records it in the action and the audit log. */
  const putRelease = async (
    action: FleetReport,
    which: "stable" | "canary",
    current: KubeObject | undefined,
    plugin: WasmPlugin,
    selector: Record<string, string>,
  ): Promise<void> => {
    const ms = await write(replacing(current, plugin), current !== undefined);
    action.results.push({
      target: settings.namespace,
      slot: names[which],
      outcome: "applied",
      version: predicate.version,
      injectionId: predicate.injectionId,
      ms,
    });
    await auditWrite("inject", names[which], "ok", {
      filter: filter.name,
      version: predicate.version,
      injectionId: predicate.injectionId,
      selector,
      signers: verified.signers.map((s) => s.keyId),
    });
  };
  /** Records a failed write of the release in the action and the audit log; returns its message. */
  const recordFailure = async (action: FleetReport, name: string, error: unknown): Promise<string> => {
    const message = (error as Error).message;
    action.failures.push({ target: settings.namespace, slot: name, error: message });
    await auditWrite("inject", name, "failed", { injectionId: predicate.injectionId }, message);
    return message;
  };

  return {
    through: "istio",
    description: `Istio WasmPlugins ${target(names.canary)} and ${target(names.stable)}`,
    canaryTouched: () => canaryTouched,
    canaryDone: () => canaryDone,
    async injectCanary(): Promise<CanaryInjection> {
      const action = report("inject");
      const current = await api.get(identity(names.canary));
      if (current?.metadata.resourceVersion !== before.canary?.metadata.resourceVersion)
        return {
          error: `WasmPlugin ${target(names.canary)} changed since the rollout read it; nothing was written, run the rollout again`,
        };
      try {
        canaryTouched = true; // from here on, the write may have landed even if it fails
        await putRelease(action, "canary", current, canaryPlugin, canaryLabels);
        canaryDone = true;
        return { action };
      } catch (error) {
        const message = await recordFailure(action, names.canary, error);
        if (error instanceof KubernetesError && /HTTP 4\d\d/.test(message)) canaryTouched = false; // refused: nothing landed
        return { action, error: `canary injection failed: ${message}` };
      }
    },
    async promote(): Promise<FleetReport> {
      const action = report("inject");
      try {
        verify(baselineLabels); // the policy may scope keys to labels the canary has and the baseline lacks
        const current = await api.get(identity(names.stable));
        await putRelease(action, "stable", current, render("stable", baselineLabels), baselineLabels);
      } catch (error) {
        await recordFailure(action, names.stable, error);
      }
      return action;
    },
    async rollback(): Promise<FleetReport> {
      const action = report("rollback");
      const started = performance.now();
      const previous = before.canary;
      try {
        if (previous) {
          const current = await api.get(identity(names.canary));
          const kept = previous.metadata as KubeObject["metadata"] & {
            labels?: Record<string, string>;
            annotations?: Record<string, string>;
          };
          const restored: KubeObject = {
            apiVersion: WASMPLUGIN_API_VERSION,
            kind: "WasmPlugin",
            metadata: {
              name: names.canary,
              namespace: settings.namespace,
              ...(current?.metadata.resourceVersion !== undefined
                ? { resourceVersion: current.metadata.resourceVersion }
                : {}),
              ...(kept.labels ? { labels: kept.labels } : {}),
              ...(kept.annotations ? { annotations: kept.annotations } : {}),
            },
            spec: previous.spec,
          };
          await write(restored, current !== undefined);
        } else {
          const response = await api.request("DELETE", objectPath(identity(names.canary)));
          if (response.status !== 200 && response.status !== 202 && response.status !== 404)
            throw new KubernetesError(
              `delete WasmPlugin ${target(names.canary)}: HTTP ${response.status}: ${statusMessage(response)}`,
            );
        }
        const restoredInjection = (previous?.metadata as { labels?: Record<string, string> } | undefined)
          ?.labels?.["graft.dev/injection"];
        action.results.push({
          target: settings.namespace,
          slot: names.canary,
          outcome: "applied",
          version: previous ? "previous" : "none",
          ...(restoredInjection !== undefined ? { injectionId: restoredInjection } : {}),
          ms: performance.now() - started,
        });
        canaryTouched = false;
        await auditWrite("rollback", names.canary, "ok", {
          removed: predicate.injectionId,
          restored: previous ? (restoredInjection ?? "previous spec") : "deleted (there was none)",
        });
      } catch (error) {
        const message = (error as Error).message;
        action.failures.push({ target: settings.namespace, slot: names.canary, error: message });
        await auditWrite("rollback", names.canary, "failed", { removed: predicate.injectionId }, message);
      }
      return action;
    },
  };
}
