import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Look, RolloutArtifact, RolloutResult } from "./rollout.ts";
import type { MetricVerdict } from "../judge/judge.ts";
import { peekStatement } from "../sign/sign.ts";
import { sha256Hex } from "../sign/statement.ts";

/** What a rollout put in: the signed statement's facts, for people reading the report. */
export interface RolledOut {
  filter: string;
  version: string;
  injectionId: string;
  moduleSha256: string;
  /** Signer names from the trust policy (key ids when the policy does not name them). */
  signers: string[];
  author: string;
  reason: string;
  expires: string;
}

/** A rollout result, or one in progress (live view), with what was rolled out when known. */
export type ReportInput = Omit<RolloutResult, "decision"> & {
  decision: RolloutResult["decision"] | "RUNNING";
  rolledOut?: RolledOut;
};

/** Reads the facts from the envelope (already verified by the rollout before anything is injected). */
export function describeArtifact(artifact: RolloutArtifact): RolledOut | undefined {
  try {
    const { predicate } = peekStatement(artifact.envelope);
    const keyIds = ((artifact.envelope as { signatures?: { keyid?: string }[] }).signatures ?? []).map(
      (signature) => signature.keyid ?? "",
    );
    return {
      filter: predicate.filter,
      version: predicate.version,
      injectionId: predicate.injectionId,
      moduleSha256: sha256Hex(artifact.module),
      signers: keyIds.map((id) => artifact.policy.keys.get(id)?.name ?? id),
      author: predicate.author,
      reason: predicate.reason,
      expires: predicate.expires,
    };
  } catch {
    return undefined;
  }
}

/** The rollout as plain JSON (Maps flattened), for machines. */
export function rolloutJson(result: ReportInput): string {
  return JSON.stringify(
    result,
    (_key, value: unknown) =>
      value instanceof Map ? Object.fromEntries(value) : value === Infinity ? "Infinity" : value,
    2,
  );
}

/** Targets an action changed, by kind: "promoted to edge-2/graft-slot-0". */
export function actionLines(result: ReportInput): string[] {
  return result.actions.flatMap((action, index) => {
    const verb =
      action.action === "inject"
        ? index === 0 && result.canaryTargets.length > 0 && sameTargets(action, result.canaryTargets)
          ? "canary injected into"
          : "promoted to"
        : action.action === "rollback"
          ? "rolled back"
          : action.action;
    return [
      ...action.results.map(
        (r) =>
          `${verb} ${r.target}/${r.slot}: ${r.outcome}, now ${r.injectionId ?? "empty"} (${Math.round(r.ms)} ms)`,
      ),
      ...action.failures.map((f) => `${verb} ${f.target}/${f.slot}: FAILED: ${f.error}`),
    ];
  });
}

function sameTargets(action: RolloutResult["actions"][number], targets: string[]): boolean {
  const touched = [...action.results.map((r) => r.target), ...action.failures.map((f) => f.target)];
  return touched.length > 0 && touched.every((t) => targets.includes(t));
}

