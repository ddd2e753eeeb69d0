import http from "node:http";
import type { AddressInfo } from "node:net";

/** What the echo upstream saw of one request; it is also the JSON body it answers with. */
export interface EchoedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  /** The body, base64, so byte-exact pass-through can be checked. */
  bodyBase64: string;
}

/**
 * An HTTP upstream on 127.0.0.1 that answers every request with what it received. Request headers
 * steer the answer, so tests and the demo can shape the backend's behaviour per request:
 * `x-echo-status` (status code), `x-echo-delay-ms` (latency), `x-echo-response-<name>` (adds response
 * header <name>). Every answer carries `x-echo-upstream: graft-echo`.
 */
export class EchoUpstream {
  private constructor(
    private readonly server: http.Server,
    readonly port: number,
    /** Every request seen, oldest first (unless started with keepHistory: false). */
    readonly received: EchoedRequest[],
  ) {}

  static async start(options: { keepHistory?: boolean } = {}): Promise<EchoUpstream> {
    const keepHistory = options.keepHistory ?? true;
    const received: EchoedRequest[] = [];
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const echoed: EchoedRequest = {
          method: request.method ?? "",
          path: request.url ?? "",
          headers: request.headers as Record<string, string | string[]>,
          bodyBase64: Buffer.concat(chunks).toString("base64"),
        };
        if (keepHistory) received.push(echoed);
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "x-echo-upstream": "graft-echo",
        };
        for (const [name, value] of Object.entries(request.headers)) {
          if (name.startsWith("x-echo-response-") && typeof value === "string") {
            headers[name.slice("x-echo-response-".length)] = value;
          }
        }
        const status = Number(request.headers["x-echo-status"] ?? 200);
        const delay = Number(request.headers["x-echo-delay-ms"] ?? 0);
        const send = () => {
          response.writeHead(status, headers);
          response.end(JSON.stringify(echoed));
        };
        if (delay > 0) setTimeout(send, delay);
        else send();
      });
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new EchoUpstream(server, (server.address() as AddressInfo).port, received);
  }

  /**
   * The stream's own request among those received since index `since`: callouts (which Envoy
   * marks x-envoy-internal) reach the echo too.
   */
  streamRequestSince(since: number): EchoedRequest | undefined {
    return this.received
      .slice(since)
      .reverse()
      .find((request) => request.headers["x-envoy-internal"] !== "true");
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
