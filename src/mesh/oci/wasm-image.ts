// SPDX-License-Identifier: Apache-2.0
import { gunzipSync, gzipSync } from "node:zlib";
import { MeshError } from "../errors.ts";
import { descriptorOf, digestOf, type Descriptor } from "./digest.ts";
import {
  ANNOTATION_VARIANT,
  DOCKER_LAYER_TAR_GZIP,
  DOCKER_MANIFEST,
  OCI_IMAGE_CONFIG,
  OCI_LAYER_TAR_GZIP,
  OCI_MANIFEST,
  PLUGIN_FILE,
} from "./media-types.ts";
import { tarOneFile, untarFiles } from "./tar.ts";

/** An image manifest (OCI image-spec manifest.md; Docker schema 2 has the same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The blobs and manifest of a Wasm image, ready to push. */
export interface BuiltImage {
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
  manifestDigest: string;
}

/**
 * The compat-variant image of a module: one tar+gzip layer holding `plugin.wasm`. The tar and gzip are
 * reproducible (zero times and owners), so one module always gives one manifest digest, and pushing the
 * same module twice is a no-op for the registry.
 */
export function buildCompatImage(wasm: Uint8Array, annotations: Record<string, string> = {}): BuiltImage {
  const tar = tarOneFile(PLUGIN_FILE, wasm);
  const layer = gzipSync(tar, { level: 9 });
  // go-containerregistry (Istio's fetcher) reads the config for rootfs.diff_ids; the platform says what
  // this image is for, so a container runtime refuses to run it.
  const config = Buffer.from(
    JSON.stringify({
      architecture: "wasm",
      os: "wasip1",
      config: {},
      rootfs: { type: "layers", diff_ids: [digestOf(tar)] },
    }),
  );
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptorOf(OCI_IMAGE_CONFIG, config),
    layers: [descriptorOf(OCI_LAYER_TAR_GZIP, layer)],
    annotations: { [ANNOTATION_VARIANT]: "compat", ...annotations },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { layer, config, manifest: manifestBytes, manifestDigest: digestOf(manifestBytes) };
}

/** Parses and checks an image manifest; `where` names it in errors. */
export function parseImageManifest(bytes: Buffer, where: string): ImageManifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new MeshError("INVALID_IMAGE", `${where}: the manifest is not JSON`);
  }
  const manifest = value as Partial<ImageManifest>;
  if (manifest.schemaVersion !== 2 || !Array.isArray(manifest.layers) || typeof manifest.config !== "object")
    throw new MeshError(
      "INVALID_IMAGE",
      `${where}: not an image manifest (schemaVersion 2 with config and layers)`,
    );
  return manifest as ImageManifest;
}

/**
 * The layer Istio's fetcher would take the module from: the last one, a tar+gzip (OCI or Docker media
 * type). The other Istio layout (Solo's two-layer "oci" variant) is not produced by graft and is refused
 * here with a message saying so.
 */
export function moduleLayerOf(manifest: ImageManifest, where: string): Descriptor {
  const last = manifest.layers[manifest.layers.length - 1];
  if (!last) throw new MeshError("INVALID_IMAGE", `${where}: the manifest has no layers`);
  if (last.mediaType !== OCI_LAYER_TAR_GZIP && last.mediaType !== DOCKER_LAYER_TAR_GZIP) {
    throw new MeshError(
      "INVALID_IMAGE",
      `${where}: the last layer is ${last.mediaType}; graft reads the compat layout (${OCI_LAYER_TAR_GZIP} holding ${PLUGIN_FILE}), push the module with graft push`,
    );
  }
  return last;
}

/** plugin.wasm from a compat layer (tar+gzip). Bounded: a gzip bomb is refused, not inflated. */
export function moduleFromLayer(layer: Buffer, where: string, maxBytes = 64 * 1024 * 1024): Buffer {
  let tar: Buffer;
  try {
    tar = gunzipSync(layer, { maxOutputLength: maxBytes });
  } catch (error) {
    throw new MeshError(
      "INVALID_IMAGE",
      `${where}: the layer is not gzip within ${maxBytes} bytes (${(error as Error).message})`,
    );
  }
  let entries;
  try {
    entries = untarFiles(tar);
  } catch (error) {
    throw new MeshError("INVALID_IMAGE", `${where}: ${(error as Error).message}`);
  }
  const plugin = entries.filter((entry) => entry.name.split("/").pop() === PLUGIN_FILE);
  if (plugin.length !== 1)
    throw new MeshError(
      "INVALID_IMAGE",
      `${where}: the layer holds ${plugin.length} files named ${PLUGIN_FILE}, want exactly 1`,
    );
  return plugin[0]!.content;
}

export const MANIFEST_MEDIA_TYPES = [OCI_MANIFEST, DOCKER_MANIFEST];
