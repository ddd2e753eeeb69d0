// SPDX-License-Identifier: Apache-2.0
import { createHash, sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readFile, type FileHandle } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import { canonicalJson } from "../sign/canonical-json.ts";
import { GraftAuditError } from "../sign/errors.ts";
import type { SigningKey, VerifyingKey } from "../sign/keys.ts";
import { acquireLockFile } from "../util/lock-file.ts";

/**
 * The audit log: who injected, rolled back, disabled or refused what, when, where, and with what result.
 *
 * Format: JSON Lines, one record per line, each line the canonical JSON (sorted keys, no whitespace; see
 * sign/canonical-json.ts) of the record, terminated by "\n". Records form a hash chain:
 *
 *   hash     = "sha256:" + hex sha256 of canonicalJson(record without `hash`)
 *   prevHash = the previous record's hash; GENESIS_HASH ("sha256:" + 64 zeros) for seq 1
 *   seq      = 1, 2, 3, … with no gaps
 *
 * so an edit breaks that record's hash (or its canonical form), and a deleted, inserted or moved record
 * breaks the seq run or the prevHash link of the record after it. What a chain cannot show on its own is
 * records cut from the END, or a wholesale rewrite of the file: anchor the head (seq + hash, reported by
 * `verifyAuditLog`) somewhere the writer cannot edit (a SIEM, a ticket) and pass it back as `anchor`.
 *
 * Concurrency: every append takes an exclusive lock file `<log>.lock`, created with O_CREAT|O_EXCL
 * (`open(…, "wx")`), which serialises writers across processes (and hosts sharing a POSIX filesystem);
 * inside one process appends to the same log are also queued, so they do not spin on their own lock.
 * Under the lock the writer reads the last record, builds the next one and appends the whole line with
 * one write on an O_APPEND descriptor, then fsyncs. The lock file holds {pid, host, nonce, time}; it is
 * treated as stale and removed when its process is gone (same host) or it is older than `staleLockMs`.
 * Removing a stale lock re-reads it first and only unlinks the lock it judged stale; the window between
 * that read and the unlink is the one race left, and needs a writer to have crashed holding the lock.
 */
export const GENESIS_HASH = `sha256:${"0".repeat(64)}`;

export type AuditAction =
  | "inject"
  | "rollback"
  | "disable"
  | "expire"
  | "kill-switch"
  | "verify"
  | "verify-refused"
  | (string & NonNullable<unknown>);

/** "intent" is written before a proxy changes; the matching result record follows it. */
export type AuditOutcome = "ok" | "failed" | "refused" | "intent";

/** What a caller supplies; the log adds seq, time, prevHash and hash. */
export interface AuditEntry {
  action: AuditAction;
  outcome: AuditOutcome;
  /** Who did it. Default: `resolveActor()` (env GRAFT_ACTOR, else the OS user). */
  actor?: string;
  /** The artifact, as `sha256:<hex>` of the module (or of the envelope); null when there is none. */
  artifact?: string | null;
  /** Envoys or label selectors the action touched. */
  targets?: string[];
  /** On failure or refusal: Envoy's own words, or the verify error code and message. */
  reason?: string | null;
  /** Anything else worth keeping (injection id, filter, version…); must be plain JSON. */
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  seq: number;
  /** RFC 3339 UTC, taken under the lock (so time order follows seq order on one clock). */
  time: string;
  actor: string;
  action: AuditAction;
  artifact: string | null;
  targets: string[];
  outcome: AuditOutcome;
  reason: string | null;
  details?: Record<string, unknown>;
  prevHash: string;
  /** Key id of the writer's Ed25519 key (signed logs: an agent's). Covered by `hash`. */
  signer?: string;
  hash: string;
  /** Base64 Ed25519 signature by `signer` over the UTF-8 text of `hash`. */
  sig?: string;
}

export interface AppendOptions {
  /** Give up taking the lock after this long (default 10 s). */
  lockTimeoutMs?: number;
  /** A lock older than this is stale whoever holds it (default 30 s; an append takes milliseconds). */
  staleLockMs?: number;
  /** Record time; default now. */
  now?: Date;
  /**
   * Sign the record (and refuse to extend a log whose last record this key did not sign): without a
   * key anyone who can write the file can append or re-chain records that still verify.
   */
  signer?: SigningKey;
}

export type AuditVerifyResult =
  | { ok: true; records: number; headSeq: number; headHash: string }
  | {
      ok: false;
      line: number;
      seq: number | null;
      problem: string;
      recordsVerified: number;
      /** "forged": a signature is missing or wrong; "truncated": records cut after a checkpoint. */
      kind?: "broken" | "forged" | "truncated";
    };

