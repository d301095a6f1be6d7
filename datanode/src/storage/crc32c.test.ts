import { describe, expect, it } from 'vitest';
import { crc32c, crc32cPortable, maskCrc, unmaskCrc } from './crc32c.ts';

describe('crc32c', () => {
  it('matches the published CRC-32C check values (RFC 3720 appendix B.4)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    const ascending = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) ascending[i] = i;
    expect(crc32c(ascending)).toBe(0x46dd794e);
  });

  it('extends incrementally to the same value as one pass', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog, twice over');
    for (let split = 0; split <= data.length; split++) {
      expect(crc32c(data, split, data.length, crc32c(data, 0, split))).toBe(crc32c(data));
    }
  });

  it('native and portable implementations agree on every length and split', () => {
    const data = Buffer.alloc(2000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    for (const len of [0, 1, 7, 8, 255, 256, 257, 1000, 2000]) {
      expect(crc32c(data, 0, len)).toBe(crc32cPortable(data, 0, len));
      expect(crc32c(data, 3, len)).toBe(crc32cPortable(data, 3, len));
      const mid = len >> 1;
      expect(crc32c(data, mid, len, crc32c(data, 0, mid))).toBe(crc32cPortable(data, 0, len));
    }
  });

  it('masks reversibly and changes the value', () => {
    for (const c of [0, 1, 0xe3069283, 0xffffffff]) {
      expect(unmaskCrc(maskCrc(c))).toBe(c);
      expect(maskCrc(c)).not.toBe(c);
    }
  });
});
