import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import yaml from "js-yaml";
import { generateKeyPair, saveKeyPair, signingKeyFromPem, type KeyPairPem } from "../../src/sign/keys.ts";
import { parseTrustPolicy } from "../../src/sign/policy.ts";
import { signPolicy } from "../../src/sign/policy-bundle.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { checkpointPath, verifyAuditLog } from "../../src/audit/log.ts";
import { compileModule } from "../../src/compile/compile.ts";
import {
  runRollout,
  type Look,
  type RolloutArtifact,
  type RolloutResult,
} from "../../src/rollout/rollout.ts";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { writeRolloutReports } from "../../src/rollout/report.ts";
import { findFilter } from "../../src/filters/catalog.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import { newOperationId } from "../../src/inject/agent-fleet.ts";
import { readAgentCheckpoint, startLocalAgents } from "../../src/inject/local-agents.ts";
import type { EnvoyRuntime } from "../../src/envoy/runtime.ts";
import { startTraffic } from "../load/traffic.ts";
import type { EchoedRequest } from "../../src/upstream/echo.ts";
import { projectRoot } from "../../src/util/paths.ts";

const SLOT = "graft-slot-0";

function headerRewriteConfig(version: string): Record<string, unknown> {
  return {
    rules: [
      {
        name: "tag",
        request: [{ op: "set", name: "x-graft-version", value: version }],
        response: [
          { op: "set", name: "x-graft-injection", value: "${injection_id}" },
          { op: "remove", name: "x-echo-upstream" },
        ],
      },
    ],
  };
}

export interface CanaryDemoOptions {
  runtime: EnvoyRuntime;
  /** Requests per second to each Envoy. */
  rate?: number;
  workDir?: string;
}

/**
 * graft's main job against real Envoy: a baseline and a canary Envoy behind live traffic, each with
 * its graft agent (the only writer of its slots, verifying every change against the signed trust
 * policy pinned in it); a good header-rewrite release is canaried and promoted, then a faulty build
 * is canaried and rolled back automatically — signed, asked of the agents with a control-plane key,
 * injected without restarts, judged, and recorded in the control plane's and the agents' audit logs.
 */
