// What runs in each benchmark group: the variants (one Envoy each) and the same work in each.
//
// Header rewrite (every variant does exactly this): set `x-graft: bench` on the request, remove
// `x-internal`, and add `x-graft-user: user=<x-user>` to the response, quoting a request header.
import path from "node:path";
import type { HttpFilter } from "../../../src/envoy/bootstrap.ts";
import { wasmHttpFilter } from "../../../src/envoy/wasm-filter.ts";
import { buildDir } from "../../../src/util/paths.ts";

export interface Variant {
  /** Short id: the key in results. */
  id: string;
  label: string;
  /** What it is compared with ("none" is the no-filter variant of the group). */
  kind: "none" | "native" | "lua" | "graft" | "go" | "c" | "noop";
  filters: () => HttpFilter[];
}

export const wasmPaths = {
  headerRewrite: path.join(buildDir, "header-rewrite.wasm"),
  payloadValidator: path.join(buildDir, "payload-validator.wasm"),
  rateLimiter: path.join(buildDir, "rate-limiter.wasm"),
  c: path.join(buildDir, "fixtures", "c-header-rewrite.wasm"),
  go: path.join(buildDir, "fixtures", "go-header-rewrite.wasm"),
};

/** The request every header-rewrite variant gets. */
export const REWRITE_REQUEST_HEADERS = { "x-user": "alice", "x-internal": "secret", "x-graft": "spoofed" };

export const HEADER_REWRITE_CONFIG = {
  injection_id: "bench",
  rules: [
    {
      name: "bench",
      request: [
        { op: "set", name: "x-graft", value: "bench" },
        { op: "remove", name: "x-internal" },
      ],
      response: [{ op: "append", name: "x-graft-user", value: "user=${request.header.x-user}" }],
    },
  ],
};

const LUA_REWRITE = `
function envoy_on_request(h)
  local headers = h:headers()
  local user = headers:get("x-user") or ""
  headers:replace("x-graft", "bench")
  headers:remove("x-internal")
  h:streamInfo():dynamicMetadata():set("graft.bench", "user", "user=" .. user)
end
function envoy_on_response(h)
  local meta = h:streamInfo():dynamicMetadata():get("graft.bench")
  if meta ~= nil then h:headers():add("x-graft-user", meta["user"]) end
end
`;

function lua(code: string): HttpFilter {
  return {
    name: "envoy.filters.http.lua",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
      default_source_code: { inline_string: code },
      // A header change need not re-pick the route (graft's Wasm filters do not either).
      clear_route_cache: false,
    },
  };
}

function wasm(name: string, rootId: string, wasmPath: string, configuration: unknown): HttpFilter {
  return wasmHttpFilter({ name, rootId, wasmPath, configuration, failurePolicy: "FAIL_CLOSED" });
}

export const headerRewriteVariants: Variant[] = [
  { id: "none", label: "no filter", kind: "none", filters: () => [] },
  {
    id: "native",
    label: "native header_mutation",
    kind: "native",
    filters: () => [
      {
        name: "envoy.filters.http.header_mutation",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
          mutations: {
            request_mutations: [
              {
                append: {
                  header: { key: "x-graft", value: "bench" },
                  append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
                },
              },
              { remove: "x-internal" },
            ],
            response_mutations: [
              {
                append: {
                  header: { key: "x-graft-user", value: "user=%REQ(x-user)%" },
                  append_action: "APPEND_IF_EXISTS_OR_ADD",
                },
              },
            ],
          },
        },
      },
    ],
  },
  { id: "lua", label: "Lua", kind: "lua", filters: () => [lua(LUA_REWRITE)] },
  {
    id: "graft",
    label: "graft header-rewrite",
    kind: "graft",
    filters: () => [wasm("header-rewrite", "header-rewrite", wasmPaths.headerRewrite, HEADER_REWRITE_CONFIG)],
  },
  {
    id: "go",
    label: "Go proxy-wasm SDK",
    kind: "go",
    filters: () => [wasm("go-header-rewrite", "", wasmPaths.go, "")],
  },
  {
    id: "c",
    label: "C, raw ABI (floor)",
    kind: "c",
    filters: () => [wasm("c-header-rewrite", "", wasmPaths.c, "")],
  },
];

// ---- payload-validator ----

/** payload-validator's buffer-only arm: the body is held and counted, not parsed. */
export const PV_BUFFER_ONLY_CONFIG = { injection_id: "bench-limit", max_body_bytes: 1 << 20 };

/**
 * Envoy's buffer filter after the validator: the direct_response route then answers only once the
 * whole body went through the filters before it (without it the route answers at the headers and
 * the body is never validated). Every payload variant has it, so it costs each the same.
 */
export const BUFFER_FILTER: HttpFilter = {
  name: "envoy.filters.http.buffer",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
    max_request_bytes: 1 << 20,
  },
};

// Lua has no JSON parser: its peer of the buffer-only arm reads the whole body and checks its size
// and media type, the same decisions as that arm.
const LUA_BODY_CHECK = `
function envoy_on_request(h)
  local headers = h:headers()
  local body = h:body()
  local size = body and body:length() or 0
  local ct = headers:get("content-type") or ""
  if size > 1048576 or (size > 0 and ct:sub(1, 16) ~= "application/json") then
    h:respond({[":status"] = "413"}, "refused")
  end
end
`;

export function payloadValidatorVariants(fullConfig: unknown): Variant[] {
  return [
    { id: "none", label: "no filter", kind: "none", filters: () => [BUFFER_FILTER] },
    {
      id: "lua-buffer",
      label: "Lua: whole body read, size + media type",
      kind: "lua",
      filters: () => [lua(LUA_BODY_CHECK), BUFFER_FILTER],
    },
    {
      id: "graft-buffer",
      label: "graft payload-validator, buffer only",
      kind: "graft",
      filters: () => [
        wasm("pv-buffer", "payload-validator", wasmPaths.payloadValidator, PV_BUFFER_ONLY_CONFIG),
        BUFFER_FILTER,
      ],
    },
    {
      id: "graft-full",
      label: "graft payload-validator, full validation",
      kind: "graft",
      filters: () => [
        wasm("pv-full", "payload-validator", wasmPaths.payloadValidator, fullConfig),
        BUFFER_FILTER,
      ],
    },
  ];
}

// ---- rate-limiter ----

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

/** The rate-limiter group; `overload` is the bucket that the offered load overruns fivefold. */
export function rateLimiterVariants(overload: Bucket): Variant[] {
  return [
    { id: "none", label: "no filter", kind: "none", filters: () => [] },
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
        wasm("rl-never", "rate-limiter", wasmPaths.rateLimiter, graftRateLimitConfig("never", NEVER)),
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
        wasm("rl-over", "rate-limiter", wasmPaths.rateLimiter, graftRateLimitConfig("over", overload)),
      ],
    },
  ];
}

/** All three filters in one chain (the memory check at 2 workers). */
export function allFilters(fullPayloadConfig: unknown): HttpFilter[] {
  return [
    wasm("header-rewrite", "header-rewrite", wasmPaths.headerRewrite, HEADER_REWRITE_CONFIG),
    wasm("pv-full", "payload-validator", wasmPaths.payloadValidator, fullPayloadConfig),
    wasm("rl-never", "rate-limiter", wasmPaths.rateLimiter, graftRateLimitConfig("never", NEVER)),
  ];
}
