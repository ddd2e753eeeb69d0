// rate-limiter's decision: one rule, one key, one moment. Bucket state lives in shared data,
// which every worker's VM sees; each change is a compare-and-swap on the slot, so two workers
// never both spend the same token. Free of host calls: the filter passes Envoy's shared data as
// a SharedStore, tests pass a map that can inject conflicts.
import { BucketState, SCALE, STATE_BYTES } from "./bucket";
import { Overflow, Rule } from "./config";
import { homeSlot } from "./keys";

// Proxy-Wasm status codes the store returns.
export const STORE_OK: i32 = 0;
export const STORE_NOT_FOUND: i32 = 1;
export const STORE_CAS_MISMATCH: i32 = 8;

/** Shared data as the limiter uses it. Keys are UTF-8 bytes (Rule.slotKey), made once per slot. */
export abstract class SharedStore {
  /** Value and CAS of the last successful get. */
  value: ArrayBuffer = new ArrayBuffer(0);
  cas: u32 = 0;
  /** STORE_OK (value and cas set), STORE_NOT_FOUND, or another status. */
  abstract get(key: ArrayBuffer): i32;
  /** cas 0 writes unconditionally; otherwise STORE_CAS_MISMATCH when the value changed since that CAS. */
  abstract set(key: ArrayBuffer, value: ArrayBuffer, cas: u32): i32;
}

export const enum Outcome {
  /** A token was taken. */
  Allowed,
  /** The bucket was empty. */
  Limited,
  /** Every CAS write lost (or the store failed); `on_cas_exhausted` decided. */
  CasExhausted,
  /** Every probed slot is held by another active key and `on_overflow` is deny or allow. */
  Overflow,
}

export class Decision {
  outcome: Outcome = Outcome.Allowed;
  /** For CasExhausted and Overflow: whether the policy lets the request through. */
  policyAllows: bool = false;
  /** The key found no slot of its own (also set when `on_overflow: share` then decided from the shared bucket). */
  overflowed: bool = false;
  /** CAS writes that lost and were retried. */
  casRetries: i32 = 0;
  /** Whole tokens left after this request (Allowed, Limited). */
  remaining: u64 = 0;
  /** Nanoseconds until the next token (Limited) or until the bucket is full (Allowed). */
  waitNs: f64 = 0;
  /** Limited from this VM's memory of the slot, without reading shared data. */
  fromCache: bool = false;

  reset(): void {
    this.outcome = Outcome.Allowed;
    this.policyAllows = false;
    this.overflowed = false;
    this.casRetries = 0;
    this.remaining = 0;
    this.waitNs = 0;
    this.fromCache = false;
  }

  /** Whether the request may pass as far as this rule is concerned (in enforce mode). */
  passes(): bool {
    if (this.outcome == Outcome.Allowed) return true;
    if (this.outcome == Outcome.Limited) return false;
    return this.policyAllows;
  }
}

/** Probe scratch space, reused across requests (a VM runs one request at a time). */
const probeStates: BucketState[] = [];
const probeCas: u32[] = [];
for (let i = 0; i < 8; i++) {
  probeStates.push(new BucketState());
  probeCas.push(0);
}
const working = new BucketState();
/** The value written: the store copies it, so one buffer serves every write. */
const written = new ArrayBuffer(STATE_BYTES);

export class Limiter {
  /** Test-only fault: write with a CAS the store will refuse. */
  staleCas: bool = false;

  constructor(
    public store: SharedStore,
    public maxRetries: i32,
    public denyOnCasExhausted: bool,
  ) {}

