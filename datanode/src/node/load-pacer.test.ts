import { describe, expect, it } from 'vitest';
import { ByteRateLimiter } from './byte-rate-limiter.ts';
import { type DelaySampler, type LoadPacingPolicy, type PacingPeriod, checkLoadPacingPolicy, defaultLoadPacingPolicy, describePacingPeriod, LoadPacer, nextRateFraction } from './load-pacer.ts';

const policy: LoadPacingPolicy = { delayHighMs: 20, floorFraction: 0.5, decrease: 0.7, increase: 0.1 };

/** A sampler whose p99 the test sets; counts enable/disable calls. */
function fakeSampler(): DelaySampler & { delayMs: number; samples: number; enabled: boolean; enables: number } {
  return {
    delayMs: 0,
    samples: 50,
    enabled: false,
    enables: 0,
    enable() {
      this.enabled = true;
      this.enables++;
    },
    disable() {
      this.enabled = false;
    },
    p99Ms() {
      return this.delayMs;
    },
    count() {
      return this.enabled ? this.samples : 0;
    },
    reset() {},
  };
}

describe('nextRateFraction (the pacer decision)', () => {
  it('slows down multiplicatively while the delay is over the threshold, down to the floor and no further', () => {
    const shares: number[] = [];
    let share = 1;
    for (let i = 0; i < 6; i++) shares.push((share = nextRateFraction(policy, share, 45)));
    expect(shares[0]).toBeCloseTo(0.7);
    expect(shares[1]).toBe(0.5); // 0.49 clamped to the floor
    expect(shares.slice(2)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('speeds up additively once the delay is under half the threshold, never above the configured rate', () => {
    const shares: number[] = [];
    let share = 0.5;
    for (let i = 0; i < 7; i++) shares.push((share = nextRateFraction(policy, share, 3)));
    expect(shares.map((s) => Number(s.toFixed(2)))).toEqual([0.6, 0.7, 0.8, 0.9, 1, 1, 1]);
  });

  it('holds the share between half the threshold and the threshold (no oscillation)', () => {
    expect(nextRateFraction(policy, 0.7, 10)).toBe(0.7);
    expect(nextRateFraction(policy, 0.7, 20)).toBe(0.7);
    expect(nextRateFraction(policy, 0.7, 9.9)).toBeCloseTo(0.8);
    expect(nextRateFraction(policy, 0.7, 20.1)).toBe(0.5);
  });

  it('never goes below a higher floor either', () => {
    expect(nextRateFraction({ ...policy, floorFraction: 0.8 }, 1, 1000)).toBe(0.8);
    expect(nextRateFraction({ ...policy, floorFraction: 1 }, 1, 1000)).toBe(1);
  });

  it('refuses policies that could starve or exceed the limit', () => {
    expect(() => checkLoadPacingPolicy({ ...policy, floorFraction: 0 })).toThrow(/floorFraction/);
    expect(() => checkLoadPacingPolicy({ ...policy, floorFraction: 1.5 })).toThrow(/floorFraction/);
    expect(() => checkLoadPacingPolicy({ ...policy, decrease: 1 })).toThrow(/decrease/);
    expect(() => checkLoadPacingPolicy({ ...policy, delayHighMs: 0 })).toThrow(/delayHighMs/);
    expect(() => checkLoadPacingPolicy(defaultLoadPacingPolicy)).not.toThrow();
  });
});

describe('LoadPacer', () => {
  it('judges one window per interval, from the delay measured in it', () => {
    let now = 0;
    const sampler = fakeSampler();
    const changes: number[] = [];
    const pacer = new LoadPacer({ policy, intervalMs: 500, sampler, now: () => now, onChange: (share) => changes.push(share) });
    try {
      expect(pacer.fraction()).toBe(1); // first use: starts measuring at the full rate
      expect(sampler.enabled).toBe(true);
      sampler.delayMs = 50;
      now = 499;
      expect(pacer.fraction()).toBe(1); // the window is not over yet
      now = 500;
      expect(pacer.fraction()).toBeCloseTo(0.7);
      now = 700;
      expect(pacer.fraction()).toBeCloseTo(0.7); // next window runs to 1000
      now = 1000;
      expect(pacer.fraction()).toBe(0.5);
      sampler.delayMs = 2;
      now = 1500;
      expect(pacer.fraction()).toBeCloseTo(0.6);
      expect(changes.map((c) => Number(c.toFixed(2)))).toEqual([0.7, 0.5, 0.6]);
      expect(pacer.stats).toEqual({ windows: 3, slowed: 2 });
    } finally {
      pacer.stop();
    }
    expect(sampler.enabled).toBe(false);
  });

  it('reports each busy period when it stops measuring (windows, share, worst delay), and starts the next one at the full rate', () => {
    let now = 0;
    const sampler = fakeSampler();
    const periods: PacingPeriod[] = [];
    const pacer = new LoadPacer({ policy, intervalMs: 500, sampler, now: () => now, onIdle: (p) => periods.push(p) });
    pacer.fraction();
    for (const delay of [35, 60, 30, 3, 3]) {
      sampler.delayMs = delay;
      now += 500;
      pacer.fraction();
    }
    pacer.stop();
    expect(periods).toHaveLength(1);
    const period = periods[0] as PacingPeriod;
    expect(period).toMatchObject({ seconds: 2.5, windows: 5, slowed: 3, delayP99MaxMs: 60 });
    // Shares 0.7, 0.5, 0.5, 0.6, 0.7.
    expect(period.meanFraction).toBeCloseTo(0.6);
    expect(describePacingPeriod(period)).toBe('snapshot pacing: 2.5 s busy, 5 windows (3 over the delay threshold), mean share 60% of --snapshot-rate-bytes, event-loop delay p99 up to 60.0 ms');
    expect(sampler.enabled).toBe(false);
    // Used again: measuring again, from the full rate.
    expect(pacer.fraction()).toBe(1);
    expect(sampler.enabled).toBe(true);
    pacer.stop();
    expect(periods).toHaveLength(1); // no window judged in the second period: nothing to report
  });

  it('does not judge a window without samples (a blocked loop that never fired its timer is not calm)', () => {
    let now = 0;
    const sampler = fakeSampler();
    const pacer = new LoadPacer({ policy, intervalMs: 500, sampler, now: () => now });
    try {
      pacer.fraction();
      sampler.samples = 0;
      sampler.delayMs = 1;
      now = 600;
      expect(pacer.fraction()).toBe(1);
      expect(pacer.stats.windows).toBe(0);
    } finally {
      pacer.stop();
    }
  });

  it('scales a byte rate limiter: at the floor the stream gets half the configured rate, never less', async () => {
    let now = 0;
    const sampler = fakeSampler();
    sampler.delayMs = 100; // the node is suffering the whole time
    const pacer = new LoadPacer({ policy, intervalMs: 500, sampler, now: () => now });
    const slept: number[] = [];
    const limiter = new ByteRateLimiter({
      bytesPerSecond: 1000,
      burstBytes: 1,
      now: () => now,
      pacer,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    try {
      // 100 bytes at a time for 20 virtual seconds: the first window at the full rate, then 0.7, then the floor.
      let bytes = 0;
      while (now < 20_000) {
        await limiter.take(100);
        bytes += 100;
      }
      const rate = bytes / (now / 1000);
      expect(limiter.currentBytesPerSecond()).toBe(500);
      expect(rate).toBeGreaterThanOrEqual(500);
      expect(rate).toBeLessThan(560);
    } finally {
      pacer.stop();
    }
  });
});
