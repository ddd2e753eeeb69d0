// SPDX-License-Identifier: Apache-2.0
import { canonicalSha256 } from "../../sign/canonical-json.ts";
import { peekStatement } from "../../sign/sign.ts";
import { sha256Hex } from "../../sign/statement.ts";
import { MeshError } from "../errors.ts";
import { descriptorOf } from "./digest.ts";
import { ANNOTATION_MODULE_SHA256, OCI_MANIFEST } from "./media-types.ts";
import { formatImageReference, type ImageReference } from "./reference.ts";
import { addToFallbackIndex } from "./referrers.ts";
import type { RegistryClient } from "./registry-client.ts";
import { buildSignatureManifest, EMPTY_CONFIG } from "./signature-manifest.ts";
import { buildCompatImage } from "./wasm-image.ts";

export interface PushInput {
  client: RegistryClient;
  reference: ImageReference;
  wasm: Uint8Array;
  /** The DSSE envelope (JSON text) to attach, with the configuration it approves. */
  signature?: { envelopeJson: string; configuration: unknown };
}

export interface PushResult {
  /** `sha256:<hex>` of the module image manifest: WasmPlugin.sha256 is its hex. */
  manifestDigest: string;
  moduleSha256: string;
  /** `oci://host/repo@sha256:…`, the pinned URL to give Istio. */
  pinnedUrl: string;
  signatureDigest: string | null;
  /** How the signature is listed: the registry's referrers API, or the fallback tag. */
  referrersVia: "api" | "tag-schema" | null;
}

/**
 * Pushes a module as a compat Wasm image (blobs, then the manifest at the reference's tag or digest) and,
 * when given, attaches its signature as a referrer. The signature is checked against the module and the
 * configuration first (without a trust policy: pushing is not approving), so a registry never holds a
 * signature that cannot match its image.
 */
export async function pushWasmImage(input: PushInput): Promise<PushResult> {
  const { client, reference } = input;
  const moduleSha256 = sha256Hex(input.wasm);
  const statement = input.signature ? checkSignatureMatches(input.signature, moduleSha256) : null;
  const image = buildCompatImage(input.wasm, { [ANNOTATION_MODULE_SHA256]: moduleSha256 });
  if (reference.digest !== undefined && reference.digest !== image.manifestDigest) {
    throw new MeshError(
      "INVALID_INPUT",
      `${formatImageReference(reference)}: this module's image has digest ${image.manifestDigest}; drop the @digest or use that one`,
    );
  }
  const { repository } = reference;
  await client.pushBlob(repository, image.layer);
  await client.pushBlob(repository, image.config);
  await client.putManifest(repository, reference.tag ?? image.manifestDigest, OCI_MANIFEST, image.manifest);
  const pinnedUrl = `oci://${formatImageReference({ registry: reference.registry, repository, digest: image.manifestDigest })}`;
  if (!input.signature || !statement)
    return {
      manifestDigest: image.manifestDigest,
      moduleSha256,
      pinnedUrl,
      signatureDigest: null,
      referrersVia: null,
    };

  const subject = descriptorOf(OCI_MANIFEST, image.manifest);
  const signature = buildSignatureManifest(
    subject,
    input.signature.envelopeJson,
    input.signature.configuration,
    statement,
  );
  await client.pushBlob(repository, EMPTY_CONFIG);
  await client.pushBlob(repository, signature.envelope);
  await client.pushBlob(repository, signature.configuration);
  const put = await client.putManifest(
    repository,
    signature.descriptor.digest,
    OCI_MANIFEST,
    signature.manifest,
  );
  // A registry that handles `subject` says so with OCI-Subject; any other needs the fallback tag.
  if (!put.subjectAccepted)
    await addToFallbackIndex(client, repository, image.manifestDigest, signature.descriptor);
  return {
    manifestDigest: image.manifestDigest,
    moduleSha256,
    pinnedUrl,
    signatureDigest: signature.descriptor.digest,
    referrersVia: put.subjectAccepted ? "api" : "tag-schema",
  };
}

function checkSignatureMatches(
  signature: { envelopeJson: string; configuration: unknown },
  moduleSha256: string,
) {
  let statement;
  try {
    statement = peekStatement(JSON.parse(signature.envelopeJson) as unknown);
  } catch (error) {
    throw new MeshError("INVALID_INPUT", `--envelope: not a graft envelope (${(error as Error).message})`);
  }
  const subject = statement.subject[0].digest.sha256;
  if (subject !== moduleSha256)
    throw new MeshError(
      "INVALID_INPUT",
      `--envelope signs module sha256 ${subject}, but the module is ${moduleSha256}: push the module that was signed`,
    );
  const configSha256 = canonicalSha256(signature.configuration);
  if (configSha256 !== statement.predicate.configSha256)
    throw new MeshError(
      "INVALID_INPUT",
      `--config hashes to ${configSha256}, but the envelope approves configSha256 ${statement.predicate.configSha256}: give the configuration that was signed`,
    );
  return statement;
}
