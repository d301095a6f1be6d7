/**
 * The on-disk layout of an SSTable, shared by the builder and the reader.
 *
 *   [data block 0][trailer] ... [data block n-1][trailer]
 *   [filter block][trailer]      (absent when the table has no bloom filter)
 *   [properties block][trailer]  (smallest and largest internal keys)
 *   [index block][trailer]       (one separator key + data block handle per data block)
 *   [footer]                     (fixed size, at the very end)
 *
 * Every block is followed by a 5-byte trailer: 1 byte compression type (0 = none) and the masked
 * CRC-32C of the block contents plus that type byte. The footer has its own CRC and ends with an
 * 8-byte magic number; its layout (little-endian) is:
 *
 *    0 index handle (12)      12 filter handle (12)    24 properties handle (12)
 *   36 entries (u64)          44 min seq (u64)         52 max seq (u64)
 *   60 data size bytes (u64)  68 data block count (u32)
 *   72 format version (u32)   76 masked CRC-32C of bytes [0, 76) (u32)   80 magic (8)
 */
import { CorruptionError } from '../errors.ts';
import { crc32c, maskCrc, unmaskCrc } from '../crc32c.ts';
import { assert } from '../../assert.ts';

/** Where a block lives: `size` counts the block contents, not its 5-byte trailer. */
export interface BlockHandle {
  readonly offset: number;
  readonly size: number;
}

export const CompressionType = { None: 0 } as const;
export type CompressionType = (typeof CompressionType)[keyof typeof CompressionType];

export const blockTrailerBytes = 5;
/** A handle is encoded as offset (u64) + size (u32), little-endian. */
export const blockHandleBytes = 12;
export const footerBytes = 88;
export const tableFormatVersion = 1;
/** "PHTABLE1" — the last 8 bytes of every table file. */
export const tableMagic: Buffer = Buffer.from('PHTABLE1', 'latin1');
/** Blocks are limited so that a size always fits the handle's u32. */
export const blockBytesMax = 0x7fff_ffff;

const twoPow32 = 0x1_0000_0000;
/** Values above 2^53 cannot be represented exactly; the high word must stay below 2^21. */
const highWordMax = 0x20_0000;

/** Writes a non-negative safe integer as a little-endian u64. */
export function writeUint64(out: Buffer, pos: number, value: number): void {
  assert(Number.isSafeInteger(value), `u64 value ${value} is not a safe integer`);
  assert(value >= 0, `u64 value ${value} is negative`);
  out.writeUInt32LE(value % twoPow32, pos);
  out.writeUInt32LE(Math.floor(value / twoPow32), pos + 4);
}

/** Reads a little-endian u64; returns -1 when it exceeds 2^53 (callers treat that as corruption). */
export function readUint64(buf: Buffer, pos: number): number {
  const high = buf.readUInt32LE(pos + 4);
  if (high >= highWordMax) return -1;
  return high * twoPow32 + buf.readUInt32LE(pos);
}

export function encodeBlockHandle(out: Buffer, pos: number, handle: BlockHandle): void {
  assert(handle.size >= 0, 'negative block size');
  assert(handle.size <= blockBytesMax, `block of ${handle.size} bytes is too large`);
  writeUint64(out, pos, handle.offset);
  out.writeUInt32LE(handle.size, pos + 8);
}

/** Decodes a handle; `file`/`at` name the location for the CorruptionError on a bad value. */
export function decodeBlockHandle(buf: Buffer, pos: number, file: string, at: number): BlockHandle {
  const offset = readUint64(buf, pos);
  const size = buf.readUInt32LE(pos + 8);
  if (offset < 0) throw new CorruptionError(file, at, 'block handle offset out of range');
  return { offset, size };
}

/** The masked CRC stored in a block trailer: CRC-32C over the contents, then the type byte. */
export function blockChecksum(contents: Buffer, start: number, end: number, type: number): number {
  let crc = crc32c(contents, start, end);
  typeByte[0] = type;
  crc = crc32c(typeByte, 0, 1, crc);
  return maskCrc(crc);
}
const typeByte = Buffer.alloc(1);

/** Writes the 5-byte trailer for `contents` at `out[pos]`. */
export function writeBlockTrailer(out: Buffer, pos: number, contents: Buffer): void {
  out[pos] = CompressionType.None;
  out.writeUInt32LE(blockChecksum(contents, 0, contents.length, CompressionType.None), pos + 1);
}

/**
 * Checks a block read from disk: `raw` holds the contents followed by the trailer. Throws a
 * CorruptionError naming `file` and the block's `offset` on an unknown type or a bad checksum.
 */
