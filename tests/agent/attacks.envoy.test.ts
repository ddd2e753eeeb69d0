// Each attack that once worked on a real Envoy, replayed through graft agents: the agent refuses it
// before the proxy changes, or detects it and puts back the last verified state, and audits it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { verifyAuditLog } from "../../src/audit/log.ts";
import { startEnvoy } from "../../src/envoy/runtime.ts";
import { injectFleet, rollbackFleet, type FleetReport } from "../../src/inject/fleet.ts";
import { readSlotFile, writeSlotFile } from "../../src/inject/ecds-file.ts";
import { installPolicyThroughAgents } from "../../src/inject/agent-fleet.ts";
import { modulePath } from "../../src/inject/module-store.ts";
import { slotHttpFilter } from "../../src/inject/slot.ts";
import type { Target } from "../../src/inject/target.ts";
import { wasmTypedConfig } from "../../src/envoy/wasm-filter.ts";
import { policyOf } from "../sign/helpers.ts";
import {
  alice,
  auditRecords,
  bob,
  carol,
  eventually,
  mallory,
  release,
  sample,
  served,
  signedPolicy,
  SLOT,
  startAgentFleet,
  type AgentFleet,
  type Release,
} from "./support/agent-fleet.ts";

type Report = FleetReport & { failures: { code?: string }[] };

function inject(
  f: AgentFleet,
  r: Release,
  targets?: Target[],
  extra: { actor?: string } = {},
): Promise<Report> {
  return injectFleet({
    targets: targets ?? f.hosts.map((h) => h.target),
    slot: SLOT,
    module: r.module,
    envelope: r.envelope,
    configuration: r.configuration,
    // What the caller brings carries no weight on an agent: a policy trusting everyone, any actor.
    policy: policyOf([{ approver: mallory }], { maxTtl: "1000d" }),
    auditLog: "/dev/null",
    actor: extra.actor ?? "mallory",
    caller: f.caller,
  }) as Promise<Report>;
}

const codes = (report: Report) => report.failures.map((failure) => failure.code);

describe("agents verify with their own policy and labels", () => {
  let f: AgentFleet;
  before(async () => {
    f = await startAgentFleet({
      labels: { tier: "payments" },
      policy: { serial: 1, approvalRules: [{ targets: { tier: "payments" }, approvals: 2 }] },
    });
  });
  after(async () => f?.stop());

  it("refuses an untrusted key's 900-day artifact whatever policy the caller brings (UNKNOWN_KEY)", async () => {
    const report = await inject(f, release("mallory-900d", [mallory], { ttl: "900d" }));
    assert.deepEqual(codes(report), ["UNKNOWN_KEY"]);
    assert.equal(await served(f.hosts[0]!.url), null);
  });

  it("refuses a home-made policy signed by an untrusted key (POLICY_UNTRUSTED)", async () => {
    const homemade = signedPolicy({ serial: 99, trusted: [mallory], signers: [mallory, alice] });
    const [answer] = await installPolicyThroughAgents([f.hosts[0]!.target], homemade, f.caller);
    assert.match(answer!.error ?? "", /POLICY_UNTRUSTED/);
  });

  it("applies the agent's 2-approval rule although the targets file says tier: web (TOO_FEW_APPROVALS)", async () => {
    const lying = f.hosts.map((h) => ({ ...h.target, labels: { tier: "web" } }));
    const report = await inject(f, release("one-signer", [alice]), lying);
    assert.deepEqual(codes(report), ["TOO_FEW_APPROVALS"]);
    assert.equal(await served(f.hosts[0]!.url), null);
  });

  it("injects a release with the two approvals, audited under the authenticated caller", async () => {
    const report = await inject(f, release("two-signers", [alice, bob]));
    assert.deepEqual(report.failures, []);
    assert.equal(await served(f.hosts[0]!.url), "two-signers");
    const records = auditRecords(f.hosts[0]!.config.auditLog).filter((r) => r.action === "inject");
    assert.deepEqual(
      records.map((r) => [r.outcome, r.actor]),
      [
        ["refused", "ops-ctl"],
        ["refused", "ops-ctl"],
        ["intent", "ops-ctl"],
        ["ok", "ops-ctl"],
      ],
    );
  });

  it("refuses a statement scoped to other slots or other targets (OUT_OF_SCOPE)", async () => {
    const otherSlot = await inject(f, release("scoped-slot", [alice, bob], { slots: ["graft-slot-9"] }));
    const otherTier = await inject(f, release("scoped-tier", [alice, bob], { targets: { tier: "web" } }));
    assert.deepEqual([...codes(otherSlot), ...codes(otherTier)], ["OUT_OF_SCOPE", "OUT_OF_SCOPE"]);
    assert.equal(await served(f.hosts[0]!.url), "two-signers");
  });
});

