// SPDX-License-Identifier: Apache-2.0
import { GraftVerifyError } from "../../sign/errors.ts";
import type { TrustPolicy } from "../../sign/policy.ts";
import { verifyArtifact, type VerifiedArtifact } from "../../sign/verify.ts";
import { MeshError } from "../errors.ts";
import type { Descriptor } from "./digest.ts";
import { DSSE_ENVELOPE, GRAFT_CONFIGURATION, GRAFT_SIGNATURE_ARTIFACT } from "./media-types.ts";
import { formatImageReference, type ImageReference } from "./reference.ts";
import { listReferrers } from "./referrers.ts";
import type { RegistryClient } from "./registry-client.ts";
import { MANIFEST_MEDIA_TYPES, moduleFromLayer, moduleLayerOf, parseImageManifest } from "./wasm-image.ts";

export interface PullInput {
  client: RegistryClient;
  reference: ImageReference;
  policy: TrustPolicy;
  /** The configuration to verify; default: the one attached beside the envelope. */
  configuration?: unknown;
  targetLabels?: Readonly<Record<string, string>>;
  now?: Date;
}

export interface PulledModule {
  wasm: Buffer;
  manifestDigest: string;
  envelopeJson: string;
  configuration: unknown;
  verified: VerifiedArtifact;
  signatureDigest: string;
}

/**
 * Fetches a module image and its graft signatures and returns the module only when one signature
 * verifies under the trust policy (verifyArtifact: keys, approvals, TTL, module, configuration). Nothing
 * is written here: the caller writes files after this returns, so a refused module never touches disk.
 * When several signatures are attached, the first that verifies wins; when none does, the refusal of
 * the newest (last listed) is reported, with how many were tried.
 */
export async function pullVerifiedModule(input: PullInput): Promise<PulledModule> {
  const { client, reference } = input;
  const where = formatImageReference(reference);
  const manifest = await client.getManifest(
    reference.repository,
    reference.digest ?? reference.tag!,
    MANIFEST_MEDIA_TYPES,
  );
  if (manifest === null) throw new MeshError("REGISTRY_ERROR", `${where}: no such image in the registry`);
  const image = parseImageManifest(manifest.bytes, where);
  const layer = moduleLayerOf(image, where);
  const wasm = moduleFromLayer(
    await client.getBlob(reference.repository, layer.digest),
    `${where} layer ${layer.digest}`,
  );

  const { manifests } = await listReferrers(client, reference.repository, manifest.digest);
  const signatures = manifests.filter((entry) => entry.artifactType === GRAFT_SIGNATURE_ARTIFACT);
  if (signatures.length === 0)
    throw new GraftVerifyError(
      "UNSIGNED",
      `${where}: no graft signature is attached to ${manifest.digest}; push it with graft push --envelope`,
    );

  let refusal: unknown = null;
  for (const descriptor of [...signatures].reverse()) {
    try {
      const attached = await readSignature(client, reference.repository, descriptor, manifest.digest);
      const configuration = input.configuration !== undefined ? input.configuration : attached.configuration;
      const verified = verifyArtifact({
        envelope: attached.envelopeJson,
        wasmBytes: wasm,
        configuration,
        policy: input.policy,
        ...(input.targetLabels ? { targetLabels: input.targetLabels } : {}),
        ...(input.now ? { now: input.now } : {}),
      });
      return {
        wasm,
        manifestDigest: manifest.digest,
        envelopeJson: attached.envelopeJson,
        configuration,
        verified,
        signatureDigest: descriptor.digest,
      };
    } catch (error) {
      refusal ??= error;
    }
  }
  if (refusal instanceof GraftVerifyError && signatures.length > 1)
    throw new GraftVerifyError(
      refusal.code,
      `${refusal.message} (none of the ${signatures.length} attached signatures verified)`,
      refusal.signatures,
    );
  throw refusal;
}

async function readSignature(
  client: RegistryClient,
  repository: string,
  descriptor: Descriptor,
  subjectDigest: string,
): Promise<{ envelopeJson: string; configuration: unknown }> {
  const where = `signature ${descriptor.digest}`;
  const fetched = await client.getManifest(repository, descriptor.digest, MANIFEST_MEDIA_TYPES);
  if (fetched === null)
    throw new MeshError("INVALID_IMAGE", `${where}: listed as a referrer but missing from the registry`);
  const manifest = parseImageManifest(fetched.bytes, where);
  if (manifest.subject?.digest !== subjectDigest)
    throw new MeshError(
      "INVALID_IMAGE",
      `${where}: its subject is ${manifest.subject?.digest ?? "missing"}, not ${subjectDigest}`,
    );
  const layerOf = (mediaType: string) => {
    const layer = manifest.layers.find((entry) => entry.mediaType === mediaType);
    if (!layer) throw new MeshError("INVALID_IMAGE", `${where}: no ${mediaType} layer`);
    return layer;
  };
  const envelope = await client.getBlob(repository, layerOf(DSSE_ENVELOPE).digest, 1024 * 1024);
  const configuration = await client.getBlob(
    repository,
    layerOf(GRAFT_CONFIGURATION).digest,
    4 * 1024 * 1024,
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(configuration.toString("utf8"));
  } catch {
    throw new MeshError("INVALID_IMAGE", `${where}: the configuration layer is not JSON`);
  }
  return { envelopeJson: envelope.toString("utf8"), configuration: parsed };
}
