// SPDX-License-Identifier: Apache-2.0
// graft push / pull against a real registry (Debian's docker-registry, Distribution 2.8): the compat
// layout, the signature attached through the referrers tag-schema fallback, and pull verifying before
// it returns anything.
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { GraftVerifyError } from "../../src/sign/errors.ts";
import { sha256Hex } from "../../src/sign/statement.ts";
import { digestOf } from "../../src/mesh/oci/digest.ts";
import {
  GRAFT_SIGNATURE_ARTIFACT,
  OCI_INDEX,
  OCI_LAYER_TAR_GZIP,
  OCI_MANIFEST,
} from "../../src/mesh/oci/media-types.ts";
import { pullVerifiedModule } from "../../src/mesh/oci/pull.ts";
import { pushWasmImage } from "../../src/mesh/oci/push.ts";
import { parseImageReference } from "../../src/mesh/oci/reference.ts";
import { fallbackTag } from "../../src/mesh/oci/referrers.ts";
import { RegistryClient } from "../../src/mesh/oci/registry-client.ts";
import { untarFiles } from "../../src/mesh/oci/tar.ts";
import { buildCompatImage } from "../../src/mesh/oci/wasm-image.ts";
import { registrySkipReason, startRegistry, type RunningRegistry } from "../support/registry.ts";
import { alice, bob, exampleConfig, FILTER, mallory, policyOf, signed, wasm } from "./fixtures.ts";

describe("compat Wasm image (offline)", () => {
  it("is reproducible and holds exactly plugin.wasm", () => {
    const a = buildCompatImage(wasm);
    const b = buildCompatImage(wasm);
    assert.equal(a.manifestDigest, b.manifestDigest);
    const files = untarFiles(gunzipSync(a.layer));
    assert.deepEqual(
      files.map((f) => f.name),
      ["plugin.wasm"],
    );
    assert.ok(files[0]!.content.equals(wasm));
    const manifest = JSON.parse(a.manifest.toString()) as {
      layers: { mediaType: string }[];
      mediaType: string;
    };
    assert.equal(manifest.mediaType, OCI_MANIFEST);
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      [OCI_LAYER_TAR_GZIP],
    );
  });

  it("parses references and refuses ones without a host or a tag", () => {
    assert.deepEqual(parseImageReference("oci://127.0.0.1:5000/graft/sf:1.0"), {
      registry: "127.0.0.1:5000",
      repository: "graft/sf",
      tag: "1.0",
    });
    assert.throws(() => parseImageReference("graft-sf:1.0"), /no registry host/);
    assert.throws(() => parseImageReference("oci://127.0.0.1:5000/graft/sf"), /name a tag or a digest/);
    assert.throws(() => parseImageReference("https://x/y:1"), /only oci:\/\//);
  });
});

const skip = registrySkipReason();

