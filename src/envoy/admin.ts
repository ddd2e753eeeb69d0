/** Envoy's admin API, as graft reads it: stats, listeners, config dump, readiness. */

export interface EnvoyStats {
  /** Counters and gauges by full name (`/stats` naming, e.g. `wasmcustom.…`). */
  values: Map<string, number>;
  /** Text readouts (for example ECDS `version_text`). */
  text: Map<string, string>;
  /** Histograms by name with their cumulative buckets and summary. */
  histograms: Map<string, HistogramStat>;
}

export interface HistogramStat {
  /** Cumulative counts per upper bound, over the process lifetime, as of the last stats flush. */
  buckets: { upperBound: number; count: number }[];
}

interface RawStatsJson {
  stats: Array<{ name: string; value: number | string } | { histograms: unknown }>;
}

export class AdminClient {
  constructor(readonly baseUrl: string) {}

  async get(pathAndQuery: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.baseUrl}${pathAndQuery}`, init);
  }

  async text(pathAndQuery: string): Promise<string> {
    const response = await this.get(pathAndQuery);
    const body = await response.text();
    if (!response.ok) throw new Error(`admin ${pathAndQuery}: HTTP ${response.status}: ${body.trim()}`);
    return body;
  }

  async isReady(): Promise<boolean> {
    try {
      const response = await this.get("/ready");
      await response.text();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** Counters, gauges and text readouts from `/stats?format=json`, histograms from the cumulative view. */
  async stats(filter?: string): Promise<EnvoyStats> {
    const query = filter ? `&filter=${encodeURIComponent(filter)}` : "";
    const raw = JSON.parse(await this.text(`/stats?format=json${query}`)) as RawStatsJson;
    const values = new Map<string, number>();
    const text = new Map<string, string>();
    for (const entry of raw.stats) {
      if ("name" in entry) {
        if (typeof entry.value === "number") values.set(entry.name, entry.value);
        else text.set(entry.name, entry.value);
      }
    }
    const histograms = await this.histograms(query);
    return { values, text, histograms };
  }

  private async histograms(query: string): Promise<Map<string, HistogramStat>> {
    const raw = JSON.parse(
      await this.text(`/stats?format=json&type=Histograms&histogram_buckets=cumulative${query}`),
    ) as {
      stats: Array<{
        histograms?: { name: string; buckets: { upper_bound: number; cumulative: number }[] }[];
      }>;
    };
    const result = new Map<string, HistogramStat>();
    for (const entry of raw.stats) {
      for (const histogram of entry.histograms ?? []) {
        result.set(histogram.name, {
          buckets: histogram.buckets.map((bucket) => ({
            upperBound: bucket.upper_bound,
            count: bucket.cumulative,
          })),
        });
      }
    }
    return result;
  }

  async prometheus(): Promise<string> {
    return this.text("/stats/prometheus");
  }

  async configDump(query = ""): Promise<unknown> {
    return JSON.parse(await this.text(`/config_dump${query}`));
  }

  /** Bound address of each listener, by name (listeners bind port 0 in tests). */
  async listenerAddresses(): Promise<Map<string, { host: string; port: number }>> {
    const raw = JSON.parse(await this.text("/listeners?format=json")) as {
      listener_statuses: {
        name: string;
        local_address: { socket_address: { address: string; port_value: number } };
      }[];
    };
    const result = new Map<string, { host: string; port: number }>();
    for (const status of raw.listener_statuses) {
      const socket = status.local_address.socket_address;
      result.set(status.name, { host: socket.address, port: socket.port_value });
    }
    return result;
  }

  async post(pathAndQuery: string): Promise<string> {
    const response = await this.get(pathAndQuery, { method: "POST" });
    const body = await response.text();
    if (!response.ok) throw new Error(`admin POST ${pathAndQuery}: HTTP ${response.status}: ${body.trim()}`);
    return body;
  }
}