export async function runCanaryDemo(
  print: (line: string) => void,
  options: CanaryDemoOptions,
): Promise<{ good: RolloutResult; faulty: RolloutResult }> {
  const workDir = options.workDir ?? path.join(projectRoot, ".graft", "demo");
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const info = findFilter("header-rewrite");

  // 1. The faulty build: the same filter with an injected fault (every 25th request answered 503).
  const faultyPath = path.join(workDir, "header-rewrite-faulty.wasm");
  await compileModule(
    "header-rewrite-faulty",
    path.join(projectRoot, "scripts", "demo-faulty-filter", "assembly", "index.ts"),
    faultyPath,
    "release",
  );
  const goodModule = await readFile(info.releaseWasm);
  const faultyModule = await readFile(faultyPath);

  // 2. Keys: two trust-root holders (2 of 2 sign the policy every agent pins), a release approver
  // the policy trusts for header-rewrite, and the control-plane key the agents accept as a caller.
  const keysDir = path.join(workDir, "keys");
  const keyPair = async (name: string): Promise<KeyPairPem> => {
    const pair = generateKeyPair();
    await saveKeyPair(pair, keysDir, name);
    return pair;
  };
  const rootA = await keyPair("root-a");
  const rootB = await keyPair("root-b");
  const pair = await keyPair("demo-operator");
  const control = await keyPair("demo-ctl");
  const policyPath = path.join(workDir, "trust.yaml");
  const policyText = yaml.dump({
    version: 1,
    serial: 1,
    maxTtl: "1h",
    keys: [{ name: "demo-operator", publicKey: pair.publicKeyPem, filters: ["header-rewrite"] }],
  });
  await writeFile(policyPath, policyText);
  const signedPolicy = signPolicy(
    policyText,
    [rootA, rootB].map((root) => signingKeyFromPem(root.privateKeyPem)),
    policyPath,
  );
  const policy = parseTrustPolicy(policyText, { source: policyPath, baseDir: workDir });
  const key = signingKeyFromPem(pair.privateKeyPem);
  const artifact = (
    module: Uint8Array,
    version: string,
    injectionId: string,
    reason: string,
  ): RolloutArtifact => {
    const configuration = headerRewriteConfig(version);
    const statement = createStatement({
      wasmBytes: module,
      moduleName: "header-rewrite.wasm",
      filter: "header-rewrite",
      version,
      injectionId,
      author: "demo-operator",
      reason,
      configuration,
      ttl: "30m",
    });
    return { module, envelope: signEnvelope(statement, key), configuration, policy };
  };
  print(
    `keys in ${path.relative(projectRoot, keysDir)}: release approver demo-operator ${pair.keyId.slice(0, 23)}…, ` +
      `control plane demo-ctl, trust roots root-a + root-b; trust policy ${path.relative(projectRoot, policyPath)} signed 2 of 2`,
  );

  // 3. Upstream, and two Envoys with an injectable slot (baseline and canary), each with its graft
  // agent: a `graft agent` process that pins the trust root and the signed policy, and is the only
  // writer of its Envoy's slot files.
  const auditLog = path.join(workDir, "audit.log");
  const audit = { auditLog, actor: "graft-demo", caller: signingKeyFromPem(control.privateKeyPem) };
  const local = await startLocalAgents({
    names: ["envoy-baseline", "envoy-canary"],
    slots: [SLOT],
    concurrency: 1,
    runtime: options.runtime,
    workDir,
    componentLogLevel: "wasm:info,config:info",
    labels: (_, name) => ({ role: name.replace("envoy-", ""), app: "demo" }),
    trustRoot: [
      { name: "root-a", publicKeyPem: rootA.publicKeyPem },
      { name: "root-b", publicKeyPem: rootB.publicKeyPem },
    ],
    threshold: 2,
    policy: signedPolicy,
    callers: [{ name: "demo-ctl", publicKeyPem: control.publicKeyPem }],
    agentMode: "process",
    enforceInterval: "1s",
  });
  const fleet = local.fleet;
  let traffic: ReturnType<typeof startTraffic> | undefined;
  try {
    const targets = local.targets;
    const urls = fleet.envoys.map((e) => e.url);
    print(
      `Envoy (${options.runtime}) baseline ${urls[0]} and canary ${urls[1]}, upstream 127.0.0.1:${fleet.echo.port}`,
    );
    for (const host of local.hosts)
      print(
        `graft agent ${host.name} at ${host.agentUrl} (pid ${host.process?.pid}, key ${host.agentKey.keyId.slice(0, 23)}…): ` +
          `policy serial 1 pinned, sole writer of ${host.name}'s slots, audit log ${path.relative(projectRoot, host.auditLog)}`,
      );
    print(
      `targets ${path.relative(projectRoot, local.targetsFile)}: each Envoy by its agent (pinned key) and its admin API (read-only, for the judge)`,
    );

    // 4. The stable release everywhere, through the agents.
    const stable = artifact(goodModule, "1.0.0", "hr-v1", "stable release");
    const first = await injectFleet({ ...audit, ...stable, targets, slot: SLOT });
    for (const r of first.results)
      print(`inject hr-v1 → ${r.target}: ${r.outcome} by its agent in ${Math.round(r.ms)} ms (no restart)`);
    for (const f of first.failures) print(`inject hr-v1 → ${f.target}: FAILED: ${f.error}`);
    if (first.failures.length > 0) throw new Error("the stable release did not go in");

    // 5. Live traffic on both, bounded.
    const rate = options.rate ?? 150;
    traffic = startTraffic({ urls, ratePerUrl: rate, durationMs: 150_000, path: "/api/orders" });
    print(`traffic: ${rate} requests/s to each Envoy\n`);
    // A few seconds of traffic before the first canary: the rollout projects its maxDuration from it.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const plan = parseRolloutPlan(
      {
        slot: SLOT,
        listener: "main",
        canary: "role=canary",
        baseline: "role=baseline",
        interval: "2s",
        minDuration: "10s",
        maxDuration: "90s",
        minRequests: 1000,
        // Loopback traffic has no bursts to average out: short blocks keep the demo quick.
        burstWindow: "6s",
        signals: [
          { name: "5xx", maxRatio: 1.5, floorRate: 0.005 },
          // Loopback latency on a small machine is bursty (the judge measures its slow>50ms share
          // about 10× more variable than independent requests): a 3% floor lets it promote in time.
          { name: "slow", thresholdMs: 50, maxRatio: 1.5, floorRate: 0.03 },
        ],
      },
      "demo plan",
    );
    const onLook = (look: Look) =>
      print(
        `  t=${(look.elapsedMs / 1000).toFixed(0).padStart(3)}s ${look.verdict.decision.padEnd(8)} canary ${look.canary.requests} req / ${look.canary.rq5xx} 5xx, baseline ${look.baseline.requests} req / ${look.baseline.rq5xx} 5xx`,
      );

    const rollouts: RolloutResult[] = [];
    for (const [label, candidate] of [
      ["(a) good release hr-v2", artifact(goodModule, "1.1.0", "hr-v2", "add x-graft-version")],
      ["(b) faulty build hr-v3", artifact(faultyModule, "1.2.0", "hr-v3", "faulty build, to show rollback")],
    ] as const) {
      const operationId = newOperationId("rollout");
      print(
        `${label}: canary on envoy-canary through its agent, judged against envoy-baseline every 2 s ` +
          `(operation ${operationId}: the agents audit its steps as .canary, .promote, .rollback)`,
      );
      const result = await runRollout({
        plan,
        targets,
        artifact: candidate,
        audit: { ...audit, operationId },
        onLook,
      });
      const reports = await writeRolloutReports(
        result,
        path.join(workDir, `rollout-${rollouts.length === 0 ? "good" : "faulty"}`),
      );
      for (const warning of result.warnings) print(`  warning: ${warning}`);
      print(`  → ${result.decision}: ${result.reason} [canary ${result.canaryState}]`);
      for (const line of result.looks.at(-1)?.verdict.lines ?? []) print(`     ${line}`);
      for (const action of result.actions.slice(1)) {
        for (const r of action.results)
          print(
            `     ${action.action} ${r.target} (by its agent): ${r.outcome} → ${r.injectionId ?? "empty"} in ${Math.round(r.ms)} ms`,
          );
      }
      print(`  report: ${path.relative(projectRoot, reports.html)} (also .md, .json)\n`);
      rollouts.push(result);
    }

    traffic.stop();
    await traffic.done;
    for (const [url, stats] of traffic.stats) {
      print(
        `traffic to ${url}: ${stats.sent} sent, by status ${JSON.stringify(Object.fromEntries(stats.byStatus))}, ${stats.errors} errors`,
      );
    }
    const served = await fetch(`${urls[1]}/api/orders`);
    const upstreamSaw = (await served.json()) as EchoedRequest;
    print(
      `a request through the canary now: upstream saw x-graft-version: ${upstreamSaw.headers["x-graft-version"] ?? "(none)"}; client got x-graft-injection: ${served.headers.get("x-graft-injection")}, x-echo-upstream: ${served.headers.get("x-echo-upstream") ?? "(removed)"}`,
    );
    const chain = await verifyAuditLog(auditLog);
    print(
      `control-plane audit log ${path.relative(projectRoot, auditLog)} (the rollouts' records): ${chain.ok ? `${chain.records} records, chain intact` : `BROKEN at line ${chain.line}: ${chain.problem}`}`,
    );
    for (const host of local.hosts) {
      const signed = await verifyAuditLog(host.auditLog, {
        keys: [host.agentKey],
        checkpoint: await readAgentCheckpoint(host),
      });
      print(
        `agent ${host.name} audit log: ${signed.ok ? `${signed.records} records, every one signed by the agent, chain intact up to its signed checkpoint` : `BROKEN at line ${signed.line}: ${signed.problem}`}` +
          ` (graft audit verify ${path.relative(projectRoot, host.auditLog)} --key ${path.relative(projectRoot, host.agentPublicKeyPath)} --checkpoint ${path.relative(projectRoot, checkpointPath(host.auditLog))})`,
      );
    }
    print("(the agent-less file mode, targets without agent:, stays for development only)");
    return { good: rollouts[0]!, faulty: rollouts[1]! };
  } finally {
    traffic?.stop();
    await traffic?.done;
    await local.stop();
  }
}
