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