/** The outcome in one plain sentence, before any statistics. */
export function plainVerdict(result: ReportInput): string {
  const what = result.rolledOut
    ? `${result.rolledOut.filter} ${result.rolledOut.version} (injection ${result.rolledOut.injectionId})`
    : "the filter";
  const canary = result.canaryTargets.join(", ");
  const promoted = result.actions
    .filter((a) => a.action === "inject" && !sameTargets(a, result.canaryTargets))
    .flatMap((a) => a.results.map((r) => r.target));
  switch (result.decision) {
    case "RUNNING": {
      const look = result.looks.at(-1);
      return look
        ? `Canary running on ${canary}: ${result.looks.length} look(s), ${Math.round(look.elapsedMs / 1000)} s in; so far ${look.verdict.decision === "CONTINUE" ? "no verdict yet" : look.verdict.decision}.`
        : `Canary of ${what} starting on ${canary}.`;
    }
    case "PROMOTE":
      return result.dryRun
        ? `Would promote ${what}: the canary was no worse than the baseline (dry run, nothing changed).`
        : `Promoted: ${what} was no worse than the baseline on ${canary} and now runs on ${[...result.canaryTargets, ...promoted].join(", ")}.`;
    case "ROLLBACK":
      return `Rolled back: ${what} made ${canary} worse than the baseline, so graft took it out; ${
        result.canaryState === "rolled back"
          ? `${canary} ${result.canaryTargets.length === 1 ? "serves what it" : "serve what they"} served before`
          : `the canary is ${result.canaryState}`
      }.`;
    case "INCONCLUSIVE":
      return `No verdict in time: ${what} was neither proven worse nor proven safe within ${Math.round(result.maxDurationMs / 1000)} s; the canary was ${result.canaryState}.`;
    default:
      return `Stopped by an error: ${result.reason}; the canary was ${result.canaryState}.`;
  }
}

export function rolloutMarkdown(result: ReportInput): string {
  const last = result.looks.at(-1)?.verdict;
  const r = result.rolledOut;
  const lines = [
    `# graft rollout: ${result.decision}${result.dryRun ? " (dry run)" : ""}`,
    "",
    `**${plainVerdict(result)}**`,
    "",
    `Reason: ${result.reason}`,
    "",
    ...(r
      ? [
          "## What was rolled out",
          "",
          `- filter: ${r.filter} ${r.version}, injection ${r.injectionId}`,
          `- module: sha256:${r.moduleSha256}`,
          `- signed by: ${r.signers.join(", ")}; author ${r.author}`,
          `- reason: ${r.reason}`,
          `- expires: ${r.expires}`,
          "",
        ]
      : []),
    `- canary filter: ${result.canaryState}`,
    ...result.warnings.map((warning) => `- warning: ${warning}`),
    `- maxDuration: ${Math.round(result.maxDurationMs / 1000)} s`,
    `- canary: ${result.canaryTargets.join(", ")}`,
    `- baseline: ${result.baselineTargets.join(", ")}`,
    `- from ${result.startedAt} to ${result.endedAt}, ${result.looks.length} looks`,
    "",
    "## Verdict per metric (last look)",
    "",
    ...(last?.lines ?? ["(no look was made)"]).map((line) => `- ${line}`),
    "",
    "## Looks",
    "",
    "| t (s) | decision | canary requests | baseline requests | canary 5xx | baseline 5xx |",
    "|---:|---|---:|---:|---:|---:|",
    ...result.looks.map(
      (look) =>
        `| ${(look.elapsedMs / 1000).toFixed(1)} | ${look.verdict.decision} | ${look.canary.requests} | ${look.baseline.requests} | ${look.canary.rq5xx} | ${look.baseline.rq5xx} |`,
    ),
    "",
    "## Actions",
    "",
    ...(result.actions.length === 0 ? ["- none (dry run)"] : []),
    ...actionLines(result).map((line) => `- ${line}`),
  ];
  return lines.join("\n") + "\n";
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

const CANARY = "#d9480f";
const BASELINE = "#1971c2";
const LIMIT = "#868e96";

interface Series {
  name: string;
  colour: string;
  dash?: string;
  points: { t: number; v: number }[];
}

/** A small line chart: time on x, `format`ted values on y, optional horizontal reference lines. */
function lineChart(options: {
  label: string;
  series: Series[];
  lines?: { v: number; label: string; colour: string }[];
  format: (v: number) => string;
  yMin?: number;
}): string {
  const width = 460;
  const height = 200;
  const left = 58;
  const right = 12;
  const top = 14;
  const bottom = 28;
  const points = options.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.v));
  const refs = (options.lines ?? []).filter((l) => Number.isFinite(l.v));
  const maxT = Math.max(1, ...points.map((p) => p.t));
  const values = [...points.map((p) => p.v), ...refs.map((l) => l.v)];
  const yMin = options.yMin ?? Math.min(0, ...values);
  const yMaxRaw = Math.max(yMin + 1e-9, ...values);
  const yMax = yMaxRaw + (yMaxRaw - yMin) * 0.08;
  const x = (t: number) => left + (t / maxT) * (width - left - right);
  const y = (v: number) => height - bottom - ((v - yMin) / (yMax - yMin)) * (height - top - bottom);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => yMin + f * (yMax - yMin));
  const svg = [
    `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.label)}">`,
    ...grid.map(
      (v) =>
        `<line x1="${left}" x2="${width - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/><text x="${left - 6}" y="${(y(v) + 3).toFixed(1)}" class="tick" text-anchor="end">${escapeHtml(options.format(v))}</text>`,
    ),
    `<text x="${left}" y="${height - 8}" class="tick">0 s</text><text x="${width - right}" y="${height - 8}" class="tick" text-anchor="end">${maxT.toFixed(0)} s</text>`,
    ...refs.map(
      (l) =>
        `<line x1="${left}" x2="${width - right}" y1="${y(l.v).toFixed(1)}" y2="${y(l.v).toFixed(1)}" stroke="${l.colour}" stroke-width="1.5" stroke-dasharray="2 3"/><text x="${width - right - 2}" y="${(y(l.v) - 4).toFixed(1)}" class="ref" text-anchor="end" fill="${l.colour}">${escapeHtml(l.label)}</text>`,
    ),
    ...options.series.map((s) => {
      const shown = s.points.filter((p) => Number.isFinite(p.v));
      const path = shown.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
      const dots = shown
        .map(
          (p) =>
            `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="2.6" fill="${s.colour}"><title>${escapeHtml(s.name)} ${escapeHtml(options.format(p.v))} at ${p.t.toFixed(0)} s</title></circle>`,
        )
        .join("");
      return `<polyline fill="none" stroke="${s.colour}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ""} points="${path}"/>${dots}`;
    }),
    "</svg>",
  ];
  return svg.join("\n");
}

