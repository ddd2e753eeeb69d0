// SPDX-License-Identifier: Apache-2.0
/**
 * What the API server must hold before istiod can program a sidecar for the "app" workload, with no
 * kubelet, no controllers and no pods: Istio's CRDs for the kinds used here, the istio-system namespace,
 * a Service, a WorkloadEntry standing in for the pod (an EndpointSlice may not point at 127.0.0.1; a
 * WorkloadEntry may), and mTLS off (the sidecar has no certificate agent).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { projectRoot } from "../../../src/util/paths.ts";
import type { KubeApi, KubeObject } from "../../../src/mesh/kubernetes/client.ts";
import { waitFor } from "./wait.ts";

/** graft's reference copy of the WasmPlugin CRD (the one `graft istio` output is checked against). */
export const WASMPLUGIN_CRD = path.join(projectRoot, "tests", "data", "crds", "istio-wasmplugin.yaml");

/** Istio's CRDs the suite's objects need, by name, from istiod's own snapshot. */
const ISTIO_CRDS = ["workloadentries.networking.istio.io", "peerauthentications.security.istio.io"];

export const APP = {
  namespace: "default",
  labels: { app: "app" },
  host: "app.default.svc.cluster.local",
  servicePort: 8080,
  backendPort: 28080,
} as const;

export function crdsToApply(istioCrdsFile: string): KubeObject[] {
  const istio = yaml.loadAll(readFileSync(istioCrdsFile, "utf8")) as KubeObject[];
  const wanted = istio.filter((crd) => crd && ISTIO_CRDS.includes(crd.metadata.name));
  if (wanted.length !== ISTIO_CRDS.length)
    throw new Error(`${istioCrdsFile}: expected the CRDs ${ISTIO_CRDS.join(", ")}`);
  const wasmPlugin = yaml.load(readFileSync(WASMPLUGIN_CRD, "utf8")) as KubeObject;
  return [wasmPlugin, ...wanted];
}

export async function applyCrds(api: KubeApi, crds: KubeObject[]): Promise<void> {
  for (const crd of crds) await api.apply(crd);
  for (const crd of crds) {
    await waitFor(
      `CRD ${crd.metadata.name} Established`,
      async () => {
        const response = await api.expectOk(
          "GET",
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
        );
        const conditions = (response.body as { status?: { conditions?: { type: string; status: string }[] } })
          .status?.conditions;
        return conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
      },
      { timeoutMs: 15_000 },
    );
  }
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

/** The workload objects: the Service and WorkloadEntry of "app", mesh-wide mTLS off. */
export function appObjects(): KubeObject[] {
  return [
    namespace("istio-system"),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "app", namespace: APP.namespace },
      spec: {
        selector: APP.labels,
        ports: [{ name: "http", port: APP.servicePort, targetPort: APP.backendPort, protocol: "TCP" }],
      },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: { name: "app", namespace: APP.namespace },
      spec: {
        address: "127.0.0.1",
        labels: APP.labels,
        serviceAccount: "default",
        ports: { http: APP.backendPort },
      },
    },
    {
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: { name: "default", namespace: "istio-system" },
      spec: { mtls: { mode: "DISABLE" } },
    },
  ];
}
