// SPDX-License-Identifier: Apache-2.0
import { findFilter } from "../../filters/catalog.ts";
import { GraftError } from "../../sign/errors.ts";
import type { TrustPolicy } from "../../sign/policy.ts";
import { verifyArtifact } from "../../sign/verify.ts";
import { ENVELOPE_ANNOTATION } from "../istio/wasmplugin.ts";
import type { ModuleSource } from "./module-source.ts";

/** The parts of a Kubernetes AdmissionReview (admission.k8s.io/v1) the webhook reads and writes. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewReply {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: AdmissionResponse;
}

export interface ReviewContext {
  policy: TrustPolicy;
  modules: ModuleSource;
  now?: () => Date;
}

interface WasmPluginObject {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    url?: string;
    sha256?: string;
    pluginName?: string;
    pluginConfig?: unknown;
    selector?: { matchLabels?: Record<string, string> };
  };
}

class Denial extends Error {}

function deny(message: string): never {
  throw new Denial(message);
}

/**
 * Decides one AdmissionReview for a WasmPlugin. Admitted only when the envelope in the
 * `graft.dev/envelope` annotation verifies under the trust policy (keys, revocations, approvals, TTL)
 * for the module spec.url + spec.sha256 really serve (fetched, see ModuleSource), for spec.pluginConfig
 * exactly, and for the filter spec.pluginName runs. Target labels for the policy are
 * spec.selector.matchLabels. DELETE is always allowed (removing a filter must never be blocked).
 * Anything unexpected denies: this webhook fails closed.
 */
export async function reviewAdmission(
  review: unknown,
  context: ReviewContext,
): Promise<AdmissionReviewReply> {
  const request = (review as { request?: Record<string, unknown> } | null)?.request;
  const uid = typeof request?.uid === "string" ? request.uid : "";
  const reply = (response: Omit<AdmissionResponse, "uid">): AdmissionReviewReply => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid, ...response },
  });
  try {
    const reviewKind = review as { apiVersion?: unknown; kind?: unknown };
    if (
      reviewKind.apiVersion !== "admission.k8s.io/v1" ||
      reviewKind.kind !== "AdmissionReview" ||
      !request ||
      uid === ""
    )
      deny(
        "the request is not an admission.k8s.io/v1 AdmissionReview with a request.uid (set admissionReviewVersions: [v1])",
      );
    if (request.operation === "DELETE") return reply({ allowed: true });
    const kind = request.kind as { group?: string; kind?: string } | undefined;
    if (kind?.group !== "extensions.istio.io" || kind.kind !== "WasmPlugin")
      deny(
        `graft admission reviews extensions.istio.io WasmPlugins, not ${kind?.group ?? "?"}/${kind?.kind ?? "?"}: fix the webhook's rules`,
      );
    const plugin = request.object as WasmPluginObject | undefined;
    const name = `WasmPlugin ${plugin?.metadata?.namespace ?? request.namespace ?? ""}/${plugin?.metadata?.name ?? request.name ?? ""}`;
    const spec = plugin?.spec;
    if (!spec) deny(`${name}: no spec`);
    const envelope = plugin?.metadata?.annotations?.[ENVELOPE_ANNOTATION];
    if (envelope === undefined)
      deny(
        `${name}: no graft envelope; add the annotation ${ENVELOPE_ANNOTATION} (graft istio --envelope writes it)`,
      );
    if (typeof spec.url !== "string" || spec.url === "") deny(`${name}: spec.url is missing`);
    if (typeof spec.sha256 !== "string" || !/^[a-f0-9]{64}$/.test(spec.sha256))
      deny(
        `${name}: spec.sha256 must pin the module (the image manifest digest for oci://, the module's sha256 for https://); graft push prints it`,
      );
    const module = await context.modules.fetch(spec.url, spec.sha256);
    const targetLabels = spec.selector?.matchLabels ?? {};
    const verified = verifyArtifact({
      envelope,
      wasmBytes: module,
      configuration: spec.pluginConfig ?? {},
      policy: context.policy,
      targetLabels,
      now: context.now?.() ?? new Date(),
    });
    const filter = verified.predicate.filter;
    const rootId = rootIdFor(filter);
    if (spec.pluginName !== rootId)
      deny(
        `${name}: spec.pluginName is ${JSON.stringify(spec.pluginName)}, but the envelope approves filter ${filter}, whose root id is ${rootId}`,
      );
    return reply({
      allowed: true,
      auditAnnotations: {
        "graft.dev/injection": verified.predicate.injectionId,
        "graft.dev/signers": verified.signers.map((signer) => signer.name ?? signer.keyId).join(","),
      },
    });
  } catch (error) {
    const message =
      error instanceof Denial
        ? error.message
        : error instanceof GraftError
          ? `${error.code}: ${error.message}`
          : `internal error: ${(error as Error).message}`;
    return reply({
      allowed: false,
      status: { code: 403, reason: "Forbidden", message: `graft: ${message}` },
    });
  }
}

/** The filter's root id from its contract when this checkout knows the filter, else its name. */
function rootIdFor(filter: string): string {
  try {
    return findFilter(filter).rootId;
  } catch {
    return filter;
  }
}
