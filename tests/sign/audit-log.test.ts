// SPDX-License-Identifier: Apache-2.0
// The audit log is evidence: these tests edit, delete, insert, swap and cut records and expect
// verifyAuditLog to name the first bad line and seq, and they append from several writers at once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { canonicalJson } from "../../src/sign/canonical-json.ts";
import { GraftAuditError } from "../../src/sign/errors.ts";
import {
  appendAuditRecord,
  GENESIS_HASH,
  resolveActor,
  verifyAuditLog,
  type AuditRecord,
} from "../../src/audit/log.ts";
import { withTempDir } from "./helpers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, "..", "..");
const worker = path.join(here, "fixtures", "audit-append-worker.ts");

const actions = ["inject", "rollback", "disable", "expire", "verify-refused"] as const;

/** A log of `count` records (1 ≤ count ≤ 5) with distinct actions. */
async function writeLog(log: string, count = 5): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for (const action of actions.slice(0, count)) {
    records.push(
      await appendAuditRecord(log, {
        action,
        outcome: action === "verify-refused" ? "refused" : "ok",
        actor: "alice",
        artifact: `sha256:${"1".repeat(64)}`,
        targets: ["envoy-a", "envoy-b"],
        reason: action === "verify-refused" ? "EXPIRED: the statement expired" : null,
      }),
    );
  }
  return records;
}

async function lines(log: string): Promise<string[]> {
  return (await readFile(log, "utf8")).split("\n").slice(0, -1);
}

async function writeLines(log: string, content: string[]): Promise<void> {
  await writeFile(log, content.map((line) => `${line}\n`).join(""));
}

async function assertBroken(log: string, line: number, seq: number | null, problem: RegExp): Promise<void> {
  const result = await verifyAuditLog(log);
  assert.equal(result.ok, false, "the damage must be detected");
  if (result.ok) return;
  assert.equal(result.line, line, `line (problem: ${result.problem})`);
  assert.equal(result.seq, seq, `seq (problem: ${result.problem})`);
  assert.match(result.problem, problem);
}

