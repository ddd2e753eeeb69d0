// rate-limiter's token bucket: fixed-point tokens refilled lazily from timestamps, no timers.
// Free of host calls so as-pect can test it. A bucket's state is 24 bytes in shared data:
//
//   [0, 8)   owner: fingerprint of the key holding the slot (0 = nobody)
//   [8, 16)  last:  host time (ns since the epoch) of the last refill
//   [16, 24) tokens: micro-tokens (1 token = SCALE) after that refill
//
// Refill is continuous, as in Envoy's AtomicTokenBucket: tokens_per_fill every fill_interval, at
// a steady rate, never above max_tokens. Over a window T a bucket that starts full admits
// max_tokens + rate × T requests; the floor in each refill loses under one micro-token.

/** Micro-tokens per token. */
export const SCALE: u64 = 1_000_000;
export const STATE_BYTES: i32 = 24;
export const NS_PER_MS: u64 = 1_000_000;
export const NS_PER_S: f64 = 1e9;

/** A rule's bucket parameters, checked by the configuration (all ≥ 1, bounded so nothing overflows u64). */
export class BucketParams {
  /** max_tokens in micro-tokens. */
  maxFp: u64;
  tokensPerFill: u64;
  fillNs: u64;
  /** Time an empty bucket takes to fill; longer idle time adds nothing more. */
  fullNs: u64;

  constructor(
    tokensPerFill: u64,
    fillIntervalMs: u64,
    public maxTokens: u64,
  ) {
    this.tokensPerFill = tokensPerFill;
    this.fillNs = fillIntervalMs * NS_PER_MS;
    this.maxFp = maxTokens * SCALE;
    // ceil(max_tokens × fill_ns / tokens_per_fill): max_tokens ≤ 1e6 and fill_ns ≤ 3.6e12 keep it in u64.
    const product = maxTokens * this.fillNs;
    this.fullNs = (product + tokensPerFill - 1) / tokensPerFill;
  }

  /** Micro-tokens that `elapsed` ns add to a bucket (before the max_tokens cap). */
  refillAmount(elapsed: u64): u64 {
    if (elapsed >= this.fullNs) return this.maxFp;
    // elapsed × tokens_per_fill ≤ max_tokens × fill_ns + tokens_per_fill: fits u64; split the
    // division so the SCALE factor never multiplies the whole product.
    const q = elapsed * this.tokensPerFill;
    return (q / this.fillNs) * SCALE + ((q % this.fillNs) * SCALE) / this.fillNs;
  }

  /** Tokens per second, for headers. */
  ratePerSecond(): f64 {
    return (<f64>this.tokensPerFill * NS_PER_S) / <f64>this.fillNs;
  }

  /** Nanoseconds until a bucket holding `tokensFp` gains `neededFp` more. */
  nsToGain(neededFp: u64): f64 {
    return (<f64>neededFp * <f64>this.fillNs) / (<f64>this.tokensPerFill * <f64>SCALE);
  }
}

export class BucketState {
  owner: u64 = 0;
  last: u64 = 0;
  tokens: u64 = 0;

  set(owner: u64, last: u64, tokens: u64): BucketState {
    this.owner = owner;
    this.last = last;
    this.tokens = tokens;
    return this;
  }

  copyFrom(other: BucketState): void {
    this.owner = other.owner;
    this.last = other.last;
    this.tokens = other.tokens;
  }

  /** Brings the tokens up to `now`. A clock behind `last` (another worker wrote a later time) adds nothing and keeps `last`. */
  refill(params: BucketParams, now: u64): void {
    if (now <= this.last) {
      if (this.tokens > params.maxFp) this.tokens = params.maxFp; // max_tokens lowered by a new configuration
      return;
    }
    const total = this.tokens + params.refillAmount(now - this.last);
    this.tokens = total > params.maxFp ? params.maxFp : total;
    this.last = now;
  }

  /** A full bucket holds no information: any key may take its slot without changing what it would decide. */
  isFullAt(params: BucketParams, now: u64): bool {
    if (this.tokens >= params.maxFp) return true;
    if (now <= this.last) return false;
    return this.tokens + params.refillAmount(now - this.last) >= params.maxFp;
  }

  /** Takes one token if there is one. */
  take(): bool {
    if (this.tokens < SCALE) return false;
    this.tokens -= SCALE;
    return true;
  }

  /** Whole tokens left. */
  whole(): u64 {
    return this.tokens / SCALE;
  }

  encode(): ArrayBuffer {
    return this.encodeInto(new ArrayBuffer(STATE_BYTES));
  }

  /** Writes the state into `buffer` (STATE_BYTES long) and returns it. */
  encodeInto(buffer: ArrayBuffer): ArrayBuffer {
    const base = changetype<usize>(buffer);
    store<u64>(base, this.owner);
    store<u64>(base, this.last, 8);
    store<u64>(base, this.tokens, 16);
    return buffer;
  }

  /** Reads a stored state; false (state untouched) when the bytes are not one. */
  decode(buffer: ArrayBuffer): bool {
    if (buffer.byteLength != STATE_BYTES) return false;
    const base = changetype<usize>(buffer);
    this.owner = load<u64>(base);
    this.last = load<u64>(base, 8);
    this.tokens = load<u64>(base, 16);
    return true;
  }
}

/**
 * The last state one VM saw of each slot of a rule (read or written by it), so it can refuse a
 * request without reading shared data. Safe because other workers only ever take tokens from a
 * slot: its true state has at most the tokens the remembered state refills to by now, so when that
 * is under one token the fresh state is too. (A slot changes hands only when its bucket is full,
 * which cannot happen while the remembered state, refilled, stays under one token.) An allowed
 * request still reads and compare-and-swaps the shared state.
 */
export class SlotCache {
  owner: StaticArray<u64>;
  last: StaticArray<u64>;
  tokens: StaticArray<u64>;

  constructor(public size: i32) {
    this.owner = new StaticArray<u64>(size);
    this.last = new StaticArray<u64>(size);
    this.tokens = new StaticArray<u64>(size);
  }

  remember(slot: i32, state: BucketState): void {
    if (slot >= this.size) return;
    unchecked((this.owner[slot] = state.owner));
    unchecked((this.last[slot] = state.last));
    unchecked((this.tokens[slot] = state.tokens));
  }

  /** Whether `slot` is remembered as held by `fp` (never true for a free slot); if so, loads it into `state`. */
  recall(slot: i32, fp: u64, state: BucketState): bool {
    if (slot >= this.size || fp == 0 || unchecked(this.owner[slot]) != fp) return false;
    state.set(fp, unchecked(this.last[slot]), unchecked(this.tokens[slot]));
    return true;
  }
}
