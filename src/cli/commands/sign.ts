// SPDX-License-Identifier: Apache-2.0
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { fail, say } from "../output.ts";
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
  program
    .command("sign")
    .description(
      "sign a Wasm filter for injection (in-toto statement in a DSSE envelope), or co-sign an envelope",
    )
    .argument("<module.wasm>", "the compiled filter module")
    .requiredOption("--key <pem>", "Ed25519 private key (from graft keygen)")
    .requiredOption("--out <file>", "where to write the envelope (may be the same file as --envelope)")
    .option("--filter <name>", "filter name (plugin name / root_id)")
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
      "--downgrade-from <version>",
      "approve replacing this newer active release with this older one (agents refuse a downgrade otherwise)",
    )
    .action(async (modulePath: string, options: SignOptions, command: Command) => {
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
            filter: options.filter,
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
          const statement = createStatement({
            wasmBytes,
            moduleName: path.basename(modulePath),
            filter: options.filter as string,
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
        say(
          command,
          `signed with ${key.keyId} (${envelope.signatures.length} signature(s)) -> ${options.out}`,
        );
      } catch (error) {
        fail(command, error);
      }
    });
}

function collectLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("expected key=value, e.g. tier=payments");
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}