const OUTCOMES: readonly AuditOutcome[] = ["ok", "failed", "refused", "intent"];
const RECORD_FIELDS = [
  "seq",
  "time",
  "actor",
  "action",
  "artifact",
  "targets",
  "outcome",
  "reason",
  "details",
  "prevHash",
  "signer",
  "hash",
  "sig",
];

/** The actor for a record: the explicit value (a --actor flag), else env GRAFT_ACTOR, else the OS user. */
export function resolveActor(explicit?: string | null, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit && explicit.trim() !== "") return explicit.trim();
  const fromEnv = env["GRAFT_ACTOR"];
  if (fromEnv && fromEnv.trim() !== "") return fromEnv.trim();
  try {
    return userInfo().username;
  } catch {
    return env["USER"] ?? env["USERNAME"] ?? "unknown";
  }
}

/** `sha256:<hex>` over the canonical JSON of the record without its `hash` and `sig` fields. */
export function auditRecordHash(record: Omit<AuditRecord, "hash"> | AuditRecord): string {
  const { hash: _ignored, sig: _signature, ...rest } = record as AuditRecord;
  return `sha256:${createHash("sha256").update(canonicalJson(rest), "utf8").digest("hex")}`;
}

const queues = new Map<string, Promise<unknown>>();

/** Appends one record and returns it as written. Safe to call concurrently from any number of processes. */
export async function appendAuditRecord(
  logPath: string,
  entry: AuditEntry,
  options: AppendOptions = {},
): Promise<AuditRecord> {
  const base = checkEntry(entry);
  const key = path.resolve(logPath);
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => appendLocked(key, base, options));
  queues.set(key, run);
  try {
    return await run;
  } finally {
    if (queues.get(key) === run) queues.delete(key);
  }
}

type CheckedEntry = Omit<AuditRecord, "seq" | "time" | "prevHash" | "hash">;

function checkEntry(entry: AuditEntry): CheckedEntry {
  const invalid = (message: string) => new GraftAuditError("AUDIT_INVALID_RECORD", message);
  if (typeof entry.action !== "string" || entry.action.trim() === "")
    throw invalid("action must be a non-empty string");
  if (!OUTCOMES.includes(entry.outcome))
    throw invalid(`outcome ${JSON.stringify(entry.outcome)} must be one of ${OUTCOMES.join(", ")}`);
  const targets = entry.targets ?? [];
  if (!Array.isArray(targets) || !targets.every((target) => typeof target === "string"))
    throw invalid("targets must be a list of strings");
  const record: CheckedEntry = {
    actor: resolveActor(entry.actor),
    action: entry.action,
    artifact: entry.artifact ?? null,
    targets: [...targets],
    outcome: entry.outcome,
    reason: entry.reason ?? null,
  };
  if (entry.details !== undefined) record.details = entry.details;
  try {
    canonicalJson(record);
  } catch (error) {
    throw invalid(`the record is not plain JSON: ${(error as Error).message}`);
  }
  return record;
}

