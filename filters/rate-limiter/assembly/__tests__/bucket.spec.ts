import { BucketParams, BucketState, SCALE, STATE_BYTES } from "../bucket";

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

describe("rate-limiter bucket parameters", () => {
  test("an empty bucket fills in max_tokens / rate", () => {
    const params = new BucketParams(100, 1000, 50); // 100/s, burst 50
    expect(params.fullNs).toBe(500 * MS);
    expect(params.maxFp).toBe(50 * SCALE);
  });

  test("refill is continuous: tokens_per_fill spread over fill_interval", () => {
    const params = new BucketParams(100, 1000, 1000);
    expect(params.refillAmount(10 * MS)).toBe(1 * SCALE);
    expect(params.refillAmount(15 * MS)).toBe(SCALE + SCALE / 2);
    expect(params.refillAmount(1 * S)).toBe(100 * SCALE);
    expect(params.refillAmount(1)).toBe(0); // 1 ns at 100 tokens/s is 0.1 micro-tokens: floored
  });

  test("a long idle time adds at most max_tokens", () => {
    const params = new BucketParams(1, 3_600_000, 1_000_000);
    expect(params.refillAmount(u64.MAX_VALUE)).toBe(params.maxFp);
    expect(params.refillAmount(params.fullNs - 1) < params.maxFp).toBe(true);
  });

  test("the extreme parameters do not overflow", () => {
    const params = new BucketParams(1_000_000, 3_600_000, 1_000_000);
    const almost = params.fullNs - 1;
    const amount = params.refillAmount(almost);
    expect(amount <= params.maxFp).toBe(true);
    expect(amount > params.maxFp - 2 * SCALE).toBe(true);
    const slow = new BucketParams(1, 3_600_000, 1_000_000);
    expect(slow.refillAmount(3_600_000 * MS)).toBe(SCALE);
  });

  test("the time to gain tokens", () => {
    const params = new BucketParams(100, 1000, 50);
    expect(params.nsToGain(SCALE)).toBe(1e7);
    expect(params.ratePerSecond()).toBe(100.0);
  });
});

describe("rate-limiter bucket state", () => {
  test("takes tokens until empty, then refills from the stored time", () => {
    const params = new BucketParams(10, 1000, 3); // 10/s, burst 3
    const state = new BucketState().set(7, 0, params.maxFp);
    expect(state.take()).toBe(true);
    expect(state.take()).toBe(true);
    expect(state.take()).toBe(true);
    expect(state.take()).toBe(false);
    state.refill(params, 99 * MS);
    expect(state.take()).toBe(false); // 0.99 tokens
    state.refill(params, 100 * MS);
    expect(state.take()).toBe(true);
    expect(state.last).toBe(100 * MS);
  });

  test("many small refills lose less than a micro-token each", () => {
    const params = new BucketParams(100, 1000, 1_000_000);
    const state = new BucketState().set(1, 0, 0);
    // 1000 refills 1 ms + 7 ns apart: 1.000007 s in all → 100.0007 tokens
    for (let i: u64 = 1; i <= 1000; i++) state.refill(params, i * (MS + 7));
    expect(state.tokens >= 100 * SCALE + 700 - 1000).toBe(true);
    expect(state.tokens <= 100 * SCALE + 700).toBe(true);
  });

  test("a clock behind the stored time adds nothing and keeps the stored time", () => {
    const params = new BucketParams(10, 1000, 5);
    const state = new BucketState().set(1, 5 * S, 2 * SCALE);
    state.refill(params, 4 * S);
    expect(state.tokens).toBe(2 * SCALE);
    expect(state.last).toBe(5 * S);
  });

  test("a bucket above a lowered max_tokens is cut to it", () => {
    const params = new BucketParams(10, 1000, 5);
    const state = new BucketState().set(1, 5 * S, 9 * SCALE);
    state.refill(params, 5 * S);
    expect(state.tokens).toBe(5 * SCALE);
  });

  test("full: at max, or refilled to max by now", () => {
    const params = new BucketParams(10, 1000, 5); // full after 0.5 s
    const state = new BucketState().set(1, 0, 0);
    expect(state.isFullAt(params, 499 * MS)).toBe(false);
    expect(state.isFullAt(params, 500 * MS)).toBe(true);
    expect(new BucketState().set(1, 10 * S, params.maxFp).isFullAt(params, 0)).toBe(true);
  });

  test("encodes to 24 bytes and back", () => {
    const state = new BucketState().set(0xdeadbeefcafef00d, 1_700_000_000_000_000_000, 42 * SCALE + 17);
    const bytes = state.encode();
    expect(bytes.byteLength).toBe(STATE_BYTES);
    const back = new BucketState();
    expect(back.decode(bytes)).toBe(true);
    expect(back.owner).toBe(state.owner);
    expect(back.last).toBe(state.last);
    expect(back.tokens).toBe(state.tokens);
    expect(back.whole()).toBe(42);
    expect(back.decode(new ArrayBuffer(5))).toBe(false);
  });
});
