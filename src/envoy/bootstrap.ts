import yaml from "js-yaml";
import { listFilters, type FilterInfo } from "../filters/catalog.ts";
import { graftStatsTags } from "../metrics/tags.ts";

/** An entry of the HTTP connection manager's `http_filters`, as Envoy's API defines it. */
export type HttpFilter = Record<string, unknown> & { name: string };

export interface ListenerSpec {
  /** Listener name; tests and the demo find its bound port by this name. */
  name: string;
  /** Filters placed before the router, in order. */
  httpFilters: HttpFilter[];
  /** Port to bind on 127.0.0.1; 0 (default) lets the kernel choose. */
  port?: number;
}

export interface BootstrapSpec {
  listeners: ListenerSpec[];
  /** The upstream every listener routes to. */
  upstream: { host: string; port: number };
  /** Admin port on 127.0.0.1; 0 (default) lets the kernel choose. */
  adminPort?: number;
  /** Envoy node id (xDS subscriptions, ECDS included, need one); also shows in logs. */
  nodeId?: string;
  /** Filters whose metric tags get stats_tags, besides this repository's (e.g. an author's own filter). */
  extraFilters?: FilterInfo[];
}

/** Latency histogram bounds (ms) for HTTP stats; the canary judge's slow-request bands are these edges. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000,
  30000,
];

const ROUTER: HttpFilter = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};

function httpListener(spec: ListenerSpec): Record<string, unknown> {
  return {
    name: spec.name,
    address: { socket_address: { address: "127.0.0.1", port_value: spec.port ?? 0 } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: spec.name,
              codec_type: "AUTO",
              route_config: {
                name: `${spec.name}_routes`,
                virtual_hosts: [
                  {
                    name: "upstream",
                    domains: ["*"],
                    routes: [{ match: { prefix: "/" }, route: { cluster: "upstream", timeout: "10s" } }],
                  },
                ],
              },
              http_filters: [...spec.httpFilters, ROUTER],
            },
          },
        ],
      },
    ],
  };
}

/** The bootstrap object for one Envoy: admin and listeners on 127.0.0.1, graft's stats tags. */
export function renderBootstrap(spec: BootstrapSpec): Record<string, unknown> {
  return {
    node: { id: spec.nodeId ?? "graft", cluster: "graft" },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: spec.adminPort ?? 0 } } },
    // Histograms reach the admin API at each flush; 1 s keeps canary looks fresh.
    stats_flush_interval: "1s",
    stats_config: {
      stats_tags: graftStatsTags([...listFilters(), ...(spec.extraFilters ?? [])]),
      // Fine latency buckets (ms) so the canary judge can see a 10 ms shift in the median.
      histogram_bucket_settings: [{ match: { prefix: "http." }, buckets: LATENCY_BUCKETS_MS }],
    },
    static_resources: {
      listeners: spec.listeners.map(httpListener),
      clusters: [
        {
          name: "upstream",
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: {
            cluster_name: "upstream",
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: {
                      address: {
                        socket_address: { address: spec.upstream.host, port_value: spec.upstream.port },
                      },
                    },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

export function bootstrapYaml(spec: BootstrapSpec): string {
  return yaml.dump(renderBootstrap(spec), { noRefs: true, lineWidth: -1 });
}
