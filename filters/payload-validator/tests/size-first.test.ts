// Issue 18, point 1: payload-validator's verdict does not depend on how the body was chunked (size
// first: a body over max_body_bytes is body_too_large whatever else is wrong with it), and a chunk
// that takes the body past the limit is refused without being copied into the VM.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Emulator } from "../../../src/host/index.ts";
import { builtWasm } from "../../../tests/support/envoy-fixture.ts";

const configuration = {
  injection_id: "pv",
  max_body_bytes: 65536,
  json: { schema: { type: "object", properties: { a: { type: "integer" } } } },
  deny: [{ in: "body", contains: "${jndi:" }],
};

/** A JSON body of `size` bytes whose first member breaks the schema (422 when it fits). */
function badBody(size: number, first = '"a":"x"'): string {
  const head = `{${first},"pad":"`;
  return head + "p".repeat(size - head.length - 2) + '"}';
}

function split(body: string, sizes: number[]): string[] {
  const chunks: string[] = [];
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const size = sizes[i % sizes.length]!;
    chunks.push(body.slice(at, at + size));
    at += size;
  }
  return chunks;
}

const load = () =>
  Emulator.load({ module: builtWasm("payload-validator.wasm"), rootId: "payload-validator", configuration });

describe("payload-validator: size first, whatever the chunking", () => {
  const chunkings: [
    string,
    (body: string) => { body: string | string[]; chunked?: boolean; h2?: boolean },
  ][] = [
    ["content-length, one callback", (body) => ({ body })],
    ["chunked, one chunk", (body) => ({ body: [body], chunked: true })],
    [
      "chunked, one chunk, end of stream on it (HTTP/2)",
      (body) => ({ body: [body], chunked: true, h2: true }),
    ],
    ["16 KiB chunks", (body) => ({ body: split(body, [16384]) })],
    ["uneven chunks", (body) => ({ body: split(body, [1, 7, 4096, 333, 65535]) })],
    ["16 KiB chunks, HTTP/2", (body) => ({ body: split(body, [16384]), h2: true })],
  ];
  for (const [name, shape] of chunkings) {
    it(`${name}: 100,000 bytes that break the schema early → 413; 60,000 → 422; a deny match over the limit → 413`, async () => {
      const emulator = await load();
      const send = (body: string) => {
        const request = shape(body);
        return emulator.request({
          method: "POST",
          path: "/",
          headers: { "content-type": "application/json" },
          body: request.body,
          chunked: request.chunked,
          endStreamWithLastChunk: request.h2,
        });
      };
      assert.equal(send(badBody(100_000)).status, 413);
      assert.equal(send(badBody(60_000)).status, 422);
      assert.equal(send(badBody(100_000, '"a":"${jndi:x}"')).status, 413);
      assert.equal(send(badBody(60_000, '"a":"${jndi:x}"')).status, 403);
      assert.equal(send(badBody(60_000, '"a":1')).status, 200);
    });
  }

  it("1000 KiB chunks that end in 413 are not copied: the VM's memory stays at its idle size", async () => {
    const emulator = await load();
    const vm = emulator.workers[0]!;
    const idle = vm.memoryBytes();
    const chunk = "p".repeat(1000 * 1024);
    for (let i = 0; i < 100; i++) {
      const result = emulator.request({
        method: "POST",
        path: "/",
        headers: { "content-type": "application/json" },
        body: [chunk, chunk],
      });
      assert.equal(result.status, 413);
    }
    assert.ok(vm.memoryBytes() <= Math.max(idle, 2 << 20), `memory ${vm.memoryBytes()} (idle ${idle})`);
  });
});
