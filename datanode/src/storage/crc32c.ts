import { createRequire } from 'node:module';

/**
 * CRC-32C (Castagnoli), the checksum on every WAL record, manifest record and SSTable block.
 * Large inputs go to @node-rs/crc32's SIMD implementation (about 8x our JavaScript on this
 * machine); small ones, where a native call costs more than it saves, and platforms without the
 * prebuilt module use the table-driven slicing-by-8 code below.
 */
type NativeCrc = (input: Buffer, initialState?: number) => number;
const nativeCrc32c: NativeCrc | undefined = (() => {
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: NativeCrc };
    return mod.crc32c;
  } catch {
    return undefined;
  }
})();
const nativeMinBytes = 256;
const poly = 0x82f63b78;
const tables: Uint32Array[] = [];
for (let t = 0; t < 8; t++) tables.push(new Uint32Array(256));
const t0 = tables[0] as Uint32Array;
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
  t0[i] = c >>> 0;
}
for (let i = 0; i < 256; i++) {
  let c = t0[i] as number;
  for (let t = 1; t < 8; t++) {
    c = (t0[c & 0xff] as number) ^ (c >>> 8);
    (tables[t] as Uint32Array)[i] = c >>> 0;
  }
}
const [s0, s1, s2, s3, s4, s5, s6, s7] = tables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

/** Extends `crc` (a previous result, or 0 to start) over buf[start, end). */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  if (nativeCrc32c !== undefined && end - start >= nativeMinBytes) {
    const view = Buffer.from(buf.buffer, buf.byteOffset + start, end - start);
    return nativeCrc32c(view, crc) >>> 0;
  }
  return crc32cPortable(buf, start, end, crc);
}

/** The JavaScript implementation (exported for tests that compare both). */
export function crc32cPortable(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  let c = ~crc >>> 0;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const a = (c ^ (buf[i] as number) ^ ((buf[i + 1] as number) << 8) ^ ((buf[i + 2] as number) << 16) ^ ((buf[i + 3] as number) << 24)) >>> 0;
    c =
      (s7[a & 0xff] as number) ^
      (s6[(a >>> 8) & 0xff] as number) ^
      (s5[(a >>> 16) & 0xff] as number) ^
      (s4[a >>> 24] as number) ^
      (s3[buf[i + 4] as number] as number) ^
      (s2[buf[i + 5] as number] as number) ^
      (s1[buf[i + 6] as number] as number) ^
      (s0[buf[i + 7] as number] as number);
    i += 8;
  }
  while (i < end) c = (s0[(c ^ (buf[i++] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

const maskDelta = 0xa282ead8;

/**
 * Masks a CRC before storing it, so that a CRC of data that itself contains CRCs is not
 * degenerate (the same trick LevelDB's formats use).
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + maskDelta) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - maskDelta) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
