// SPDX-License-Identifier: Apache-2.0
import { isDigest } from "./digest.ts";

/** An image reference: `[oci://]host[:port]/repository[:tag][@sha256:<hex>]`. */
export interface ImageReference {
  /** host[:port], e.g. `127.0.0.1:5055` or `registry.example.com`. */
  registry: string;
  /** e.g. `graft/my-filter`. */
  repository: string;
  tag?: string;
  digest?: string;
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * Parses an image reference the way `graft push`/`pull` and Istio's `oci://` URLs write it. A
 * reference needs a registry host (there is no default registry: a module must never be pushed to
 * Docker Hub by accident) and a tag or a digest (`:latest` is not implied).
 */
export function parseImageReference(text: string, what = "image reference"): ImageReference {
  const fix = `write it as [oci://]host[:port]/repository:tag or …@sha256:<64 hex>, e.g. oci://127.0.0.1:5000/graft/my-filter:1.0.0`;
  let rest = text.startsWith("oci://") ? text.slice("oci://".length) : text;
  if (/^[a-z]+:\/\//.test(rest))
    throw new Error(`${what} ${JSON.stringify(text)}: only oci:// references name images; ${fix}`);
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest))
      throw new Error(
        `${what} ${JSON.stringify(text)}: the digest must be sha256:<64 lowercase hex>; ${fix}`,
      );
  }
  const slash = rest.indexOf("/");
  if (slash <= 0) throw new Error(`${what} ${JSON.stringify(text)}: no registry host; ${fix}`);
  const registry = rest.slice(0, slash);
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(":");
  if (colon !== -1) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!TAG.test(tag))
      throw new Error(
        `${what} ${JSON.stringify(text)}: tag ${JSON.stringify(tag)} is not a valid tag; ${fix}`,
      );
  }
  if (!REPOSITORY.test(repository))
    throw new Error(
      `${what} ${JSON.stringify(text)}: repository ${JSON.stringify(repository)} must be lowercase path components; ${fix}`,
    );
  if (tag === undefined && digest === undefined)
    throw new Error(`${what} ${JSON.stringify(text)}: name a tag or a digest (no implied :latest); ${fix}`);
  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `host/repo[:tag][@digest]`, without a scheme (what Istio's fetcher and docker take). */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/**
 * Whether to talk plain HTTP to this registry by default: loopback and `.local` hosts, as
 * go-containerregistry (and so Istio's fetcher) does. Everything else uses HTTPS unless told otherwise.
 */
export function isLocalRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host) || host.endsWith(".local");
}
