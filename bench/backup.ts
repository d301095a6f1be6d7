/**
 * npm run bench:backup — backup and restore throughput of a real 3-node cluster (issue 6 §5):
 * three data node processes are loaded with BENCH_BACKUP_BYTES of random 16 KiB values through
 * the KV client; a client load (small puts and gets) runs for a while without a backup
 * (`steady`) and again while a full backup to a volume runs (`during-backup`); the backup is
 * taken through the admin Backup call to a volume directory (`backup-volume`) and to a local
 * s3rver (`backup-s3`); each backup is restored into a new 3-node cluster started with
 * --restore-from (`restore-volume`, `restore-s3`), whose full scan must equal the source
 * cluster's scan at the backup timestamp. MiB/s = loaded data bytes / wall time of the backup
 * (admin call until COMPLETED and verified) or of the slowest node's restore (from its log).
 *
 * BENCH_BACKUP_LIBRARY=1 adds the earlier library-level rows (one storage engine backed up by
 * datanode/src/backup directly, no cluster), as `library-*` rows.
 *
 * Writes bench/results/backup.json and the backup section of docs/benchmarks.md.
 */
import { createHash, randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import { rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineRangeIngester, MvccEngineRangeExporter } from '../datanode/src/backup/engine-adapters.ts';
import type { BackupProgress, RangeSpan } from '../datanode/src/backup/ports.ts';
import { systemTimers } from '../datanode/src/backup/ports.ts';
import { restoreBackup } from '../datanode/src/backup/reader.ts';
import { type BackupStore, S3BackupStore, VolumeBackupStore } from '../datanode/src/backup/store.ts';
import { writeBackup } from '../datanode/src/backup/writer.ts';
import { encodeTimestamp, parseTimestamp, timestamp } from '../datanode/src/hlc/hlc.ts';
import { StorageEngine } from '../datanode/src/storage/engine.ts';
import { realFs } from '../datanode/src/storage/fs.ts';
import { ValueKind } from '../datanode/src/storage/keys.ts';
import { encodeMvccKey } from '../datanode/src/storage/mvcc.ts';
import { TableBuilder } from '../datanode/src/storage/sstable/table-builder.ts';
import { AdminClient, type BackupProgressReport } from '../datanode/src/admin/index.ts';
import type { BackupSpec } from '../datanode/src/admin/backend.ts';
import { KvClient } from '../datanode/src/kv/client.ts';
import { TestCluster } from '../test/cluster/harness.ts';
import { type LocalS3, startLocalS3 } from '../test/s3/local-s3.ts';
import { nodeBuild } from './build.ts';
import { type BenchRow, fmt, helpRequested, machineDescription, percentile, repoRoot, updateBenchmarksDoc, UsageError, writeResult } from './common.ts';

const MiB = 1024 * 1024;
const valueBytes = 16 * 1024;
const volumeTargetMiBPerSec = 100;

const help = `Usage: npm run bench:backup [-- --help]

Loads a 3-node cluster with BENCH_BACKUP_BYTES of random 16 KiB values, measures a client load
without and during a full backup to a volume directory, backs up to a local s3rver too, restores
each backup into a new 3-node cluster (--restore-from), checks the restored data equals the
source at the backup timestamp, and reports MiB/s (data bytes / wall time) per step.

Environment:
  BENCH_BACKUP_BYTES        data to back up: bytes, or with KiB/MiB/GiB (default 1GiB; 64MiB for a smoke run)
  BENCH_BACKUP_CLIENTS      concurrent clients of the steady / during-backup load (default 8)
  BENCH_SECONDS             duration of the steady load (default 10)
  BENCH_BACKUP_RANGE_MAX_BYTES  the nodes' --range-max-bytes (default data/16, within 1-64 MiB)
  BENCH_BACKUP_RATE_BYTES   the source nodes' --backup-rate-bytes, per node (default 0: no cap)
  BENCH_BACKUP_LIBRARY=1    also the library-level rows (one storage engine, no cluster)
  BENCH_BACKUP_RANGES       library rows: ranges the keyspace is cut into (default 16)
  BENCH_BACKUP_CONCURRENCY  the source nodes' --backup-concurrency (pieces each node exports at once, default 2) and the library rows' concurrency
  BENCH_DIR                 parent of the scratch directory (default the OS temp dir)
  BENCH_NO_DOC=1            leave docs/benchmarks.md alone
  BENCH_SKIP_S3=1           volume only
  BENCH_FROM_SOURCE=1       run the nodes from source through tsx (default: compiled by tsc, as shipped)`;


function parseBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?\s*$/i.exec(text);
  if (match === null) throw new UsageError(`BENCH_BACKUP_BYTES=${JSON.stringify(text)}: expected a number of bytes, optionally with KiB, MiB or GiB`);
  const unit = (match[2] ?? 'B').toLowerCase();
  const factor = unit === 'gib' ? 1024 * MiB : unit === 'mib' ? MiB : unit === 'kib' ? 1024 : 1;
  const bytes = Math.floor(Number(match[1]) * factor);
  if (bytes < valueBytes) throw new UsageError(`BENCH_BACKUP_BYTES must be at least ${valueBytes}`);
  return bytes;
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name}=${JSON.stringify(raw)}: expected a positive integer`);
  return n;
}

/**
 * Yields to the event loop every few milliseconds of a long synchronous walk, so that a signal
 * is handled promptly (tsx kills a child that does not answer a relayed Ctrl-C within 30 ms).
 */
function yielder(): () => Promise<void> | undefined {
  let turnStart = performance.now();
  return () => {
    if (performance.now() - turnStart < 4) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        turnStart = performance.now();
        resolve();
      }),
    );
  };
}

const progress = (message: string): void => console.log(`[bench:backup] ${message}`);

let baseDir: string | undefined;
let s3: LocalS3 | undefined;
const engines = new Set<StorageEngine>();
const s3Stores: S3BackupStore[] = [];
let cleaning: Promise<void> | undefined;

/** Closes everything and removes the scratch directory; every caller waits for the same run. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const store of s3Stores) store.destroy();
    for (const client of kvClients) await Promise.resolve(client.close()).catch(() => undefined);
    for (const cluster of clusters) await cluster.close().catch(() => undefined);
    for (const engine of engines) await engine.close().catch(() => undefined);
    engines.clear();
    await s3?.close().catch(() => undefined);
    // Asynchronous, so that the process keeps answering the signals npm and tsx relay meanwhile
    // (tsx SIGKILLs a child that does not answer within 30 ms, which would leave the directory).
    if (baseDir !== undefined) await rm(baseDir, { recursive: true, force: true });
  })();
  return cleaning;
}

let signalled = false;
function onSignal(signal: NodeJS.Signals): void {
  // npm and tsx relay the signal again: the first one starts the cleanup, later ones wait for it.
  if (signalled) return;
  signalled = true;
  progress(`${signal}: stopping, removing ${baseDir ?? 'nothing'}`);
  // Transfers in flight fail as s3rver and the clients close under them; that is the point now,
  // and must not crash the process before the directory is gone.
  process.on('uncaughtException', () => undefined);
  process.on('unhandledRejection', () => undefined);
  void cleanup().finally(() => process.exit(130));
}

function userKey(index: number): Buffer {
  return Buffer.from(`user${String(index).padStart(12, '0')}`);
}

const dataTs = encodeTimestamp(timestamp(1_000_000, 0));
const backupAt = timestamp(2_000_000, 0);

/**
 * Fills a fresh engine with `count` keys of random 16 KiB values, written as SSTables of about
 * 64 MiB and ingested (the fastest way to a large engine; the export reads it like any other).
 */
async function buildSource(dir: string, count: number): Promise<StorageEngine> {
  const engine = await StorageEngine.open(path.join(dir, 'source'), {});
  engines.add(engine);
  const staging = path.join(dir, 'source-staging');
  fs.mkdirSync(staging, { recursive: true });
  const perFile = Math.max(1, Math.floor((64 * MiB) / valueBytes));
  const value = Buffer.allocUnsafe(valueBytes);
  const started = performance.now();
  const pause = yielder();
  for (let first = 0, file = 0; first < count; first += perFile, file++) {
    const builder = new TableBuilder(realFs, path.join(staging, `${String(file).padStart(6, '0')}.sst`));
    const last = Math.min(count, first + perFile);
    for (let i = first; i < last; i++) {
      // Random bytes (incompressible); refreshed per entry so that no two values repeat.
      randomFillSync(value);
      builder.add(encodeMvccKey(userKey(i), dataTs), 0, ValueKind.Put, value);
      await pause();
    }
    builder.finish();
    await engine.ingest([builder.path]);
    await rm(builder.path, { force: true });
    progress(`source: ${fmt(last)} / ${fmt(count)} keys (${fmt((last * valueBytes) / MiB)} MiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  await rm(staging, { recursive: true, force: true });
  return engine;
}

