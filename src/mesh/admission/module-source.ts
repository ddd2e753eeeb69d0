// SPDX-License-Identifier: Apache-2.0
import { sha256Hex } from "../../sign/statement.ts";
import { MeshError } from "../errors.ts";
import { normalizePluginUrl } from "../istio/plugin-url.ts";
import { parseImageReference } from "../oci/reference.ts";
import { RegistryClient, type RegistryCredentials } from "../oci/registry-client.ts";
import {
  MANIFEST_MEDIA_TYPES,
  moduleFromLayer,
  moduleLayerOf,
  parseImageManifest,
} from "../oci/wasm-image.ts";

export interface ModuleSourceOptions {
  /** Plain HTTP to every registry (default: only loopback and .local ones). */
  registryPlainHttp?: boolean;
  registryCredentials?: RegistryCredentials;
  timeoutMs?: number;
}

/**
 * The module bytes a WasmPlugin will run, fetched the way istio-agent fetches them and pinned by
 * spec.sha256: for oci:// the manifest whose digest IS spec.sha256 (so the registry cannot swap it
 * later), for http(s):// the body whose sha256 is spec.sha256. file:// modules live on the nodes and
 * cannot be seen from here, so they are refused. Results are cached by sha256 (content never changes).
 */
export class ModuleSource {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly options: ModuleSourceOptions = {}) {}

  async fetch(url: string, sha256: string): Promise<Buffer> {
    const key = `${url}\n${sha256}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const parsed = normalizePluginUrl(url);
    let module: Buffer;
    if (parsed.scheme === "oci") module = await this.fromRegistry(parsed.url, sha256);
    else if (parsed.scheme === "http" || parsed.scheme === "https")
      module = await this.fromHttp(parsed.url, sha256);
    else
      throw new MeshError(
        "INVALID_INPUT",
        `spec.url ${url}: a file:// module is on the nodes, where this webhook cannot check it; serve it over oci:// or https://`,
      );
    if (this.cache.size >= 64) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, module);
    return module;
  }

  private async fromRegistry(url: string, manifestHex: string): Promise<Buffer> {
    const reference = parseImageReference(url, "spec.url");
    if (reference.digest !== undefined && reference.digest !== `sha256:${manifestHex}`)
      throw new MeshError(
        "INVALID_INPUT",
        `spec.url pins ${reference.digest} but spec.sha256 is ${manifestHex}`,
      );
    const client = new RegistryClient({
      registry: reference.registry,
      ...(this.options.registryPlainHttp ? { plainHttp: true } : {}),
      ...(this.options.registryCredentials ? { credentials: this.options.registryCredentials } : {}),
      ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
    });
    // By digest, not by tag: what Istio will accept is the manifest with this digest, whatever the tag says now.
    const manifest = await client.getManifest(
      reference.repository,
      `sha256:${manifestHex}`,
      MANIFEST_MEDIA_TYPES,
    );
    if (manifest === null)
      throw new MeshError(
        "REGISTRY_ERROR",
        `spec.url ${url}: the registry has no manifest sha256:${manifestHex} (spec.sha256) in ${reference.repository}`,
      );
    const where = `${url}@sha256:${manifestHex}`;
    const layer = moduleLayerOf(parseImageManifest(manifest.bytes, where), where);
    return moduleFromLayer(await client.getBlob(reference.repository, layer.digest), where);
  }

  private async fromHttp(url: string, sha256: string): Promise<Buffer> {
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    } catch (error) {
      throw new MeshError(
        "REGISTRY_ERROR",
        `GET ${url}: ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}`,
      );
    }
    if (response.status !== 200) throw new MeshError("REGISTRY_ERROR", `GET ${url}: HTTP ${response.status}`);
    const module = Buffer.from(await response.arrayBuffer());
    const actual = sha256Hex(module);
    if (actual !== sha256)
      throw new MeshError(
        "INVALID_IMAGE",
        `GET ${url}: the module has sha256 ${actual}, spec.sha256 says ${sha256}`,
      );
    return module;
  }
}
