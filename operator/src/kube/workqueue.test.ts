import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import { WorkQueue } from './workqueue.ts';

/** Takes every key ready now without waiting. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.stats().depth > 0) {
    const key = await queue.get();
    if (key === undefined) break;
    keys.push(key);
  }
  return keys;
}

describe('WorkQueue', () => {
  it('holds a key once however often it is added', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    queue.add('ns/a');
    queue.add('ns/b');
    queue.add('ns/a');
    queue.add('ns/a');
    expect(queue.stats().depth).toBe(2);
    expect(await drain(queue)).toEqual(['ns/a', 'ns/b']);
  });

  it('never hands a key to two workers; a key added during processing comes back once after done', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    queue.add('ns/a');
    const key = await queue.get();
    expect(key).toBe('ns/a');
    queue.add('ns/a');
    queue.add('ns/a');
    expect(queue.stats().depth).toBe(0);
    queue.done('ns/a');
    expect(await drain(queue)).toEqual(['ns/a']);
    queue.done('ns/a');
    expect(queue.stats()).toMatchObject({ depth: 0, processing: 0 });
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    const pending = queue.get();
    queue.add('ns/x');
    expect(await pending).toBe('ns/x');
    expect(queue.stats().processing).toBe(1);
  });

  it('backs off failures of a key exponentially up to the cap, and forget resets it', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, backoffBaseMs: 10, backoffMaxMs: 50, ratePerSecond: 1000, burst: 1000 });
    const delays: number[] = [];
    for (let failure = 0; failure < 5; failure++) {
      queue.addRateLimited('ns/a');
      let waited = 0;
      while (queue.stats().depth === 0) {
        clock.advance(1);
        waited += 1;
      }
      delays.push(waited);
      await drain(queue);
      queue.done('ns/a');
    }
    expect(delays).toEqual([10, 20, 40, 50, 50]);
    expect(queue.failures('ns/a')).toBe(5);
    queue.forget('ns/a');
    queue.addRateLimited('ns/a');
    clock.advance(9);
    expect(queue.stats().depth).toBe(0);
    clock.advance(1);
    expect(queue.stats().depth).toBe(1);
  });

  it('limits the overall rate of retries with a token bucket', () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, backoffBaseMs: 1, backoffMaxMs: 1, ratePerSecond: 10, burst: 2 });
    for (const key of ['a', 'b', 'c', 'd']) queue.addRateLimited(key);
    clock.advance(1);
    // Two keys fit in the burst; the next ones wait for tokens at 10 per second.
    expect(queue.stats()).toMatchObject({ depth: 2, delayed: 2 });
    clock.advance(99);
    expect(queue.stats()).toMatchObject({ depth: 3, delayed: 1 });
    clock.advance(100);
    expect(queue.stats()).toMatchObject({ depth: 4, delayed: 0 });
  });

  it('keeps the earlier of two delays and lets an immediate add overtake a delay', () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('ns/a', 1000);
    queue.addAfter('ns/a', 100);
    queue.addAfter('ns/a', 5000);
    clock.advance(100);
    expect(queue.stats()).toMatchObject({ depth: 1, delayed: 0 });
    queue.addAfter('ns/b', 1000);
    queue.add('ns/b');
    expect(queue.stats()).toMatchObject({ depth: 2, delayed: 0 });
    clock.advance(2000);
    expect(queue.stats().depth).toBe(2);
  });

  it('refuses keys beyond keysMax and counts them', () => {
    const queue = new WorkQueue({ clock: new ManualClock(), keysMax: 2 });
    expect(queue.add('a')).toBe(true);
    expect(queue.addAfter('b', 10)).toBe(true);
    expect(queue.add('c')).toBe(false);
    expect(queue.add('a')).toBe(true);
    expect(queue.stats()).toMatchObject({ depth: 1, delayed: 1, refused: 1 });
  });

  it('shuts down: waiting workers get undefined and nothing more is queued', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const waiting = queue.get();
    queue.addAfter('a', 10);
    queue.shutdown();
    expect(await waiting).toBeUndefined();
    expect(queue.add('b')).toBe(false);
    clock.advance(100);
    expect(await queue.get()).toBeUndefined();
    expect(clock.pendingTimers()).toBe(0);
  });
});
