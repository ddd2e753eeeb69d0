// SPDX-License-Identifier: Apache-2.0
/**
 * Live traffic through the sidecar: the "app" backend (a Node HTTP server on the WorkloadEntry's port) and
 * a client that calls the Service the way an application in the pod would, to 127.0.0.1:8080 with the
 * Service's host name, which the namespace's iptables rule hands to Envoy's outbound listener.
 */
import { createServer, request, type Server } from "node:http";
import { APP } from "./istio-objects.ts";

export interface Backend {
  /** Requests the backend answered. */
  requests: () => number;
  close: () => Promise<void>;
}

/** Answers 200 with the request headers it got, as JSON. */
export async function startBackend(): Promise<Backend> {
  let count = 0;
  const server: Server = createServer((incoming, response) => {
    count += 1;
    incoming.resume();
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ headers: incoming.headers }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(APP.backendPort, "127.0.0.1", () => resolve());
  });
  return {
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface AppResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** What the backend saw (undefined when Envoy answered itself). */
  backendSaw?: { headers: Record<string, string> };
}

/** GET http://app.default.svc.cluster.local:8080/ via the sidecar; bounded to 3 s. */
export function callApp(path = "/"): Promise<AppResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: "127.0.0.1",
        port: APP.servicePort,
        path,
        headers: { host: APP.host, connection: "close" },
        timeout: 3_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          let backendSaw: AppResponse["backendSaw"];
          try {
            backendSaw = JSON.parse(Buffer.concat(chunks).toString("utf8")) as AppResponse["backendSaw"];
          } catch {
            backendSaw = undefined;
          }
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            ...(backendSaw ? { backendSaw } : {}),
          });
        });
        response.on("error", reject);
      },
    );
    outgoing.on("timeout", () =>
      outgoing.destroy(new Error("request to the app through Envoy: no answer within 3 s")),
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

export interface Load {
  /** Stops sending and resolves with what was sent and how it was answered. */
  stop(): Promise<{ sent: number; byStatus: Record<number, number>; errors: number }>;
}

/**
 * Steady traffic to the app through the sidecars: `concurrency` callers, each on a new connection per
 * request, so the kernel spreads them over every Envoy bound to the outbound port.
 */
export function startLoad(concurrency: number): Load {
  let running = true;
  let sent = 0;
  let errors = 0;
  const byStatus: Record<number, number> = {};
  const caller = async () => {
    while (running) {
      sent += 1;
      try {
        const { status } = await callApp("/orders");
        byStatus[status] = (byStatus[status] ?? 0) + 1;
      } catch {
        errors += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  const callers = Array.from({ length: concurrency }, caller);
  return {
    async stop() {
      running = false;
      await Promise.all(callers);
      return { sent, byStatus, errors };
    },
  };
}
