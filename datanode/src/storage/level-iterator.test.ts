import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../assert.ts';
import { ValueKind } from './keys.ts';
import { type LevelFile, LevelIterator } from './level-iterator.ts';
import { Memtable } from './memtable.ts';
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

interface CountedFiles {
  readonly files: LevelFile[];
  readonly opens: { count: number };
}

function fileOf(entries: readonly ModelEntry[], smallest: Buffer, largest: Buffer, opens: { count: number }): LevelFile {
  const table = new Memtable();
  for (const entry of entries) table.add(entry.userKey, entry.seq, entry.kind, entry.value);
  return {
    smallestUserKey: smallest,
    largestUserKey: largest,
    open: () => {
      opens.count++;
      return table.iterator();
    },
  };
}

/**
 * Cuts the sorted entries into files at the given points (a cut may split one user key's
 * versions across two files) and adds an empty file after each file whose flag says so.
 */
function cutIntoFiles(sorted: readonly ModelEntry[], cuts: readonly number[], emptyAfter: readonly boolean[]): CountedFiles {
  const opens = { count: 0 };
  const points = [...new Set(cuts.map((c) => c % (sorted.length + 1)))].sort((a, b) => a - b);
  const files: LevelFile[] = [];
  let start = 0;
  for (const end of [...points, sorted.length]) {
    const chunk = sorted.slice(start, end);
    start = Math.max(start, end);
    const first = chunk[0];
    const last = chunk[chunk.length - 1];
    if (first === undefined || last === undefined) continue;
    files.push(fileOf(chunk, first.userKey, last.userKey, opens));
    if (emptyAfter[files.length] === true) files.push(fileOf([], last.userKey, last.userKey, opens));
  }
  return { files, opens };
}

describe('LevelIterator', () => {
  it('matches a sorted-array model over memtables posing as files', () => {
    fc.assert(
      fc.property(
        rawEntriesArbitrary(120),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        fc.array(cursorOpArbitrary, { maxLength: 80 }),
        (raw, cuts, emptyAfter, ops) => {
          const sorted = sortedEntries(uniqueEntries(raw));
          const { files, opens } = cutIntoFiles(sorted, cuts, emptyAfter);
          const level = new LevelIterator(files);
          expect(opens.count).toBe(0);
          checkFullScans(level, sorted);
          checkCursorOps(new LevelIterator(files), sorted, ops);
        },
      ),
      { numRuns: propertyRuns },
    );
  });

  it('seeks into the next file when the versions of a key are split across a file boundary', () => {
    const opens = { count: 0 };
    const key = Buffer.from('k');
    const version = (seq: number): ModelEntry => ({ userKey: key, seq, kind: ValueKind.Put, value: Buffer.from(String(seq)) });
    const files = [fileOf([version(10)], key, key, opens), fileOf([version(8), version(3)], key, key, opens)];
    const level = new LevelIterator(files);
    level.seek(key, 5);
    expect(level.seq()).toBe(3);
    level.seekForPrev(key, 9);
    expect(level.seq()).toBe(10);
    level.seekForPrev(key, 4);
    expect(level.seq()).toBe(8);
  });

  it('opens only the file a seek lands in', () => {
    const opens = { count: 0 };
    const files: LevelFile[] = [];
    for (let i = 0; i < 100; i++) {
      const key = Buffer.from(`key${String(i).padStart(3, '0')}`);
      files.push(fileOf([{ userKey: key, seq: 1, kind: ValueKind.Put, value: Buffer.from('v') }], key, key, opens));
    }
    const level = new LevelIterator(files);
    level.seek(Buffer.from('key050'), 5);
    expect(level.userKey().toString()).toBe('key050');
    expect(opens.count).toBe(1);
    level.seekForPrev(Buffer.from('key0705'), 5);
    expect(level.userKey().toString()).toBe('key070');
    expect(opens.count).toBe(2);
  });

  it('rejects overlapping files', () => {
    const opens = { count: 0 };
    const a = fileOf([], Buffer.from('a'), Buffer.from('m'), opens);
    const b = fileOf([], Buffer.from('c'), Buffer.from('z'), opens);
    expect(() => new LevelIterator([a, b])).toThrow(AssertionError);
  });
});
