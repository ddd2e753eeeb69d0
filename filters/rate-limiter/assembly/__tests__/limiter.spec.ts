import { ConfigReader } from "../../../../assembly/config";
import { BucketState, SCALE } from "../bucket";
import { Rule, parseConfig } from "../config";
import { fingerprint, homeSlot } from "../keys";
import {
  Decision,
  Limiter,
  Outcome,
  STORE_CAS_MISMATCH,
  STORE_NOT_FOUND,
  STORE_OK,
  SharedStore,
} from "../limiter";

/** Shared data as proxy-wasm-cpp-host keeps it: every write gets a new CAS; a stale non-zero CAS is refused; a missing key is created whatever the CAS. */
class FakeStore extends SharedStore {
  values: Map<string, ArrayBuffer> = new Map();
  casOf: Map<string, u32> = new Map();
  nextCas: u32 = 100;
  gets: i32 = 0;
  sets: i32 = 0;
  /** Writes by "another worker" to slip in before each of our next writes. */
  interferences: i32 = 0;
  failGets: bool = false;

  get(keyBytes: ArrayBuffer): i32 {
    const key = String.UTF8.decode(keyBytes);
    this.gets++;
    if (this.failGets) return 2;
    if (!this.values.has(key)) return STORE_NOT_FOUND;
    this.value = this.values.get(key);
    this.cas = this.casOf.get(key);
    return STORE_OK;
  }
  set(keyBytes: ArrayBuffer, valueBytes: ArrayBuffer, cas: u32): i32 {
    const key = String.UTF8.decode(keyBytes);
    const value = valueBytes.slice(0); // the host copies: the limiter reuses its buffer
    this.sets++;
    if (this.interferences > 0 && this.values.has(key)) {
      this.interferences--;
      this.casOf.set(key, this.nextCas++); // another worker wrote the same value back
    }
    if (this.values.has(key) && cas != 0 && cas != this.casOf.get(key)) return STORE_CAS_MISMATCH;
    this.values.set(key, value);
    this.casOf.set(key, this.nextCas++);
    return STORE_OK;
  }
  state(key: string): BucketState {
    const state = new BucketState();
    state.decode(this.values.get(key));
    return state;
  }
}

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

function rule(json: string): Rule {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode('{"rules":[' + json + "]}")))!;
  const config = parseConfig(reader, root, "inj");
  expect(reader.ok()).toBe(true, reader.ok() ? "" : reader.error!.toString());
  return config.rules[0];
}

const GLOBAL =
  '{"name":"g","key":{"source":"global"},"tokens_per_fill":10,"fill_interval_ms":1000,"max_tokens":3}';

