import yaml from "js-yaml";
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
}

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
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
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
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: spec.adminPort ?? 0 } } },
    stats_config: { stats_tags: graftStatsTags() },
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
                      address: { socket_address: { address: spec.upstream.host, port_value: spec.upstream.port } },
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