describe("agents keep what they applied: drift, planted modules, rejected updates", () => {
  let f: AgentFleet;
  before(async () => {
    f = await startAgentFleet();
  });
  after(async () => f?.stop());

  it("stores a module only after checking its full sha256: a same-size planted file is replaced", async () => {
    const good = release("planted-before", [alice]);
    const host = f.hosts[0]!;
    const planted = Buffer.alloc(good.module.length, 0x41);
    const file = modulePath(host.config.moduleStore, sha(good.module));
    writeFileSync(file, planted);
    const report = await inject(f, good);
    assert.deepEqual(report.failures, []);
    assert.deepEqual(readFileSync(file), good.module);
    assert.equal(await served(host.url), "planted-before");
  });

  it("detects a module changed in the store behind its back, restores it and audits the repair", async () => {
    const host = f.hosts[0]!;
    const file = modulePath(host.config.moduleStore, sha(release("x", [alice]).module));
    const original = readFileSync(file);
    writeFileSync(file, Buffer.alloc(original.length, 0x42));
    await eventually(async () => readFileSync(file).equals(original), 5_000, "the module to be restored");
    await eventually(
      async () =>
        auditRecords(host.config.auditLog).some(
          (r) =>
            r.action === "drift-repair" &&
            r.outcome === "ok" &&
            JSON.stringify(r.details).includes("module store file"),
        ),
      2_000,
      "the drift repair's audit record",
    );
    assert.equal(await served(host.url), "planted-before");
  });

  it("puts back a hand-written slot file serving an unsigned module, and audits it", async () => {
    const host = f.hosts[0]!;
    const unsigned = path.join(f.workDir, "unsigned.wasm");
    writeFileSync(unsigned, release("x", [alice]).module);
    await writeSlotFile(host.config.envoy.ecdsDir, SLOT, {
      version: "evil#1",
      typedConfig: wasmTypedConfig({
        name: SLOT,
        rootId: sample.rootId,
        wasmPath: unsigned,
        configuration: { response_header: "x-graft-injection", injection_id: "evil" },
      }),
    });
    await eventually(
      async () => (await readSlotFile(host.config.envoy.ecdsDir, SLOT))?.version !== "evil#1",
      5_000,
      "repair",
    );
    await eventually(
      async () => (await served(host.url)) === "planted-before",
      5_000,
      "the signed filter to serve again",
    );
    await eventually(
      async () =>
        auditRecords(host.config.auditLog).some(
          (r) =>
            r.action === "drift-repair" && r.outcome === "ok" && JSON.stringify(r.details).includes("evil#1"),
        ),
      2_000,
      "the drift repair's audit record",
    );
  });

  it("restores the last good slot file after Envoy rejects an update, so a restart serves it", async () => {
    const host = f.hosts[0]!;
    const broken = release("broken", [alice], { wasmBytes: Buffer.from("\0asm\x01\0\0\0\x01\xff junk") });
    const report = await inject(f, broken);
    assert.deepEqual(codes(report), ["ENVOY_REJECTED"]);
    assert.equal(await served(host.url), "planted-before");
    const file = await readSlotFile(host.config.envoy.ecdsDir, SLOT);
    assert.match(JSON.stringify(file?.typedConfig), /planted-before/);
    // A fresh Envoy reading the same slot file (what a restart does) serves the last good filter.
    const again = await startEnvoy("process", {
      label: "restarted",
      nodeId: "restarted",
      upstream: { host: "127.0.0.1", port: f.fleet.echo.port },
      listeners: [{ name: "main", httpFilters: [slotHttpFilter(SLOT, host.config.envoy.ecdsDir)] }],
    });
    try {
      assert.equal(await served(await again.listenerUrl("main")), "planted-before");
    } finally {
      await again.stop();
    }
  });
});

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("agents serialise changes", () => {
  let f: AgentFleet;
  before(async () => {
    f = await startAgentFleet();
  });
  after(async () => f?.stop());

  it("runs two concurrent injects on one slot one after the other: intent and result never interleave", async () => {
    const host = f.hosts[0]!;
    const [a, b] = await Promise.all([
      inject(f, release("race-a", [alice])),
      inject(f, release("race-b", [alice])),
    ]);
    assert.deepEqual([...a.failures, ...b.failures], []);
    const served_ = await served(host.url);
    assert.ok(served_ === "race-a" || served_ === "race-b");
    const injects = auditRecords(host.config.auditLog)
      .filter((r) => r.action === "inject")
      .map((r) => `${r.outcome}:${(r.details as { injectionId: string }).injectionId}`);
    assert.equal(injects.length, 4);
    assert.equal(injects[0]!.split(":")[1], injects[1]!.split(":")[1]);
    assert.deepEqual([injects[0]!.split(":")[0], injects[1]!.split(":")[0]], ["intent", "ok"]);
    assert.equal(injects[3], `ok:${served_}`);
  });
});