/** SHA-256 over every (key, value) of a full scan, with lengths, and the entry count. */
async function scanChecksum(engine: StorageEngine): Promise<{ sha256: string; entries: number }> {
  const hash = createHash('sha256');
  const lengths = Buffer.alloc(8);
  let entries = 0;
  const pause = yielder();
  const it = engine.iterator();
  try {
    for (it.seekToFirst(); it.valid(); it.next()) {
      const key = it.key();
      const value = it.value();
      lengths.writeUInt32BE(key.length, 0);
      lengths.writeUInt32BE(value.length, 4);
      hash.update(lengths);
      hash.update(key);
      hash.update(value);
      entries++;
      await pause();
    }
  } finally {
    it.close();
  }
  return { sha256: hash.digest('hex'), entries };
}

function spansFor(count: number, ranges: number): RangeSpan[] {
  const spans: RangeSpan[] = [];
  for (let r = 0; r < ranges; r++) {
    const start = Math.floor((r * count) / ranges);
    const end = Math.floor(((r + 1) * count) / ranges);
    spans.push({ rangeId: r + 1, startKey: r === 0 ? Buffer.alloc(0) : userKey(start), endKey: r === ranges - 1 ? Buffer.alloc(0) : userKey(end) });
  }
  return spans;
}

function progressPrinter(label: string, totalBytes: number): (p: BackupProgress) => void {
  let lastPrinted = 0;
  return (p) => {
    const now = performance.now();
    if (now - lastPrinted < 2000 && p.rangesDone < p.rangesTotal) return;
    lastPrinted = now;
    progress(`${label}: ranges ${p.rangesDone}/${p.rangesTotal}, ${fmt(p.bytesDone / MiB)} / ~${fmt(totalBytes / MiB)} MiB`);
  };
}

