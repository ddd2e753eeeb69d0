// SPDX-License-Identifier: Apache-2.0
/**
 * RFC 3339 timestamps (`2026-01-01T00:00:00Z`, `2026-01-01T02:00:00.5+02:00`). Stricter than `Date.parse`,
 * which accepts `2025-02-30` as March 2nd and many non-RFC forms: a signed expiry must mean one instant.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Milliseconds since the epoch, or null when `text` is not an RFC 3339 date-time. */
export function parseRfc3339(text: string): number | null {
  const match = RFC3339.exec(text);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59)
    return null;
  const offset = match[8] as string;
  if (offset.length === 6) {
    const [offsetHours, offsetMinutes] = offset.slice(1).split(":").map(Number) as [number, number];
    if (offsetHours > 23 || offsetMinutes > 59) return null;
  }
  const ms = Date.parse(text.toUpperCase());
  return Number.isNaN(ms) ? null : ms;
}

/** RFC 3339 in UTC with milliseconds, as `Date.prototype.toISOString` writes it. */
export function formatRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
