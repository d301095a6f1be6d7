/**
 * A backup run's progress records: what a coordinator taking over keeps (spans written
 * completely at the same timestamp, every file in place at its size, no two overlapping) and
 * what it still writes (the current ranges minus the kept spans, each piece within one range).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackupRange } from './manifest.ts';
import { finishedSpans, readRunRecord, remainingSpans, writeRunRecord, writeSpanRecord } from './progress.ts';
import { VolumeBackupStore } from './store.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const b = (text: string): Buffer => Buffer.from(text);
const hex = (text: string): string => Buffer.from(text).toString('hex');

function range(rangeId: number, start: string, end: string, objectKey: string, sizeBytes = 5): BackupRange {
  return { rangeId, startKey: hex(start), endKey: hex(end), files: [{ objectKey, sizeBytes, sha256: '0'.repeat(64), entries: 1, smallestKey: hex(start), largestKey: hex(start) }] };
}

describe('remainingSpans', () => {
  const spans = [
    { rangeId: 2, startKey: b(''), endKey: b('g') },
    { rangeId: 5, startKey: b('g'), endKey: b('p') },
    { rangeId: 7, startKey: b('p'), endKey: b('') },
  ];
  const text = (out: ReturnType<typeof remainingSpans>): string[] => out.map((span) => `${span.rangeId}:${span.startKey.toString()}-${span.endKey.toString()}`);

  it('is every range when nothing was kept, and nothing when the kept spans cover the keyspace', () => {
    expect(text(remainingSpans(spans, []))).toEqual(['2:-g', '5:g-p', '7:p-']);
    expect(text(remainingSpans(spans, [range(2, '', 'k', 'x'), range(9, 'k', '', 'y')]))).toEqual([]);
  });

  it('cuts kept spans out of the ranges now (they may have split or merged since)', () => {
    // Kept: [c, j) across the first two ranges, [r, t) inside the last.
    expect(text(remainingSpans(spans, [range(2, 'c', 'j', 'x'), range(7, 'r', 't', 'y')]))).toEqual(['2:-c', '5:j-p', '7:p-r', '7:t-']);
    // Kept to the end of the keyspace.
    expect(text(remainingSpans(spans, [range(5, 'h', '', 'x')]))).toEqual(['2:-g', '5:g-h']);
  });
});

describe('progress records', () => {
  async function volume(): Promise<{ store: VolumeBackupStore; root: string }> {
    const root = await mkdtemp(path.join(tmpdir(), 'phantomdb-progress-'));
    dirs.push(root);
    return { store: new VolumeBackupStore(root), root };
  }
  async function put(store: VolumeBackupStore, key: string, bytes = 5): Promise<void> {
    await store.put(key, Readable.from([Buffer.alloc(bytes, 1)]), bytes);
  }

  it('round-trip the run record; a missing or malformed one is no record', async () => {
    const { store, root } = await volume();
    expect(await readRunRecord(store, 'b1')).toBeUndefined();
    await writeRunRecord(store, 'b1', { backupTimestamp: '1700000000000.3', type: 'full', parentBackupId: '' });
    expect(await readRunRecord(store, 'b1')).toEqual({ backupTimestamp: '1700000000000.3', type: 'full', parentBackupId: '' });
    await writeFile(path.join(root, 'b1', 'progress', 'run.json'), '{"backupTimestamp": 3');
    expect(await readRunRecord(store, 'b1')).toBeUndefined();
  });

  it('keeps spans recorded at the same timestamp whose files are whole, one per key, in key order', async () => {
    const { store } = await volume();
    const at = '1700000000000.3';
    for (const key of ['b1/ranges/2/r1-a', 'b1/ranges/5/r1-b', 'b1/ranges/5/r2-c', 'b1/ranges/7/r1-d', 'b1/ranges/7/r2-e', 'b1/ranges/9/r1-f']) await put(store, key);
    await put(store, 'b1/ranges/8/r1-short', 3);
    await writeSpanRecord(store, 'b1', 'r1', 0, at, range(2, '', 'g', 'b1/ranges/2/r1-a'));
    await writeSpanRecord(store, 'b1', 'r1', 1, at, range(5, 'g', 'p', 'b1/ranges/5/r1-b'));
    // Another run at the same timestamp wrote [j, m) too (overlaps [g, p)): not kept twice.
    await writeSpanRecord(store, 'b1', 'r2', 0, at, range(5, 'j', 'm', 'b1/ranges/5/r2-c'));
    // Another timestamp: not this run's data.
    await writeSpanRecord(store, 'b1', 'r0', 0, '1600000000000.0', range(7, 'p', 'x', 'b1/ranges/7/r1-d'));
    // A file missing, or shorter than recorded: redone.
    await writeSpanRecord(store, 'b1', 'r1', 2, at, range(7, 'x', 'y', 'b1/ranges/7/gone'));
    await writeSpanRecord(store, 'b1', 'r1', 3, at, range(8, 'y', 'z', 'b1/ranges/8/r1-short'));
    await writeSpanRecord(store, 'b1', 'r2', 1, at, range(9, 'z', '', 'b1/ranges/9/r1-f'));
    const kept = await finishedSpans(store, 'b1', at);
    expect(kept.map((r) => `${r.rangeId}:${Buffer.from(r.startKey, 'hex').toString()}-${Buffer.from(r.endKey, 'hex').toString()}`)).toEqual(['2:-g', '5:g-p', '9:z-']);
  });
});
