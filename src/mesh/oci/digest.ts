// SPDX-License-Identifier: Apache-2.0
import { createHash } from "node:crypto";

/** An OCI content descriptor (image-spec descriptor.md). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** `sha256:<hex>` of the bytes. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function isDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST.test(value);
}

/** The hex part of a `sha256:` digest (what WasmPlugin.sha256 and Istio's fetcher use). */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new Error(`${JSON.stringify(digest)} is not a sha256:<64 hex> digest`);
  return digest.slice("sha256:".length);
}

export function descriptorOf(
  mediaType: string,
  bytes: Uint8Array,
  extra: Partial<Descriptor> = {},
): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra };
}
