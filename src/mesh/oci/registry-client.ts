// SPDX-License-Identifier: Apache-2.0
import { MeshError } from "../errors.ts";
import { digestOf } from "./digest.ts";
import { isLocalRegistry } from "./reference.ts";

/** A registry answered something graft cannot use; the message names the request and the answer. */
export class RegistryError extends MeshError {
  constructor(
    message: string,
    readonly status: number | null = null,
  ) {
    super("REGISTRY_ERROR", message);
  }
}

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** host[:port] */
  registry: string;
  /** Plain HTTP; default: only for loopback and `.local` registries. */
  plainHttp?: boolean;
  credentials?: RegistryCredentials;
  /** Per request; default 30 s. */
  timeoutMs?: number;
}

export interface FetchedManifest {
  mediaType: string;
  bytes: Buffer;
  /** sha256 of the bytes as served (what a digest reference pins). */
  digest: string;
}

/** Blobs graft reads into memory (modules, envelopes) are small; a bigger one is refused, not buffered. */
const MAX_BLOB_BYTES = 64 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * The OCI distribution API (v2) over Node's fetch: blobs by monolithic upload (POST then PUT), manifests,
 * and the referrers API. Authentication: HTTP Basic, and the Bearer token dance (`WWW-Authenticate:
 * Bearer realm=…`) that most registries use, with the same credentials or anonymously.
 */
export class RegistryClient {
  readonly base: string;
  private token: string | null = null;

  constructor(private readonly options: RegistryClientOptions) {
    const plain = options.plainHttp ?? isLocalRegistry(options.registry);
    this.base = `${plain ? "http" : "https"}://${options.registry}`;
  }

  /** GET /v2/: whether the registry speaks the distribution API (and our credentials work). */
  async ping(): Promise<void> {
    const response = await this.request("GET", "/v2/");
    await this.expect(response, [200], "GET /v2/");
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.request("HEAD", `/v2/${repository}/blobs/${digest}`);
    if (response.status === 404) return false;
    await this.expect(response, [200], `HEAD blob ${digest} in ${repository}`);
    return true;
  }

