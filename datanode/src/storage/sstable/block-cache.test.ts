import { describe, expect, it } from 'vitest';
import { Block, BlockBuilder } from './block.ts';
import { BlockCache } from './block-cache.ts';

const block = new Block(Buffer.from(new BlockBuilder(16).finish()));

describe('block cache', () => {
  it('evicts least recently used blocks by bytes and counts hits and misses', () => {
    const cache = new BlockCache(300);
    cache.insert(1, 0, block, 100);
    cache.insert(1, 4096, block, 100);
    cache.insert(2, 0, block, 100);
    expect(cache.stats()).toMatchObject({ inserts: 3, usageBytes: 300, entries: 3, evictions: 0 });
    expect(cache.lookup(1, 0)).toBe(block); // (1, 0) is now recently used
    expect(cache.lookup(3, 0)).toBeUndefined();
    cache.insert(3, 0, block, 100); // evicts the least recently used: (1, 4096)
    expect(cache.lookup(1, 4096)).toBeUndefined();
    expect(cache.lookup(1, 0)).toBe(block);
    expect(cache.lookup(2, 0)).toBe(block);
    expect(cache.lookup(3, 0)).toBe(block);
    cache.insert(4, 0, block, 250); // needs 250 of 300 bytes: evicts until it fits
    expect(cache.stats()).toMatchObject({ hits: 4, misses: 2, inserts: 5, usageBytes: 250, entries: 1, evictions: 4 });
    expect(cache.lookup(4, 0)).toBe(block);
  });

  it('does not cache a block larger than the capacity, nor anything at capacity 0', () => {
    const cache = new BlockCache(100);
    expect(cache.insert(1, 0, block, 101)).toBeUndefined();
    expect(cache.lookup(1, 0)).toBeUndefined();
    const disabled = new BlockCache(0);
    expect(disabled.insert(1, 0, block, 1)).toBeUndefined();
    expect(disabled.stats().usageBytes).toBe(0);
  });

  it('replaces an entry inserted twice under the same key', () => {
    const cache = new BlockCache(1000);
    const other = new Block(Buffer.from(new BlockBuilder(16).finish()));
    const first = cache.insert(1, 0, block, 100);
    cache.insert(1, 0, other, 200);
    expect(cache.lookup(1, 0)).toBe(other);
    expect(cache.stats()).toMatchObject({ usageBytes: 200, entries: 1 });
    expect(first !== undefined && cache.touch(first)).toBeUndefined();
  });

  it('erases one file without touching the others, and its handles go dead', () => {
    const cache = new BlockCache(10_000);
    const handle = cache.insert(7, 0, block, 100);
    cache.insert(7, 100, block, 100);
    cache.insert(8, 0, block, 100);
    expect(handle).toBeDefined();
    if (handle === undefined) return;
    expect(cache.touch(handle)).toBe(block);
    cache.eraseFile(7);
    expect(cache.touch(handle)).toBeUndefined();
    expect(cache.lookup(7, 0)).toBeUndefined();
    expect(cache.lookup(7, 100)).toBeUndefined();
    expect(cache.lookup(8, 0)).toBe(block);
    expect(cache.stats()).toMatchObject({ usageBytes: 100, entries: 1 });
    cache.clear();
    expect(cache.stats()).toMatchObject({ usageBytes: 0, entries: 0 });
  });

  it('keeps usage within capacity under churn', () => {
    const cache = new BlockCache(10_000);
    for (let i = 0; i < 5000; i++) {
      cache.insert(i % 13, (i * 7919) % 1000, block, 50 + (i % 200));
      if (i % 3 === 0) cache.lookup(i % 13, (i * 31) % 1000);
      expect(cache.usageBytes).toBeLessThanOrEqual(10_000);
    }
    const stats = cache.stats();
    expect(stats.evictions).toBeGreaterThan(0);
    expect(stats.hits + stats.misses).toBe(Math.ceil(5000 / 3));
  });
});
