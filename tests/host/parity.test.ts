// Issue 18, point 2: the emulator treats a client's request headers as Envoy 1.40 does. Each case
// runs on the emulator and, as raw HTTP/1.1 bytes, through real Envoy in front of the echo upstream
// (with the header-echo probe, tests/host/header-echo, showing the headers a filter sees), and both
// must agree.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { wasmHttpFilter } from "../../src/envoy/wasm-filter.ts";
import { Emulator, ManualClock } from "../../src/host/index.ts";
import { normalizeRequestHeaders, validReferer } from "../../src/host/normalize.ts";
import { HeaderMap } from "../../src/host/headers.ts";
import { startEnvoyFixture, type EnvoyFixture } from "../support/envoy-fixture.ts";
import { HEADER_ECHO, headerEchoWasm } from "./support.ts";

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
  {
    name: "joining skips empty values; Referer is joined, then judged; an empty Referer stays",
    headers: [
      ["user-agent", ""],
      ["user-agent", "u1"],
      ["user-agent", ""],
      ["user-agent", "u2"],
      ["referer", "a"],
      ["referer", "b/c"],
    ],
    status: 200,
    seen: { "user-agent": "u1,u2", referer: "a,b/c" },
  },
  {
    name: "a joined Referer with a '{' is dropped whole",
    headers: [
      ["referer", "alice"],
      ["referer", "${x}"],
    ],
    status: 200,
    seen: { referer: null },
  },
  {
    name: "a Referer with a byte above 0x7e is dropped",
    headers: [["referer", "a\u00e9"]],
    status: 200,
    seen: { referer: null },
  },
  {
    name: "100 headers with Host: 431; 101 joined ones are one entry",
    headers: Array.from({ length: 100 }, () => ["x-c", "v"] as [string, string]),
    status: 431,
  },
  {
    name: "101 user-agent headers join into one: 200",
    headers: Array.from({ length: 101 }, () => ["user-agent", "v"] as [string, string]),
    status: 200,
    seen: { "user-agent": Array.from({ length: 101 }, () => "v").join(",") },
  },
  {
    name: "a control character wins over too many headers: 400",
    headers: [
      ...Array.from({ length: 100 }, (_, i) => [`x-h${i}`, "v"] as [string, string]),
      ["x-ctl", "a\u0001b"],
    ],
    status: 400,
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

// header-echo copies what the filter sees of each header into x-seen-<name>: [<value>] on the response.
const NAMES = ["content-type", "user-agent", "x-forwarded-for", "x-c", "referer"];
const configuration = { injection_id: "parity", echo: NAMES };

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
    const wasm = await headerEchoWasm();
    emulator = await Emulator.load({ module: wasm, rootId: HEADER_ECHO, configuration });
    fixture = await startEnvoyFixture(
      [wasmHttpFilter({ name: HEADER_ECHO, rootId: HEADER_ECHO, wasmPath: wasm, configuration })],
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

// Issue 18: header values are bytes. A raw byte (not UTF-8) flows through header-echo, which
// quotes the header into a request and a response header; the emulator hands the module the same
// bytes Envoy does and the client gets the same bytes back from both.
describe("a raw byte in a header value, quoted by a filter, on the emulator and Envoy", () => {
  const rawConfiguration = { injection_id: "raw", quote: "x-raw" };
  let fixture: EnvoyFixture | undefined;
  let wasm = "";
  before(async () => {
    wasm = await headerEchoWasm();
    fixture = await startEnvoyFixture(
      [
        wasmHttpFilter({
          name: HEADER_ECHO,
          rootId: HEADER_ECHO,
          wasmPath: wasm,
          configuration: rawConfiguration,
        }),
      ],
      { concurrency: 1 },
    );
  });
  after(async () => fixture?.stop());

  for (const bytes of [[0xe9], [0xff, 0x80, 0x41], [0xc3, 0xa9], [0xf0, 0x9f, 0x98]]) {
    const value = Buffer.from(bytes).toString("latin1");
    it(`bytes ${Buffer.from(bytes).toString("hex")}`, async () => {
      const emulator = await Emulator.load({
        module: wasm,
        rootId: HEADER_ECHO,
        configuration: rawConfiguration,
      });
      const port = Number(new URL(fixture!.url).port);
      const envoy = await rawRequest(port, [["x-raw", value]]);
      assert.equal(envoy.status, 200);
      // The Uint8Array form and the byte-string form are the same request.
      const emulated = emulator.request({ path: "/p", headers: [["x-raw", Uint8Array.from(bytes)]] });
      const line = envoy.head.split("\r\n").find((l) => l.startsWith("x-quoted:"));
      const envoyQuoted = Buffer.from(line!.slice("x-quoted:".length).trim(), "latin1");
      const emulatorQuoted = Buffer.from(emulated.responseHeaders.getBytes("x-quoted")!);
      assert.equal(emulatorQuoted.toString("hex"), envoyQuoted.toString("hex"));
      // Upstream: the raw header arrives unchanged, and the quoted copy as the filter wrote it.
      const echoed = fixture!.echo.received.at(-1)!;
      assert.equal(emulated.upstreamRequest!.headers.get("x-raw"), value);
      assert.equal(echoed.headers["x-raw"], value);
      assert.equal(emulated.upstreamRequest!.headers.get("x-quoted-up"), echoed.headers["x-quoted-up"]);
    });
  }

  it("the header map is byte-exact: latin1 strings, bytes, and text above U+00FF as UTF-8", () => {
    const map = HeaderMap.from([
      ["a", "\u00e9"],
      ["b", Uint8Array.from([0xe9])],
      ["c", "\u20ac"],
    ]);
    assert.deepEqual([...map.getBytes("a")!], [0xe9]);
    assert.deepEqual([...map.getBytes("b")!], [0xe9]);
    assert.deepEqual([...map.getBytes("c")!], [0xe2, 0x82, 0xac]);
    assert.equal(map.getText("c"), "\u20ac");
    assert.equal(map.byteSize(), 3 + 1 + 1 + 3);
  });
});

describe("normalisation and the clock, on the emulator alone", () => {
  it("refuses before the filter runs: no callback, no metric", async () => {
    const emulator = await Emulator.load({
      module: await headerEchoWasm(),
      rootId: HEADER_ECHO,
      configuration,
    });
    const counted = () => [...emulator.stats().values()].reduce((a, b) => a + b, 0);
    const result = emulator.request({
      path: "/",
      headers: [
        ["content-length", "1"],
        ["content-length", "1"],
      ],
    });
    assert.equal(result.outcome, "local_reply");
    assert.equal(result.details, "http1.content_length_not_allowed");
    assert.equal(counted(), 0);
    // The same probe counts a request it does see: the zero above is the refusal, not a silent filter.
    assert.equal(emulator.request({ path: "/" }).status, 200);
    assert.equal(counted(), 1);
  });

  it("Referer rules", () => {
    assert.equal(validReferer("https://example.com/a?b"), true);
    assert.equal(validReferer("/relative"), true);
    assert.equal(validReferer("http://a/b#f"), false);
    // Envoy keeps an empty Referer (a relative reference with no characters), as the differential showed.
    assert.equal(validReferer(""), true);
    assert.equal(validReferer("${jndi:x}"), false);
    assert.equal(validReferer("a,b/c:d"), true);
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
