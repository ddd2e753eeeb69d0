import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import { checkpointPath } from "../audit/log.ts";
import type { SigningKey } from "../sign/keys.ts";
import { AgentError, type Enforcer } from "./enforcer.ts";
import {
  HEADER_KEY,
  HEADER_NONCE,
  HEADER_SIGNATURE,
  RequestAuthError,
  RequestVerifier,
  responseText,
  signText,
} from "./request-auth.ts";

/** Largest request body: a module (base64) plus its envelope and configuration. */
const MAX_BODY = 48 * 1024 * 1024;

export interface AgentApiOptions {
  name: string;
  key: SigningKey;
  verifier: RequestVerifier;
  enforcer: Enforcer;
  auditLog: string;
}

/**
 * The agent's API. Every request must be signed by one of the agent's callers (see request-auth.ts);
 * every answer, refusals included, is signed by the agent.
 *
 *   GET  /v1/status                 what each slot serves, the policy serial
 *   POST /v1/inject                 { operationId, slot, module (base64), envelope, configuration, failurePolicy? }
 *   POST /v1/rollback               { operationId, slot }
 *   POST /v1/disable                { operationId }                 kill switch, every slot
 *   POST /v1/policy                 { policy: <signed policy envelope> }
 *   GET  /v1/audit                  { log: <the audit log text>, checkpoint }
 */
export function createAgentServer(options: AgentApiOptions): Server {
  return createServer((request, response) => {
    handle(options, request, response).catch((error: unknown) => {
      console.error(`graft agent ${options.name}: ${(error as Error).stack ?? error}`);
      if (!response.headersSent)
        send(options, response, "", 500, { code: "INTERNAL", message: (error as Error).message });
    });
  });
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new AgentError("TOO_LARGE", 413, `request body above ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(
  options: AgentApiOptions,
  response: ServerResponse,
  nonce: string,
  status: number,
  value: unknown,
): void {
  const body = JSON.stringify(value);
  response.writeHead(status, {
    "content-type": "application/json",
    [HEADER_KEY]: options.key.keyId,
    [HEADER_SIGNATURE]: signText(responseText(options.name, status, body, nonce), options.key),
  });
  response.end(body);
}

async function handle(
  options: AgentApiOptions,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const nonceHeader = request.headers[HEADER_NONCE];
  const nonce = typeof nonceHeader === "string" ? nonceHeader : "";
  const method = request.method ?? "GET";
  const url = request.url ?? "/";
  try {
    const body = await readBody(request);
    const { caller } = options.verifier.verify(method, url, body, request.headers);
    const json = (): Record<string, unknown> => {
      try {
        const value = JSON.parse(body.toString("utf8")) as unknown;
        if (typeof value === "object" && value !== null && !Array.isArray(value))
          return value as Record<string, unknown>;
      } catch {
        // answered below
      }
      throw new AgentError("INVALID_REQUEST", 400, "the body must be a JSON object");
    };
    const route = `${method} ${url}`;
    const { enforcer } = options;
    switch (route) {
      case "GET /v1/status":
        return send(options, response, nonce, 200, enforcer.status());
      case "POST /v1/inject":
        return send(options, response, nonce, 200, await enforcer.inject(json() as never, caller));
      case "POST /v1/rollback":
        return send(options, response, nonce, 200, await enforcer.rollback(json() as never, caller));
      case "POST /v1/disable":
        return send(options, response, nonce, 200, await enforcer.disable(json() as never, caller));
      case "POST /v1/policy":
        return send(options, response, nonce, 200, await enforcer.installPolicy(json() as never, caller));
      case "GET /v1/audit": {
        const log = await readFile(options.auditLog, "utf8").catch(() => "");
        const checkpoint =
          enforcer.lastCheckpoint ??
          (await readFile(checkpointPath(options.auditLog), "utf8").then(
            (text) => JSON.parse(text) as unknown,
            () => null,
          ));
        return send(options, response, nonce, 200, { agent: options.name, log, checkpoint });
      }
      default:
        throw new AgentError("NOT_FOUND", 404, `no ${route}; see src/agent/server.ts for the API`);
    }
  } catch (error) {
    if (error instanceof RequestAuthError)
      return send(options, response, nonce, 401, { code: error.code, message: error.message });
    if (error instanceof AgentError)
      return send(options, response, nonce, error.status, { code: error.code, message: error.message });
    throw error;
  }
}
