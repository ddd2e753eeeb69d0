// rate-limiter against Envoy's native local_ratelimit (`npm run bench -- peers`, tools/bench/peers):
// each with a limit that never triggers, and with a bucket of a fifth of what no filter serves at
// saturation (5× overload: most requests get 429). One global bucket in each.
import type { HttpFilter } from "../../src/envoy/bootstrap.ts";
import type { FilterInfo } from "../../src/filters/catalog.ts";
import type { FilterPeers, GroupContext } from "../../tools/bench/peers/groups.ts";
import { f2, throughputRatio, type Goal, type PeerResults } from "../../tools/bench/peers/report.ts";
import { noFilter, wasm, type Variant } from "../../tools/bench/peers/variants.ts";

export interface Bucket {
  tokensPerFill: number;
  fillIntervalMs: number;
  maxTokens: number;
}

/** A limit no benchmark reaches (within the filter's limits: a million tokens a millisecond). */
export const NEVER: Bucket = { tokensPerFill: 1_000_000, fillIntervalMs: 1, maxTokens: 1_000_000 };
/** Native local_ratelimit's never-limiting bucket (its fill interval is at least 50 ms). */
export const NATIVE_NEVER: Bucket = {
  tokensPerFill: 1_000_000_000,
  fillIntervalMs: 1000,
  maxTokens: 1_000_000_000,
};

/**
 * The request of every variant: header-rewrite's benchmark request, so that the no-filter rows of
 * the two groups measure the same work.
 */
const REQUEST_HEADERS = { "x-user": "alice", "x-internal": "secret", "x-graft": "spoofed" };

/** A bucket that admits `perSecond` requests a second, refilled every 100 ms. */
export function bucketAt(perSecond: number): Bucket {
  const perFill = Math.max(1, Math.round(perSecond / 10));
  return { tokensPerFill: perFill, fillIntervalMs: 100, maxTokens: perFill };
}

function nativeRateLimit(prefix: string, bucket: Bucket): HttpFilter {
  const percent = {
    default_value: { numerator: 100, denominator: "HUNDRED" },
    runtime_key: `${prefix}_percent`,
  };
  return {
    name: "envoy.filters.http.local_ratelimit",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
      stat_prefix: prefix,
      token_bucket: {
        max_tokens: bucket.maxTokens,
        tokens_per_fill: bucket.tokensPerFill,
        fill_interval: `${bucket.fillIntervalMs / 1000}s`,
      },
      filter_enabled: percent,
      filter_enforced: percent,
    },
  };
}

export function graftRateLimitConfig(injection: string, bucket: Bucket): unknown {
  return {
    injection_id: injection,
    rules: [
      {
        name: "all",
        key: { source: "global" },
        tokens_per_fill: bucket.tokensPerFill,
        fill_interval_ms: bucket.fillIntervalMs,
        max_tokens: bucket.maxTokens,
      },
    ],
  };
}

/** Every variant, no filter first; `overload` is the bucket that the offered load overruns fivefold. */
export function rateLimiterVariants(filter: FilterInfo, overload: Bucket): Variant[] {
  return [
    noFilter(),
    {
      id: "native",
      label: "native local_ratelimit, never limits",
      kind: "native",
      filters: () => [nativeRateLimit("rl_never", NATIVE_NEVER)],
    },
    {
      id: "graft",
      label: "graft rate-limiter, never limits",
      kind: "graft",
      filters: () => [
        wasm("rl-never", filter.rootId, filter.releaseWasm, graftRateLimitConfig("never", NEVER)),
      ],
    },
    {
      id: "native-5x",
      label: "native local_ratelimit, 5× overload",
      kind: "native",
      filters: () => [nativeRateLimit("rl_over", overload)],
    },
    {
      id: "graft-5x",
      label: "graft rate-limiter, 5× overload",
      kind: "graft",
      filters: () => [
        wasm("rl-over", filter.rootId, filter.releaseWasm, graftRateLimitConfig("over", overload)),
      ],
    },
  ];
}

function goals(results: PeerResults): Goal[] {
  const limiter = results.groups.find((group) => group.id === "rate-limiter");
  if (!limiter) return [];
  const ratio = throughputRatio(limiter, "graft", "native");
  const overload = throughputRatio(limiter, "graft-5x", "native-5x");
  return [
    {
      goal: "rate-limiter throughput vs native local_ratelimit (never limiting)",
      target: "≥ 0.90",
      measured: `${f2(ratio)} (at 5× overload: ${f2(overload)})`,
      met: Number.isFinite(ratio) ? ratio >= 0.9 : null,
    },
  ];
}

export function peers(filter: FilterInfo): FilterPeers {
  return {
    groups: [
      {
        id: "rate-limiter",
        title: "rate-limiter, direct_response",
        route: "direct",
        rounds: "full",
        latency: true,
        request: { method: "GET", headers: REQUEST_HEADERS },
        // 5× overload: a bucket admitting a fifth of what no filter serves at saturation.
        async variants(context: GroupContext) {
          const saturation = await context.noFilterSaturation();
          const overload = bucketAt(saturation / 5);
          context.note(
            `rate-limiter 5× overload: a bucket of ${overload.tokensPerFill} tokens per ${overload.fillIntervalMs} ms (${(saturation / 5).toFixed(0)}/s; no filter served ${saturation.toFixed(0)} req/s)`,
          );
          return rateLimiterVariants(filter, overload);
        },
        check: (variant, status) =>
          status === 200 || (variant.id.endsWith("5x") && status === 429) ? null : `HTTP ${status}`,
      },
    ],
    hostCalls: [
      {
        name: filter.name,
        module: filter.releaseWasm,
        rootId: filter.rootId,
        configuration: graftRateLimitConfig("never", NEVER),
        request: { path: "/bench", headers: REQUEST_HEADERS },
      },
    ],
    chain: {
      filters: () => [
        wasm("rl-never", filter.rootId, filter.releaseWasm, graftRateLimitConfig("never", NEVER)),
      ],
    },
    goals,
  };
}
