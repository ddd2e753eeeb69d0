// The peer benchmark's results: their shape, the goals of issue 17 checked against them (each
// filter's own, from its peers module, then memory and module size), a Markdown report (ratios
// against no filter and against each peer) and an SVG chart drawn here.
import type { HostCallCount } from "./hostcalls.ts";
import { differenceRange, median, pairedDifference, pairedRatio } from "./stats.ts";

export interface VariantSamples {
  rps: number[];
  /** Envoy CPU µs per request at saturation, per round. */
  cpuUs: number[];
  /** Envoy CPU µs per request at the fixed rate, per round. */
  fixedCpuUs: number[];
  /** Latency percentiles (µs) at the fixed rate, per round. */
  p50: number[];
  p90: number[];
  p99: number[];
  non2xx: number;
  errors: number;
  dropped: number;
}

export interface GroupResult {
  id: string;
  title: string;
  route: "direct" | "upstream";
  bodyBytes: number;
  fixedRate: number | null;
  variants: ({ id: string; label: string; kind: string } & VariantSamples)[];
}

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | null;
}

export interface PeerResults {
  date: string;
  machine: { cpu: string; cpus: number; memoryGiB: number; kernel: string; node: string };
  envoy: string;
  generator: string;
  settings: Record<string, unknown>;
  loadAverage: { start: number[]; end: number[] };
  notes: string[];
  modules: { name: string; bytes: number; release: boolean }[];
  /** Release modules broken down (those whose peers module asks for it). */
  sizeBreakdowns: {
    module: string;
    code: number;
    data: number;
    byOrigin: Record<string, number>;
    largest: { name: string; bytes: number }[];
  }[];
  hostCalls: Record<string, HostCallCount>;
  groups: GroupResult[];
  memory: {
    workers: number;
    /** The filters in the chain, in its order. */
    filters: string[];
    noneRssBytes: number;
    allRssBytes: number;
    addedBytes: number;
    activeVms: number;
  } | null;
  goals: Goal[];
  durationSeconds: number;
}

/** Envoy CPU µs added per request against the group's no-filter variant (median of per-round differences). */
export function addedCpu(group: GroupResult, id: string): number {
  const none = group.variants.find((v) => v.id === "none");
  const variant = group.variants.find((v) => v.id === id);
  if (!none || !variant) return NaN;
  return pairedDifference(variant.cpuUs, none.cpuUs);
}

/** Saturation req/s against the no-filter variant (median of per-round ratios). */
export function throughputRatio(group: GroupResult, id: string, against = "none"): number {
  const base = group.variants.find((v) => v.id === against);
  const variant = group.variants.find((v) => v.id === id);
  if (!base || !variant) return NaN;
  return pairedRatio(variant.rps, base.rps);
}

/** A figure with one decimal, "–" when there is none. */
export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "–");
/** A figure with two decimals, "–" when there is none. */
export const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");
const us = (n: number) => (Number.isFinite(n) ? `${n.toFixed(0)} µs` : "–");
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

const NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
const spelled = (n: number) => NUMBERS[n] ?? String(n);
/** "a", "a and b", "a, b and c". */
const listed = (names: string[]) =>
  names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;

/** Each filter's goals (from its peers module, in order), then memory and module size. */
export function evaluateGoals(
  results: PeerResults,
  filterGoals: ((results: PeerResults) => Goal[])[] = [],
): Goal[] {
  const goals: Goal[] = filterGoals.flatMap((goalsOf) => goalsOf(results));
  if (results.memory) {
    const added = results.memory.addedBytes / 1e6;
    goals.push({
      goal: `Envoy RSS, all ${spelled(results.memory.filters.length)} filters at ${results.memory.workers} workers vs none`,
      target: "≤ +20 MB",
      measured: `+${f1(added)} MB`,
      met: added <= 20,
    });
  }
  const release = results.modules.filter((m) => m.release);
  const largest = release.reduce((a, b) => (b.bytes > a.bytes ? b : a), release[0]!);
  if (largest) {
    goals.push({
      goal: "every release module",
      target: "≤ 40 KiB",
      measured: release.map((m) => `${m.name} ${kib(m.bytes)}`).join(", "),
      met: release.every((m) => m.bytes <= 40 * 1024),
    });
  }
  return goals;
}

