// payload-validator in real Envoy 1.40: every rejection reason as RFC 9457 problem+json, each schema
// keyword passing and failing, bodies as Envoy delivers them (many chunks, chunked encoding, HTTP/2
// with trailers), byte-identical pass-through, 413 before the body is complete, monitor mode,
// metrics, and configurations Envoy refuses.
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { startEnvoy, type RunningEnvoy } from "../../../src/envoy/runtime.ts";
import { wasmHttpFilter } from "../../../src/envoy/wasm-filter.ts";
import { taggedStatName } from "../../../src/metrics/tags.ts";
import { EchoUpstream, type EchoedRequest } from "../../../src/upstream/echo.ts";
import { RUNTIMES } from "../../../tests/support/runtimes.ts";
import { assertRefusedByEnvoy, builtWasm, withEnvoyLog } from "../../../tests/support/envoy-fixture.ts";

const SCHEMA = {
  type: "object",
  required: ["id"],
  additionalProperties: false,
  maxProperties: 12,
  properties: {
    id: { type: "integer", minimum: 1, maximum: 1000000 },
    name: { type: "string", minLength: 2, maxLength: 8 },
    kind: { enum: ["book", "pen"] },
    version: { const: 2 },
    price: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1000 },
    tags: { type: "array", minItems: 1, maxItems: 3, items: { type: "string" } },
    items: { type: "array", items: { type: "object", properties: { price: { type: "number" } } } },
    flag: { type: "boolean" },
    note: { type: ["string", "null"] },
    meta: { type: "object", maxProperties: 2 },
    text: { type: "string" },
  },
};

const MAX_BODY_BYTES = 4096;

function configuration(mode: "enforce" | "monitor", injection: string) {
  return {
    injection_id: injection,
    mode,
    max_body_bytes: MAX_BODY_BYTES,
    content_types: ["application/json"],
    body_required_methods: ["POST", "PUT"],
    body_forbidden_methods: ["GET", "DELETE"],
    json: {
      max_depth: 6,
      reject_duplicate_keys: true,
      forbidden_keys: ["__proto__", "constructor"],
      schema: SCHEMA,
    },
    deny: [
      { in: "header", name: "user-agent", contains: "${jndi:" },
      { in: "query", contains: "${jndi:" },
      { in: "body", contains: "${jndi:" },
    ],
  };
}

function payloadValidator(name: string, config: unknown) {
  return wasmHttpFilter({
    name,
    rootId: "payload-validator",
    wasmPath: builtWasm("payload-validator.wasm"),
    configuration: config,
  });
}

const stat = (base: string, injection: string, reason?: string) =>
  taggedStatName(`graft.${base}`, {
    filter: "payload-validator",
    injection,
    ...(reason ? { reason } : {}),
  });

/** A valid body with unicode, escapes and uneven whitespace: it must reach the upstream unchanged. */
const VALID_BODY =
  '{ "id": 7,\n  "name":"Zo\\u00eb ✓", "kind" : "book", "version":2, "price":12.5,\t"tags":["a","b"],\r\n' +
  ' "items":[{"price":1},{"price":2e1}], "flag":true, "note":null, "meta":{"x":[1,{"y":"z"}]} }\n';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface RawOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  parts: (string | Buffer)[];
  delayMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One HTTP/1.1 request written in parts with pauses (chunked encoding unless a content-length is
 * given). Stops writing when the answer arrives early.
 */
function rawRequest(base: string, options: RawOptions): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? "POST",
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    void (async () => {
      for (const part of options.parts) {
        if (answered) return;
        request.write(part);
        if (options.delayMs) await sleep(options.delayMs);
      }
      if (!answered) request.end();
    })();
  });
}

