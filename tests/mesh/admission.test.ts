// SPDX-License-Identifier: Apache-2.0
// graft admission: the validating webhook over HTTPS on 127.0.0.1 (a self-signed certificate made with
// the openssl CLI), fed real admission.k8s.io/v1 AdmissionReview requests.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ModuleSource } from "../../src/mesh/admission/module-source.ts";
import type { AdmissionReviewReply } from "../../src/mesh/admission/review.ts";
import { startWebhookServer, type RunningWebhook } from "../../src/mesh/admission/server.ts";
import { renderWasmPlugin, type WasmPlugin } from "../../src/mesh/istio/wasmplugin.ts";
import { pushWasmImage } from "../../src/mesh/oci/push.ts";
import { parseImageReference } from "../../src/mesh/oci/reference.ts";
import { RegistryClient } from "../../src/mesh/oci/registry-client.ts";
import { sha256Hex } from "../../src/sign/statement.ts";
import { registrySkipReason, startRegistry, type RunningRegistry } from "../support/registry.ts";
import {
  alice,
  bob,
  exampleConfig,
  filter,
  FILTER,
  mallory,
  policyOf,
  signed,
  wasm,
  withTempDir,
} from "./fixtures.ts";

const openssl = spawnSync("openssl", ["version"], { encoding: "utf8" });
const opensslSkip =
  openssl.status === 0
    ? undefined
    : "the openssl CLI is not installed (it makes the webhook's serving certificate)";

/** A self-signed serving certificate for 127.0.0.1, as an operator would make one for a test cluster. */
function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, "tls.crt");
  const key = path.join(dir, "tls.key");
  const run = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=graft-admission.graft-system.svc",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:graft-admission.graft-system.svc",
      "-addext",
      "extendedKeyUsage=serverAuth",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { encoding: "utf8" },
  );
  assert.equal(run.status, 0, run.stderr);
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}

let uidCounter = 0;
function admissionReview(object: unknown, operation = "CREATE"): unknown {
  const meta = (object as WasmPlugin).metadata;
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `00000000-0000-0000-0000-${String(++uidCounter).padStart(12, "0")}`,
      kind: { group: "extensions.istio.io", version: "v1alpha1", kind: "WasmPlugin" },
      resource: { group: "extensions.istio.io", version: "v1alpha1", resource: "wasmplugins" },
      requestKind: { group: "extensions.istio.io", version: "v1alpha1", kind: "WasmPlugin" },
      requestResource: { group: "extensions.istio.io", version: "v1alpha1", resource: "wasmplugins" },
      name: meta.name,
      namespace: meta.namespace,
      operation,
      userInfo: { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] },
      object: operation === "DELETE" ? null : object,
      oldObject: operation === "DELETE" ? object : null,
      dryRun: false,
      options: {
        apiVersion: "meta.k8s.io/v1",
        kind: operation === "DELETE" ? "DeleteOptions" : "CreateOptions",
      },
    },
  };
}

