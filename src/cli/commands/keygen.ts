// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { fail, say } from "../output.ts";
import { generateKeyPair, saveKeyPair } from "../../sign/keys.ts";

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