/** One HTTP/2 (h2c, prior knowledge) request in parts, with trailers when given. */
function h2Request(
  base: string,
  headers: Record<string, string>,
  parts: string[],
  trailers?: Record<string, string>,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const client = http2.connect(base);
    client.on("error", reject);
    const stream = client.request(
      { ":method": "POST", ...headers },
      { endStream: false, waitForTrailers: trailers !== undefined },
    );
    if (trailers) stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    let status = 0;
    let responseHeaders: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = h;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (error) => {
      if (status === 0) reject(error);
    });
    stream.on("close", () => {
      client.close();
      if (status === 0) reject(new Error("HTTP/2 stream closed without a response"));
      else resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString("utf8") });
    });
    void (async () => {
      for (const part of parts) {
        if (status !== 0) return;
        stream.write(part);
        await sleep(20);
      }
      if (status === 0) stream.end();
    })();
  });
}

async function fetchReply(url: string, init: RequestInit): Promise<Reply> {
  const response = await fetch(url, init);
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: await response.text(),
  };
}

function upstreamSaw(reply: Reply): EchoedRequest {
  assert.equal(reply.status, 200, reply.body);
  return JSON.parse(reply.body) as EchoedRequest;
}

function assertProblem(reply: Reply, status: number, reason: string, detail?: string | RegExp): void {
  assert.equal(reply.status, status, reply.body);
  assert.equal(reply.headers["content-type"], "application/problem+json");
  const problem = JSON.parse(reply.body) as Record<string, unknown>;
  assert.equal(problem.type, `https://graft.dev/problems/${reason}`);
  assert.equal(problem.status, status);
  assert.equal(problem.reason, reason);
  assert.equal(typeof problem.title, "string");
  assert.equal(typeof problem.detail, "string");
  if (typeof detail === "string") assert.equal(problem.detail, detail);
  else if (detail) assert.match(problem.detail as string, detail);
}

interface Fixture {
  envoy: RunningEnvoy;
  echo: EchoUpstream;
  enforce: string;
  monitor: string;
}

const JSON_HEADERS = { "content-type": "application/json" };

/** Each keyword: a body that passes and one that fails with its detail. */
const KEYWORD_CASES: { keyword: string; pass: unknown; fail: unknown; detail: string }[] = [
  {
    keyword: "type",
    pass: { id: 1, flag: true },
    fail: { id: 1, flag: "yes" },
    detail: "/flag: expected boolean, got string",
  },
  {
    keyword: "type integer",
    pass: { id: 5 },
    fail: { id: 5.5 },
    detail: "/id: expected integer, got number",
  },
  {
    keyword: "type list",
    pass: { id: 1, note: null },
    fail: { id: 1, note: 5 },
    detail: "/note: expected null or string, got integer",
  },
  {
    keyword: "properties (nested)",
    pass: { id: 1, items: [{ price: 1 }] },
    fail: { id: 1, items: [{}, {}, {}, { price: "9" }] },
    detail: "/items/3/price: expected number, got string",
  },
  { keyword: "required", pass: { id: 1 }, fail: { name: "ab" }, detail: '/: missing required property "id"' },
  {
    keyword: "additionalProperties",
    pass: { id: 1 },
    fail: { id: 1, extra: 1 },
    detail: "/extra: property not allowed",
  },
  {
    keyword: "items",
    pass: { id: 1, tags: ["a"] },
    fail: { id: 1, tags: [1] },
    detail: "/tags/0: expected string, got integer",
  },
  {
    keyword: "enum",
    pass: { id: 1, kind: "pen" },
    fail: { id: 1, kind: "car" },
    detail: "/kind: not one of the allowed values",
  },
  {
    keyword: "const",
    pass: { id: 1, version: 2 },
    fail: { id: 1, version: 3 },
    detail: "/version: not the constant value",
  },
  {
    keyword: "minLength",
    pass: { id: 1, name: "ab" },
    fail: { id: 1, name: "a" },
    detail: "/name: shorter than 2 characters",
  },
  {
    keyword: "maxLength",
    pass: { id: 1, name: "abcdefgh" },
    fail: { id: 1, name: "abcdefghi" },
    detail: "/name: longer than 8 characters",
  },
  { keyword: "minimum", pass: { id: 1 }, fail: { id: 0 }, detail: "/id: less than minimum 1" },
  {
    keyword: "maximum",
    pass: { id: 1000000 },
    fail: { id: 1000001 },
    detail: "/id: greater than maximum 1000000",
  },
  {
    keyword: "exclusiveMinimum",
    pass: { id: 1, price: 0.01 },
    fail: { id: 1, price: 0 },
    detail: "/price: not greater than exclusiveMinimum 0",
  },
  {
    keyword: "exclusiveMaximum",
    pass: { id: 1, price: 999.99 },
    fail: { id: 1, price: 1000 },
    detail: "/price: not less than exclusiveMaximum 1000",
  },
  {
    keyword: "minItems",
    pass: { id: 1, tags: ["a"] },
    fail: { id: 1, tags: [] },
    detail: "/tags: fewer than 1 items",
  },
  {
    keyword: "maxItems",
    pass: { id: 1, tags: ["a", "b", "c"] },
    fail: { id: 1, tags: ["a", "b", "c", "d"] },
    detail: "/tags: more than 3 items",
  },
  {
    keyword: "maxProperties",
    pass: { id: 1, meta: { a: 1, b: 2 } },
    fail: { id: 1, meta: { a: 1, b: 2, c: 3 } },
    detail: "/meta: more than 2 properties",
  },
];

