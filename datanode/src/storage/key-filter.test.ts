import { describe, expect, it } from 'vitest';
import { KeyFilter } from './key-filter.ts';

describe('KeyFilter', () => {
  it('never forgets a key and rejects most absent keys', () => {
    const f = new KeyFilter(20_000);
    for (let i = 0; i < 20_000; i++) f.add(Buffer.from(`present-${i}`));
    for (let i = 0; i < 20_000; i++) expect(f.mayContain(Buffer.from(`present-${i}`))).toBe(true);
    let falsePositives = 0;
    for (let i = 0; i < 20_000; i++) if (f.mayContain(Buffer.from(`absent-${i}`))) falsePositives++;
    expect(falsePositives / 20_000).toBeLessThan(0.03);
  });

  it('handles empty and binary keys', () => {
    const f = new KeyFilter(10);
    f.add(Buffer.alloc(0));
    f.add(Buffer.from([0, 255, 0]));
    expect(f.mayContain(Buffer.alloc(0))).toBe(true);
    expect(f.mayContain(Buffer.from([0, 255, 0]))).toBe(true);
  });
});
