import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../assert.ts';
import { ValueKind } from './keys.ts';
import { Memtable } from './memtable.ts';
import {
  checkCursorOps,
  checkFullScans,
  cursorOpArbitrary,
  keyArbitrary,
  type ModelEntry,
  propertyRuns,
  rawEntriesArbitrary,
  seqArbitrary,
  sortedEntries,
  uniqueEntries,
} from './iterator-model.test-support.ts';

function tableOf(entries: readonly ModelEntry[], seed?: number): Memtable {
  const table = new Memtable(seed === undefined ? {} : { seed });
  for (const entry of entries) table.add(entry.userKey, entry.seq, entry.kind, entry.value);
  return table;
}

/** The model's answer to get: the first entry of `userKey` with seq <= `seq` in internal order. */
function modelGet(sorted: readonly ModelEntry[], userKey: Buffer, seq: number): ModelEntry | undefined {
  return sorted.find((e) => e.userKey.equals(userKey) && e.seq <= seq);
}

describe('Memtable', () => {
  it('matches a sorted-array model for get, scans, seeks and direction switches', () => {
    fc.assert(
      fc.property(
        rawEntriesArbitrary(120),
        fc.array(fc.record({ userKey: keyArbitrary, seq: seqArbitrary }), { maxLength: 30 }),
        fc.array(cursorOpArbitrary, { maxLength: 60 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        (raw, gets, ops, seed) => {
          const entries = uniqueEntries(raw);
          const sorted = sortedEntries(entries);
          const table = tableOf(entries, seed);
          table.checkStructure();
          expect(table.count).toBe(entries.length);
          const targets = [
            ...gets,
            ...sorted.flatMap((e) => [e, { userKey: e.userKey, seq: e.seq - 1 }]).filter((t) => t.seq >= 0),
          ];
          for (const { userKey, seq } of targets) {
            const expected = modelGet(sorted, userKey, seq);
            const actual = table.get(userKey, seq);
            expect(actual?.seq).toBe(expected?.seq);
            expect(actual?.kind).toBe(expected?.kind);
            expect(actual?.value.toString()).toBe(expected?.value.toString());
          }
          checkFullScans(table.iterator(), sorted);
          checkCursorOps(table.iterator(), sorted, ops);
        },
      ),
      { numRuns: propertyRuns },
    );
  });

  it('gives iterators the entries present at their creation, while adds continue', () => {
    fc.assert(
      fc.property(
        rawEntriesArbitrary(60),
        rawEntriesArbitrary(60),
        fc.array(cursorOpArbitrary, { minLength: 1, maxLength: 60 }),
        (rawBefore, rawAfter, ops) => {
          const all = uniqueEntries([...rawBefore, ...rawAfter]);
          const before = all.slice(0, uniqueEntries(rawBefore).length);
          const after = all.slice(before.length);
          const table = tableOf(before);
          const early = table.iterator();
          const earlyModel = sortedEntries(before);
          // Interleave the later adds with cursor steps on the early iterator.
          const stride = Math.max(1, Math.ceil(after.length / ops.length));
          let added = 0;
          const interleaved = ops.map((op) => {
            for (const entry of after.slice(added, added + stride)) table.add(entry.userKey, entry.seq, entry.kind, entry.value);
            added += stride;
            return op;
          });
          checkCursorOps(early, earlyModel, interleaved);
          for (const entry of after.slice(added)) table.add(entry.userKey, entry.seq, entry.kind, entry.value);
          checkFullScans(early, earlyModel);
          checkFullScans(table.iterator(), sortedEntries(all));
        },
      ),
      { numRuns: propertyRuns },
    );
  });

  it('orders keys that share their first six bytes and differ in bytes 6-17 or later (the chunk tie-breakers)', () => {
    // Every key starts with the same six bytes (like the data node's user keys), so only the
    // chunks kept in each node (bytes 6-11, 12-17) or the key bytes after them can order them;
    // zero bytes and keys ending inside a chunk test the zero padding.
    // Tails built of a few chunk-sized pieces, so that many keys tie on bytes 6-11 too.
    const piece = fc.constantFrom('', '000000', '000001', '\x00\x00\x00\x00\x00\x00', '00000', '0000000');
    const tailArbitrary = fc
      .tuple(piece, piece, fc.array(fc.constantFrom(0x00, 0x30, 0xff), { maxLength: 6 }))
      .map(([first, second, rest]) => [...Buffer.from(first + second, 'latin1'), ...rest]);
    const common = Buffer.from('\x03key-0', 'latin1');
    fc.assert(
      fc.property(
        fc.array(fc.record({ tail: tailArbitrary, seq: fc.integer({ min: 0, max: 20 }), kind: fc.constantFrom(ValueKind.Put, ValueKind.Delete) }), { maxLength: 150 }),
        fc.array(fc.record({ tail: tailArbitrary, seq: fc.integer({ min: 0, max: 21 }) }), { maxLength: 30 }),
        fc.array(cursorOpArbitrary, { maxLength: 40 }),
        (raw, gets, ops) => {
          const entries = uniqueEntries(raw.map((r) => ({ userKey: Buffer.concat([common, Buffer.from(r.tail)]), seq: r.seq, kind: r.kind })));
          const table = tableOf(entries);
          table.checkStructure();
          const sorted = sortedEntries(entries);
          // One Buffer reused for every get, rewritten in place: a search must read the key it is given.
          const reused = Buffer.alloc(common.length + 20);
          for (const { userKey, seq } of [...gets.map((g) => ({ userKey: Buffer.concat([common, Buffer.from(g.tail)]), seq: g.seq })), ...sorted]) {
            const key = reused.subarray(0, userKey.length);
            userKey.copy(key);
            expect(table.get(key, seq)?.seq).toBe(modelGet(sorted, userKey, seq)?.seq);
            expect(table.get(userKey, seq)?.seq).toBe(modelGet(sorted, userKey, seq)?.seq);
          }
          const same = reused.subarray(0, common.length + 8);
          for (const entry of sorted.slice(0, 10)) {
            // The same Buffer object rewritten between gets: the chunks are read again each time.
            same.fill(0);
            entry.userKey.copy(same, 0, 0, Math.min(entry.userKey.length, same.length));
            const model = modelGet(sorted, same, entry.seq);
            expect(table.get(same, entry.seq)?.seq).toBe(model?.seq);
          }
          checkFullScans(table.iterator(), sorted);
          checkCursorOps(table.iterator(), sorted, ops);
        },
      ),
      { numRuns: propertyRuns },
    );
  });

  it('matches the model when sorted runs (finger searches) interleave with random and descending inserts', () => {
    const runArbitrary = fc.record({
      length: fc.integer({ min: 1, max: 40 }),
      order: fc.constantFrom('ascending', 'ascending', 'descending', 'arrival'),
    });
    fc.assert(
      fc.property(
        rawEntriesArbitrary(150),
        fc.array(runArbitrary, { minLength: 1, maxLength: 12 }),
        fc.array(cursorOpArbitrary, { maxLength: 40 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        (raw, runs, ops, seed) => {
          const entries = uniqueEntries(raw);
          // Cut the entries into runs and put each run in its order. An ascending run takes the
          // finger path from its second entry on; its first entry, like every descending step,
          // usually sorts before the last insert and takes the fallback search from the head.
          const insertionOrder: ModelEntry[] = [];
          for (let start = 0, run = 0; start < entries.length; run++) {
            const { length, order } = runs[run % runs.length] ?? { length: 1, order: 'arrival' };
            const slice = entries.slice(start, start + length);
            start += length;
            if (order === 'ascending') insertionOrder.push(...sortedEntries(slice));
            else if (order === 'descending') insertionOrder.push(...sortedEntries(slice).reverse());
            else insertionOrder.push(...slice);
          }
          const table = tableOf(insertionOrder, seed);
          table.checkStructure();
          const sorted = sortedEntries(entries);
          for (const { userKey, seq } of sorted.flatMap((e) => [e, { userKey: e.userKey, seq: e.seq - 1 }])) {
            expect(table.get(userKey, seq)?.seq).toBe(modelGet(sorted, userKey, seq)?.seq);
          }
          checkFullScans(table.iterator(), sorted);
          checkCursorOps(table.iterator(), sorted, ops);
        },
      ),
      { numRuns: propertyRuns },
    );
  });

  it('keeps order through finger searches over tall towers (sorted batches into a large table)', () => {
    const seed = 0x5eed;
    let state = seed;
    const nextRandom = (): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state >>> 0;
    };
    const table = new Memtable();
    const entries: ModelEntry[] = [];
    const batchEntries = 500;
    for (let batch = 0; batch < 40; batch++) {
      const batchEntriesList: ModelEntry[] = [];
      for (let i = 0; i < batchEntries; i++) {
        const key = Buffer.alloc(8);
        // Few distinct high words: many keys share the six-byte prefix and some repeat outright.
        key.writeUInt32BE(nextRandom() % 4, 0);
        key.writeUInt32BE(nextRandom() % 20_000, 4);
        const seq = entries.length + batchEntriesList.length + 1;
        batchEntriesList.push({ userKey: key, seq, kind: ValueKind.Put, value: Buffer.from(String(seq)) });
      }
      // Every third batch keeps its arrival order, as the engine does for batches with range deletions.
      const ordered = batch % 3 === 2 ? batchEntriesList : sortedEntries(batchEntriesList);
      for (const entry of ordered) table.add(entry.userKey, entry.seq, entry.kind, entry.value);
      entries.push(...batchEntriesList);
    }
    table.checkStructure();
    const sorted = sortedEntries(entries);
    checkFullScans(table.iterator(), sorted);
    for (let i = 0; i < sorted.length; i += 97) {
      const entry = sorted[i];
      if (entry === undefined) continue;
      expect(table.get(entry.userKey, entry.seq)?.value.toString(), `reproduce with seed ${seed}`).toBe(
        entry.value.toString(),
      );
    }
  });

  it('inserts ascending keys through the append fast path in order', () => {
    const table = new Memtable();
    const entries: ModelEntry[] = [];
    for (let i = 0; i < 3000; i++) {
      const key = Buffer.alloc(8);
      key.writeUInt32BE(i >>> 1, 4);
      // Two versions per key, the newer added second: the second add is not an append.
      entries.push({ userKey: key, seq: i, kind: ValueKind.Put, value: Buffer.from(String(i)) });
      table.add(key, i, ValueKind.Put, Buffer.from(String(i)));
    }
    checkFullScans(table.iterator(), sortedEntries(entries));
  });

  it('tracks count, sequence range and bytes', () => {
    const table = new Memtable();
    expect(table.count).toBe(0);
    expect(table.smallestSeq).toBeUndefined();
    expect(table.largestSeq).toBeUndefined();
    expect(table.approximateBytes).toBe(0);
    table.add(Buffer.from('b'), 7, ValueKind.Put, Buffer.alloc(100));
    table.add(Buffer.from('a'), 3, ValueKind.Delete, Buffer.alloc(0));
    expect(table.count).toBe(2);
    expect(table.smallestSeq).toBe(3);
    expect(table.largestSeq).toBe(7);
    expect(table.approximateBytes).toBeGreaterThan(102);
    expect(table.get(Buffer.from('a'), 10)).toEqual({ seq: 3, kind: ValueKind.Delete, value: Buffer.alloc(0) });
    expect(table.get(Buffer.from('b'), 6)).toBeUndefined();
  });

  it('rejects a repeated (key, seq) and bad sequences as broken invariants', () => {
    const table = new Memtable();
    table.add(Buffer.from('k'), 1, ValueKind.Put, Buffer.from('v'));
    expect(() => table.add(Buffer.from('k'), 1, ValueKind.Put, Buffer.from('w'))).toThrow(AssertionError);
    expect(() => table.add(Buffer.from('k'), -1, ValueKind.Put, Buffer.from('w'))).toThrow(AssertionError);
    expect(() => table.add(Buffer.from('k'), 2 ** 53, ValueKind.Put, Buffer.from('w'))).toThrow(AssertionError);
    expect(() => table.iterator().next()).toThrow(AssertionError);
  });
});
