/**
 * The storage engine's key layout: one engine per node holds every range's replicated state.
 *
 *   0x00 <name>                          node-local state (never replicated): the layout version,
 *                                        the range id counter, tombstones of dropped replicas
 *   0x02 <rangeId u64 BE> <name>         a range's replicated local state ("applied", "desc", and on
 *                                        the meta range "members", "lifecycle", "cluster-version",
 *                                        "meta/" <rangeId u64 BE>)
 *   mvcc(0x03 <user key>, ts)            user data as MVCC versions (storage/mvcc.ts: the escaped
 *                                        key, 0x00 0x01, then the complement of the HLC timestamp,
 *                                        so one key's versions sort newest first); a range owns the
 *                                        user keys of its span. A version's value is a tag byte
 *                                        (0x01 a value follows, 0x00 a deletion tombstone).
 *
 * A range's snapshot is its range-local keys plus every version of the user keys of its span.
 * The single-range layout that came before kept everything under 0x01; a data directory holding
 * such keys is refused (nothing was shipped in that layout). Layout 2 kept only the newest
 * value of a user key, unversioned, under 0x03; it is refused too (layoutVersion).
 */
import { assert } from '../assert.ts';
import { decodeMvccKey, encodeMvccKey, mvccKeyPrefix } from '../storage/mvcc.ts';

export const layoutVersion = 3;

export const nodeLocalPrefix = 0x00;
export const legacyPrefix = 0x01;
export const rangeLocalPrefix = 0x02;
export const userPrefix = 0x03;

export const layoutVersionKey = Buffer.from('\x00layout-version', 'latin1');
/** Node-local counter of range ids this node handed out to splits it proposed. */
export const rangeIdSeqKey = Buffer.from('\x00range-id-seq', 'latin1');

/**
 * Node-local tombstones of ranges whose replica this node dropped after applying its own
 * removal: `0x00 "tombstone/" <rangeId u64 BE>` → the applied index at the removal (u64 BE).
 */
export const tombstonePrefix = Buffer.from('\x00tombstone/', 'latin1');

export function tombstoneKey(rangeId: number): Buffer {
  return Buffer.concat([tombstonePrefix, encodeU64(rangeId)]);
}

export function encodeU64(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value), 0);
  return out;
}

export function decodeU64(bytes: Buffer, offset = 0): number {
  return Number(bytes.readBigUInt64BE(offset));
}

/** The first key of range `rangeId`'s local state. */
export function rangeLocalStart(rangeId: number): Buffer {
  return Buffer.concat([Buffer.from([rangeLocalPrefix]), encodeU64(rangeId)]);
}

/** The key just past range `rangeId`'s local state. */
export function rangeLocalEnd(rangeId: number): Buffer {
  return rangeLocalStart(rangeId + 1);
}

export function rangeLocalKey(rangeId: number, name: string | Buffer): Buffer {
  return Buffer.concat([rangeLocalStart(rangeId), typeof name === 'string' ? Buffer.from(name, 'latin1') : name]);
}

/** A user key under the user prefix (the key that MVCC versions are encoded from). */
export function userKey(key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([userPrefix]), key]);
}

/** The user key of a prefixed key (userKey's inverse). */
export function fromUserKey(prefixedKey: Uint8Array): Buffer {
  return Buffer.from(prefixedKey.subarray(1));
}

/** The engine key of version `ts` of user key `key`. */
export function userVersionKey(key: Uint8Array, ts: bigint): Buffer {
  return encodeMvccKey(userKey(key), ts);
}

/** The user key and timestamp of an engine key under the user prefix. */
export function decodeUserVersionKey(engineKey: Buffer): { key: Buffer; ts: bigint } {
  const { key, ts } = decodeMvccKey(engineKey);
  return { key: fromUserKey(key), ts };
}

/** The engine bounds of every version of the user keys in [start, end) (end empty: to the end of the keyspace). */
export function userBounds(start: Uint8Array, end: Uint8Array): { lower: Buffer; upper: Buffer } {
  return { lower: mvccKeyPrefix(userKey(start)), upper: end.byteLength === 0 ? Buffer.from([userPrefix + 1]) : mvccKeyPrefix(userKey(end)) };
}

/** The tag byte that starts a stored version: a value follows, or the version is a deletion. */
export const versionValueTag = 0x01;
export const versionTombstoneTag = 0x00;
const tombstoneVersion = Buffer.from([versionTombstoneTag]);

/** The stored form of a version: a value (Buffer) or a deletion (null). */
export function encodeVersionValue(value: Buffer | null): Buffer {
  return value === null ? tombstoneVersion : Buffer.concat([Buffer.from([versionValueTag]), value]);
}

/** The value of a stored version, or null for a deletion tombstone. */
export function decodeVersionValue(stored: Uint8Array): Buffer | null {
  const tag = stored[0];
  assert(tag === versionValueTag || tag === versionTombstoneTag, 'a stored version starts with a known tag');
  if (tag === versionTombstoneTag) return null;
  return Buffer.from(stored.buffer, stored.byteOffset + 1, stored.byteLength - 1);
}

/** Whether a stored version is a deletion tombstone (for the backup exporter). */
export function isTombstoneVersion(stored: Uint8Array): boolean {
  return stored[0] === versionTombstoneTag;
}
