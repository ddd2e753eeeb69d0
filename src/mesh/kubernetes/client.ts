// SPDX-License-Identifier: Apache-2.0
/**
 * Just enough of a Kubernetes client for graft: JSON over HTTPS to the API server, authenticated by a
 * client certificate or a bearer token (see kubeconfig.ts). node:https, since fetch cannot present a
 * client certificate without undici's Agent. No discovery: the kinds graft touches have their REST
 * paths below.
 */
import { Agent, request } from "node:https";
import { GraftError } from "../../util/errors.ts";

export interface KubeResponse {
  status: number;
  body: unknown;
  text: string;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** How to reach and authenticate to an API server (from a kubeconfig, or given directly). */
export interface KubeConnection {
  server: string;
  /** PEM of the CA that signed the server's certificate (undefined: the system's CAs). */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  insecureSkipTlsVerify?: boolean;
  /** Where the connection came from, for errors (e.g. "kubeconfig ~/.kube/config, context prod"). */
  source?: string;
}

/** The API server could not be reached, or refused or failed a request graft needed. */
export class KubernetesError extends GraftError<"KUBERNETES_ERROR"> {
  constructor(message: string) {
    super("KUBERNETES_ERROR", message);
  }
}

/** The REST collection of the built-in and Istio kinds graft and its tests touch. */
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
  if (!resource) throw new KubernetesError(`no REST path known for ${apiVersion} ${kind}`);
  const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${root}/namespaces/${namespace}/${resource}` : `${root}/${resource}`;
}

export function objectPath(object: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): string {
  return `${collectionPath(object.apiVersion, object.kind, object.metadata.namespace)}/${object.metadata.name}`;
}

const REQUEST_TIMEOUT_MS = 15_000;

export class KubeApi {
  private readonly agent: Agent;
  readonly server: string;

  constructor(private readonly connection: KubeConnection) {
    this.server = connection.server.replace(/\/$/, "");
    this.agent = new Agent({
      ...(connection.ca ? { ca: connection.ca } : {}),
      ...(connection.cert ? { cert: connection.cert } : {}),
      ...(connection.key ? { key: connection.key } : {}),
      rejectUnauthorized: !connection.insecureSkipTlsVerify,
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
          timeout: REQUEST_TIMEOUT_MS,
          headers: {
            accept: "application/json",
            ...(this.connection.token ? { authorization: `Bearer ${this.connection.token}` } : {}),
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
      outgoing.on("timeout", () =>
        outgoing.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)),
      );
      outgoing.on("error", (error) =>
        reject(
          new KubernetesError(
            `${method} ${this.server}${path}: ${error.message}` +
              (this.connection.source ? ` (API server from ${this.connection.source})` : ""),
          ),
        ),
      );
      outgoing.end(payload);
    });
  }

  /** Like request(), but a status outside 2xx throws with the API server's message. */
  async expectOk(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse> {
    const response = await this.request(method, path, body, contentType);
    if (response.status < 200 || response.status > 299)
      throw new KubernetesError(`${method} ${path}: HTTP ${response.status}: ${statusMessage(response)}`);
    return response;
  }

  /** The object, or undefined when the API server says it does not exist. */
  async get<T extends KubeObject>(
    object: Pick<KubeObject, "apiVersion" | "kind" | "metadata">,
  ): Promise<T | undefined> {
    const response = await this.request("GET", objectPath(object));
    if (response.status === 404) return undefined;
    if (response.status !== 200)
      throw new KubernetesError(
        `GET ${objectPath(object)}: HTTP ${response.status}: ${statusMessage(response)}`,
      );
    return response.body as T;
  }

  create(object: KubeObject, query = ""): Promise<KubeResponse> {
    return this.request(
      "POST",
      `${collectionPath(object.apiVersion, object.kind, object.metadata.namespace)}${query}`,
      object,
    );
  }

  /** Server-side apply: idempotent, and no last-applied annotation (large CRDs overflow it). */
  apply(object: KubeObject, fieldManager = "graft"): Promise<KubeResponse> {
    return this.expectOk(
      "PATCH",
      `${objectPath(object)}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`,
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
