import { readFile } from "node:fs/promises";
import type { AuditRecord } from "../audit/log.ts";
import { agentStatus, fetchAgentAudit } from "../inject/agent-fleet.ts";
import { readSlotFile } from "../inject/ecds-file.ts";
import { readHistory } from "../inject/history.ts";
import { slotStatus } from "../inject/activate.ts";
import { adminOf, type Target } from "../inject/target.ts";
import type { SigningKey } from "../sign/keys.ts";
import { fetchCause } from "./fleet-failures.ts";

/** What one slot of one Envoy runs now, as graft and as Envoy see it. */
export interface SlotView {
  slot: string;
  /** The active injection (null: the slot is empty). */
  active: {
    injectionId: string;
    filter: string;
    /** The signed release version (from the audit log in file mode). */
    version: string | null;
    /** Key ids that signed it (file mode: from the audit log; agents do not report them). */
    signers: string[] | null;
    moduleSha256: string;
    expires: string | null;
    appliedAt: string | null;
  } | null;
  /** Injections below the active one (rollback goes to the next). */
  depth: number;
  /** The slot version graft (or the agent) last wrote. */
  written: string | null;
  /** The version Envoy reports through its admin API (config_dump, else stats). */
  envoy: string | null;
  /** written === envoy; null when either is unknown. */
  agrees: boolean | null;
}

export interface TargetView {
  name: string;
  mode: "file" | "agent";
  /** The agent's or the admin API's address. */
  url: string;
  slots: SlotView[];
  /** Why some of it is unknown (unreachable admin or agent). */
  errors: string[];
  recentAudit: Pick<AuditRecord, "seq" | "time" | "actor" | "action" | "outcome" | "reason">[];
}

/** Envoy's ECDS version per slot from /config_dump (EcdsConfigDump), falling back to the stats. */
async function envoyVersions(target: Target, slots: string[]): Promise<Map<string, string | null>> {
  const versions = new Map<string, string | null>();
  const admin = adminOf(target);
  try {
    const dump = (await admin.configDump()) as { configs?: Record<string, unknown>[] };
    for (const config of dump.configs ?? []) {
      if (!String(config["@type"]).endsWith("EcdsConfigDump")) continue;
      for (const entry of (config.ecds_filters ?? []) as {
        version_info?: string;
        ecds_filter?: { name?: string };
      }[]) {
        const name = entry.ecds_filter?.name;
        if (name && slots.includes(name)) versions.set(name, entry.version_info ?? null);
      }
    }
  } catch {
    // Older or filtered config dumps: the stats carry the same version_text.
  }
  for (const slot of slots)
    if (!versions.has(slot)) versions.set(slot, (await slotStatus(admin, slot)).version ?? null);
  return versions;
}

function auditLines(text: string): AuditRecord[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as AuditRecord];
      } catch {
        return [];
      }
    });
}

const brief = (record: AuditRecord) => ({
  seq: record.seq,
  time: record.time,
  actor: record.actor,
  action: record.action,
  outcome: record.outcome,
  reason: record.reason,
});

/** The newest inject record for this injection on this target: release version and signers. */
function signedFacts(records: AuditRecord[], target: string, injectionId: string) {
  for (let i = records.length - 1; i >= 0; i--) {
    const record = records[i]!;
    const details = record.details ?? {};
    if (record.action === "inject" && details.injectionId === injectionId && record.targets.includes(target))
      return {
        version: typeof details.version === "string" ? details.version : null,
        signers: Array.isArray(details.signers) ? (details.signers as string[]) : null,
      };
  }
  return { version: null, signers: null };
}

async function fileModeView(target: Target, records: AuditRecord[], recent: number): Promise<TargetView> {
  const view: TargetView = {
    name: target.name,
    mode: "file",
    url: target.adminUrl,
    slots: [],
    errors: [],
    recentAudit: [],
  };
  let envoy = new Map<string, string | null>();
  try {
    envoy = await envoyVersions(target, target.slots);
  } catch (error) {
    view.errors.push(
      `Envoy's admin API ${target.adminUrl} did not answer (${fetchCause(error)}); Envoy's versions are unknown`,
    );
  }
  for (const slot of target.slots) {
    const history = await readHistory(target.ecdsDir, slot);
    const top = history.stack.at(-1);
    const written = (await readSlotFile(target.ecdsDir, slot))?.version ?? null;
    const reported = envoy.get(slot) ?? null;
    view.slots.push({
      slot,
      active: top
        ? {
            injectionId: top.injectionId,
            filter: top.filter,
            ...signedFacts(records, target.name, top.injectionId),
            moduleSha256: top.moduleSha256,
            expires: top.expires ?? null,
            appliedAt: top.appliedAt,
          }
        : null,
      depth: history.stack.length,
      written,
      envoy: reported,
      agrees: written === null || reported === null ? null : written === reported,
    });
  }
  view.recentAudit = records
    .filter((record) => record.targets.includes(target.name))
    .slice(-recent)
    .map(brief);
  return view;
}

