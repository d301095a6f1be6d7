import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DbIterator, type DbIteratorOptions } from './db-iterator.ts';
import { ClosedError } from './errors.ts';
import type { InternalIterator } from './iterator.ts';
import { ValueKind } from './keys.ts';
import { type LevelFile, LevelIterator } from './level-iterator.ts';
import { Memtable } from './memtable.ts';
import { MergingIterator } from './merging-iterator.ts';
import {
  keyArbitrary,
  type ModelEntry,
  propertyRuns,
  rawEntriesArbitrary,
  sortedEntries,
  uniqueEntries,
} from './iterator-model.test-support.ts';

type UserOp =
  | { readonly op: 'seekToFirst' | 'seekToLast' | 'next' | 'prev' }
  | { readonly op: 'seek' | 'seekForPrev'; readonly key: Buffer }
  | { readonly op: 'seek' | 'seekForPrev'; readonly entryIndex: number };

const userOpArbitrary: fc.Arbitrary<UserOp> = fc.oneof(
  fc.constant({ op: 'seekToFirst' } as const),
  fc.constant({ op: 'seekToLast' } as const),
  fc.record({ op: fc.constantFrom('seek' as const, 'seekForPrev' as const), key: keyArbitrary }),
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('seek' as const, 'seekForPrev' as const), entryIndex: fc.nat() }) },
  { weight: 4, arbitrary: fc.constant({ op: 'next' } as const) },
  { weight: 4, arbitrary: fc.constant({ op: 'prev' } as const) },
);

/** The visible (key, value) pairs of a snapshot within bounds, ascending. */
function visibleEntries(sorted: readonly ModelEntry[], snapshotSeq: number, options: DbIteratorOptions): [string, string][] {
  const out: [string, string][] = [];
  let lastKey: Buffer | undefined;
  for (const entry of sorted) {
    if (entry.seq > snapshotSeq) continue;
    if (lastKey !== undefined && lastKey.equals(entry.userKey)) continue;
    lastKey = entry.userKey;
    if (entry.kind !== ValueKind.Put) continue;
    if (options.lowerBound !== undefined && entry.userKey.compare(options.lowerBound) < 0) continue;
    if (options.upperBound !== undefined && entry.userKey.compare(options.upperBound) >= 0) continue;
    out.push([entry.userKey.toString('hex'), entry.value.toString()]);
  }
  return out;
}

/**
 * Builds the engine's shape of read path: a merging iterator over two memtables and a level
 * made of the remaining entries cut into files.
 */
function buildInternal(entries: readonly ModelEntry[], assignment: readonly number[]): InternalIterator {
  const memtables = [new Memtable(), new Memtable()];
  const levelEntries: ModelEntry[] = [];
  entries.forEach((entry, i) => {
    const slot = (assignment[i] ?? 0) % 3;
    const table = memtables[slot];
    if (table === undefined) levelEntries.push(entry);
    else table.add(entry.userKey, entry.seq, entry.kind, entry.value);
  });
  const sortedLevel = sortedEntries(levelEntries);
  const files: LevelFile[] = [];
  for (let start = 0; start < sortedLevel.length; start += 7) {
    const chunk = sortedLevel.slice(start, start + 7);
    const table = new Memtable();
    for (const entry of chunk) table.add(entry.userKey, entry.seq, entry.kind, entry.value);
    const first = chunk[0];
    const last = chunk[chunk.length - 1];
    if (first === undefined || last === undefined) continue;
    files.push({ smallestUserKey: first.userKey, largestUserKey: last.userKey, open: () => table.iterator() });
  }
  return new MergingIterator([...memtables.map((t) => t.iterator()), new LevelIterator(files)]);
}

function describePosition(iterator: DbIterator): string {
  return iterator.valid() ? `${iterator.key().toString('hex')}=${iterator.value().toString()}` : 'invalid';
}