export function checkBlockTrailer(raw: Buffer, file: string, offset: number, verifyChecksum: boolean): void {
  assert(raw.length >= blockTrailerBytes, 'raw block shorter than its trailer');
  const size = raw.length - blockTrailerBytes;
  const type = raw[size] as number;
  if (type !== CompressionType.None) throw new CorruptionError(file, offset, `unknown block compression type ${type}`);
  if (!verifyChecksum) return;
  const stored = unmaskCrc(raw.readUInt32LE(size + 1));
  const actual = unmaskCrc(blockChecksum(raw, 0, size, type));
  if (stored !== actual) {
    throw new CorruptionError(file, offset, `block checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`);
  }
}

/** Counters stored in the footer. Sequences and sizes are safe integers. */
export interface FooterProperties {
  readonly entries: number;
  readonly minSeq: number;
  readonly maxSeq: number;
  /** Bytes of all data blocks including their trailers. */
  readonly dataSizeBytes: number;
  readonly dataBlockCount: number;
}

export interface Footer extends FooterProperties {
  readonly indexHandle: BlockHandle;
  /** size 0 means the table has no filter. */
  readonly filterHandle: BlockHandle;
  readonly propertiesHandle: BlockHandle;
  readonly formatVersion: number;
}

export function encodeFooter(footer: Footer): Buffer {
  const out = Buffer.alloc(footerBytes);
  encodeBlockHandle(out, 0, footer.indexHandle);
  encodeBlockHandle(out, 12, footer.filterHandle);
  encodeBlockHandle(out, 24, footer.propertiesHandle);
  writeUint64(out, 36, footer.entries);
  writeUint64(out, 44, footer.minSeq);
  writeUint64(out, 52, footer.maxSeq);
  writeUint64(out, 60, footer.dataSizeBytes);
  out.writeUInt32LE(footer.dataBlockCount, 68);
  out.writeUInt32LE(footer.formatVersion, 72);
  out.writeUInt32LE(maskCrc(crc32c(out, 0, 76)), 76);
  tableMagic.copy(out, 80);
  return out;
}

/**
 * Decodes and checks a footer read from `file` at `at`. Rejects a wrong magic number, an unknown
 * format version and a bad checksum with a CorruptionError.
 */
export function decodeFooter(buf: Buffer, file: string, at: number): Footer {
  if (buf.length !== footerBytes) throw new CorruptionError(file, at, `footer is ${buf.length} bytes, expected ${footerBytes}`);
  if (buf.compare(tableMagic, 0, 8, 80, 88) !== 0) throw new CorruptionError(file, at + 80, 'bad table magic number');
  const formatVersion = buf.readUInt32LE(72);
  if (formatVersion !== tableFormatVersion) throw new CorruptionError(file, at + 72, `unsupported table format version ${formatVersion}`);
  if (unmaskCrc(buf.readUInt32LE(76)) !== crc32c(buf, 0, 76)) throw new CorruptionError(file, at, 'footer checksum mismatch');
  const footer: Footer = {
    indexHandle: decodeBlockHandle(buf, 0, file, at),
    filterHandle: decodeBlockHandle(buf, 12, file, at + 12),
    propertiesHandle: decodeBlockHandle(buf, 24, file, at + 24),
    entries: readUint64(buf, 36),
    minSeq: readUint64(buf, 44),
    maxSeq: readUint64(buf, 52),
    dataSizeBytes: readUint64(buf, 60),
    dataBlockCount: buf.readUInt32LE(68),
    formatVersion,
  };
  if (footer.entries < 0 || footer.minSeq < 0 || footer.maxSeq < 0 || footer.dataSizeBytes < 0) {
    throw new CorruptionError(file, at, 'footer counter out of range');
  }
  return footer;
}

/** The properties block: u32 length + smallest internal key, u32 length + largest internal key. */
export function encodePropertiesBlock(smallest: Buffer, largest: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + smallest.length + largest.length);
  out.writeUInt32LE(smallest.length, 0);
  smallest.copy(out, 4);
  out.writeUInt32LE(largest.length, 4 + smallest.length);
  largest.copy(out, 8 + smallest.length);
  return out;
}

/** Decodes the properties block; returns copies so the keys do not pin the block's buffer. */
export function decodePropertiesBlock(buf: Buffer, file: string, at: number): { smallest: Buffer; largest: Buffer } {
  const bad = (): CorruptionError => new CorruptionError(file, at, 'malformed properties block');
  if (buf.length < 8) throw bad();
  const smallestLength = buf.readUInt32LE(0);
  if (4 + smallestLength + 4 > buf.length) throw bad();
  const largestLength = buf.readUInt32LE(4 + smallestLength);
  if (8 + smallestLength + largestLength !== buf.length) throw bad();
  if (smallestLength < 8 || largestLength < 8) throw bad();
  return {
    smallest: Buffer.from(buf.subarray(4, 4 + smallestLength)),
    largest: Buffer.from(buf.subarray(8 + smallestLength)),
  };
}
