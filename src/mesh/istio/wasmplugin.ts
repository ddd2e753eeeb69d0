// SPDX-License-Identifier: Apache-2.0
import { canonicalSha256 } from "../../sign/canonical-json.ts";
import { peekStatement } from "../../sign/sign.ts";
import type { InjectionStatement } from "../../sign/statement.ts";
import type { FilterInfo } from "../../filters/catalog.ts";
import { validateFilterConfig } from "../../filters/config-schema.ts";
import { MeshError } from "../errors.ts";
import { checkLabel, checkObjectName } from "../kubernetes/names.ts";
import { normalizePluginUrl, resolveSha256 } from "./plugin-url.ts";

export const WASMPLUGIN_API_VERSION = "extensions.istio.io/v1alpha1";
/** The annotation carrying the DSSE envelope that graft's admission webhook checks. */
export const ENVELOPE_ANNOTATION = "graft.dev/envelope";
export const FILTER_LABEL = "graft.dev/filter";
export const INJECTION_LABEL = "graft.dev/injection";

export const PHASES = ["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"] as const;
export const FAIL_STRATEGIES = ["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"] as const;
export const PULL_POLICIES = ["IfNotPresent", "Always"] as const;
export type Phase = (typeof PHASES)[number];
export type FailStrategy = (typeof FAIL_STRATEGIES)[number];
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** A Gateway API style reference (WasmPlugin.targetRefs[]): Gateway, GatewayClass, Service, ServiceEntry. */
export interface TargetRef {
  group?: string;
  kind: string;
  name: string;
}

export interface WasmPluginInput {
  filter: FilterInfo;
  /** metadata.name; default the filter's name. */
  name?: string;
  namespace?: string;
  url: string;
  sha256?: string;
  /** The filter configuration (pluginConfig); checked against the filter's JSON Schema. */
  configuration: unknown;
  /** Where the configuration came from, for errors (e.g. the --config file). */
  configurationSource: string;
  phase?: Phase;
  priority?: number;
  /** Default FAIL_CLOSE, written out: Envoy's and Istio's defaults disagree across versions. */
  failStrategy?: FailStrategy;
  selector?: Record<string, string>;
  targetRefs?: TargetRef[];
  imagePullPolicy?: PullPolicy;
  imagePullSecret?: string;
  /** The signed envelope (JSON text) approving this module and configuration; goes into an annotation. */
  envelopeJson?: string;
}

