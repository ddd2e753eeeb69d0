// SPDX-License-Identifier: Apache-2.0
import { MeshError } from "../errors.ts";
import { parseImageReference } from "../oci/reference.ts";

export type PluginUrlScheme = "oci" | "http" | "https" | "file";

export interface PluginUrl {
  url: string;
  scheme: PluginUrlScheme;
  /** The hex digest a `…@sha256:<hex>` OCI URL pins, if any. */
  pinnedSha256?: string;
}

const SHA256_HEX = /^[a-f0-9]{64}$/;

/**
 * WasmPlugin.url: `oci://` when no scheme is written (Istio's default too), or http(s):// or file://.
 * An OCI URL must name a registry and a tag or digest; a file URL must be absolute.
 */
export function normalizePluginUrl(text: string): PluginUrl {
  const fix = "give oci://host/repo:tag (or …@sha256:<hex>), https://…/module.wasm or file:///abs/path.wasm";
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text);
  const scheme = match ? match[1]!.toLowerCase() : "oci";
  const url = match ? text : `oci://${text}`;
  if (scheme === "oci") {
    const reference = parseImageReference(url, "--url");
    return {
      url,
      scheme,
      ...(reference.digest ? { pinnedSha256: reference.digest.slice("sha256:".length) } : {}),
    };
  }
  if (scheme === "http" || scheme === "https") {
    try {
      new URL(url);
    } catch {
      throw new MeshError("INVALID_INPUT", `--url ${JSON.stringify(text)} is not a URL; ${fix}`);
    }
    return { url, scheme };
  }
  if (scheme === "file") {
    if (!url.startsWith("file:///"))
      throw new MeshError(
        "INVALID_INPUT",
        `--url ${JSON.stringify(text)}: a file URL needs an absolute path (file:///…); ${fix}`,
      );
    return { url, scheme };
  }
  throw new MeshError(
    "INVALID_INPUT",
    `--url ${JSON.stringify(text)}: scheme ${scheme} is not one Istio fetches (oci, http, https, file); ${fix}`,
  );
}

/**
 * WasmPlugin.sha256. For oci:// Istio compares it with the image MANIFEST digest (pkg/wasm/cache.go:
 * PrepareFetch's actualDigest); for http(s) with the module's sha256. When the URL pins a digest and a
 * sha256 is also given, they must agree (Istio refuses the plugin otherwise).
 */
export function resolveSha256(
  url: PluginUrl,
  given: string | undefined,
  flag = "--sha256",
): string | undefined {
  if (given !== undefined) {
    const hex = given.startsWith("sha256:") ? given.slice("sha256:".length) : given;
    if (!SHA256_HEX.test(hex))
      throw new MeshError(
        "INVALID_INPUT",
        `${flag} ${JSON.stringify(given)}: want 64 lowercase hex digits (optionally after sha256:)`,
      );
    if (url.pinnedSha256 !== undefined && url.pinnedSha256 !== hex)
      throw new MeshError(
        "INVALID_INPUT",
        `${flag} ${hex} differs from the digest the URL pins (${url.pinnedSha256}): drop one or make them equal`,
      );
    return hex;
  }
  return url.pinnedSha256;
}
