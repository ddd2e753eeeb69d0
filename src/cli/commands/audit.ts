// SPDX-License-Identifier: Apache-2.0
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { emit, fail, jsonOption, note, say } from "../output.ts";
import { GraftAuditError, GraftError } from "../../sign/errors.ts";
import { loadSigningKey, loadVerifyingKey, type VerifyingKey } from "../../sign/keys.ts";
import {
  checkpointSignedBy,
  verifyAuditLog,
  type AuditCheckpoint,
  type AuditVerifyResult,
} from "../../audit/log.ts";
import { fetchAgentAudit } from "../../inject/agent-fleet.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { chooseTargets, fleetOptions, type FleetOptions } from "../fleet-options.ts";

/** Exit code of `graft audit verify` when the chain is broken (usage and file errors exit 1). */

/**
 * `graft audit verify <log> [--anchor <seq>:<hash>] [--key <agent.pub.pem>… --checkpoint <file>]`
 * checks the hash chain and, with keys, every record's signature and the signed checkpoint;
 * `graft audit collect --targets … --out <dir>` fetches every agent's log and verifies it.
 */
export function register(program: Command): void {
  const audit = program.command("audit").description("work with the injection audit log");
  const verify = audit.command("verify");
  jsonOption(verify);
  verify
    .description("check that no audit record was edited, deleted, inserted, reordered, forged or cut")
    .argument("<log>", "the audit log (JSON Lines)")
    .option(
      "--anchor <seq:hash>",
      "a head reported earlier (e.g. 42:sha256:…); detects records cut from the end",
      parseAnchor,
    )
    .option(
      "--key <pub.pem>",
      "the writer's public key (an agent's); every record must be signed by it (repeatable)",
      collect,
      [],
    )
    .option(
      "--checkpoint <file>",
      "a signed head (<log>.checkpoint.json or one collected earlier); needs --key",
    )
    .action(
      async (
        logPath: string,
        options: { anchor?: { seq: number; hash: string }; key: string[]; checkpoint?: string },
        command: Command,
      ) => {
        try {
          const keys: VerifyingKey[] = [];
          for (const file of options.key) keys.push(await loadVerifyingKey(file));
          if (options.checkpoint !== undefined && keys.length === 0)
            throw new GraftError(
              "FILE_ERROR",
              "--checkpoint needs --key: a checkpoint counts only with its signature",
            );
          const checkpoint =
            options.checkpoint === undefined
              ? undefined
              : (JSON.parse(await readFile(options.checkpoint, "utf8")) as unknown);
          let result;
          try {
            result = await verifyAuditLog(logPath, {
              anchor: options.anchor,
              ...(keys.length > 0 ? { keys } : {}),
              ...(checkpoint !== undefined ? { checkpoint } : {}),
            });
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            throw new GraftError("FILE_ERROR", `cannot read audit log ${logPath}: ${code ?? error}`, {
              cause: error,
            });
          }
          if (!result.ok) throw brokenError(logPath, result);
          emit(
            command,
            {
              ok: true,
              log: logPath,
              records: result.records,
              signed: keys.length > 0,
              headSeq: result.headSeq,
              headHash: result.headHash,
            },
            () =>
              `ok: ${result.records} record(s)${keys.length > 0 ? ", every one signed" : ""}, head seq ${result.headSeq} ${result.headHash}`,
          );
        } catch (error) {
          fail(command, error);
        }
      },
    );

  fleetOptions(
    audit
      .command("collect")
      .description(
        "fetch every agent's audit log, verify its signatures and checkpoint, and keep the newest head",
      )
      .requiredOption(
        "--out <dir>",
        "where logs and collected checkpoints are kept (compare against them next time)",
      ),
  ).action(async (options: FleetOptions & { out: string }, command: Command) => {
    try {
      const keyFile = options.key ?? process.env.GRAFT_CONTROL_KEY;
      if (!keyFile)
        throw new GraftError("FILE_ERROR", "give the control-plane key with --key or $GRAFT_CONTROL_KEY");
      const caller = await loadSigningKey(keyFile);
      await mkdir(options.out, { recursive: true, mode: 0o700 });
      let broken: GraftError | undefined;
      const collected: {
        target: string;
        ok: boolean;
        records?: number;
        headSeq?: number;
        problem?: string;
      }[] = [];
      for (const target of await chooseTargets(options)) {
        if (!target.agent)
          throw new GraftError("FILE_ERROR", `${target.name} has no agent; nothing to collect`);
        const agentKey: VerifyingKey = { keyId: target.agent.keyId, publicKey: target.agent.publicKey };
        const fetched = await fetchAgentAudit(target, caller);
        const logFile = path.join(options.out, `${target.name}.audit.log`);
        const keptFile = path.join(options.out, `${target.name}.checkpoint.json`);
        await writeFileAtomic(logFile, fetched.log, { mode: 0o600 });
        const kept = await readFile(keptFile, "utf8").then(
          (text) => JSON.parse(text) as AuditCheckpoint,
          () => undefined,
        );
        // The head collected last time must still be in the log: a log cut since then shows here.
        const checks: unknown[] = [fetched.checkpoint, ...(kept ? [kept] : [])];
        let result: AuditVerifyResult = { ok: true, records: 0, headSeq: 0, headHash: "" };
        for (const checkpoint of checks) {
          result = await verifyAuditLog(logFile, { keys: [agentKey], checkpoint });
          if (!result.ok) break;
        }
        if (!result.ok) {
          broken ??= brokenError(`${target.name} (${logFile})`, result);
          note(`${target.name}: BROKEN: ${result.problem}`);
          collected.push({ target: target.name, ok: false, problem: result.problem });
          continue;
        }
        if (
          checkpointSignedBy(fetched.checkpoint, [agentKey]) &&
          (!kept || fetched.checkpoint.seq >= kept.seq)
        )
          await writeFileAtomic(keptFile, `${JSON.stringify(fetched.checkpoint)}\n`, { mode: 0o600 });
        collected.push({ target: target.name, ok: true, records: result.records, headSeq: result.headSeq });
        if (!options.json)
          say(command, `${target.name}: ok: ${result.records} signed record(s), head seq ${result.headSeq}`);
      }
      if (options.json && !broken) emit(command, { out: options.out, agents: collected }, () => []);
      if (broken) throw broken;
    } catch (error) {
      fail(command, error);
    }
  });
}

function brokenError(what: string, result: Extract<AuditVerifyResult, { ok: false }>): GraftAuditError {
  const seq = result.seq === null ? "seq unknown" : `seq ${result.seq}`;
  return new GraftAuditError(
    result.kind === "forged" ? "AUDIT_FORGED" : "AUDIT_BROKEN",
    `${what} line ${result.line} (${seq}): ${result.problem}`,
  );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseAnchor(value: string): { seq: number; hash: string } {
  const at = value.indexOf(":");
  const seq = Number(value.slice(0, at));
  const hash = value.slice(at + 1);
  if (at <= 0 || !Number.isSafeInteger(seq) || seq < 1 || !/^sha256:[0-9a-f]{64}$/.test(hash)) {
    throw new InvalidArgumentError(
      "expected <seq>:sha256:<64 hex>, as printed by a previous `graft audit verify`",
    );
  }
  return { seq, hash };
}