const percent = (rate: number) => (rate === 0 ? "0%" : `${(rate * 100).toPrecision(2)}%`);

function metricAt(look: Look, metric: string): MetricVerdict | undefined {
  return look.verdict.metrics.find((m) => m.metric === metric);
}

/** Both arms' rates over time with the line the canary must stay under (baseline × maxRatio, floor). */
function armsChart(result: ReportInput, metric: string): string {
  const at = (look: Look) => ({ t: look.elapsedMs / 1000, m: metricAt(look, metric) });
  const looks = result.looks.map(at);
  const last = looks.at(-1)?.m;
  const limit = looks.map(({ t, m }) => ({
    t,
    v:
      m && m.maxRatio !== undefined
        ? Math.max(m.baseline.rate * m.maxRatio, m.floorRate ?? 0)
        : (m?.floorRate ?? NaN),
  }));
  return `<figure class="chart" data-metric="${escapeHtml(metric)}"><figcaption><b>${escapeHtml(metric)}</b>: share of requests, both arms since the canary started</figcaption>
${lineChart({
  label: `${metric}: canary and baseline rates over time`,
  format: percent,
  yMin: 0,
  series: [
    { name: "allowed for the canary", colour: LIMIT, dash: "1 3", points: limit },
    { name: "canary", colour: CANARY, points: looks.map(({ t, m }) => ({ t, v: m?.canary.rate ?? NaN })) },
    // Drawn last and dashed: where the arms agree, both stay visible.
    {
      name: "baseline",
      colour: BASELINE,
      dash: "5 3",
      points: looks.map(({ t, m }) => ({ t, v: m?.baseline.rate ?? NaN })),
    },
  ],
  lines: last?.floorRate
    ? [{ v: last.floorRate, label: `floor ${percent(last.floorRate)}`, colour: LIMIT }]
    : [],
})}
<p class="caption">Harm means the canary's rate above ${last?.maxRatio !== undefined ? `${last.maxRatio} × the baseline's` : "the floor"}${last?.floorRate ? ` and above ${percent(last.floorRate)}` : ""} (dotted line).</p></figure>`;
}

