import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageEngine, WriteBatch } from './engine.ts';
import { CorruptionError } from './errors.ts';
import { FaultInjectingFs } from './fs.ts';
import { ValueKind } from './keys.ts';
import { Memtable } from './memtable.ts';
import { EncodedEntriesIterator, encodeSpanEntries, encodeSpanEntriesSliced } from './span-export.ts';
import { exportThreadNice } from './span-executor.ts';
import { TableReader } from './sstable/table-reader.ts';
import { realFs } from './fs.ts';
import { key, tempDir, val } from './testing/tmp.ts';

const small = {
  memtableBytesMax: 64 * 1024,
  levelBaseBytes: 256 * 1024,
  targetFileBytes: 64 * 1024,
  blockCacheBytes: 1024 * 1024,
  l0CompactionTriggerFiles: 2,
};

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function dir(): string {
  const t = tempDir('span-export');
  cleanups.push(t.cleanup);
  return t.dir;
}

async function put(engine: StorageEngine, from: number, to: number, round: number): Promise<void> {
  for (let i = from; i < to; i += 250) {
    const b = new WriteBatch();
    for (let j = i; j < Math.min(to, i + 250); j++) b.put(key(j), val(j, round));
    await engine.write(b);
  }
}

function scan(engine: StorageEngine, start: Buffer, end: Buffer, snapshot?: ReturnType<StorageEngine['snapshot']>): string[] {
  const it = engine.iterator({ lowerBound: start, upperBound: end, ...(snapshot === undefined ? {} : { snapshot }) });
  const out: string[] = [];
  for (it.seek(start); it.valid(); it.next()) out.push(`${it.key().toString()}=${it.value().toString()}`);
  it.close();
  return out;
}

function readTables(files: readonly string[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    const reader = TableReader.open(realFs, file, -1);
    const it = reader.iterator();
    for (it.seekToFirst(); it.valid(); it.next()) {
      expect(it.seq()).toBe(0);
      expect(it.kind()).toBe(ValueKind.Put);
      out.push(`${it.userKey().toString()}=${it.value().toString()}`);
    }
    reader.close();
  }
  return out;
}

/**
 * An engine whose span [1000, 4000) is spread over every kind of source: compacted tables, an
 * ingested table (global sequence), level-0 tables, frozen and active memtables, with overwrites
 * and deletions in each.
 */
async function layeredEngine(options: { backgroundThread: boolean }): Promise<StorageEngine> {
  const engine = await StorageEngine.open(dir(), { ...small, ...options });
  await put(engine, 0, 5000, 1);
  await engine.compactAll();
  const other = await StorageEngine.open(dir(), small);
  await put(other, 2000, 2600, 2);
  const ingested = await other.exportRange(key(2000), key(2600), path.join(dir(), 'ingest'));
  await other.close();
  await engine.ingest(ingested.map((f) => f.path));
  await put(engine, 1500, 1700, 3);
  await engine.flush();
  const deletes = new WriteBatch();
  for (let i = 1000; i < 4000; i += 7) deletes.del(key(i));
  deletes.delRange(key(3000), key(3100));
  await engine.write(deletes);
  await put(engine, 3500, 3600, 4);
  return engine;
}

