import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import yaml from "js-yaml";
import { generateKeyPair, saveKeyPair, signingKeyFromPem } from "../../src/sign/keys.ts";
import { parseTrustPolicy } from "../../src/sign/policy.ts";
import { signEnvelope } from "../../src/sign/sign.ts";
import { createStatement } from "../../src/sign/statement.ts";
import { verifyAuditLog } from "../../src/audit/log.ts";
import { compileModule } from "../../src/compile/compile.ts";
import {
  runRollout,
  type Look,
  type RolloutArtifact,
  type RolloutResult,
} from "../../src/rollout/rollout.ts";
import { parseRolloutPlan } from "../../src/rollout/plan.ts";
import { writeRolloutReports } from "../../src/rollout/report.ts";
import { filterInfo } from "../../src/filters/catalog.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import { startLocalFleet } from "../../src/inject/local-fleet.ts";
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
 * graft's main job against real Envoy: a baseline and a canary Envoy behind live traffic; a good
 * header-rewrite release is canaried and promoted, then a faulty build is canaried and rolled back
 * automatically — signed, injected without restarts, judged, and recorded in the audit log.
 */
export async function runCanaryDemo(
  print: (line: string) => void,
  options: CanaryDemoOptions,
): Promise<{ good: RolloutResult; faulty: RolloutResult }> {
  const workDir = options.workDir ?? path.join(projectRoot, ".graft", "demo");
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const info = filterInfo("header-rewrite");

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

  // 2. A signing key, and a trust policy that trusts it for header-rewrite.
  const pair = generateKeyPair();
  const saved = await saveKeyPair(pair, path.join(workDir, "keys"), "demo-operator");
  const policyPath = path.join(workDir, "trust.yaml");
  await writeFile(
    policyPath,
    yaml.dump({
      version: 1,
      maxTtl: "1h",
      keys: [{ name: "demo-operator", publicKeyPath: saved.publicKeyPath, filters: ["header-rewrite"] }],
    }),
  );
  const policy = parseTrustPolicy(await readFile(policyPath, "utf8"), {
    source: policyPath,
    baseDir: workDir,
  });
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
  print(`signing key ${pair.keyId.slice(0, 23)}…, trust policy ${path.relative(projectRoot, policyPath)}`);

  // 3. Upstream, and two Envoys with an injectable slot: baseline and canary.
  const auditLog = path.join(workDir, "audit.log");
  const audit = { auditLog, actor: "graft-demo" };
  const fleet = await startLocalFleet({
    names: ["envoy-baseline", "envoy-canary"],
    slots: [SLOT],
    concurrency: 1,
    runtime: options.runtime,
    workDir,
    componentLogLevel: "wasm:info,config:info",
    labels: (_, name) => ({ role: name.replace("envoy-", ""), app: "demo" }),
  });
  let traffic: ReturnType<typeof startTraffic> | undefined;
  try {
    const targets = fleet.envoys.map((e) => e.target);
    await writeFile(
      path.join(workDir, "targets.yaml"),
      yaml.dump({ targets: targets.map(({ logs: _logs, adminUrl, ...t }) => ({ ...t, admin: adminUrl })) }),
    );
    const urls = fleet.envoys.map((e) => e.url);
    print(
      `Envoy (${options.runtime}) baseline ${urls[0]} and canary ${urls[1]}, upstream 127.0.0.1:${fleet.echo.port}`,
    );

    // 4. The stable release everywhere.
    const stable = artifact(goodModule, "1.0.0", "hr-v1", "stable release");
    const first = await injectFleet({ ...audit, ...stable, targets, slot: SLOT });
    for (const r of first.results)
      print(`inject hr-v1 → ${r.target}: ${r.outcome} in ${Math.round(r.ms)} ms (no restart)`);

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
      print(`${label}: canary on envoy-canary, judged against envoy-baseline every 2 s`);
      const result = await runRollout({ plan, targets, artifact: candidate, audit, onLook });
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
            `     ${action.action} ${r.target}: ${r.outcome} → ${r.injectionId ?? "empty"} in ${Math.round(r.ms)} ms`,
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
      `audit log ${path.relative(projectRoot, auditLog)}: ${chain.ok ? `${chain.records} records, chain intact` : `BROKEN at line ${chain.line}: ${chain.problem}`}`,
    );
    return { good: rollouts[0]!, faulty: rollouts[1]! };
  } finally {
    traffic?.stop();
    await traffic?.done;
    await fleet.stop();
  }
}
