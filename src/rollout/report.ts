import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { RolloutResult } from "./rollout.ts";

/** The rollout as plain JSON (Maps flattened), for machines. */
export function rolloutJson(result: RolloutResult): string {
  return JSON.stringify(
    result,
    (_key, value: unknown) =>
      value instanceof Map ? Object.fromEntries(value) : value === Infinity ? "Infinity" : value,
    2,
  );
}

export function rolloutMarkdown(result: RolloutResult): string {
  const last = result.looks.at(-1)?.verdict;
  const lines = [
    `# graft rollout: ${result.decision}${result.dryRun ? " (dry run)" : ""}`,
    "",
    `**${result.reason}**`,
    "",
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
    ...result.actions.flatMap((action) => [
      ...action.results.map(
        (r) =>
          `- ${action.action} ${r.target}/${r.slot}: ${r.outcome} → ${r.injectionId ?? "empty"} (${Math.round(r.ms)} ms)`,
      ),
      ...action.failures.map((f) => `- ${action.action} ${f.target}/${f.slot}: FAILED ${f.error}`),
    ]),
  ];
  return lines.join("\n") + "\n";
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** An inline SVG chart of both arms' cumulative rate of one metric at each look (lines and points). */
function chart(result: RolloutResult, metric: string): string {
  const points = result.looks.map((look) => {
    const verdict = look.verdict.metrics.find((m) => m.metric === metric);
    return {
      t: look.elapsedMs / 1000,
      canary: verdict?.canary.rate ?? NaN,
      baseline: verdict?.baseline.rate ?? NaN,
    };
  });
  const width = 560;
  const height = 170;
  const left = 55;
  const maxT = Math.max(1, ...points.map((p) => p.t));
  const observed = points.flatMap((p) => [p.canary, p.baseline]).filter(Number.isFinite);
  const maxRate = Math.max(0, ...observed);
  const top = maxRate > 0 ? maxRate * 1.1 : 0.01;
  const x = (t: number) => ((t / maxT) * (width - left - 10) + left).toFixed(1);
  const y = (rate: number) => (height - 25 - (rate / top) * (height - 40)).toFixed(1);
  const percent = (rate: number) => `${(rate * 100).toPrecision(rate > 0 ? 3 : 1)}%`;
  const series = (arm: "canary" | "baseline", colour: string, dash: string) => {
    const arm_points = points.filter((p) => Number.isFinite(p[arm]));
    const line = arm_points.map((p) => `${x(p.t)},${y(p[arm])}`).join(" ");
    const dots = arm_points
      .map(
        (p) =>
          `<circle cx="${x(p.t)}" cy="${y(p[arm])}" r="3" fill="${colour}"><title>${arm} ${percent(p[arm])} at ${p.t.toFixed(0)} s</title></circle>`,
      )
      .join("");
    return `<polyline fill="none" stroke="${colour}" stroke-width="2" stroke-dasharray="${dash}" points="${line}"/>${dots}`;
  };
  return `<figure><figcaption>${escapeHtml(metric)}: bad events per unit of exposure since the canary started</figcaption>
<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(metric)} canary vs baseline">
<line x1="${left}" y1="${height - 25}" x2="${width - 5}" y2="${height - 25}" stroke="#999"/><line x1="${left}" y1="10" x2="${left}" y2="${height - 25}" stroke="#999"/>
<text x="${left - 5}" y="${y(top)}" font-size="10" text-anchor="end" dominant-baseline="hanging">${percent(top)}</text>
<text x="${left - 5}" y="${height - 25}" font-size="10" text-anchor="end">0%</text>
<text x="${left}" y="${height - 8}" font-size="10">0 s</text><text x="${width - 10}" y="${height - 8}" font-size="10" text-anchor="end">${maxT.toFixed(0)} s</text>
${series("baseline", "#1971c2", "4 3")}
${series("canary", "#d9480f", "")}
</svg></figure>`;
}

export function rolloutHtml(result: RolloutResult): string {
  const last = result.looks.at(-1)?.verdict;
  const metrics = last?.metrics.map((m) => m.metric) ?? [];
  const colour =
    result.decision === "PROMOTE" ? "#2b8a3e" : result.decision === "INCONCLUSIVE" ? "#e67700" : "#c92a2a";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>graft rollout: ${result.decision}</title>
<style>body{font:14px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}h1{color:${colour}}code,li.line{font-family:ui-monospace,monospace}figure{margin:1rem 0}.legend span{margin-right:1rem}</style>
</head><body>
<h1>${result.decision}${result.dryRun ? " (dry run)" : ""}</h1>
<p><strong>${escapeHtml(result.reason)}</strong></p>
<p>Canary filter: ${escapeHtml(result.canaryState)}</p>
${result.warnings.map((warning) => `<p>Warning: ${escapeHtml(warning)}</p>`).join("\n")}
<p>Canary: ${escapeHtml(result.canaryTargets.join(", "))} · Baseline: ${escapeHtml(result.baselineTargets.join(", "))} · ${result.looks.length} looks, ${escapeHtml(result.startedAt)} → ${escapeHtml(result.endedAt)}</p>
<h2>Verdict per metric</h2>
<ul>${(last?.lines ?? []).map((line) => `<li class="line">${escapeHtml(line)}</li>`).join("\n")}</ul>
<h2>Both arms over time</h2>
<p class="legend"><span style="color:#d9480f">━ canary</span><span style="color:#1971c2">┅ baseline</span></p>
${metrics.map((metric) => chart(result, metric)).join("\n")}
</body></html>
`;
}

/** Writes report.json, report.md and report.html into `dir`; returns their paths. */
export async function writeRolloutReports(
  result: RolloutResult,
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