export interface WasmPlugin {
  apiVersion: typeof WASMPLUGIN_API_VERSION;
  kind: "WasmPlugin";
  metadata: {
    name: string;
    namespace?: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
}

/** The injection id a configuration names (the `injection` tag of its metrics), or "static". */
export function injectionIdOf(configuration: unknown): string {
  const id = (configuration as { injection_id?: unknown } | null)?.injection_id;
  return typeof id === "string" ? id : "static";
}

/**
 * An `extensions.istio.io/v1alpha1` WasmPlugin for one filter: pluginName = the filter's root id,
 * pluginConfig = the configuration after the filter's own schema accepted it, and the module by URL and
 * sha256. Every refusal names the flag and the fix; the CRD's own rules (one of selector/targetRefs, sha256
 * format, URL scheme) are enforced here so `kubectl apply` never sees an object the API server refuses.
 */
export function renderWasmPlugin(input: WasmPluginInput): WasmPlugin {
  const { filter } = input;
  const name = checkObjectName(input.name ?? filter.name, "--name");
  if (input.namespace !== undefined) checkObjectName(input.namespace, "--namespace");
  const url = normalizePluginUrl(input.url);
  const sha256 = resolveSha256(url, input.sha256);
  const configuration = input.configuration;
  if (configuration === null || typeof configuration !== "object" || Array.isArray(configuration))
    throw new MeshError(
      "INVALID_INPUT",
      `${input.configurationSource}: pluginConfig must be a JSON object (the WasmPlugin CRD types it as object)`,
    );
  validateFilterConfig(filter, configuration, input.configurationSource);

  if (input.selector !== undefined && input.targetRefs !== undefined && input.targetRefs.length > 0)
    throw new MeshError(
      "INVALID_INPUT",
      "--selector and --target-ref: a WasmPlugin takes one or the other (only one of targetRefs or selector can be set); keep one",
    );
  for (const [key, value] of Object.entries(input.selector ?? {})) checkLabel(key, value, "--selector");
  if ((input.targetRefs?.length ?? 0) > 16)
    throw new MeshError("INVALID_INPUT", "--target-ref: at most 16 (the CRD's maxItems)");
  if (
    input.priority !== undefined &&
    (!Number.isInteger(input.priority) || Math.abs(input.priority) > 2 ** 31 - 1)
  )
    throw new MeshError("INVALID_INPUT", `--priority ${input.priority}: want an int32`);
  if (input.imagePullSecret !== undefined) checkObjectName(input.imagePullSecret, "--image-pull-secret");
  if ((input.imagePullSecret !== undefined || input.imagePullPolicy !== undefined) && url.scheme === "file")
    throw new MeshError(
      "INVALID_INPUT",
      "--image-pull-policy/--image-pull-secret apply to oci:// and http(s):// modules, not file://",
    );

  const injection = injectionIdOf(configuration);
  const annotations: Record<string, string> = {};
  if (input.envelopeJson !== undefined) {
    const statement = checkEnvelope(
      input.envelopeJson,
      filter,
      configuration,
      url.scheme === "oci" ? undefined : sha256,
    );
    annotations[ENVELOPE_ANNOTATION] = JSON.stringify(JSON.parse(input.envelopeJson));
    if (statement.predicate.injectionId !== injection && injection !== "static") {
      // Both are fine for Istio; the metric tag comes from the configuration, the audit trail from the
      // statement. Different values make dashboards and audit logs disagree, so refuse.
      throw new MeshError(
        "INVALID_INPUT",
        `--envelope approves injection ${statement.predicate.injectionId}, but the configuration's injection_id is ${injection}: sign with --injection-id ${injection} or set injection_id to ${statement.predicate.injectionId}`,
      );
    }
  }

  const spec: Record<string, unknown> = {};
  if (input.selector !== undefined) spec.selector = { matchLabels: { ...input.selector } };
  if (input.targetRefs !== undefined && input.targetRefs.length > 0)
    spec.targetRefs = input.targetRefs.map((ref) => ({
      ...(ref.group !== undefined ? { group: ref.group } : {}),
      kind: ref.kind,
      name: ref.name,
    }));
  spec.url = url.url;
  if (sha256 !== undefined) spec.sha256 = sha256;
  if (url.scheme !== "file") spec.imagePullPolicy = input.imagePullPolicy ?? "IfNotPresent";
  if (input.imagePullSecret !== undefined) spec.imagePullSecret = input.imagePullSecret;
  spec.pluginName = filter.rootId;
  spec.pluginConfig = structuredClone(configuration); // the object must not alias the caller's
  if (input.phase !== undefined) spec.phase = input.phase;
  if (input.priority !== undefined) spec.priority = input.priority;
  spec.failStrategy = input.failStrategy ?? "FAIL_CLOSE";
  spec.type = "HTTP";

  return {
    apiVersion: WASMPLUGIN_API_VERSION,
    kind: "WasmPlugin",
    metadata: {
      name,
      ...(input.namespace !== undefined ? { namespace: input.namespace } : {}),
      labels: {
        "app.kubernetes.io/managed-by": "graft",
        [FILTER_LABEL]: filter.name,
        [INJECTION_LABEL]: injection,
      },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec,
  };
}

/**
 * The envelope must be about this filter and this configuration (and, for http/file modules, this
 * sha256). Trust is not decided here (no policy): the admission webhook and `graft verify` do that.
 */
function checkEnvelope(
  envelopeJson: string,
  filter: FilterInfo,
  configuration: unknown,
  moduleSha256: string | undefined,
): InjectionStatement {
  let statement: InjectionStatement;
  try {
    statement = peekStatement(JSON.parse(envelopeJson) as unknown);
  } catch (error) {
    throw new MeshError("INVALID_INPUT", `--envelope: not a graft envelope (${(error as Error).message})`);
  }
  if (statement.predicate.filter !== filter.name)
    throw new MeshError(
      "INVALID_INPUT",
      `--envelope approves filter ${statement.predicate.filter}, not ${filter.name}`,
    );
  const configSha256 = canonicalSha256(configuration);
  if (configSha256 !== statement.predicate.configSha256)
    throw new MeshError(
      "INVALID_INPUT",
      `--config hashes to ${configSha256}, but --envelope approves configSha256 ${statement.predicate.configSha256}: render the configuration that was signed`,
    );
  const subject = statement.subject[0].digest.sha256;
  if (moduleSha256 !== undefined && moduleSha256 !== subject)
    throw new MeshError(
      "INVALID_INPUT",
      `--sha256 ${moduleSha256} is not the module --envelope signs (${subject})`,
    );
  return statement;
}