interface AgentStatusAnswer {
  slots?: Record<
    string,
    {
      version: string | null;
      depth: number;
      active: {
        injectionId: string;
        filter: string;
        release: string;
        moduleSha256: string;
        expires: string;
      } | null;
    }
  >;
}

async function agentModeView(target: Target, caller: SigningKey, recent: number): Promise<TargetView> {
  const view: TargetView = {
    name: target.name,
    mode: "agent",
    url: target.agent!.url,
    slots: [],
    errors: [],
    recentAudit: [],
  };
  let answer: AgentStatusAnswer = {};
  try {
    answer = (await agentStatus(target, caller)) as AgentStatusAnswer;
  } catch (error) {
    view.errors.push((error as Error).message);
  }
  let envoy = new Map<string, string | null>();
  if (target.adminUrl) {
    try {
      envoy = await envoyVersions(target, target.slots);
    } catch (error) {
      view.errors.push(`Envoy's admin API ${target.adminUrl} did not answer (${fetchCause(error)})`);
    }
  }
  for (const slot of target.slots) {
    const state = answer.slots?.[slot];
    const written = state?.version ?? null;
    const reported = envoy.get(slot) ?? null;
    view.slots.push({
      slot,
      active: state?.active
        ? {
            injectionId: state.active.injectionId,
            filter: state.active.filter,
            version: state.active.release,
            signers: null,
            moduleSha256: state.active.moduleSha256,
            expires: state.active.expires,
            appliedAt: null,
          }
        : null,
      depth: state?.depth ?? 0,
      written,
      envoy: reported,
      agrees: written === null || reported === null ? null : written === reported,
    });
  }
  try {
    view.recentAudit = auditLines((await fetchAgentAudit(target, caller)).log)
      .slice(-recent)
      .map(brief);
  } catch (error) {
    view.errors.push(`audit: ${(error as Error).message}`);
  }
  return view;
}

/** Every chosen target's slots and recent audit entries; unreachable parts are reported, not fatal. */
export async function fleetStatus(
  targets: Target[],
  options: { auditLog: string; caller?: SigningKey; recent: number },
): Promise<TargetView[]> {
  const records = auditLines(await readFile(options.auditLog, "utf8").catch(() => ""));
  const views: TargetView[] = [];
  for (const target of targets)
    views.push(
      target.agent
        ? await agentModeView(target, options.caller!, options.recent)
        : await fileModeView(target, records, options.recent),
    );
  return views;
}

const short = (text: string) => (/^sha256:[0-9a-f]{64}$/.test(text) ? `${text.slice(0, 19)}…` : text);

export function statusLines(views: TargetView[]): string[] {
  const lines: string[] = [];
  for (const view of views) {
    lines.push(`${view.name} (${view.mode} mode, ${view.url})`);
    for (const slot of view.slots) {
      const agree =
        slot.agrees === null
          ? "Envoy's version unknown"
          : slot.agrees
            ? "Envoy agrees"
            : `ENVOY DIFFERS: Envoy reports ${slot.envoy}`;
      if (!slot.active) {
        lines.push(`  ${slot.slot}: empty (version ${slot.written ?? "none"}; ${agree})`);
        continue;
      }
      const a = slot.active;
      lines.push(
        `  ${slot.slot}: ${a.filter} ${a.version ?? "(version unknown)"}, injection ${a.injectionId} (version ${slot.written ?? "none"}; ${agree})`,
        `    module sha256:${a.moduleSha256.slice(0, 16)}…  signed by ${a.signers ? a.signers.map(short).join(", ") : "(not reported)"}  expires ${a.expires ?? "never"}${slot.depth > 1 ? `  (${slot.depth - 1} below it for rollback)` : ""}`,
      );
    }
    for (const error of view.errors) lines.push(`  ! ${error}`);
    if (view.recentAudit.length > 0) {
      lines.push("  recent audit:");
      for (const r of view.recentAudit)
        lines.push(
          `    #${r.seq} ${r.time} ${r.actor} ${r.action} ${r.outcome}${r.reason ? `: ${r.reason}` : ""}`,
        );
    }
  }
  return lines;
}