function groupTable(group: GroupResult): string[] {
  const lines: string[] = [];
  const peers = group.variants.filter((v) => v.kind !== "none" && v.kind !== "graft");
  const graftRows = group.variants.filter((v) => v.kind === "graft");
  lines.push(
    `### ${group.title}`,
    "",
    `${group.variants[0] ? group.variants[0].rps.length : 0} rounds; latency at a fixed ${group.fixedRate ?? "–"} req/s (50 % of no filter's saturation)` +
      (group.fixedRate === null ? " — not measured for this group" : ""),
    "",
    "| variant | req/s (median) | vs no filter | Envoy CPU µs/req | added µs/req (range) | p50 | p90 | p99 | CPU µs/req at fixed rate | non-2xx / errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const v of group.variants) {
    const [low, high] = differenceRange(v.cpuUs, group.variants.find((x) => x.id === "none")?.cpuUs ?? []);
    lines.push(
      `| ${v.label} | ${median(v.rps).toFixed(0)} | ${f2(throughputRatio(group, v.id))} | ${f1(median(v.cpuUs))} | ` +
        (v.id === "none" ? "–" : `+${f1(addedCpu(group, v.id))} (${f1(low)}…${f1(high)})`) +
        ` | ${us(median(v.p50))} | ${us(median(v.p90))} | ${us(median(v.p99))} | ${f1(median(v.fixedCpuUs))} | ${v.non2xx} / ${v.errors}${v.dropped ? ` (${v.dropped} dropped)` : ""} |`,
    );
  }
  if (graftRows.length > 0 && peers.length > 0) {
    lines.push("", "graft against each peer (added CPU per request, ratio; throughput, ratio):", "");
    lines.push(
      `| graft variant | ${peers.map((p) => p.label).join(" | ")} |`,
      `|---|${peers.map(() => "---:").join("|")}|`,
    );
    for (const g of graftRows) {
      const cells = peers.map((p) => {
        const cpu = addedCpu(group, g.id) / addedCpu(group, p.id);
        const rps = throughputRatio(group, g.id, p.id);
        return `${f2(cpu)}× CPU, ${f2(rps)}× req/s`;
      });
      lines.push(`| ${g.label} | ${cells.join(" | ")} |`);
    }
  }
  lines.push("");
  return lines;
}

export function renderMarkdown(results: PeerResults): string {
  const m = results.machine;
  const lines: string[] = [
    `## Peer benchmark, ${results.date.slice(0, 16).replace("T", " ")} UTC`,
    "",
    `Machine: ${m.cpu}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, Linux ${m.kernel}; Envoy ${results.envoy}; Node ${m.node}.`,
    `Load average at the start ${results.loadAverage.start.join(" / ")}, at the end ${results.loadAverage.end.join(" / ")} (1/5/15 min): ` +
      "other work shared the machine, so compare variants within this run, not with other runs.",
    `Load: ${results.generator}. Settings: ${Object.entries(results.settings)
      .filter(([key]) => key !== "write")
      .map(([key, value]) => `${key} ${String(value)}`)
      .join(", ")}. Took ${Math.round(results.durationSeconds / 60)} min.`,
    "",
    "### Goals (issue 17)",
    "",
    "| goal | target | measured | |",
    "|---|---|---|---|",
    ...results.goals.map(
      (g) =>
        `| ${g.goal} | ${g.target} | ${g.measured} | ${g.met === null ? "not measured" : g.met ? "met" : "**missed**"} |`,
    ),
    "",
  ];
  for (const group of results.groups) lines.push(...groupTable(group));
  lines.push("### Host calls per request (host emulator, steady state)", "");
  lines.push(
    "| module | host calls | calls into the VM | of which malloc | flush ticks in 1 s: host calls | linear memory | by call |",
    "|---|---:|---:|---:|---:|---:|---|",
  );
  for (const [name, count] of Object.entries(results.hostCalls)) {
    const by = Object.entries(count.byName)
      .map(([call, n]) => `${call.replace(/^proxy_/, "")} ${Number.isInteger(n) ? n : n.toFixed(2)}`)
      .join(", ");
    lines.push(
      `| ${name} | ${f2(count.perRequest)} | ${f2(count.entriesPerRequest)} | ${f2(count.mallocPerRequest)} | ${count.perTick} | ${kib(count.memoryBytes)} | ${by} |`,
    );
  }
  lines.push("", "### Module sizes", "", "| module | size |", "|---|---:|");
  for (const module of results.modules)
    lines.push(`| ${module.name} | ${kib(module.bytes)} (${module.bytes} B) |`);
  for (const b of results.sizeBreakdowns)
    lines.push(
      "",
      `${b.module}'s release module: code ${kib(b.code)}, data ${kib(b.data)}. Code by origin: ` +
        Object.entries(b.byOrigin)
          .sort((x, y) => y[1] - x[1])
          .map(([origin, bytes]) => `${origin} ${bytes} B`)
          .join(", ") +
        ". Largest functions: " +
        b.largest.map((fn) => `\`${fn.name}\` ${fn.bytes} B`).join(", ") +
        ".",
    );
  if (results.memory) {
    const mem = results.memory;
    lines.push(
      "",
      `### Memory at ${mem.workers} workers`,
      "",
      `Envoy RSS with no filter ${(mem.noneRssBytes / 1e6).toFixed(1)} MB; with ${listed(mem.filters)} ` +
        `${(mem.allRssBytes / 1e6).toFixed(1)} MB (+${(mem.addedBytes / 1e6).toFixed(1)} MB; ${mem.activeVms || "?"} Wasm VMs active). ` +
        "Each VM's linear memory is in the host-call table (emulator, after the run).",
    );
  }
  if (results.notes.length > 0) lines.push("", "Notes:", "", ...results.notes.map((note) => `- ${note}`));
  return lines.join("\n");
}

