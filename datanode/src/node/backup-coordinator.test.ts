/**
 * The backup coordinator on one in-process node (a real engine, an in-memory log): a coordinator
 * that loses the meta range's leadership right before its manifest keeps the files it wrote, and
 * the coordinator that takes the backup over resumes at the same timestamp, keeping every span
 * and exporting nothing again; the manifest names each span's files once and the run's progress
 * records are gone afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackupProgressReport, BackupSpec } from '../admin/backend.ts';
import { readManifest, verifyBackup } from '../backup/reader.ts';
import { systemTimers } from '../backup/ports.ts';
import { VolumeBackupStore } from '../backup/store.ts';
import { HybridLogicalClock, systemPhysicalClock } from '../hlc/hlc.ts';
import { firstUserRangeId } from '../kv/descriptor.ts';
import { KvError } from '../kv/errors.ts';
import { defaultKvLimits } from '../kv/limits.ts';
import { KvEngine } from '../kv/state-machine.ts';
import { BackupCoordinator } from './backup-coordinator.ts';
import { MemoryLogStore, MemoryTransportHub } from './memory.ts';
import type { Replica } from './replica.ts';
import { Store } from './store.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function oneNode(lines: string[]): Promise<{ store: Store; hlc: HybridLogicalClock; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-coordinator-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kv = await KvEngine.open(path.join(dir, 'kv'));
  cleanups.push(() => kv.close());
  const logStore = new MemoryLogStore();
  const hlc = new HybridLogicalClock(systemPhysicalClock, { maxOffsetMs: 500 });
  const store = new Store({
    nodeId: 1,
    dataDir: dir,
    kv,
    logStore,
    replica: {
      nodeId: 1,
      logStore,
      tickMs: 20,
      raft: { electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1, checkQuorum: true, preVote: true },
      limits: defaultKvLimits,
      clock: { nowMs: () => performance.now() },
      compactionEntries: 10_000,
      addressOf: () => '',
      log: () => undefined,
      hlc,
    },
    knownPeer: () => true,
    promotable: () => true,
    rangeMaxBytes: 1 << 30,
    maintenanceMs: 100,
    log: (line) => lines.push(line),
  });
  await store.bootstrap([1]);
  await store.open();
  store.start(new MemoryTransportHub().register(1, store));
  cleanups.push(() => store.stop());
  return { store, hlc, dir };
}

function coordinator(store: Store, hlc: HybridLogicalClock, scratchDir: string, lines: string[]): BackupCoordinator {
  const created = new BackupCoordinator({ clusterId: 'c1', nodeId: 1, dataNodeVersion: '0.1.0', hlc, scratchDir, store: () => store, kvAddressOf: () => '', nowMs: () => Date.now(), log: (line) => lines.push(line) });
  cleanups.push(() => created.close());
  return created;
}

describe('backup coordinator', () => {
  it('a coordinator deposed before its manifest leaves its files; the one taking over resumes at the same timestamp and exports nothing again', async () => {
    const lines: string[] = [];
    const { store, hlc, dir } = await oneNode(lines);
    const leader = await until('a leader of range 2', () => {
      const replica = store.replica(firstUserRangeId);
      return replica?.role().role === 'leader' && replica.stateMachine.initialized ? replica : undefined;
    });
    for (const key of ['a', 'f', 'k', 'p', 'u', 'z']) await leader.propose({ op: 'put', key: Buffer.from(key), value: Buffer.from(`value-${key}`) }, 5000);
    const desc = leader.stateMachine.descriptor();
    await leader.propose({ op: 'split', rangeId: firstUserRangeId, generation: desc?.generation ?? 0, splitKey: Buffer.from('m'), newRangeId: 9, replicas: desc?.replicas ?? [] }, 5000);
    await until('both ranges in the meta range', () => ([...store.knownRanges().keys()].includes(9) ? true : undefined));
    await until('this node serving as the meta leader', () => (store.meta()?.serving === true && store.meta()?.role().role === 'leader' ? true : undefined));

    const destination = path.join(dir, 'backups');
    const spec: BackupSpec = { backupId: 'b1', type: 'full', destination: { kind: 'volume', path: destination } };
    // The first coordinator writes every range, then loses the meta range's leadership at the
    // proposal that fences its manifest (and cannot release its protection either).
    const first = coordinator(store, hlc, path.join(dir, 'scratch-1'), lines);
    const deposed = first as unknown as { protect: (meta: Replica, protection: unknown) => Promise<void>; release: (meta: Replica, id: string) => Promise<void> };
    const protect = deposed.protect.bind(first);
    let protections = 0;
    deposed.protect = (meta, protection) => (++protections === 1 ? protect(meta, protection) : Promise.reject(new KvError('PH_NOT_LEADER', 'not the meta leader (test)')));
    deposed.release = () => Promise.reject(new KvError('PH_NOT_LEADER', 'not the meta leader (test)'));
    const started = await first.backup(spec);
    expect(started.phase).toBe('RUNNING');
    await until('the first coordinator stopped', () => (lines.some((line) => line.includes('backup b1: stopped, this node no longer leads the meta range')) ? true : undefined));
    const volume = new VolumeBackupStore(destination);
    const left = await volume.list('b1/');
    expect(left.filter((key) => key.startsWith('b1/ranges/')).length, left.join('\n')).toBeGreaterThanOrEqual(2);
    expect(left).toContain('b1/progress/run.json');
    expect(left).not.toContain('b1/manifest.json');
    const firstTimestamp = lines.find((line) => line.startsWith('backup b1: full at'))?.split(' ')[4];

    // The coordinator taking over (the new meta leader) is asked for the same backup.
    const second = coordinator(store, hlc, path.join(dir, 'scratch-2'), lines);
    await second.backup(spec);
    const done = await until('the resumed backup completed', () => {
      const report: BackupProgressReport = second.backupStatus('b1');
      if (report.phase === 'FAILED') throw new Error(`backup b1 failed: ${report.message}\n${lines.join('\n')}`);
      return report.phase === 'COMPLETED' ? report : undefined;
    });
    expect(done.backupTimestamp).toBe(firstTimestamp);
    expect(lines.some((line) => /backup b1: full at \S+ to \S+, resuming an earlier run \(2 spans kept\)/.test(line)), lines.join('\n')).toBe(true);
    const manifest = await readManifest(volume, 'b1');
    const named = manifest.ranges.flatMap((range) => range.files.map((file) => file.objectKey)).sort();
    // Exactly the first run's files (nothing exported again), one set per span, and nothing else left.
    expect(named).toEqual(left.filter((key) => key.startsWith('b1/ranges/')).sort());
    expect(manifest.ranges.map((range) => [range.rangeId, Buffer.from(range.startKey, 'hex').toString(), Buffer.from(range.endKey, 'hex').toString()])).toEqual([
      [firstUserRangeId, '', 'm'],
      [9, 'm', ''],
    ]);
    expect(await volume.list('b1/')).toEqual([...named, 'b1/manifest.json'].sort());
    expect((await verifyBackup(volume, 'b1', { timers: systemTimers })).objects).toBe(named.length);
  });
});
