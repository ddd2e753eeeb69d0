// What the request fuzzer (requests.ts) and each filter's configuration generator
// (filters/<name>/fuzz-config.ts) share: the seeded random source, the header names fuzzed requests
// carry (so generated configurations can match and quote them), and what a fuzz-config.ts exports.

/** xorshift32: small, seeded, reproducible. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The request header names fuzzed requests carry. */
export const REQUEST_HEADER_NAMES: readonly string[] = [
  "x-user",
  "x-big",
  "x-env",
  "content-type",
  "user-agent",
  "referer",
  "x-forwarded-for",
  "cookie",
];

/** What filters/<name>/fuzz-config.ts exports: how to fuzz that filter. */
export interface FilterFuzzConfig {
  /** The bound on one VM's linear memory its README states, with Envoy's defaults, for small configurations. */
  memoryBoundBytes: number;
  /** A random configuration within the filter's limits (the filter may refuse some). */
  configuration(rng: Rng): unknown;
  /**
   * A variation for the emulator/Envoy differential, when it must differ from `configuration` (for
   * instance so that no decision hangs on milliseconds between the two backends' clocks).
   */
  differentialConfiguration?(rng: Rng): unknown;
}
