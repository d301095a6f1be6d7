import { describe, expect, it } from 'vitest';
import { BloomFilter, BloomFilterBuilder, bloomHash, bloomProbesFor } from './bloom.ts';

function buildFilter(keys: readonly Buffer[], bitsPerKey: number): BloomFilter {
  const builder = new BloomFilterBuilder(bitsPerKey);
  for (const key of keys) builder.addKey(key);
  const filter = BloomFilter.parse(builder.finish());
  if (filter === undefined) throw new Error('filter did not parse');
  return filter;
}

function falsePositiveRate(filter: BloomFilter, probes: number): number {
  let positives = 0;
  for (let i = 0; i < probes; i++) if (filter.mayContain(Buffer.from(`absent-key-${i}`))) positives++;
  return positives / probes;
}

describe('bloom filter', () => {
  it('has no false negatives and a false-positive rate near theory at 10 bits per key', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`present-key-${i}`));
    const filter = buildFilter(keys, 10);
    for (const key of keys) expect(filter.mayContain(key)).toBe(true);
    // A plain filter's theory is 0.82% for 7 probes; the cache-blocked layout costs a little.
    const rate = falsePositiveRate(filter, 10_000);
    expect(rate).toBeLessThan(0.02);
    expect(rate).toBeGreaterThan(0.002);
  });

  it('gets more precise with more bits per key', () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => Buffer.from(`k${i}`));
    const loose = falsePositiveRate(buildFilter(keys, 4), 20_000);
    const tight = falsePositiveRate(buildFilter(keys, 16), 20_000);
    expect(tight).toBeLessThan(loose);
    expect(tight).toBeLessThan(0.005);
  });

  it('handles empty, binary and long keys, and an empty key set', () => {
    const keys = [Buffer.alloc(0), Buffer.from([0]), Buffer.from([0xff, 0xff]), Buffer.alloc(10_000, 7), Buffer.from([1, 2, 3])];
    const filter = buildFilter(keys, 10);
    for (const key of keys) expect(filter.mayContain(key)).toBe(true);
    const empty = buildFilter([], 10);
    expect(falsePositiveRate(empty, 1000)).toBe(0);
  });

  it('derives the probe count from bits per key', () => {
    expect(bloomProbesFor(10)).toBe(7);
    expect(bloomProbesFor(1)).toBe(1);
    expect(bloomProbesFor(64)).toBe(30);
  });

  it('hashes ranges like whole buffers and spreads similar keys', () => {
    const key = Buffer.from('xxhello worldxx');
    expect(bloomHash(key, 2, 13)).toBe(bloomHash(Buffer.from('hello world')));
    const hashes = new Set(Array.from({ length: 1000 }, (_, i) => bloomHash(Buffer.from(`key${i}`))));
    expect(hashes.size).toBe(1000);
  });

  it('rejects malformed filter blocks', () => {
    expect(BloomFilter.parse(Buffer.alloc(0))).toBeUndefined();
    expect(BloomFilter.parse(Buffer.alloc(65, 0))).toBeUndefined(); // probe count 0
    expect(BloomFilter.parse(Buffer.alloc(66, 1))).toBeUndefined(); // not whole lines
    const tooManyProbes = Buffer.alloc(65);
    tooManyProbes[64] = 31;
    expect(BloomFilter.parse(tooManyProbes)).toBeUndefined();
  });
});
