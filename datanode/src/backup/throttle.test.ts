import { describe, expect, it } from 'vitest';
import { BandwidthLimiter, forEachBounded } from './throttle.ts';
import type { Timers } from './ports.ts';

/** Time that only moves when the limiter sleeps; records every sleep. */
class VirtualTimers implements Timers {
  nowValue = 1_000;
  readonly sleeps: number[] = [];
  /** When false, sleeping does not move time (to see what concurrent callers were each told). */
  constructor(private readonly advanceOnSleep = true) {}
  nowMs(): number {
    return this.nowValue;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    if (this.advanceOnSleep) this.nowValue += ms;
  }
}

describe('BandwidthLimiter', () => {
  it('spreads bytes at the configured rate after a bounded burst', async () => {
    const timers = new VirtualTimers();
    const limiter = new BandwidthLimiter(1_000_000, timers, 100);
    // 100 ms of burst credit: the first 100 kB go at once.
    await limiter.acquire(100_000);
    expect(timers.sleeps).toEqual([]);
    for (let i = 0; i < 10; i++) await limiter.acquire(100_000);
    // Another 1 MB at 1 MB/s takes one second of virtual time.
    expect(timers.nowValue - 1_000).toBeCloseTo(1_000, 6);
  });

  it('shares one rate between concurrent transfers', async () => {
    const timers = new VirtualTimers(false);
    const limiter = new BandwidthLimiter(500_000, timers, 0);
    await Promise.all([limiter.acquire(250_000), limiter.acquire(250_000)]);
    // Two reservations of half a second each: the second waits for the first.
    expect(timers.sleeps).toEqual([500, 1000]);
  });

  it('does not save up credit while idle beyond the burst', async () => {
    const timers = new VirtualTimers();
    const limiter = new BandwidthLimiter(1_000_000, timers, 100);
    await limiter.acquire(100_000);
    timers.nowValue += 60_000; // a minute idle
    await limiter.acquire(300_000);
    expect(timers.sleeps).toEqual([200]);
  });
});

describe('forEachBounded', () => {
  it('never runs more than the limit at once and visits every item', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    const gates: (() => void)[] = [];
    const run = forEachBounded([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      seen.push(item);
      running--;
    });
    while (seen.length < 7) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      gates.shift()?.();
    }
    await run;
    expect(peak).toBe(3);
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('stops taking new items after a failure and rethrows it', async () => {
    const started: number[] = [];
    const run = forEachBounded([1, 2, 3, 4, 5], 1, async (item) => {
      started.push(item);
      if (item === 2) throw new Error('boom 2');
    });
    await expect(run).rejects.toThrow('boom 2');
    expect(started).toEqual([1, 2]);
  });
});
