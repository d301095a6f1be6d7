/**
 * A distribution-free confidence interval for the median of paired measurements (the metrics
 * cost's per-pair overheads). The k-th smallest and k-th largest of n samples bracket the
 * median with probability 1 − 2·P(Binomial(n, ½) < k), whatever the distribution; k is the
 * largest for which that is at least the confidence asked. Unlike the middle half of the pairs
 * (where a single pair falls half the time), this says how well the run pins the median down:
 * a 3% target is met with confidence when the interval's upper end is below 3%.
 */

/** P(Binomial(n, ½) ≤ k). */
function binomialHalfCdf(n: number, k: number): number {
  let term = 0.5 ** n;
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += term;
    term = (term * (n - i)) / (i + 1);
  }
  return sum;
}

export interface MedianInterval {
  readonly low: number;
  readonly high: number;
  /** The interval's actual coverage (at least the confidence asked; 1 − 2·0.5^n at most). */
  readonly coverage: number;
}

/**
 * The narrowest order-statistic interval [x(k), x(n+1−k)] that covers the median with at least
 * `confidence`; with too few samples for that, the whole range (and its lower coverage).
 * NaN bounds for no samples.
 */
export function medianInterval(values: readonly number[], confidence = 0.95): MedianInterval {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { low: NaN, high: NaN, coverage: 0 };
  let k = 1;
  while (k + 1 <= Math.floor((n + 1) / 2) && 1 - 2 * binomialHalfCdf(n, k) >= confidence) k++;
  return { low: sorted[k - 1] ?? NaN, high: sorted[n - k] ?? NaN, coverage: 1 - 2 * binomialHalfCdf(n, k - 1) };
}

/**
 * The crossover values: each value averages the k-th pair of a block in which cluster A had
 * metrics on with the k-th pair of the next block, in which B had them. Whatever makes one
 * cluster faster than the other for the whole run (which node leads, where its files lie,
 * measured at up to ±5% with metrics off on both) enters each value once with each sign and
 * cancels; what metrics cost enters twice with the same sign and stays.
 */
export function crossoverValues(blocks: readonly (readonly number[])[]): number[] {
  const values: number[] = [];
  for (let block = 0; block + 1 < blocks.length; block += 2) {
    const a = blocks[block] ?? [];
    const b = blocks[block + 1] ?? [];
    for (let k = 0; k < Math.min(a.length, b.length); k++) values.push(((a[k] ?? NaN) + (b[k] ?? NaN)) / 2);
  }
  return values;
}
