// Issue 18, point 2: the emulator treats a client's request headers as Envoy 1.40 does. Each case
// runs on the emulator and, as raw HTTP/1.1 bytes, through real Envoy in front of the echo upstream
// (with header-rewrite echoing the headers a filter sees), and both must agree.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { wasmHttpFilter } from "../../src/envoy/wasm-filter.ts";
import { Emulator, ManualClock } from "../../src/host/index.ts";
import { normalizeRequestHeaders, validReferer } from "../../src/host/normalize.ts";
import { HeaderMap } from "../../src/host/headers.ts";
import { builtWasm, startEnvoyFixture, type EnvoyFixture } from "../support/envoy-fixture.ts";

type Case = {
  name: string;
  headers: [string, string][];
  status: number;
  seen?: Record<string, string | null>;
};

const CASES: Case[] = [
  {
    name: "repeated inline headers are joined with ','; others stay apart",
    headers: [
      ["content-type", "a/b"],
      ["content-type", "c/d"],
      ["user-agent", "u1"],
      ["user-agent", "u2"],
      ["x-forwarded-for", "1.1.1.1"],
      ["x-forwarded-for", "2.2.2.2"],
      ["x-c", "1"],
      ["x-c", "2"],
    ],
    status: 200,
    seen: {
      "content-type": "a/b,c/d",
      "user-agent": "u1,u2",
      "x-forwarded-for": "1.1.1.1,2.2.2.2",
      "x-c": "1",
    },
  },
  {
    name: "an invalid Referer is dropped",
    headers: [["referer", "::not a url"]],
    status: 200,
    seen: { referer: null },
  },
  {
    name: "a Referer with a fragment is dropped",
    headers: [["referer", "http://a/b#f"]],
    status: 200,
    seen: { referer: null },
  },
  {
    name: "a relative Referer is kept",
    headers: [["referer", "relative/path"]],
    status: 200,
    seen: { referer: "relative/path" },
  },
  { name: "a control character: 400", headers: [["x-ctl", "a\u0001b"]], status: 400 },
  {
    name: "content-length twice: 400",
    headers: [
      ["content-length", "0"],
      ["content-length", "0"],
    ],
    status: 400,
  },
  {
    name: "101 headers: 431",
    headers: Array.from({ length: 101 }, (_, i) => [`x-h${i}`, "v"] as [string, string]),
    status: 431,
  },
  { name: "61 KiB of headers: 431", headers: [["x-big", "a".repeat(61 * 1024)]], status: 431 },
];

// header-rewrite copies what the filter sees of each header into x-seen-<name> on the response.
const NAMES = ["content-type", "user-agent", "x-forwarded-for", "x-c", "referer"];
const configuration = {
  injection_id: "parity",
  rules: [
    {
      name: "echo",
      response: NAMES.map((name) => ({
        op: "set",
        name: `x-seen-${name}`,
        value: `[\${request.header.${name}}]`,
      })),
    },
  ],
};

async function rawRequest(
  port: number,
  headers: [string, string][],
): Promise<{ status: number; head: string }> {
  const text =
    `GET /p HTTP/1.1\r\nhost: h\r\n` +
    headers.map(([n, v]) => `${n}: ${v}\r\n`).join("") +
    "connection: close\r\n\r\n";
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(Buffer.from(text, "latin1")));
    let out = "";
    socket.on("data", (chunk: Buffer) => (out += chunk.toString("latin1")));
    socket.on("end", () => resolve({ status: Number(out.split(" ")[1]), head: out.split("\r\n\r\n")[0]! }));
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
  });
}

function seenInHead(head: string, name: string): string | null {
  const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`x-seen-${name}:`));
  const value = line?.slice(line.indexOf(":") + 1).trim() ?? "[]";
  return value === "[]" ? null : value.slice(1, -1);
}

describe("emulator and Envoy agree on client header normalisation", () => {
  let fixture: EnvoyFixture | undefined;
  let emulator: Emulator;
  before(async () => {
    const wasm = builtWasm("header-rewrite.wasm");
    emulator = await Emulator.load({ module: wasm, rootId: "header-rewrite", configuration });
    fixture = await startEnvoyFixture(
      [wasmHttpFilter({ name: "header-rewrite", rootId: "header-rewrite", wasmPath: wasm, configuration })],
      { concurrency: 1 },
    );
  });
  after(async () => fixture?.stop());

  for (const c of CASES) {
    it(c.name, async () => {
      const port = Number(new URL(fixture!.url).port);
      const envoy = await rawRequest(port, c.headers);
      const emulated = emulator.request({ path: "/p", headers: c.headers });
      assert.equal(envoy.status, c.status, "Envoy");
      assert.equal(emulated.status, c.status, "emulator");
      for (const [name, expected] of Object.entries(c.seen ?? {})) {
        assert.equal(seenInHead(envoy.head, name), expected, `Envoy: ${name}`);
        const value = emulated.responseHeaders.get(`x-seen-${name}`) ?? "[]";
        assert.equal(value === "[]" ? null : value.slice(1, -1), expected, `emulator: ${name}`);
      }
    });
  }
});

describe("normalisation and the clock, on the emulator alone", () => {
  it("refuses before the filter runs: no callback, no metric", async () => {
    const emulator = await Emulator.load({
      module: builtWasm("header-rewrite.wasm"),
      rootId: "header-rewrite",
      configuration,
    });
    const result = emulator.request({
      path: "/",
      headers: [
        ["content-length", "1"],
        ["content-length", "1"],
      ],
    });
    assert.equal(result.outcome, "local_reply");
    assert.equal(result.details, "http1.content_length_not_allowed");
    assert.equal(
      [...emulator.stats().values()].reduce((a, b) => a + b, 0),
      0,
    );
  });

  it("Referer rules", () => {
    assert.equal(validReferer("https://example.com/a?b"), true);
    assert.equal(validReferer("/relative"), true);
    assert.equal(validReferer("http://a/b#f"), false);
    assert.equal(validReferer(""), false);
    const map = normalizeRequestHeaders(
      HeaderMap.from([
        ["accept", " x "],
        ["accept", "y"],
      ]),
    );
    assert.ok(map instanceof HeaderMap);
    assert.equal(map.get("accept"), "x,y");
  });

  it("the wall clock steps backwards; ticks run on the monotonic clock", () => {
    const clock = new ManualClock(1_000_000);
    clock.stepWall(-5000);
    assert.equal(clock.wall(), 995_000);
    assert.equal(clock.now(), 1_000_000);
    clock.advance(10);
    assert.equal(clock.wall(), 995_010);
    assert.throws(() => clock.stepWall(Number.NaN));
  });
});
