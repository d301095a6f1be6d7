/**
 * One range's export written straight to a destination (the node-side half of a backup): to a
 * volume (built in place) and to a real S3 API (s3rver). The files it answers must exist at the
 * destination with the recorded size and SHA-256 (computed independently here), hold exactly the
 * exported data, leave no staging files behind, and an aborted export must remove what it wrote.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../../test/s3/local-s3.ts';
import { encodeTimestamp, timestamp } from '../hlc/hlc.ts';
import { StorageEngine } from '../storage/engine.ts';
import { encodeMvccKey } from '../storage/mvcc.ts';
import { MvccEngineRangeExporter } from './engine-adapters.ts';
import { exportOnThread, ExportThread } from './export-thread.ts';
import type { BackupFile } from './manifest.ts';
import { writeRangeFiles } from './range-writer.ts';
import { type BackupStore, S3BackupStore, VolumeBackupStore } from './store.ts';
import { BandwidthLimiter } from './throttle.ts';
import { systemTimers } from './ports.ts';

const keys = 300;
const valueBytes = 4096;
let dir = '';
let engine: StorageEngine;
let s3: LocalS3 | undefined;
/** The node's way: exports on the (niced) export thread; the other way is the in-thread exporter. */
const thread = new ExportThread({ nice: 19 });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'phantomdb-range-writer-'));
  engine = await StorageEngine.open(path.join(dir, 'engine'), {});
  for (let i = 0; i < keys; i++) {
    await engine.put(encodeMvccKey(Buffer.from(`k${String(i).padStart(5, '0')}`), encodeTimestamp(timestamp(1000 + i, 0))), Buffer.alloc(valueBytes, i % 251), { sync: false });
  }
  s3 = await startLocalS3(path.join(dir, 's3rver'), ['phantom-backups']);
}, 60_000);

afterAll(async () => {
  await thread.close();
  await s3?.close();
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

const everything = { rangeId: 7, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) };

function writeTo(store: BackupStore, prefix: string, signal: AbortSignal, options: { limiter?: BandwidthLimiter; onBytes?: (bytes: number) => void; onThread?: boolean } = {}): Promise<BackupFile[]> {
  const { onThread, ...rest } = options;
  const request = (exportDir: string): { span: typeof everything; at: ReturnType<typeof timestamp>; dir: string } => ({ span: everything, at: timestamp(1000 + keys, 0), dir: exportDir });
  return writeRangeFiles({
    store,
    // Small files, so one export writes several objects.
    exportInto: (exportDir, hooks) =>
      onThread === true
        ? exportOnThread(thread, engine, request(exportDir), { fileBytes: 256 * 1024, output: hooks.output, sync: hooks.sync, readBack: hooks.readBack, pace: hooks.pace })
        : new MvccEngineRangeExporter(engine, { fileBytes: 256 * 1024, ...hooks }).exportRange(request(exportDir)),
    objectKeyPrefix: prefix,
    scratchDir: path.join(dir, 'scratch', prefix.replaceAll('/', '_')),
    signal,
    ...rest,
  });
}

async function bodyOf(store: BackupStore, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of await store.get(key)) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** The files hold every exported entry once, in order, and each object's bytes hash to the recorded SHA-256. */
async function expectWhole(store: BackupStore, files: readonly BackupFile[]): Promise<void> {
  expect(files.length).toBeGreaterThan(1);
  expect(files.reduce((sum, file) => sum + file.entries, 0)).toBe(keys);
  for (const [index, file] of files.entries()) {
    expect(file.objectKey).toBe(`b1/ranges/7/a-${String(index).padStart(6, '0')}.sst`);
    const body = await bodyOf(store, file.objectKey);
    expect(body.length).toBe(file.sizeBytes);
    expect(createHash('sha256').update(body).digest('hex')).toBe(file.sha256);
  }
  const listed = await store.list('b1/');
  expect(listed).toEqual(files.map((file) => file.objectKey));
}

for (const onThread of [false, true]) {
 describe(`writeRangeFiles (${onThread ? 'on the export thread' : 'in-thread exporter'})`, () => {
  it('builds the files in place on a volume, flushed and renamed, with their checksums', async () => {
    const root = path.join(dir, `volume-${onThread}`);
    const store = new VolumeBackupStore(root);
    let reported = 0;
    const files = await writeTo(store, 'b1/ranges/7/a-', new AbortController().signal, { onThread, onBytes: (bytes) => (reported = bytes) });
    await expectWhole(store, files);
    expect(reported).toBe(files.reduce((sum, file) => sum + file.sizeBytes, 0));
    expect((await readdir(path.join(root, 'b1', 'ranges', '7'))).filter((name) => name.endsWith('.partial'))).toEqual([]);
    // The bytes on disk are the ones checked (not a copy elsewhere).
    const first = files[0] as BackupFile;
    expect(createHash('sha256').update(await readFile(store.pathOf(first.objectKey))).digest('hex')).toBe(first.sha256);
  }, 60_000);

  it('uploads to S3 from node-local scratch and leaves no scratch behind', async () => {
    const local = s3 as LocalS3;
    const store = new S3BackupStore({ bucket: 'phantom-backups', prefix: `rw-${onThread}`, region: local.region, endpoint: local.endpoint, forcePathStyle: true, credentials: local.credentials });
    try {
      const files = await writeTo(store, 'b1/ranges/7/a-', new AbortController().signal, { onThread });
      await expectWhole(store, files);
      await expect(readdir(path.join(dir, 'scratch', 'b1_ranges_7_a-'))).rejects.toThrow(/ENOENT/);
    } finally {
      store.destroy();
    }
  }, 60_000);

  it('removes what it wrote when aborted mid-export', async () => {
    const root = path.join(dir, `volume-abort-${onThread}`);
    const store = new VolumeBackupStore(root);
    const abort = new AbortController();
    // Slow enough that the abort lands in the middle: 1.2 MiB at 2 MiB/s.
    const limiter = new BandwidthLimiter(2 * 1024 * 1024, systemTimers);
    let sawBytes = false;
    const writing = writeTo(store, 'b1/ranges/7/a-', abort.signal, {
      onThread,
      limiter,
      onBytes: (bytes) => {
        if (bytes > 300 * 1024 && !sawBytes) {
          sawBytes = true;
          abort.abort(new Error('coordinator went away'));
        }
      },
    });
    await expect(writing).rejects.toThrow(/coordinator went away/);
    expect(sawBytes).toBe(true);
    const left = await readdir(path.join(root, 'b1', 'ranges', '7')).catch(() => []);
    expect(left).toEqual([]);
  }, 60_000);
});
}
