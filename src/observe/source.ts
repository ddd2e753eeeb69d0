// Where a rollout reads each Envoy's counters: its admin API (the default), or a Prometheus that
// scrapes the Envoys (as in a mesh, where graft need not reach every admin port). Both give the
// same EnvoyScrape, so the judge cannot tell them apart.
import { adminOf, type Target } from "../inject/target.ts";
import { scrapeEnvoy, type EnvoyScrape } from "./collect.ts";
import { PrometheusClient, quoted, scrapeFromPrometheus } from "./prometheus.ts";

export interface MetricSource {
  /** What a report says the signals came from. */
  readonly description: string;
  scrape(target: Target, listener: string): Promise<EnvoyScrape>;
}

export const adminApiSource: MetricSource = {
  description: "each Envoy's admin API",
  scrape: (target, listener) => scrapeEnvoy(adminOf(target), listener),
};

/**
 * Prometheus at `url`. A target's series are those whose `instance` label is the target's
 * `instance` label, else its admin address (host:port), as a static scrape of /stats/prometheus
 * labels them.
 */
export function prometheusSource(url: string): MetricSource {
  const client = new PrometheusClient(url);
  return {
    description: `Prometheus at ${url}`,
    scrape: (target, listener) => scrapeFromPrometheus(client, instanceOf(target), listener),
  };
}

export function instanceOf(target: Target): string {
  const label = target.labels.instance;
  if (label) return label;
  return new URL(target.adminUrl).host;
}

/** A Prometheus label name for a workload label, as `labelmap: __meta_kubernetes_pod_label_(.+)` makes it. */
export function prometheusLabelName(key: string): string {
  return key.replace(/[^A-Za-z0-9_]/g, "_");
}

/**
 * The Envoys Prometheus scrapes whose series carry all of `labels` (workload labels, sanitized as
 * Prometheus's labelmap does), as targets of the prometheus source: named by their `pod` label when
 * there is one, else their `instance`; their labels are the series' plus `labels` as written.
 */
export async function envoysInPrometheus(url: string, labels: Record<string, string>): Promise<Target[]> {
  const matchers = Object.entries(labels).map(
    ([key, value]) => `${prometheusLabelName(key)}=${quoted(value)}`,
  );
  const samples = await new PrometheusClient(url).instant(`envoy_server_uptime{${matchers.join(",")}}`);
  const byInstance = new Map<string, Target>();
  for (const { metric } of samples) {
    const { __name__: _name, ...seriesLabels } = metric;
    const instance = seriesLabels.instance;
    if (!instance || byInstance.has(instance)) continue;
    byInstance.set(instance, {
      name: seriesLabels.pod ?? instance,
      adminUrl: "",
      ecdsDir: "",
      moduleDir: "",
      slots: [],
      labels: { ...seriesLabels, ...labels },
    });
  }
  return [...byInstance.values()].sort((a, b) => a.name.localeCompare(b.name));
}
