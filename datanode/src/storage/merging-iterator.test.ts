import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../assert.ts';
import { ValueKind } from './keys.ts';
import { Memtable } from './memtable.ts';
import { MergingIterator } from './merging-iterator.ts';
import {
  checkCursorOps,
  checkFullScans,
  cursorOpArbitrary,
  type ModelEntry,
  propertyRuns,
  rawEntriesArbitrary,
  sortedEntries,
  uniqueEntries,
} from './iterator-model.test-support.ts';

/** Spreads entries over `tableCount` memtables by the given assignment (some may stay empty). */
function spreadOverTables(entries: readonly ModelEntry[], tableCount: number, assignment: readonly number[]): Memtable[] {
  const tables = Array.from({ length: tableCount }, () => new Memtable());
  entries.forEach((entry, i) => {
    const table = tables[(assignment[i] ?? i) % tableCount];
    table?.add(entry.userKey, entry.seq, entry.kind, entry.value);
  });
  return tables;
}

describe('MergingIterator', () => {
  it('matches a sorted-array model over several memtables, in both directions and across switches', () => {
    fc.assert(
      fc.property(
        rawEntriesArbitrary(120),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.nat(), { maxLength: 120 }),
        fc.array(cursorOpArbitrary, { maxLength: 80 }),
        (raw, tableCount, assignment, ops) => {
          const entries = uniqueEntries(raw);
          const sorted = sortedEntries(entries);
          const tables = spreadOverTables(entries, tableCount, assignment);
          const merged = new MergingIterator(tables.map((t) => t.iterator()));
          checkFullScans(merged, sorted);
          checkCursorOps(new MergingIterator(tables.map((t) => t.iterator())), sorted, ops);
        },
      ),
      { numRuns: propertyRuns },
    );
  });

  it('is empty with no children and asserts on use while invalid', () => {
    const merged = new MergingIterator([]);
    merged.seekToFirst();
    expect(merged.valid()).toBe(false);
    merged.seekForPrev(Buffer.from('a'), 1);
    expect(merged.valid()).toBe(false);
    expect(() => merged.next()).toThrow(AssertionError);
    expect(() => merged.userKey()).toThrow(AssertionError);
  });

  it('zigzags between two children holding alternate versions of one key', () => {
    const a = new Memtable();
    const b = new Memtable();
    for (let seq = 1; seq <= 20; seq++) (seq % 2 === 0 ? a : b).add(Buffer.from('k'), seq, ValueKind.Put, Buffer.from(String(seq)));
    const merged = new MergingIterator([a.iterator(), b.iterator()]);
    merged.seek(Buffer.from('k'), 11);
    expect(merged.seq()).toBe(11);
    merged.next();
    expect(merged.seq()).toBe(10);
    merged.prev();
    expect(merged.seq()).toBe(11);
    merged.prev();
    expect(merged.seq()).toBe(12);
    merged.next();
    expect(merged.seq()).toBe(11);
  });
});
