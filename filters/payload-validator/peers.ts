// payload-validator against the peers an operator would pick instead (`npm run bench -- peers`,
// tools/bench/peers): a valid JSON order of 1 KiB and of 64 KiB, through no filter, Lua reading the
// whole body, graft holding the body without parsing it, and graft's full validation.
import type { HttpFilter } from "../../src/envoy/bootstrap.ts";
import type { FilterInfo } from "../../src/filters/catalog.ts";
import type { FilterPeers, PeerGroup } from "../../tools/bench/peers/groups.ts";
import {
  addedCpu,
  f1,
  f2,
  throughputRatio,
  type Goal,
  type PeerResults,
} from "../../tools/bench/peers/report.ts";
import { lua, noFilter, wasm, type Variant } from "../../tools/bench/peers/variants.ts";
import { BENCH_CONFIG, benchBody } from "./bench.ts";

/** The buffer-only arm: the body is held and counted, not parsed. */
export const BUFFER_ONLY_CONFIG = { injection_id: "bench-limit", max_body_bytes: 1 << 20 };

/**
 * Envoy's buffer filter after the validator: the direct_response route then answers only once the
 * whole body went through the filters before it (without it the route answers at the headers and
 * the body is never validated). Every variant has it, so it costs each the same.
 */
export const BUFFER_FILTER: HttpFilter = {
  name: "envoy.filters.http.buffer",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
    max_request_bytes: 1 << 20,
  },
};

// Lua has no JSON parser: its peer of the buffer-only arm reads the whole body and checks its size
// and media type. The media type is read before h:body(): a headers object taken before the body
// call is out of scope after it (the script would fail on every request).
const LUA_BODY_CHECK = `
function envoy_on_request(h)
  local ct = h:headers():get("content-type") or ""
  local body = h:body()
  local size = body and body:length() or 0
  if size > 1048576 or (size > 0 and ct:sub(1, 16) ~= "application/json") then
    h:respond({[":status"] = "413"}, "refused")
  end
end
`;

/** Every variant, no filter first; `fullConfig` is the full validation arm's configuration. */
export function payloadVariants(filter: FilterInfo, fullConfig: unknown = BENCH_CONFIG): Variant[] {
  return [
    noFilter([BUFFER_FILTER]),
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
        wasm("pv-buffer", filter.rootId, filter.releaseWasm, BUFFER_ONLY_CONFIG),
        BUFFER_FILTER,
      ],
    },
    {
      id: "graft-full",
      label: "graft payload-validator, full validation",
      kind: "graft",
      filters: () => [wasm("pv-full", filter.rootId, filter.releaseWasm, fullConfig), BUFFER_FILTER],
    },
  ];
}

function goals(results: PeerResults): Goal[] {
  const goals: Goal[] = [];
  const small = results.groups.find((group) => group.id === "payload-1k");
  if (small) {
    const ratio = throughputRatio(small, "graft-full");
    goals.push({
      goal: "payload-validator, 1 KiB body: throughput vs no filter",
      target: "≥ 0.75",
      measured: `${f2(ratio)} (CPU +${f1(addedCpu(small, "graft-full"))} µs/request)`,
      met: Number.isFinite(ratio) ? ratio >= 0.75 : null,
    });
  }
  const large = results.groups.find((group) => group.id === "payload-64k");
  if (large) {
    const perKiB = addedCpu(large, "graft-full") / 64;
    const slope = small ? (addedCpu(large, "graft-full") - addedCpu(small, "graft-full")) / 63 : NaN;
    goals.push({
      goal: "payload-validator, 64 KiB body: CPU added per KiB",
      target: "≤ 2 µs/KiB",
      measured: `${f2(perKiB)} µs/KiB (whole added CPU ÷ 64; slope 1→64 KiB ${f2(slope)} µs/KiB)`,
      met: Number.isFinite(perKiB) ? perKiB <= 2 : null,
    });
  }
  return goals;
}

export function peers(filter: FilterInfo): FilterPeers {
  const variants = payloadVariants(filter);
  const group = (bytes: number, rounds: PeerGroup["rounds"], latency: boolean): PeerGroup => ({
    id: `payload-${bytes / 1024}k`,
    title: `payload-validator, ${bytes / 1024} KiB JSON body`,
    route: "direct",
    rounds,
    latency,
    bodyBytes: bytes,
    request: { method: "POST", headers: { "content-type": "application/json" }, body: benchBody(bytes) },
    variants,
  });
  const post = {
    method: "POST",
    path: "/bench",
    headers: { "content-type": "application/json" },
    body: new Uint8Array(benchBody(1024)),
  };
  const counted = (name: string, configuration: unknown) => ({
    name,
    module: filter.releaseWasm,
    rootId: filter.rootId,
    configuration,
    request: post,
  });
  return {
    groups: [group(1024, "full", true), group(64 * 1024, "short", false)],
    hostCalls: [
      counted("payload-validator (full, 1 KiB)", BENCH_CONFIG),
      counted("payload-validator (buffer only, 1 KiB)", BUFFER_ONLY_CONFIG),
    ],
    chain: { filters: () => [wasm("pv-full", filter.rootId, filter.releaseWasm, BENCH_CONFIG)] },
    goals,
  };
}
