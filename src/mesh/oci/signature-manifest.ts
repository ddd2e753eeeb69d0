// SPDX-License-Identifier: Apache-2.0
import { canonicalJson } from "../../sign/canonical-json.ts";
import type { InjectionStatement } from "../../sign/statement.ts";
import { descriptorOf, type Descriptor } from "./digest.ts";
import {
  ANNOTATION_FILTER,
  ANNOTATION_INJECTION,
  ANNOTATION_VERSION,
  DSSE_ENVELOPE,
  GRAFT_CONFIGURATION,
  GRAFT_SIGNATURE_ARTIFACT,
  OCI_EMPTY,
  OCI_MANIFEST,
} from "./media-types.ts";
import type { ImageManifest } from "./wasm-image.ts";

/** The OCI 1.1 empty blob `{}`: the config of an artifact that has none. */
export const EMPTY_CONFIG = Buffer.from("{}");

export interface BuiltSignature {
  envelope: Buffer;
  configuration: Buffer;
  manifest: Buffer;
  descriptor: Descriptor;
}

/**
 * The manifest that attaches a graft signature to a module image: an OCI artifact (artifactType
 * GRAFT_SIGNATURE_ARTIFACT) with `subject` = the module image, a layer holding the DSSE envelope and a
 * layer holding the approved configuration (canonical JSON, the bytes configSha256 covers), so
 * `graft pull` can verify without being handed the configuration.
 */
export function buildSignatureManifest(
  subject: Descriptor,
  envelopeJson: string,
  configuration: unknown,
  statement: InjectionStatement,
): BuiltSignature {
  const envelope = Buffer.from(envelopeJson);
  const configurationBytes = Buffer.from(canonicalJson(configuration));
  const annotations = {
    [ANNOTATION_FILTER]: statement.predicate.filter,
    [ANNOTATION_VERSION]: statement.predicate.version,
    [ANNOTATION_INJECTION]: statement.predicate.injectionId,
    "org.opencontainers.image.created": statement.predicate.created,
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: GRAFT_SIGNATURE_ARTIFACT,
    config: descriptorOf(OCI_EMPTY, EMPTY_CONFIG),
    layers: [descriptorOf(DSSE_ENVELOPE, envelope), descriptorOf(GRAFT_CONFIGURATION, configurationBytes)],
    subject,
    annotations,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return {
    envelope,
    configuration: configurationBytes,
    manifest: bytes,
    descriptor: descriptorOf(OCI_MANIFEST, bytes, { artifactType: GRAFT_SIGNATURE_ARTIFACT, annotations }),
  };
}
