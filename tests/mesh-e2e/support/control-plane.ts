// SPDX-License-Identifier: Apache-2.0
/**
 * The real control plane of one run, all on 127.0.0.1 inside the private network namespace (fixed ports
 * are safe there): etcd 3.6 with a fresh data dir, kube-apiserver v1.36.1 on it, and stock istiod
 * (pilot-discovery) reading the API server through a kubeconfig with the admin certificate.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { KubeApi } from "../../../src/mesh/kubernetes/client.ts";
import { loadKubeconfig } from "../../../src/mesh/kubernetes/kubeconfig.ts";
import { writeKubeconfig, type MeshPki } from "./pki.ts";
import type { ManagedProcess, ProcessGroup } from "./processes.ts";
import { waitFor } from "./wait.ts";

export const PORTS = {
  etcdClient: 2379,
  etcdPeer: 2380,
  apiServer: 6443,
  istiodGrpc: 15010,
  istiodSecureGrpc: 15012,
  istiodMonitoring: 15014,
  istiodWebhook: 15017,
  istiodHttp: 18080,
  istiodCtrlz: 19876,
} as const;

export const API_SERVER_URL = `https://127.0.0.1:${PORTS.apiServer}`;

/** etcd with a data dir of its own; fsync off: the datastore lives for one run. */
export async function startEtcd(
  group: ProcessGroup,
  binary: string,
  workDir: string,
): Promise<ManagedProcess> {
  const client = `http://127.0.0.1:${PORTS.etcdClient}`;
  const peer = `http://127.0.0.1:${PORTS.etcdPeer}`;
  const etcd = group.start({
    name: "etcd",
    command: binary,
    args: [
      "--name=e2e",
      `--data-dir=${path.join(workDir, "etcd-data")}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=e2e=${peer}`,
      "--listen-metrics-urls=http://127.0.0.1:2381",
      "--unsafe-no-fsync",
      "--log-level=warn",
    ],
    logDir: workDir,
  });
  await waitFor(
    "etcd /health",
    async () => {
      const response = await fetch(`${client}/health`, { signal: AbortSignal.timeout(2_000) });
      const body = (await response.json()) as { health?: string };
      return body.health === "true" ? true : undefined;
    },
    { timeoutMs: 20_000, process: etcd },
  );
  return etcd;
}

export async function startApiServer(
  group: ProcessGroup,
  binary: string,
  workDir: string,
  pki: MeshPki,
): Promise<{ process: ManagedProcess; api: KubeApi; kubeconfig: string }> {
  const certDir = path.join(workDir, "apiserver-certs");
  mkdirSync(certDir);
  const apiServer = group.start({
    name: "kube-apiserver",
    command: binary,
    args: [
      `--etcd-servers=http://127.0.0.1:${PORTS.etcdClient}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${PORTS.apiServer}`,
      `--tls-cert-file=${pki.apiServer.cert}`,
      `--tls-private-key-file=${pki.apiServer.key}`,
      `--client-ca-file=${pki.caCert}`,
      "--service-account-issuer=https://kubernetes.default.svc",
      `--service-account-key-file=${pki.serviceAccountPublic}`,
      `--service-account-signing-key-file=${pki.serviceAccountPrivate}`,
      "--service-cluster-ip-range=10.96.0.0/24",
      "--authorization-mode=RBAC",
      // The default reconciler writes the loopback advertise address into the kubernetes Endpoints, which
      // validation refuses, every few seconds; nothing here needs that object.
      "--endpoint-reconciler-type=none",
      `--cert-dir=${certDir}`,
      "--profiling=false",
    ],
    logDir: workDir,
  });
  // The suite reaches the API server as a user would: through a kubeconfig (graft rollout reads it too).
  const kubeconfig = path.join(workDir, "admin.kubeconfig");
  writeKubeconfig(pki, API_SERVER_URL, kubeconfig);
  const api = new KubeApi(loadKubeconfig(kubeconfig));
  await waitFor(
    "kube-apiserver /readyz",
    async () => ((await api.request("GET", "/readyz")).status === 200 ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 200, process: apiServer },
  );
  return { process: apiServer, api, kubeconfig };
}

/**
 * Stock istiod against the API server. Upstream Envoy (not Istio's proxy build) lacks Istio's
 * metadata-exchange and ALPN filters, so istiod is told not to send them.
 */
export async function startIstiod(
  group: ProcessGroup,
  binary: string,
  workDir: string,
  pki: MeshPki,
): Promise<ManagedProcess> {
  const kubeconfig = path.join(workDir, "istiod.kubeconfig");
  writeKubeconfig(pki, API_SERVER_URL, kubeconfig);
  const meshConfig = path.join(workDir, "mesh.yaml");
  writeFileSync(
    meshConfig,
    yaml.dump({
      rootNamespace: "istio-system",
      trustDomain: "cluster.local",
      enableTracing: false,
      accessLogFile: "",
      defaultConfig: { discoveryAddress: `127.0.0.1:${PORTS.istiodGrpc}` },
    }),
  );
  const istiod = group.start({
    name: "istiod",
    command: binary,
    args: [
      "discovery",
      `--kubeconfig=${kubeconfig}`,
      `--meshConfig=${meshConfig}`,
      "--networksConfig=/nonexistent",
      `--httpAddr=127.0.0.1:${PORTS.istiodHttp}`,
      `--grpcAddr=127.0.0.1:${PORTS.istiodGrpc}`,
      `--secureGRPCAddr=127.0.0.1:${PORTS.istiodSecureGrpc}`,
      `--httpsAddr=127.0.0.1:${PORTS.istiodWebhook}`,
      `--monitoringAddr=127.0.0.1:${PORTS.istiodMonitoring}`,
      "--ctrlz_address=127.0.0.1",
      `--ctrlz_port=${PORTS.istiodCtrlz}`,
    ],
    env: {
      POD_NAMESPACE: "istio-system",
      POD_NAME: "istiod-e2e",
      REVISION: "default",
      PILOT_ENABLE_METADATA_EXCHANGE: "false",
      PILOT_ENABLE_ALPN_FILTER: "false",
    },
    logDir: workDir,
  });
  await waitFor(
    "istiod /ready",
    async () => {
      const response = await fetch(`http://127.0.0.1:${PORTS.istiodHttp}/ready`, {
        signal: AbortSignal.timeout(2_000),
      });
      await response.arrayBuffer();
      return response.status === 200 ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, process: istiod },
  );
  return istiod;
}
