// The peer benchmark's Envoy side (tools/bench/peers): how it finds each filter's groups, that a
// group's bootstraps are ones Envoy 1.40 accepts, and the fixed-rate client keeping its rate and
// measuring from the scheduled send time. The groups here are made up; each filter's own are checked
// in filters/<name>/tests/peers*.test.ts.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import type { FilterInfo } from "../../src/filters/catalog.ts";
import { validatePeerBootstrap, validatePeerGroups } from "../../tools/bench/peers/envoy.ts";
import {
  discoverPeers,
  variantsOf,
  type FilterPeers,
  type PeerGroup,
} from "../../tools/bench/peers/groups.ts";
import { fixedRate, requestBytes } from "../../tools/bench/peers/load.ts";
import { lua, noFilter, type Variant } from "../../tools/bench/peers/variants.ts";

/** A made-up filter folder: its name, and a peers module's source (peers.ts, or peers/index.ts). */
async function madeUpFilter(
  root: string,
  name: string,
  source: string | null,
  file = "peers.ts",
): Promise<FilterInfo> {
  const dir = path.join(root, name);
  await mkdir(path.join(dir, path.dirname(file)), { recursive: true });
  if (source !== null) await writeFile(path.join(dir, file), source);
  return { name, dir } as FilterInfo;
}

/** A peers module declaring groups with these ids (no imports: it lives outside the repository). */
const peersSource = (...ids: string[]) =>
  `export function peers(filter) { return { groups: ${JSON.stringify(ids)}.map((id) => ({ id, title: filter.name + " " + id, route: "direct", rounds: "full", latency: false, request: { method: "GET", headers: {} }, variants: [] })) }; }\n`;

