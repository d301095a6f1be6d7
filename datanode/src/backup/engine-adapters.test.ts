/**
 * The MVCC exporter over a real engine with large values: it must let other work run while it
 * walks a range (a data node keeps serving while a backup exports), not only every N keys.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTimestamp, timestamp } from '../hlc/hlc.ts';
import { StorageEngine } from '../storage/engine.ts';
import { encodeMvccKey } from '../storage/mvcc.ts';
import { MvccEngineRangeExporter, exportYieldBytes } from './engine-adapters.ts';

const valueBytes = 16 * 1024;
const keys = 512; // 8 MiB of values: fewer keys than the old 4096-key yield interval
let dir = '';
let engine: StorageEngine;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'phantomdb-export-'));
  engine = await StorageEngine.open(path.join(dir, 'engine'), { memtableBytesMax: 4 * 1024 * 1024 });
  const ts = encodeTimestamp(timestamp(1000, 0));
  for (let i = 0; i < keys; i++) {
    await engine.put(encodeMvccKey(Buffer.from(`k${String(i).padStart(5, '0')}`), ts), Buffer.alloc(valueBytes, i % 251), { sync: false });
  }
}, 60_000);

afterAll(async () => {
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

describe('MvccEngineRangeExporter', () => {
  it('yields to the event loop by bytes walked, so large values do not stall it', async () => {
    let turns = 0;
    let running = true;
    const tick = (): void => {
      if (!running) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const exporter = new MvccEngineRangeExporter(engine);
    const files = await exporter.exportRange({ span: { rangeId: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) }, at: timestamp(2000, 0), dir: path.join(dir, 'export') });
    running = false;
    const exported = files.reduce((sum, file) => sum + file.entries, 0);
    expect(exported).toBe(keys);
    // At least one turn per exportYieldBytes walked (minus slack for the first and last).
    const minimumTurns = Math.floor((keys * valueBytes) / exportYieldBytes) - 2;
    expect(turns).toBeGreaterThanOrEqual(minimumTurns);
  }, 60_000);

  it('leaves the block cache to what clients read (a scan fills it, the export does not)', async () => {
    // Reopened: the cache starts empty and every entry is in SSTables.
    await engine.close();
    engine = await StorageEngine.open(path.join(dir, 'engine'), { memtableBytesMax: 4 * 1024 * 1024 });
    const before = engine.stats().blockCache.usageBytes;
    const files = await new MvccEngineRangeExporter(engine).exportRange({ span: { rangeId: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) }, at: timestamp(2000, 0), dir: path.join(dir, 'export-cache') });
    expect(files.reduce((sum, file) => sum + file.entries, 0)).toBe(keys);
    expect(engine.stats().blockCache.usageBytes - before).toBeLessThan(valueBytes * 4);
    // The control: an ordinary iterator over the same keys does fill it.
    const it = engine.iterator();
    try {
      for (it.seekToFirst(); it.valid(); it.next()) it.value();
    } finally {
      it.close();
    }
    expect(engine.stats().blockCache.usageBytes - before).toBeGreaterThan(valueBytes * 64);
  }, 60_000);
});
