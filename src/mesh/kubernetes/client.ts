// SPDX-License-Identifier: Apache-2.0
/**
 * Just enough of a Kubernetes client for the suite: JSON over HTTPS with the run's admin client
 * certificate (node:https, since fetch cannot present a client certificate without undici's Agent).
 * No kubectl: the API paths are spelled out where they are used.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";

export interface KubeResponse {
  status: number;
  body: unknown;
  text: string;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** The REST collection of a few built-in and Istio kinds (the suite has no discovery client). */
const RESOURCES: Record<string, string> = {
  "v1/Namespace": "namespaces",
  "v1/Service": "services",
  "apiextensions.k8s.io/v1/CustomResourceDefinition": "customresourcedefinitions",
  "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
  "networking.istio.io/v1/WorkloadEntry": "workloadentries",
  "security.istio.io/v1/PeerAuthentication": "peerauthentications",
  "extensions.istio.io/v1alpha1/WasmPlugin": "wasmplugins",
};

/** `/api/v1/namespaces/default/services` style collection path of an object (or of a kind in a namespace). */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const resource = RESOURCES[`${apiVersion}/${kind}`];
  if (!resource) throw new Error(`kube-api: no REST path known for ${apiVersion} ${kind}`);
  const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${root}/namespaces/${namespace}/${resource}` : `${root}/${resource}`;
}

export function objectPath(object: KubeObject): string {
  return `${collectionPath(object.apiVersion, object.kind, object.metadata.namespace)}/${object.metadata.name}`;
}

export class KubeApi {
  private readonly agent: Agent;

  constructor(
    readonly server: string,
    tls: { caFile: string; certFile: string; keyFile: string },
  ) {
    this.agent = new Agent({
      ca: readFileSync(tls.caFile),
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      keepAlive: true,
    });
  }

  request(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<KubeResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const outgoing = request(
        `${this.server}${path}`,
        {
          method,
          agent: this.agent,
          timeout: 15_000,
          headers: {
            accept: "application/json",
            ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // plain text (e.g. /readyz)
            }
            resolve({ status: response.statusCode ?? 0, body: parsed, text });
          });
          response.on("error", reject);
        },
      );
      outgoing.on("timeout", () => outgoing.destroy(new Error(`${method} ${path}: no answer within 15 s`)));
      outgoing.on("error", reject);
      outgoing.end(payload);
    });
  }

  /** Like request(), but a status outside 2xx throws with the API server's message. */
  async expectOk(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse> {
    const response = await this.request(method, path, body, contentType);
    if (response.status < 200 || response.status > 299)
      throw new Error(`${method} ${path}: HTTP ${response.status}: ${statusMessage(response)}`);
    return response;
  }

  create(object: KubeObject, query = ""): Promise<KubeResponse> {
    return this.request(
      "POST",
      `${collectionPath(object.apiVersion, object.kind, object.metadata.namespace)}${query}`,
      object,
    );
  }

  /** Server-side apply: idempotent, and no last-applied annotation (large CRDs overflow it). */
  apply(object: KubeObject): Promise<KubeResponse> {
    return this.expectOk(
      "PATCH",
      `${objectPath(object)}?fieldManager=graft-mesh-e2e&force=true`,
      object,
      "application/apply-patch+yaml",
    );
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The `message` of a Status answer, else the raw text. */
export function statusMessage(response: KubeResponse): string {
  const message = (response.body as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : response.text.slice(0, 500);
}