describe("appendAuditRecord", () => {
  it("writes chained canonical JSON lines with seq, time, actor, action, artifact, targets, outcome and reason", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const [first, second] = await writeLog(log, 2);
      assert.ok(first && second);
      assert.equal(first.seq, 1);
      assert.equal(first.prevHash, GENESIS_HASH);
      assert.equal(second.seq, 2);
      assert.equal(second.prevHash, first.hash);
      const { hash, ...rest } = second;
      assert.equal(hash, `sha256:${createHash("sha256").update(canonicalJson(rest)).digest("hex")}`);
      assert.deepEqual(await lines(log), [canonicalJson(first), canonicalJson(second)]);
      assert.deepEqual(Object.keys(second).sort(), [
        "action",
        "actor",
        "artifact",
        "hash",
        "outcome",
        "prevHash",
        "reason",
        "seq",
        "targets",
        "time",
      ]);
    });
  });

  it("takes the actor from the flag, else GRAFT_ACTOR, else the OS user", () => {
    assert.equal(resolveActor("ci-bot", { GRAFT_ACTOR: "env-user" }), "ci-bot");
    assert.equal(resolveActor(undefined, { GRAFT_ACTOR: "env-user" }), "env-user");
    assert.ok(resolveActor(undefined, {}).length > 0);
  });

  it("refuses a malformed entry", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await assert.rejects(appendAuditRecord(log, { action: "", outcome: "ok" }), {
        code: "AUDIT_INVALID_RECORD",
      });
      await assert.rejects(appendAuditRecord(log, { action: "inject", outcome: "maybe" as "ok" }), {
        code: "AUDIT_INVALID_RECORD",
      });
      await assert.rejects(
        appendAuditRecord(log, { action: "inject", outcome: "ok", details: { at: new Date() } }),
        {
          code: "AUDIT_INVALID_RECORD",
        },
      );
    });
  });

  it("refuses to extend a log whose last record was edited", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log, 2);
      const content = await lines(log);
      content[1] = (content[1] as string).replace('"outcome":"ok"', '"outcome":"failed"');
      await writeLines(log, content);
      await assert.rejects(appendAuditRecord(log, { action: "inject", outcome: "ok" }), (error: unknown) => {
        assert.ok(error instanceof GraftAuditError);
        assert.equal(error.code, "AUDIT_CORRUPT");
        return true;
      });
    });
  });

  it("keeps the chain valid under concurrent appends in one process", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const written = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          appendAuditRecord(log, { action: "inject", outcome: "ok", details: { index } }),
        ),
      );
      assert.deepEqual(
        written.map((record) => record.seq).sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, index) => index + 1),
      );
      assert.deepEqual(await verifyAuditLog(log), {
        ok: true,
        records: 30,
        headSeq: 30,
        headHash: (await lastRecord(log)).hash,
      });
    });
  });

  it("keeps the chain valid under concurrent appends from two processes", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const perWorker = 40;
      const startAt = String(Date.now() + 1500);
      const run = (label: string) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ["--import", "tsx", worker, log, String(perWorker), label, startAt],
            {
              cwd: projectRoot,
              stdio: ["ignore", "ignore", "pipe"],
            },
          );
          let stderr = "";
          child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
          child.on("error", reject);
          child.on("exit", (code) =>
            code === 0 ? resolve() : reject(new Error(`worker ${label} exited ${code}: ${stderr}`)),
          );
        });
      await Promise.all([run("A"), run("B")]);
      const result = await verifyAuditLog(log);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal(result.ok && result.records, 2 * perWorker);
      const records = (await lines(log)).map((line) => JSON.parse(line) as AuditRecord);
      const actors = records.map((record) => record.actor);
      assert.equal(actors.filter((actor) => actor === "A").length, perWorker);
      assert.equal(actors.filter((actor) => actor === "B").length, perWorker);
      const switches = actors.filter((actor, index) => index > 0 && actor !== actors[index - 1]).length;
      assert.ok(switches > 0, "the two writers interleaved");
    });
  });

  it("breaks a lock left behind by a dead process", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const { hostname } = await import("node:os");
      const dead = await new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ["-e", ""]);
        child.on("exit", () => resolve(child.pid as number));
      });
      await writeFile(
        `${log}.lock`,
        JSON.stringify({ pid: dead, host: hostname(), nonce: "x", time: new Date().toISOString() }),
      );
      const record = await appendAuditRecord(
        log,
        { action: "inject", outcome: "ok" },
        { lockTimeoutMs: 2000 },
      );
      assert.equal(record.seq, 1);
    });
  });

  it("gives up with AUDIT_LOCKED while a live writer holds the lock", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const { hostname } = await import("node:os");
      await writeFile(
        `${log}.lock`,
        JSON.stringify({ pid: process.pid, host: hostname(), nonce: "x", time: new Date().toISOString() }),
      );
      await assert.rejects(
        appendAuditRecord(log, { action: "inject", outcome: "ok" }, { lockTimeoutMs: 100 }),
        {
          code: "AUDIT_LOCKED",
        },
      );
    });
  });
});

async function lastRecord(log: string): Promise<AuditRecord> {
  return JSON.parse((await lines(log)).at(-1) as string) as AuditRecord;
}