describe("agents re-verify before re-activating, and refuse older releases and policies", () => {
  let f: AgentFleet;
  before(async () => {
    f = await startAgentFleet({ policy: { serial: 1 } });
  });
  after(async () => f?.stop());
  const rollback = (operationId?: string) =>
    rollbackFleet(
      f.hosts.map((h) => h.target),
      SLOT,
      { auditLog: "", caller: f.caller, operationId },
    ) as Promise<Report>;

  it("never re-activates an artifact whose key was revoked since: removed on the new policy, skipped by rollback", async () => {
    const host = f.hosts[0]!;
    assert.deepEqual((await inject(f, release("by-carol", [carol]))).failures, []);
    assert.deepEqual((await inject(f, release("by-alice", [alice]))).failures, []);
    const [answer] = await installPolicyThroughAgents(
      [host.target],
      signedPolicy({ serial: 2, revoked: [carol] }),
      f.caller,
    );
    assert.equal(answer!.outcome, "installed");
    const back = await rollback();
    assert.deepEqual(back.failures, []);
    assert.equal(back.results[0]!.outcome, "emptied");
    assert.equal(await served(host.url), null);
    const removed = auditRecords(host.config.auditLog).filter((r) => r.action === "reverify-removed");
    assert.match(JSON.stringify(removed), /"code":"REVOKED_KEY","injectionId":"by-carol"/);
  });

  it("refuses to roll back onto a history entry edited by hand (the state is verified, not trusted)", async () => {
    const host = f.hosts[0]!;
    await inject(f, release("kept", [alice]));
    await inject(f, release("top", [alice]));
    await host.agent.stop();
    const stateFile = path.join(host.config.stateDir, "state.json");
    const state = JSON.parse(await readFile(stateFile, "utf8")) as {
      slots: Record<string, { stack: { configuration: unknown }[] }>;
    };
    state.slots[SLOT]!.stack[0]!.configuration = { response_header: "x-graft-edited" };
    await writeFile(stateFile, JSON.stringify(state));
    await host.restart();
    const back = await rollback();
    assert.equal(back.results[0]!.outcome, "emptied");
    assert.deepEqual((back.results[0] as { skipped?: unknown }).skipped ?? [], []);
    assert.equal(await served(host.url), null);
    // The edited entry never verified: the agent dropped it at start, and says why.
    const removed = auditRecords(host.config.auditLog).filter((r) => r.action === "reverify-removed");
    assert.match(JSON.stringify(removed.at(-1)), /"code":"CONFIG_MISMATCH","injectionId":"kept"/);
  });

  it("refuses an older release over a newer one unless signed as a downgrade (DOWNGRADE_REFUSED)", async () => {
    const host = f.hosts[0]!;
    assert.deepEqual((await inject(f, release("v12", [alice], { version: "1.2.0" }))).failures, []);
    const older = await inject(f, release("v11", [alice], { version: "1.1.0" }));
    assert.deepEqual(codes(older), ["DOWNGRADE_REFUSED"]);
    assert.equal(await served(host.url), "v12");
    const approved = await inject(
      f,
      release("v11-ok", [alice], { version: "1.1.0", downgradeFrom: "1.2.0" }),
    );
    assert.deepEqual(approved.failures, []);
    assert.equal(await served(host.url), "v11-ok");
  });

  it("refuses an older policy by API and from a restored file after a restart (POLICY_ROLLBACK)", async () => {
    const host = f.hosts[0]!;
    const [old] = await installPolicyThroughAgents([host.target], signedPolicy({ serial: 1 }), f.caller);
    assert.match(old!.error ?? "", /POLICY_ROLLBACK/);
    // The configured file still holds serial 1 (carol trusted): a restart keeps serial 2.
    await host.restart();
    const refused = await inject(f, release("carol-again", [carol]));
    assert.deepEqual(codes(refused), ["REVOKED_KEY"]);
    assert.equal(await served(host.url), "v11-ok");
  });

  it("expires an injection on the agent's own timer, with no command running", async () => {
    const host = f.hosts[0]!;
    assert.deepEqual(
      (await inject(f, release("short", [alice], { version: "1.3.0", ttl: "2s" }))).failures,
      [],
    );
    assert.equal(await served(host.url), "short");
    await eventually(async () => (await served(host.url)) === "v11-ok", 6_000, "the TTL to expire");
    await eventually(
      async () => auditRecords(host.config.auditLog).some((r) => r.action === "expire" && r.outcome === "ok"),
      2_000,
      "the expiry's audit record",
    );
  });
});

