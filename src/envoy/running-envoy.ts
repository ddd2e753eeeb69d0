import type { AdminClient, EnvoyStats } from "./admin.ts";

/**
 * What every running Envoy offers, whichever runtime runs it (process or container): the admin
 * API, the log, and the helpers tests and tools use on both.
 */
export abstract class RunningEnvoyBase {
  abstract readonly label: string;
  abstract admin: AdminClient;
  /** Envoy's pid on this host: unchanged across injections, since graft never restarts Envoy. */
  abstract readonly pid: number | undefined;
  /** Everything Envoy logged so far. */
  abstract logs(): string;
  abstract stop(): Promise<void>;

  /** `http://127.0.0.1:<port>` of a listener by name. */
  async listenerUrl(name: string): Promise<string> {
    const address = (await this.admin.listenerAddresses()).get(name);
    if (!address) throw new Error(`${this.label} has no listener named ${name}`);
    return `http://${address.host}:${address.port}`;
  }

  stats(filter?: string): Promise<EnvoyStats> {
    return this.admin.stats(filter);
  }

  configDump(query?: string): Promise<unknown> {
    return this.admin.configDump(query);
  }

  /** Waits until `predicate` matches the log (Envoy logs asynchronously to its work). */
  async waitForLog(predicate: RegExp, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = predicate.exec(this.logs());
      if (match) return match[0];
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`${this.label}: no log line matched ${predicate} within ${timeoutMs} ms`);
  }
}
