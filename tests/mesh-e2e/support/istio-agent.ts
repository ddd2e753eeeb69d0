// SPDX-License-Identifier: Apache-2.0
/**
 * The "app" sidecar the way Istio runs it: pilot-agent (istio-agent) starting the same Envoy 1.40 and
 * proxying its xDS to istiod. Only the agent fetches oci:// and http(s):// Wasm modules: it intercepts
 * the ECDS answer, pulls the image, and hands Envoy a local file. Outside a pod it needs what the pod
 * would give it: a working directory for its relative paths (./etc/istio/proxy, ./var/run/secrets/...),
 * the bootstrap template of Istio's proxy image, the pod's identity in environment variables, and a
 * workload certificate. The certificate comes from the run's own CA as mounted files, so the agent has
 * no CA client (istiod's CA listens on its TLS port only, which would also need a service-account token).
 */
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { PORTS } from "./control-plane.ts";
import { APP_LISTENER, ENVOY_GID, waitForListener } from "./envoy-sidecar.ts";
import { APP } from "./istio-objects.ts";
import type { MeshPki } from "./pki.ts";
import type { ManagedProcess, ProcessGroup } from "./processes.ts";

export interface AgentTools {
  pilotAgent: string;
  envoy: string;
  bootstrapTemplate: string;
}

export async function startAgentSidecar(
  group: ProcessGroup,
  tools: AgentTools,
  workDir: string,
  pki: MeshPki,
): Promise<ManagedProcess> {
  const agentDir = path.join(workDir, "agent");
  // security.WorkloadIdentityCredentialsPath: with these three files the agent serves them and asks no CA.
  const credentials = path.join(agentDir, "var", "run", "secrets", "workload-spiffe-credentials");
  mkdirSync(credentials, { recursive: true });
  copyFileSync(pki.workload.cert, path.join(credentials, "cert-chain.pem"));
  copyFileSync(pki.workload.key, path.join(credentials, "key.pem"));
  copyFileSync(pki.caCert, path.join(credentials, "root-cert.pem"));
  const proxyConfig = {
    discoveryAddress: `127.0.0.1:${PORTS.istiodGrpc}`,
    // istiod's plaintext xDS port, no TLS to the control plane.
    controlPlaneAuthPolicy: "NONE",
    binaryPath: tools.envoy,
    proxyBootstrapTemplatePath: tools.bootstrapTemplate,
    configPath: path.join(agentDir, "etc", "istio", "proxy"),
    concurrency: 1,
    drainDuration: "1s",
    terminationDrainDuration: "1s",
  };
  const agent = group.start({
    name: "pilot-agent",
    // The agent keeps pulled modules in /var/lib/istio/data, a constant (constants.IstioDataDir). A mount
    // namespace of its own gives it (and its Envoy) an empty tmpfs there; the host's /var/lib is untouched.
    command: "unshare",
    args: [
      "--mount",
      "--propagation=private",
      "--",
      "sh",
      "-c",
      'mount -t tmpfs -o size=64m,mode=0755 graft-mesh-e2e /var/lib && mkdir -p /var/lib/istio/data && exec "$0" "$@"',
      tools.pilotAgent,
      "proxy",
      "sidecar",
      `--domain=${APP.namespace}.svc.cluster.local`,
      "--proxyLogLevel=warning",
    ],
    cwd: agentDir,
    env: {
      PROXY_CONFIG: JSON.stringify(proxyConfig),
      POD_NAME: "app",
      POD_NAMESPACE: APP.namespace,
      INSTANCE_IP: "127.0.0.1",
      SERVICE_ACCOUNT: "default",
      ISTIO_META_CLUSTER_ID: "Kubernetes",
      ISTIO_META_MESH_ID: "cluster.local",
      ISTIO_META_WORKLOAD_NAME: "app",
      ISTIO_METAJSON_LABELS: JSON.stringify(APP.labels),
      TRUST_DOMAIN: "cluster.local",
      // The suite's registry speaks plain HTTP on 127.0.0.1.
      WASM_INSECURE_REGISTRIES: "*",
    },
    // Envoy inherits the group, which the iptables redirect leaves alone.
    gid: ENVOY_GID,
    logDir: workDir,
  });
  await waitForListener(APP_LISTENER, agent);
  return agent;
}
