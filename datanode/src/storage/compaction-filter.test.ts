/**
 * The compaction filter's MVCC GC of deletion tombstones: a tombstone that is a key's newest
 * version at or below the GC threshold is dropped together with the older versions it shadows,
 * but only when no deeper level can hold a version of that key (else an older version there
 * would show through), and never while a snapshot may read it. Driven entry by entry in the
 * merge's order, as runMerge does.
 */
import { describe, expect, it } from 'vitest';
import { CompactionFilter, type CompactionContext } from './compaction.ts';
import { ValueKind } from './keys.ts';
import { decodeMvccKey, encodeMvccKey, mvccPrefixLength } from './mvcc.ts';

const tombstone = Buffer.from([0]);
const value = (text: string): Buffer => Buffer.concat([Buffer.from([1]), Buffer.from(text)]);

interface Entry {
  readonly key: string;
  readonly ts: bigint;
  readonly seq: number;
  readonly value: Buffer;
}

/** The verdicts for `entries` (given in merge order: key ascending, newest version first). */
function verdicts(entries: readonly Entry[], options: { threshold: bigint; smallestSnapshot: number; deeperHolds: (key: string) => boolean }): string[] {
  const ctx: CompactionContext = {
    smallestSnapshot: options.smallestSnapshot,
    isBaseLevelForKey: (userKey) => !options.deeperHolds(decodeMvccKey(userKey).key.toString()),
    mvcc: {
      prefixLength: (userKey) => mvccPrefixLength(userKey),
      atOrBelowThreshold: (userKey) => decodeMvccKey(userKey).ts <= options.threshold,
      isTombstone: (stored) => stored.length === 1 && stored[0] === 0,
      noDeeperVersions: (prefix) => !options.deeperHolds(decodeMvccKey(Buffer.concat([prefix, Buffer.alloc(8)])).key.toString()),
    },
  };
  const filter = new CompactionFilter(ctx);
  return entries.map((entry) => `${entry.key}@${entry.ts}:${filter.decide(encodeMvccKey(Buffer.from(entry.key), entry.ts), entry.seq, ValueKind.Put, entry.value)}`);
}

const history: Entry[] = [
  { key: 'a', ts: 40n, seq: 4, value: value('a40') },
  { key: 'a', ts: 30n, seq: 3, value: tombstone },
  { key: 'a', ts: 10n, seq: 1, value: value('a10') },
  { key: 'b', ts: 32n, seq: 6, value: tombstone },
  { key: 'b', ts: 31n, seq: 5, value: value('b31') },
  { key: 'c', ts: 50n, seq: 7, value: tombstone },
];

describe('MVCC tombstone GC in compaction', () => {
  it('drops a tombstone at or below the threshold with what it shadows; keeps newer versions and a tombstone above the threshold', () => {
    expect(verdicts(history, { threshold: 35n, smallestSnapshot: 100, deeperHolds: () => false })).toEqual([
      'a@40:keep',
      'a@30:drop',
      'a@10:drop',
      'b@32:drop',
      'b@31:drop',
      'c@50:keep',
    ]);
  });

  it('keeps the tombstone when a deeper level may hold an older version of the key', () => {
    expect(verdicts(history, { threshold: 35n, smallestSnapshot: 100, deeperHolds: (key) => key === 'b' })).toEqual([
      'a@40:keep',
      'a@30:drop',
      'a@10:drop',
      'b@32:keep',
      'b@31:tombstone',
      'c@50:keep',
    ]);
  });

  it('keeps a tombstone a snapshot may still read', () => {
    expect(verdicts(history, { threshold: 35n, smallestSnapshot: 5, deeperHolds: () => false })).toContain('b@32:keep');
  });
});
