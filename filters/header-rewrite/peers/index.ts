// header-rewrite against the peers an operator would pick instead (`npm run bench -- peers`,
// tools/bench/peers): Envoy's native header_mutation, Lua, the Go proxy-wasm SDK (go/) and C on the
// raw ABI (c/, the floor), on a direct_response route and once more through an upstream.
//
// Every variant does exactly this: set `x-graft: bench` on the request, remove `x-internal`, and
// add `x-graft-user: user=<x-user>` to the response, quoting a request header.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { FilterInfo } from "../../../src/filters/catalog.ts";
import { buildDir } from "../../../src/util/paths.ts";
import type { FilterPeers, PeerGroup } from "../../../tools/bench/peers/groups.ts";
import { addedCpu, f1, f2, type Goal, type PeerResults } from "../../../tools/bench/peers/report.ts";
import { lua, noFilter, wasm, type PeerBuild, type Variant } from "../../../tools/bench/peers/variants.ts";

/** The request every variant gets. */
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

const NATIVE_MUTATION = {
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
};

const here = import.meta.dirname;

/** The peers' modules, built by the harness from c/ and go/. */
export const peerWasm = {
  c: path.join(buildDir, "peers", "c-header-rewrite.wasm"),
  go: path.join(buildDir, "peers", "go-header-rewrite.wasm"),
};

const cBuild: PeerBuild = {
  output: peerWasm.c,
  sources: [path.join(here, "c", "filter.c"), path.join(here, "c", "build.sh")],
  build() {
    const result = spawnSync("sh", [path.join(here, "c", "build.sh"), peerWasm.c], { encoding: "utf8" });
    return result.status === 0
      ? null
      : `C peer not built (needs clang lld wasi-libc libclang-rt-14-dev-wasm32): ${result.stderr.trim()}`;
  },
};

const goBuild: PeerBuild = {
  output: peerWasm.go,
  sources: ["main.go", "go.mod", "go.sum"].map((file) => path.join(here, "go", file)),
  build() {
    mkdirSync(path.dirname(peerWasm.go), { recursive: true });
    const result = spawnSync("go", ["build", "-buildmode=c-shared", "-o", peerWasm.go, "."], {
      cwd: path.join(here, "go"),
      encoding: "utf8",
      env: { ...process.env, GOOS: "wasip1", GOARCH: "wasm", GOFLAGS: "-mod=readonly" },
      timeout: 300_000,
    });
    return result.status === 0
      ? null
      : `Go peer not built: ${(result.stderr ?? "").trim() || result.error?.message}`;
  },
};

/** Every variant of the rewrite, no filter first. */
export function rewriteVariants(filter: FilterInfo): Variant[] {
  return [
    noFilter(),
    { id: "native", label: "native header_mutation", kind: "native", filters: () => [NATIVE_MUTATION] },
    { id: "lua", label: "Lua", kind: "lua", filters: () => [lua(LUA_REWRITE)] },
    {
      id: "graft",
      label: "graft header-rewrite",
      kind: "graft",
      filters: () => [wasm(filter.name, filter.rootId, filter.releaseWasm, HEADER_REWRITE_CONFIG)],
    },
    {
      id: "go",
      label: "Go proxy-wasm SDK",
      kind: "go",
      filters: () => [wasm("go-header-rewrite", "", peerWasm.go, "")],
      build: goBuild,
    },
    {
      id: "c",
      label: "C, raw ABI (floor)",
      kind: "c",
      filters: () => [wasm("c-header-rewrite", "", peerWasm.c, "")],
      build: cBuild,
    },
  ];
}

function check(variant: Variant, status: number, headers: Headers): string | null {
  if (status !== 200) return `HTTP ${status}`;
  if (variant.kind !== "none" && headers.get("x-graft-user") !== "user=alice")
    return `x-graft-user is ${headers.get("x-graft-user")}, not user=alice`;
  return null;
}

function goals(results: PeerResults): Goal[] {
  const rewrite = results.groups.find((group) => group.id === "rewrite");
  if (!rewrite) return [];
  const graft = addedCpu(rewrite, "graft");
  const lua = addedCpu(rewrite, "lua");
  const c = addedCpu(rewrite, "c");
  return [
    {
      goal: "header-rewrite CPU added per request vs Lua",
      target: "≤ 0.7×",
      measured: `${f2(graft / lua)}× (graft +${f1(graft)} µs, Lua +${f1(lua)} µs)`,
      met: Number.isFinite(graft / lua) ? graft / lua <= 0.7 : null,
    },
    {
      goal: "header-rewrite CPU added per request vs the C floor",
      target: "≤ 1.3×",
      measured: `${f2(graft / c)}× (graft +${f1(graft)} µs, C +${f1(c)} µs)`,
      met: Number.isFinite(graft / c) ? graft / c <= 1.3 : null,
    },
  ];
}

export function peers(filter: FilterInfo): FilterPeers {
  const variants = rewriteVariants(filter);
  const request = { method: "GET", headers: REWRITE_REQUEST_HEADERS } as const;
  const group = (route: PeerGroup["route"]): PeerGroup => ({
    id: route === "direct" ? "rewrite" : "rewrite-upstream",
    title: route === "direct" ? "header rewrite, direct_response" : "header rewrite, through an upstream",
    route,
    rounds: route === "direct" ? "full" : "short",
    latency: true,
    request,
    variants,
    check,
  });
  const get = { path: "/bench", headers: REWRITE_REQUEST_HEADERS };
  return {
    groups: [group("direct"), group("upstream")],
    builds: [cBuild, goBuild],
    hostCalls: [
      {
        name: filter.name,
        module: filter.releaseWasm,
        rootId: filter.rootId,
        configuration: HEADER_REWRITE_CONFIG,
        request: get,
      },
      { name: "c-header-rewrite", module: peerWasm.c, rootId: "", configuration: "", request: get },
      {
        name: "go-header-rewrite",
        module: peerWasm.go,
        rootId: "",
        configuration: "",
        request: get,
        requests: 200,
        warmup: 50,
      },
    ],
    modules: [
      { name: "C header rewrite (peer)", file: peerWasm.c },
      { name: "Go header rewrite (peer)", file: peerWasm.go },
    ],
    sizeBreakdown: true,
    chain: {
      filters: () => [wasm(filter.name, filter.rootId, filter.releaseWasm, HEADER_REWRITE_CONFIG)],
      headers: REWRITE_REQUEST_HEADERS,
    },
    goals,
  };
}
