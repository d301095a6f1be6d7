import { InvalidArgumentError } from './errors.ts';

/**
 * Versioned keys for the transaction layer: `escape(key) ++ 0x00 0x01 ++ bigEndian64(~ts)`.
 *
 * Escaping replaces each 0x00 byte of the key by 0x00 0xFF, and the terminator 0x00 0x01 sorts
 * below any escaped continuation (0x00 0xFF) and below any non-zero byte. So the escaped,
 * terminated prefixes sort exactly like the raw keys, and no prefix is a proper prefix of
 * another: the timestamp suffix can never change the order of two different keys.
 *
 * The suffix is the bitwise complement of the timestamp, so versions of one key sort newest
 * first, and "the newest version at or below T" is the first entry at or after
 * encodeMvccKey(key, T) — one seek, then a prefix check (seekNewestAtOrBelow).
 */

export const mvccTimestampMax = 0xffff_ffff_ffff_ffffn;
export const mvccTimestampBytes = 8;
const escapeByte = 0xff;
const terminatorByte = 0x01;
const terminatorBytes = 2;

export interface MvccKey {
  readonly key: Buffer;
  readonly ts: bigint;
}

/** A malformed encoded key is a caller's error (a key that was never produced by encodeMvccKey). */
function malformed(detail: string): InvalidArgumentError {
  return new InvalidArgumentError(`malformed MVCC key: ${detail}`);
}

function checkTimestamp(ts: bigint): void {
  if (ts < 0n || ts > mvccTimestampMax) {
    throw new InvalidArgumentError(`MVCC timestamp ${ts} is outside the unsigned 64-bit range`);
  }
}

function countZeroBytes(key: Buffer): number {
  let zeros = 0;
  for (let at = key.indexOf(0); at !== -1; at = key.indexOf(0, at + 1)) zeros++;
  return zeros;
}

/** Writes escape(key) ++ terminator into `out` from 0 and returns the bytes written. */
function writePrefix(key: Buffer, out: Buffer): number {
  let written = 0;
  let start = 0;
  for (let at = key.indexOf(0); at !== -1; at = key.indexOf(0, start)) {
    written += key.copy(out, written, start, at + 1);
    out[written++] = escapeByte;
    start = at + 1;
  }
  written += key.copy(out, written, start);
  out[written++] = 0;
  out[written++] = terminatorByte;
  return written;
}

/**
 * The escaped key plus terminator: every version of `key`, and nothing else, starts with it.
 * Use it as an iterator lower bound, or with mvccPrefixLength to group versions.
 */
export function mvccKeyPrefix(key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(key.length + countZeroBytes(key) + terminatorBytes);
  writePrefix(key, out);
  return out;
}

/**
 * Encodes (key, ts). Throws InvalidArgumentError unless 0 <= ts < 2^64. Order: different keys
 * compare as the raw keys do, whatever their timestamps; one key's versions sort by ts
 * descending.
 */
export function encodeMvccKey(key: Buffer, ts: bigint): Buffer {
  checkTimestamp(ts);
  const prefixLength = key.length + countZeroBytes(key) + terminatorBytes;
  const out = Buffer.allocUnsafe(prefixLength + mvccTimestampBytes);
  writePrefix(key, out);
  out.writeBigUInt64BE(mvccTimestampMax - ts, prefixLength);
  return out;
}

/**
 * Decodes an encoded key back into (key, ts). Throws InvalidArgumentError when `encoded` was
 * not produced by encodeMvccKey: a bad escape, a missing terminator, or a suffix that is not
 * exactly eight bytes.
 */
export function decodeMvccKey(encoded: Buffer): MvccKey {
  const pieces: Buffer[] = [];
  let start = 0;
  for (let at = encoded.indexOf(0); at !== -1; at = encoded.indexOf(0, start)) {
    const marker = encoded[at + 1];
    if (marker === escapeByte) {
      pieces.push(encoded.subarray(start, at + 1));
      start = at + 2;
      continue;
    }
    if (marker !== terminatorByte) {
      throw malformed(`byte 0x00 at offset ${at} is followed by ${marker === undefined ? 'the end' : `0x${marker.toString(16)}`}`);
    }
    pieces.push(encoded.subarray(start, at));
    const suffixStart = at + terminatorBytes;
    const suffixLength = encoded.length - suffixStart;
    if (suffixLength !== mvccTimestampBytes) {
      throw malformed(`timestamp suffix has ${suffixLength} bytes, expected ${mvccTimestampBytes}`);
    }
    const key = pieces.length === 1 ? Buffer.from(pieces[0] ?? Buffer.alloc(0)) : Buffer.concat(pieces);
    return { key, ts: mvccTimestampMax - encoded.readBigUInt64BE(suffixStart) };
  }
  throw malformed('no key terminator');
}

/**
 * The length of the escaped key plus terminator of an encoded key, i.e. the bytes shared by
 * all versions of its key: compaction compares these to group versions for garbage collection.
 * Checks only that the terminator sits just before an eight-byte suffix (cheap, for hot
 * loops); decodeMvccKey validates fully. Throws InvalidArgumentError when it does not.
 */
export function mvccPrefixLength(encoded: Buffer): number {
  const prefixLength = encoded.length - mvccTimestampBytes;
  if (prefixLength < terminatorBytes || encoded[prefixLength - 2] !== 0 || encoded[prefixLength - 1] !== terminatorByte) {
    throw malformed('no key terminator before the eight-byte timestamp suffix');
  }
  return prefixLength;
}

/** The timestamp of an encoded key, read from its suffix without decoding the key. */
export function mvccTimestamp(encoded: Buffer): bigint {
  return mvccTimestampMax - encoded.readBigUInt64BE(mvccPrefixLength(encoded));
}

/** The slice of a sorted iterator that seekNewestAtOrBelow needs (a DbIterator fits). */
export interface SeekableIterator {
  seek(key: Buffer): void;
  valid(): boolean;
  key(): Buffer;
}

/**
 * Finds the newest version of `key` with timestamp <= `ts`: one seek to encodeMvccKey(key, ts)
 * and a prefix check. Returns that version's timestamp with `iterator` left on it (read the
 * value there), or undefined when `key` has no such version (the iterator is then wherever the
 * seek left it).
 */
export function seekNewestAtOrBelow(iterator: SeekableIterator, key: Buffer, ts: bigint): bigint | undefined {
  const target = encodeMvccKey(key, ts);
  iterator.seek(target);
  if (!iterator.valid()) return undefined;
  const found = iterator.key();
  const prefixLength = target.length - mvccTimestampBytes;
  if (found.length !== target.length) return undefined;
  if (found.compare(target, 0, prefixLength, 0, prefixLength) !== 0) return undefined;
  return mvccTimestampMax - found.readBigUInt64BE(prefixLength);
}
