// SPDX-License-Identifier: Apache-2.0
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { emit, fail, jsonOption, note } from "../output.ts";
import { readJsonFile, writeFileAtomic } from "../../sign/files.ts";
import { loadSigningKey } from "../../sign/keys.ts";
import { addPolicySignature, signPolicy } from "../../sign/policy-bundle.ts";
import { installPolicyThroughAgents } from "../../inject/agent-fleet.ts";
import { GraftError } from "../../util/errors.ts";
import { chooseTargets, fleetOptions, type FleetOptions } from "../fleet-options.ts";

/**
 * `graft policy sign <trust.yaml> --key <root.key.pem> --out policy.dsse.json` signs a trust policy
 * with a trust-root key (`--envelope` adds another root signature); `graft policy push` sends a signed
 * policy to every agent, which refuses it unless it carries the root threshold and a newer serial.
 */
export function register(program: Command): void {
  const policy = program
    .command("policy")
    .description("sign trust policies with root keys and push them to agents");
  const sign = policy.command("sign");
  jsonOption(sign);
  sign
    .description("sign a trust policy (YAML with serial:) with a trust-root key, or add a root signature")
    .argument("[policy.yaml]", "the policy to sign (omit with --envelope)")
    .requiredOption("--key <pem>", "a trust-root private key")
    .requiredOption("--out <file>", "where to write the signed policy")
    .option("--envelope <file>", "an already signed policy to add this root key's signature to")
    .action(
      async (
        file: string | undefined,
        options: { key: string; out: string; envelope?: string },
        command: Command,
      ) => {
        try {
          const key = await loadSigningKey(options.key);
          const signed =
            options.envelope !== undefined
              ? addPolicySignature(await readJsonFile(options.envelope, "--envelope"), key)
              : signPolicy(await readFile(file ?? "", "utf8"), [key], file ?? "policy");
          await writeFileAtomic(options.out, `${JSON.stringify(signed, null, 2)}\n`);
          emit(
            command,
            { out: options.out, keyId: key.keyId, signatures: signed.signatures.length },
            () => `signed with ${key.keyId} (${signed.signatures.length} signature(s)) -> ${options.out}`,
          );
        } catch (error) {
          fail(command, error);
        }
      },
    );
  fleetOptions(
    policy
      .command("push")
      .description("send a signed policy to the agents of the chosen targets")
      .argument("<policy.dsse.json>", "signed policy"),
  ).action(async (file: string, options: FleetOptions, command: Command) => {
    const keyFile = options.key ?? process.env.GRAFT_CONTROL_KEY;
    if (!keyFile)
      throw new GraftError("NO_CONTROL_KEY", "give the control-plane key with --key or $GRAFT_CONTROL_KEY");
    const answers = await installPolicyThroughAgents(
      await chooseTargets(options),
      await readJsonFile(file, "policy"),
      await loadSigningKey(keyFile),
    );
    emit(command, { answers, ok: answers.every((answer) => !answer.error) }, () =>
      answers.filter((a) => !a.error).map((a) => `${a.target}: policy serial ${a.serial} ${a.outcome}`),
    );
    for (const answer of answers) if (answer.error) note(`${answer.target}: FAILED: ${answer.error}`);
    if (answers.some((answer) => answer.error)) process.exitCode = 1;
  });
}
