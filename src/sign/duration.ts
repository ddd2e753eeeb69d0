// SPDX-License-Identifier: Apache-2.0
/**
 * Durations as people write them in flags and policy files: one or more `<integer><unit>` parts,
 * units `d`, `h`, `m`, `s`, `ms`, largest first by convention but any order is summed:
 * `24h`, `90m`, `1h30m`, `2d`, `45s`. Returns milliseconds, or null when the text is not a duration.
 */
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  let total = 0;
  let rest = trimmed;
  while (rest.length > 0) {
    const match = /^(\d+)(ms|d|h|m|s)/.exec(rest);
    if (!match) return null;
    const unit = UNIT_MS[match[2] as string] as number;
    total += Number(match[1]) * unit;
    rest = rest.slice(match[0].length);
  }
  return Number.isSafeInteger(total) ? total : null;
}

/** Milliseconds back to the compact form (`1h30m`, `250ms`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let text = "";
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}