describe("rate-limiter decisions", () => {
  test("a global bucket admits its burst, then limits, then refills", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 4, true);
    const g = rule(GLOBAL);
    limiter.createSlots(g, T0);
    const d = new Decision();
    for (let i = 0; i < 3; i++) {
      limiter.decide(g, 1, T0, d);
      expect(d.outcome).toBe(Outcome.Allowed);
      expect(d.remaining).toBe(<u64>(2 - i));
    }
    const writes = store.sets;
    limiter.decide(g, 1, T0 + 50 * MS, d);
    expect(d.outcome).toBe(Outcome.Limited);
    expect(d.passes()).toBe(false);
    expect(d.waitNs).toBe(50e6); // half a token refilled; 50 ms to the next one
    expect(store.sets).toBe(writes); // a limited decision writes nothing
    limiter.decide(g, 1, T0 + 100 * MS, d);
    expect(d.outcome).toBe(Outcome.Allowed);
    expect(d.remaining).toBe(0);
    expect(d.waitNs).toBe(300e6); // 3 tokens to full at 10/s
  });

  test("over a window the admitted count is burst + rate × window", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 4, true);
    const g = rule(
      '{"name":"g","key":{"source":"global"},"tokens_per_fill":100,"fill_interval_ms":1000,"max_tokens":50}',
    );
    limiter.createSlots(g, T0);
    const d = new Decision();
    let admitted = 0;
    // 500 requests/s for 10 s, 2 ms apart: 5001 requests from T0 to T0 + 10 s
    for (let i: u64 = 0; i <= 5000; i++) {
      limiter.decide(g, 1, T0 + i * 2 * MS, d);
      if (d.outcome == Outcome.Allowed) admitted++;
    }
    expect(admitted).toBe(50 + 1000);
  });

  test("keys with their own slots do not share tokens", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 4, true);
    const r = rule(
      '{"name":"k","key":{"source":"header","name":"x-key"},"tokens_per_fill":1,"fill_interval_ms":60000,"max_tokens":2}',
    );
    const d = new Decision();
    const alice = fingerprint("h:alice");
    const bob = fingerprint("h:bob");
    limiter.decide(r, alice, T0, d);
    limiter.decide(r, alice, T0, d);
    limiter.decide(r, alice, T0, d);
    expect(d.outcome).toBe(Outcome.Limited);
    limiter.decide(r, bob, T0, d);
    expect(d.outcome).toBe(Outcome.Allowed);
    expect(d.remaining).toBe(1);
    const home = homeSlot(alice, 1024);
    expect(store.state("graft.rl/inj/k/" + home.toString()).owner).toBe(alice);
  });

  test("a colliding key takes the next free probe; its own slot is found again", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 4, true);
    const r = rule(
      '{"name":"k","key":{"source":"path"},"tokens_per_fill":1,"fill_interval_ms":60000,"max_tokens":2,"slots":4,"probes":2}',
    );
    const d = new Decision();
    let other: u64 = 12;
    while (homeSlot(other, 4) != homeSlot(11, 4)) other++;
    const home = homeSlot(11, 4);
    limiter.decide(r, 11, T0, d);
    limiter.decide(r, other, T0, d);
    expect(d.outcome).toBe(Outcome.Allowed);
    expect(store.state("graft.rl/inj/k/" + home.toString()).owner).toBe(11);
    expect(store.state("graft.rl/inj/k/" + ((home + 1) % 4).toString()).owner).toBe(other);
    limiter.decide(r, other, T0, d);
    expect(d.outcome).toBe(Outcome.Allowed);
    limiter.decide(r, other, T0, d);
    expect(d.outcome).toBe(Outcome.Limited); // its own bucket, 2 tokens, not a fresh one
    expect(d.overflowed).toBe(false);
  });

  test("overflow: share uses the home bucket, deny and allow decide by policy, all flagged", () => {
    const d = new Decision();
    const base =
      '"key":{"source":"path"},"tokens_per_fill":1,"fill_interval_ms":60000,"max_tokens":2,"slots":1';
    for (let policy = 0; policy < 3; policy++) {
      const name = policy == 0 ? "share" : policy == 1 ? "deny" : "allow";
      const store = new FakeStore();
      const limiter = new Limiter(store, 4, true);
      const r = rule('{"name":"o",' + base + ',"on_overflow":"' + name + '"}');
      limiter.decide(r, 11, T0, d);
      expect(d.overflowed).toBe(false);
      limiter.decide(r, 22, T0, d);
      expect(d.overflowed).toBe(true);
      if (policy == 0) {
        expect(d.outcome).toBe(Outcome.Allowed); // the second of the shared bucket's 2 tokens
        limiter.decide(r, 11, T0, d);
        expect(d.outcome).toBe(Outcome.Limited); // the holder finds its bucket spent by the sharer
        expect(store.state("graft.rl/inj/o/0").owner).toBe(11);
      } else {
        expect(d.outcome).toBe(Outcome.Overflow);
        expect(d.passes()).toBe(policy == 2);
      }
    }
  });

  test("a slot whose bucket refilled to full is taken over by another key", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 4, true);
    const r = rule(
      '{"name":"o","key":{"source":"path"},"tokens_per_fill":1,"fill_interval_ms":100,"max_tokens":2,"slots":1,"on_overflow":"deny"}',
    );
    const d = new Decision();
    limiter.decide(r, 11, T0, d);
    limiter.decide(r, 11, T0, d); // empty
    limiter.decide(r, 22, T0 + 199 * MS, d);
    expect(d.outcome).toBe(Outcome.Overflow); // 11 is at 1.99 tokens: still active
    limiter.decide(r, 22, T0 + 200 * MS, d);
    expect(d.outcome).toBe(Outcome.Allowed); // 11 is full again: its slot is free
    expect(d.remaining).toBe(1);
    expect(store.state("graft.rl/inj/o/0").owner).toBe(22);
  });

  test("a lost CAS re-reads and retries, and counts the retries", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 4, true);
    const g = rule(GLOBAL);
    limiter.createSlots(g, T0);
    const d = new Decision();
    store.interferences = 3;
    limiter.decide(g, 1, T0, d);
    expect(d.outcome).toBe(Outcome.Allowed);
    expect(d.casRetries).toBe(3);
    expect(store.state("graft.rl/inj/g/0").tokens).toBe(2 * SCALE);
  });

  test("retries are bounded: then on_cas_exhausted decides", () => {
    const g = rule(GLOBAL);
    const d = new Decision();
    for (let deny = 0; deny < 2; deny++) {
      const store = new FakeStore();
      const limiter = new Limiter(store, 2, deny == 1);
      limiter.createSlots(g, T0);
      store.interferences = 100;
      limiter.decide(g, 1, T0, d);
      expect(d.outcome).toBe(Outcome.CasExhausted);
      expect(d.casRetries).toBe(2);
      expect(store.sets).toBe(1 + 3); // the slot's creation, then 1 try + 2 retries
      expect(d.passes()).toBe(deny == 0);
    }
  });

  test("zero retries: the first lost CAS exhausts", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 0, true);
    const g = rule(GLOBAL);
    limiter.createSlots(g, T0);
    store.interferences = 1;
    const d = new Decision();
    limiter.decide(g, 1, T0, d);
    expect(d.outcome).toBe(Outcome.CasExhausted);
    expect(d.casRetries).toBe(0);
  });

  test("the stale-CAS test fault makes every write lose", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 3, true);
    limiter.staleCas = true;
    const g = rule(GLOBAL);
    limiter.createSlots(g, T0);
    const d = new Decision();
    limiter.decide(g, 1, T0, d);
    expect(d.outcome).toBe(Outcome.CasExhausted);
    expect(d.casRetries).toBe(3);
  });

  test("a failing store is treated as exhaustion, never as a silent pass", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 3, true);
    store.failGets = true;
    const d = new Decision();
    limiter.decide(rule(GLOBAL), 1, T0, d);
    expect(d.outcome).toBe(Outcome.CasExhausted);
    expect(d.passes()).toBe(false);
  });

  test("createSlots writes each missing slot once and leaves existing ones", () => {
    const store = new FakeStore();
    const limiter = new Limiter(store, 3, true);
    const r = rule(
      '{"name":"s","key":{"source":"path"},"tokens_per_fill":1,"fill_interval_ms":1000,"max_tokens":2,"slots":8}',
    );
    limiter.createSlots(r, T0);
    expect(store.values.size).toBe(8);
    expect(store.sets).toBe(8);
    limiter.createSlots(r, T0 + 1);
    expect(store.sets).toBe(8);
    expect(store.state("graft.rl/inj/s/7").owner).toBe(0);
  });

  test("a VM refuses from its memory of the slot only when a fresh read would refuse too", () => {
    // Two workers: one store, each its own Rule (per-VM memory) and Limiter.
    const store = new FakeStore();
    const a = new Limiter(store, 4, true);
    const b = new Limiter(store, 4, true);
    const ruleA = rule(GLOBAL); // 10/s, burst 3
    const ruleB = rule(GLOBAL);
    a.createSlots(ruleA, T0);
    const d = new Decision();
    for (let i = 0; i < 3; i++) a.decide(ruleA, 1, T0, d);
    a.decide(ruleA, 1, T0 + 10 * MS, d);
    expect(d.outcome).toBe(Outcome.Limited);
    expect(d.fromCache).toBe(true); // A wrote the empty bucket itself: no read needed
    const reads = store.gets;
    b.decide(ruleB, 1, T0 + 100 * MS, d); // B: one token has refilled
    expect(d.outcome).toBe(Outcome.Allowed);
    expect(d.fromCache).toBe(false);
    expect(store.gets).toBe(reads + 1);
    // A remembers an empty bucket at T0, which refills to 1 token by T0 + 100 ms: not enough to
    // refuse from memory, so A reads, and finds that B took that token.
    a.decide(ruleA, 1, T0 + 100 * MS, d);
    expect(d.outcome).toBe(Outcome.Limited);
    expect(d.fromCache).toBe(false);
    expect(store.gets).toBe(reads + 2);
    a.decide(ruleA, 1, T0 + 150 * MS, d);
    expect(d.fromCache).toBe(true); // A now remembers what B wrote
    expect(d.waitNs).toBe(50e6);
  });
});
