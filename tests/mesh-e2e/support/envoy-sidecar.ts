// SPDX-License-Identifier: Apache-2.0
/**
 * A plain Envoy 1.40 acting as the "app" workload's sidecar: its bootstrap names the node the way
 * istio-agent would (sidecar~IP~pod.namespace~namespace.svc.cluster.local, plus the metadata istiod reads)
 * and points ADS at istiod's plaintext gRPC port. Everything after that (listeners, clusters, the Wasm
 * filter over ECDS) comes from istiod. Also: reading the filter chain back from /config_dump.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { APP } from "./istio-objects.ts";
import { PORTS } from "./control-plane.ts";
import type { ManagedProcess, ProcessGroup } from "./processes.ts";
import { waitFor } from "./wait.ts";

export const ENVOY_ADMIN_PORT = 15000;
export const ENVOY_OUTBOUND_PORT = 15001;
/** Envoy runs with this group id so the iptables redirect can leave its own connections alone (as Istio's 1337). */
export const ENVOY_GID = 1337;
/** The outbound listener istiod makes for the app Service port. */
export const APP_LISTENER = `0.0.0.0_${APP.servicePort}`;

function staticCluster(
  name: string,
  address: Record<string, unknown>,
  http2 = false,
): Record<string, unknown> {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    ...(http2
      ? {
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        }
      : {}),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
  };
}

export function sidecarBootstrap(workDir: string): Record<string, unknown> {
  return {
    node: {
      id: `sidecar~127.0.0.1~app.${APP.namespace}~${APP.namespace}.svc.cluster.local`,
      cluster: `app.${APP.namespace}`,
      metadata: {
        NAMESPACE: APP.namespace,
        INSTANCE_IPS: "127.0.0.1",
        ISTIO_VERSION: "1.30.0",
        CLUSTER_ID: "Kubernetes",
        MESH_ID: "cluster.local",
        NAME: "app",
        WORKLOAD_NAME: "app",
        SERVICE_ACCOUNT: "default",
        LABELS: { ...APP.labels },
      },
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: ENVOY_ADMIN_PORT } } },
    dynamic_resources: {
      ads_config: {
        api_type: "GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: "xds-grpc" } }],
      },
      cds_config: { ads: {}, resource_api_version: "V3" },
      lds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      clusters: [
        staticCluster(
          "xds-grpc",
          { socket_address: { address: "127.0.0.1", port_value: PORTS.istiodGrpc } },
          true,
        ),
        // Named by istiod's configuration; never connected to here (mTLS is off, metrics are read from admin).
        staticCluster("sds-grpc", { pipe: { path: path.join(workDir, "sds-unused.sock") } }, true),
        staticCluster("prometheus_stats", {
          socket_address: { address: "127.0.0.1", port_value: ENVOY_ADMIN_PORT },
        }),
        staticCluster("agent", { socket_address: { address: "127.0.0.1", port_value: ENVOY_ADMIN_PORT } }),
      ],
    },
  };
}

export async function startSidecar(
  group: ProcessGroup,
  binary: string,
  workDir: string,
): Promise<ManagedProcess> {
  const bootstrap = path.join(workDir, "envoy-bootstrap.json");
  writeFileSync(bootstrap, JSON.stringify(sidecarBootstrap(workDir), null, 2));
  const envoy = group.start({
    name: "envoy",
    command: binary,
    args: ["-c", bootstrap, "--disable-hot-restart", "--concurrency", "1", "--log-level", "info"],
    gid: ENVOY_GID,
    logDir: workDir,
  });
  await waitForListener(APP_LISTENER, envoy);
  return envoy;
}

/** Until Envoy (started by `owner`, itself or pilot-agent) has `listener` from istiod, active. */
export async function waitForListener(listener: string, owner: ManagedProcess): Promise<void> {
  await waitFor(
    `Envoy listener ${listener} from istiod`,
    async () => ((await activeListeners()).includes(listener) ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 100, process: owner },
  );
}

export async function adminJson(pathAndQuery: string): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${ENVOY_ADMIN_PORT}${pathAndQuery}`, {
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`Envoy admin ${pathAndQuery}: HTTP ${response.status}`);
  return response.json();
}

async function activeListeners(): Promise<string[]> {
  const body = (await adminJson("/listeners?format=json")) as { listener_statuses?: { name: string }[] };
  return (body.listener_statuses ?? []).map((listener) => listener.name);
}

interface AnyConfig {
  "@type": string;
  [key: string]: unknown;
}

/** The names of the HTTP filters, in order, of the first HTTP connection manager of an active listener. */
export async function httpFilterNames(listenerName: string): Promise<string[]> {
  const dump = (await adminJson("/config_dump?resource=dynamic_listeners")) as { configs: AnyConfig[] };
  const entry = dump.configs.find((config) => config.name === listenerName) as
    | {
        active_state?: {
          listener?: {
            filter_chains?: {
              filters?: { name: string; typed_config?: { http_filters?: { name: string }[] } }[];
            }[];
          };
        };
      }
    | undefined;
  for (const chain of entry?.active_state?.listener?.filter_chains ?? [])
    for (const filter of chain.filters ?? [])
      if (filter.name === "envoy.filters.network.http_connection_manager")
        return (filter.typed_config?.http_filters ?? []).map((http) => http.name);
  return [];
}

export interface EcdsFilter {
  name: string;
  typedConfig: Record<string, unknown>;
}

/** The filter configurations Envoy received over ECDS (what istiod made of WasmPlugins). */
export async function ecdsFilters(): Promise<EcdsFilter[]> {
  const dump = (await adminJson("/config_dump?resource=ecds_filters")) as { configs: AnyConfig[] };
  return dump.configs
    .map(
      (config) => config.ecds_filter as { name?: string; typed_config?: Record<string, unknown> } | undefined,
    )
    .filter((filter) => filter?.name !== undefined)
    .map((filter) => ({ name: filter!.name!, typedConfig: filter!.typed_config ?? {} }));
}
