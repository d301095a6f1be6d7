import type { ValueKind } from './keys.ts';

/**
 * An iterator over entries in internal order (user key ascending, sequence descending). It is
 * implemented by memtables, SSTables and the merging iterator, all synchronous: the data is in
 * memory or read with positional reads that usually hit the page cache or the block cache.
 *
 * Buffers returned by `userKey()` and `value()` stay valid and unchanged after the iterator moves
 * (they may be views of immutable blocks), so callers may keep them without copying.
 */
export interface InternalIterator {
  valid(): boolean;
  seekToFirst(): void;
  seekToLast(): void;
  /** Positions at the first entry at or after (userKey, seq) in internal order. */
  seek(userKey: Buffer, seq: number): void;
  /** Positions at the last entry at or before (userKey, seq) in internal order. */
  seekForPrev(userKey: Buffer, seq: number): void;
  next(): void;
  prev(): void;
  userKey(): Buffer;
  seq(): number;
  kind(): ValueKind;
  value(): Buffer;
}
