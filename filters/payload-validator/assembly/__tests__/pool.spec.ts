// The validator pool: a recycled body validator must judge the next body exactly as a fresh one
// would, whatever byte the previous body failed at. A leak here is a denial of service: one client's
// malformed body would decide other clients' verdicts on the same worker.
import { JsonBodyValidator, JsonOptions } from "../schema";
import { configOf } from "./config-of";

const OPTIONS_JSON =
  '{"json":{"max_depth":8,"schema":{"type":["object","array","string","number"],"maxProperties":4,"properties":{"note":{"type":"string","maxLength":3}}}}}';

function bytesOf(text: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(text));
}

/** `text` with raw bytes spliced in at the end (they cannot be written in an AssemblyScript string). */
function withRawTail(text: string, raw: u8[]): Uint8Array {
  const head = bytesOf(text);
  const bytes = new Uint8Array(head.length + raw.length);
  bytes.set(head);
  for (let i = 0; i < raw.length; i++) bytes[head.length + i] = raw[i];
  return bytes;
}

/** Feeds `bytes` in `chunk`-byte pieces (0: whole) and finishes; the verdict as text, "" when valid. */
function run(validator: JsonBodyValidator, bytes: Uint8Array, chunk: i32): string {
  const step = chunk > 0 ? chunk : max(1, bytes.length);
  let ok = true;
  for (let i = 0; ok && i < bytes.length; i += step)
    ok = validator.feed(bytes.subarray(i, min(bytes.length, i + step)));
  if (ok) ok = validator.finish();
  return ok ? "" : validator.verdict!.toString();
}

// Bodies that fail inside a UTF-8 sequence, an escape, a surrogate pair, a number, a literal, a key.
function poisoners(): Uint8Array[] {
  return [
    withRawTail('{"note":"', [0xe0]),
    withRawTail('{"note":"\\u0041', [0xe0, 0x80]),
    withRawTail('{"note":"', [0xed, 0xa0]),
    withRawTail('{"note":"', [0xf0, 0x80]),
    withRawTail('{"note":"', [0xf4, 0x90]),
    withRawTail('{"note":"a', [0xc2]),
    bytesOf('{"note":"\\ud83d"}'),
    bytesOf('{"note":"\\u12'),
    bytesOf('{"n":-12.5e'),
    bytesOf('{"n":tru'),
    bytesOf('{"a":{"b":[1,2,{"c":"x"'),
    bytesOf('{"a":1,"a":2}'),
    bytesOf('{"a":1,"b":2,"c":3,"d":4,"e":5}'),
    bytesOf('{"note":"too long"}'),
  ];
}

// Bodies whose verdict depends on the parser's UTF-8, escape and number state starting clean.
function victims(): Uint8Array[] {
  return [
    bytesOf('{"note":"\\u0041€"}'),
    bytesOf('{"note":"€😀"}'),
    bytesOf('{"note":"\\u00e9\\ud83d\\ude00"}'),
    bytesOf('"\u0800\uFFFD\uD7FF"'),
    bytesOf('["\u{10000}","\u{10FFFF}",1.25e-3,true,null]'),
    bytesOf('{"a":1,"b":"ü","note":"ok"}'),
    bytesOf('{"note":"abcd"}'),
    withRawTail('{"note":"', [0xed, 0xa0, 0x80, 0x22, 0x7d]),
  ];
}

function freshVerdict(options: JsonOptions, bytes: Uint8Array, chunk: i32): string {
  return run(new JsonBodyValidator(options), bytes, chunk);
}

describe("the body validator pool", () => {
  test("a validator recycled after a failure at any byte judges the next body as a fresh one does", () => {
    const options = configOf(OPTIONS_JSON).json!;
    const bad = poisoners();
    const good = victims();
    let checks = 0;
    for (let p = 0; p < bad.length; p++) {
      const poison = bad[p];
      // Fail the first body at every offset: cut short there, or with an invalid byte there.
      for (let at = 0; at <= poison.length; at++) {
        for (let corrupt = 0; corrupt < 2; corrupt++) {
          if (corrupt == 1 && at == poison.length) continue;
          const first = new Uint8Array(corrupt == 1 ? at + 1 : at);
          first.set(poison.subarray(0, at));
          if (corrupt == 1) first[at] = 0xff;
          for (let v = 0; v < good.length; v++) {
            for (let chunk = 0; chunk < 3; chunk++) {
              const pooled = options.validator();
              run(pooled, first, chunk);
              options.recycle(pooled);
              const again = options.validator();
              expect(again).toBe(pooled, "the pool hands back the recycled validator");
              const got = run(again, good[v], chunk);
              options.recycle(again);
              const want = freshVerdict(options, good[v], chunk);
              expect(got).toBe(
                want,
                "after poisoner " +
                  p.toString() +
                  " cut at " +
                  at.toString() +
                  " victim " +
                  v.toString() +
                  " chunk " +
                  chunk.toString(),
              );
              checks++;
            }
          }
        }
      }
    }
    expect(checks).toBeGreaterThan(5000);
  });

  test("the UTF-8 poisoning case from the field: a body ending in E0, then a valid euro sign after an escape", () => {
    const options = configOf(OPTIONS_JSON).json!;
    const victim = bytesOf('{"note":"\\u0041€"}');
    expect(run(options.validator(), victim, 1)).toBe("");
    for (let round = 0; round < 3; round++) {
      const poisoned = options.validator();
      expect(run(poisoned, withRawTail('{"note":"', [0xe0]), 0)).not.toBe("");
      options.recycle(poisoned);
      const next = options.validator();
      expect(run(next, victim, 1)).toBe("", "round " + round.toString());
      options.recycle(next);
    }
  });
});
