/**
 * Seeded random numbers for the simulations: the same seed gives the same draws on any machine.
 */
/** Uniform numbers in [0, 1). */
export type Rng = () => number;

/** splitmix32: spreads a seed (or a seed + index) over 32 bits. */
export function splitmix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** xoshiro128** seeded through splitmix32; deterministic for a given 32-bit seed. */
export function seededRng(seed: number): Rng {
  let a = splitmix32(seed);
  let b = splitmix32(a);
  let c = splitmix32(b);
  let d = splitmix32(c);
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Inversion sampling stays exact and fast while the mean is at most this; larger draws are split. */
const INVERSION_MEAN_LIMIT = 200;

/** An exact Binomial(n, p) draw (inversion; large n·p split into independent parts). */
export function binomial(rng: Rng, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  if (n * p > INVERSION_MEAN_LIMIT) {
    const half = Math.floor(n / 2);
    return binomial(rng, half, p) + binomial(rng, n - half, p);
  }
  const odds = p / (1 - p);
  let probability = Math.exp(n * Math.log1p(-p));
  let cumulative = probability;
  const u = rng();
  let k = 0;
  while (u > cumulative && k < n) {
    probability *= (odds * (n - k)) / (k + 1);
    k++;
    cumulative += probability;
  }
  return k;
}

/** An exact Poisson(mean) draw (inversion; large means split into independent parts). */
export function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > INVERSION_MEAN_LIMIT) return poisson(rng, mean / 2) + poisson(rng, mean / 2);
  let probability = Math.exp(-mean);
  let cumulative = probability;
  const u = rng();
  let k = 0;
  while (u > cumulative && probability > 0) {
    k++;
    probability *= mean / k;
    cumulative += probability;
  }
  return k;
}
