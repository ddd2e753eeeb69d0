import type { AddressInfo } from "node:net";
import path from "node:path";
import { appendAuditRecord } from "../audit/log.ts";
import { GraftError } from "../sign/errors.ts";
import { verifySignedPolicy, type VerifiedPolicy } from "../sign/policy-bundle.ts";
import { ensurePrivateDir, readFileNoFollow } from "../util/atomic-write.ts";
import type { AgentConfig } from "./config.ts";
import { Enforcer } from "./enforcer.ts";
import { RequestVerifier } from "./request-auth.ts";
import { createAgentServer } from "./server.ts";
import { readAgentState, writeAgentState } from "./state.ts";

export interface RunningAgent {
  name: string;
  /** `http://host:port` of the API. */
  url: string;
  enforcer: Enforcer;
  stop(): Promise<void>;
}

async function readPolicyFile(file: string): Promise<unknown> {
  return JSON.parse((await readFileNoFollow(file)).toString("utf8")) as unknown;
}

/**
 * The policy the agent starts with: the newest valid one of the configured file and the one it
 * stored when it last accepted a policy. A configured file older than what was accepted is refused
 * (and audited): putting an old file back cannot un-revoke a key.
 */
async function startingPolicy(config: AgentConfig, acceptedSerial: number): Promise<VerifiedPolicy> {
  const stored = path.join(config.stateDir, "policy.dsse.json");
  const candidates: VerifiedPolicy[] = [];
  const problems: string[] = [];
  for (const file of [stored, config.policyFile]) {
    let envelope: unknown;
    try {
      envelope = await readPolicyFile(file);
    } catch (error) {
      if (file !== stored) problems.push(`${file}: ${(error as Error).message}`);
      continue;
    }
    try {
      candidates.push(
        verifySignedPolicy(envelope, config.trustRoot, { source: file, minSerial: acceptedSerial }),
      );
    } catch (error) {
      problems.push((error as Error).message);
      if ((error as GraftError).code === "POLICY_ROLLBACK")
        await appendAuditRecord(
          config.auditLog,
          {
            action: "policy",
            outcome: "refused",
            actor: `agent:${config.name}`,
            targets: [config.name],
            reason: (error as Error).message,
          },
          { signer: config.key },
        ).catch(() => undefined);
    }
  }
  const best = candidates.sort((a, b) => b.policy.serial - a.policy.serial)[0];
  if (!best)
    throw new Error(
      `${config.source}: no usable trust policy (${problems.join("; ")}); give a policy signed by the trust root`,
    );
  for (const problem of problems) console.error(`graft agent ${config.name}: ignored policy: ${problem}`);
  return best;
}

/** Starts an agent from its configuration: state, policy, the enforcement timer and the signed API. */
export async function startAgent(
  config: AgentConfig,
  options: { envoyLogs?: () => string } = {},
): Promise<RunningAgent> {
  await ensurePrivateDir(config.stateDir, 0o700);
  await ensurePrivateDir(path.join(config.stateDir, "modules"), 0o700);
  await ensurePrivateDir(config.moduleStore, config.moduleStoreMode);
  const state = await readAgentState(config.stateDir, config.envoy.slots);
  const { policy } = await startingPolicy(config, state.policySerial);
  state.policySerial = Math.max(state.policySerial, policy.serial);
  await writeAgentState(config.stateDir, state);
  const enforcer = new Enforcer(config, policy, state, options.envoyLogs);
  await enforcer.enforce();

  const server = createAgentServer({
    name: config.name,
    key: config.key,
    verifier: new RequestVerifier(config.name, config.callers),
    enforcer,
    auditLog: config.auditLog,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  let stopped = false;
  let pass: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    pass = enforcer
      .enforce()
      .catch((error: unknown) => console.error(`graft agent ${config.name}: ${(error as Error).message}`));
  }, config.enforceIntervalMs);
  return {
    name: config.name,
    url: `http://${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`,
    enforcer,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pass;
    },
  };
}
