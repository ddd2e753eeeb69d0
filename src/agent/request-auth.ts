import { createHash, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import type { SigningKey, VerifyingKey } from "../sign/keys.ts";

/**
 * Signed requests and responses between the control plane and an agent (Ed25519; node:crypto cannot
 * mint the X.509 certificates mutual TLS would need).
 *
 * A request carries four headers; the signature covers the agent's name (a request for one agent
 * cannot be replayed to another), the method, the path, the sha256 of the body, the timestamp and a
 * nonce. The agent accepts a timestamp within ±REPLAY_WINDOW_MS of its clock and each nonce once
 * inside that window. A response is signed by the agent over its name, the status, the body's sha256
 * and the request's nonce, so the caller knows which agent answered which request, unaltered.
 */
export const HEADER_KEY = "graft-key-id";
export const HEADER_TIME = "graft-timestamp";
export const HEADER_NONCE = "graft-nonce";
export const HEADER_SIGNATURE = "graft-signature";
export const REPLAY_WINDOW_MS = 60_000;

export const sha256Hex = (body: Uint8Array | string) => createHash("sha256").update(body).digest("hex");

export function requestText(
  agent: string,
  method: string,
  pathAndQuery: string,
  body: Uint8Array | string,
  time: string,
  nonce: string,
): string {
  return ["graft-request-v1", agent, method.toUpperCase(), pathAndQuery, sha256Hex(body), time, nonce].join(
    "\n",
  );
}

export function responseText(
  agent: string,
  status: number,
  body: Uint8Array | string,
  nonce: string,
): string {
  return ["graft-response-v1", agent, String(status), sha256Hex(body), nonce].join("\n");
}

export function signText(text: string, key: SigningKey): string {
  return sign(null, Buffer.from(text, "utf8"), key.privateKey).toString("base64");
}

export function verifyText(text: string, signature: string, key: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(text, "utf8"), key, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}

/** The headers of a signed request by `caller` to the agent named `agent`. */
export function signRequest(
  agent: string,
  method: string,
  pathAndQuery: string,
  body: string,
  caller: SigningKey,
  now = Date.now(),
): Record<string, string> {
  const time = String(now);
  const nonce = randomBytes(16).toString("base64url");
  return {
    [HEADER_KEY]: caller.keyId,
    [HEADER_TIME]: time,
    [HEADER_NONCE]: nonce,
    [HEADER_SIGNATURE]: signText(requestText(agent, method, pathAndQuery, body, time, nonce), caller),
  };
}

export class RequestAuthError extends Error {
  constructor(
    readonly code: "UNAUTHENTICATED" | "REPLAYED" | "STALE_REQUEST",
    message: string,
  ) {
    super(message);
  }
}

/** Checks request signatures and remembers nonces for the replay window. */
export class RequestVerifier {
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly agent: string,
    private readonly callers: readonly { name: string; key: VerifyingKey }[],
  ) {}

  /** Returns the authenticated caller's name, or throws. */
  verify(
    method: string,
    pathAndQuery: string,
    body: Uint8Array,
    headers: Record<string, string | string[] | undefined>,
    now = Date.now(),
  ): { caller: string; nonce: string } {
    const header = (name: string) => {
      const value = headers[name];
      return typeof value === "string" ? value : undefined;
    };
    const keyId = header(HEADER_KEY);
    const time = header(HEADER_TIME);
    const nonce = header(HEADER_NONCE);
    const signature = header(HEADER_SIGNATURE);
    if (!keyId || !time || !nonce || !signature)
      throw new RequestAuthError(
        "UNAUTHENTICATED",
        `a signed request needs the ${HEADER_KEY}, ${HEADER_TIME}, ${HEADER_NONCE} and ${HEADER_SIGNATURE} headers`,
      );
    const caller = this.callers.find((candidate) => candidate.key.keyId === keyId);
    if (!caller)
      throw new RequestAuthError("UNAUTHENTICATED", `key ${keyId} is not one of this agent's callers`);
    if (
      !verifyText(
        requestText(this.agent, method, pathAndQuery, body, time, nonce),
        signature,
        caller.key.publicKey,
      )
    )
      throw new RequestAuthError(
        "UNAUTHENTICATED",
        `the request signature does not verify for ${caller.name} (wrong key, another agent's name, or an altered request)`,
      );
    const at = Number(time);
    if (!Number.isSafeInteger(at) || Math.abs(now - at) > REPLAY_WINDOW_MS)
      throw new RequestAuthError(
        "STALE_REQUEST",
        `timestamp ${time} is outside ±${REPLAY_WINDOW_MS / 1000}s of the agent's clock; check the clocks`,
      );
    for (const [seen, expires] of this.nonces) if (expires < now) this.nonces.delete(seen);
    if (this.nonces.has(nonce))
      throw new RequestAuthError("REPLAYED", `nonce ${nonce} was already used: a replayed request`);
    this.nonces.set(nonce, now + 2 * REPLAY_WINDOW_MS);
    return { caller: caller.name, nonce };
  }
}
