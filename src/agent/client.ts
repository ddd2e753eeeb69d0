import type { AgentEndpoint } from "../inject/target.ts";
import type { SigningKey } from "../sign/keys.ts";
import {
  HEADER_KEY,
  HEADER_NONCE,
  HEADER_SIGNATURE,
  responseText,
  signRequest,
  verifyText,
} from "./request-auth.ts";

/** An agent's refusal or failure, as the agent signed it. */
export class AgentCallError extends Error {
  constructor(
    readonly agent: string,
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(`${agent}: ${code}: ${message}`);
  }
}

/**
 * The control plane's side of the agent API: signs each request with the caller's key and accepts
 * an answer only when it is signed by the agent's pinned key, for this agent and this request.
 */
export class AgentClient {
  constructor(
    readonly agent: string,
    private readonly endpoint: AgentEndpoint,
    private readonly caller: SigningKey,
    private readonly timeoutMs = 30_000,
  ) {}

  async call<T>(method: "GET" | "POST", pathAndQuery: string, value?: unknown): Promise<T> {
    const body = value === undefined ? "" : JSON.stringify(value);
    const headers = signRequest(this.agent, method, pathAndQuery, body, this.caller);
    let response: Response;
    try {
      response = await fetch(`${this.endpoint.url}${pathAndQuery}`, {
        method,
        headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) },
        body: method === "GET" ? undefined : body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new AgentCallError(
        this.agent,
        "AGENT_UNREACHABLE",
        0,
        `${this.endpoint.url} did not answer (${(error as Error).cause ?? (error as Error).message})`,
      );
    }
    const text = await response.text();
    const signature = response.headers.get(HEADER_SIGNATURE);
    const keyId = response.headers.get(HEADER_KEY);
    if (
      !signature ||
      keyId !== this.endpoint.keyId ||
      !verifyText(
        responseText(this.agent, response.status, text, headers[HEADER_NONCE]!),
        signature,
        this.endpoint.publicKey,
      )
    ) {
      throw new AgentCallError(
        this.agent,
        "AGENT_UNVERIFIED",
        response.status,
        `the answer from ${this.endpoint.url} is not signed by the pinned agent key ${this.endpoint.keyId} (signed by ${keyId ?? "nobody"}); something else answers at that address`,
      );
    }
    const parsed = JSON.parse(text) as { code?: string; message?: string };
    if (!response.ok)
      throw new AgentCallError(
        this.agent,
        parsed.code ?? "AGENT_ERROR",
        response.status,
        parsed.message ?? text,
      );
    return parsed as T;
  }
}
