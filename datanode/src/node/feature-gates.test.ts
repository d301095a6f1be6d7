/**
 * Version gating of replicated formats: a replica refuses to propose a command whose op belongs
 * to a feature the finalized cluster version does not enable yet (PH_FEATURE_NOT_FINALIZED,
 * nothing written), and proposes it once the cluster version is raised. Every op this build
 * writes belongs to a feature of the oldest cluster version it runs, so a cluster at that
 * version is never refused anything it needs (a new op must name a new feature).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandFeatures, commandRefusal, type Command } from '../kv/command.ts';
import { KvError } from '../kv/errors.ts';
import { defaultKvLimits } from '../kv/limits.ts';
import { metaRangeId } from '../kv/descriptor.ts';
import { KvEngine, KvStateMachine } from '../kv/state-machine.ts';
import { clusterVersionMinSupported } from '../version/binary.ts';
import { clusterFeatures, FeatureGates } from '../version/version.ts';
import { MemoryLogStore, MemoryTransportHub } from './memory.ts';
import type { Replica } from './replica.ts';
import { Store } from './store.ts';

const stores: Store[] = [];
const engines: KvEngine[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.stop();
  for (const kv of engines.splice(0)) await kv.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** The features of this build plus one that a later version (0.2.0) introduces. */
const futureFeatures = { ...clusterFeatures, futureProtections: '0.2.0' } as const;
type FutureFeature = keyof typeof futureFeatures;
/** As if protected timestamps had arrived with 0.2.0. */
const futureOps: Record<Command['op'], FutureFeature> = { ...commandFeatures, 'protect-ts': 'futureProtections', 'release-ts': 'futureProtections' };

const protect = (id: string): Command => ({ op: 'protect-ts', protection: { id, ts: 1000n, reason: 'test', expiresAtMs: Number.MAX_SAFE_INTEGER } });

describe('commandRefusal', () => {
  it('lets every op this build writes through at the oldest cluster version it runs', () => {
    const gates = new FeatureGates(() => clusterVersionMinSupported, clusterFeatures);
    for (const op of Object.keys(commandFeatures) as Command['op'][]) {
      expect(gates.enabled(commandFeatures[op]), `op ${op}`).toBe(true);
    }
    // The op that raises the cluster version can never itself wait for a raise.
    expect(clusterFeatures[commandFeatures['cluster-version']]).toBe(clusterVersionMinSupported);
  });

  it('refuses an op of a later version, alone or inside a batch, naming both versions', () => {
    let cluster = '0.1.0';
    const gates = new FeatureGates(() => cluster, futureFeatures);
    const put: Command = { op: 'put', key: Buffer.from('k'), value: Buffer.from('v') };
    expect(commandRefusal(put, gates, futureOps)).toBeUndefined();
    expect(commandRefusal(protect('a'), gates, futureOps)).toMatch(/op 'protect-ts' \(feature futureProtections\) needs cluster version 0\.2\.0, and the cluster version is 0\.1\.0/);
    expect(commandRefusal({ op: 'batch', commands: [put, { op: 'release-ts', id: 'a' }] }, gates, futureOps)).toMatch(/op 'release-ts'/);
    cluster = '0.2.0';
    expect(commandRefusal(protect('a'), gates, futureOps)).toBeUndefined();
  });
});

async function singleNodeStore(clusterVersion: string): Promise<{ store: Store; meta: () => KvStateMachine | undefined }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-gates-'));
  dirs.push(dir);
  const kv = await KvEngine.open(path.join(dir, 'kv'));
  engines.push(kv);
  const logStore = new MemoryLogStore();
  // The gates read the cluster version from the store's meta replica, created below.
  const holder: { store?: Store } = {};
  const meta = (): KvStateMachine | undefined => holder.store?.metaStateMachine();
  const gates = new FeatureGates(() => meta()?.clusterVersion() ?? clusterVersionMinSupported, futureFeatures);
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
      refuseCommand: (command) => commandRefusal(command, gates, futureOps),
      log: () => undefined,
    },
    knownPeer: () => true,
    promotable: () => true,
    rangeMaxBytes: 1 << 30,
    maintenanceMs: 100,
    log: () => undefined,
  });
  holder.store = store;
  stores.push(store);
  await store.bootstrap([1]);
  await new KvStateMachine(kv.engine, metaRangeId).bootstrapClusterVersion(clusterVersion);
  await store.open();
  store.start(new MemoryTransportHub().register(1, store));
  return { store, meta };
}

async function metaLeader(store: Store): Promise<Replica> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const meta = store.meta();
    if (meta !== undefined && meta.role().role === 'leader' && meta.stateMachine.initialized) return meta;
    if (performance.now() > deadline) throw new Error(`no meta leader within 20 s (role ${meta?.role().role ?? 'no replica'})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('a replica under feature gates', () => {
  it('refuses a command of a later version until the cluster version is finalized there, then writes it', async () => {
    const { store, meta } = await singleNodeStore('0.1.0');
    const leader = await metaLeader(store);
    const refused = await leader.propose(protect('early'), 5000).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(KvError);
    expect((refused as KvError).code).toBe('PH_FEATURE_NOT_FINALIZED');
    expect((refused as KvError).message).toMatch(/range 1: command op 'protect-ts' .* needs cluster version 0\.2\.0, and the cluster version is 0\.1\.0/);
    expect(meta()?.protectedTimestamps().map((p) => p.id)).toEqual([]);
    // Ops of the version in force still go through.
    await leader.propose({ op: 'meta-record', name: 'test/a', value: Buffer.from('1') }, 5000);

    await leader.propose({ op: 'cluster-version', version: '0.2.0' }, 5000);
    expect(meta()?.clusterVersion()).toBe('0.2.0');
    await leader.propose(protect('later'), 5000);
    expect(meta()?.protectedTimestamps().map((p) => p.id)).toEqual(['later']);
  });
});
