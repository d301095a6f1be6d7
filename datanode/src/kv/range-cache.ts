/**
 * The client library's range cache (like CockroachDB's range cache): which node served each
 * range span, so that a key's request goes straight to its range's leader instead of to a node
 * that forwards it (a second gRPC hop: another serialize/deserialize on two nodes).
 *
 * A node answers a request with the span of the range that served it (`ph-range-bin`) when the
 * client asks for it (`ph-range-ask`: the key was not in the cache) or when it forwarded the
 * request (the cache was stale). The cache is only a hint: any node accepts any key, so a stale
 * entry costs a forward, never a wrong answer.
 *
 * Entries are disjoint spans [start, end) (an empty end is the end of the keyspace), kept sorted
 * by start; a new span replaces every entry it overlaps. At most `entriesMax` entries: the least
 * recently used go first.
 */
import { assert } from '../assert.ts';

/** Request header: the client has no cache entry for the key and asks for the serving range's span. */
export const rangeAskMetadataKey = 'ph-range-ask';
/** Response header: the span of the range that served the request (encodeSpan). */
export const rangeMetadataKey = 'ph-range-bin';
/** Spans whose two keys together are longer are not sent (the header must stay small). */
export const spanBytesMax = 1024;

export interface Span {
  readonly start: Buffer;
  /** Exclusive; empty: the end of the keyspace. */
  readonly end: Buffer;
}

/** [u16 start length][start][end]; undefined when the span is too long to send. */
export function encodeSpan(start: Uint8Array, end: Uint8Array): Buffer | undefined {
  if (start.byteLength + end.byteLength > spanBytesMax) return undefined;
  const out = Buffer.allocUnsafe(2 + start.byteLength + end.byteLength);
  out.writeUInt16BE(start.byteLength, 0);
  out.set(start, 2);
  out.set(end, 2 + start.byteLength);
  return out;
}

/** The span of a `ph-range-bin` header; undefined when it is malformed. */
export function decodeSpan(bytes: Buffer): Span | undefined {
  if (bytes.byteLength < 2 || bytes.byteLength > 2 + spanBytesMax) return undefined;
  const startLength = bytes.readUInt16BE(0);
  if (2 + startLength > bytes.byteLength) return undefined;
  const start = Buffer.from(bytes.subarray(2, 2 + startLength));
  const end = Buffer.from(bytes.subarray(2 + startLength));
  if (end.byteLength > 0 && Buffer.compare(start, end) >= 0) return undefined;
  return { start, end };
}

interface Entry extends Span {
  readonly address: string;
  /** The cache's use counter when the entry was last looked up or stored. */
  usedAt: number;
}

const spanHolds = (entry: Span, key: Uint8Array): boolean => Buffer.compare(key, entry.start) >= 0 && (entry.end.byteLength === 0 || Buffer.compare(key, entry.end) < 0);

export class RangeCache {
  /** Disjoint, sorted by start. */
  private entries: Entry[] = [];
  private uses = 0;

  constructor(private readonly entriesMax = 4096) {
    assert(entriesMax > 0, 'a range cache holds at least one entry');
  }

  get size(): number {
    return this.entries.length;
  }

  /** The address cached for the range holding `key`, if any. */
  lookup(key: Uint8Array): string | undefined {
    const at = this.indexOf(key);
    if (at < 0) return undefined;
    const entry = this.entries[at];
    if (entry === undefined) return undefined;
    entry.usedAt = ++this.uses;
    return entry.address;
  }

  /** Caches that `address` serves [start, end), replacing every entry the span overlaps. */
  insert(span: Span, address: string): void {
    const { start, end } = span;
    // The first entry that may overlap: the one holding `start`, else the first starting after it.
    let from = this.lastStartingAtOrBefore(start);
    if (from < 0 || !spanHolds(this.entries[from] as Entry, start)) from += 1;
    let to = from;
    while (to < this.entries.length) {
      const entry = this.entries[to] as Entry;
      if (end.byteLength > 0 && Buffer.compare(entry.start, end) >= 0) break;
      to += 1;
    }
    this.entries.splice(from, to - from, { start, end, address, usedAt: ++this.uses });
    if (this.entries.length > this.entriesMax) this.evictLeastRecentlyUsed();
  }

  /** Forgets the entry holding `key` (its node refused or did not answer). */
  evict(key: Uint8Array): void {
    const at = this.indexOf(key);
    if (at >= 0) this.entries.splice(at, 1);
  }

  /** Forgets the entry holding `key` if it still names `address` (a newer answer may have replaced it). */
  evictIf(key: Uint8Array, address: string): void {
    const at = this.indexOf(key);
    if (at >= 0 && this.entries[at]?.address === address) this.entries.splice(at, 1);
  }

  /** Forgets every entry naming `address`. */
  evictAddress(address: string): void {
    this.entries = this.entries.filter((entry) => entry.address !== address);
  }

  clear(): void {
    this.entries = [];
  }

  /** The index of the entry holding `key`, or -1. */
  private indexOf(key: Uint8Array): number {
    const at = this.lastStartingAtOrBefore(key);
    return at >= 0 && spanHolds(this.entries[at] as Entry, key) ? at : -1;
  }

  /** The index of the last entry whose start is ≤ `key`, or -1 (binary search). */
  private lastStartingAtOrBefore(key: Uint8Array): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (Buffer.compare((this.entries[mid] as Entry).start, key) <= 0) low = mid + 1;
      else high = mid;
    }
    return low - 1;
  }

  /** Drops the least recently used eighth (at least one entry): an eviction pass is O(n), so it is not made for every insert. */
  private evictLeastRecentlyUsed(): void {
    const drop = Math.max(1, this.entries.length - this.entriesMax + (this.entriesMax >> 3));
    const cutoff = this.entries.map((entry) => entry.usedAt).sort((a, b) => a - b)[drop - 1] ?? 0;
    this.entries = this.entries.filter((entry) => entry.usedAt > cutoff);
  }
}