  /** Uploads a blob unless the registry already has it; returns its digest. */
  async pushBlob(repository: string, bytes: Uint8Array): Promise<string> {
    const digest = digestOf(bytes);
    if (await this.hasBlob(repository, digest)) return digest;
    const start = await this.request("POST", `/v2/${repository}/blobs/uploads/`);
    await this.expect(start, [202], `POST upload in ${repository}`);
    const location = start.headers.get("location");
    if (!location)
      throw new RegistryError(`POST upload in ${repository}: the registry sent no Location header`);
    const url = new URL(location, this.base);
    url.searchParams.set("digest", digest);
    const put = await this.request("PUT", url.toString(), {
      body: bytes,
      headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) },
    });
    await this.expect(put, [201], `PUT blob ${digest} in ${repository}`);
    return digest;
  }

  /** A blob's bytes, checked against its digest (a registry is not trusted to serve what it names). */
  async getBlob(repository: string, digest: string, maxBytes = MAX_BLOB_BYTES): Promise<Buffer> {
    const response = await this.request("GET", `/v2/${repository}/blobs/${digest}`);
    await this.expect(response, [200], `GET blob ${digest} in ${repository}`);
    const bytes = await readLimited(response, maxBytes, `blob ${digest}`);
    const actual = digestOf(bytes);
    if (actual !== digest)
      throw new RegistryError(
        `GET blob ${digest} in ${repository}: the registry served content with digest ${actual}`,
      );
    return bytes;
  }

  /** Puts a manifest at a tag or a digest; returns its digest and whether the registry handled `subject`. */
  async putManifest(
    repository: string,
    reference: string,
    mediaType: string,
    bytes: Uint8Array,
  ): Promise<{ digest: string; subjectAccepted: boolean }> {
    const response = await this.request("PUT", `/v2/${repository}/manifests/${reference}`, {
      body: bytes,
      headers: { "content-type": mediaType },
    });
    await this.expect(response, [201], `PUT manifest ${repository}:${reference}`);
    const digest = digestOf(bytes);
    const served = response.headers.get("docker-content-digest");
    if (served && served !== digest)
      throw new RegistryError(
        `PUT manifest ${repository}:${reference}: the registry says ${served}, the bytes hash to ${digest}`,
      );
    return { digest, subjectAccepted: response.headers.has("oci-subject") };
  }

  /** A manifest by tag or digest, or null when the registry has none; a digest reference is checked. */
  async getManifest(
    repository: string,
    reference: string,
    accept: string[],
  ): Promise<FetchedManifest | null> {
    const response = await this.request("GET", `/v2/${repository}/manifests/${reference}`, {
      headers: { accept: accept.join(", ") },
    });
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    await this.expect(response, [200], `GET manifest ${repository}:${reference}`);
    const bytes = await readLimited(response, MAX_MANIFEST_BYTES, `manifest ${reference}`);
    const digest = digestOf(bytes);
    if (reference.startsWith("sha256:") && digest !== reference)
      throw new RegistryError(
        `GET manifest ${repository}@${reference}: the registry served a manifest with digest ${digest}`,
      );
    const mediaType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { mediaType, bytes, digest };
  }

  /**
   * The referrers API (distribution spec 1.1): the index of manifests whose subject is `digest`, or
   * null when the registry does not implement it (404, as Distribution 2.8 answers).
   */
  async referrers(repository: string, digest: string): Promise<FetchedManifest | null> {
    const response = await this.request("GET", `/v2/${repository}/referrers/${digest}`, {
      headers: { accept: "application/vnd.oci.image.index.v1+json" },
    });
    const type = (response.headers.get("content-type") ?? "").split(";")[0]!.trim();
    if (
      response.status === 404 ||
      (response.status === 200 && type !== "application/vnd.oci.image.index.v1+json")
    ) {
      await response.body?.cancel();
      return null;
    }
    await this.expect(response, [200], `GET referrers of ${digest} in ${repository}`);
    const bytes = await readLimited(response, MAX_MANIFEST_BYTES, `referrers of ${digest}`);
    return { mediaType: type, bytes, digest: digestOf(bytes) };
  }

  private async request(
    method: string,
    pathOrUrl: string,
    init: { body?: Uint8Array; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const url = pathOrUrl.startsWith("http") ? pathOrUrl : `${this.base}${pathOrUrl}`;
    const send = async () => {
      const headers: Record<string, string> = { ...init.headers };
      const auth = this.authorization();
      if (auth) headers["authorization"] = auth;
      try {
        return await fetch(url, {
          method,
          headers,
          body: init.body as BodyInit | undefined,
          redirect: "follow",
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        throw new RegistryError(
          `${method} ${url}: ${cause} (is the registry running, and is it ${this.base.split(":")[0]}?)`,
        );
      }
    };
    let response = await send();
    if (response.status === 401 && this.token === null) {
      const challenge = response.headers.get("www-authenticate") ?? "";
      await response.body?.cancel();
      if (await this.obtainToken(challenge)) response = await send();
    }
    return response;
  }

  private authorization(): string | null {
    if (this.token !== null) return `Bearer ${this.token}`;
    const credentials = this.options.credentials;
    if (!credentials) return null;
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  }

  /** Follows a `Bearer realm="…",service="…",scope="…"` challenge; false when it is not one. */
  private async obtainToken(challenge: string): Promise<boolean> {
    if (!/^bearer /i.test(challenge)) return false;
    const params = Object.fromEntries(
      [...challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1]!, match[2]!]),
    );
    if (!params["realm"]) return false;
    const url = new URL(params["realm"]);
    if (params["service"]) url.searchParams.set("service", params["service"]);
    if (params["scope"]) url.searchParams.set("scope", params["scope"]);
    const credentials = this.options.credentials;
    const response = await fetch(url, {
      headers: credentials
        ? {
            authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`,
          }
        : {},
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    });
    if (response.status !== 200)
      throw new RegistryError(`token request to ${url.origin}: HTTP ${response.status}`, response.status);
    const body = (await response.json()) as { token?: string; access_token?: string };
    this.token = body.token ?? body.access_token ?? null;
    return this.token !== null;
  }

  private async expect(response: Response, ok: number[], what: string): Promise<void> {
    if (ok.includes(response.status)) return;
    const text = await response.text().catch(() => "");
    let detail = text.slice(0, 300).trim();
    try {
      const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors ?? [];
      if (errors.length > 0) detail = errors.map((e) => `${e.code}: ${e.message}`).join("; ");
    } catch {
      // not the registry's JSON error body; keep the text
    }
    const hint =
      response.status === 401 || response.status === 403
        ? " (give credentials with --username/--password or GRAFT_REGISTRY_USERNAME/GRAFT_REGISTRY_PASSWORD)"
        : "";
    throw new RegistryError(
      `${what}: HTTP ${response.status}${detail ? ` ${detail}` : ""}${hint}`,
      response.status,
    );
  }
}

async function readLimited(response: Response, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new RegistryError(`${what} is ${declared} bytes, more than the ${maxBytes} graft reads`);
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  if (bytes.length > maxBytes)
    throw new RegistryError(`${what} is ${bytes.length} bytes, more than the ${maxBytes} graft reads`);
  return bytes;
}
