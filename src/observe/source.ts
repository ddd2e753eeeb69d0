// Where a rollout reads each Envoy's counters: its admin API (the default), or a Prometheus that
// scrapes the Envoys (as in a mesh, where graft need not reach every admin port). Both give the
// same EnvoyScrape, so the judge cannot tell them apart.
import { adminOf, type Target } from "../inject/target.ts";
import { scrapeEnvoy, type EnvoyScrape } from "./collect.ts";
import { PrometheusClient, scrapeFromPrometheus } from "./prometheus.ts";

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