/** Each signal's evidence (e-values, log scale) against the threshold that decides. */
function evidenceChart(result: ReportInput, metric: string): string {
  const looks = result.looks.map((look) => ({ t: look.elapsedMs / 1000, m: metricAt(look, metric) }));
  const last = looks.at(-1)?.m;
  // Below 1 an e-value is evidence of nothing: it sits on the axis rather than off the chart.
  const log = (v: number | undefined) =>
    v === undefined || Number.isNaN(v) ? NaN : Math.log10(Math.min(Math.max(v, 1), 1e12));
  const lines = last
    ? [
        {
          v: log(last.evidence.harmThreshold),
          label: `ROLLBACK at ${fmtE(last.evidence.harmThreshold)}`,
          colour: "#c92a2a",
        },
        {
          v: log(last.evidence.safeThreshold),
          label: `PROMOTE at ${fmtE(last.evidence.safeThreshold)}`,
          colour: "#2b8a3e",
        },
      ]
    : [];
  return `<figure class="chart evidence" data-metric="${escapeHtml(metric)}"><figcaption><b>${escapeHtml(metric)}</b>: evidence against each decision threshold</figcaption>
${lineChart({
  label: `${metric}: evidence of harm and of safety against their thresholds`,
  format: (v) => fmtE(10 ** v),
  yMin: 0,
  series: [
    {
      name: "evidence of harm",
      colour: "#c92a2a",
      points: looks.map(({ t, m }) => ({ t, v: log(m?.evidence.harm) })),
    },
    {
      name: "evidence of safety",
      colour: "#2b8a3e",
      dash: "5 3",
      points: looks.map(({ t, m }) => ({ t, v: log(m?.evidence.safe) })),
    },
  ],
  lines,
})}
<p class="caption">A line reaching its threshold decides: harm → ROLLBACK at any look; safety → PROMOTE after minDuration.</p></figure>`;
}

function fmtE(v: number): string {
  if (!Number.isFinite(v)) return "∞";
  if (v >= 1e4) return `10^${Math.log10(v).toFixed(1)}`;
  return v >= 10 ? v.toFixed(0) : v.toPrecision(2);
}

const STYLE = `
:root{--ink:#1d2329;--muted:#5c6670;--line:#dee2e6;--card:#fff;--bg:#f4f6f8}
*{box-sizing:border-box}body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--bg);margin:0}
main{max-width:76rem;margin:0 auto;padding:1.5rem}
.verdict{border-radius:10px;padding:1.1rem 1.4rem;color:#fff;margin-bottom:1rem}
.verdict h1{margin:0 0 .3rem;font-size:1.6rem;letter-spacing:.02em}.verdict p{margin:0;font-size:1.05rem}
.verdict .why{opacity:.9;font-size:.95rem;margin-top:.35rem}
.PROMOTE{background:#2b8a3e}.ROLLBACK,.ERROR{background:#c92a2a}.INCONCLUSIVE{background:#e67700}.RUNNING{background:#1971c2}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem}
section.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.2rem;margin-bottom:1rem}
section.card h2{font-size:1.05rem;margin:0 0 .6rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
ol.actions{margin:0;padding-left:1.2rem}ol.actions li{margin:.15rem 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(26rem,1fr));gap:1rem}
figure.chart{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.8rem}
figure.chart svg{width:100%;height:auto}figcaption{font-size:.92rem;margin-bottom:.3rem}.caption{color:var(--muted);font-size:.85rem;margin:.3rem 0 0}
.grid{stroke:#eef0f2}.tick{font-size:10px;fill:var(--muted)}.ref{font-size:10px}
.legend{display:flex;gap:1.2rem;flex-wrap:wrap;color:var(--muted);font-size:.9rem;margin:.2rem 0 .8rem}.legend i{display:inline-block;width:1.6rem;height:0;border-top:2px solid;vertical-align:middle;margin-right:.35rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.25rem .5rem;border-bottom:1px solid var(--line);text-align:right}th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
ul.lines{margin:0;padding-left:1.2rem}ul.lines li{font-family:ui-monospace,monospace;font-size:.85rem;margin:.2rem 0}
.warn{background:#fff4e6;border-color:#ffd8a8}
details summary{cursor:pointer;font-weight:600}
`;