describe("graft admission webhook", { skip: opensslSkip }, () => {
  let webhook: RunningWebhook;
  let ca: string;
  let moduleServer: Server;
  let moduleUrl: string;
  let registry: RunningRegistry | undefined;
  const configuration = exampleConfig("sf-1");
  const envelope = signed([alice], configuration, { injectionId: "sf-1" });

  before(async () => {
    await withTempDir(async (tmp) => {
      const { cert, key } = makeCertificate(tmp);
      ca = cert;
      webhook = await startWebhookServer({
        cert,
        key,
        policy: policyOf([alice, bob]),
        modules: new ModuleSource(),
      });
    });
    // An https-less module server on loopback stands in for the http(s) module host Istio would fetch from.
    moduleServer = createServer((req, res) => {
      if (req.url === `/${FILTER}.wasm`) res.end(wasm);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => moduleServer.listen(0, "127.0.0.1", resolve));
    moduleUrl = `http://127.0.0.1:${(moduleServer.address() as AddressInfo).port}/${FILTER}.wasm`;
    if (!registrySkipReason()) registry = await startRegistry();
  });
  after(async () => {
    await webhook?.close();
    await new Promise<void>((resolve) => moduleServer?.close(() => resolve()));
    await registry?.stop();
  });

  async function post(review: unknown): Promise<AdmissionReviewReply> {
    const body = JSON.stringify(review);
    return new Promise((resolve, reject) => {
      const req = request(
        webhook.url,
        { method: "POST", ca, headers: { "content-type": "application/json" } },
        (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => {
            try {
              assert.equal(res.statusCode, 200);
              resolve(JSON.parse(text) as AdmissionReviewReply);
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  const plugin = (overrides: { envelope?: object | null; url?: string; sha256?: string } = {}) =>
    renderWasmPlugin({
      filter,
      name: FILTER,
      namespace: "shop",
      url: overrides.url ?? moduleUrl,
      sha256: overrides.sha256 ?? sha256Hex(wasm),
      configuration,
      configurationSource: "config.json",
      selector: { app: "checkout" },
      ...(overrides.envelope === null
        ? {}
        : { envelopeJson: JSON.stringify(overrides.envelope ?? envelope) }),
    });

  /** A rendered plugin whose annotation is then replaced, as someone editing the object by hand would. */
  const withEnvelope = (envelopeValue: object) => {
    const object = plugin();
    object.metadata.annotations!["graft.dev/envelope"] = JSON.stringify(envelopeValue);
    return object;
  };

  it("admits a signed WasmPlugin (https module) and echoes the request uid", async () => {
    const review = admissionReview(plugin());
    const reply = await post(review);
    assert.equal(reply.apiVersion, "admission.k8s.io/v1");
    assert.equal(reply.kind, "AdmissionReview");
    assert.equal(reply.response.uid, (review as { request: { uid: string } }).request.uid);
    assert.equal(reply.response.allowed, true, reply.response.status?.message);
    assert.equal(reply.response.auditAnnotations?.["graft.dev/injection"], "sf-1");
  });

  it(
    "admits a signed WasmPlugin whose oci:// module it fetches from the registry by spec.sha256",
    { skip: registrySkipReason() },
    async () => {
      const pushed = await pushWasmImage({
        client: new RegistryClient({ registry: registry!.host }),
        reference: parseImageReference(`oci://${registry!.host}/graft/${FILTER}:1.0.0`),
        wasm,
      });
      const oci = plugin({
        url: `oci://${registry!.host}/graft/${FILTER}:1.0.0`,
        sha256: pushed.manifestDigest.slice(7),
      });
      const reply = await post(admissionReview(oci));
      assert.equal(reply.response.allowed, true, reply.response.status?.message);
      const wrong = plugin({
        url: `oci://${registry!.host}/graft/${FILTER}:1.0.0`,
        sha256: "c".repeat(64),
      });
      const denied = await post(admissionReview(wrong));
      assert.equal(denied.response.allowed, false);
      assert.match(denied.response.status!.message, /REGISTRY_ERROR: .*no manifest sha256:c{64}/);
    },
  );

  it("denies with a clear reason: no envelope, untrusted signer, expired, unpinned module", async () => {
    const cases: [string, WasmPlugin, RegExp][] = [
      [
        "no envelope",
        plugin({ envelope: null }),
        /no graft envelope; add the annotation graft.dev\/envelope/,
      ],
      [
        "untrusted signer",
        withEnvelope(signed([mallory], configuration, { injectionId: "sf-1" })),
        /UNKNOWN_KEY: signature 1 .* not trusted/,
      ],
      [
        "expired",
        withEnvelope(
          signed([alice], configuration, {
            injectionId: "sf-1",
            now: new Date(Date.now() - 3 * 3600_000),
            ttl: "1h",
          }),
        ),
        /EXPIRED/,
      ],
      [
        "other module",
        withEnvelope(
          signed([alice], configuration, { injectionId: "sf-1", module: Buffer.from("\0asm\x01\0\0\0x") }),
        ),
        /MODULE_TAMPERED/,
      ],
    ];
    const unpinned = plugin();
    delete unpinned.spec.sha256;
    cases.push(["unpinned", unpinned, /spec.sha256 must pin the module/]);
    for (const [what, object, reason] of cases) {
      const reply = await post(admissionReview(object));
      assert.equal(reply.response.allowed, false, what);
      assert.equal(reply.response.status?.code, 403, what);
      assert.match(reply.response.status!.message, reason, what);
    }
  });

  it("denies a tampered pluginConfig, a swapped pluginName and a module that does not match spec.sha256", async () => {
    const tampered = plugin();
    // Someone unblocks the approved prefixes by editing the object.
    (tampered.spec.pluginConfig as { blocked_prefixes: string[] }).blocked_prefixes = [];
    const reply = await post(admissionReview(tampered, "UPDATE"));
    assert.equal(reply.response.allowed, false);
    assert.match(
      reply.response.status!.message,
      /CONFIG_MISMATCH: configuration sha256 [0-9a-f]{64} does not match the approved configSha256/,
    );

    const renamed = plugin();
    renamed.spec.pluginName = "another-filter";
    const renamedReply = await post(admissionReview(renamed));
    assert.equal(renamedReply.response.allowed, false);
    assert.match(
      renamedReply.response.status!.message,
      new RegExp(`spec.pluginName is "another-filter", but the envelope approves filter ${FILTER}`),
    );

    const wrongSha = plugin();
    wrongSha.spec.sha256 = "d".repeat(64);
    const wrongReply = await post(admissionReview(wrongSha));
    assert.match(
      wrongReply.response.status!.message,
      /the module has sha256 [0-9a-f]{64}, spec.sha256 says d{64}/,
    );
  });

  it("enforces the policy's approvals, always allows DELETE, and denies what is not a WasmPlugin review", async () => {
    const strict = await withTempDir(async (tmp) => {
      const { cert, key } = makeCertificate(tmp);
      ca = cert;
      return startWebhookServer({
        cert,
        key,
        policy: policyOf([alice, bob], { approvalRules: [{ approvals: 2 }] }),
        modules: new ModuleSource(),
      });
    });
    const previous = webhook;
    webhook = strict;
    try {
      const one = await post(admissionReview(plugin()));
      assert.match(one.response.status!.message, /TOO_FEW_APPROVALS/);
      const two = await post(
        admissionReview(plugin({ envelope: signed([alice, bob], configuration, { injectionId: "sf-1" }) })),
      );
      assert.equal(two.response.allowed, true, two.response.status?.message);
      const deletion = await post(admissionReview(plugin({ envelope: null }), "DELETE"));
      assert.equal(deletion.response.allowed, true);
      const notAReview = await post({ hello: "world" });
      assert.equal(notAReview.response.allowed, false);
      assert.match(notAReview.response.status!.message, /not an admission.k8s.io\/v1 AdmissionReview/);
    } finally {
      webhook = previous;
      await strict.close();
    }
  });
});