describe('span exports on the export thread', () => {
  for (const backgroundThread of [true, false]) {
    it(`export the keys and values the engine's iterator reads at the snapshot (${backgroundThread ? 'export thread' : 'in-thread'})`, async () => {
      const engine = await layeredEngine({ backgroundThread });
      const snapshot = engine.snapshot();
      const expected = scan(engine, key(1000), key(4000), snapshot);
      // Writes after the snapshot are not exported, wherever they land.
      await put(engine, 1000, 4000, 5);
      const files = await engine.exportSpan(key(1000), key(4000), path.join(dir(), 'export'), { snapshot, fileBytes: 32 * 1024 });
      snapshot.release();
      expect(files.length).toBeGreaterThan(1);
      expect(expected.length).toBeGreaterThan(2000);
      expect(readTables(files.map((f) => f.path))).toEqual(expected);
      expect(files.reduce((sum, f) => sum + f.entries, 0)).toBe(expected.length);
      expect(files[0]?.smallestKey.toString()).toBe(expected[0]?.split('=')[0]);
      for (const f of files) expect(f.fileBytes).toBe(fs.statSync(f.path).size);
      // The export ingests like exportRange's output.
      const dst = await StorageEngine.open(dir(), small);
      await dst.ingest(files.map((f) => f.path));
      expect(scan(dst, key(0), key(9999))).toEqual(expected);
      await dst.close();
      await engine.close();
    });
  }

  it('keeps the pinned tables on disk through compactions until the pin is released', async () => {
    const engine = await StorageEngine.open(dir(), small);
    await put(engine, 0, 3000, 1);
    await engine.flush();
    const pinned = engine.pinSpan(key(0), key(3000));
    const tables = pinned.source.tables.map((t) => t.path);
    expect(tables.length).toBeGreaterThan(0);
    await put(engine, 0, 3000, 2);
    await engine.compactAll();
    for (const file of tables) expect(fs.existsSync(file), `${file} is pinned`).toBe(true);
    pinned.release();
    await put(engine, 0, 10, 3);
    await engine.compactAll();
    expect(tables.filter((file) => fs.existsSync(file)), 'released tables are deleted once obsolete').toEqual([]);
    await engine.close();
  });

  it('runs on a thread that lowered its own priority, not the event loop thread', async () => {
    const engine = await StorageEngine.open(dir(), small);
    await put(engine, 0, 2000, 1);
    const niceOf = (task: string): number => {
      // Field 19 of /proc/<pid>/task/<tid>/stat (after the parenthesised name) is the nice value.
      const stat = fs.readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const before = new Set(fs.readdirSync('/proc/self/task'));
    // Whatever the test runner itself runs at (it may be niced): the export must leave it alone.
    const eventLoopNice = niceOf(String(process.pid));
    await engine.exportSpan(key(0), key(2000), path.join(dir(), 'export'));
    const started = fs.readdirSync('/proc/self/task').filter((task) => !before.has(task));
    expect(started.map(niceOf), 'threads started by the first export').toContain(exportThreadNice);
    expect(niceOf(String(process.pid)), 'the event loop thread').toBe(eventLoopNice);
    await engine.close();
  });

  it('fsyncs a large export in steps of a few MiB, not all at the end', async () => {
    const fs2 = new FaultInjectingFs();
    const synced: string[] = [];
    fs2.failWhen = (operation, target) => {
      if (operation === 'fsync' && target.includes(`${path.sep}export${path.sep}`)) synced.push(target);
      return undefined;
    };
    const engine = await StorageEngine.open(dir(), { ...small, memtableBytesMax: 32 * 1024 * 1024 }, { fs: fs2 });
    const value = Buffer.alloc(16 * 1024, 0x62);
    for (let i = 0; i < 1024; i += 64) {
      const b = new WriteBatch();
      for (let j = i; j < i + 64; j++) b.put(key(j), value);
      await engine.write(b);
    }
    // 16 MiB into one file: a sync after every 4 MiB written, then the final one.
    const files = await engine.exportSpan(key(0), key(1024), path.join(dir(), 'export'), { fileBytes: 64 * 1024 * 1024 });
    expect(files).toHaveLength(1);
    expect(synced.filter((target) => target === files[0]?.path).length).toBeGreaterThanOrEqual(4);
    await engine.close();
  });

  it('rejects a corrupted table before anything is ingested, naming the file', async () => {
    const src = await StorageEngine.open(dir(), small);
    await put(src, 0, 2000, 1);
    const files = await src.exportSpan(key(0), key(2000), path.join(dir(), 'export'));
    await src.close();
    const victim = files[0]?.path ?? '';
    const bytes = fs.readFileSync(victim);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    fs.writeFileSync(victim, bytes);
    const dst = await StorageEngine.open(dir(), small);
    const failure = await dst.ingest(files.map((f) => f.path)).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(CorruptionError);
    expect((failure as CorruptionError).file).toBe(victim);
    expect(scan(dst, key(0), key(9999))).toEqual([]);
    await dst.close();
  });
});

describe('range deletions planned on the export thread', () => {
  it('delete every key live when the deletion applies, including keys written after the plan', async () => {
    const engine = await layeredEngine({ backgroundThread: true });
    const plan = await engine.planRangeDeletion(key(1000), key(4000));
    expect(plan.keys.length).toBe(scan(engine, key(1000), key(4000)).length);
    // After the plan: keys not live at the plan (3000..3099 and every seventh from 1000 were
    // deleted) written again, in a flushed table and in the memtable, and live keys deleted.
    await put(engine, 3050, 3060, 6);
    await put(engine, 3990, 4010, 6);
    await engine.flush();
    await put(engine, 995, 1015, 7);
    const late = new WriteBatch();
    for (let i = 1001; i < 1100; i += 3) late.del(key(i));
    await engine.write(late);
    const outside = scan(engine, key(0), key(1000)).concat(scan(engine, key(4000), key(9999)));
    const batch = new WriteBatch();
    batch.put(key(2000), Buffer.from('written in the same batch, before the deletion'));
    batch.delRange(key(1000), key(4000));
    batch.put(key(2001), Buffer.from('after'));
    await engine.write(batch, { rangeDeletions: [plan] });
    expect(scan(engine, key(1000), key(4000))).toEqual([`${key(2001).toString()}=after`]);
    expect(scan(engine, key(0), key(1000)).concat(scan(engine, key(4000), key(9999)))).toEqual(outside);
    // The same after a reopen (the WAL replays the deletion without its plan) and a compaction.
    const dir = engine.dir;
    await engine.close();
    const reopened = await StorageEngine.open(dir, small);
    expect(scan(reopened, key(1000), key(4000))).toEqual([`${key(2001).toString()}=after`]);
    await reopened.compactAll();
    expect(scan(reopened, key(1000), key(4000))).toEqual([`${key(2001).toString()}=after`]);
    expect(scan(reopened, key(0), key(1000)).concat(scan(reopened, key(4000), key(9999)))).toEqual(outside);
    await reopened.close();
  });
});

describe('encoded memtable entries', () => {
  it('keep only the span and the sequence bound, and seek like the memtable', () => {
    const table = new Memtable();
    let seq = 0;
    for (let round = 0; round < 3; round++) for (let i = 0; i < 50; i++) table.add(key(i), ++seq, i % 5 === 0 ? ValueKind.Delete : ValueKind.Put, val(i, round));
    const iterator = new EncodedEntriesIterator(encodeSpanEntries(table.iterator(), key(10), key(40), 120));
    const seen: string[] = [];
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) seen.push(`${iterator.userKey().toString()}@${iterator.seq()}`);
    // Keys 10..39 of rounds 0 and 1 (sequences 11..40 and 61..90) and keys 10..19 of round 2 (sequences 111..120).
    expect(seen).toHaveLength(30 + 30 + 10);
    expect(seen[0]).toBe(`${key(10).toString()}@111`);
    iterator.seek(key(20), 70);
    expect(`${iterator.userKey().toString()}@${iterator.seq()}`).toBe(`${key(20).toString()}@21`);
    iterator.seekForPrev(key(20), 70);
    expect(`${iterator.userKey().toString()}@${iterator.seq()}`).toBe(`${key(20).toString()}@71`);
    expect(iterator.kind()).toBe(ValueKind.Delete);
    iterator.seek(key(45), 1000);
    expect(iterator.valid()).toBe(false);
  });

  it('copied in slices, are the same bytes as in one go, and give the event loop back every MiB', async () => {
    const table = new Memtable();
    let seq = 0;
    const big = Buffer.alloc(4000, 7);
    for (let round = 0; round < 2; round++) for (let i = 0; i < 1000; i++) table.add(key(i), ++seq, ValueKind.Put, i % 3 === 0 ? big : val(i, round));
    const bound = seq;
    let yields = 0;
    let nextKey = 5000;
    // Writes between slices (above the bound) must not show up in the copy.
    const sliced = await encodeSpanEntriesSliced(table.iterator(), key(100), key(900), bound, async () => {
      yields++;
      table.add(key(500), ++seq, ValueKind.Put, val(500, 9));
      table.add(key(nextKey++), ++seq, ValueKind.Put, val(1, 9));
      await Promise.resolve();
    });
    const whole = encodeSpanEntries(table.iterator(), key(100), key(900), bound);
    expect(sliced.equals(whole)).toBe(true);
    // About 2.7 MiB of entries in the span: two yields (after the first and the second MiB).
    expect(whole.byteLength).toBeGreaterThan(2 * 1024 * 1024);
    expect(yields).toBe(Math.floor(whole.byteLength / (1024 * 1024)));
    // An exact-size buffer (not a view of a larger one: it is posted to the export thread).
    expect(sliced.buffer.byteLength === sliced.byteLength || sliced.byteLength < 4096).toBe(true);
    expect((await encodeSpanEntriesSliced(table.iterator(), key(5000), key(5001), bound)).byteLength).toBe(0);
  });
});
