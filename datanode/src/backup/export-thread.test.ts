/**
 * Backup exports on the lowered-priority export thread: the same versions as the in-thread
 * exporter (tables and memtable, tombstones, versions above the backup timestamp, incremental
 * windows), files hashed and read back there, a cancelled job leaves no files, the pinned view
 * keeps its tables through a compaction, and the thread really runs niced while the main thread
 * does not.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTimestamp, timestamp } from '../hlc/hlc.ts';
import { StorageEngine } from '../storage/engine.ts';
import { realFs } from '../storage/fs.ts';
import { encodeMvccKey } from '../storage/mvcc.ts';
import { TableReader } from '../storage/sstable/table-reader.ts';
import { MvccEngineRangeExporter } from './engine-adapters.ts';
import { exportOnThread, ExportThread } from './export-thread.ts';

const tombstoneByte = 0x00;
const live = (text: string): Buffer => Buffer.concat([Buffer.from([0x01]), Buffer.from(text)]);
const dead = Buffer.from([tombstoneByte]);
const key = (i: number): Buffer => Buffer.from(`k${String(i).padStart(5, '0')}`);
const ts = (wall: number): bigint => encodeTimestamp(timestamp(wall, 0));
const keys = 600;

let dir = '';
let engine: StorageEngine;
let thread: ExportThread;

/** Every (key, value) of the exported files, hex, in order. */
function contents(files: readonly { path: string }[]): string[] {
  const out: string[] = [];
  for (const [index, file] of files.entries()) {
    const reader = TableReader.open(realFs, file.path, 900_000 + index);
    try {
      const it = reader.iterator();
      for (it.seekToFirst(); it.valid(); it.next()) out.push(`${it.userKey().toString('hex')}=${it.value().toString('hex')}`);
    } finally {
      reader.close();
    }
  }
  return out;
}

/** The nice value of a thread of this process (field 19 of /proc/self/task/<tid>/stat). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** The main thread's nice value before any export thread started (the test runner may itself be niced). */
const mainThreadNice = process.platform === 'linux' ? niceOf(process.pid) : 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'phantomdb-export-thread-'));
  engine = await StorageEngine.open(path.join(dir, 'engine'), { memtableBytesMax: 256 * 1024 });
  // Versions at 1000 and 2000 of every key, a third of them deleted at 3000, and versions at 9000
  // (after the backup timestamps below); the small memtable puts most in tables, the last ones not.
  for (let i = 0; i < keys; i++) {
    await engine.put(encodeMvccKey(key(i), ts(1000)), live(`a${i}`.repeat(40)), { sync: false });
    await engine.put(encodeMvccKey(key(i), ts(2000)), live(`b${i}`.repeat(40)), { sync: false });
    if (i % 3 === 0) await engine.put(encodeMvccKey(key(i), ts(3000)), dead, { sync: false });
  }
  await engine.flush();
  for (let i = 0; i < keys; i += 7) await engine.put(encodeMvccKey(key(i), ts(4000)), live(`c${i}`), { sync: false });
  for (let i = 0; i < keys; i += 5) await engine.put(encodeMvccKey(key(i), ts(9000)), live(`z${i}`), { sync: false });
  thread = new ExportThread({ nice: 19, idleMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await thread.close();
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

describe('exportOnThread', () => {
  const span = { rangeId: 1, startKey: key(50), endKey: key(550) };
  const cases = [
    { name: 'full', at: timestamp(5000, 0), since: undefined },
    { name: 'incremental', at: timestamp(5000, 0), since: timestamp(1500, 0) },
  ];
  for (const { name, at, since } of cases) {
    it(`exports the same versions as the in-thread exporter (${name}), hashed and read back`, async () => {
      const request = { span, at, ...(since === undefined ? {} : { since }), dir: path.join(dir, `in-${name}`) };
      const expected = contents(await new MvccEngineRangeExporter(engine, { isTombstone: (v) => v[0] === tombstoneByte, fileBytes: 16 * 1024 }).exportRange(request));
      const out = path.join(dir, `thread-${name}`);
      await mkdir(out, { recursive: true });
      let paced = 0;
      const files = await exportOnThread(thread, engine, request, {
        tombstoneFirstByte: tombstoneByte,
        fileBytes: 16 * 1024,
        output: { prefix: `${out}${path.sep}p-`, suffix: '.sst.partial' },
        sync: true,
        readBack: true,
        pace: async (bytes) => {
          paced += bytes;
        },
      });
      expect(files.length).toBeGreaterThan(1);
      expect(contents(files)).toEqual(expected);
      expect(expected.length).toBeGreaterThan(100);
      for (const [index, file] of files.entries()) {
        expect(file.path).toBe(path.join(out, `p-${String(index).padStart(6, '0')}.sst.partial`));
        expect(file.sha256).toBe(createHash('sha256').update(readFileSync(file.path)).digest('hex'));
        expect(file.readBack).toBe(true);
        expect(Buffer.isBuffer(file.smallestKey)).toBe(true);
      }
      expect(paced).toBeGreaterThan(0);
    }, 60_000);
  }

  it('runs on a thread whose nice value is lowered, while the main thread keeps its own', async () => {
    expect(thread.kernelThread).toBeDefined();
    const { tid, nice } = thread.kernelThread as { tid: number; nice: number };
    expect(nice).toBe(19);
    if (process.platform !== 'linux') return;
    expect(tid).not.toBe(process.pid);
    expect(niceOf(tid)).toBe(19);
    expect(niceOf(process.pid)).toBe(mainThreadNice);
  });

  it('a job whose pacing fails stops and removes the files it wrote', async () => {
    const out = path.join(dir, 'cancelled');
    await mkdir(out, { recursive: true });
    let calls = 0;
    const job = exportOnThread(thread, engine, { span: { rangeId: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) }, at: timestamp(5000, 0), dir: out }, {
      tombstoneFirstByte: tombstoneByte,
      fileBytes: 16 * 1024,
      output: { prefix: `${out}${path.sep}c-`, suffix: '.sst' },
      sync: false,
      readBack: false,
      pace: async () => {
        calls++;
        throw new Error('backup aborted by the test');
      },
    });
    await expect(job).rejects.toThrow(/aborted by the test/);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(readdirSync(out)).toEqual([]);
  }, 60_000);

  it('keeps the pinned tables through a compaction until released', async () => {
    const view = engine.pinReadView(Buffer.alloc(0), undefined);
    try {
      expect(view.tables.length).toBeGreaterThan(0);
      await engine.compactAll();
      for (const table of view.tables) expect(existsSync(table.path), table.path).toBe(true);
    } finally {
      view.release();
    }
    // Unpinned: the compacted-away inputs go.
    const gone = view.tables.filter((table) => !existsSync(table.path));
    expect(gone.length).toBeGreaterThan(0);
  }, 60_000);
});
