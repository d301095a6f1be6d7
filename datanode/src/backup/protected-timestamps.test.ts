/**
 * Protected timestamps against the real storage engine's MVCC garbage collection: with the GC
 * threshold held back to the protection, an incremental backup after compaction still holds
 * every version since its parent; without the protection, GC would have dropped some.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTimestamp, timestamp } from '../hlc/hlc.ts';
import { StorageEngine } from '../storage/engine.ts';
import { decodeMvccKey, encodeMvccKey } from '../storage/mvcc.ts';
import { MvccEngineRangeExporter } from './engine-adapters.ts';
import { ProtectedTimestamps } from './protected-timestamps.ts';

let workDir = '';

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'phantomdb-protect-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('ProtectedTimestamps', () => {
  it('holds the GC threshold back to the oldest live protection, and lets go on release or expiry', () => {
    const registry = new ProtectedTimestamps();
    expect(registry.gcThreshold(timestamp(500), 0)).toEqual(timestamp(500));
    registry.protect({ id: 'chain-nightly', ts: timestamp(300), reason: 'next incremental of nightly', expiresAtMs: 1_000 });
    registry.protect({ id: 'backup-b7', ts: timestamp(400), reason: 'backup b7 running' });
    expect(registry.gcThreshold(timestamp(500), 0)).toEqual(timestamp(300));
    expect(registry.gcThreshold(timestamp(200), 0)).toEqual(timestamp(200));
    expect(registry.describe(0)).toEqual(['chain-nightly at 300.00000: next incremental of nightly', 'backup-b7 at 400.00000: backup b7 running']);
    expect(registry.gcThreshold(timestamp(500), 1_000)).toEqual(timestamp(400)); // the chain's protection expired
    registry.release('backup-b7');
    expect(registry.gcThreshold(timestamp(500), 1_000)).toEqual(timestamp(500));
  });

  it('keeps every version an incremental backup needs through MVCC garbage collection', async () => {
    const since = timestamp(2_000);
    const at = timestamp(4_000);
    const versionsAfter = async (protect: boolean): Promise<number> => {
      const engine = await StorageEngine.open(path.join(workDir, protect ? 'protected' : 'unprotected'), { mvccGarbageCollection: true, memtableBytesMax: 64 * 1024, blockCacheBytes: 1024 * 1024 });
      // Each of 50 keys gets a version every 500 ms of HLC time from 1000 to 5000.
      for (let key = 0; key < 50; key++) {
        for (let wall = 1_000; wall <= 5_000; wall += 500) {
          await engine.put(encodeMvccKey(Buffer.from(`key-${key}`), encodeTimestamp(timestamp(wall))), Buffer.from(`v${wall}`), { sync: false });
        }
      }
      const registry = new ProtectedTimestamps();
      if (protect) registry.protect({ id: 'chain', ts: since, reason: 'next incremental' });
      engine.setMvccGcThreshold(encodeTimestamp(registry.gcThreshold(timestamp(4_500), 0)));
      await engine.flush();
      await engine.compactAll();
      const files = await new MvccEngineRangeExporter(engine).exportRange({ span: { rangeId: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) }, at, since, dir: path.join(workDir, `export-${String(protect)}`) });
      const entries = files.reduce((sum, file) => sum + file.entries, 0);
      // The newest version of every key survives either way.
      const it = engine.iterator();
      const keys = new Set<string>();
      for (it.seekToFirst(); it.valid(); it.next()) keys.add(decodeMvccKey(it.key()).key.toString());
      it.close();
      expect(keys.size).toBe(50);
      await engine.close();
      return entries;
    };
    // (2000, 4000] holds versions at 2500, 3000, 3500, 4000 of each key.
    expect(await versionsAfter(true)).toBe(50 * 4);
    expect(await versionsAfter(false)).toBeLessThan(50 * 4);
  }, 60_000);
});
