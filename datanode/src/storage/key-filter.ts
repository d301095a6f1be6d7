import { assert } from '../assert.ts';
import { bloomHash } from './sstable/bloom.ts';

const lineWords = 16; // 512 bits: all probes of a key fall in one cache line
const probes = 5;

/**
 * A growing-free, in-memory bloom filter over the user keys of one memtable, so that a read of a
 * key the memtable does not hold (the common case once data lives in tables) skips the skiplist
 * search. No false negatives; about 1–2% false positives at the size it is given.
 */
export class KeyFilter {
  private readonly words: Uint32Array;
  private readonly lineMask: number;

  /** `expectedKeys` sizes the filter at about 10 bits per key (rounded up to a power of two). */
  constructor(expectedKeys: number) {
    assert(Number.isSafeInteger(expectedKeys) && expectedKeys > 0, 'expectedKeys must be a positive integer');
    let lines = 1;
    while (lines * 512 < expectedKeys * 10) lines *= 2;
    this.words = new Uint32Array(lines * lineWords);
    this.lineMask = lines - 1;
  }

  add(key: Buffer): void {
    const h = bloomHash(key);
    const base = (h & this.lineMask) * lineWords;
    let bit = h >>> 7;
    const delta = ((h >>> 17) | (h << 15)) | 1;
    for (let i = 0; i < probes; i++) {
      const b = bit & 511;
      this.words[base + (b >>> 5)] = (this.words[base + (b >>> 5)] as number) | (1 << (b & 31));
      bit = (bit + delta) | 0;
    }
  }

  mayContain(key: Buffer): boolean {
    const h = bloomHash(key);
    const base = (h & this.lineMask) * lineWords;
    let bit = h >>> 7;
    const delta = ((h >>> 17) | (h << 15)) | 1;
    for (let i = 0; i < probes; i++) {
      const b = bit & 511;
      if (((this.words[base + (b >>> 5)] as number) & (1 << (b & 31))) === 0) return false;
      bit = (bit + delta) | 0;
    }
    return true;
  }
}