describe("graft push / pull against Debian's docker-registry", { skip }, () => {
  let registry: RunningRegistry;
  let client: RegistryClient;
  const configuration = exampleConfig("sf-canary-1");
  const envelope = signed([alice], configuration);

  before(async () => {
    registry = await startRegistry();
    client = new RegistryClient({ registry: registry.host });
  });
  after(async () => registry?.stop());

  it("pushes the compat layout, attaches the envelope via the sha256-<hex> tag, and pulls byte-identical", async () => {
    const reference = parseImageReference(`oci://${registry.host}/graft/${FILTER}:1.0.0`);
    const pushed = await pushWasmImage({
      client,
      reference,
      wasm,
      signature: { envelopeJson: JSON.stringify(envelope), configuration },
    });
    assert.equal(pushed.referrersVia, "tag-schema", "Distribution 2.8 has no referrers API");
    assert.equal(pushed.moduleSha256, sha256Hex(wasm));
    assert.equal(pushed.pinnedUrl, `oci://${registry.host}/graft/${FILTER}@${pushed.manifestDigest}`);

    // The registry serves the manifest unchanged and the layer is the compat tar+gzip.
    const manifest = await client.getManifest(`graft/${FILTER}`, "1.0.0", [OCI_MANIFEST]);
    assert.ok(manifest);
    assert.equal(manifest.digest, pushed.manifestDigest);
    assert.equal(manifest.mediaType, OCI_MANIFEST);
    // The referrers API is absent; the fallback index lists the signature.
    assert.equal(await client.referrers(`graft/${FILTER}`, pushed.manifestDigest), null);
    const index = await client.getManifest(`graft/${FILTER}`, fallbackTag(pushed.manifestDigest), [
      OCI_INDEX,
    ]);
    assert.ok(index);
    const listed = (
      JSON.parse(index.bytes.toString()) as { manifests: { digest: string; artifactType: string }[] }
    ).manifests;
    assert.deepEqual(
      listed.map((m) => [m.digest, m.artifactType]),
      [[pushed.signatureDigest, GRAFT_SIGNATURE_ARTIFACT]],
    );

    const pulled = await pullVerifiedModule({ client, reference, policy: policyOf([alice]) });
    assert.ok(pulled.wasm.equals(wasm), "the pulled module is byte-identical");
    assert.equal(pulled.manifestDigest, pushed.manifestDigest);
    assert.deepEqual(pulled.configuration, configuration);
    assert.equal(pulled.verified.predicate.injectionId, "sf-canary-1");

    // Pushing again (same module, same signature) changes nothing: one referrer, same digest.
    const again = await pushWasmImage({
      client,
      reference,
      wasm,
      signature: { envelopeJson: JSON.stringify(envelope), configuration },
    });
    assert.equal(again.manifestDigest, pushed.manifestDigest);
    const index2 = await client.getManifest(`graft/${FILTER}`, fallbackTag(pushed.manifestDigest), [
      OCI_INDEX,
    ]);
    assert.equal((JSON.parse(index2!.bytes.toString()) as { manifests: unknown[] }).manifests.length, 1);
  });

  it("pulls by digest and lists a second approver's signature beside the first", async () => {
    const reference = parseImageReference(`oci://${registry.host}/graft/two-sigs:1`);
    const first = await pushWasmImage({
      client,
      reference,
      wasm,
      signature: { envelopeJson: JSON.stringify(envelope), configuration },
    });
    const both = signed([alice, bob], configuration);
    await pushWasmImage({
      client,
      reference,
      wasm,
      signature: { envelopeJson: JSON.stringify(both), configuration },
    });
    const byDigest = parseImageReference(`oci://${registry.host}/graft/two-sigs@${first.manifestDigest}`);
    // Two approvals required: only the second signature satisfies the policy.
    const policy = policyOf([alice, bob], { approvalRules: [{ approvals: 2 }] });
    const pulled = await pullVerifiedModule({ client, reference: byDigest, policy });
    assert.deepEqual(
      pulled.verified.signers.map((s) => s.name),
      ["alice", "bob"],
    );
  });

  it("refuses an untrusted signer, a mismatched configuration and an unsigned image", async () => {
    const reference = parseImageReference(`oci://${registry.host}/graft/refusals:1`);
    await pushWasmImage({
      client,
      reference,
      wasm,
      signature: { envelopeJson: JSON.stringify(signed([mallory], configuration)), configuration },
    });
    await assert.rejects(
      pullVerifiedModule({ client, reference, policy: policyOf([alice]) }),
      (error: unknown) => error instanceof GraftVerifyError && error.code === "UNKNOWN_KEY",
    );
    const tampered = { ...configuration, injection_id: "someone-else" };
    await assert.rejects(
      pullVerifiedModule({ client, reference, policy: policyOf([mallory]), configuration: tampered }),
      (error: unknown) => error instanceof GraftVerifyError && error.code === "CONFIG_MISMATCH",
    );
    const unsigned = parseImageReference(`oci://${registry.host}/graft/unsigned:1`);
    await pushWasmImage({ client, reference: unsigned, wasm });
    await assert.rejects(
      pullVerifiedModule({ client, reference: unsigned, policy: policyOf([alice]) }),
      (error: unknown) => error instanceof GraftVerifyError && error.code === "UNSIGNED",
    );
  });

  it("refuses to push a signature for another module or configuration", async () => {
    const reference = parseImageReference(`oci://${registry.host}/graft/mismatch:1`);
    const other = signed([alice], configuration, { module: Buffer.from("\0asm\x01\0\0\0other") });
    await assert.rejects(
      pushWasmImage({
        client,
        reference,
        wasm,
        signature: { envelopeJson: JSON.stringify(other), configuration },
      }),
      /signs module sha256 .* but the module is/,
    );
    await assert.rejects(
      pushWasmImage({
        client,
        reference,
        wasm,
        signature: { envelopeJson: JSON.stringify(envelope), configuration: { rules: [] } },
      }),
      /give the configuration that was signed/,
    );
    assert.equal(await client.getManifest("graft/mismatch", "1", [OCI_MANIFEST]), null, "nothing was pushed");
  });

  it("the registry stores what the digest says (blob check)", async () => {
    const image = buildCompatImage(wasm);
    const digest = await client.pushBlob("graft/blob-check", image.layer);
    assert.equal(digest, digestOf(image.layer));
    assert.ok((await client.getBlob("graft/blob-check", digest)).equals(image.layer));
  });
});
