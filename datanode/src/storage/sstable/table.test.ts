import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../assert.ts';
import { crc32c, maskCrc } from '../crc32c.ts';
import { ClosedError, CorruptionError, StorageIOError } from '../errors.ts';
import { FaultInjectingFs, realFs } from '../fs.ts';
import { encodeInternalKey, maxSequence, ValueKind } from '../keys.ts';
import { BlockCache } from './block-cache.ts';
import { footerBytes } from './format.ts';
import { shortestSeparator, TableBuilder, type TableBuilderOptions, type TableMeta } from './table-builder.ts';
import { TableReader } from './table-reader.ts';
import {
  collectBackward,
  collectForward,
  currentEntry,
  type ModelEntry,
  modelGet,
  modelSeek,
  modelSeekForPrev,
  show,
} from './test-model.ts';

const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);

/** xorshift32: deterministic per seed. */
function makeRandom(start: number): (limit: number) => number {
  let state = start >>> 0 || 1;
  return (limit) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % limit;
  };
}

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-sstable-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function userKeyOf(i: number): Buffer {
  return Buffer.from(`user/${String(i).padStart(8, '0')}`);
}

/** Keys with 1-4 versions each (newest first), about a fifth of the versions deletions. */
function makeEntries(userKeys: number, random: (limit: number) => number): ModelEntry[] {
  const entries: ModelEntry[] = [];
  for (let i = 0; i < userKeys; i++) {
    const versions = 1 + random(4);
    let seq = 10 + random(1_000_000) * 4;
    for (let v = 0; v < versions; v++) {
      const kind = random(5) === 0 ? ValueKind.Delete : ValueKind.Put;
      const value = kind === ValueKind.Delete ? Buffer.alloc(0) : Buffer.from(`value-${i}-${seq}-${'x'.repeat(random(40))}`);
      entries.push({ userKey: userKeyOf(i * 2), seq, kind, value });
      seq -= 1 + random(3);
    }
  }
  return entries;
}

function buildTable(file: string, entries: readonly ModelEntry[], options: TableBuilderOptions = {}): TableMeta {
  const builder = new TableBuilder(realFs, file, options);
  for (const entry of entries) builder.add(entry.userKey, entry.seq, entry.kind, entry.value);
  return builder.finish();
}

function expectCorruption(action: () => unknown, file: string, offset?: number): CorruptionError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CorruptionError);
  const corruption = caught as CorruptionError;
  expect(corruption.file).toBe(file);
  if (offset !== undefined) expect(corruption.offset).toBe(offset);
  return corruption;
}

function flipByte(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] = (bytes[offset] as number) ^ 0x5a;
  fs.writeFileSync(file, bytes);
}

