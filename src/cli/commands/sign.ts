// SPDX-License-Identifier: Apache-2.0
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { emit, fail, jsonOption, note } from "../output.ts";
import { formatDuration, parseDuration } from "../../sign/duration.ts";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { findFilter, type FilterInfo } from "../../filters/catalog.ts";
import { errorCode } from "../../util/errors.ts";
import { validateFilterConfig } from "../../filters/config-schema.ts";
import { explainModuleMismatch } from "../module-mismatch.ts";
import { GraftSignError } from "../../sign/errors.ts";
import { loadConfigurationFile, readInputFile, readJsonFile, writeFileAtomic } from "../../sign/files.ts";
import { loadSigningKey } from "../../sign/keys.ts";
import { coSign, signEnvelope } from "../../sign/sign.ts";
import { createStatement } from "../../sign/statement.ts";
import { resolveActor } from "../../audit/log.ts";

interface SignOptions {
  key: string;
  out: string;
  filter?: string;
  version?: string;
  injectionId?: string;
  config?: string;
  ttl?: string;
  reason?: string;
  author?: string;
  envelope?: string;
  scopeSlot?: string[];
  scopeLabel?: Record<string, string>;
  downgradeFrom?: string;
  policy?: string;
  json?: boolean;
}

/**
 * `graft sign <module.wasm> --key <pem> --filter <name> --version <v> --injection-id <id> --config <file>
 *  --ttl 2h --reason "…" [--author <name>] --out <file>` signs a new statement;
 * `graft sign <module.wasm> --key <pem> --envelope <existing.dsse.json> --out <file>` adds a co-signature
 * after checking the envelope is about this module (and this --config/--filter/--version/--injection-id
 * when given).
 *
 * The subcommand has a `--version` option, so the root program must not also claim `--version` after
 * the subcommand name: register() turns on commander's positional options for the root, which makes
 * `graft --version` a root option only before a subcommand and `graft sign … --version 1.2.0` the
 * filter's version.
 */
