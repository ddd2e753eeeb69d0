// SPDX-License-Identifier: Apache-2.0
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { reviewAdmission, type ReviewContext } from "./review.ts";

export interface WebhookServerOptions extends ReviewContext {
  cert: string | Buffer;
  key: string | Buffer;
  host?: string;
  port?: number;
  /** Called after each decision (for logs). */
  onDecision?: (decision: { uid: string; allowed: boolean; message?: string }) => void;
}

export interface RunningWebhook {
  server: Server;
  port: number;
  url: string;
  close: () => Promise<void>;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024; // the API server's own request limit for admission bodies

/**
 * The validating webhook over HTTPS (the API server only calls webhooks over TLS). It answers POSTs on
 * any path with an AdmissionReview; a body that is too big or not JSON is denied, not dropped, so the
 * API server sees the reason.
 */
export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningWebhook> {
  const server = createServer({ cert: options.cert, key: options.key }, (request, response) => {
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    if (request.method !== "POST") return send(405, { error: "POST an admission.k8s.io/v1 AdmissionReview" });
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () => {
      let review: unknown = null;
      if (size <= MAX_BODY_BYTES) {
        try {
          review = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          review = null;
        }
      }
      void reviewAdmission(review, options).then((reply) => {
        options.onDecision?.({
          uid: reply.response.uid,
          allowed: reply.response.allowed,
          ...(reply.response.status ? { message: reply.response.status.message } : {}),
        });
        send(200, reply);
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `https://${address}:${port}/validate`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
