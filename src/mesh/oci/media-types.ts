// SPDX-License-Identifier: Apache-2.0
/**
 * Media types of the images graft pushes. The module layout is the one Istio's fetcher
 * (istio.io/istio/pkg/wasm, imagefetcher.go) reads as the OCI "compat" variant: an OCI image manifest
 * whose last layer is a tar+gzip holding `plugin.wasm`. The CNCF `application/vnd.wasm.*` artifact
 * layout is refused by that fetcher (tests/mesh/istio-fetch.test.ts runs it), so graft does not push it.
 */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const DOCKER_LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** The OCI 1.1 empty descriptor's media type (config of an artifact manifest with no config). */
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

/** What the signature manifest is, for referrer listings filtered by artifactType. */
export const GRAFT_SIGNATURE_ARTIFACT = "application/vnd.dev.graft.injection.v1+dsse";
/** The layer holding the DSSE envelope (the media type sigstore and in-toto use for DSSE). */
export const DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json";
/** The layer holding the approved filter configuration (the JSON the envelope's configSha256 covers). */
export const GRAFT_CONFIGURATION = "application/vnd.dev.graft.filter.configuration.v1+json";

/** The file inside the compat layer; Istio matches the basename `plugin.wasm`. */
export const PLUGIN_FILE = "plugin.wasm";

/** Manifest annotations graft sets (the variant one is the solo-io wasm image spec's). */
export const ANNOTATION_VARIANT = "module.wasm.image/variant";
export const ANNOTATION_FILTER = "dev.graft.filter";
export const ANNOTATION_VERSION = "dev.graft.version";
export const ANNOTATION_INJECTION = "dev.graft.injection-id";
export const ANNOTATION_MODULE_SHA256 = "dev.graft.module.sha256";
