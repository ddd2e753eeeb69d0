// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { fail, emit, jsonOption } from "../output.ts";
import { loadConfigurationFile, readInputFile } from "../../sign/files.ts";
import { asGraftError, registryCredentials } from "../../mesh/cli-options.ts";
import { MeshError } from "../../mesh/errors.ts";
import { pushWasmImage } from "../../mesh/oci/push.ts";
import { parseImageReference } from "../../mesh/oci/reference.ts";
import { RegistryClient } from "../../mesh/oci/registry-client.ts";

interface PushOptions {
  envelope?: string;
  config?: string;
  plainHttp?: boolean;
  username?: string;
  password?: string;
}

/**
 * `graft push <module.wasm> <oci://host/repo:tag> [--envelope f --config f]`: the module as a Wasm OCI image
 * Istio can pull (compat layout), with the signed envelope attached as a referrer. Prints the pinned URL
 * and the sha256 for `graft istio plugin`.
 */
export function register(program: Command): void {
  const push = program.command("push");
  jsonOption(push);
  push
    .description("push a Wasm filter as an OCI image Istio can pull, with its signed envelope attached")
    .argument("<module.wasm>", "the compiled filter")
    .argument("<reference>", "oci://host[:port]/repository:tag")
    .option("--envelope <file>", "the DSSE envelope from graft sign, attached as a referrer (needs --config)")
    .option("--config <file>", "the configuration the envelope approves (stored beside it)")
    .option("--plain-http", "talk HTTP, not HTTPS (default only for localhost, 127.* and .local registries)")
    .option("--username <user>", "registry user (or GRAFT_REGISTRY_USERNAME)")
    .option("--password <password>", "registry password (prefer GRAFT_REGISTRY_PASSWORD)")
    .action(async (modulePath: string, referenceText: string, options: PushOptions, command: Command) => {
      try {
        if ((options.envelope === undefined) !== (options.config === undefined))
          throw new MeshError(
            "INVALID_INPUT",
            "--envelope and --config go together: the configuration is what the envelope approves",
          );
        const reference = parseImageReference(referenceText);
        const credentials = registryCredentials(options);
        const client = new RegistryClient({
          registry: reference.registry,
          ...(options.plainHttp ? { plainHttp: true } : {}),
          ...(credentials ? { credentials } : {}),
        });
        const wasm = await readInputFile(modulePath, "module");
        const result = await pushWasmImage({
          client,
          reference,
          wasm,
          ...(options.envelope !== undefined && options.config !== undefined
            ? {
                signature: {
                  envelopeJson: (await readInputFile(options.envelope, "--envelope")).toString("utf8"),
                  configuration: await loadConfigurationFile(options.config),
                },
              }
            : {}),
        });
        emit(
          command,
          {
            reference: referenceText,
            url: result.pinnedUrl,
            manifestDigest: result.manifestDigest,
            moduleSha256: result.moduleSha256,
            signatureDigest: result.signatureDigest ?? null,
          },
          () => [
            `pushed: ${referenceText}`,
            `  url:       ${result.pinnedUrl}`,
            `  sha256:    ${result.manifestDigest.slice("sha256:".length)}   (WasmPlugin.sha256: the image manifest digest)`,
            `  module:    sha256:${result.moduleSha256}`,
            result.signatureDigest
              ? `  signature: ${result.signatureDigest} (referrer via ${result.referrersVia === "api" ? "the referrers API" : "the sha256-<hex> tag"})`
              : "  signature: none (graft pull will refuse this image; push again with --envelope)",
          ],
        );
      } catch (error) {
        fail(command, asGraftError(error));
      }
    });
}