for (const { runtime, skip } of RUNTIMES)
  for (const concurrency of [1, 2]) {
    describe(`payload-validator in Envoy (${runtime}) with --concurrency ${concurrency}`, { skip }, () => {
      let fixture: Fixture | undefined;
      before(async () => {
        const echo = await EchoUpstream.start();
        try {
          const envoy = await startEnvoy(runtime, {
            concurrency,
            upstream: { host: "127.0.0.1", port: echo.port },
            listeners: [
              {
                name: "enforce",
                httpFilters: [payloadValidator("pv-enforce", configuration("enforce", "pv-enforce"))],
              },
              {
                name: "monitor",
                httpFilters: [payloadValidator("pv-monitor", configuration("monitor", "pv-monitor"))],
              },
            ],
          });
          fixture = {
            envoy,
            echo,
            enforce: await envoy.listenerUrl("enforce"),
            monitor: await envoy.listenerUrl("monitor"),
          };
        } catch (error) {
          await echo.stop();
          throw error;
        }
      });
      after(async () => {
        await fixture?.envoy.stop();
        await fixture?.echo.stop();
      });
      const run = (body: (f: Fixture) => Promise<void>) =>
        withEnvoyLog(
          () => fixture,
          () => body(fixture!),
        );

      it(
        "passes a valid body to the upstream byte for byte, whatever the content-type's case and parameters",
        run(async (f) => {
          for (const contentType of ["application/json", "Application/JSON; charset=UTF-8"]) {
            const reply = await fetchReply(`${f.enforce}/orders`, {
              method: "POST",
              headers: { "content-type": contentType },
              body: VALID_BODY,
            });
            assert.equal(upstreamSaw(reply).bodyBase64, Buffer.from(VALID_BODY).toString("base64"));
          }
          const get = await fetchReply(`${f.enforce}/orders?id=7`, {});
          assert.equal(upstreamSaw(get).bodyBase64, "");
        }),
      );

      it(
        "judges a valid body the same after a malformed one on the same worker (no state survives a request)",
        run(async (f) => {
          // The escape sends the string down the byte-by-byte path, where a UTF-8 bound left by the
          // malformed body (cut after the lead byte E0) used to refuse the euro sign: a client could
          // make every later request on its worker fail.
          const valid = '{"id":1,"note":"\\u0041€"}';
          const poison = Buffer.concat([Buffer.from('{"id":1,"note":"'), Buffer.from([0xe0])]);
          assert.equal(
            upstreamSaw(
              await fetchReply(`${f.enforce}/p`, { method: "POST", headers: JSON_HEADERS, body: valid }),
            ).bodyBase64,
            Buffer.from(valid).toString("base64"),
          );
          for (let round = 0; round < 3; round++) {
            assertProblem(
              await fetchReply(`${f.enforce}/p`, { method: "POST", headers: JSON_HEADERS, body: poison }),
              400,
              "invalid_json",
            );
            const whole = await fetchReply(`${f.enforce}/p`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: valid,
            });
            assert.equal(whole.status, 200, `round ${round}: ${whole.body}`);
            // The same body with the euro sign split across body callbacks.
            const bytes = Buffer.from(valid);
            const split = bytes.indexOf(0xe2) + 1;
            const parts = await rawRequest(f.enforce, {
              path: "/p",
              headers: { ...JSON_HEADERS, "transfer-encoding": "chunked" },
              parts: [bytes.subarray(0, split), bytes.subarray(split)],
              delayMs: 30,
            });
            assert.equal(parts.status, 200, `round ${round}, split body: ${parts.body}`);
          }
        }),
      );

      it(
        "rejects for every reason with an application/problem+json body",
        run(async (f) => {
          const big = JSON.stringify({ id: 1, text: "x".repeat(MAX_BODY_BYTES) });
          assertProblem(
            await fetchReply(`${f.enforce}/r/large`, { method: "POST", headers: JSON_HEADERS, body: big }),
            413,
            "body_too_large",
            `content-length ${big.length} exceeds the limit of ${MAX_BODY_BYTES} bytes`,
          );
          assertProblem(
            await fetchReply(`${f.enforce}/r/type`, {
              method: "POST",
              headers: { "content-type": "text/plain" },
              body: "{}",
            }),
            415,
            "unsupported_media_type",
            "content-type text/plain is not allowed",
          );
          assertProblem(
            await fetchReply(`${f.enforce}/r/required`, { method: "PUT" }),
            400,
            "body_required",
            "PUT requires a request body",
          );
          // A content-length is refused at the headers; a chunked body at its first byte.
          const framings: Record<string, string>[] = [
            { "content-length": "8" },
            { "transfer-encoding": "chunked" },
          ];
          for (const framing of framings) {
            assertProblem(
              await rawRequest(f.enforce, {
                method: "GET",
                path: "/r/forbidden",
                headers: { ...JSON_HEADERS, ...framing },
                parts: ['{"id":1}'],
              }),
              400,
              "body_forbidden",
              "GET must not carry a request body",
            );
          }
          assertProblem(
            await fetchReply(`${f.enforce}/r/json`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: '{"id":1,}',
            }),
            400,
            "invalid_json",
            "/: unexpected character at byte 8",
          );
          assertProblem(
            await fetchReply(`${f.enforce}/r/schema`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: '{"id":"1"}',
            }),
            422,
            "schema",
            "/id: expected integer, got string",
          );
          assertProblem(
            await fetchReply(`${f.enforce}/r/denied-header`, {
              headers: { "user-agent": "x ${JNDI:ldap://e/a}" },
            }),
            403,
            "denied",
            "header user-agent matches deny rule 0",
          );
          assertProblem(
            await fetchReply(`${f.enforce}/r/denied-query?q=%24%7Bjndi%3Aldap://e/a%7D`, {}),
            403,
            "denied",
            "query matches deny rule 1",
          );
          assertProblem(
            await fetchReply(`${f.enforce}/r/denied-body`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: '{"id":1,"text":"${jndi:ldap://e/a}"}',
            }),
            403,
            "denied",
            "body matches deny rule 2",
          );
          // An escaped pattern is caught in the decoded string.
          assertProblem(
            await fetchReply(`${f.enforce}/r/denied-escaped`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: '{"id":1,"text":"\\u0024{jndi:ldap://e/a}"}',
            }),
            403,
            "denied",
            "/text: body matches deny rule 2",
          );
          const reachedUpstream = f.echo.received.filter((r) => r.path.startsWith("/r/"));
          assert.deepEqual(reachedUpstream, [], "no rejected request reaches the upstream complete");
        }),
      );

      it(
        "quotes at most 32 characters of client input, JSON-escaped",
        run(async (f) => {
          // Decoded, the key ends in a quote and a newline: the detail must escape them.
          const key = `${"z".repeat(60)}\\"q\\n`;
          const reply = await fetchReply(`${f.enforce}/long`, {
            method: "POST",
            headers: JSON_HEADERS,
            body: `{"id":1,"${key}":1}`,
          });
          assertProblem(reply, 422, "schema");
          const detail = (JSON.parse(reply.body) as { detail: string }).detail;
          assert.equal(detail, `…${"z".repeat(28)}"q\n: property not allowed`);
          const typeReply = await fetchReply(`${f.enforce}/long-type`, {
            method: "POST",
            headers: { "content-type": `text/${"q".repeat(80)}` },
            body: "x",
          });
          assertProblem(
            typeReply,
            415,
            "unsupported_media_type",
            `content-type text/${"q".repeat(26)}… is not allowed`,
          );
        }),
      );

      it(
        "checks each schema keyword: one passing and one failing request each",
        run(async (f) => {
          for (const { keyword, pass, fail, detail } of KEYWORD_CASES) {
            const ok = await fetchReply(`${f.enforce}/kw`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: JSON.stringify(pass),
            });
            assert.equal(ok.status, 200, `${keyword} should pass: ${ok.body}`);
            const bad = await fetchReply(`${f.enforce}/kw`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: JSON.stringify(fail),
            });
            assertProblem(bad, 422, "schema", detail);
          }
        }),
      );

      it(
        "applies max_depth, reject_duplicate_keys and forbidden_keys",
        run(async (f) => {
          const post = (body: string) =>
            fetchReply(`${f.enforce}/opts`, { method: "POST", headers: JSON_HEADERS, body });
          // Six levels are allowed: the root, meta and four arrays.
          assert.equal((await post('{"id":1,"meta":{"a":[[[[1]]]]}}')).status, 200);
          assertProblem(
            await post('{"id":1,"meta":{"a":[[[[[1]]]]]}}'),
            400,
            "invalid_json",
            "/meta/a/0/0/0/0: nesting deeper than the limit at byte 24",
          );
          assertProblem(await post('{"id":1,"id":2}'), 400, "invalid_json", "/id: duplicate key at byte 11");
          assertProblem(
            await post('{"id":1,"meta":{"__proto__":{}}}'),
            422,
            "schema",
            "/meta/__proto__: forbidden key",
          );
          assertProblem(
            await post('{"id":1,"meta":{"constructor":1}}'),
            422,
            "schema",
            "/meta/constructor: forbidden key",
          );
        }),
      );

      it(
        "validates bodies written in many parts, with chunked encoding and with a content-length",
        run(async (f) => {
          const parts = VALID_BODY.match(/[\s\S]{1,17}/g)!;
          assert.ok(parts.length >= 8);
          const chunked = await rawRequest(f.enforce, {
            path: "/chunked",
            headers: JSON_HEADERS,
            parts,
            delayMs: 15,
          });
          const upstream = upstreamSaw(chunked);
          assert.equal(upstream.headers["transfer-encoding"], "chunked");
          assert.equal(upstream.bodyBase64, Buffer.from(VALID_BODY).toString("base64"));

          const length = await rawRequest(f.enforce, {
            path: "/length",
            headers: { ...JSON_HEADERS, "content-length": String(Buffer.byteLength(VALID_BODY)) },
            parts,
            delayMs: 15,
          });
          assert.equal(upstreamSaw(length).bodyBase64, Buffer.from(VALID_BODY).toString("base64"));

          const invalid = '{"id":1,"items":[{"price":1},{"price":2},{"price":3},{"price":"4"}]}';
          assertProblem(
            await rawRequest(f.enforce, {
              path: "/chunked-bad",
              headers: JSON_HEADERS,
              parts: invalid.match(/.{1,5}/g)!,
              delayMs: 10,
            }),
            422,
            "schema",
            "/items/3/price: expected number, got string",
          );
          // The deny pattern is split across writes.
          assertProblem(
            await rawRequest(f.enforce, {
              path: "/chunked-deny",
              headers: JSON_HEADERS,
              parts: ['{"id":1,"text":"$', "{jn", 'di:ldap://x"}'],
              delayMs: 20,
            }),
            403,
            "denied",
            "body matches deny rule 2",
          );
        }),
      );

      it(
        "answers 413 as soon as the body passes max_body_bytes, before the client has sent it all",
        run(async (f) => {
          const url = new URL(f.enforce);
          let ended = false;
          const reply = await new Promise<Reply>((resolve, reject) => {
            const request = http.request(
              {
                host: url.hostname,
                port: url.port,
                method: "POST",
                path: "/stream-large",
                headers: JSON_HEADERS,
                agent: false,
              },
              (response) => {
                const chunks: Buffer[] = [];
                response.on("data", (chunk: Buffer) => chunks.push(chunk));
                response.on("end", () => {
                  resolve({
                    status: response.statusCode ?? 0,
                    headers: response.headers,
                    body: Buffer.concat(chunks).toString(),
                  });
                  request.destroy();
                });
              },
            );
            request.on("error", (error) => reject(error));
            request.write('{"id":1,"text":"' + "a".repeat(3000));
            setTimeout(() => request.write("b".repeat(3000)), 50);
            // The rest would follow much later; the answer must not wait for it.
            setTimeout(() => {
              ended = true;
              request.end('"}');
            }, 5000);
          });
          assert.equal(ended, false, "the 413 came before the body was complete");
          assertProblem(reply, 413, "body_too_large", `body exceeds the limit of ${MAX_BODY_BYTES} bytes`);
        }),
      );

      it(
        "finishes HTTP/2 requests whose end of stream comes with trailers",
        run(async (f) => {
          const parts = VALID_BODY.match(/[\s\S]{1,40}/g)!;
          const ok = await h2Request(f.enforce, { ":path": "/h2", ...JSON_HEADERS }, parts, {
            "x-checksum": "abc",
          });
          assert.equal(upstreamSaw(ok).bodyBase64, Buffer.from(VALID_BODY).toString("base64"));
          const bad = await h2Request(
            f.enforce,
            { ":path": "/h2-bad", ...JSON_HEADERS },
            ['{"id":1,', '"kind":"car"}'],
            {
              "x-checksum": "abc",
            },
          );
          assertProblem(bad, 422, "schema", "/kind: not one of the allowed values");
          // A document cut short is only known at the trailers.
          const cut = await h2Request(
            f.enforce,
            { ":path": "/h2-cut", ...JSON_HEADERS },
            ['{"id":1', ',"name":"ab"'],
            {
              "x-checksum": "abc",
            },
          );
          assertProblem(cut, 400, "invalid_json", "/name: unexpected end of input at byte 19");
          const plain = await h2Request(f.enforce, { ":path": "/h2-plain", ...JSON_HEADERS }, parts);
          assert.equal(upstreamSaw(plain).bodyBase64, Buffer.from(VALID_BODY).toString("base64"));
        }),
      );

      it(
        "counts validated requests, rejections by reason and body sizes",
        run(async (f) => {
          // Histograms reach the admin API at a stats flush (every 1 s), merged over the workers:
          // wait until a flush has taken in all 8 bodies sent by this test.
          const bodyCount = (text: string) =>
            Number(
              text
                .split("\n")
                .find((l) => l.startsWith("graft_body_bytes_count{") && l.includes('injection="pv-enforce"'))
                ?.split(" ")
                .at(-1) ?? 0,
            );
          const bodiesBefore = bodyCount(await f.envoy.admin.prometheus());
          const before = (await f.envoy.stats("graft")).values;
          const valid = before.get(stat("validated_total", "pv-enforce")) ?? 0;
          const schema = before.get(stat("rejected_total", "pv-enforce", "schema")) ?? 0;
          for (let i = 0; i < 5; i++) {
            await fetchReply(`${f.enforce}/count`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: VALID_BODY,
            });
          }
          for (let i = 0; i < 3; i++) {
            await fetchReply(`${f.enforce}/count`, {
              method: "POST",
              headers: JSON_HEADERS,
              body: '{"id":true}',
            });
          }
          const after = await f.envoy.stats("graft");
          assert.equal(after.values.get(stat("validated_total", "pv-enforce")), valid + 5);
          assert.equal(after.values.get(stat("rejected_total", "pv-enforce", "schema")), schema + 3);
          const prometheus = await f.envoy.admin.prometheus();
          assert.match(
            prometheus,
            /^graft_rejected_total\{filter="payload-validator",injection="pv-enforce",reason="schema"\} \d+$/m,
          );
          const deadline = Date.now() + 5000;
          let count = bodyCount(prometheus);
          while (Date.now() < deadline && count < bodiesBefore + 8) {
            await sleep(200);
            count = bodyCount(await f.envoy.admin.prometheus());
          }
          assert.ok(
            count >= 8,
            `graft_body_bytes_count is ${count} in /stats/prometheus, expected at least 8`,
          );
        }),
      );

      it(
        "in monitor mode passes what it would reject, counting and logging it",
        run(async (f) => {
          const key = stat("would_reject_total", "pv-monitor", "schema");
          const before = (await f.envoy.stats("graft")).values.get(key) ?? 0;
          const body = '{"id":1,"items":[{"price":"free"}]}';
          const reply = await fetchReply(`${f.monitor}/monitored`, {
            method: "POST",
            headers: JSON_HEADERS,
            body,
          });
          assert.equal(upstreamSaw(reply).bodyBase64, Buffer.from(body).toString("base64"));
          const denied = await fetchReply(`${f.monitor}/monitored`, {
            headers: { "user-agent": "${jndi:x" },
          });
          assert.equal(denied.status, 200);
          const large = JSON.stringify({ id: 1, text: "x".repeat(MAX_BODY_BYTES) });
          const chunked = await rawRequest(f.monitor, {
            path: "/monitored-large",
            headers: JSON_HEADERS,
            parts: [large.slice(0, 3000), large.slice(3000)],
            delayMs: 10,
          });
          assert.equal(upstreamSaw(chunked).bodyBase64, Buffer.from(large).toString("base64"));
          const stats = (await f.envoy.stats("graft")).values;
          assert.equal(stats.get(key), before + 1);
          assert.ok((stats.get(stat("would_reject_total", "pv-monitor", "denied")) ?? 0) >= 1);
          assert.ok((stats.get(stat("would_reject_total", "pv-monitor", "body_too_large")) ?? 0) >= 1);
          assert.equal(stats.get(stat("rejected_total", "pv-monitor", "schema")), undefined);
          const deadline = Date.now() + 5000;
          while (
            Date.now() < deadline &&
            !/payload-validator\[pv-monitor\]: would reject: schema: \/items\/0\/price: expected number, got string/.test(
              f.envoy.logs(),
            )
          ) {
            await sleep(50);
          }
          assert.match(
            f.envoy.logs(),
            /payload-validator\[pv-monitor\]: would reject: schema: \/items\/0\/price: expected number, got string/,
          );
        }),
      );
    });
  }

