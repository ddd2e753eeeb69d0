// Every refusal of a signed artifact stops `injectFleet` before anything reaches a target: no
// slot file, no stored module, and a `verify-refused` record naming the code in the audit log.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import type { DsseEnvelope } from "../../src/sign/dsse.ts";
import type { TrustPolicy } from "../../src/sign/policy.ts";
import { injectFleet } from "../../src/inject/fleet.ts";
import type { Target } from "../../src/inject/target.ts";
import {
  alice,
  bob,
  configuration,
  CREATED,
  HOUR,
  mallory,
  policyOf,
  signedBy,
  wasmBytes,
} from "../sign/helpers.ts";

interface RefusalCase {
  code: string;
  envelope: () => DsseEnvelope;
  policy?: () => TrustPolicy;
  module?: Uint8Array;
  configuration?: Record<string, unknown>;
  now?: Date;
}

const trustAlice = () => policyOf([{ approver: alice }]);
const cases: RefusalCase[] = [
  { code: "UNSIGNED", envelope: () => ({ ...signedBy(alice), signatures: [] }) },
  {
    code: "MODULE_TAMPERED",
    envelope: () => signedBy(alice),
    module: Buffer.concat([wasmBytes, Buffer.from([1])]),
  },
  {
    code: "PREDICATE_TAMPERED",
    envelope: () => {
      const envelope = signedBy(alice);
      const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8")) as {
        predicate: { injectionId: string };
      };
      statement.predicate.injectionId = "forged";
      return { ...envelope, payload: Buffer.from(JSON.stringify(statement)).toString("base64") };
    },
  },
  { code: "UNKNOWN_KEY", envelope: () => signedBy(mallory) },
  {
    code: "REVOKED_KEY",
    envelope: () => signedBy(bob),
    policy: () => policyOf([{ approver: alice }, { approver: bob }], { revoked: [bob] }),
  },
  {
    code: "KEY_OUTSIDE_WINDOW",
    envelope: () => signedBy(alice),
    policy: () => policyOf([{ approver: alice, notAfter: "2026-02-01T00:00:00Z" }]),
  },
  {
    code: "KEY_NOT_ALLOWED",
    envelope: () => signedBy(alice),
    policy: () => policyOf([{ approver: alice, filters: ["another-filter"] }]),
  },
  {
    code: "TOO_FEW_APPROVALS",
    envelope: () => signedBy(alice),
    policy: () =>
      policyOf([{ approver: alice }, { approver: bob }], {
        approvalRules: [{ filters: ["*"], approvals: 2 }],
      }),
  },
  { code: "EXPIRED", envelope: () => signedBy(alice), now: new Date(CREATED.getTime() + 3 * HOUR) },
  {
    code: "TTL_ABOVE_POLICY",
    envelope: () => signedBy(alice),
    policy: () => policyOf([{ approver: alice }], { maxTtl: "1h" }),
  },
  {
    code: "CONFIG_MISMATCH",
    envelope: () => signedBy(alice),
    configuration: { ...configuration, limit: 1_000_000 },
  },
];

describe("refusals write nothing to any target", () => {
  for (const refusal of cases) {
    it(`refuses ${refusal.code} before touching a target, and audits it`, async () => {
      const dir = await mkdtemp(path.join(tmpdir(), "graft-refusal-"));
      try {
        // Nothing listens at this admin address: a refused injection must never get that far.
        const target: Target = {
          name: "payments-1",
          adminUrl: "http://127.0.0.1:9",
          ecdsDir: path.join(dir, "ecds"),
          moduleDir: path.join(dir, "modules"),
          labels: { tier: "payments" },
          slots: ["graft-slot-0"],
        };
        const auditLog = path.join(dir, "audit.log");
        await assert.rejects(
          injectFleet({
            targets: [target],
            slot: "graft-slot-0",
            module: refusal.module ?? wasmBytes,
            envelope: refusal.envelope(),
            configuration: refusal.configuration ?? configuration,
            policy: (refusal.policy ?? trustAlice)(),
            auditLog,
            actor: "test",
            now: refusal.now ?? new Date(CREATED.getTime() + 60_000),
          }),
          (error: unknown) => (error as { code?: string }).code === refusal.code,
        );
        assert.equal(existsSync(target.ecdsDir), false, "no slot file written");
        assert.equal(existsSync(target.moduleDir), false, "no module stored");
        const records = (await readFile(auditLog, "utf8"))
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as { action: string; outcome: string; reason: string });
        assert.equal(records.length, 1);
        assert.equal(records[0]!.action, "verify-refused");
        assert.equal(records[0]!.outcome, "refused");
        assert.match(records[0]!.reason, new RegExp(`^${refusal.code}: `));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
