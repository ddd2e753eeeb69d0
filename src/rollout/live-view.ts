import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { rolloutHtml, rolloutJson, type ReportInput } from "./report.ts";
import type { Look, RolloutResult } from "./rollout.ts";

/**
 * The rollout's live view: the report page, served on 127.0.0.1 while the canary runs and
 * refreshed in place after each look; when the rollout ends it shows the final report. Read-only:
 * it serves GET / (the page) and GET /state.json, and nothing can be changed through it.
 */
export class LiveView {
  private readonly server: Server;
  private state: ReportInput;
  url = "";

  private constructor(
    initial: ReportInput,
    private readonly refreshMs: number,
  ) {
    this.state = initial;
    this.server = createServer((request, response) => this.answer(request, response));
  }

  static async start(
    initial: ReportInput,
    options: { port?: number; refreshMs?: number } = {},
  ): Promise<LiveView> {
    const view = new LiveView(initial, options.refreshMs ?? 2000);
    await new Promise<void>((resolve, reject) => {
      view.server.once("error", reject);
      view.server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
    });
    view.url = `http://127.0.0.1:${(view.server.address() as AddressInfo).port}/`;
    return view;
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    if (request.method !== "GET") {
      response.writeHead(405).end();
      return;
    }
    const json = request.url === "/state.json";
    if (!json && request.url !== "/" && !request.url?.startsWith("/?")) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    response.writeHead(200, {
      "content-type": json ? "application/json" : "text/html; charset=utf-8",
      "cache-control": "no-store",
      // The page has no external resources; nothing may be loaded from elsewhere.
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
    });
    const running = this.state.decision === "RUNNING";
    response.end(
      json
        ? rolloutJson(this.state)
        : rolloutHtml(this.state, running ? { refreshMs: this.refreshMs } : undefined),
    );
  }

  /** A new look: the page shows it at the next refresh. */
  addLook(look: Look): void {
    this.state = { ...this.state, looks: [...this.state.looks, look] };
  }

  /** The rollout ended: the page becomes the final report and stops refreshing. */
  finish(result: RolloutResult): void {
    this.state = { ...result, rolledOut: this.state.rolledOut };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
