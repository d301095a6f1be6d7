/**
 * Backups taken by real data nodes (issue 6 §2): three nodes with small ranges (so the keyspace
 * splits), a writer running throughout, a full backup to a volume directory through the admin
 * API, then an incremental after more writes. Each backup is read back with the backup reader
 * (restored into a fresh engine) and must equal the cluster's own scan at the backup timestamp,
 * compared by a full-scan checksum; the incremental alone must hold exactly the changes between
 * the two timestamps. A new cluster started from the chain (--restore-from) serves exactly the
 * data as of the incremental's timestamp; a corrupt object stops a restoring node, naming it.
 * With a short GC TTL, the chain's protected timestamp (recorded in the meta range) holds every
 * node's GC threshold at the backup timestamp, also after the whole cluster restarts. Killing the
 * coordinating node (the meta range's leader) mid-backup: the new leader answers UNKNOWN, the
 * caller starts the backup again under the same id (what the operator's controller does), and it
 * completes with a manifest whose every object exists, no object of the dead run left behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient, type BackupProgressReport } from '../../datanode/src/admin/index.ts';
import { EngineRangeIngester, restoreBackup, systemTimers, VolumeBackupStore, type IngestBatch } from '../../datanode/src/backup/index.ts';
import { encodeTimestamp, parseTimestamp } from '../../datanode/src/hlc/hlc.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { decodeUserVersionKey, decodeVersionValue, userBounds } from '../../datanode/src/kv/keys.ts';
import { KvEngine, KvStateMachine } from '../../datanode/src/kv/state-machine.ts';
import { eventually, freePort, nodeArgs, runToExit, surely, TestCluster } from './harness.ts';

let cluster: TestCluster | undefined;
let restored: TestCluster | undefined;
const closers: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await cluster?.close();
  await restored?.close();
  cluster = undefined;
  restored = undefined;
});

/** A backup finishes within this on a loaded 2-core machine (it takes about a second quietly). */
const backupDoneMs = 60_000;
const everything = { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) };

type Rows = Map<string, string>;

