// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { GraftError } from "../../artifact/errors.ts";
import { generateKeyPair, saveKeyPair } from "../../artifact/keys.ts";

/** `graft keygen --out <dir> [--name <name>]`: a new Ed25519 signing key pair and its trust-policy entry. */
export function register(program: Command): void {
  program
    .command("keygen")
    .description("create an Ed25519 signing key pair (<name>.key.pem, mode 0600, and <name>.pub.pem)")
    .requiredOption("--out <dir>", "directory for the key files (created if missing)")
    .option("--name <name>", "file name stem and label for the key", "graft")
    .action(async (options: { out: string; name: string }, command: Command) => {
      try {
        const saved = await saveKeyPair(generateKeyPair(), options.out, options.name);
        say(
          command,
          [
            `key id:      ${saved.keyId}`,
            `private key: ${saved.privateKeyPath} (keep it secret; it signs injections)`,
            `public key:  ${saved.publicKeyPath}`,
            "trust policy entry (keys:):",
            `  - name: ${options.name}`,
            `    id: ${saved.keyId}`,
            `    publicKeyPath: ${saved.publicKeyPath}`,
            `    filters: ["*"]`,
          ].join("\n"),
        );
      } catch (error) {
        fail(command, error);
      }
    });
}

function root(command: Command): Command {
  return command.parent ? root(command.parent) : command;
}

function say(command: Command, text: string): void {
  const write = root(command).configureOutput().writeOut ?? ((line: string) => process.stdout.write(line));
  write(`${text}\n`);
}

/** Graft errors end the command with `error: CODE: message` and exit code 1; anything else propagates. */
function fail(command: Command, error: unknown): never {
  if (!(error instanceof GraftError)) throw error;
  // A refusal is not a usage mistake: report it without the help text even under showHelpAfterError(),
  // through a stand-in that shares the root's output and exitOverride settings.
  const reporter = new Command().copyInheritedSettings(root(command)).showHelpAfterError(false);
  return reporter.error(`error: ${error.code}: ${error.message}`, {
    exitCode: 1,
    code: `graft.${error.code}`,
  });
}
