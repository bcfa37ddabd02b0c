/** The benchmarks' one way of summarising repeated measurements: medians and ranges. */

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** `low–high` of the values. */
export function spread(values: readonly number[], digits = 1): string {
  return `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}

/** `median (low–high)` of the values. */
export function medianRange(values: readonly number[], digits = 0): string {
  return `${median(values).toFixed(digits)} (${spread(values, digits)})`;
}