interface Measured {
  readonly seconds: number;
  readonly objectBytes: number;
  readonly objects: number;
}

async function measureBackup(label: string, store: BackupStore, source: StorageEngine, spans: readonly RangeSpan[], backupId: string, dataBytes: number, concurrency: number): Promise<Measured> {
  const started = performance.now();
  const manifest = await writeBackup({
    store,
    exporter: new MvccEngineRangeExporter(source),
    spans,
    clusterId: 'bench',
    backupId,
    backupTimestamp: backupAt,
    dataNodeVersion: 'bench',
    scratchDir: path.join(baseDir as string, `${backupId}-export`),
    concurrency,
    timers: systemTimers,
    createdAt: new Date().toISOString(),
    onProgress: progressPrinter(label, dataBytes),
  });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, objectBytes: manifest.totalBytes, objects: manifest.ranges.reduce((n, r) => n + r.files.length, 0) };
}

async function measureRestore(label: string, store: BackupStore, backupId: string, dataBytes: number, concurrency: number, expected: { sha256: string; entries: number }): Promise<Measured> {
  const engineDir = path.join(baseDir as string, `${backupId}-restored`);
  const target = await StorageEngine.open(engineDir, {});
  engines.add(target);
  try {
    const started = performance.now();
    const result = await restoreBackup({
      store,
      backupId,
      ingester: new EngineRangeIngester(target),
      scratchDir: path.join(baseDir as string, `${backupId}-staging`),
      concurrency,
      timers: systemTimers,
      onProgress: progressPrinter(label, dataBytes),
    });
    const seconds = (performance.now() - started) / 1000;
    progress(`${label}: checking the restored engine against the source (full scan)`);
    const got = await scanChecksum(target);
    if (got.sha256 !== expected.sha256 || got.entries !== expected.entries) {
      throw new Error(`${label}: the restored engine differs from the source: ${got.entries} entries sha256 ${got.sha256}, expected ${expected.entries} entries sha256 ${expected.sha256}`);
    }
    progress(`${label}: restored data equals the source (${fmt(got.entries)} entries, sha256 ${got.sha256.slice(0, 16)}…)`);
    return { seconds, objectBytes: result.bytes, objects: result.files };
  } finally {
    await target.close();
    engines.delete(target);
    await rm(engineDir, { recursive: true, force: true });
  }
}

function row(workload: string, dataBytes: number, m: Measured, destination: string, concurrency: number, ranges: number): BenchRow {
  const mibPerSec = dataBytes / MiB / m.seconds;
  return {
    workload,
    system: 'phantomdb',
    opsPerSec: m.objects / m.seconds,
    mibPerSec: Number(mibPerSec.toFixed(1)),
    seconds: Number(m.seconds.toFixed(2)),
    dataBytes,
    objectBytes: m.objectBytes,
    objects: m.objects,
    ranges,
    concurrency,
    destination,
    level: 'library (one storage engine)',
  };
}

