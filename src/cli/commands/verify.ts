// SPDX-License-Identifier: Apache-2.0
import { Command, InvalidArgumentError } from "commander";
import { emit, fail, jsonOption } from "../output.ts";
import { explainModuleMismatch } from "../module-mismatch.ts";
import { GraftVerifyError } from "../../sign/errors.ts";
import { loadConfigurationFile, readInputFile } from "../../sign/files.ts";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { sha256Hex } from "../../sign/statement.ts";
import { verifyArtifact } from "../../sign/verify.ts";
import { appendAuditRecord } from "../../audit/log.ts";

/** Exit code of `graft verify` when the artifact is refused (usage and file errors exit 1). */

interface VerifyOptions {
  envelope: string;
  policy: string;
  config: string;
  targetLabel: Record<string, string>;
  auditLog?: string;
  actor?: string;
}

/**
 * `graft verify <module.wasm> --envelope <f> --policy <trust.yaml> --config <f> [--target-label k=v ...]`
 * prints the verified injection, or `error: <CODE>: <message>` on stderr and exits 2 when refused.
 */
export function register(program: Command): void {
  const verify = program.command("verify");
  jsonOption(verify);
  verify
    .description("check a signed Wasm filter against a trust policy before injecting it")
    .argument("<module.wasm>", "the module that is about to be injected")
    .requiredOption("--envelope <file>", "the DSSE envelope from graft sign")
    .requiredOption("--policy <trust.yaml>", "the trust policy")
    .requiredOption("--config <file>", "the filter configuration about to be injected (.json or .yaml)")
    .option("--target-label <k=v...>", "a label of the target Envoys (repeatable)", collectLabel, {})
    .option("--audit-log <file>", "append the outcome (verify / verify-refused) to this audit log")
    .option("--actor <name>", "actor for the audit record (default: $GRAFT_ACTOR, else the OS user)")
    .action(async (modulePath: string, options: VerifyOptions, command: Command) => {
      try {
        const wasmBytes = await readInputFile(modulePath, "module");
        const envelope = (await readInputFile(options.envelope, "--envelope")).toString("utf8");
        const configuration = await loadConfigurationFile(options.config);
        const policy = await loadTrustPolicy(options.policy);
        const targets = Object.entries(options.targetLabel).map(([key, value]) => `${key}=${value}`);
        const audit = async (
          action: string,
          outcome: "ok" | "refused",
          reason: string | null,
          details: Record<string, unknown>,
        ) => {
          if (options.auditLog === undefined) return;
          const artifact = `sha256:${sha256Hex(wasmBytes)}`;
          await appendAuditRecord(options.auditLog, {
            action,
            outcome,
            actor: options.actor,
            artifact,
            targets,
            reason,
            details,
          });
        };
        let verified;
        try {
          verified = verifyArtifact({
            envelope,
            wasmBytes,
            configuration,
            policy,
            targetLabels: options.targetLabel,
          });
        } catch (error) {
          if (error instanceof GraftVerifyError) {
            await audit("verify-refused", "refused", `${error.code}: ${error.message}`, {
              code: error.code,
              policy: options.policy,
            });
          }
          throw error;
        }
        const { predicate, signers } = verified;
        await audit("verify", "ok", null, {
          filter: predicate.filter,
          version: predicate.version,
          injectionId: predicate.injectionId,
        });
        emit(
          command,
          {
            filter: predicate.filter,
            version: predicate.version,
            injectionId: predicate.injectionId,
            moduleSha256: verified.moduleSha256,
            signers: signers.map((signer) => ({ keyId: signer.keyId, name: signer.name ?? null })),
            approvalsRequired: verified.approvalsRequired,
            author: predicate.author,
            reason: predicate.reason,
            expires: predicate.expires,
          },
          () => [
            `verified: ${predicate.filter} ${predicate.version} (injection ${predicate.injectionId})`,
            `  module:    sha256:${verified.moduleSha256}`,
            `  signed by: ${signers.map((signer) => (signer.name ? `${signer.name} (${signer.keyId})` : signer.keyId)).join(", ")} [${signers.length} of ${verified.approvalsRequired} required]`,
            `  author:    ${predicate.author}`,
            `  reason:    ${predicate.reason}`,
            `  expires:   ${predicate.expires}`,
          ],
        );
      } catch (error) {
        fail(command, explainModuleMismatch(error, modulePath));
      }
    });
}

function collectLabel(value: string, previous: Record<string, string>): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("expected key=value, e.g. tier=payments");
  const key = value.slice(0, at);
  const labelValue = value.slice(at + 1);
  if (Object.hasOwn(previous, key) && previous[key] !== labelValue) {
    throw new InvalidArgumentError(`label ${key} given twice (${previous[key]} and ${labelValue})`);
  }
  return { ...previous, [key]: labelValue };
}
