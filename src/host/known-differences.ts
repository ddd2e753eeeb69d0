// The documented differences between the emulator and Envoy 1.40 that the differential
// (tests/hardening/emulator-differential.test.ts, src/host/replay.ts) accepts. Each says why, which
// Envoy behaviour it reflects, and which difference lines (compareRuns' words) it covers; each has a
// test in tests/host/known-differences.test.ts. Anything else is a bug to fix in the emulator.
import type { HttpRequest } from "./emulator.ts";
import { HeaderMap } from "./headers.ts";
import type { ReplayCase, ReplayResult } from "./replay.ts";

export interface KnownDifference {
  id: string;
  /** Why the emulator does not do what Envoy does. */
  reason: string;
  /** What Envoy does. */
  envoy: string;
  /** Whether this exception covers one difference line of a case. */
  covers(difference: string, request: HttpRequest): boolean;
}

/** Bytes of the request head the echo's Node server counts, before Envoy's own additions. */
function clientHeadBytes(request: HttpRequest): number {
  const headers = HeaderMap.from(request.headers);
  return request.path.length + headers.byteSize();
}

const RESET_BODY =
  /^emulator vs envoy: [^:]+: response body "" vs "upstream connect error or disconnect\/reset before headers\. reset reason: connection (termination|reset)"$/;

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: "echo-header-overflow-reset",
    reason:
      "The echo upstream is Node, whose server answers a request head of 16 KiB or more with 431 and closes at once; when a body is still arriving, the close can reset the connection before Envoy reads the 431. Which one Envoy sees is a race on the test's upstream, not filter or emulator behaviour; the emulator models the 431.",
    envoy:
      "An upstream reset before response headers: Envoy answers 503 with text/plain 'upstream connect error or disconnect/reset before headers. reset reason: connection termination'.",
    covers: (difference, request) =>
      clientHeadBytes(request) >= 16 * 1024 - 512 &&
      (/: status 431 vs 503$/.test(difference) ||
        /: response header content-type: \(absent\) vs "text\/plain"$/.test(difference) ||
        RESET_BODY.test(difference)),
  },
];

export interface Verdict {
  /** Difference lines no exception covers, with the request that caused them. */
  unexplained: string[];
  /** Lines covered, by exception id. */
  explained: Map<string, number>;
  /** The uncovered cases whole, to save and replay. */
  cases: { request: HttpRequest; lines: string[] }[];
}

function describeRequest(request: HttpRequest): string {
  const text = JSON.stringify(request, (_key, value: unknown) =>
    typeof value === "string" && value.length > 120 ? `${value.slice(0, 60)}…(${value.length})` : value,
  );
  return text.length > 1500 ? `${text.slice(0, 1500)}…` : text;
}

/** Sorts a replay's differences into covered and not covered. */
export function explainDifferences(result: ReplayResult, cases: readonly ReplayCase[]): Verdict {
  const verdict: Verdict = { unexplained: [], explained: new Map(), cases: [] };
  const caseLines = new Set<string>();
  for (const [index, lines] of result.byCase) {
    const request = cases[index]!.request;
    const open: string[] = [];
    for (const line of lines) {
      caseLines.add(line);
      const known = KNOWN_DIFFERENCES.find((difference) => difference.covers(line, request));
      if (known) verdict.explained.set(known.id, (verdict.explained.get(known.id) ?? 0) + 1);
      else open.push(line);
    }
    if (open.length > 0) verdict.cases.push({ request, lines: open });
    if (open.length > 0)
      verdict.unexplained.push(`${open.join("\n  ")}\n  request: ${describeRequest(request)}`);
  }
  for (const line of result.differences) if (!caseLines.has(line)) verdict.unexplained.push(line);
  return verdict;
}
