// Small statistics for the benchmark: medians, ratios of paired samples.

export function median(values: number[]): number {
  const finite = values.filter((value) => Number.isFinite(value));
  if (finite.length === 0) return NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Median of the per-round ratios a[i]/b[i]: rounds pair samples taken close in time. */
export function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((value, i) => value / (b[i] ?? NaN)));
}

/** Median of the per-round differences a[i] - b[i]. */
export function pairedDifference(a: number[], b: number[]): number {
  return median(a.map((value, i) => value - (b[i] ?? NaN)));
}

/** Lowest and highest of the per-round differences. */
export function differenceRange(a: number[], b: number[]): [number, number] {
  const values = a.map((value, i) => value - (b[i] ?? NaN)).filter(Number.isFinite);
  return values.length === 0 ? [NaN, NaN] : [Math.min(...values), Math.max(...values)];
}