async function appendLocked(
  logPath: string,
  entry: CheckedEntry,
  options: AppendOptions,
): Promise<AuditRecord> {
  await mkdir(path.dirname(logPath), { recursive: true });
  const release = await acquireLockFile(`${logPath}.lock`, {
    timeoutMs: options.lockTimeoutMs ?? 10_000,
    staleMs: options.staleLockMs ?? 30_000,
    code: "AUDIT_LOCKED",
    what: `the audit log ${logPath}`,
  });
  try {
    const last = await readLastRecord(logPath);
    if (last && options.signer && !recordSignedBy(last, [options.signer])) {
      throw new GraftAuditError(
        "AUDIT_CORRUPT",
        `${logPath}: the last record (seq ${last.seq}) is not signed by this writer's key ${options.signer.keyId}; someone else wrote to the log. Run \`graft audit verify --key\` and repair before appending`,
      );
    }
    const unhashed: Omit<AuditRecord, "hash"> = {
      seq: last ? last.seq + 1 : 1,
      time: (options.now ?? new Date()).toISOString(),
      ...entry,
      prevHash: last ? last.hash : GENESIS_HASH,
      ...(options.signer ? { signer: options.signer.keyId } : {}),
    };
    const hash = auditRecordHash(unhashed);
    const record: AuditRecord = { ...unhashed, hash };
    if (options.signer) record.sig = signText(hash, options.signer);
    const line = Buffer.from(`${canonicalJson(record)}\n`, "utf8");
    // Never follow a symlink, never write into a device or a FIFO: `--audit-log /dev/null` or a
    // link to one would make every record vanish while the action goes ahead.
    const handle = await open(
      logPath,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      if (!(await handle.stat()).isFile()) {
        throw new GraftAuditError(
          "AUDIT_CORRUPT",
          `${logPath} is not a regular file; an audit log must be a file records stay in`,
        );
      }
      let written = 0;
      while (written < line.length) {
        const { bytesWritten } = await handle.write(line, written, line.length - written);
        written += bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    return record;
  } finally {
    await release();
  }
}

/** The last record of the log, or null for a missing or empty log. Refuses a torn or tampered tail. */
async function readLastRecord(logPath: string): Promise<AuditRecord | null> {
  let handle: FileHandle;
  try {
    handle = await open(logPath, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new GraftAuditError(
        "AUDIT_CORRUPT",
        `${logPath} is not a regular file; an audit log must be a file records stay in`,
      );
    const { size } = info;
    if (size === 0) return null;
    let chunkSize = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - chunkSize);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      if (buffer[buffer.length - 1] !== 0x0a) {
        throw new GraftAuditError(
          "AUDIT_CORRUPT",
          `${logPath}: the last line is not terminated (torn write or edit); run \`graft audit verify\` and repair before appending`,
        );
      }
      const previousNewline = buffer.lastIndexOf(0x0a, buffer.length - 2);
      if (previousNewline === -1 && start > 0) {
        chunkSize *= 4;
        continue;
      }
      const lastLine = buffer.subarray(previousNewline + 1, buffer.length - 1).toString("utf8");
      let record: AuditRecord;
      try {
        record = JSON.parse(lastLine) as AuditRecord;
      } catch {
        throw new GraftAuditError(
          "AUDIT_CORRUPT",
          `${logPath}: the last line is not JSON; run \`graft audit verify\``,
        );
      }
      if (
        !Number.isSafeInteger(record.seq) ||
        typeof record.hash !== "string" ||
        auditRecordHash(record) !== record.hash
      ) {
        throw new GraftAuditError(
          "AUDIT_CORRUPT",
          `${logPath}: the last record (seq ${record.seq}) does not match its hash; refusing to extend a tampered log`,
        );
      }
      return record;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Checks the whole chain and names the first bad record by line number (1-based) and seq (as written on
 * that line, null when unreadable). `anchor` is a head reported earlier: the record at that seq must still
 * be there with that hash, which catches records cut from the end and a rewritten history.
 */
export async function verifyAuditLog(
  logPath: string,
  options: {
    anchor?: { seq: number; hash: string };
    /** Every record must be signed by one of these keys (an agent's log). */
    keys?: readonly VerifyingKey[];
    /** A signed head: its signature must verify with `keys`, and the log must still hold it. */
    checkpoint?: unknown;
  } = {},
): Promise<AuditVerifyResult> {
  if (options.checkpoint !== undefined) {
    if (!options.keys || !checkpointSignedBy(options.checkpoint, options.keys)) {
      return {
        ok: false,
        line: 0,
        seq: null,
        problem:
          "the checkpoint's signature does not verify with the given key(s): it is forged or from another log",
        recordsVerified: 0,
        kind: "forged",
      };
    }
    const { seq, hash } = options.checkpoint;
    if (options.anchor && options.anchor.seq !== seq)
      throw new Error("give either --anchor or --checkpoint, not both");
    options = { ...options, anchor: { seq, hash } };
  }
  const bytes = await readFile(logPath);
  const text = bytes.toString("utf8");
  const lines = text.split("\n");
  const terminated = lines[lines.length - 1] === "";
  if (terminated) lines.pop();
  let previousHash = GENESIS_HASH;
  let anchorSeen = false;
  const fail = (index: number, seq: number | null, problem: string): AuditVerifyResult => ({
    ok: false,
    line: index + 1,
    seq,
    problem,
    recordsVerified: index,
  });
  for (const [index, line] of lines.entries()) {
    const want = index + 1;
    if (line === "") return fail(index, null, "empty line (a record was removed or the file was edited)");
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return fail(index, null, "not valid JSON (the line was edited or torn)");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      return fail(index, null, "not a JSON object");
    const record = parsed as AuditRecord;
    const seq = Number.isSafeInteger(record.seq) ? record.seq : null;
    const unknown = Object.keys(record).find((field) => !RECORD_FIELDS.includes(field));
    if (unknown !== undefined)
      return fail(index, seq, `unexpected field "${unknown}" (the record was edited)`);
    if (typeof record.hash !== "string" || typeof record.prevHash !== "string" || seq === null) {
      return fail(index, seq, "missing seq, prevHash or hash");
    }
    let canonical: string;
    try {
      canonical = canonicalJson(record);
    } catch {
      return fail(index, seq, "not plain JSON");
    }
    if (canonical !== line)
      return fail(index, seq, "the line is not in canonical form (its bytes were edited)");
    const hash = auditRecordHash(record);
    if (hash !== record.hash)
      return fail(
        index,
        seq,
        `hash ${record.hash} does not match the content (${hash}): the record was edited`,
      );
    if (seq !== want) {
      return fail(
        index,
        seq,
        `seq ${seq} where ${want} belongs: a record was deleted, inserted or moved at or before this line`,
      );
    }
    if (record.prevHash !== previousHash) {
      const before = index === 0 ? "the genesis hash" : `the hash of line ${index} (seq ${index})`;
      return fail(
        index,
        seq,
        `prevHash does not match ${before}: a record was replaced, inserted or reordered`,
      );
    }
    if (options.keys && !recordSignedBy(record, options.keys)) {
      const why =
        record.sig === undefined
          ? "is not signed"
          : options.keys.some((key) => key.keyId === record.signer)
            ? "has a signature that does not verify"
            : `is signed by ${record.signer ?? "no key"}, not by a given key`;
      return {
        ...fail(
          index,
          seq,
          `the record ${why}: it was forged, edited and re-chained, or written by someone else`,
        ),
        kind: "forged",
      } as AuditVerifyResult;
    }
    if (options.anchor && seq === options.anchor.seq) {
      if (record.hash !== options.anchor.hash) {
        return fail(
          index,
          seq,
          `hash ${record.hash} is not the anchored ${options.anchor.hash}: the history up to this record was rewritten`,
        );
      }
      anchorSeen = true;
    }
    previousHash = record.hash;
  }
  if (!terminated && lines.length > 0) {
    const index = lines.length - 1;
    // Reaching here means the unterminated last line parsed and chained: only its newline is missing.
    return fail(index, index + 1, "the last line is not terminated by a newline (torn write or edit)");
  }
  if (options.anchor && !anchorSeen) {
    return {
      ...fail(
        lines.length,
        null,
        `the log ends at seq ${lines.length} but the ${options.checkpoint !== undefined ? "checkpoint" : "anchor"} is seq ${options.anchor.seq}: records were cut from the end`,
      ),
      kind: "truncated",
    } as AuditVerifyResult;
  }
  return { ok: true, records: lines.length, headSeq: lines.length, headHash: previousHash };
}

function signText(text: string, key: SigningKey): string {
  return cryptoSign(null, Buffer.from(text, "utf8"), key.privateKey).toString("base64");
}

function verifyText(text: string, sig: unknown, key: { publicKey: VerifyingKey["publicKey"] }): boolean {
  if (typeof sig !== "string") return false;
  try {
    return cryptoVerify(null, Buffer.from(text, "utf8"), key.publicKey, Buffer.from(sig, "base64"));
  } catch {
    return false;
  }
}

/** True when the record carries a valid signature by one of `keys` over its (correct) hash. */
export function recordSignedBy(record: AuditRecord, keys: readonly VerifyingKey[]): boolean {
  const key = keys.find((candidate) => candidate.keyId === record.signer);
  return (
    key !== undefined && auditRecordHash(record) === record.hash && verifyText(record.hash, record.sig, key)
  );
}

/**
 * A signed statement of a log's head, written beside the log (`<log>.checkpoint.json`) and handed to
 * whoever collects the log. Records cut from the end, or a log rewritten from some point on, no longer
 * contain the checkpointed seq with its hash; without the writer's key nobody can move a checkpoint.
 */
export interface AuditCheckpoint {
  /** Who keeps the log (an agent's name). */
  log: string;
  seq: number;
  hash: string;
  time: string;
  signer: string;
  sig: string;
}

function checkpointText(checkpoint: Omit<AuditCheckpoint, "sig">): string {
  return `graft-audit-checkpoint-v1\n${canonicalJson(checkpoint)}`;
}

export function signCheckpoint(
  head: { log: string; seq: number; hash: string; time?: string },
  key: SigningKey,
): AuditCheckpoint {
  const unsigned = {
    log: head.log,
    seq: head.seq,
    hash: head.hash,
    time: head.time ?? new Date().toISOString(),
    signer: key.keyId,
  };
  return { ...unsigned, sig: signText(checkpointText(unsigned), key) };
}

export function checkpointSignedBy(
  checkpoint: unknown,
  keys: readonly VerifyingKey[],
): checkpoint is AuditCheckpoint {
  if (typeof checkpoint !== "object" || checkpoint === null) return false;
  const { sig, ...unsigned } = checkpoint as AuditCheckpoint;
  const key = keys.find((candidate) => candidate.keyId === unsigned.signer);
  if (!key || !Number.isSafeInteger(unsigned.seq) || typeof unsigned.hash !== "string") return false;
  return verifyText(checkpointText(unsigned), sig, key);
}

export function checkpointPath(logPath: string): string {
  return `${logPath}.checkpoint.json`;
}

/** The head (seq and hash) of a log; GENESIS for an empty or missing one. Refuses a torn tail. */
export async function auditHead(logPath: string): Promise<{ seq: number; hash: string }> {
  const last = await readLastRecord(logPath);
  return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
}
