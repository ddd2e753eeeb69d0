// SPDX-License-Identifier: Apache-2.0
import path from "node:path";
import { Command } from "commander";
import { emit, fail, jsonOption } from "../output.ts";
import { generateKeyPair, saveKeyPair } from "../../sign/keys.ts";
import { starterPolicy } from "../../init/templates.ts";

/** `graft keygen --out <dir> [--name <name>]`: a new Ed25519 signing key pair and a trust policy that trusts it. */
export function register(program: Command): void {
  jsonOption(
    program
      .command("keygen")
      .description(
        "create an Ed25519 signing key pair (<name>.key.pem, mode 0600, and <name>.pub.pem) and print a trust policy that trusts it",
      )
      .requiredOption("--out <dir>", "directory for the key files (created if missing)")
      .option("--name <name>", "file name stem and label for the key", "graft"),
  ).action(async (options: { out: string; name: string }, command: Command) => {
    try {
      const saved = await saveKeyPair(generateKeyPair(), options.out, options.name);
      // publicKeyPath is resolved against the policy file's folder: this one is for ./trust.yaml.
      const policy = starterPolicy({
        name: options.name,
        keyId: saved.keyId,
        publicKeyPath: path.relative(process.cwd(), path.resolve(saved.publicKeyPath)),
      });
      emit(
        command,
        {
          keyId: saved.keyId,
          name: options.name,
          privateKey: saved.privateKeyPath,
          publicKey: saved.publicKeyPath,
          policy,
        },
        () => [
          `key id:      ${saved.keyId}`,
          `private key: ${saved.privateKeyPath} (keep it secret; it signs injections)`,
          `public key:  ${saved.publicKeyPath}`,
          "",
          "# A complete trust policy that trusts this key: save it as trust.yaml in this directory",
          "# (publicKeyPath is relative to the policy file), or copy the keys: entry into yours.",
          policy.trimEnd(),
        ],
      );
    } catch (error) {
      fail(command, error);
    }
  });
}
