import { describe, expect, it } from 'vitest';
import { crossoverValues, medianInterval } from '../../bench/median-interval.ts';

describe('the confidence interval of a median', () => {
  it('takes the order statistics the binomial tables give', () => {
    const values = (n: number): number[] => Array.from({ length: n }, (_, i) => n - i); // n..1, unsorted
    // n = 10: x(2)..x(9), coverage 1 − 2·11/1024 = 97.9% (x(3)..x(8) covers only 89%).
    expect(medianInterval(values(10))).toEqual({ low: 2, high: 9, coverage: 1 - (2 * 11) / 1024 });
    // n = 16: x(4)..x(13), 97.9% (x(5)..x(12): 92.3%).
    const sixteen = medianInterval(values(16));
    expect([sixteen.low, sixteen.high]).toEqual([4, 13]);
    expect(sixteen.coverage).toBeCloseTo(0.9787, 4);
    // n = 20: x(6)..x(15), 95.9%.
    const twenty = medianInterval(values(20));
    expect([twenty.low, twenty.high]).toEqual([6, 15]);
    expect(twenty.coverage).toBeCloseTo(0.9586, 4);
  });

  it('falls back to the whole range when there are too few samples, and says how little it covers', () => {
    expect(medianInterval([3, -1, 2, 7, 0])).toEqual({ low: -1, high: 7, coverage: 1 - 2 / 32 });
    expect(medianInterval([5])).toEqual({ low: 5, high: 5, coverage: 0 });
    expect(medianInterval([]).coverage).toBe(0);
  });

  it('covers the true median about as often as it claims', () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      // A skewed distribution with median 1 (exponential with rate ln 2).
      const sample = Array.from({ length: 16 }, () => -Math.log(1 - random()) / Math.LN2);
      const { low, high } = medianInterval(sample);
      if (low <= 1 && 1 <= high) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.96);
    expect(covered / trials).toBeLessThan(0.995);
  });
});

describe('the crossover values of the metrics cost', () => {
  it('cancels a bias that favours one cluster whichever has metrics on, and keeps the cost', () => {
    // A is 5 points faster than B: with A on, a pair shows cost − 5; with B on, cost + 5.
    const cost = [1, 2, 1.5];
    const aOn = cost.map((c) => c - 5);
    const bOn = cost.map((c) => c + 5);
    expect(crossoverValues([aOn, bOn])).toEqual(cost);
    // Four blocks: blocks 1+2 and 3+4 are combined, pair by pair.
    expect(crossoverValues([aOn, bOn, [0, 0, 0], [4, 2, 6]])).toEqual([...cost, 2, 1, 3]);
  });

  it('pairs only what both blocks of a crossover have, and leaves an odd last block out', () => {
    expect(crossoverValues([[1, 2, 3], [3, 4]])).toEqual([2, 3]);
    expect(crossoverValues([[1], [3], [100]])).toEqual([2]);
    expect(crossoverValues([[1, 2]])).toEqual([]);
  });
});
