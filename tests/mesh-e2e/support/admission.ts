// SPDX-License-Identifier: Apache-2.0
/**
 * graft's admission webhook (src/mesh/admission) wired into the real API server: served over HTTPS on
 * 127.0.0.1 with a certificate from the run's CA, registered as a ValidatingWebhookConfiguration for
 * WasmPlugins in namespaces labelled graft.dev/admission=enforce, and a plain HTTP server that serves the
 * module the WasmPlugins name (the webhook fetches and hashes it; a file:// module it cannot see).
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ModuleSource } from "../../../src/mesh/admission/module-source.ts";
import { startWebhookServer, type RunningWebhook } from "../../../src/mesh/admission/server.ts";
import type { TrustPolicy } from "../../../src/sign/policy.ts";
import type { KubeApi, KubeObject } from "../../../src/mesh/kubernetes/client.ts";
import type { MeshPki } from "./pki.ts";

export const ENFORCED_LABEL = { "graft.dev/admission": "enforce" };
export const WEBHOOK_NAME = "wasmplugins.admission.graft.dev";

export interface Decision {
  uid: string;
  allowed: boolean;
  message?: string;
}

export interface AdmissionSetup {
  webhook: RunningWebhook;
  decisions: Decision[];
  close: () => Promise<void>;
}

export async function startAdmission(pki: MeshPki, policy: TrustPolicy): Promise<AdmissionSetup> {
  const decisions: Decision[] = [];
  const webhook = await startWebhookServer({
    cert: readFileSync(pki.webhook.cert),
    key: readFileSync(pki.webhook.key),
    policy,
    modules: new ModuleSource({ timeoutMs: 5_000 }),
    onDecision: (decision) => decisions.push(decision),
  });
  return { webhook, decisions, close: () => webhook.close() };
}

export function webhookConfiguration(webhookUrl: string, caFile: string): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: "graft-admission" },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig: { url: webhookUrl, caBundle: readFileSync(caFile).toString("base64") },
        rules: [
          {
            apiGroups: ["extensions.istio.io"],
            apiVersions: ["*"],
            operations: ["CREATE", "UPDATE"],
            resources: ["wasmplugins"],
          },
        ],
        namespaceSelector: { matchLabels: ENFORCED_LABEL },
        failurePolicy: "Fail",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: 10,
      },
    ],
  };
}

export async function registerWebhook(api: KubeApi, webhookUrl: string, caFile: string): Promise<void> {
  await api.apply(webhookConfiguration(webhookUrl, caFile));
}

/** Serves `module` at http://127.0.0.1:<port>/<name>. */
export async function serveModule(
  module: Buffer,
  name: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((incoming, response) => {
    incoming.resume();
    if (incoming.url !== `/${name}`) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/wasm", "content-length": module.length });
    response.end(module);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