const COLORS: Record<string, string> = {
  none: "#9e9e9e",
  native: "#2e7d32",
  lua: "#1565c0",
  graft: "#e65100",
  go: "#6a1b9a",
  c: "#00838f",
  noop: "#757575",
};

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One panel per group: throughput relative to no filter, and Envoy CPU added per request. */
export function renderSvg(results: PeerResults): string {
  const width = 900;
  const barHeight = 18;
  const labelWidth = 300;
  const panelWidth = (width - labelWidth - 40) / 2;
  let y = 50;
  const parts: string[] = [];
  parts.push(
    `<text x="20" y="28" font-size="16" font-weight="bold">graft peer benchmark, ${escapeXml(results.date.slice(0, 16).replace("T", " "))} UTC — Envoy ${escapeXml(results.envoy)}, load avg ${results.loadAverage.start[0]}</text>`,
  );
  for (const group of results.groups) {
    const rows = group.variants;
    const maxCpu = Math.max(1, ...rows.map((v) => addedCpu(group, v.id)).filter(Number.isFinite));
    parts.push(
      `<text x="20" y="${y + 14}" font-size="13" font-weight="bold">${escapeXml(group.title)}</text>`,
    );
    parts.push(`<text x="${labelWidth}" y="${y + 14}" font-size="11" fill="#555">req/s vs no filter</text>`);
    parts.push(
      `<text x="${labelWidth + panelWidth + 20}" y="${y + 14}" font-size="11" fill="#555">Envoy CPU added, µs/request</text>`,
    );
    y += 22;
    for (const v of rows) {
      const ratio = throughputRatio(group, v.id);
      const cpu = v.id === "none" ? 0 : addedCpu(group, v.id);
      const color = COLORS[v.kind] ?? "#555";
      parts.push(`<text x="20" y="${y + 13}" font-size="12">${escapeXml(v.label)}</text>`);
      const w1 = Number.isFinite(ratio) ? Math.max(0, Math.min(1.2, ratio)) * (panelWidth - 50) : 0;
      parts.push(
        `<rect x="${labelWidth}" y="${y}" width="${w1.toFixed(1)}" height="${barHeight - 4}" fill="${color}"/>`,
      );
      parts.push(`<text x="${labelWidth + w1 + 4}" y="${y + 12}" font-size="11">${f2(ratio)}</text>`);
      const x2 = labelWidth + panelWidth + 20;
      const w2 = Number.isFinite(cpu) ? (Math.max(0, cpu) / maxCpu) * (panelWidth - 60) : 0;
      parts.push(
        `<rect x="${x2}" y="${y}" width="${w2.toFixed(1)}" height="${barHeight - 4}" fill="${color}"/>`,
      );
      parts.push(
        `<text x="${x2 + w2 + 4}" y="${y + 12}" font-size="11">${v.id === "none" ? "0" : "+" + f1(cpu)}</text>`,
      );
      y += barHeight;
    }
    y += 16;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