describe('DbIterator', () => {
  it('shows the newest visible version of each key within bounds, like the model, in every direction', () => {
    fc.assert(
      fc.property(
        rawEntriesArbitrary(150),
        fc.array(fc.nat(), { maxLength: 150 }),
        fc.integer({ min: 0, max: 45 }),
        fc.option(keyArbitrary, { nil: undefined }),
        fc.option(keyArbitrary, { nil: undefined }),
        fc.array(userOpArbitrary, { maxLength: 60 }),
        (raw, assignment, snapshotSeq, lowerBound, upperBound, ops) => {
          const entries = uniqueEntries(raw);
          const options: DbIteratorOptions = {
            ...(lowerBound === undefined ? {} : { lowerBound }),
            ...(upperBound === undefined ? {} : { upperBound }),
          };
          const visible = visibleEntries(sortedEntries(entries), snapshotSeq, options);
          const describeModel = (i: number): string => {
            const pair = visible[i];
            return pair === undefined ? 'invalid' : `${pair[0]}=${pair[1]}`;
          };
          const iterator = new DbIterator(buildInternal(entries, assignment), snapshotSeq, options);

          const forward: string[] = [];
          for (iterator.seekToFirst(); iterator.valid(); iterator.next()) forward.push(describePosition(iterator));
          expect(forward).toEqual(visible.map((_, i) => describeModel(i)));
          const backward: string[] = [];
          for (iterator.seekToLast(); iterator.valid(); iterator.prev()) backward.push(describePosition(iterator));
          expect(backward).toEqual(visible.map((_, i) => describeModel(i)).reverse());

          let position = -1;
          const trace: string[] = [];
          const sortedAll = sortedEntries(entries);
          for (const rawOp of ops) {
            // Seeks aimed at stored keys: exact hits on the first and last visible keys matter.
            const op: UserOp =
              'entryIndex' in rawOp
                ? { op: rawOp.op, key: sortedAll[rawOp.entryIndex % Math.max(1, sortedAll.length)]?.userKey ?? Buffer.alloc(0) }
                : rawOp;
            const modelValid = position >= 0 && position < visible.length;
            if ((op.op === 'next' || op.op === 'prev') && !modelValid) continue;
            switch (op.op) {
              case 'seekToFirst':
                position = 0;
                iterator.seekToFirst();
                break;
              case 'seekToLast':
                position = visible.length - 1;
                iterator.seekToLast();
                break;
              case 'seek': {
                if (!('key' in op)) throw new Error('unresolved seek');
                const hex = op.key.toString('hex');
                position = visible.findIndex(([key]) => Buffer.from(key, 'hex').compare(op.key) >= 0);
                if (position === -1) position = visible.length;
                iterator.seek(op.key);
                trace.push(hex);
                break;
              }
              case 'seekForPrev':
                if (!('key' in op)) throw new Error('unresolved seek');
                position = visible.findLastIndex(([key]) => Buffer.from(key, 'hex').compare(op.key) <= 0);
                iterator.seekForPrev(op.key);
                trace.push(op.key.toString('hex'));
                break;
              case 'next':
                position++;
                iterator.next();
                break;
              case 'prev':
                position--;
                iterator.prev();
                break;
            }
            trace.push(op.op);
            expect(describePosition(iterator), trace.join(' ')).toBe(describeModel(position));
          }
        },
      ),
      { numRuns: propertyRuns },
    );
  });

  it('hides deleted keys and newer versions, and skips a long run of deletions', () => {
    const table = new Memtable();
    const put = (key: string, seq: number, value: string): void => table.add(Buffer.from(key), seq, ValueKind.Put, Buffer.from(value));
    const del = (key: string, seq: number): void => table.add(Buffer.from(key), seq, ValueKind.Delete, Buffer.alloc(0));
    put('a', 1, 'a1');
    put('b', 2, 'b2');
    del('b', 5);
    for (let i = 0; i < 100; i++) del(`c${String(i).padStart(3, '0')}`, 3);
    put('d', 4, 'd4');
    put('d', 9, 'd9');
    const keysAt = (snapshotSeq: number): string[] => {
      const iterator = new DbIterator(table.iterator(), snapshotSeq);
      const out: string[] = [];
      for (iterator.seekToFirst(); iterator.valid(); iterator.next()) out.push(`${iterator.key().toString()}=${iterator.value().toString()}`);
      return out;
    };
    expect(keysAt(8)).toEqual(['a=a1', 'd=d4']);
    expect(keysAt(4)).toEqual(['a=a1', 'b=b2', 'd=d4']);
    expect(keysAt(100)).toEqual(['a=a1', 'd=d9']);
    expect(keysAt(0)).toEqual([]);
  });

  it('steps forward again after reverse iteration ran off the start', () => {
    const table = new Memtable();
    table.add(Buffer.from('a'), 20, ValueKind.Put, Buffer.from('newer than the snapshot'));
    for (const [seq, key] of ['b', 'c', 'd'].entries()) table.add(Buffer.from(key), seq + 2, ValueKind.Put, Buffer.from(key));
    const iterator = new DbIterator(table.iterator(), 10);
    iterator.seekForPrev(Buffer.from('b'));
    expect(iterator.key().toString()).toBe('b');
    iterator.next();
    expect(iterator.key().toString()).toBe('c');
    iterator.prev();
    iterator.prev();
    expect(iterator.valid()).toBe(false);
  });

  it('calls onClose once and refuses use after close', () => {
    let closes = 0;
    const iterator = new DbIterator(new Memtable().iterator(), 5, { onClose: () => closes++ });
    iterator.seekToFirst();
    iterator.close();
    iterator.close();
    expect(closes).toBe(1);
    expect(iterator.valid()).toBe(false);
    expect(() => iterator.seekToFirst()).toThrow(ClosedError);
  });
});

