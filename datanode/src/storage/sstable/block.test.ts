import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../errors.ts';
import { maxSequence, ValueKind } from '../keys.ts';
import { Block, BlockBuilder, BlockIterator } from './block.ts';
import {
  collectBackward,
  collectForward,
  currentEntry,
  internalKeyOf,
  type ModelEntry,
  modelSeek,
  modelSeekForPrev,
  normalizeEntries,
  show,
} from './test-model.ts';

const propertyRuns = Number(process.env['PROPERTY_RUNS'] ?? 150);

function buildBlock(entries: readonly ModelEntry[], restartInterval: number): Block {
  const builder = new BlockBuilder(restartInterval);
  for (const entry of entries) builder.add(internalKeyOf(entry), entry.value);
  // Copy: the builder's buffer is reused, blocks must own immutable bytes.
  return new Block(Buffer.from(builder.finish()));
}

function manyEntries(): ModelEntry[] {
  const entries: ModelEntry[] = [];
  entries.push({ userKey: Buffer.alloc(0), seq: 7, kind: ValueKind.Put, value: Buffer.alloc(0) });
  entries.push({ userKey: Buffer.alloc(0), seq: 3, kind: ValueKind.Delete, value: Buffer.alloc(0) });
  for (let i = 0; i < 2000; i++) {
    const userKey = Buffer.from(`prefix/shared/${String(Math.floor(i / 3)).padStart(5, '0')}`);
    entries.push({ userKey, seq: 1000 - (i % 3), kind: i % 7 === 0 ? ValueKind.Delete : ValueKind.Put, value: Buffer.from(`v${i}`.repeat(i % 5)) });
  }
  entries.push({ userKey: Buffer.from([0x00]), seq: maxSequence, kind: ValueKind.Put, value: Buffer.from([0, 0xff]) });
  entries.push({ userKey: Buffer.from([0xff, 0xff, 0x00]), seq: 0, kind: ValueKind.Put, value: Buffer.alloc(300, 0xab) });
  entries.push({ userKey: Buffer.alloc(200, 0x61), seq: 2 ** 40, kind: ValueKind.Put, value: Buffer.alloc(1) });
  return normalizeEntries(entries);
}

describe('block', () => {
  it.each([1, 2, 16, 100])('round-trips entries forward and backward (restart interval %i)', (restartInterval) => {
    const entries = manyEntries();
    const block = buildBlock(entries, restartInterval);
    expect(collectForward(block.iterator()).map(show)).toEqual(entries.map(show));
    expect(collectBackward(block.iterator()).map(show)).toEqual([...entries].reverse().map(show));
  });

  it('returns buffers that stay valid after the iterator moves', () => {
    const entries = manyEntries();
    const iterator = buildBlock(entries, 16).iterator();
    const kept = collectForward(iterator);
    // Walk again in both directions (reusing the iterator's scratch space), then compare.
    collectBackward(iterator);
    collectForward(iterator);
    expect(kept.map(show)).toEqual(entries.map(show));
  });

  it('iterates an empty block as empty', () => {
    const block = new Block(Buffer.from(new BlockBuilder(16).finish()));
    const iterator = block.iterator();
    iterator.seekToFirst();
    expect(iterator.valid()).toBe(false);
    iterator.seekToLast();
    expect(iterator.valid()).toBe(false);
    iterator.seek(Buffer.from('a'), 1);
    expect(iterator.valid()).toBe(false);
    iterator.seekForPrev(Buffer.from('a'), 1);
    expect(iterator.valid()).toBe(false);
  });

  it('rejects malformed restart arrays with CorruptionError', () => {
    const good = Buffer.from(buildBlockContents());
    const badCount = Buffer.from(good);
    badCount.writeUInt32LE(0xffff, badCount.length - 4);
    expect(() => new Block(badCount, 'f.sst', 4096)).toThrow(CorruptionError);
    const badRestart = Buffer.from(good);
    badRestart.writeUInt32LE(good.length, good.length - 8);
    expect(() => new Block(badRestart, 'f.sst', 4096)).toThrow(CorruptionError);
    expect(() => new Block(Buffer.alloc(2))).toThrow(CorruptionError);
  });

  it('reports an overrunning entry as CorruptionError with the block file and offset', () => {
    const contents = Buffer.from(buildBlockContents());
    // The first entry's unshared length becomes a two-byte varint of over 16 KiB.
    contents[1] = 0xff;
    contents[2] = 0x7f;
    const block = new Block(contents, 'table.sst', 8192);
    const iterator = block.iterator();
    try {
      iterator.seekToFirst();
      expect.unreachable('seekToFirst should throw');
    } catch (error) {
      expect(error).toBeInstanceOf(CorruptionError);
      expect((error as CorruptionError).file).toBe('table.sst');
      expect((error as CorruptionError).offset).toBe(8192);
    }
  });

  it('matches a sorted-array model for seek, seekForPrev, next and prev (property)', () => {
    const userKey = fc.uint8Array({ maxLength: 5 }).map((bytes) => Buffer.from(bytes.map((b) => [0, 1, 0x61, 0xff][b % 4] as number)));
    const seq = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(maxSequence), fc.integer({ min: 0, max: maxSequence }));
    const entry = fc.record({
      userKey,
      seq,
      kind: fc.constantFrom(ValueKind.Put, ValueKind.Delete),
      value: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    });
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 120 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ userKey, seq, steps: fc.array(fc.boolean(), { maxLength: 6 }) }), { minLength: 1, maxLength: 20 }),
        (rawEntries, restartInterval, probes) => {
          const entries = normalizeEntries(rawEntries);
          const iterator = buildBlock(entries, restartInterval).iterator();
          for (const probe of probes) {
            iterator.seek(probe.userKey, probe.seq);
            checkWalk(iterator, entries, modelSeek(entries, probe.userKey, probe.seq), probe.steps);
            iterator.seekForPrev(probe.userKey, probe.seq);
            checkWalk(iterator, entries, modelSeekForPrev(entries, probe.userKey, probe.seq), probe.steps);
          }
        },
      ),
      { numRuns: propertyRuns },
    );
  });
});

/** Checks the position, then takes `steps` (true = next, false = prev) checking each one. */
function checkWalk(iterator: BlockIterator, entries: readonly ModelEntry[], start: number, steps: readonly boolean[]): void {
  let position = start;
  const check = (): void => {
    const expected = entries[position];
    if (expected === undefined) expect(iterator.valid()).toBe(false);
    else expect(show(currentEntry(iterator))).toBe(show(expected));
  };
  check();
  for (const forward of steps) {
    if (!iterator.valid()) return;
    if (forward) {
      iterator.next();
      position++;
    } else {
      iterator.prev();
      position--;
    }
    check();
  }
}

function buildBlockContents(): Buffer {
  const builder = new BlockBuilder(4);
  for (let i = 0; i < 20; i++) {
    builder.add(internalKeyOf({ userKey: Buffer.from(`key${i.toString().padStart(3, '0')}`), seq: 5, kind: ValueKind.Put, value: Buffer.alloc(0) }), Buffer.from('value'));
  }
  return builder.finish();
}
