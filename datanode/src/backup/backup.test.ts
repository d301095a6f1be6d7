/**
 * Backups end to end over the real storage engine and real destinations: a directory and an
 * S3 API served by s3rver on loopback. A seeded workload writes MVCC versions (deletions are
 * empty values); backups at chosen timestamps are restored into fresh engines and the restored
 * view at the backup timestamp must equal the model's view at that timestamp.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../../test/s3/local-s3.ts';
import { timestamp, type HlcTimestamp, encodeTimestamp } from '../hlc/hlc.ts';
import { StorageEngine } from '../storage/engine.ts';
import { decodeMvccKey, encodeMvccKey } from '../storage/mvcc.ts';
import { EngineRangeIngester, MvccEngineRangeExporter } from './engine-adapters.ts';
import { BackupChainBrokenError, BackupManifestInvalidError, BackupObjectCorruptError, BackupObjectMissingError } from './errors.ts';
import { manifestKey } from './manifest.ts';
import type { BackupProgress, IngestBatch, RangeIngester, RangeSpan } from './ports.ts';
import { resolveChain, restoreBackup, verifyBackup } from './reader.ts';
import { type BackupStore, S3BackupStore, VolumeBackupStore } from './store.ts';
import { systemTimers } from './ports.ts';
import { writeBackup } from './writer.ts';

const seed = Number(process.env['SEED'] ?? 20261126);
const keyCount = 1500;
const timers = systemTimers;
const tombstone = Buffer.alloc(0);
const isTombstone = (value: Buffer): boolean => value.length === 0;

/** A small deterministic generator (the seed is printed by failing assertions' messages). */
function rng(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function userKey(index: number): Buffer {
  return Buffer.from(`k${String(index).padStart(6, '0')}`);
}

/** The model: every version ever written, per key. */
type Model = Map<string, { ts: bigint; value: Buffer }[]>;

function viewAt(model: Model, at: HlcTimestamp): Map<string, string> {
  const limit = encodeTimestamp(at);
  const out = new Map<string, string>();
  for (const [key, versions] of model) {
    const newest = versions.filter((version) => version.ts <= limit).sort((a, b) => (a.ts < b.ts ? 1 : -1))[0];
    if (newest !== undefined && newest.value.length > 0) out.set(key, newest.value.toString('hex'));
  }
  return out;
}

/** What an MVCC reader at `at` sees in an engine. */
function engineViewAt(engine: StorageEngine, at: HlcTimestamp): Map<string, string> {
  const limit = encodeTimestamp(at);
  const out = new Map<string, string>();
  const decided = new Set<string>();
  const it = engine.iterator();
  try {
    for (it.seekToFirst(); it.valid(); it.next()) {
      const { key, ts } = decodeMvccKey(it.key());
      const text = key.toString();
      if (ts > limit || decided.has(text)) continue;
      decided.add(text);
      if (it.value().length > 0) out.set(text, it.value().toString('hex'));
    }
  } finally {
    it.close();
  }
  return out;
}

/** Writes `writes` random versions (about 1 in 8 a deletion) with timestamps in [fromMs, toMs]. */
async function writeVersions(engine: StorageEngine, model: Model, random: () => number, writes: number, fromMs: number, toMs: number): Promise<void> {
  for (let i = 0; i < writes; i++) {
    const index = Math.floor(random() * keyCount);
    const ts = encodeTimestamp(timestamp(fromMs + Math.floor(random() * (toMs - fromMs + 1)), Math.floor(random() * 100)));
    const value = random() < 0.125 ? tombstone : Buffer.from(`v${i}-${'x'.repeat(Math.floor(random() * 64))}`);
    const key = userKey(index);
    await engine.put(encodeMvccKey(key, ts), value, { sync: false });
    const versions = model.get(key.toString()) ?? [];
    versions.push({ ts, value });
    model.set(key.toString(), versions);
  }
}

const spans: RangeSpan[] = [
  { rangeId: 1, startKey: Buffer.alloc(0), endKey: userKey(400) },
  { rangeId: 2, startKey: userKey(400), endKey: userKey(900) },
  { rangeId: 3, startKey: userKey(900), endKey: userKey(1200) },
  { rangeId: 4, startKey: userKey(1200), endKey: Buffer.alloc(0) },
];

/** An ingester that records what it was handed, then passes it on. */
class RecordingIngester implements RangeIngester {
  readonly batches: IngestBatch[] = [];
  constructor(private readonly inner: RangeIngester) {}
  async ingest(batch: IngestBatch): Promise<void> {
    this.batches.push(batch);
    await this.inner.ingest(batch);
  }
}

interface Fixture {
  readonly name: string;
  store: BackupStore;
  /** Replaces an object's bytes behind the store's back (a corrupted object). */
  overwrite(key: string, bytes: Buffer): Promise<void>;
  read(key: string): Promise<Buffer>;
}

let workDir = '';
let s3: LocalS3 | undefined;
const fixtures: Fixture[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'phantomdb-backup-'));
  const volumeRoot = path.join(workDir, 'volume');
  const volumeStore = new VolumeBackupStore(volumeRoot);
  fixtures.push({
    name: 'volume',
    store: volumeStore,
    overwrite: (key, bytes) => writeFile(path.join(volumeRoot, ...key.split('/')), bytes),
    read: (key) => readFile(path.join(volumeRoot, ...key.split('/'))),
  });
  s3 = await startLocalS3(path.join(workDir, 's3rver'), ['phantom-backups']);
  const { endpoint, credentials } = s3;
  const s3Store = new S3BackupStore({ bucket: 'phantom-backups', prefix: 'clusters/c1', region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
  fixtures.push({
    name: 's3',
    store: s3Store,
    overwrite: (key, bytes) => s3Store.put(key, Readable.from([bytes]), bytes.length),
    read: async (key) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await s3Store.get(key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  });
}, 60_000);

afterAll(async () => {
  for (const fixture of fixtures) if (fixture.store instanceof S3BackupStore) fixture.store.destroy();
  await s3?.close();
  await rm(workDir, { recursive: true, force: true });
});

async function openEngine(name: string): Promise<StorageEngine> {
  return StorageEngine.open(path.join(workDir, name), { memtableBytesMax: 256 * 1024, blockCacheBytes: 1024 * 1024 });
}

describe.each(['volume', 's3'])('backups to a %s destination', (destination) => {
  const fixture = (): Fixture => {
    const found = fixtures.find((candidate) => candidate.name === destination);
    if (found === undefined) throw new Error(`no ${destination} fixture`);
    return found;
  };
  const model: Model = new Map();
  let source: StorageEngine;
  const t1 = timestamp(1_000_000, 0);
  const t2 = timestamp(2_000_000, 0);
  const t3 = timestamp(3_000_000, 0);
  const write = (backupId: string, at: HlcTimestamp, parent?: { backupId: string; backupTimestamp: HlcTimestamp }, onProgress?: (p: BackupProgress) => void) =>
    writeBackup({
      store: fixture().store,
      exporter: new MvccEngineRangeExporter(source, { fileBytes: 8 * 1024, isTombstone }),
      spans,
      clusterId: 'cluster-a',
      backupId,
      backupTimestamp: at,
      ...(parent === undefined ? {} : { parent }),
      dataNodeVersion: '0.1.0',
      scratchDir: path.join(workDir, `${destination}-scratch-${backupId}`),
      concurrency: 3,
      timers,
      createdAt: '2026-11-26T05:00:00Z',
      ...(onProgress === undefined ? {} : { onProgress }),
    });
  const restore = async (engineName: string, backupId: string) => {
    const target = await openEngine(engineName);
    const ingester = new RecordingIngester(new EngineRangeIngester(target));
    const run = restoreBackup({ store: fixture().store, backupId, ingester, scratchDir: path.join(workDir, `${engineName}-scratch`), timers, concurrency: 2 });
    return { target, ingester, run };
  };

  beforeAll(async () => {
    source = await openEngine(`${destination}-source`);
    const random = rng(seed);
    // Versions before t1, between t1 and t2, t2 and t3, and after t3 (written "while the backups ran").
    await writeVersions(source, model, random, 3000, 1, 1_000_000);
    await writeVersions(source, model, random, 800, 1_000_001, 2_000_000);
    await writeVersions(source, model, random, 800, 2_000_001, 3_000_000);
    await writeVersions(source, model, random, 500, 3_000_001, 4_000_000);
  }, 120_000);
  afterAll(async () => {
    await source.close();
  });

  it('writes a full backup at t1 with progress, verifies it, and restores exactly the view at t1', async () => {
    const progress: BackupProgress[] = [];
    const manifest = await write('full-1', t1, undefined, (p) => progress.push(p));
    expect(manifest.ranges.map((range) => range.rangeId)).toEqual([1, 2, 3, 4]);
    expect(manifest.ranges.some((range) => range.files.length > 1)).toBe(true);
    const last = progress[progress.length - 1];
    expect(last).toEqual({ rangesDone: 4, rangesTotal: 4, bytesDone: manifest.totalBytes });
    for (let i = 1; i < progress.length; i++) expect((progress[i] as BackupProgress).bytesDone).toBeGreaterThanOrEqual((progress[i - 1] as BackupProgress).bytesDone);

    const verified = await verifyBackup(fixture().store, 'full-1', { timers });
    expect(verified.bytes).toBe(manifest.totalBytes);
    expect(verified.objects).toBe(manifest.ranges.reduce((sum, range) => sum + range.files.length, 0));

    const { target, run } = await restore(`${destination}-restore-full`, 'full-1');
    const result = await run;
    expect(result.backupTimestamp).toBe('1000000.00000');
    const expected = viewAt(model, t1);
    expect(expected.size, `seed ${seed}`).toBeGreaterThan(500);
    expect(engineViewAt(target, t1), `seed ${seed}`).toEqual(expected);
    // Nothing newer than the backup timestamp was exported.
    expect(engineViewAt(target, timestamp(9_000_000, 0))).toEqual(expected);
    await target.close();
  }, 120_000);

  it('restores an incremental chain up to each of its backups', async () => {
    const inc2 = await write('inc-2', t2, { backupId: 'full-1', backupTimestamp: t1 });
    const inc3 = await write('inc-3', t3, { backupId: 'inc-2', backupTimestamp: t2 });
    expect(inc2.type).toBe('incremental');
    // An incremental holds only what changed after its parent: far less than a full backup.
    const entries = (m: typeof inc2): number => m.ranges.reduce((sum, range) => sum + range.files.reduce((s, file) => s + file.entries, 0), 0);
    expect(entries(inc2)).toBe(800);
    expect(entries(inc3)).toBe(800);
    expect((await resolveChain(fixture().store, 'inc-3')).map((m) => m.backupId)).toEqual(['full-1', 'inc-2', 'inc-3']);

    for (const [backupId, at] of [['inc-3', t3], ['inc-2', t2]] as const) {
      const { target, ingester, run } = await restore(`${destination}-restore-${backupId}`, backupId);
      await run;
      expect(engineViewAt(target, at), `seed ${seed}`).toEqual(viewAt(model, at));
      expect(engineViewAt(target, timestamp(9_000_000, 0)), `seed ${seed}`).toEqual(viewAt(model, at));
      const order = [...new Set(ingester.batches.map((batch) => batch.backupId))];
      expect(order).toEqual(backupId === 'inc-3' ? ['full-1', 'inc-2', 'inc-3'] : ['full-1', 'inc-2']);
      await target.close();
    }
  }, 120_000);

  it('fails verification and restore naming a corrupt object, and ingests nothing', async () => {
    await write('corrupt-1', t1);
    const manifest = (await resolveChain(fixture().store, 'corrupt-1'))[0];
    const victim = manifest?.ranges[2]?.files[0]?.objectKey ?? '';
    expect(victim).toMatch(/^corrupt-1\/ranges\/3\//);
    const bytes = await fixture().read(victim);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0x40; // same size, one bit flipped
    await fixture().overwrite(victim, bytes);

    const verifyError = await verifyBackup(fixture().store, 'corrupt-1', { timers }).catch((error: unknown) => error);
    expect(verifyError).toBeInstanceOf(BackupObjectCorruptError);
    expect((verifyError as BackupObjectCorruptError).code).toBe('PH_BACKUP_OBJECT_CORRUPT');
    expect((verifyError as Error).message).toContain(victim);
    expect((verifyError as Error).message).toContain('SHA-256');

    const { target, ingester, run } = await restore(`${destination}-restore-corrupt`, 'corrupt-1');
    const restoreError = await run.catch((error: unknown) => error);
    expect(restoreError).toBeInstanceOf(BackupObjectCorruptError);
    expect((restoreError as Error).message).toContain(victim);
    expect(ingester.batches).toEqual([]);
    expect(engineViewAt(target, t1).size).toBe(0);
    await target.close();
  }, 120_000);

  it('fails verification and restore naming a missing object, and ingests nothing', async () => {
    await write('missing-1', t1);
    const manifest = (await resolveChain(fixture().store, 'missing-1'))[0];
    const victim = manifest?.ranges[3]?.files[0]?.objectKey ?? '';
    expect(victim).toMatch(/^missing-1\/ranges\/4\//);
    await fixture().store.delete([victim]);

    const verifyError = await verifyBackup(fixture().store, 'missing-1', { timers }).catch((error: unknown) => error);
    expect(verifyError).toBeInstanceOf(BackupObjectMissingError);
    expect((verifyError as BackupObjectMissingError).code).toBe('PH_BACKUP_OBJECT_MISSING');
    expect((verifyError as Error).message).toContain(victim);

    const { target, ingester, run } = await restore(`${destination}-restore-missing`, 'missing-1');
    const restoreError = await run.catch((error: unknown) => error);
    expect(restoreError).toBeInstanceOf(BackupObjectMissingError);
    expect((restoreError as Error).message).toContain(victim);
    expect(ingester.batches).toEqual([]);
    await target.close();
  }, 120_000);

  it('refuses a broken chain, an unknown backup and an unknown format version', async () => {
    await write('chain-full', t1);
    await write('chain-inc', t2, { backupId: 'chain-full', backupTimestamp: t1 });
    await fixture().store.delete([manifestKey('chain-full')]);
    const chainError = await resolveChain(fixture().store, 'chain-inc').catch((error: unknown) => error);
    expect(chainError).toBeInstanceOf(BackupChainBrokenError);
    expect((chainError as Error).message).toContain('chain-full');

    await expect(resolveChain(fixture().store, 'no-such-backup')).rejects.toBeInstanceOf(BackupManifestInvalidError);

    const text = (await fixture().read(manifestKey('chain-inc'))).toString('utf8').replace('"formatVersion": 1', '"formatVersion": 99');
    await fixture().overwrite(manifestKey('chain-inc'), Buffer.from(text));
    const formatError = await resolveChain(fixture().store, 'chain-inc').catch((error: unknown) => error);
    expect(formatError).toBeInstanceOf(BackupManifestInvalidError);
    expect((formatError as Error).message).toContain('format version 99');
  }, 120_000);

  it('stops a verification when its signal is aborted', async () => {
    const abort = new AbortController();
    abort.abort(new Error('operator stopping'));
    await expect(verifyBackup(fixture().store, 'full-1', { timers, signal: abort.signal })).rejects.toThrow('operator stopping');
  });

  it('refuses to overwrite an existing backup', async () => {
    await expect(write('full-1', t1)).rejects.toThrow(/already exists/);
  });
});

describe('the writer', () => {
  it('exports at most `concurrency` ranges at once and holds every upload to the bandwidth limit', async () => {
    const engine = await openEngine('limits-source');
    const model: Model = new Map();
    await writeVersions(engine, model, rng(seed + 1), 2000, 1, 1000);
    let running = 0;
    let peak = 0;
    const waiting: (() => void)[] = [];
    const inner = new MvccEngineRangeExporter(engine, { fileBytes: 8 * 1024, isTombstone });
    const exporter = {
      exportRange: async (request: Parameters<MvccEngineRangeExporter['exportRange']>[0]) => {
        running++;
        peak = Math.max(peak, running);
        try {
          // Hold each export until a second one runs beside it (bounded), so overlap is certain.
          if (running >= 2) for (const release of waiting.splice(0)) release();
          else await new Promise<void>((resolve) => {
            waiting.push(resolve);
            setTimeout(resolve, 5_000);
          });
          return await inner.exportRange(request);
        } finally {
          running--;
        }
      },
    };
    // Virtual time that moves only when the limiter sleeps: the total sleep is the limit's doing.
    let virtualMs = 0;
    const virtualTimers = {
      nowMs: () => virtualMs,
      sleep: async (ms: number) => {
        virtualMs += ms;
      },
    };
    const bytesPerSecond = 64 * 1024;
    const manifest = await writeBackup({
      store: new VolumeBackupStore(path.join(workDir, 'limits-volume')),
      exporter,
      spans,
      clusterId: 'cluster-a',
      backupId: 'limited',
      backupTimestamp: timestamp(1000, 0),
      dataNodeVersion: '0.1.0',
      scratchDir: path.join(workDir, 'limits-scratch'),
      concurrency: 2,
      bandwidthBytesPerSecond: bytesPerSecond,
      timers: virtualTimers,
      createdAt: '2026-11-26T05:00:00Z',
    });
    expect(peak).toBe(2);
    expect(manifest.totalBytes).toBeGreaterThan(4 * bytesPerSecond * 0.1);
    // Everything beyond the 100 ms burst waited its turn at the configured rate.
    const expectedMs = ((manifest.totalBytes - bytesPerSecond * 0.1) / bytesPerSecond) * 1000;
    expect(virtualMs).toBeGreaterThanOrEqual(expectedMs - 1);
    expect(virtualMs).toBeLessThanOrEqual((manifest.totalBytes / bytesPerSecond) * 1000 + 1);
    await engine.close();
  }, 60_000);
});