  /**
   * Decides for `key` (fingerprint `fp`) under `rule` at host time `now`, into `decision`.
   *
   * A key owns one slot among `probes` consecutive slots from its home slot. Each attempt reads
   * those slots (stopping at the key's own), then: spends a token of its own bucket; or claims the
   * first free slot, or one whose bucket is full (a full bucket decides like a fresh one, so taking
   * it over loses nothing); or overflows. Every write is a CAS on what was read: a lost race
   * re-reads and tries again, at most `maxRetries` times, then `on_cas_exhausted` decides.
   * A limited decision writes nothing: refill is computed from the stored time at the next read.
   */
  decide(rule: Rule, fp: u64, now: u64, decision: Decision): void {
    decision.reset();
    const params = rule.params;
    const slots = rule.slots;
    const home = slots == 1 ? 0 : homeSlot(fp, slots);
    const cache = rule.cache();
    for (let p = 0; p < rule.probes; p++) {
      if (!cache.recall((home + p) % slots, fp, working)) continue;
      working.refill(params, now);
      if (working.tokens < SCALE) {
        decision.outcome = Outcome.Limited;
        decision.fromCache = true;
        decision.waitNs = params.nsToGain(SCALE - working.tokens);
        return;
      }
      break;
    }
    for (let attempt = 0; ; attempt++) {
      let own = -1;
      let claim = -1;
      let failed = false;
      for (let p = 0; p < rule.probes; p++) {
        const state = unchecked(probeStates[p]);
        const status = this.store.get(rule.slotKey((home + p) % slots));
        if (status == STORE_OK && state.decode(this.store.value)) {
          unchecked((probeCas[p] = this.store.cas));
          cache.remember((home + p) % slots, state);
        } else if (status == STORE_OK || status == STORE_NOT_FOUND) {
          // Missing or unreadable: a free slot. A missing one is created by an unconditional write.
          state.set(0, now, params.maxFp);
          unchecked((probeCas[p] = status == STORE_OK ? this.store.cas : 0));
        } else {
          failed = true;
          break;
        }
        if (state.owner == fp) {
          own = p;
          break;
        }
        if (claim < 0 && (state.owner == 0 || state.isFullAt(params, now))) claim = p;
      }
      if (failed) {
        this.exhausted(decision);
        return;
      }
      let slot = own;
      if (own >= 0) {
        working.copyFrom(unchecked(probeStates[own]));
        working.refill(params, now);
      } else if (claim >= 0) {
        slot = claim;
        working.set(fp, now, params.maxFp);
      } else {
        decision.overflowed = true;
        if (rule.overflow != Overflow.Share) {
          decision.outcome = Outcome.Overflow;
          decision.policyAllows = rule.overflow == Overflow.Allow;
          return;
        }
        // Share the home slot's bucket with the key holding it; that key keeps the slot.
        slot = 0;
        working.copyFrom(unchecked(probeStates[0]));
        working.refill(params, now);
      }
      if (!working.take()) {
        decision.outcome = Outcome.Limited;
        decision.remaining = 0;
        decision.waitNs = params.nsToGain(SCALE - working.tokens);
        return;
      }
      let cas = unchecked(probeCas[slot]);
      if (this.staleCas) cas = cas == 0 ? 0xffffffff : cas ^ 0x80000000;
      const status = this.store.set(rule.slotKey((home + slot) % slots), working.encodeInto(written), cas);
      if (status == STORE_OK) {
        cache.remember((home + slot) % slots, working);
        decision.outcome = Outcome.Allowed;
        decision.remaining = working.whole();
        decision.waitNs = params.nsToGain(params.maxFp - working.tokens);
        return;
      }
      if (status != STORE_CAS_MISMATCH || attempt >= this.maxRetries) {
        this.exhausted(decision);
        return;
      }
      decision.casRetries++;
    }
  }

  private exhausted(decision: Decision): void {
    decision.outcome = Outcome.CasExhausted;
    decision.policyAllows = !this.denyOnCasExhausted;
  }

  /**
   * Creates the rule's missing slots (free, full) so that requests always find a slot and every
   * write is a CAS; only a slot created by a request itself is written unconditionally.
   */
  createSlots(rule: Rule, now: u64): void {
    const free = new BucketState().set(0, now, rule.params.maxFp).encode();
    for (let slot = 0; slot < rule.slots; slot++) {
      const key = rule.slotKey(slot);
      if (this.store.get(key) == STORE_NOT_FOUND) this.store.set(key, free, 0);
    }
  }
}
