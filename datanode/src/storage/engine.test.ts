import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backgroundThreadNice } from './background-executor.ts';
import { StorageEngine, WriteBatch } from './engine.ts';
import { ClosedError, InvalidOptionsError, LockedError, ReadOnlyError } from './errors.ts';
import { FaultInjectingFs } from './fs.ts';
import { encodeMvccKey } from './mvcc.ts';
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
  const t = tempDir('engine');
  cleanups.push(t.cleanup);
  return t.dir;
}

async function fill(engine: StorageEngine, from: number, to: number, round = 0, sync = false): Promise<void> {
  for (let i = from; i < to; i += 500) {
    const b = new WriteBatch();
    for (let j = i; j < Math.min(to, i + 500); j++) b.put(key(j), val(j, round));
    await engine.write(b, { sync });
  }
}

function scan(engine: StorageEngine, opts: Parameters<StorageEngine['iterator']>[0] = {}): [string, string][] {
  const it = engine.iterator(opts);
  const out: [string, string][] = [];
  for (it.seekToFirst(); it.valid(); it.next()) out.push([it.key().toString(), it.value().toString()]);
  it.close();
  return out;
}

describe('StorageEngine basics', () => {
  it('puts, gets, deletes and survives reopen', async () => {
    const d = dir();
    let e = await StorageEngine.open(d);
    await e.put(Buffer.from('a'), Buffer.from('1'));
    await e.put(Buffer.from('b'), Buffer.from('2'));
    await e.del(Buffer.from('a'));
    expect(e.get(Buffer.from('a'))).toBeUndefined();
    expect(e.get(Buffer.from('b'))?.toString()).toBe('2');
    await e.close();
    e = await StorageEngine.open(d);
    expect(e.get(Buffer.from('a'))).toBeUndefined();
    expect(e.get(Buffer.from('b'))?.toString()).toBe('2');
    await e.close();
  });

  it('keeps every key through flushes and compactions, across reopen', async () => {
    const d = dir();
    let e = await StorageEngine.open(d, small);
    await fill(e, 0, 6000, 0);
    await fill(e, 0, 6000, 1); // overwrite everything once
    await e.compactAll();
    const s = e.stats();
    expect(s.flushes).toBeGreaterThan(3);
    expect(s.compactions + s.trivialMoves).toBeGreaterThan(0);
    expect(s.levels[0]?.files).toBe(0);
    for (let i = 0; i < 6000; i += 37) expect(e.get(key(i))?.toString()).toBe(val(i, 1).toString());
    await e.close();
    e = await StorageEngine.open(d, small);
    const all = scan(e);
    expect(all.length).toBe(6000);
    expect(all[0]?.[1]).toBe(val(0, 1).toString());
    expect(e.verify()).toEqual([]);
    await e.close();
  });

  it('applies delete-range atomically, including over flushed data, and replays it', async () => {
    const d = dir();
    let e = await StorageEngine.open(d, small);
    await fill(e, 0, 3000);
    await e.flush();
    await fill(e, 3000, 4000);
    const b = new WriteBatch();
    b.delRange(key(1000), key(3500));
    b.put(key(2000), Buffer.from('reborn'));
    await e.write(b);
    expect(e.get(key(999))).toBeDefined();
    expect(e.get(key(1000))).toBeUndefined();
    expect(e.get(key(3499))).toBeUndefined();
    expect(e.get(key(3500))).toBeDefined();
    expect(e.get(key(2000))?.toString()).toBe('reborn');
    expect(scan(e).length).toBe(4000 - 2500 + 1);
    await e.close();
    e = await StorageEngine.open(d, small); // WAL replay expands the range deletion again
    expect(scan(e).length).toBe(1501);
    expect(e.get(key(2000))?.toString()).toBe('reborn');
    await e.close();
  });

  it('iterates forward, backward, with bounds and seeks', async () => {
    const e = await StorageEngine.open(dir(), small);
    await fill(e, 0, 3000);
    await e.flush();
    await e.del(key(10));
    const it = e.iterator({ lowerBound: key(5), upperBound: key(15) });
    const forward: string[] = [];
    for (it.seekToFirst(); it.valid(); it.next()) forward.push(it.key().toString());
    expect(forward).toEqual([5, 6, 7, 8, 9, 11, 12, 13, 14].map((i) => key(i).toString()));
    const backward: string[] = [];
    for (it.seekToLast(); it.valid(); it.prev()) backward.push(it.key().toString());
    expect(backward).toEqual([...forward].reverse());
    it.seek(key(10));
    expect(it.key().toString()).toBe(key(11).toString());
    it.seekForPrev(key(10));
    expect(it.key().toString()).toBe(key(9).toString());
    it.close();
    await e.close();
  });

  it('snapshots see a fixed point in time, through flush and compaction', async () => {
    const e = await StorageEngine.open(dir(), small);
    await fill(e, 0, 2000, 0);
    const snap = e.snapshot();
    await fill(e, 0, 2000, 1);
    await e.del(key(7));
    await e.compactAll();
    expect(e.get(key(7), { snapshot: snap })?.toString()).toBe(val(7, 0).toString());
    expect(e.get(key(7))).toBeUndefined();
    const old = scan(e, { snapshot: snap });
    expect(old.length).toBe(2000);
    expect(old.every(([k, v]) => v === val(Number(k.slice(4)), 0).toString())).toBe(true);
    snap.release();
    expect(e.stats().openSnapshots).toBe(0);
    await e.close();
  });

  it('makes a checkpoint that opens with exactly the data at the time', async () => {
    const d = dir();
    const e = await StorageEngine.open(d, small);
    await fill(e, 0, 4000);
    const cp = path.join(dir(), 'cp');
    await e.checkpoint(cp);
    await fill(e, 0, 4000, 1);
    const c = await StorageEngine.open(cp, small);
    const rows = scan(c);
    expect(rows.length).toBe(4000);
    expect(rows.every(([k, v]) => v === val(Number(k.slice(4)), 0).toString())).toBe(true);
    await c.close();
    await e.close();
    await expect(e.checkpoint(path.join(dir(), 'x'))).rejects.toBeInstanceOf(ClosedError);
  });

  it('exports a range and ingests it into another engine, newer than what was there', async () => {
    const src = await StorageEngine.open(dir(), small);
    await fill(src, 0, 5000, 7);
    const exportDir = path.join(dir(), 'export');
    const files = await src.exportRange(key(1000), key(4000), exportDir, { fileBytes: 64 * 1024 });
    expect(files.length).toBeGreaterThan(1);
    expect(files.reduce((s, f) => s + f.entries, 0)).toBe(3000);
    const dst = await StorageEngine.open(dir(), small);
    await fill(dst, 0, 5000, 1);
    await dst.flush();
    const b = new WriteBatch();
    b.delRange(key(1000), key(4000));
    await dst.write(b);
    await dst.ingest(files.map((f) => f.path));
    expect(dst.get(key(999))?.toString()).toBe(val(999, 1).toString());
    expect(dst.get(key(1000))?.toString()).toBe(val(1000, 7).toString());
    expect(dst.get(key(3999))?.toString()).toBe(val(3999, 7).toString());
    expect(dst.get(key(4000))?.toString()).toBe(val(4000, 1).toString());
    await dst.compactAll();
    expect(dst.get(key(2500))?.toString()).toBe(val(2500, 7).toString());
    expect(scan(dst).length).toBe(5000);
    await src.close();
    await dst.close();
  });

  describe('the level an ingest goes to', () => {
    // No compaction by itself: the test places every table.
    const placed = { ...small, memtableBytesMax: 4 * 1024 * 1024, l0CompactionTriggerFiles: 16, l0SlowdownTriggerFiles: 16, l0StopTriggerFiles: 16, levelBaseBytes: 64 * 1024 * 1024 };
    const filesPerLevel = (engine: StorageEngine): number[] => engine.stats().levels.map((level) => level.files);
    async function exported(from: number, to: number, round: number): Promise<string[]> {
      const src = await StorageEngine.open(dir(), placed);
      await fill(src, from, to, round);
      const files = await src.exportRange(key(from), key(to), path.join(dir(), 'export'));
      await src.close();
      return files.map((f) => f.path);
    }

    it('goes below flushed tables whose key ranges span the ingested keys but hold none of them', async () => {
      const files = await exported(1000, 4000, 7);
      const dst = await StorageEngine.open(dir(), placed);
      await fill(dst, 0, 1000, 1);
      await fill(dst, 4000, 5000, 1);
      await dst.flush();
      const before = filesPerLevel(dst);
      expect(before[0], 'one flushed table spanning keys 0..4999').toBe(1);
      await dst.ingest(files);
      const after = filesPerLevel(dst);
      expect(after[0], 'L0 unchanged').toBe(1);
      expect(after[after.length - 1], 'the bottom level holds the ingested tables').toBe(files.length);
      expect(dst.get(key(999))?.toString()).toBe(val(999, 1).toString());
      expect(dst.get(key(1000))?.toString()).toBe(val(1000, 7).toString());
      expect(dst.get(key(3999))?.toString()).toBe(val(3999, 7).toString());
      expect(dst.get(key(4000))?.toString()).toBe(val(4000, 1).toString());
      await dst.compactAll();
      expect(scan(dst).length).toBe(5000);
      expect(dst.get(key(2500))?.toString()).toBe(val(2500, 7).toString());
      await dst.close();
    });

    it('places each ingested file by its own keys: keys between two files neither flush nor lift them', async () => {
      const src = await StorageEngine.open(dir(), placed);
      await fill(src, 1000, 2000, 7);
      await fill(src, 8000, 9000, 7);
      const low = await src.exportRange(key(1000), key(2000), path.join(dir(), 'low'));
      const high = await src.exportRange(key(8000), key(9000), path.join(dir(), 'high'));
      await src.close();
      const dst = await StorageEngine.open(dir(), placed);
      await fill(dst, 5000, 5100, 1);
      await dst.flush();
      // Also unflushed keys between the files (a node's other ranges take writes meanwhile).
      await fill(dst, 5100, 5200, 1);
      const flushesBefore = dst.stats().flushes;
      await dst.ingest([...low, ...high].map((f) => f.path));
      const after = filesPerLevel(dst);
      expect(dst.stats().flushes, 'no flush: the memtable holds none of the files\' keys').toBe(flushesBefore);
      expect(after[0], 'L0: the flushed table only').toBe(1);
      expect(after[after.length - 1], 'both files at the bottom level').toBe(low.length + high.length);
      expect(dst.get(key(1500))?.toString()).toBe(val(1500, 7).toString());
      expect(dst.get(key(8500))?.toString()).toBe(val(8500, 7).toString());
      expect(dst.get(key(5150))?.toString()).toBe(val(5150, 1).toString());
      await dst.compactAll();
      expect(scan(dst).length).toBe(2200);
      await dst.close();
    });

    it('stays above a level holding keys of the span: L0 when a flushed table holds some', async () => {
      const files = await exported(1000, 4000, 7);
      const dst = await StorageEngine.open(dir(), placed);
      await fill(dst, 0, 5000, 1);
      await dst.flush();
      await dst.ingest(files);
      expect(filesPerLevel(dst)[0], 'the flushed table and the ingested ones').toBe(1 + files.length);
      expect(dst.get(key(2000))?.toString()).toBe(val(2000, 7).toString());
      expect(dst.get(key(4000))?.toString()).toBe(val(4000, 1).toString());
      await dst.close();
    });

    it('stays above a deeper level holding keys of the span, below L0 tables that hold none', async () => {
      const files = await exported(1000, 4000, 7);
      const dst = await StorageEngine.open(dir(), placed);
      await fill(dst, 0, 5000, 1);
      await dst.compactAll();
      const old = filesPerLevel(dst);
      const oldLevel = old.findIndex((count) => count > 0);
      expect(oldLevel, 'the old data went below L1').toBeGreaterThan(1);
      await fill(dst, 6000, 7000, 1);
      await dst.flush();
      await dst.ingest(files);
      const after = filesPerLevel(dst);
      expect(after[0], 'L0: the flushed table only').toBe(1);
      expect(after[oldLevel - 1], 'the level right above the old data').toBe(files.length);
      expect(dst.get(key(2000))?.toString()).toBe(val(2000, 7).toString());
      expect(dst.get(key(999))?.toString()).toBe(val(999, 1).toString());
      await dst.compactAll();
      expect(dst.get(key(2000))?.toString()).toBe(val(2000, 7).toString());
      expect(scan(dst).length).toBe(6000);
      await dst.close();
    });
  });

  it('gives the event loop turns while it exports and checks large values (fewer entries than the per-entry yield)', async () => {
    const src = await StorageEngine.open(dir(), { ...small, memtableBytesMax: 1024 * 1024, targetFileBytes: 64 * 1024 * 1024 });
    // 256 values of 16 KiB: 4 MiB in one table, well under the 4,096 entries between per-entry yields.
    const value = Buffer.alloc(16 * 1024, 0x61);
    for (let i = 0; i < 256; i += 32) {
      const b = new WriteBatch();
      for (let j = i; j < i + 32; j++) b.put(key(j), value);
      await src.write(b);
    }
    let turns = 0;
    let counting = true;
    const countTurns = (): void => {
      if (!counting) return;
      turns++;
      setImmediate(countTurns);
    };
    setImmediate(countTurns);
    const files = await src.exportRange(key(0), key(256), path.join(dir(), 'export'));
    const exportTurns = turns;
    expect(files).toHaveLength(1);
    expect(exportTurns, 'event-loop turns during a 4 MiB export').toBeGreaterThanOrEqual(8);
    const dst = await StorageEngine.open(dir(), small);
    turns = 0;
    await dst.ingest(files.map((f) => f.path));
    counting = false;
    expect(turns, 'event-loop turns while a 4 MiB table is checked before its ingest').toBeGreaterThanOrEqual(8);
    expect(dst.get(key(255))?.byteLength).toBe(value.byteLength);
    await src.close();
    await dst.close();
  });

  it('garbage-collects MVCC versions below the threshold in compaction, keeping the newest at or below it', async () => {
    const e = await StorageEngine.open(dir(), { ...small, mvccGarbageCollection: true });
    for (let ts = 1n; ts <= 5n; ts++) {
      const b = new WriteBatch();
      for (let i = 0; i < 200; i++) b.put(encodeMvccKey(key(i), ts * 10n), Buffer.from(`v${ts}`));
      await e.write(b);
    }
    e.setMvccGcThreshold(35n);
    await e.compactAll();
    const versionsOf0 = scan(e, { lowerBound: encodeMvccKey(key(0), 2n ** 64n - 1n), upperBound: encodeMvccKey(key(1), 2n ** 64n - 1n) });
    // ts 50 and 40 are above the threshold; 30 is the newest at or below it; 20 and 10 are collected.
    expect(versionsOf0.map(([, v]) => v)).toEqual(['v5', 'v4', 'v3']);
    expect(e.stats().mvccVersionsCollected).toBeGreaterThanOrEqual(400);
    expect(() => e.setMvccGcThreshold(10n)).toThrow(/below the current/);
    await e.close();
  });

  it('flushes and compacts on a thread that lowered its own priority, not the event loop thread', async () => {
    const niceOf = (task: string): number => {
      // Field 19 of /proc/<pid>/task/<tid>/stat (after the parenthesised name) is the nice value.
      const stat = fs.readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const before = new Set(fs.readdirSync('/proc/self/task'));
    // Whatever the test runner itself runs at (it may be niced): the flush must leave it alone.
    const eventLoopNice = niceOf(String(process.pid));
    const e = await StorageEngine.open(dir(), small);
    await fill(e, 0, 2000, 1);
    await e.flush();
    await e.compactAll();
    const started = fs.readdirSync('/proc/self/task').filter((task) => !before.has(task));
    expect(started.map(niceOf), 'threads started by the first flush').toContain(Math.max(eventLoopNice, backgroundThreadNice));
    expect(niceOf(String(process.pid)), 'the event loop thread').toBe(eventLoopNice);
    expect(scan(e).length).toBe(2000);
    await e.close();
  });

  it('makes unsynced writes durable with one fsync of its log, writing no table (syncWrites)', async () => {
    const fsyncs: string[] = [];
    let failLogSyncs = false;
    const faults = new FaultInjectingFs();
    faults.failWhen = (operation, target) => {
      if (operation !== 'fsync') return undefined;
      fsyncs.push(path.basename(target));
      return failLogSyncs && target.endsWith('.log') ? 'EIO' : undefined;
    };
    const e = await StorageEngine.open(dir(), small, { fs: faults });
    await e.put(key(1), val(1, 1), { sync: false });
    fsyncs.length = 0;
    await e.syncWrites();
    expect(fsyncs.filter((name) => name.endsWith('.log')), 'the write-ahead log synced').toHaveLength(1);
    expect(fsyncs.filter((name) => name.endsWith('.sst')), 'no table written').toEqual([]);
    expect(e.stats().levels[0]?.files).toBe(0);
    // A failed sync may have lost the unsynced writes: the engine takes no more.
    await e.put(key(2), val(2, 1), { sync: false });
    failLogSyncs = true;
    await expect(e.syncWrites()).rejects.toThrow(/EIO/);
    await expect(e.put(key(3), val(3, 1))).rejects.toBeInstanceOf(ReadOnlyError);
    await e.close();
  });

  it('refuses a second open of the same directory and names the holder', async () => {
    const d = dir();
    const e = await StorageEngine.open(d);
    await expect(StorageEngine.open(d)).rejects.toBeInstanceOf(LockedError);
    await e.close();
    const again = await StorageEngine.open(d);
    await again.close();
  });

  it('takes over a lock left by a dead process', async () => {
    const d = dir();
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'LOCK'), '999999999');
    const e = await StorageEngine.open(d);
    await e.close();
  });

  it('rejects bad options with every field named', async () => {
    await expect(StorageEngine.open(dir(), { memtableBytesMax: -5, levelsMax: 'seven' } as never)).rejects.toSatisfy(
      (err: unknown) => err instanceof InvalidOptionsError && /memtableBytesMax/.test(err.message) && /levelsMax/.test(err.message),
    );
  });

  it('reports statistics that add up', async () => {
    const e = await StorageEngine.open(dir(), small);
    await fill(e, 0, 5000);
    await e.compactAll();
    for (let i = 0; i < 5000; i += 3) e.get(key(i));
    const s = e.stats();
    expect(s.userBytesWritten).toBeGreaterThan(5000 * 20);
    expect(s.walBytesWritten).toBeGreaterThanOrEqual(s.userBytesWritten);
    expect(s.writeAmplification).toBeGreaterThan(1);
    expect(s.blockCache.hits + s.blockCache.misses).toBeGreaterThan(0);
    expect(s.levels.reduce((n, l) => n + l.files, 0)).toBeGreaterThan(0);
    expect(s.state).toBe('open');
    await e.close();
  });

  it('slows and stalls writers when flushes fall behind, and shows it in stats', async () => {
    const e = await StorageEngine.open(dir(), { ...small, immutableMemtablesMax: 1, l0SlowdownTriggerFiles: 2, l0StopTriggerFiles: 3 });
    const writes: Promise<void>[] = [];
    for (let r = 0; r < 20; r++) {
      const b = new WriteBatch();
      for (let j = 0; j < 800; j++) b.put(key(r * 800 + j), val(j));
      writes.push(e.write(b, { sync: false }));
    }
    await Promise.all(writes);
    const s = e.stats();
    expect(s.stalls + s.slowdowns).toBeGreaterThan(0);
    expect(scan(e).length).toBe(16000);
    await e.close();
  });
});
