/**
 * The storage engine's key layout: one engine per node holds every range's replicated state.
 *
 *   0x00 <name>                          node-local state (never replicated): the layout version,
 *                                        the range id counter, tombstones of dropped replicas
 *   0x02 <rangeId u64 BE> <name>         a range's replicated local state ("applied", "desc", and on
 *                                        the meta range "members", "lifecycle", "cluster-version",
 *                                        "meta/" <rangeId u64 BE>)
 *   0x03 <user key>                      user data; a range owns the user keys of its span
 *
 * A range's snapshot is its range-local keys plus the user keys of its span. The single-range
 * layout that came before kept everything under 0x01; a data directory holding such keys is
 * refused (nothing was shipped in that layout).
 */
export const layoutVersion = 2;

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

/** The engine key of a user key. */
export function userKey(key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([userPrefix]), key]);
}

/** The user key of an engine key under the user prefix. */
export function fromUserKey(engineKey: Uint8Array): Buffer {
  return Buffer.from(engineKey.subarray(1));
}

/** The engine bounds of the user span [start, end) (end empty: to the end of the keyspace). */
export function userBounds(start: Uint8Array, end: Uint8Array): { lower: Buffer; upper: Buffer } {
  return { lower: userKey(start), upper: end.byteLength === 0 ? Buffer.from([userPrefix + 1]) : userKey(end) };
}