/** The cluster's rows as of `at` (a packed HLC timestamp; undefined: the newest), paging through the whole keyspace. */
async function scanAt(client: KvClient, at: bigint | undefined): Promise<Rows> {
  const rows: Rows = new Map();
  let cursor = Buffer.alloc(0);
  for (;;) {
    const page = await client.scan(cursor, Buffer.alloc(0), 1000, { ...(at === undefined ? {} : { at }), deadlineMs: 20_000 });
    for (const row of page.rows) rows.set(row.key.toString('latin1'), row.value.toString('latin1'));
    const last = page.rows[page.rows.length - 1];
    if (!page.more || last === undefined) return rows;
    cursor = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

function checksum(rows: Rows): string {
  const hash = createHash('sha256');
  for (const key of [...rows.keys()].sort()) hash.update(`${key}\u0000${rows.get(key) ?? ''}\n`);
  return hash.digest('hex');
}

/** Restores `backupId` (and its chain; with `only`, only that backup's own files) into a fresh engine. */
async function restoreInto(dir: string, store: VolumeBackupStore, backupId: string, only?: string): Promise<KvEngine> {
  const kv = await KvEngine.open(path.join(dir, 'engine'));
  closers.push(() => kv.close());
  const ingester = new EngineRangeIngester(kv.engine);
  await restoreBackup({
    store,
    backupId,
    ingester: { ingest: (batch: IngestBatch) => (only === undefined || batch.backupId === only ? ingester.ingest(batch) : Promise.resolve()) },
    scratchDir: path.join(dir, 'scratch'),
    timers: systemTimers,
  });
  return kv;
}

/** What a restored engine holds as of `at`, read through a state machine that spans every key. */
async function rowsOf(kv: KvEngine, at: bigint): Promise<Rows> {
  const sm = new KvStateMachine(kv.engine, 2);
  await sm.bootstrap({ rangeId: 2, ...everything, generation: 0, replicas: [{ nodeId: 1, voter: true }] });
  const rows: Rows = new Map();
  for (const row of sm.scan(Buffer.alloc(0), Buffer.alloc(0), 1_000_000, 1 << 30, at).rows) rows.set(row.key.toString('latin1'), row.value.toString('latin1'));
  return rows;
}

/** Every version in an engine: key → its versions (value or null for a deletion), newest first. */
function versionsOf(kv: KvEngine): { keys: Map<string, (string | null)[]>; timestamps: bigint[] } {
  const { lower, upper } = userBounds(everything.startKey, everything.endKey);
  const it = kv.engine.iterator({ lowerBound: lower, upperBound: upper });
  const keys = new Map<string, (string | null)[]>();
  const timestamps: bigint[] = [];
  try {
    for (it.seek(lower); it.valid(); it.next()) {
      const { key, ts } = decodeUserVersionKey(Buffer.from(it.key()));
      const value = decodeVersionValue(it.value());
      const list = keys.get(key.toString('latin1')) ?? [];
      list.push(value === null ? null : value.toString('latin1'));
      keys.set(key.toString('latin1'), list);
      timestamps.push(ts);
    }
  } finally {
    it.close();
  }
  return { keys, timestamps };
}

/** Starts (idempotently) and follows a backup until it completes; fails with its progress and the node logs. */
async function takeBackup(admin: AdminClient, active: TestCluster, request: Parameters<AdminClient['backup']>[0]): Promise<BackupProgressReport> {
  let last: BackupProgressReport | undefined;
  const seen: string[] = [];
  try {
    return await eventually(`backup ${request.backupId} completed`, backupDoneMs, async () => {
      last = await admin.backup(request, { deadlineMs: 10_000 });
      seen.push(`${last.phase} ${last.rangesDone}/${last.rangesTotal} ${last.bytesDone}B`);
      if (last.phase === 'FAILED') throw new Error(`backup ${request.backupId} failed: ${last.message}`);
      return last.phase === 'COMPLETED' ? last : undefined;
    }, 200);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nprogress seen: ${seen.slice(-10).join(' | ')}\n${await active.statusSummary()}\n${active.logs()}`, { cause: err });
  }
}

describe('backups by data nodes', () => {
  it('takes a full and an incremental backup under writes, each equal to a scan at its timestamp', async () => {
    cluster = await TestCluster.start({ size: 3, extraArgs: ['--range-max-bytes', String(48 * 1024)] });
    const active = cluster;
    const client = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId });
    closers.push(() => client.close());
    const admin = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId });
    closers.push(() => admin.close());
    const value = (i: number): string => `value-${i}-${'x'.repeat(400)}`;
    for (let batch = 0; batch < 40; batch++) await Promise.all(Array.from({ length: 10 }, (_, j) => client.put(`k${String(batch * 10 + j).padStart(5, '0')}`, value(batch * 10 + j))));

    // The keyspace splits into several ranges (size checks run every few seconds): wait for it.
    await eventually('the keyspace split into several ranges', 60_000, async () => ((await admin.rangeList()).filter((range) => !range.meta).length > 1 ? true : undefined), 200);

    // A writer overwrites, adds and deletes keys while the backups run.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const key = `k${String((i * 37) % 600).padStart(5, '0')}`;
        try {
          if (i % 5 === 4) await client.delete(key);
          else await client.put(key, value(10_000 + i));
          writes++;
        } catch {
          // An unknown outcome changes nothing here: the expected data is the cluster's scan at T.
        }
      }
    })();
    closers.push(async () => {
      writing = false;
      await writer;
    });

    const destination = path.join(active.baseDir, 'backups');
    fs.mkdirSync(destination);
    const store = new VolumeBackupStore(destination);
    const full = await takeBackup(admin, active, { backupId: 'full-1', type: 'full', destination: { kind: 'volume', path: destination } });
    const writesAtFull = writes;
    expect(full.verified).toBe(true);
    expect(full.rangesTotal).toBeGreaterThan(1);
    expect(full.rangesDone).toBe(full.rangesTotal);
    const fullAt = encodeTimestamp(parseTimestamp(full.backupTimestamp));
    // Asking again answers the finished backup instead of taking another.
    expect(await admin.backup({ backupId: 'full-1', type: 'full', destination: { kind: 'volume', path: destination } })).toMatchObject({ phase: 'COMPLETED', backupTimestamp: full.backupTimestamp });

    const expectedFull = await scanAt(client, fullAt);
    expect(expectedFull.size).toBeGreaterThan(300);
    const restoredFull = await restoreInto(path.join(active.baseDir, 'restore-full'), store, 'full-1');
    const backupFull = await rowsOf(restoredFull, fullAt);
    expect(backupFull.size).toBe(expectedFull.size);
    expect(checksum(backupFull)).toBe(checksum(expectedFull));

    await eventually('more writes after the full backup', 30_000, () => (writes >= writesAtFull + 50 ? true : undefined));
    const inc = await takeBackup(admin, active, { backupId: 'inc-1', type: 'incremental', parentBackupId: 'full-1', destination: { kind: 'volume', path: destination } });
    writing = false;
    await writer;
    const incAt = encodeTimestamp(parseTimestamp(inc.backupTimestamp));
    expect(incAt).toBeGreaterThan(fullAt);
    const expectedInc = await scanAt(client, incAt);
    // The full backup's timestamp still reads the same after more writes (a repeatable read).
    expect(checksum(await scanAt(client, fullAt))).toBe(checksum(expectedFull));
    expect(checksum(expectedInc)).not.toBe(checksum(expectedFull));

    const restoredChain = await restoreInto(path.join(active.baseDir, 'restore-chain'), store, 'inc-1');
    expect(checksum(await rowsOf(restoredChain, incAt))).toBe(checksum(expectedInc));

    // The incremental alone: only versions in (full, inc], and exactly the keys that changed.
    const incOnly = versionsOf(await restoreInto(path.join(active.baseDir, 'restore-inc-only'), store, 'inc-1', 'inc-1'));
    expect(incOnly.timestamps.length).toBeGreaterThan(0);
    for (const ts of incOnly.timestamps) {
      expect(ts).toBeGreaterThan(fullAt);
      expect(ts).toBeLessThanOrEqual(incAt);
    }
    const allKeys = new Set([...expectedFull.keys(), ...expectedInc.keys()]);
    for (const key of allKeys) {
      const versions = incOnly.keys.get(key);
      if (versions === undefined) {
        expect(expectedInc.get(key), `key ${key} unchanged`).toBe(expectedFull.get(key));
      } else {
        expect(versions[0] ?? undefined, `key ${key}: newest version in the incremental`).toBe(expectedInc.get(key));
      }
    }
    for (const key of incOnly.keys.keys()) expect(allKeys.has(key) || incOnly.keys.get(key)?.[0] === null, `key ${key} in the incremental`).toBe(true);

    // A new cluster from the chain: exactly the data as of the incremental's timestamp.
    const source = JSON.stringify({ backupId: 'inc-1', volume: { path: destination } });
    restored = await TestCluster.start({ size: 3, clusterId: 'restored', extraArgs: ['--restore-from', source] });
    const restoredClient = new KvClient({ endpoints: restored.kvEndpoints(), clusterId: 'restored' });
    closers.push(() => restoredClient.close());
    const served = await scanAt(restoredClient, undefined);
    expect(served.size).toBe(expectedInc.size);
    expect(checksum(served)).toBe(checksum(expectedInc));
    await restoredClient.put('after-restore', 'new write');
    expect((await restoredClient.get('after-restore'))?.toString()).toBe('new write');

    // A corrupt object: the restoring node stops before serving and names the object.
    const manifest = JSON.parse(fs.readFileSync(path.join(destination, 'full-1', 'manifest.json'), 'utf8')) as { ranges: { files: { objectKey: string }[] }[] };
    const objectKey = manifest.ranges.flatMap((range) => range.files)[0]?.objectKey ?? '';
    const objectPath = path.join(destination, ...objectKey.split('/'));
    const bytes = fs.readFileSync(objectPath);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0xff;
    fs.writeFileSync(objectPath, bytes);
    const ports = { raft: await freePort(), kv: await freePort(), http: await freePort() };
    const spec = {
      id: 1,
      raftPort: ports.raft,
      kvPort: ports.kv,
      httpPort: ports.http,
      dataDir: path.join(active.baseDir, 'corrupt-restore'),
      clusterId: 'corrupt',
      membershipArgs: ['--peers', `1=127.0.0.1:${ports.raft}`],
      extraArgs: ['--restore-from', JSON.stringify({ backupId: 'full-1', volume: { path: destination } })],
    };
    const exit = await runToExit(nodeArgs(spec));
    expect(exit.code, exit.output).not.toBe(0);
    expect(exit.output).toContain(objectKey);
  }, 240_000);

  it('holds GC back at a backup chain protected timestamp, across a restart of every node', async () => {
    cluster = await TestCluster.start({ size: 3, extraArgs: ['--gc-ttl-ms', '1000'] });
    const active = cluster;
    const client = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId });
    closers.push(() => client.close());
    const admin = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId });
    closers.push(() => admin.close());
    for (let i = 0; i < 50; i++) await client.put(`k${i}`, `v${i}`);
    const destination = path.join(active.baseDir, 'backups');
    fs.mkdirSync(destination);
    const full = await takeBackup(admin, active, { backupId: 'gc-full', type: 'full', destination: { kind: 'volume', path: destination } });
    const at = encodeTimestamp(parseTimestamp(full.backupTimestamp));
    const expected = checksum(await scanAt(client, at));
    for (let i = 0; i < 50; i++) await client.put(`k${i}`, `overwritten ${i}`);
    // A millisecond before the backup is below the threshold once a GC pass ran (every 5 s);
    // the backup timestamp itself stays readable: its chain protection holds the threshold.
    const before = at - (1n << 16n);
    const refusedBefore = async (): Promise<true | undefined> => {
      try {
        await client.scan(Buffer.alloc(0), Buffer.alloc(0), 10, { at: before, deadlineMs: 5_000 });
        return undefined;
      } catch (error) {
        if (error instanceof Error && /below the garbage-collection threshold/.test(error.message)) return true;
        throw error;
      }
    };
    await eventually('a GC pass past the TTL', 30_000, refusedBefore, 200);
    expect(checksum(await scanAt(client, at))).toBe(expected);
    for (const node of active.nodes) await node.kill();
    for (const node of active.nodes) node.start();
    await active.waitForServing();
    await active.waitForLeader();
    await eventually('a GC pass after the restart', 30_000, refusedBefore, 200);
    expect(checksum(await scanAt(client, at))).toBe(expected);
  }, 120_000);

  it('a backup whose coordinator is killed mid-run is resumed by the new meta leader (finished spans kept) and completes whole', async () => {
    // Each node writes its backup files at 256 KiB/s: the backup runs for seconds, long enough to kill its coordinator.
    cluster = await TestCluster.start({ size: 3, extraArgs: ['--range-max-bytes', String(256 * 1024), '--backup-rate-bytes', String(256 * 1024)] });
    const active = cluster;
    const client = new KvClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId });
    closers.push(() => client.close());
    const admin = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId });
    closers.push(() => admin.close());
    const value = (i: number): string => `value-${i}-${'y'.repeat(8000)}`;
    for (let batch = 0; batch < 40; batch++) await Promise.all(Array.from({ length: 10 }, (_, j) => surely(() => client.put(`f${String(batch * 10 + j).padStart(5, '0')}`, value(batch * 10 + j)))));
    await eventually('the keyspace split into several ranges', 60_000, async () => ((await admin.rangeList()).filter((range) => !range.meta).length > 2 ? true : undefined), 200);

    const destination = path.join(active.baseDir, 'backups');
    fs.mkdirSync(destination);
    const request = { backupId: 'failover-1', type: 'full' as const, destination: { kind: 'volume' as const, path: destination } };
    const first = await admin.backup(request, { deadlineMs: 10_000 });
    expect(first.phase).toBe('RUNNING');
    const started = await eventually('the first run finished a range', 60_000, async () => {
      const report = await admin.backupStatus('failover-1');
      if (report.phase !== 'RUNNING') throw new Error(`backup failover-1 is ${report.phase} before the kill: ${report.message}`);
      return report.rangesDone > 0 ? report : undefined;
    }, 50);
    const coordinator = active.nodes.find((node) => node.output.includes('backup failover-1: full at'));
    if (coordinator === undefined) throw new Error(`no node logged coordinating backup failover-1\n${active.logs()}`);
    await coordinator.kill();

    // What the operator's PhantomBackup controller does: follow the status; UNKNOWN (the new
    // leader never ran it) starts it again under the same id; FAILED would fail the backup.
    const seen: string[] = [];
    let done: BackupProgressReport;
    try {
      done = await eventually('the backup completed after its coordinator died', 120_000, async () => {
        let report: BackupProgressReport;
        try {
          report = await admin.backupStatus('failover-1', { deadlineMs: 5_000 });
          if (report.phase === 'UNKNOWN') report = await admin.backup(request, { deadlineMs: 5_000 });
        } catch (err) {
          // No meta leader yet, or the dead node asked: retriable, as the operator treats it.
          seen.push(`error ${err instanceof Error ? err.message.slice(0, 80) : String(err)}`);
          return undefined;
        }
        seen.push(`${report.phase} ${report.rangesDone}/${report.rangesTotal}`);
        if (report.phase === 'FAILED') throw new Error(`backup failover-1 failed: ${report.message}`);
        return report.phase === 'COMPLETED' ? report : undefined;
      }, 200);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nanswers: ${seen.slice(-15).join(' | ')}\n${await active.statusSummary()}\n${active.logs()}`, { cause: err });
    }
    expect(done.verified).toBe(true);
    // The new leader resumed it: the same timestamp, the spans the first run finished kept.
    expect(done.backupTimestamp).toBe(started.backupTimestamp);
    // Searched in every node's whole output: logs() keeps each node's last 4,000 characters, and the
    // new coordinator's retries against the dead node can push the line out of that tail.
    const resumedLine = active.nodes.map((node) => node.output).join('\n').match(/backup failover-1: full at \S+ to \S+, resuming an earlier run \((\d+) spans kept\)/);
    expect(resumedLine, active.logs()).not.toBeNull();
    expect(Number(resumedLine?.[1])).toBeGreaterThanOrEqual(started.rangesDone);
    console.log(`backup failover-1 resumed by the new meta leader: ${resumedLine?.[1]} spans kept of ${done.rangesTotal} (the first run had ${started.rangesDone} done when it was killed)`);

    // Every object the manifest names exists, and nothing else is left under the backup's folder.
    const store = new VolumeBackupStore(destination);
    const manifest = JSON.parse(fs.readFileSync(path.join(destination, 'failover-1', 'manifest.json'), 'utf8')) as { ranges: { files: { objectKey: string; sizeBytes: number }[] }[] };
    const named = manifest.ranges.flatMap((range) => range.files);
    expect(named.length).toBeGreaterThan(0);
    // Files of both runs: the first run's (object names carry the coordinator's node id) were not exported again.
    expect(named.filter((file) => file.objectKey.includes(`/n${coordinator.spec.id}-`)).length, named.map((file) => file.objectKey).join('\n')).toBeGreaterThan(0);
    expect(named.filter((file) => !file.objectKey.includes(`/n${coordinator.spec.id}-`)).length).toBeGreaterThan(0);
    for (const file of named) expect((await store.head(file.objectKey))?.sizeBytes, file.objectKey).toBe(file.sizeBytes);
    expect(await store.list('failover-1/')).toEqual([...named.map((file) => file.objectKey), 'failover-1/manifest.json'].sort());

    // And it holds exactly the data as of its timestamp.
    const at = encodeTimestamp(parseTimestamp(done.backupTimestamp));
    const expected = await scanAt(client, at);
    expect(expected.size).toBe(400);
    const restoredRows = await rowsOf(await restoreInto(path.join(active.baseDir, 'restore-failover'), store, 'failover-1'), at);
    expect(checksum(restoredRows)).toBe(checksum(expected));
  }, 240_000);
});
