// SPDX-License-Identifier: Apache-2.0
/**
 * A plain Envoy 1.40 acting as the "app" workload's sidecar: its bootstrap names the node the way
 * istio-agent would (sidecar~IP~pod.namespace~namespace.svc.cluster.local, plus the metadata istiod reads)
 * and points ADS at istiod's plaintext gRPC port. Everything after that (listeners, clusters, the Wasm
 * filter over ECDS) comes from istiod. Also: reading the filter chain back from /config_dump.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { FilterInfo } from "../../../src/filters/catalog.ts";
import { graftProxyConfig } from "../../../src/mesh/istio/proxy-stats.ts";
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

/** Which pod of the "app" workload a sidecar stands for: its name, address, admin port and labels. */
export interface SidecarIdentity {
  pod: string;
  ip: string;
  adminPort: number;
  labels: Record<string, string>;
}

/** The first pod: the one every check talks to (ENVOY_ADMIN_PORT), on the stable track. */
export const STABLE_POD: SidecarIdentity = {
  pod: "app",
  ip: "127.0.0.1",
  adminPort: ENVOY_ADMIN_PORT,
  labels: { ...APP.labels, track: "stable" },
};

/**
 * A second pod of the same workload on the canary track. Its Envoy binds the same outbound port as the
 * first (Envoy listeners use SO_REUSEPORT), so the kernel spreads the app's connections over both, as a
 * Service spreads them over pods.
 */
export const CANARY_POD: SidecarIdentity = {
  pod: "app-canary",
  ip: "127.0.0.2",
  adminPort: 15100,
  labels: { ...APP.labels, track: "canary" },
};

/**
 * What pilot-agent's bootstrap template (tools/istio: envoy_bootstrap.json) makes of a sidecar's stats
 * settings, with the ProxyConfig `graft istio stats` renders for `filters` applied: Istio's own tag names
 * instead of Envoy's defaults (its stat prefixes end in ";"), graft's extraStatTags, and Istio's
 * inclusion-list stats matcher (its required prefixes plus graft's prefix and regex). The rollout checks
 * judge from what this leaves, so they prove the settings are enough.
 */
function sidecarStatsConfig(filters: readonly FilterInfo[]): Record<string, unknown> {
  const graft = graftProxyConfig(filters);
  // pkg/bootstrap/config.go: requiredEnvoyStatsMatcherInclusionPrefixes, and the template's fixed ones.
  const istioPrefixes = ["cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm"];
  return {
    use_all_default_tags: false,
    stats_tags: [
      {
        tag_name: "http_conn_manager_prefix",
        regex: "^http\\.(((?:[_.[:digit:]\\w]*|[_\\[\\]aAbBcCdDeEfF[:digit:]\\w\\:]*));\\.)",
      },
      { tag_name: "response_code", regex: "_rq(_(\\d{3}))$" },
      { tag_name: "response_code_class", regex: "_rq(_(\\dxx))$" },
      ...graft.extraStatTags.map((tag) => ({ tag_name: tag, regex: `(${tag}=\\.=(.*?);\\.;)` })),
    ],
    stats_matcher: {
      inclusion_list: {
        patterns: [
          { prefix: "reporter=" },
          ...[...graft.proxyStatsMatcher.inclusionPrefixes, ...istioPrefixes].map((prefix) => ({ prefix })),
          ...graft.proxyStatsMatcher.inclusionRegexps.map((regex) => ({ safe_regex: { regex } })),
          { prefix: "component" },
          { prefix: "istio" },
        ],
      },
    },
  };
}

/**
 * `filters`: the graft filters whose metric tags the sidecar extracts, as Istio's bootstrap does from the
 * proxy settings `graft istio stats` renders (extraStatTags); the judge reads those tags from Prometheus.
 */
export function sidecarBootstrap(
  workDir: string,
  identity: SidecarIdentity,
  filters: readonly FilterInfo[],
): Record<string, unknown> {
  const { pod, ip, adminPort } = identity;
  return {
    stats_config: sidecarStatsConfig(filters),
    node: {
      id: `sidecar~${ip}~${pod}.${APP.namespace}~${APP.namespace}.svc.cluster.local`,
      cluster: `app.${APP.namespace}`,
      metadata: {
        NAMESPACE: APP.namespace,
        INSTANCE_IPS: ip,
        ISTIO_VERSION: "1.30.0",
        CLUSTER_ID: "Kubernetes",
        MESH_ID: "cluster.local",
        NAME: pod,
        WORKLOAD_NAME: "app",
        SERVICE_ACCOUNT: "default",
        LABELS: { ...identity.labels },
      },
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
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
        staticCluster("sds-grpc", { pipe: { path: path.join(workDir, `${pod}-sds-unused.sock`) } }, true),
        staticCluster("prometheus_stats", {
          socket_address: { address: "127.0.0.1", port_value: adminPort },
        }),
        staticCluster("agent", { socket_address: { address: "127.0.0.1", port_value: adminPort } }),
      ],
    },
  };
}

export async function startSidecar(
  group: ProcessGroup,
  binary: string,
  workDir: string,
  identity: SidecarIdentity,
  filters: readonly FilterInfo[],
): Promise<ManagedProcess> {
  const bootstrap = path.join(workDir, `${identity.pod}-envoy-bootstrap.json`);
  writeFileSync(bootstrap, JSON.stringify(sidecarBootstrap(workDir, identity, filters), null, 2));
  const envoy = group.start({
    name: identity === STABLE_POD ? "envoy" : `envoy-${identity.pod}`,
    command: binary,
    args: ["-c", bootstrap, "--disable-hot-restart", "--concurrency", "1", "--log-level", "info"],
    gid: ENVOY_GID,
    logDir: workDir,
  });
  await waitForListener(APP_LISTENER, envoy, identity.adminPort);
  return envoy;
}

/** Until Envoy (started by `owner`, itself or pilot-agent) has `listener` from istiod, active. */
export async function waitForListener(
  listener: string,
  owner: ManagedProcess,
  adminPort = ENVOY_ADMIN_PORT,
): Promise<void> {
  await waitFor(
    `Envoy listener ${listener} from istiod`,
    async () => ((await activeListeners(adminPort)).includes(listener) ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 100, process: owner },
  );
}

export async function adminJson(pathAndQuery: string, adminPort = ENVOY_ADMIN_PORT): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${adminPort}${pathAndQuery}`, {
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`Envoy admin ${pathAndQuery}: HTTP ${response.status}`);
  return response.json();
}

async function activeListeners(adminPort: number): Promise<string[]> {
  const body = (await adminJson("/listeners?format=json", adminPort)) as {
    listener_statuses?: { name: string }[];
  };
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
export async function ecdsFilters(adminPort = ENVOY_ADMIN_PORT): Promise<EcdsFilter[]> {
  const dump = (await adminJson("/config_dump?resource=ecds_filters", adminPort)) as { configs: AnyConfig[] };
  return dump.configs
    .map(
      (config) => config.ecds_filter as { name?: string; typed_config?: Record<string, unknown> } | undefined,
    )
    .filter((filter) => filter?.name !== undefined)
    .map((filter) => ({ name: filter!.name!, typedConfig: filter!.typed_config ?? {} }));
}