describe(`sstable (reproduce with SEED=${seed})`, () => {
  it('builds 50k entries with several versions per key; get, iteration and seeks match the model', () => {
    const random = makeRandom(seed);
    const entries = makeEntries(20_000, random);
    expect(entries.length).toBeGreaterThan(45_000);
    const file = path.join(dir, '000007.sst');
    const meta = buildTable(file, entries);

    const first = entries[0] as ModelEntry;
    const last = entries[entries.length - 1] as ModelEntry;
    expect(meta.entries).toBe(entries.length);
    expect(meta.fileSize).toBe(fs.statSync(file).size);
    expect(meta.smallest).toEqual(encodeInternalKey(first.userKey, first.seq, first.kind));
    expect(meta.largest).toEqual(encodeInternalKey(last.userKey, last.seq, last.kind));
    expect(meta.smallestUserKey).toEqual(first.userKey);
    expect(meta.largestUserKey).toEqual(last.userKey);
    expect(meta.minSeq).toBe(Math.min(...entries.map((e) => e.seq)));
    expect(meta.maxSeq).toBe(Math.max(...entries.map((e) => e.seq)));

    const cache = new BlockCache(64 * 1024 * 1024);
    const reader = TableReader.open(realFs, file, 7, { cache });
    expect(reader.properties).toMatchObject({ entries: meta.entries, minSeq: meta.minSeq, maxSeq: meta.maxSeq });
    expect(reader.properties.smallest).toEqual(meta.smallest);
    expect(reader.properties.largest).toEqual(meta.largest);

    // get at the newest view, at each version, between versions and before the oldest.
    for (let probe = 0; probe < 3000; probe++) {
      const entry = entries[random(entries.length)] as ModelEntry;
      for (const seq of [maxSequence, entry.seq, entry.seq + 1, entry.seq - 1, 0]) {
        const got = reader.get(entry.userKey, seq);
        expect(show(got && { userKey: entry.userKey, ...got })).toBe(show(modelGet(entries, entry.userKey, seq)));
      }
      const absent = userKeyOf(random(40_000) * 2 + 1);
      expect(reader.get(absent, maxSequence)).toBeUndefined();
    }
    expect(reader.get(Buffer.from('a'), maxSequence)).toBeUndefined();
    expect(reader.get(Buffer.from('zzz'), maxSequence)).toBeUndefined();
    const deletion = entries.find((e) => e.kind === ValueKind.Delete);
    expect(deletion).toBeDefined();
    if (deletion !== undefined) expect(reader.get(deletion.userKey, deletion.seq)?.kind).toBe(ValueKind.Delete);

    const iterator = reader.iterator();
    expect(collectForward(iterator).map(show)).toEqual(entries.map(show));
    expect(collectBackward(iterator).map(show)).toEqual([...entries].reverse().map(show));

    for (let probe = 0; probe < 2000; probe++) {
      const base = entries[random(entries.length)] as ModelEntry;
      const userKey = random(3) === 0 ? userKeyOf(random(40_002)) : base.userKey;
      const seq = [maxSequence, base.seq, base.seq - 1, 0][random(4)] as number;
      iterator.seek(userKey, seq);
      expectAt(iterator, entries, modelSeek(entries, userKey, seq));
      iterator.seekForPrev(userKey, seq);
      expectAt(iterator, entries, modelSeekForPrev(entries, userKey, seq));
    }

    const stats = cache.stats();
    expect(stats.hits).toBeGreaterThan(stats.misses);
    expect(reader.approximateOffsetOf(Buffer.from(''))).toBe(0);
    expect(reader.approximateOffsetOf(userKeyOf(20_000))).toBeGreaterThan(0);
    expect(reader.approximateOffsetOf(userKeyOf(20_000))).toBeLessThan(reader.approximateOffsetOf(userKeyOf(39_000)));
    expect(reader.approximateOffsetOf(Buffer.from('zzz'))).toBe(reader.properties.dataSizeBytes);
    reader.verify();
    reader.close();
    expect(() => reader.get(first.userKey, maxSequence)).toThrow(ClosedError);
  });

  it('works without a cache, without a filter and with tiny blocks', () => {
    const random = makeRandom(seed + 1);
    const entries = makeEntries(500, random);
    const file = path.join(dir, '000001.sst');
    buildTable(file, entries, { bitsPerKey: 0, blockSizeBytes: 64, restartInterval: 2, indexRestartInterval: 4 });
    const reader = TableReader.open(realFs, file, 1);
    expect(reader.mayContain(Buffer.from('anything'))).toBe(true);
    for (const entry of entries) {
      const got = reader.get(entry.userKey, entry.seq);
      expect(show(got && { userKey: entry.userKey, ...got })).toBe(show(entry));
    }
    expect(collectBackward(reader.iterator()).map(show)).toEqual([...entries].reverse().map(show));
    reader.verify();
    reader.close();
  });

  it('handles empty user keys, empty values and binary keys', () => {
    const entries: ModelEntry[] = [
      { userKey: Buffer.alloc(0), seq: 5, kind: ValueKind.Put, value: Buffer.alloc(0) },
      { userKey: Buffer.from([0]), seq: 9, kind: ValueKind.Delete, value: Buffer.alloc(0) },
      { userKey: Buffer.from([0, 0xff]), seq: maxSequence, kind: ValueKind.Put, value: Buffer.alloc(5000, 1) },
      { userKey: Buffer.from([0xff]), seq: 0, kind: ValueKind.Put, value: Buffer.from([0]) },
    ];
    const file = path.join(dir, '000002.sst');
    buildTable(file, entries, { blockSizeBytes: 64 });
    const reader = TableReader.open(realFs, file, 2, { cache: new BlockCache(1 << 20) });
    expect(collectForward(reader.iterator()).map(show)).toEqual(entries.map(show));
    expect(reader.get(Buffer.alloc(0), 5)?.value.length).toBe(0);
    expect(reader.get(Buffer.alloc(0), 4)).toBeUndefined();
    expect(reader.get(Buffer.from([0, 0xff]), maxSequence)?.value).toEqual(Buffer.alloc(5000, 1));
    reader.close();
  });

  it('chooses short separators strictly between blocks', () => {
    const last = encodeInternalKey(Buffer.from('abcdefgh'), 5, ValueKind.Put);
    const separator = shortestSeparator(last, encodeInternalKey(Buffer.from('abzzz'), 9, ValueKind.Put));
    expect(separator.subarray(0, separator.length - 8).toString()).toBe('abd');
    const sameUser = shortestSeparator(last, encodeInternalKey(Buffer.from('abcdefgh'), 4, ValueKind.Put));
    expect(sameUser).toEqual(last);
    const prefix = shortestSeparator(encodeInternalKey(Buffer.from('ab'), 1, ValueKind.Put), encodeInternalKey(Buffer.from('abc'), 1, ValueKind.Put));
    expect(prefix.subarray(0, prefix.length - 8).toString()).toBe('ab');
  });

  describe('corruption', () => {
    function buildSmall(): { file: string; entries: ModelEntry[] } {
      const entries = makeEntries(3000, makeRandom(seed + 2));
      const file = path.join(dir, '000003.sst');
      buildTable(file, entries, { blockSizeBytes: 1024 });
      return { file, entries };
    }

    it('a flipped byte in a data block fails that block only, naming the file and block offset', () => {
      const { file, entries } = buildSmall();
      const victim = entries[Math.floor(entries.length / 2)] as ModelEntry;
      const probe = TableReader.open(realFs, file, 3);
      const blockOffset = probe.approximateOffsetOf(victim.userKey);
      probe.close();
      expect(blockOffset).toBeGreaterThan(0);
      flipByte(file, blockOffset + 10);

      const reader = TableReader.open(realFs, file, 3, { cache: new BlockCache(1 << 20) });
      expectCorruption(() => reader.get(victim.userKey, maxSequence), file, blockOffset);
      expectCorruption(() => collectForward(reader.iterator()), file, blockOffset);
      expectCorruption(() => collectBackward(reader.iterator()), file, blockOffset);
      expectCorruption(() => reader.verify(), file, blockOffset);
      // Blocks before and after still read correctly.
      const first = entries[0] as ModelEntry;
      const last = entries[entries.length - 1] as ModelEntry;
      expect(reader.get(first.userKey, first.seq)?.seq).toBe(first.seq);
      expect(reader.get(last.userKey, last.seq)?.seq).toBe(last.seq);
      // The bad block was never cached: it fails again.
      expectCorruption(() => reader.get(victim.userKey, maxSequence), file, blockOffset);
      reader.close();
    });

    it('a flipped byte in a block trailer (its CRC) is detected', () => {
      const { file, entries } = buildSmall();
      const reader = TableReader.open(realFs, file, 3);
      const blockOffset = reader.approximateOffsetOf((entries[100] as ModelEntry).userKey);
      // The next block starts right after this block's trailer, whose last byte is a CRC byte.
      let nextBlockOffset = blockOffset;
      for (let i = 100; nextBlockOffset === blockOffset; i++) nextBlockOffset = reader.approximateOffsetOf((entries[i] as ModelEntry).userKey);
      reader.close();
      flipByte(file, nextBlockOffset - 1);
      const damaged = TableReader.open(realFs, file, 3);
      expectCorruption(() => damaged.verify(), file, blockOffset);
      expectCorruption(() => damaged.get((entries[100] as ModelEntry).userKey, maxSequence), file, blockOffset);
      damaged.close();
    });

    it('a flipped footer or magic byte makes open fail', () => {
      const { file } = buildSmall();
      const size = fs.statSync(file).size;
      for (const at of [size - 1, size - 8, size - footerBytes, size - footerBytes + 20]) {
        const copy = path.join(dir, `copy-${at}.sst`);
        fs.copyFileSync(file, copy);
        flipByte(copy, at);
        expectCorruption(() => TableReader.open(realFs, copy, 9), copy);
      }
    });

    it('an unknown format version makes open fail even with a valid footer checksum', () => {
      const { file } = buildSmall();
      const bytes = fs.readFileSync(file);
      const footerStart = bytes.length - footerBytes;
      bytes.writeUInt32LE(2, footerStart + 72);
      bytes.writeUInt32LE(maskCrc(crc32c(bytes, footerStart, footerStart + 76)), footerStart + 76);
      fs.writeFileSync(file, bytes);
      const error = expectCorruption(() => TableReader.open(realFs, file, 3), file);
      expect(error.detail).toContain('version');
    });

    it('a truncated file makes open fail', () => {
      const { file } = buildSmall();
      const size = fs.statSync(file).size;
      for (const length of [0, 10, size - 1, size - footerBytes, Math.floor(size / 2)]) {
        fs.truncateSync(file, length);
        expectCorruption(() => TableReader.open(realFs, file, 3), file);
      }
    });

    it('verify() passes on an intact table and finds a damaged index block', () => {
      const { file } = buildSmall();
      const reader = TableReader.open(realFs, file, 3);
      reader.verify();
      reader.close();
      // The index block ends right before the footer; its CRC is the 4 bytes before that.
      const size = fs.statSync(file).size;
      flipByte(file, size - footerBytes - 1);
      expectCorruption(() => TableReader.open(realFs, file, 3), file);
    });
  });

  describe('builder', () => {
    it('asserts strictly increasing internal order', () => {
      const builder = new TableBuilder(realFs, path.join(dir, '000004.sst'));
      builder.add(Buffer.from('b'), 5, ValueKind.Put, Buffer.from('1'));
      expect(() => builder.add(Buffer.from('b'), 5, ValueKind.Put, Buffer.from('2'))).toThrow(AssertionError);
      expect(() => builder.add(Buffer.from('b'), 6, ValueKind.Put, Buffer.from('2'))).toThrow(AssertionError);
      expect(() => builder.add(Buffer.from('a'), 9, ValueKind.Put, Buffer.from('2'))).toThrow(AssertionError);
      builder.add(Buffer.from('b'), 4, ValueKind.Delete, Buffer.alloc(0));
      builder.abandon();
    });

    it('abandon() closes and deletes the file', () => {
      const file = path.join(dir, '000005.sst');
      const builder = new TableBuilder(realFs, file);
      builder.add(Buffer.from('a'), 1, ValueKind.Put, Buffer.from('v'));
      expect(fs.existsSync(file)).toBe(true);
      builder.abandon();
      expect(fs.existsSync(file)).toBe(false);
    });

    it('reports a failed write as StorageIOError and can then be abandoned', () => {
      const faults = new FaultInjectingFs(realFs);
      const file = path.join(dir, '000006.sst');
      const builder = new TableBuilder(faults, file, { writeBufferBytes: 4096 });
      faults.failWhen = (operation) => (operation === 'write' ? 'ENOSPC' : undefined);
      let caught: unknown;
      try {
        for (let i = 0; i < 10_000; i++) builder.add(userKeyOf(i), 1, ValueKind.Put, Buffer.alloc(100));
        builder.finish();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(StorageIOError);
      builder.abandon();
      expect(fs.existsSync(file)).toBe(false);
    });

    it('reports a failed fsync from finishAsync as StorageIOError', async () => {
      const faults = new FaultInjectingFs(realFs);
      const file = path.join(dir, '000008.sst');
      const builder = new TableBuilder(faults, file);
      builder.add(Buffer.from('a'), 1, ValueKind.Put, Buffer.from('v'));
      faults.failWhen = (operation) => (operation === 'fsync' ? 'EIO' : undefined);
      await expect(builder.finishAsync()).rejects.toBeInstanceOf(StorageIOError);
      builder.abandon();
    });

    it('finishAsync() produces a readable table and the size estimate tracks the file', async () => {
      const file = path.join(dir, '000009.sst');
      const builder = new TableBuilder(realFs, file);
      for (let i = 0; i < 5000; i++) builder.add(userKeyOf(i), i + 1, ValueKind.Put, Buffer.alloc(50, i % 256));
      const estimate = builder.estimatedFileSizeBytes();
      const meta = await builder.finishAsync();
      expect(Math.abs(estimate - meta.fileSize) / meta.fileSize).toBeLessThan(0.05);
      const reader = TableReader.open(realFs, file, 9);
      expect(reader.get(userKeyOf(1234), maxSequence)?.value).toEqual(Buffer.alloc(50, 1234 % 256));
      reader.close();
    });
  });
});

function expectAt(iterator: ReturnType<TableReader['iterator']>, entries: readonly ModelEntry[], index: number): void {
  const expected = entries[index];
  if (expected === undefined) {
    expect(iterator.valid()).toBe(false);
    return;
  }
  expect(show(currentEntry(iterator))).toBe(show(expected));
  iterator.next();
  expect(iterator.valid() ? show(currentEntry(iterator)) : 'none').toBe(show(entries[index + 1]));
  if (!iterator.valid()) return;
  iterator.prev();
  expect(show(currentEntry(iterator))).toBe(show(expected));
}