export function register(program: Command): void {
  program.enablePositionalOptions();
  const sign = program.command("sign");
  jsonOption(sign);
  sign
    .description(
      "sign a Wasm filter for injection (in-toto statement in a DSSE envelope), or co-sign an envelope",
    )
    .argument("<module.wasm>", "the compiled filter module")
    .requiredOption("--key <pem>", "Ed25519 private key (from graft keygen)")
    .requiredOption("--out <file>", "where to write the envelope (may be the same file as --envelope)")
    .option(
      "--filter <name|folder>",
      "filter name (plugin name / root_id), or the folder of a filter outside this repository",
    )
    .option("--version <v>", "filter version")
    .option("--injection-id <id>", "id of this injection")
    .option("--config <file>", "filter configuration (.json or .yaml) that is being approved")
    .option("--ttl <duration>", "how long the approval lasts, e.g. 2h or 1h30m")
    .option("--reason <text>", "why this injection is needed")
    .option("--author <name>", "who asks for the injection (default: $GRAFT_ACTOR, else the OS user)")
    .option("--envelope <file>", "an existing envelope to add this key's signature to")
    .option("--scope-slot <slot...>", "approve only for these slots (agents refuse others: OUT_OF_SCOPE)")
    .option(
      "--scope-label <k=v>",
      "approve only for targets carrying this label (repeatable; checked by each agent against its own labels)",
      collectLabel,
    )
    .option(
      "--policy <trust.yaml>",
      "the trust policy verifiers will use: warns when --ttl is above its maxTtl (they would refuse it)",
    )
    .option(
      "--downgrade-from <version>",
      "approve replacing this newer active release with this older one (agents refuse a downgrade otherwise)",
    )
    .action(async (modulePath: string, options: SignOptions, command: Command) => {
      const warnings: string[] = [];
      try {
        const wasmBytes = await readInputFile(modulePath, "module");
        const key = await loadSigningKey(options.key);
        const configuration =
          options.config === undefined ? undefined : await loadConfigurationFile(options.config);
        let envelope;
        if (options.envelope !== undefined) {
          for (const flag of [
            "ttl",
            "reason",
            "author",
            "scopeSlot",
            "scopeLabel",
            "downgradeFrom",
          ] as const) {
            if (options[flag] !== undefined) {
              throw new GraftSignError(
                "INVALID_STATEMENT",
                `--${flag.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)} cannot be combined with --envelope: the statement is already signed and co-signers approve it as it is`,
              );
            }
          }
          envelope = coSign(await readJsonFile(options.envelope, "--envelope"), key, {
            wasmBytes,
            configuration,
            filter: options.filter === undefined ? undefined : filterName(options.filter),
            version: options.version,
            injectionId: options.injectionId,
          });
        } else {
          const missing = (["filter", "version", "injectionId", "config", "ttl", "reason"] as const).filter(
            (flag) => options[flag] === undefined,
          );
          if (missing.length > 0) {
            const flags = missing.map(
              (flag) => `--${flag.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`,
            );
            throw new GraftSignError(
              "INVALID_STATEMENT",
              `a new statement needs ${flags.join(", ")} (or --envelope to co-sign an existing one)`,
            );
          }
          // Refuse now what every verifier would refuse later: a configuration the filter's schema
          // rejects (injection_id is added by graft at injection).
          const filter = knownFilter(options.filter as string);
          if (filter)
            validateFilterConfig(
              filter,
              { ...(configuration as Record<string, unknown>), injection_id: options.injectionId },
              options.config as string,
            );
          else
            note(
              `graft: note: ${options.filter} is not a filter of this repository's filters/, so ${options.config} was not checked against its schema here (name a filter of your own by its folder: --filter ../my-filter)`,
            );
          if (options.policy !== undefined) {
            const policy = await loadTrustPolicy(options.policy);
            const ttlMs = parseDuration(options.ttl as string);
            if (ttlMs !== null && ttlMs > policy.maxTtlMs)
              warnings.push(
                `--ttl ${options.ttl} is above maxTtl of ${options.policy} (${formatDuration(policy.maxTtlMs)}): verify, inject and rollout with that policy will refuse it (TTL_ABOVE_POLICY); sign again with a shorter --ttl`,
              );
          }
          const statement = createStatement({
            wasmBytes,
            moduleName: path.basename(modulePath),
            filter: filter?.name ?? (options.filter as string),
            version: options.version as string,
            injectionId: options.injectionId as string,
            author: resolveActor(options.author),
            reason: options.reason as string,
            configuration,
            ttl: options.ttl as string,
            ...(options.scopeSlot ? { slots: options.scopeSlot } : {}),
            ...(options.scopeLabel ? { targets: options.scopeLabel } : {}),
            ...(options.downgradeFrom ? { downgradeFrom: options.downgradeFrom } : {}),
          });
          envelope = signEnvelope(statement, key);
        }
        await writeFileAtomic(options.out, `${JSON.stringify(envelope, null, 2)}\n`);
        for (const warning of warnings) note(`graft: warning: ${warning}`);
        emit(
          command,
          { envelope: options.out, keyId: key.keyId, signatures: envelope.signatures.length, warnings },
          () => `signed with ${key.keyId} (${envelope.signatures.length} signature(s)) -> ${options.out}`,
        );
      } catch (error) {
        fail(command, explainModuleMismatch(error, modulePath));
      }
    });
}

/** The signed name of `--filter`: a filter's name, or the name in the contract of the folder given. */
function filterName(nameOrFolder: string): string {
  return knownFilter(nameOrFolder)?.name ?? nameOrFolder;
}

/**
 * The filter `--filter` names: one of filters/ by name, or a folder (a filter outside this
 * repository); undefined for a name filters/ does not have.
 */
function knownFilter(name: string): FilterInfo | undefined {
  try {
    return findFilter(name);
  } catch (error) {
    if (errorCode(error) === "UNKNOWN_FILTER") return undefined;
    throw error;
  }
}

function collectLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("expected key=value, e.g. tier=payments");
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}
