/**
 * npm run bench:backup — backup and restore throughput of the backup library (issue 6 §5), at
 * library level: one StorageEngine filled with BENCH_BACKUP_BYTES of random 16 KiB values is
 * backed up through `writeBackup` (export via MvccEngineRangeExporter, SHA-256 of every object,
 * manifest) to a volume directory and to a local s3rver, and each backup is restored through
 * `restoreBackup` (download, size and SHA-256 verification, ingest) into a fresh engine whose
 * full-scan checksum must equal the source's. The data node's backup call is not wired yet, so
 * no cluster-level backup (and no client p99 during a backup) can be measured; the doc says so.
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
import { encodeTimestamp, timestamp } from '../datanode/src/hlc/hlc.ts';
import { StorageEngine } from '../datanode/src/storage/engine.ts';
import { realFs } from '../datanode/src/storage/fs.ts';
import { ValueKind } from '../datanode/src/storage/keys.ts';
import { encodeMvccKey } from '../datanode/src/storage/mvcc.ts';
import { TableBuilder } from '../datanode/src/storage/sstable/table-builder.ts';
import { type LocalS3, startLocalS3 } from '../test/s3/local-s3.ts';
import { type BenchRow, fmt, machineDescription, repoRoot, updateBenchmarksDoc, writeResult } from './common.ts';

const MiB = 1024 * 1024;
const valueBytes = 16 * 1024;
const volumeTargetMiBPerSec = 100;

const help = `Usage: npm run bench:backup [-- --help]

Backs up one storage engine holding BENCH_BACKUP_BYTES of random 16 KiB values to a volume
directory and to a local s3rver, restores each backup into a fresh engine, checks the restored
data equals the source, and reports MiB/s (data bytes / wall time) per step.

Environment:
  BENCH_BACKUP_BYTES        data to back up: bytes, or with KiB/MiB/GiB (default 1GiB)
  BENCH_BACKUP_RANGES       ranges the keyspace is cut into (default 16)
  BENCH_BACKUP_CONCURRENCY  ranges exported/uploaded/restored at once (default 4, the library's)
  BENCH_DIR                 parent of the scratch directory (default the OS temp dir)
  BENCH_NO_DOC=1            leave docs/benchmarks.md alone
  BENCH_SKIP_S3=1           volume only

Library level: the data node's backup call is not wired yet, so this measures the backup code
over one engine, not a cluster backup, and no client latency during a backup.`;

class UsageError extends Error {}

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

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(help);
    return 0;
  }
  const unknown = process.argv.slice(2).filter((arg) => arg !== '--help' && arg !== '-h');
  if (unknown.length > 0) throw new UsageError(`unknown argument ${JSON.stringify(unknown[0])}: settings are environment variables (see --help)`);
  const requestedBytes = parseBytes(process.env.BENCH_BACKUP_BYTES ?? '1GiB');
  const ranges = positiveInt('BENCH_BACKUP_RANGES', 16);
  const concurrency = positiveInt('BENCH_BACKUP_CONCURRENCY', 4);
  const skipS3 = process.env.BENCH_SKIP_S3 === '1';
  const count = Math.ceil(requestedBytes / valueBytes);
  const dataBytes = count * valueBytes;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  baseDir = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'phantomdb-bench-backup-'));
  progress(`settings: ${fmt(dataBytes / MiB)} MiB as ${fmt(count)} values of 16 KiB, ${ranges} ranges, concurrency ${concurrency}; scratch in ${baseDir}; load average ${loadBefore.map((l) => l.toFixed(1)).join(', ')}`);
  const rows: BenchRow[] = [];
  try {
    const source = await buildSource(baseDir, count);
    progress('source: full-scan checksum');
    const expected = await scanChecksum(source);
    progress(`source: ${fmt(expected.entries)} entries, sha256 ${expected.sha256.slice(0, 16)}…`);
    const spans = spansFor(count, ranges);

    const volumeRoot = path.join(baseDir, 'volume');
    const volume = new VolumeBackupStore(volumeRoot);
    progress('backup-volume: starting');
    const bv = await measureBackup('backup-volume', volume, source, spans, 'bench-volume', dataBytes, concurrency);
    rows.push(row('backup-volume', dataBytes, bv, 'volume (local directory, fsync per object)', concurrency, ranges));
    progress(`backup-volume: ${fmt(dataBytes / MiB / bv.seconds, 1)} MiB/s (${bv.seconds.toFixed(1)} s, ${bv.objects} objects)`);
    progress('restore-volume: starting');
    const rv = await measureRestore('restore-volume', volume, 'bench-volume', dataBytes, concurrency, expected);
    rows.push(row('restore-volume', dataBytes, rv, 'volume (local directory)', concurrency, ranges));
    progress(`restore-volume: ${fmt(dataBytes / MiB / rv.seconds, 1)} MiB/s (${rv.seconds.toFixed(1)} s)`);
    await rm(volumeRoot, { recursive: true, force: true });

    if (!skipS3) {
      progress('starting s3rver');
      s3 = await startLocalS3(path.join(baseDir, 's3rver'), ['phantom-backups']);
      const store = new S3BackupStore({ bucket: 'phantom-backups', prefix: 'bench', region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
      s3Stores.push(store);
      progress('backup-s3: starting');
      const bs = await measureBackup('backup-s3', store, source, spans, 'bench-s3', dataBytes, concurrency);
      rows.push(row('backup-s3', dataBytes, bs, 's3rver on loopback', concurrency, ranges));
      progress(`backup-s3: ${fmt(dataBytes / MiB / bs.seconds, 1)} MiB/s (${bs.seconds.toFixed(1)} s)`);
      progress('restore-s3: starting');
      const rs = await measureRestore('restore-s3', store, 'bench-s3', dataBytes, concurrency, expected);
      rows.push(row('restore-s3', dataBytes, rs, 's3rver on loopback', concurrency, ranges));
      progress(`restore-s3: ${fmt(dataBytes / MiB / rs.seconds, 1)} MiB/s (${rs.seconds.toFixed(1)} s)`);
    }
  } finally {
    await cleanup();
  }

  const loadAfter = os.loadavg();
  const table = [
    '| workload | destination | data MiB | seconds | MiB/s |',
    '|---|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.workload} | ${String(r.destination)} | ${fmt(dataBytes / MiB)} | ${fmt(r.seconds as number, 1)} | ${fmt(r.mibPerSec as number, 1)} |`),
  ].join('\n');
  console.log(`\n${table}\n`);
  const volumeRate = rows.find((r) => r.workload === 'backup-volume')?.mibPerSec as number | undefined;
  const volumeTarget =
    volumeRate === undefined ? `backup ≥ ${volumeTargetMiBPerSec} MiB/s to a volume: not measured` : `backup ≥ ${volumeTargetMiBPerSec} MiB/s to a volume: ${fmt(volumeRate, 1)} MiB/s — ${volumeRate >= volumeTargetMiBPerSec ? 'met' : 'NOT met'}`;
  const p99Target = 'client p99 during a backup ≤ 1.5× the p99 without: not measurable yet (no cluster-level backup: the data node’s backup call is not wired)';
  console.log(`Targets: ${volumeTarget}; ${p99Target}`);
  const loadText = `${loadBefore.map((l) => l.toFixed(1)).join(', ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(', ')} after`;
  const file = writeResult('backup', {
    machine: machineDescription(),
    startedAt,
    level: 'library: one storage engine backed up by datanode/src/backup, not a cluster',
    dataBytes,
    valueBytes,
    ranges,
    concurrency,
    loadAverage: { before: loadBefore, after: loadAfter },
    notMeasured: {
      steady: 'needs a cluster-level backup; the data node backup call is not wired yet',
      'during-backup': 'needs a cluster-level backup; the data node backup call is not wired yet',
    },
    rows,
  });
  progress(`wrote ${path.relative(repoRoot, file)}`);
  if (process.env.BENCH_NO_DOC !== '1') {
    updateBenchmarksDoc(
      'backup',
      `## Backup and restore (\`npm run bench:backup\`)

**Library level, not a cluster.** The data node's backup call is not wired yet (docs/backup.md),
so this measures the backup code (\`datanode/src/backup/\`) over **one storage engine** holding
${fmt(dataBytes / MiB)} MiB of random 16 KiB values, cut into ${ranges} ranges, ${concurrency} at once.
Backup = export each range as of one timestamp into SSTables, stream them to the destination with
their SHA-256, write the manifest. Restore = download every object, check its size and SHA-256,
ingest into a fresh engine; the restored engine's full-scan checksum equals the source's (checked
after timing). MiB/s = data bytes / wall time. The volume is a local directory (each object
fsynced); S3 is \`s3rver\` on loopback, a test server in JavaScript on the same 2 cores that
writes every object to the same local disk, so the S3 rows say little about a real object store.
The source engine is filled by ingesting SSTables (not by client writes) and fits in the page cache.
Ran ${startedAt} on: ${machineDescription()}. The machine is shared with other work running at the
same time (load average ${loadText} on ${os.cpus().length} cores), so an idle machine should do better.
In bench/results/backup.json, \`opsPerSec\` of these rows is objects per second.

${table}

Targets: ${volumeTarget}; ${p99Target}.

Not measured yet: the \`steady\` and \`during-backup\` rows (client throughput and p99 without and
while a backup runs) need a backup of a running cluster, which waits for the data node's backup call.`,
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