describe("verifyAuditLog", () => {
  it("reports the record count and head hash of an intact log", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const records = await writeLog(log);
      assert.deepEqual(await verifyAuditLog(log), {
        ok: true,
        records: 5,
        headSeq: 5,
        headHash: records[4]?.hash,
      });
    });
  });

  it("accepts an empty log", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeFile(log, "");
      assert.deepEqual(await verifyAuditLog(log), {
        ok: true,
        records: 0,
        headSeq: 0,
        headHash: GENESIS_HASH,
      });
    });
  });

  it("names the record when one byte of a value is edited", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log);
      const bytes = await readFile(log);
      const offset = bytes.indexOf('"action":"disable"') + '"action":"d'.length;
      bytes.writeUInt8("D".charCodeAt(0), offset - 1);
      await writeFile(log, bytes);
      await assertBroken(log, 3, 3, /hash .* does not match the content/);
    });
  });

  it("names the record when one byte of whitespace is inserted", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log);
      const content = await lines(log);
      content[1] = (content[1] as string).replace('"action":', '"action": ');
      await writeLines(log, content);
      await assertBroken(log, 2, 2, /not in canonical form/);
    });
  });

  it("names the record when a stored hash is edited", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const records = await writeLog(log);
      const text = await readFile(log, "utf8");
      const hash = records[3]?.hash as string;
      const flipped = `${hash.slice(0, -1)}${hash.endsWith("0") ? "1" : "0"}`;
      await writeFile(log, text.replace(`"hash":"${hash}"`, `"hash":"${flipped}"`));
      await assertBroken(log, 4, 4, /does not match the content/);
    });
  });

  it("names the record after a deleted line", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log);
      const content = await lines(log);
      content.splice(2, 1);
      await writeLines(log, content);
      await assertBroken(log, 3, 4, /seq 4 where 3 belongs/);
    });
  });

  it("names the first record when the first line is deleted", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log);
      await writeLines(log, (await lines(log)).slice(1));
      await assertBroken(log, 1, 2, /seq 2 where 1 belongs/);
    });
  });

  it("names an inserted line even when its hash was recomputed", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const records = await writeLog(log);
      const source = records[1] as AuditRecord;
      const { hash: _hash, ...forged } = { ...source, seq: 3, action: "rollback", prevHash: source.hash };
      const { createHash: sha } = await import("node:crypto");
      const forgedHash = `sha256:${sha("sha256").update(canonicalJson(forged)).digest("hex")}`;
      const content = await lines(log);
      content.splice(2, 0, canonicalJson({ ...forged, hash: forgedHash }));
      await writeLines(log, content);
      // The forgery itself chains; the genuine seq 3 after it does not.
      await assertBroken(log, 4, 3, /seq 3 where 4 belongs/);
    });
  });

  it("names an inserted copy of an existing line", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log);
      const content = await lines(log);
      content.splice(1, 0, content[0] as string);
      await writeLines(log, content);
      await assertBroken(log, 2, 1, /seq 1 where 2 belongs/);
    });
  });

  it("names the first of two swapped lines", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log);
      const content = await lines(log);
      [content[1], content[2]] = [content[2] as string, content[1] as string];
      await writeLines(log, content);
      await assertBroken(log, 2, 3, /seq 3 where 2 belongs/);
    });
  });

  it("names a record whose seq and prevHash were rewritten to hide a deletion", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const records = await writeLog(log);
      // Delete seq 2 and renumber seq 3 as 2 with a fresh hash, but the prevHash link still points to seq 2.
      const third = records[2] as AuditRecord;
      const { hash: _hash, ...renumbered } = { ...third, seq: 2 };
      const { createHash: sha } = await import("node:crypto");
      const hash = `sha256:${sha("sha256").update(canonicalJson(renumbered)).digest("hex")}`;
      const content = await lines(log);
      await writeLines(log, [content[0] as string, canonicalJson({ ...renumbered, hash })]);
      await assertBroken(log, 2, 2, /prevHash does not match the hash of line 1/);
    });
  });

  it("names a torn last line", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      await writeLog(log, 3);
      const text = await readFile(log, "utf8");
      await writeFile(log, text.slice(0, -10));
      await assertBroken(log, 3, null, /not valid JSON/);
      await writeFile(log, text.slice(0, -1));
      await assertBroken(log, 3, 3, /not terminated/);
    });
  });

  it("detects records cut from the end only against an anchored head", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const records = await writeLog(log);
      const anchor = { seq: 5, hash: records[4]?.hash as string };
      assert.equal((await verifyAuditLog(log, { anchor })).ok, true);
      await writeLines(log, (await lines(log)).slice(0, 3));
      assert.equal((await verifyAuditLog(log)).ok, true, "a shorter chain is still a chain");
      const result = await verifyAuditLog(log, { anchor });
      assert.equal(result.ok, false);
      assert.match(result.ok ? "" : result.problem, /cut from the end/);
    });
  });

  it("accepts a log that grew after the anchor", async () => {
    await withTempDir(async (dir) => {
      const log = path.join(dir, "audit.jsonl");
      const records = await writeLog(log, 2);
      await appendAuditRecord(log, { action: "expire", outcome: "ok" });
      assert.equal(
        (await verifyAuditLog(log, { anchor: { seq: 2, hash: records[1]?.hash as string } })).ok,
        true,
      );
    });
  });
});
