// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { fail, emit, jsonOption } from "../output.ts";
import { loadConfigurationFile, writeFileAtomic } from "../../sign/files.ts";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { canonicalJson } from "../../sign/canonical-json.ts";
import { asGraftError, labelCollector, registryCredentials } from "../../mesh/cli-options.ts";
import { pullVerifiedModule } from "../../mesh/oci/pull.ts";
import { parseImageReference } from "../../mesh/oci/reference.ts";
import { RegistryClient } from "../../mesh/oci/registry-client.ts";
import { writeFileAtomic as writeBytesAtomic } from "../../util/atomic-write.ts";

/** Exit code when the image's signatures are refused (as graft verify). */

interface PullOptions {
  policy: string;
  out: string;
  config?: string;
  envelopeOut?: string;
  configOut?: string;
  targetLabel?: Record<string, string>;
  plainHttp?: boolean;
  username?: string;
  password?: string;
}

/**
 * `graft pull <oci://host/repo:tag|@sha256:…> --policy trust.yaml --out module.wasm`: fetches the module
 * and its attached signatures and writes the module only after one verifies under the policy.
 */
export function register(program: Command): void {
  const pull = program.command("pull");
  jsonOption(pull);
  pull
    .description(
      "pull a Wasm filter image and write it only if its attached signature verifies under the trust policy",
    )
    .argument("<reference>", "oci://host[:port]/repository:tag or …@sha256:<hex>")
    .requiredOption("--policy <trust.yaml>", "the trust policy")
    .requiredOption("--out <module.wasm>", "where to write the verified module")
    .option("--config <file>", "verify this configuration (default: the one attached beside the envelope)")
    .option("--envelope-out <file>", "also write the verified envelope")
    .option("--config-out <file>", "also write the verified configuration (JSON)")
    .option(
      "--target-label <k=v>",
      "a label of the target Envoys (repeatable)",
      labelCollector("--target-label"),
    )
    .option("--plain-http", "talk HTTP, not HTTPS (default only for localhost, 127.* and .local registries)")
    .option("--username <user>", "registry user (or GRAFT_REGISTRY_USERNAME)")
    .option("--password <password>", "registry password (prefer GRAFT_REGISTRY_PASSWORD)")
    .action(async (referenceText: string, options: PullOptions, command: Command) => {
      try {
        const reference = parseImageReference(referenceText);
        const credentials = registryCredentials(options);
        const client = new RegistryClient({
          registry: reference.registry,
          ...(options.plainHttp ? { plainHttp: true } : {}),
          ...(credentials ? { credentials } : {}),
        });
        const pulled = await pullVerifiedModule({
          client,
          reference,
          policy: await loadTrustPolicy(options.policy),
          ...(options.config !== undefined
            ? { configuration: await loadConfigurationFile(options.config) }
            : {}),
          ...(options.targetLabel ? { targetLabels: options.targetLabel } : {}),
        });
        // Verified: only now does anything reach the disk.
        await writeBytesAtomic(options.out, pulled.wasm);
        if (options.envelopeOut !== undefined)
          await writeFileAtomic(options.envelopeOut, `${pulled.envelopeJson.trimEnd()}\n`);
        if (options.configOut !== undefined)
          await writeFileAtomic(options.configOut, `${canonicalJson(pulled.configuration)}\n`);
        const { predicate, signers } = pulled.verified;
        emit(
          command,
          {
            out: options.out,
            filter: predicate.filter,
            version: predicate.version,
            injectionId: predicate.injectionId,
            manifestDigest: pulled.manifestDigest,
            moduleSha256: pulled.verified.moduleSha256,
            signers: signers.map((s) => ({ keyId: s.keyId, name: s.name ?? null })),
            approvalsRequired: pulled.verified.approvalsRequired,
            expires: predicate.expires,
          },
          () => [
            `pulled and verified: ${predicate.filter} ${predicate.version} (injection ${predicate.injectionId}) -> ${options.out}`,
            `  image:     ${pulled.manifestDigest}`,
            `  module:    sha256:${pulled.verified.moduleSha256}`,
            `  signed by: ${signers.map((s) => s.name ?? s.keyId).join(", ")} [${signers.length} of ${pulled.verified.approvalsRequired} required]`,
            `  expires:   ${predicate.expires}`,
          ],
        );
      } catch (error) {
        fail(command, asGraftError(error));
      }
    });
}
