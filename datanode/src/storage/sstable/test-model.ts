/**
 * A sorted-array model of internal-order entries, shared by the block and table tests: the
 * expected answers for seek, seekForPrev and get.
 */
import { encodeInternalKey, ValueKind } from '../keys.ts';
import type { InternalIterator } from '../iterator.ts';

export interface ModelEntry {
  readonly userKey: Buffer;
  readonly seq: number;
  readonly kind: ValueKind;
  readonly value: Buffer;
}

/** Internal order: user key ascending, then sequence descending. */
export function compareEntries(a: { userKey: Buffer; seq: number }, b: { userKey: Buffer; seq: number }): number {
  const byUser = Buffer.compare(a.userKey, b.userKey);
  if (byUser !== 0) return byUser;
  return a.seq === b.seq ? 0 : a.seq > b.seq ? -1 : 1;
}

/** Sorts and drops duplicate (userKey, seq) pairs, keeping the first. */
export function normalizeEntries(entries: readonly ModelEntry[]): ModelEntry[] {
  const sorted = [...entries].sort(compareEntries);
  return sorted.filter((entry, i) => i === 0 || compareEntries(sorted[i - 1] as ModelEntry, entry) !== 0);
}

export function internalKeyOf(entry: ModelEntry): Buffer {
  return encodeInternalKey(entry.userKey, entry.seq, entry.kind);
}

/** The first index whose entry compares `>= target` (strict: `> target`), by binary search over the sorted entries. */
function lowerBound(entries: readonly ModelEntry[], target: { userKey: Buffer; seq: number }, strict: boolean): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareEntries(entries[mid] as ModelEntry, target);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first entry at or after (userKey, seq), or entries.length (entries sorted, as normalizeEntries leaves them). */
export function modelSeek(entries: readonly ModelEntry[], userKey: Buffer, seq: number): number {
  return lowerBound(entries, { userKey, seq }, false);
}

/** Index of the last entry at or before (userKey, seq), or -1. */
export function modelSeekForPrev(entries: readonly ModelEntry[], userKey: Buffer, seq: number): number {
  return lowerBound(entries, { userKey, seq }, true) - 1;
}

/** The newest entry for userKey with entry seq <= seq. */
export function modelGet(entries: readonly ModelEntry[], userKey: Buffer, seq: number): ModelEntry | undefined {
  const i = modelSeek(entries, userKey, seq);
  const entry = entries[i];
  return entry !== undefined && entry.userKey.equals(userKey) ? entry : undefined;
}

/** Reads the iterator's current entry (the buffers it returns, uncopied). */
export function currentEntry(iterator: InternalIterator): ModelEntry {
  return { userKey: iterator.userKey(), seq: iterator.seq(), kind: iterator.kind(), value: iterator.value() };
}

export function collectForward(iterator: InternalIterator): ModelEntry[] {
  const out: ModelEntry[] = [];
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) out.push(currentEntry(iterator));
  return out;
}

export function collectBackward(iterator: InternalIterator): ModelEntry[] {
  const out: ModelEntry[] = [];
  for (iterator.seekToLast(); iterator.valid(); iterator.prev()) out.push(currentEntry(iterator));
  return out;
}

/** A printable form for expect() comparisons. */
export function show(entry: ModelEntry | undefined): string {
  if (entry === undefined) return 'none';
  const kind = entry.kind === ValueKind.Put ? 'put' : 'del';
  return `${entry.userKey.toString('hex')}@${entry.seq}:${kind}=${entry.value.toString('hex')}`;
}
