// SPDX-License-Identifier: Apache-2.0
import { MeshError } from "../errors.ts";
import { digestHex, type Descriptor } from "./digest.ts";
import { OCI_INDEX } from "./media-types.ts";
import type { RegistryClient } from "./registry-client.ts";

/** An image index (image-spec image-index.md), as the referrers API and its fallback tag hold it. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: typeof OCI_INDEX;
  manifests: Descriptor[];
}

/**
 * The referrers tag schema (distribution spec 1.1, "Referrers Tag Schema"): a registry without the
 * referrers API keeps the list in an index tagged `sha256-<hex of the subject digest>`.
 */
export function fallbackTag(subjectDigest: string): string {
  return `sha256-${digestHex(subjectDigest)}`;
}

function parseIndex(bytes: Buffer, where: string): ImageIndex {
  try {
    const value = JSON.parse(bytes.toString("utf8")) as Partial<ImageIndex>;
    if (value.schemaVersion === 2 && Array.isArray(value.manifests)) return value as ImageIndex;
  } catch {
    // fall through to the error below
  }
  throw new MeshError("INVALID_IMAGE", `${where}: not an image index (schemaVersion 2 with manifests)`);
}

/** The manifests that refer to `subjectDigest`: from the referrers API, else from the fallback tag. */
export async function listReferrers(
  client: RegistryClient,
  repository: string,
  subjectDigest: string,
): Promise<{ manifests: Descriptor[]; via: "api" | "tag-schema" }> {
  const api = await client.referrers(repository, subjectDigest);
  if (api !== null)
    return { manifests: parseIndex(api.bytes, `referrers of ${subjectDigest}`).manifests, via: "api" };
  const tag = fallbackTag(subjectDigest);
  const fallback = await client.getManifest(repository, tag, [OCI_INDEX]);
  if (fallback === null) return { manifests: [], via: "tag-schema" };
  return { manifests: parseIndex(fallback.bytes, `${repository}:${tag}`).manifests, via: "tag-schema" };
}

/**
 * Adds `referrer` to the fallback index of `subjectDigest` (read, add, write back; an entry already
 * listed is kept once). The read-modify-write is not atomic: two pushers racing on one subject can lose
 * an entry, which the spec accepts for the fallback; graft pushes one signature per push.
 */
export async function addToFallbackIndex(
  client: RegistryClient,
  repository: string,
  subjectDigest: string,
  referrer: Descriptor,
): Promise<void> {
  const tag = fallbackTag(subjectDigest);
  const existing = await client.getManifest(repository, tag, [OCI_INDEX]);
  const index: ImageIndex = existing
    ? parseIndex(existing.bytes, `${repository}:${tag}`)
    : { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  if (index.manifests.some((entry) => entry.digest === referrer.digest)) return;
  index.manifests.push(referrer);
  await client.putManifest(repository, tag, OCI_INDEX, Buffer.from(JSON.stringify(index)));
}
