// The canary's signals read from Prometheus instead of each Envoy's admin port: the same counters,
// as Prometheus last scraped them from Envoy's /stats/prometheus, turned into the same EnvoyScrape
// the admin-API collector makes. Raw counter samples, never increase()/rate(): those extrapolate to
// the window's edges (21.8 for a true 20), and the judge needs exact counts. Counter resets are
// handled where they are for the admin API: EnvoySeries stitches a restarted Envoy's counters.
import { taggedStatName } from "../metrics/tags.ts";
import type { EnvoyScrape } from "./collect.ts";
import { GraftError } from "../util/errors.ts";

interface PrometheusSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Prometheus could not answer, or has nothing for the asked-for Envoy; the message says which and why. */
export class PrometheusSourceError extends GraftError<"PROMETHEUS_UNAVAILABLE"> {
  constructor(message: string) {
    super("PROMETHEUS_UNAVAILABLE", message);
  }
}

/** The Prometheus HTTP API (instant queries), at e.g. http://127.0.0.1:9090. */
export class PrometheusClient {
  constructor(readonly baseUrl: string) {}

  async instant(query: string): Promise<PrometheusSample[]> {
    const url = `${this.baseUrl.replace(/\/$/, "")}/api/v1/query?query=${encodeURIComponent(query)}`;
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new PrometheusSourceError(
        `Prometheus at ${this.baseUrl} did not answer (${(error as Error).cause ?? (error as Error).message}); check the plan's metrics.url`,
      );
    }
    const body = (await response.json().catch(() => ({}))) as {
      status?: string;
      error?: string;
      data?: { resultType: string; result: PrometheusSample[] };
    };
    if (!response.ok || body.status !== "success" || body.data?.resultType !== "vector") {
      throw new PrometheusSourceError(
        `Prometheus at ${this.baseUrl} refused the query (HTTP ${response.status}: ${body.error ?? "no vector"}): ${query}`,
      );
    }
    return body.data.result;
  }
}

/** PromQL's string escaping for a label value. */
export function quoted(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

// Everything one scrape needs, in one query per Envoy.
const SERIES =
  "envoy_http_downstream_rq_completed|envoy_http_downstream_rq_xx|envoy_http_downstream_rq_time_bucket|" +
  "envoy_server_uptime|envoy_server_memory_allocated|envoy_wasm_.+_vm_reload(_failure)?|graft_.+";

/**
 * What the admin-API collector (scrapeEnvoy) would read from the Envoy Prometheus scrapes as
 * `instance`, for the listener whose stat prefix is `listener`.
 */
export async function scrapeFromPrometheus(
  client: PrometheusClient,
  instance: string,
  listener: string,
): Promise<EnvoyScrape> {
  const samples = await client.instant(`{instance=${quoted(instance)},__name__=~${quoted(SERIES)}}`);
  if (samples.length === 0) {
    throw new PrometheusSourceError(
      `Prometheus at ${client.baseUrl} has no series for instance ${instance}: is it scraping that Envoy's /stats/prometheus (instance label ${instance})?`,
    );
  }
  const scrape: EnvoyScrape = {
    uptimeSeconds: 0,
    requests: 0,
    rq4xx: 0,
    rq5xx: 0,
    latency: [],
    vmFailures: 0,
    filterCounters: {},
    memoryAllocated: 0,
  };
  const listeners = new Set<string>();
  const histogramNames = new Set(
    samples
      .map((s) => s.metric.__name__ ?? "")
      .filter((name) => name.endsWith("_bucket"))
      .map((name) => name.slice(0, -7)),
  );
  let sawListener = false;
  for (const sample of samples) {
    const { __name__: name = "", ...labels } = sample.metric;
    const value = Number(sample.value[1]);
    // Envoy's default tag names, or Istio's (its sidecar bootstrap replaces the defaults).
    const prefix = labels.envoy_http_conn_manager_prefix ?? labels.http_conn_manager_prefix;
    const codeClass = labels.envoy_response_code_class ?? labels.response_code_class;
    if (prefix !== undefined) listeners.add(prefix);
    if (name === "envoy_server_uptime") scrape.uptimeSeconds = value;
    else if (name === "envoy_server_memory_allocated") scrape.memoryAllocated = value;
    else if (/^envoy_wasm_.+_vm_reload(_failure)?$/.test(name) && !name.startsWith("envoy_wasm_envoy_"))
      scrape.vmFailures += value;
    else if (prefix === listener) {
      if (name === "envoy_http_downstream_rq_completed") {
        scrape.requests = value;
        sawListener = true;
      } else if (name === "envoy_http_downstream_rq_xx") {
        if (codeClass === "4") scrape.rq4xx = value;
        if (codeClass === "5") scrape.rq5xx = value;
      } else if (name === "envoy_http_downstream_rq_time_bucket" && labels.le !== "+Inf") {
        scrape.latency.push({ upperBound: Number(labels.le), count: value });
      }
    } else if (name.startsWith("graft_") && !isHistogramPart(name, histogramNames)) {
      scrape.filterCounters[adminStatName(name, labels)] = value;
    }
  }
  if (!sawListener) {
    const known = [...listeners].filter((name) => name !== listener && name !== "admin");
    throw new PrometheusSourceError(
      `listener "${listener}" has no HTTP stats in Prometheus for instance ${instance} ` +
        (known.length > 0
          ? `(listeners with stats: ${known.join(", ")}); set the plan's listener to one of them`
          : "(no listener has HTTP stats yet)"),
    );
  }
  scrape.latency.sort((a, b) => a.upperBound - b.upperBound);
  return scrape;
}

function isHistogramPart(name: string, histograms: Set<string>): boolean {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix) && histograms.has(name.slice(0, -suffix.length))) return true;
  }
  return false;
}

/** `graft_rejected_total{filter,injection,reason}` → the /stats name the admin API shows for it. */
function adminStatName(name: string, labels: Record<string, string>): string {
  const { instance: _instance, job: _job, ...tags } = labels;
  return taggedStatName(`graft.${name.slice("graft_".length)}`, tags);
}