/** The earlier library-level rows (BENCH_BACKUP_LIBRARY=1): one engine, no cluster. */
async function runLibrary(rows: BenchRow[], count: number, ranges: number, concurrency: number, skipS3: boolean): Promise<void> {
  const dir = baseDir as string;
  const dataBytes = count * valueBytes;
  const source = await buildSource(dir, count);
  progress('library source: full-scan checksum');
  const expected = await scanChecksum(source);
  const spans = spansFor(count, ranges);
  const volumeRoot = path.join(dir, 'library-volume');
  const volume = new VolumeBackupStore(volumeRoot);
  const bv = await measureBackup('library-backup-volume', volume, source, spans, 'bench-volume', dataBytes, concurrency);
  rows.push(row('library-backup-volume', dataBytes, bv, 'volume (local directory, fsync per object)', concurrency, ranges));
  const rv = await measureRestore('library-restore-volume', volume, 'bench-volume', dataBytes, concurrency, expected);
  rows.push(row('library-restore-volume', dataBytes, rv, 'volume (local directory)', concurrency, ranges));
  await rm(volumeRoot, { recursive: true, force: true });
  if (!skipS3 && s3 !== undefined) {
    const store = new S3BackupStore({ bucket: 'phantom-backups', prefix: 'library', region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    s3Stores.push(store);
    const bs = await measureBackup('library-backup-s3', store, source, spans, 'bench-s3', dataBytes, concurrency);
    rows.push(row('library-backup-s3', dataBytes, bs, 's3rver on loopback', concurrency, ranges));
    const rs = await measureRestore('library-restore-s3', store, 'bench-s3', dataBytes, concurrency, expected);
    rows.push(row('library-restore-s3', dataBytes, rs, 's3rver on loopback', concurrency, ranges));
  }
  await source.close();
  engines.delete(source);
}

// ---- cluster level -------------------------------------------------------------------------

const clusters = new Set<TestCluster>();
const kvClients = new Set<{ close(): Promise<void> | void }>();

/** A client load of small operations (half 256-byte puts, half gets) until `stop()` says so. */
async function clientLoad(client: KvClient, clients: number, stop: () => boolean): Promise<{ opsPerSec: number; p50Ms: number; p99Ms: number; errors: number; ops: number; seconds: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const small = Buffer.alloc(256, 0x61);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!stop()) {
        const n = counter++;
        const key = `load-${String((n * 7919) % 10_000).padStart(8, '0')}`;
        const begin = performance.now();
        try {
          if (n % 2 === 0) await client.put(key, small);
          else await client.get(key);
          latencies.push(performance.now() - begin);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { opsPerSec: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors, ops: latencies.length, seconds };
}

/** Writes `count` random 16 KiB values (keys userKey(i)) through `writers` concurrent clients. */
async function loadCluster(client: KvClient, count: number, writers: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  let lastPrinted = started;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      const value = Buffer.allocUnsafe(valueBytes);
      for (let i = next++; i < count; i = next++) {
        randomFillSync(value);
        for (let attempt = 1; ; attempt++) {
          try {
            await client.put(userKey(i), value, { deadlineMs: 30_000 });
            break;
          } catch (err) {
            // Rewriting the same key is idempotent here; give up only on a persistent failure.
            if (attempt >= 10) throw err;
          }
        }
        if (performance.now() - lastPrinted > 5000) {
          lastPrinted = performance.now();
          progress(`load: ${fmt(i)} / ${fmt(count)} values (${fmt((i * valueBytes) / MiB / ((lastPrinted - started) / 1000), 1)} MiB/s)`);
        }
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/**
 * Waits (at most a minute) until the cluster's range count has not changed for 3 s: splits after
 * the load would otherwise land in the steady row, or in one backup and not another.
 */
async function settle(admin: AdminClient): Promise<void> {
  const started = performance.now();
  let last = -1;
  let stableSince = performance.now();
  while (performance.now() - started < 60_000) {
    const ranges = (await admin.rangeList().catch(() => [])).length;
    if (ranges !== last) {
      last = ranges;
      stableSince = performance.now();
    } else if (performance.now() - stableSince >= 3000) {
      progress(`settled: ${ranges} ranges`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  progress(`ranges still changing after a minute (${last}); measuring anyway`);
}

/** Starts a backup through the admin call and follows it until COMPLETED; fails with its last progress. */
async function clusterBackup(admin: AdminClient, spec: BackupSpec, totalBytes: number): Promise<{ seconds: number; report: BackupProgressReport }> {
  const started = performance.now();
  let lastPrinted = started;
  const deadline = started + 60 * 60 * 1000;
  for (;;) {
    let report: BackupProgressReport | undefined;
    try {
      report = await admin.backup(spec, { deadlineMs: 20_000 });
    } catch (err) {
      if (performance.now() > deadline) throw err;
    }
    if (report?.phase === 'FAILED') throw new Error(`backup ${spec.backupId} failed: ${report.message}`);
    if (report?.phase === 'COMPLETED') return { seconds: (performance.now() - started) / 1000, report };
    if (performance.now() > deadline) throw new Error(`backup ${spec.backupId} did not complete within an hour: ${JSON.stringify(report)}`);
    if (report !== undefined && performance.now() - lastPrinted > 2000) {
      lastPrinted = performance.now();
      progress(`${spec.backupId}: ranges ${report.rangesDone}/${report.rangesTotal}, ${fmt(report.bytesDone / MiB)} / ~${fmt(totalBytes / MiB)} MiB`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SHA-256 over every (key, value) of a client scan (at `at`, or the newest), paging in key order. */
async function clusterChecksum(client: KvClient, at: bigint | undefined): Promise<{ sha256: string; entries: number }> {
  const hash = createHash('sha256');
  const lengths = Buffer.alloc(8);
  let entries = 0;
  let cursor = Buffer.alloc(0);
  for (;;) {
    const page = await client.scan(cursor, Buffer.alloc(0), 256, { ...(at === undefined ? {} : { at }), deadlineMs: 60_000 });
    for (const r of page.rows) {
      lengths.writeUInt32BE(r.key.length, 0);
      lengths.writeUInt32BE(r.value.length, 4);
      hash.update(lengths);
      hash.update(r.key);
      hash.update(r.value);
      entries++;
    }
    const last = page.rows[page.rows.length - 1];
    if (!page.more || last === undefined) return { sha256: hash.digest('hex'), entries };
    cursor = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/**
 * Starts a new 3-node cluster from a backup (--restore-from) and answers the slowest node's
 * restore time (from its "restored backup … in X s" line); its full scan must equal `expected`.
 */
async function clusterRestore(label: string, source: object, expected: { sha256: string; entries: number }): Promise<{ seconds: number; startSeconds: number }> {
  const started = performance.now();
  const restored = await TestCluster.start({ size: 3, clusterId: `bench-${label}`, extraArgs: ['--restore-from', JSON.stringify(source)] });
  clusters.add(restored);
  try {
    const startSeconds = (performance.now() - started) / 1000;
    const seconds = restored.nodes.map((node) => {
      const match = /restored backup .* in ([\d.]+) s/.exec(node.output);
      if (match === null) throw new Error(`${label}: node ${node.spec.id} did not log its restore\n${restored.logs()}`);
      return Number(match[1]);
    });
    const client = new KvClient({ endpoints: restored.kvEndpoints(), clusterId: restored.clusterId });
    try {
      progress(`${label}: checking the restored cluster against the source (full scan)`);
      const got = await clusterChecksum(client, undefined);
      if (got.sha256 !== expected.sha256 || got.entries !== expected.entries) {
        throw new Error(`${label}: the restored cluster differs from the source at the backup timestamp: ${got.entries} entries sha256 ${got.sha256}, expected ${expected.entries} entries sha256 ${expected.sha256}`);
      }
      progress(`${label}: restored data equals the source at the backup timestamp (${fmt(got.entries)} entries)`);
    } finally {
      await client.close();
    }
    return { seconds: Math.max(...seconds), startSeconds };
  } finally {
    await restored.close();
    clusters.delete(restored);
  }
}

interface ClusterSettings {
  readonly count: number;
  readonly skipS3: boolean;
  readonly loadClients: number;
  readonly steadySeconds: number;
  readonly rangeMaxBytes: number;
  /** --backup-rate-bytes of the source nodes (0: no cap). */
  readonly rateBytes: number;
  /** --backup-concurrency of the source nodes. */
  readonly concurrency: number;
}

async function runCluster(rows: BenchRow[], settings: ClusterSettings): Promise<void> {
  const dir = baseDir as string;
  const dataBytes = settings.count * valueBytes;
  progress(`cluster: starting 3 data nodes (range max ${fmt(settings.rangeMaxBytes / MiB)} MiB)`);
  const cluster = await TestCluster.start({ size: 3, clusterId: 'bench-backup', extraArgs: ['--range-max-bytes', String(settings.rangeMaxBytes), ...(settings.rateBytes > 0 ? ['--backup-rate-bytes', String(settings.rateBytes)] : []), '--backup-concurrency', String(settings.concurrency)] });
  clusters.add(cluster);
  const client = new KvClient({ endpoints: cluster.kvEndpoints(), clusterId: cluster.clusterId });
  kvClients.add(client);
  const admin = new AdminClient({ endpoints: cluster.kvEndpoints(), clusterId: cluster.clusterId });
  kvClients.add(admin);
  const loadSeconds = await loadCluster(client, settings.count, 16);
  progress(`load: ${fmt(dataBytes / MiB)} MiB in ${loadSeconds.toFixed(1)} s (${fmt(dataBytes / MiB / loadSeconds, 1)} MiB/s)`);
  await settle(admin);
  const clusterRow = (workload: string, extra: Record<string, unknown>): BenchRow => ({ workload, system: 'phantomdb', opsPerSec: 0, level: 'cluster (3 data node processes)', dataBytes, ...extra });

  progress(`steady: ${settings.loadClients} clients for ${settings.steadySeconds} s`);
  const steadyEnd = performance.now() + settings.steadySeconds * 1000;
  const steady = await clientLoad(client, settings.loadClients, () => performance.now() >= steadyEnd);
  rows.push({ workload: 'steady', system: 'phantomdb', opsPerSec: Number(steady.opsPerSec.toFixed(1)), p50Ms: Number(steady.p50Ms.toFixed(2)), p99Ms: Number(steady.p99Ms.toFixed(2)), errors: steady.errors, seconds: Number(steady.seconds.toFixed(1)), clients: settings.loadClients, level: 'cluster (3 data node processes)' });
  progress(`steady: ${fmt(steady.opsPerSec)} ops/s, p99 ${steady.p99Ms.toFixed(1)} ms`);

  const volumeDir = path.join(dir, 'volume');
  fs.mkdirSync(volumeDir, { recursive: true });
  progress('backup-volume: starting, with the client load');
  let backupDone = false;
  const during = clientLoad(client, settings.loadClients, () => backupDone);
  let bv: { seconds: number; report: BackupProgressReport };
  try {
    bv = await clusterBackup(admin, { backupId: 'bench-volume', type: 'full', destination: { kind: 'volume', path: volumeDir } }, dataBytes);
  } finally {
    backupDone = true;
  }
  const duringBackup = await during;
  rows.push(clusterRow('backup-volume', { mibPerSec: Number((dataBytes / MiB / bv.seconds).toFixed(1)), seconds: Number(bv.seconds.toFixed(2)), objectBytes: bv.report.bytesDone, ranges: bv.report.rangesTotal, verified: bv.report.verified, destination: 'volume (local directory)', withClientLoad: true }));
  // What the exports cost each node (its event-loop delay and CPU split, logged per busy period).
  const exportCost: string[] = [];
  for (let id = 1; id <= 3; id++) {
    for (const line of cluster.node(id).output.split('\n').filter((l) => l.includes('backup exports:'))) exportCost.push(`node ${id}: ${line.slice(line.indexOf('backup exports:'))}`);
  }
  rows.push({ workload: 'during-backup', system: 'phantomdb', opsPerSec: Number(duringBackup.opsPerSec.toFixed(1)), p50Ms: Number(duringBackup.p50Ms.toFixed(2)), p99Ms: Number(duringBackup.p99Ms.toFixed(2)), errors: duringBackup.errors, seconds: Number(duringBackup.seconds.toFixed(1)), clients: settings.loadClients, level: 'cluster (3 data node processes)', exportCost });
  progress(`backup-volume: ${fmt(dataBytes / MiB / bv.seconds, 1)} MiB/s (${bv.seconds.toFixed(1)} s, ${bv.report.rangesTotal} ranges); during-backup: ${fmt(duringBackup.opsPerSec)} ops/s, p99 ${duringBackup.p99Ms.toFixed(1)} ms`);
  for (const line of exportCost) progress(line);
  const volumeAt = encodeTimestamp(parseTimestamp(bv.report.backupTimestamp));
  progress('source: full-scan checksum at the volume backup timestamp');
  const volumeExpected = await clusterChecksum(client, volumeAt);

  let s3Backup: { expected: { sha256: string; entries: number } } | undefined;
  if (!settings.skipS3) {
    progress('starting s3rver');
    s3 = await startLocalS3(path.join(dir, 's3rver'), ['phantom-backups']);
    const destination = { kind: 's3' as const, bucket: 'phantom-backups', prefix: 'bench', region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials };
    progress('backup-s3: starting (no client load)');
    const bs = await clusterBackup(admin, { backupId: 'bench-s3', type: 'full', destination }, dataBytes);
    rows.push(clusterRow('backup-s3', { mibPerSec: Number((dataBytes / MiB / bs.seconds).toFixed(1)), seconds: Number(bs.seconds.toFixed(2)), objectBytes: bs.report.bytesDone, ranges: bs.report.rangesTotal, verified: bs.report.verified, destination: 's3rver on loopback', withClientLoad: false }));
    progress(`backup-s3: ${fmt(dataBytes / MiB / bs.seconds, 1)} MiB/s (${bs.seconds.toFixed(1)} s)`);
    s3Backup = { expected: await clusterChecksum(client, encodeTimestamp(parseTimestamp(bs.report.backupTimestamp))) };
  }
  // The source cluster is done: restores start new clusters on the same 2 cores.
  await client.close();
  await admin.close();
  kvClients.clear();
  await cluster.close();
  clusters.delete(cluster);

  progress('restore-volume: a new cluster with --restore-from');
  const rv = await clusterRestore('restore-volume', { backupId: 'bench-volume', volume: { path: volumeDir } }, volumeExpected);
  rows.push(clusterRow('restore-volume', { mibPerSec: Number((dataBytes / MiB / rv.seconds).toFixed(1)), seconds: Number(rv.seconds.toFixed(2)), clusterStartSeconds: Number(rv.startSeconds.toFixed(2)), destination: 'volume (local directory)' }));
  progress(`restore-volume: ${fmt(dataBytes / MiB / rv.seconds, 1)} MiB/s (slowest node ${rv.seconds.toFixed(1)} s; cluster serving after ${rv.startSeconds.toFixed(1)} s)`);
  if (s3Backup !== undefined && s3 !== undefined) {
    progress('restore-s3: a new cluster with --restore-from');
    const source = { backupId: 'bench-s3', s3: { bucket: 'phantom-backups', prefix: 'bench', region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, accessKeyId: s3.credentials.accessKeyId, secretAccessKey: s3.credentials.secretAccessKey } };
    const rs = await clusterRestore('restore-s3', source, s3Backup.expected);
    rows.push(clusterRow('restore-s3', { mibPerSec: Number((dataBytes / MiB / rs.seconds).toFixed(1)), seconds: Number(rs.seconds.toFixed(2)), clusterStartSeconds: Number(rs.startSeconds.toFixed(2)), destination: 's3rver on loopback' }));
    progress(`restore-s3: ${fmt(dataBytes / MiB / rs.seconds, 1)} MiB/s (slowest node ${rs.seconds.toFixed(1)} s)`);
  }
}

async function main(): Promise<number> {
  if (helpRequested(help)) return 0;
  // The harness's node processes run compiled by tsc, as the image ships them (bench/build.ts).
  const build = nodeBuild(progress);
  if (build.mainJs !== undefined) process.env.PHANTOMDB_NODE_MAIN_JS = build.mainJs;
  const requestedBytes = parseBytes(process.env.BENCH_BACKUP_BYTES ?? '1GiB');
  const ranges = positiveInt('BENCH_BACKUP_RANGES', 16);
  const concurrency = positiveInt('BENCH_BACKUP_CONCURRENCY', 2);
  const loadClients = positiveInt('BENCH_BACKUP_CLIENTS', 8);
  const steadySeconds = positiveInt('BENCH_SECONDS', 10);
  const skipS3 = process.env.BENCH_SKIP_S3 === '1';
  const rateBytes = process.env.BENCH_BACKUP_RATE_BYTES === undefined || process.env.BENCH_BACKUP_RATE_BYTES === '' ? 0 : parseBytes(process.env.BENCH_BACKUP_RATE_BYTES);
  const library = process.env.BENCH_BACKUP_LIBRARY === '1';
  const count = Math.ceil(requestedBytes / valueBytes);
  const dataBytes = count * valueBytes;
  // Ranges of about a sixteenth of the data (at least 1 MiB), so a backup exports several in parallel.
  const rangeMaxBytes = positiveInt('BENCH_BACKUP_RANGE_MAX_BYTES', Math.max(MiB, Math.min(64 * MiB, Math.floor(dataBytes / 16))));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  baseDir = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'phantomdb-bench-backup-'));
  progress(`settings: ${fmt(dataBytes / MiB)} MiB as ${fmt(count)} values of 16 KiB into 3 nodes, ${loadClients} load clients, steady ${steadySeconds} s; scratch in ${baseDir}; load average ${loadBefore.map((l) => l.toFixed(1)).join(', ')}`);
  const rows: BenchRow[] = [];
  try {
    await runCluster(rows, { count, skipS3, loadClients, steadySeconds, rangeMaxBytes, rateBytes, concurrency });
    if (library) await runLibrary(rows, count, ranges, concurrency, skipS3);
  } finally {
    await cleanup();
  }

  const loadAfter = os.loadavg();
  const rateRows = rows.filter((r) => r.mibPerSec !== undefined);
  const table = [
    '| workload | level | destination | data MiB | seconds | MiB/s |',
    '|---|---|---|---:|---:|---:|',
    ...rateRows.map((r) => `| ${r.workload} | ${String(r.level)} | ${String(r.destination)} | ${fmt(dataBytes / MiB)} | ${fmt(r.seconds as number, 1)} | ${fmt(r.mibPerSec as number, 1)} |`),
  ].join('\n');
  const clientRows = rows.filter((r) => r.p99Ms !== undefined);
  const clientTable = ['| workload | clients | ops/s | p50 ms | p99 ms | errors |', '|---|---:|---:|---:|---:|---:|', ...clientRows.map((r) => `| ${r.workload} | ${String(r.clients)} | ${fmt(r.opsPerSec)} | ${fmt(r.p50Ms ?? 0, 1)} | ${fmt(r.p99Ms ?? 0, 1)} | ${String(r.errors)} |`)].join('\n');
  console.log(`\n${table}\n\n${clientTable}\n`);
  const volumeRate = rows.find((r) => r.workload === 'backup-volume')?.mibPerSec as number | undefined;
  const volumeTarget =
    volumeRate === undefined ? `backup ≥ ${volumeTargetMiBPerSec} MiB/s to a volume: not measured` : `backup ≥ ${volumeTargetMiBPerSec} MiB/s to a volume: ${fmt(volumeRate, 1)} MiB/s — ${volumeRate >= volumeTargetMiBPerSec ? 'met' : 'NOT met'}`;
  const steadyP99 = rows.find((r) => r.workload === 'steady')?.p99Ms;
  const duringP99 = rows.find((r) => r.workload === 'during-backup')?.p99Ms;
  const p99Target =
    steadyP99 === undefined || duringP99 === undefined || steadyP99 === 0
      ? 'client p99 during a backup ≤ 1.5× the p99 without: not measured'
      : `client p99 during a backup ≤ 1.5× the p99 without: ${fmt(duringP99, 1)} ms vs ${fmt(steadyP99, 1)} ms = ${(duringP99 / steadyP99).toFixed(2)}× — ${duringP99 <= 1.5 * steadyP99 ? 'met' : 'NOT met'}`;
  console.log(`Targets: ${volumeTarget}; ${p99Target}`);
  const loadText = `${loadBefore.map((l) => l.toFixed(1)).join(', ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(', ')} after`;
  const file = writeResult('backup', {
    machine: machineDescription(),
    startedAt,
    level: 'cluster: 3 data node processes on loopback (library rows, when present, are one storage engine)',
    dataBytes,
    valueBytes,
    loadClients,
    rangeMaxBytes,
    backupRateBytes: rateBytes,
    backupConcurrency: concurrency,
    loadAverage: { before: loadBefore, after: loadAfter },
    rows,
  });
  progress(`wrote ${path.relative(repoRoot, file)}`);
  if (process.env.BENCH_NO_DOC !== '1') {
    updateBenchmarksDoc(
      'backup',
      `## Backup and restore (\`npm run bench:backup\`)

${dataBytes < 1024 * MiB ? `**A smoke run of ${fmt(dataBytes / MiB)} MiB, not the issue's 1 GiB measurement** (BENCH_BACKUP_BYTES).\n\n` : ''}A **3-node cluster** (three data node processes on loopback, Raft through the test harness's
loopback proxies) is loaded with ${fmt(dataBytes / MiB)} MiB of random 16 KiB values through the KV client
(ranges of at most ${fmt(rangeMaxBytes / MiB)} MiB, so the keyspace splits; each range's leader writes its
own files to the destination; backup write cap per node
${rateBytes === 0 ? 'none' : `${fmt(rateBytes / MiB, 1)} MiB/s (--backup-rate-bytes)`}, ${concurrency} pieces at once per node). \`steady\`: ${loadClients} clients
of small operations (half 256-byte puts, half gets) for ${steadySeconds} s; \`during-backup\`: the same load
while a full backup to a volume runs. \`backup-volume\` / \`backup-s3\`: the admin Backup call until the
backup is COMPLETED (uploaded and verified); MiB/s = loaded data bytes / wall time. \`restore-volume\` /
\`restore-s3\`: a new 3-node cluster started with \`--restore-from\`; seconds are the slowest node's
restore (download, verification, ingest, from its log), and its full scan equals the source
cluster's scan at the backup timestamp (checked after timing). S3 is \`s3rver\` on loopback, a
test server in JavaScript on the same cores, so the S3 rows say little about a real object store.
Ran ${startedAt} on: ${machineDescription()}. The machine is shared with other work
(load average ${loadText} on ${os.cpus().length} cores).

${table}

${clientTable}

Targets: ${volumeTarget}; ${p99Target}.`,
    );
    progress('updated docs/benchmarks.md');
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    await cleanup();
    // After Ctrl-C the run fails as its transfers are cut; the signal handler exits.
    if (signalled) return;
    if (error instanceof UsageError) {
      console.error(`bench:backup: ${error.message}`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  },
);