describe("the audit trail comes before the proxy and cannot be forged", () => {
  let f: AgentFleet;
  before(async () => {
    f = await startAgentFleet();
  });
  after(async () => f?.stop());

  it("refuses a change when the intent record cannot be written to a tampered log (AUDIT_UNAVAILABLE)", async () => {
    const host = f.hosts[0]!;
    assert.deepEqual((await inject(f, release("before-tamper", [alice]))).failures, []);
    const log = host.config.auditLog;
    const original = await readFile(log, "utf8");
    await writeFile(log, original.replace(/"outcome":"ok"(?=[^\n]*\n$)/, '"outcome":"failed"'));
    const report = await inject(f, release("during-tamper", [alice]));
    assert.deepEqual(codes(report), ["AUDIT_UNAVAILABLE"]);
    assert.equal(await served(host.url), "before-tamper");
    await writeFile(log, original);
  });

  it("signs every record: the log verifies with the agent key, a forged append and a re-chained edit do not", async () => {
    const host = f.hosts[0]!;
    const key = [{ keyId: host.config.key.keyId, publicKey: host.config.key.publicKey }];
    const log = host.config.auditLog;
    const good = await verifyAuditLog(log, { keys: key });
    assert.equal(good.ok, true, JSON.stringify(good));
    const original = await readFile(log, "utf8");
    try {
      // A forged record that chains: same fields, hashes recomputed, but no agent signature.
      const { auditRecordHash } = await import("../../src/audit/log.ts");
      const { canonicalJson } = await import("../../src/sign/canonical-json.ts");
      const last = JSON.parse(original.trim().split("\n").at(-1)!) as Record<string, unknown>;
      const { hash: _h, sig: _s, signer: _k, ...rest } = last;
      const forged = {
        ...rest,
        seq: (last.seq as number) + 1,
        prevHash: last.hash,
        actor: "alice",
        action: "rollback",
      };
      await writeFile(
        log,
        `${original}${canonicalJson({ ...forged, hash: auditRecordHash(forged as never) })}\n`,
      );
      const appended = await verifyAuditLog(log, { keys: key });
      assert.equal(appended.ok, false);
      assert.equal(!appended.ok && appended.kind, "forged");
      // Re-chain from an edited record on: every hash fits, the signatures do not.
      const lines = original
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      let prev = lines[0]!.prevHash;
      const rechained = lines.map((record, index) => {
        const edited: Record<string, unknown> = { ...record, prevHash: prev };
        if (index === 1) edited.actor = "someone-else";
        delete edited.hash;
        const hash = auditRecordHash(edited as never);
        prev = hash;
        return canonicalJson({ ...edited, hash });
      });
      await writeFile(log, `${rechained.join("\n")}\n`);
      assert.equal((await verifyAuditLog(log)).ok, true, "the chain alone cannot tell");
      const resigned = await verifyAuditLog(log, { keys: key });
      assert.equal(!resigned.ok && resigned.kind, "forged");
    } finally {
      await writeFile(log, original);
    }
  });

  it("detects records cut from the end against the agent's signed checkpoint", async () => {
    const host = f.hosts[0]!;
    const key = [{ keyId: host.config.key.keyId, publicKey: host.config.key.publicKey }];
    const log = host.config.auditLog;
    const checkpoint = JSON.parse(await readFile(`${log}.checkpoint.json`, "utf8")) as unknown;
    assert.equal((await verifyAuditLog(log, { keys: key, checkpoint })).ok, true);
    const original = await readFile(log, "utf8");
    try {
      await writeFile(log, `${original.trim().split("\n").slice(0, -1).join("\n")}\n`);
      const cut = await verifyAuditLog(log, { keys: key, checkpoint });
      assert.equal(!cut.ok && cut.kind, "truncated", JSON.stringify(cut));
    } finally {
      await writeFile(log, original);
    }
  });
});