describe("payload-validator configuration errors", () => {
  const cases: { name: string; configuration: unknown; reason: RegExp }[] = [
    {
      name: "an unknown mode",
      configuration: { mode: "audit" },
      reason: /\/mode: expected one of enforce, monitor/,
    },
    {
      name: "a media type with parameters",
      configuration: { content_types: ["application/json; charset=utf-8"] },
      reason: /\/content_types\/0: expected a lowercase media type/,
    },
    {
      name: "an unsupported schema keyword",
      configuration: { json: { schema: { properties: { a: { pattern: "^x" } } } } },
      reason: /\/json\/schema\/properties\/a\/pattern: unsupported schema keyword/,
    },
    {
      name: "an unknown type",
      configuration: { json: { schema: { items: { type: "float" } } } },
      reason: /\/json\/schema\/items\/type: unknown type "float"/,
    },
    {
      name: "a deny rule without a pattern",
      configuration: { deny: [{ in: "body" }] },
      reason: /\/deny\/0\/contains: is required/,
    },
    {
      name: "a zero body limit",
      configuration: { max_body_bytes: 0 },
      reason: /\/max_body_bytes: expected a whole number/,
    },
    { name: "malformed JSON", configuration: '{"json": {', reason: /invalid JSON/ },
  ];
  for (const { name, configuration: config, reason } of cases) {
    it(`refuses ${name}, and Envoy logs the field`, async () => {
      await assertRefusedByEnvoy(payloadValidator("payload-validator", config), "payload-validator", reason);
    });
  }
});