describe('DbIterator over keys with many versions', () => {
  /** Counts the internal iterator's steps and seeks. */
  function counted(inner: InternalIterator): { iterator: InternalIterator; steps: () => number } {
    let steps = 0;
    const iterator: InternalIterator = {
      valid: () => inner.valid(),
      seekToFirst: () => inner.seekToFirst(),
      seekToLast: () => inner.seekToLast(),
      seek: (key, seq) => {
        steps++;
        inner.seek(key, seq);
      },
      seekForPrev: (key, seq) => inner.seekForPrev(key, seq),
      next: () => {
        steps++;
        inner.next();
      },
      prev: () => inner.prev(),
      userKey: () => inner.userKey(),
      seq: () => inner.seq(),
      kind: () => inner.kind(),
      value: () => inner.value(),
    };
    return { iterator, steps: () => steps };
  }

  function versioned(): Memtable {
    const table = new Memtable();
    // 'a' overwritten 1,000 times; 'b' 500 times, then deleted; 'c' once, last.
    for (let seq = 1; seq <= 1000; seq++) table.add(Buffer.from('a'), seq, ValueKind.Put, Buffer.from(`a${seq}`));
    for (let seq = 1; seq <= 500; seq++) table.add(Buffer.from('b'), seq, ValueKind.Put, Buffer.from(`b${seq}`));
    table.add(Buffer.from('b'), 1500, ValueKind.Delete, Buffer.alloc(0));
    table.add(Buffer.from('c'), 2000, ValueKind.Put, Buffer.from('c2000'));
    return table;
  }

  it('seeks past the hidden versions of a key instead of stepping over each', () => {
    const { iterator, steps } = counted(versioned().iterator());
    const it = new DbIterator(iterator, 3000);
    const seen: string[] = [];
    for (it.seekToFirst(); it.valid(); it.next()) seen.push(`${it.key().toString()}=${it.value().toString()}`);
    expect(seen).toEqual(['a=a1000', 'c=c2000']);
    expect(steps(), 'internal steps and seeks for 1,503 entries').toBeLessThan(60);
  });

  it('shows the versions a snapshot sees, newer ones skipped, in both directions', () => {
    const forward = new DbIterator(versioned().iterator(), 700);
    const seen: string[] = [];
    for (forward.seekToFirst(); forward.valid(); forward.next()) seen.push(`${forward.key().toString()}=${forward.value().toString()}`);
    expect(seen).toEqual(['a=a700', 'b=b500']);
    const backward = new DbIterator(versioned().iterator(), 700);
    const back: string[] = [];
    for (backward.seekToLast(); backward.valid(); backward.prev()) back.push(`${backward.key().toString()}=${backward.value().toString()}`);
    expect(back).toEqual(['b=b500', 'a=a700']);
    const mixed = new DbIterator(versioned().iterator(), 3000);
    mixed.seekToLast();
    expect(mixed.key().toString()).toBe('c');
    mixed.prev();
    expect(`${mixed.key().toString()}=${mixed.value().toString()}`).toBe('a=a1000');
    mixed.next();
    expect(mixed.key().toString()).toBe('c');
  });
});
