import { assert } from '../assert.ts';

/**
 * Entry kinds stored in memtables and SSTables. Range deletions are expanded into point
 * deletions when a batch is applied, so tables only ever hold these two kinds.
 */
export const ValueKind = { Delete: 0, Put: 1 } as const;
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind];

/** Sequence numbers are below 2^53 (checked), so plain numbers are exact. */
export const maxSequence = Number.MAX_SAFE_INTEGER;
export const internalKeyTrailerBytes = 8;

const twoPow24 = 0x1000000;

/**
 * An internal key is `userKey ++ trailer`, the trailer being the big-endian 64-bit value
 * `seq * 256 + kind`. Internal order: user key ascending (bytewise), then sequence descending,
 * then kind descending — so the newest entry for a key comes first.
 */
export function encodeInternalKey(userKey: Buffer, seq: number, kind: ValueKind): Buffer {
  const out = Buffer.allocUnsafe(userKey.length + internalKeyTrailerBytes);
  userKey.copy(out, 0);
  writeTrailer(out, userKey.length, seq, kind);
  return out;
}

/** Writes the 8-byte trailer for (seq, kind) at `offset`. */
export function writeTrailer(out: Buffer, offset: number, seq: number, kind: ValueKind): void {
  assert(Number.isSafeInteger(seq) && seq >= 0, `sequence ${seq} out of range`);
  out.writeUInt32BE(Math.floor(seq / twoPow24), offset);
  out.writeUInt32BE(((seq % twoPow24) * 256 + kind) >>> 0, offset + 4);
}

export function trailerSeq(buf: Buffer, trailerOffset: number): number {
  const hi = buf.readUInt32BE(trailerOffset);
  const lo = buf.readUInt32BE(trailerOffset + 4);
  return hi * twoPow24 + (lo >>> 8);
}

export function trailerKind(buf: Buffer, trailerOffset: number): ValueKind {
  const kind = buf[trailerOffset + 7];
  assert(kind === ValueKind.Delete || kind === ValueKind.Put, `bad value kind ${String(kind)}`);
  return kind;
}

export function internalKeyUserKey(internalKey: Buffer): Buffer {
  return internalKey.subarray(0, internalKey.length - internalKeyTrailerBytes);
}

/** Compares two internal keys in internal order without allocating. */
export function compareInternalKeys(a: Buffer, b: Buffer): number {
  const aUser = a.length - internalKeyTrailerBytes;
  const bUser = b.length - internalKeyTrailerBytes;
  const byUser = a.compare(b, 0, bUser, 0, aUser);
  if (byUser !== 0) return byUser;
  // Larger trailer (newer sequence) sorts first.
  const aHi = a.readUInt32BE(aUser);
  const bHi = b.readUInt32BE(bUser);
  if (aHi !== bHi) return aHi > bHi ? -1 : 1;
  const aLo = a.readUInt32BE(aUser + 4);
  const bLo = b.readUInt32BE(bUser + 4);
  if (aLo !== bLo) return aLo > bLo ? -1 : 1;
  return 0;
}

/** Compares (userKey, seq) pairs in internal order (kind ignored). */
export function compareUserKeySeq(aKey: Buffer, aSeq: number, bKey: Buffer, bSeq: number): number {
  const byUser = Buffer.compare(aKey, bKey);
  if (byUser !== 0) return byUser;
  return aSeq === bSeq ? 0 : aSeq > bSeq ? -1 : 1;
}
