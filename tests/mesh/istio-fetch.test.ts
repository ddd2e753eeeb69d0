// SPDX-License-Identifier: Apache-2.0
// Istio's own Wasm fetcher (istio.io/istio/pkg/wasm, the code istio-agent runs) pulls what graft push
// wrote: the same bytes, and the manifest digest it checks WasmPlugin.sha256 against is the one
// graft istio renders.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { renderWasmPlugin } from "../../src/mesh/istio/wasmplugin.ts";
import { pushWasmImage } from "../../src/mesh/oci/push.ts";
import { parseImageReference } from "../../src/mesh/oci/reference.ts";
import { RegistryClient } from "../../src/mesh/oci/registry-client.ts";
import { sha256Hex } from "../../src/sign/statement.ts";
import { registrySkipReason, startRegistry, type RunningRegistry } from "../support/registry.ts";
import { alice, exampleConfig, filter, FILTER, signed, wasm, withTempDir } from "./fixtures.ts";
import { istioFetchBinary, runIstioFetch, type IstioFetchBinary } from "./istio-fetch-binary.ts";

const BUILD_TIMEOUT_MS = Number(process.env.GRAFT_ISTIO_FETCH_BUILD_TIMEOUT_S ?? 600) * 1000;
const registrySkip = registrySkipReason();

describe(
  "Istio's fetcher pulls graft's image",
  { skip: registrySkip, timeout: BUILD_TIMEOUT_MS + 120_000 },
  () => {
    let registry: RunningRegistry;
    let binary: IstioFetchBinary;

    before(async () => {
      binary = await istioFetchBinary(BUILD_TIMEOUT_MS);
      if ("path" in binary && binary.built)
        console.log(`# built ${binary.path} in ${binary.seconds} s (cached for later runs)`);
      registry = await startRegistry();
    });
    after(async () => registry?.stop());

    it("by tag and by digest: byte-identical module, manifest digest = WasmPlugin.sha256", async (t) => {
      if ("skip" in binary) return t.skip(binary.skip);
      const configuration = exampleConfig("sf-1");
      const reference = parseImageReference(`oci://${registry.host}/graft/${FILTER}:1.0.0`);
      const pushed = await pushWasmImage({
        client: new RegistryClient({ registry: registry.host }),
        reference,
        wasm,
        signature: { envelopeJson: JSON.stringify(signed([alice], configuration)), configuration },
      });
      const plugin = renderWasmPlugin({
        filter,
        url: pushed.pinnedUrl,
        configuration,
        configurationSource: "config.json",
      });
      await withTempDir(async (dir) => {
        for (const ref of [
          `${registry.host}/graft/${FILTER}:1.0.0`,
          pushed.pinnedUrl.slice("oci://".length),
        ]) {
          const out = path.join(dir, "plugin.wasm");
          const result = runIstioFetch((binary as { path: string }).path, ref, out);
          assert.equal(result.error, undefined, `${ref}: ${result.error}`);
          assert.equal(
            result.manifestDigest,
            plugin.spec.sha256,
            "Istio checks WasmPlugin.sha256 against this digest",
          );
          assert.equal(result.sha256, sha256Hex(wasm));
          assert.ok((await readFile(out)).equals(wasm), `${ref}: byte-identical`);
        }
      });
    });
  },
);