/** The HTML report, or the live view's page while the canary runs (`live` polls for the next look). */
export function rolloutHtml(result: ReportInput, live?: { refreshMs: number }): string {
  const last = result.looks.at(-1)?.verdict;
  const metrics = last?.metrics.map((m) => m.metric) ?? [];
  const running = result.decision === "RUNNING";
  const r = result.rolledOut;
  const title = running ? "canary running" : `${result.decision}${result.dryRun ? " (dry run)" : ""}`;
  const actions = actionLines(result);
  const thresholds = last?.metrics ?? [];
  const body = `<main>
<header class="verdict ${result.decision}" id="verdict">
<h1>${escapeHtml(title)}</h1>
<p id="plain">${escapeHtml(plainVerdict(result))}</p>
${result.reason ? `<p class="why">Why: ${escapeHtml(result.reason)}</p>` : ""}
</header>
${result.warnings.length > 0 ? `<section class="card warn" id="warnings"><h2>Warnings</h2><ul>${result.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul></section>` : ""}
<div class="grid2">
<section class="card" id="rolled-out"><h2>What was rolled out</h2>
${
  r
    ? `<dl><dt>filter</dt><dd><b>${escapeHtml(r.filter)}</b> ${escapeHtml(r.version)}</dd>
<dt>injection id</dt><dd class="mono">${escapeHtml(r.injectionId)}</dd>
<dt>module</dt><dd class="mono">sha256:${escapeHtml(r.moduleSha256)}</dd>
<dt>signed by</dt><dd>${escapeHtml(r.signers.join(", "))}</dd>
<dt>author</dt><dd>${escapeHtml(r.author)}</dd>
<dt>reason</dt><dd>${escapeHtml(r.reason)}</dd>
<dt>expires</dt><dd>${escapeHtml(r.expires)}</dd></dl>`
    : "<p>(the envelope could not be read)</p>"
}
</section>
<section class="card" id="where"><h2>Where and when</h2><dl>
<dt>canary</dt><dd>${escapeHtml(result.canaryTargets.join(", "))}</dd>
<dt>baseline</dt><dd>${escapeHtml(result.baselineTargets.join(", "))}</dd>
<dt>canary filter now</dt><dd>${escapeHtml(running ? "in the canary" : result.canaryState)}</dd>
<dt>started</dt><dd>${escapeHtml(result.startedAt)}</dd>
<dt>${running ? "looks so far" : "ended"}</dt><dd>${running ? result.looks.length : `${escapeHtml(result.endedAt)} (${result.looks.length} looks)`}</dd>
<dt>maxDuration</dt><dd>${Math.round(result.maxDurationMs / 1000)} s</dd></dl>
</section>
</div>
<section class="card" id="actions"><h2>What graft did</h2>
${actions.length > 0 ? `<ol class="actions">${actions.map((a) => `<li>${escapeHtml(a)}</li>`).join("")}</ol>` : `<p>${result.dryRun ? "Nothing: dry run." : "Nothing yet."}</p>`}
</section>
<section class="card" id="arms"><h2>Both arms over time</h2>
<div class="legend"><span><i style="border-color:${CANARY}"></i>canary</span><span><i style="border-color:${BASELINE};border-top-style:dashed"></i>baseline</span><span><i style="border-color:${LIMIT};border-top-style:dotted"></i>the most the canary may have</span></div>
<div class="charts">${metrics.map((metric) => armsChart(result, metric)).join("\n") || "<p>No look yet.</p>"}</div>
</section>
<section class="card" id="evidence"><h2>Evidence against each decision threshold</h2>
<div class="legend"><span><i style="border-color:#c92a2a"></i>evidence of harm</span><span><i style="border-color:#2b8a3e;border-top-style:dashed"></i>evidence of safety</span><span>(log scale; dotted lines: the thresholds)</span></div>
<div class="charts">${metrics.map((metric) => evidenceChart(result, metric)).join("\n") || "<p>No look yet.</p>"}</div>
</section>
<section class="card" id="statistics"><h2>Statistics (last look)</h2>
<table><thead><tr><th>signal</th><th>vote</th><th>canary</th><th>baseline</th><th>ratio</th><th>maxRatio</th><th>floor</th><th>harm / threshold</th><th>safe / threshold</th></tr></thead><tbody>
${thresholds
  .map(
    (m) =>
      `<tr><td>${escapeHtml(m.metric)}</td><td>${m.vote}</td><td>${m.canary.bad}/${m.canary.exposure} (${percent(m.canary.rate)})</td><td>${m.baseline.bad}/${m.baseline.exposure} (${percent(m.baseline.rate)})</td><td>${Number.isFinite(m.ratio) ? m.ratio.toFixed(2) : String(m.ratio)}</td><td>${m.maxRatio ?? "—"}</td><td>${m.floorRate !== undefined ? percent(m.floorRate) : "—"}</td><td>${fmtE(m.evidence.harm)} / ${fmtE(m.evidence.harmThreshold)}</td><td>${fmtE(m.evidence.safe)} / ${fmtE(m.evidence.safeThreshold)}</td></tr>`,
  )
  .join("\n")}
</tbody></table>
<details><summary>The judge's lines</summary><ul class="lines">${(last?.lines ?? []).map((line) => `<li>${escapeHtml(line)}</li>`).join("")}</ul></details>
<details><summary>Every look</summary><table><thead><tr><th>t (s)</th><th>decision</th><th>canary requests</th><th>baseline requests</th><th>canary 5xx</th><th>baseline 5xx</th></tr></thead><tbody>
${result.looks.map((look) => `<tr><td>${(look.elapsedMs / 1000).toFixed(1)}</td><td>${look.verdict.decision}</td><td>${look.canary.requests}</td><td>${look.baseline.requests}</td><td>${look.canary.rq5xx}</td><td>${look.baseline.rq5xx}</td></tr>`).join("\n")}
</tbody></table></details>
</section>
</main>`;
  const poll = live
    ? `<script>
// Live view: fetch the page again each interval and swap the content in place (no reload, no scroll jump).
const timer = setInterval(async () => {
  try {
    const page = new DOMParser().parseFromString(await (await fetch(location.href, { cache: "no-store" })).text(), "text/html");
    document.body.innerHTML = page.body.innerHTML;
    document.body.dataset.state = page.body.dataset.state;
    document.title = page.title;
    if (page.body.dataset.state === "done") clearInterval(timer);
  } catch { /* the rollout process ended: keep the last state on screen */ clearInterval(timer); }
}, ${live.refreshMs});
</script>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>graft rollout: ${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body data-state="${running ? "running" : "done"}">
${body}
${poll}
</body></html>
`;
}

/** Writes report.json, report.md and report.html into `dir`; returns their paths. */
export async function writeRolloutReports(
  result: ReportInput,
  dir: string,
): Promise<{ json: string; markdown: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const paths = {
    json: path.join(dir, "report.json"),
    markdown: path.join(dir, "report.md"),
    html: path.join(dir, "report.html"),
  };
  await writeFile(paths.json, rolloutJson(result));
  await writeFile(paths.markdown, rolloutMarkdown(result));
  await writeFile(paths.html, rolloutHtml(result));
  return paths;
}

export { escapeHtml };