describe("peer groups", () => {
  it("are found through the filters' peers.ts or peers/index.ts, in the catalog's order", async () => {
    const root = await mkdtemp(path.join(tmpdir(), "graft-peers-found-"));
    try {
      const filters = [
        await madeUpFilter(root, "alpha", peersSource("a1", "a2")),
        await madeUpFilter(root, "beta", null),
        await madeUpFilter(root, "gamma", peersSource("g1"), path.join("peers", "index.ts")),
      ];
      const found = await discoverPeers(filters);
      assert.deepEqual(
        found.map(({ filter, peers }) => [filter.name, peers.groups.map((group) => group.title)]),
        [
          ["alpha", ["alpha a1", "alpha a2"]],
          ["gamma", ["gamma g1"]],
        ],
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("refuses a peers module without peers() and a group id taken twice", async () => {
    const root = await mkdtemp(path.join(tmpdir(), "graft-peers-refused-"));
    try {
      const bare = await madeUpFilter(root, "bare", "export const groups = [];\n");
      await assert.rejects(discoverPeers([bare]), /bare\/peers\.ts: export function peers/);
      const one = await madeUpFilter(root, "one", peersSource("shared"));
      const two = await madeUpFilter(root, "two", peersSource("shared"));
      await assert.rejects(discoverPeers([one, two]), /group id "shared" is taken by one/);
      const memory = await madeUpFilter(root, "three", peersSource("memory"));
      await assert.rejects(discoverPeers([memory]), /group id "memory" is taken by the harness/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("pick their variants from the run when they depend on it, and need a no-filter variant", async () => {
    const notes: string[] = [];
    const group: PeerGroup = {
      id: "made-up",
      title: "made-up",
      route: "direct",
      rounds: "full",
      latency: false,
      request: { method: "GET", headers: {} },
      variants: async (context) => {
        const rate = await context.noFilterSaturation();
        context.note(`probed ${rate}`);
        return [noFilter(), { id: `at-${rate / 5}`, label: "fifth", kind: "native", filters: () => [] }];
      },
    };
    const variants = await variantsOf(group, {
      noFilterSaturation: async () => 5000,
      note: (t) => notes.push(t),
    });
    assert.deepEqual(
      variants.map((v) => v.id),
      ["none", "at-1000"],
    );
    assert.deepEqual(notes, ["probed 5000"]);
    await assert.rejects(
      variantsOf(
        { ...group, variants: variants.slice(1) },
        { noFilterSaturation: async () => 0, note: () => {} },
      ),
      /group made-up: no "none" variant/,
    );
  });
});

// The peers every filter's module declares are checked by that filter's tests; these are made up.
const MADE_UP: Variant[] = [
  noFilter(),
  {
    id: "native",
    label: "native buffer",
    kind: "native",
    filters: () => [
      {
        name: "envoy.filters.http.buffer",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
          max_request_bytes: 1 << 20,
        },
      },
    ],
  },
  {
    id: "lua",
    label: "Lua",
    kind: "lua",
    filters: () => [lua('function envoy_on_request(h) h:headers():add("x-made-up", "1") end')],
  },
];

describe("peer benchmark bootstraps", () => {
  it("are accepted by Envoy for every variant of a group, direct and through an upstream", async () => {
    const peers: FilterPeers = {
      groups: (["direct", "upstream"] as const).map((route) => ({
        id: `made-up-${route}`,
        title: route,
        route,
        rounds: "full",
        latency: false,
        request: { method: "GET", headers: {} },
        variants: MADE_UP,
      })),
      chain: { filters: () => MADE_UP.flatMap((variant) => variant.filters()) },
    };
    assert.deepEqual(await validatePeerGroups(peers), [
      "made-up-direct/none",
      "made-up-direct/native",
      "made-up-direct/lua",
      "made-up-upstream/none",
      "made-up-upstream/native",
      "made-up-upstream/lua",
      "chain",
    ]);
  });

  it("leave out a variant whose peer is not built", async () => {
    const unbuilt: Variant = {
      id: "c",
      label: "C",
      kind: "c",
      filters: () => [],
      build: {
        output: path.join(tmpdir(), "graft-no-such-peer.wasm"),
        sources: [],
        build: () => "not built",
      },
    };
    const peers: FilterPeers = {
      groups: [
        {
          id: "made-up",
          title: "made-up",
          route: "direct",
          rounds: "full",
          latency: false,
          request: { method: "GET", headers: {} },
          variants: [noFilter(), unbuilt],
        },
      ],
    };
    assert.deepEqual(await validatePeerGroups(peers), ["made-up/none"]);
  });

  it("of every filter's memory chain entry, in one chain, are accepted by Envoy", async (t) => {
    const found = await discoverPeers();
    const missing = found.filter(({ filter }) => !existsSync(filter.releaseWasm));
    if (missing.length > 0) return t.skip("run npm run build first");
    const chain = found.flatMap(({ peers }) => peers.chain?.filters() ?? []);
    assert.ok(chain.length > 0);
    await validatePeerBootstrap({ label: "chain", filters: chain, route: { kind: "direct" } });
  });
});

describe("fixed-rate client", () => {
  it("writes a request with its headers and body", () => {
    const bytes = requestBytes("http://127.0.0.1:8080/a?b=1", {
      method: "POST",
      headers: { "x-user": "alice" },
      body: Buffer.from("{}"),
    }).toString();
    assert.equal(
      bytes,
      "POST /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-user: alice\r\ncontent-length: 2\r\n\r\n{}",
    );
  });

  it("sends at the rate asked, counts statuses, and measures latency from the scheduled time", async () => {
    let served = 0;
    const server = http.createServer((request, response) => {
      served++;
      request.resume();
      const status = served % 10 === 0 ? 503 : 200;
      // A slow answer now and then: its latency must show in the tail.
      setTimeout(
        () => response.writeHead(status, { "content-length": "2" }).end("ok"),
        served % 50 === 0 ? 30 : 0,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const result = await fixedRate(
        `http://127.0.0.1:${port}/`,
        { method: "GET", headers: {} },
        { rate: 400, seconds: 1, connections: 4 },
      );
      assert.equal(result.sent, 400);
      assert.equal(result.completed, 400);
      assert.equal(result.non2xx, 40);
      assert.equal(result.errors, 0);
      assert.ok(
        result.p50 > 0 && result.p50 <= result.p90 && result.p90 <= result.p99 && result.p99 <= result.max,
      );
      assert.ok(result.max >= 30_000, `a 30 ms answer shows in the maximum (${result.max} µs)`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
