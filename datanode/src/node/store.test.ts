/**
 * Three in-process Stores (real engines, in-memory logs and transport): a split applied by one
 * Raft command gives every replica the right range with the same data and a leader; and when a
 * node hears from the new range before it has applied the split (its uninitialised replica has
 * an empty group), the split still creates a working voter there, which applies later writes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firstUserRangeId } from '../kv/descriptor.ts';
import { gcProtectionsOf, nextGcThreshold } from '../kv/gc.ts';
import { timestamp } from '../hlc/hlc.ts';
import { defaultKvLimits } from '../kv/limits.ts';
import { rangeLocalKey } from '../kv/keys.ts';
import { KvEngine, KvStateMachine } from '../kv/state-machine.ts';
import type { Message } from '../raft/types.ts';
import type { TransportHandlers } from './interfaces.ts';
import { MemoryLogStore, MemoryTransportHub } from './memory.ts';
import type { Replica } from './replica.ts';
import { metaHeartbeatTicks, Store } from './store.ts';

const stores: Store[] = [];
const engines: KvEngine[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.stop();
  for (const kv of engines.splice(0)) await kv.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A log store whose removal of one group fails, standing for a kill -9 just before it. */
class FailingRemoveLogStore extends MemoryLogStore {
  failRemoveOf: number | undefined;
  failedRemovals = 0;
  override removeGroup(groupId: number): Promise<void> {
    if (groupId !== this.failRemoveOf) return super.removeGroup(groupId);
    this.failedRemovals++;
    return Promise.reject(new Error(`simulated crash before removing group ${groupId}`));
  }
}

/** Holds back the messages of one range on their way to a node, while `holding`. */
class Gate implements TransportHandlers {
  holding: number | undefined;
  /** Holds back only the messages of this range from this node. */
  holdingFrom: { readonly groupId: number; readonly from: number } | undefined;
  private readonly held: Message[] = [];
  /** Heartbeats that reached this node, by range. */
  readonly heartbeats = new Map<number, number>();
  constructor(private readonly inner: TransportHandlers) {}
  private holds(m: Message): boolean {
    return m.groupId === this.holding || (m.groupId === this.holdingFrom?.groupId && m.from === this.holdingFrom.from);
  }
  onMessages(messages: readonly Message[]): void {
    for (const m of messages) if (m.kind === 'Heartbeat') this.heartbeats.set(m.groupId, (this.heartbeats.get(m.groupId) ?? 0) + 1);
    const pass = messages.filter((m) => !this.holds(m));
    this.held.push(...messages.filter((m) => this.holds(m)));
    if (pass.length > 0) this.inner.onMessages(pass);
  }
  release(): void {
    this.holding = undefined;
    this.holdingFrom = undefined;
    this.inner.onMessages(this.held.splice(0));
  }
  /** How many held messages are of `kind`. */
  heldOf(kind: Message['kind']): number {
    return this.held.filter((m) => m.kind === kind).length;
  }
  /** Stops holding and loses what was held. */
  discard(): number {
    this.holding = undefined;
    this.holdingFrom = undefined;
    return this.held.splice(0).length;
  }
  onUnreachable(peer: number): void {
    this.inner.onUnreachable(peer);
  }
  onPeerDown(peer: number): void {
    this.inner.onPeerDown?.(peer);
  }
  onSnapshotData(...args: Parameters<TransportHandlers['onSnapshotData']>): Promise<void> {
    return this.inner.onSnapshotData(...args);
  }
}

interface ClusterOptions {
  readonly followMetaMembership?: boolean;
  readonly placement?: boolean;
  readonly logStore?: () => MemoryLogStore;
  readonly uninitializedMax?: number;
  readonly uninitializedCollectMs?: number;
  readonly quiesce?: { readonly idleTicks: number; readonly leaderSuspectMs: number };
}

function newStore(nodeId: number, dir: string, kv: KvEngine, logStore: MemoryLogStore, options: ClusterOptions, lines: string[]): Store {
  const store = new Store({
    ...(options.followMetaMembership === undefined ? {} : { followMetaMembership: options.followMetaMembership }),
    ...(options.placement === undefined ? {} : { placement: options.placement }),
    ...(options.uninitializedMax === undefined ? {} : { uninitializedMax: options.uninitializedMax }),
    ...(options.uninitializedCollectMs === undefined ? {} : { uninitializedCollectMs: options.uninitializedCollectMs }),
    ...(options.quiesce === undefined ? {} : { quiesce: options.quiesce }),
    nodeId,
    dataDir: dir,
    kv,
    logStore,
    replica: {
      nodeId,
      logStore,
      tickMs: 20,
      raft: { electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1, checkQuorum: true, preVote: true },
      limits: defaultKvLimits,
      clock: { nowMs: () => performance.now() },
      compactionEntries: 10_000,
      addressOf: () => '',
      log: () => undefined,
    },
    knownPeer: () => true,
    promotable: () => true,
    // As a node does (KvClient.recordRanges): a range leader reports its descriptor to the meta range's leader.
    pushDescriptors: async (descriptors) => {
      const metaLeader = stores.find((s) => s !== store && s.meta()?.serving === true && s.meta()?.role().role === 'leader')?.meta();
      if (metaLeader !== undefined) await metaLeader.propose({ op: 'meta-descriptors', descriptors }, 5000);
    },
    rangeMaxBytes: 1 << 30,
    maintenanceMs: 100,
    log: (line) => lines.push(line),
  });
  stores.push(store);
  return store;
}

interface TestCluster {
  stores: Store[];
  gates: Gate[];
  logStores: MemoryLogStore[];
  kvs: KvEngine[];
  dataDirs: string[];
  lines: string[][];
  hub: MemoryTransportHub;
}

async function cluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const hub = new MemoryTransportHub();
  const out: TestCluster = { stores: [], gates: [], logStores: [], kvs: [], dataDirs: [], lines: [], hub };
  for (const nodeId of [1, 2, 3]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `phantomdb-store-${nodeId}-`));
    dirs.push(dir);
    const kv = await KvEngine.open(path.join(dir, 'kv'));
    engines.push(kv);
    const logStore = options.logStore?.() ?? new MemoryLogStore();
    const lines: string[] = [];
    const store = newStore(nodeId, dir, kv, logStore, options, lines);
    await store.bootstrap([1, 2, 3]);
    await store.open();
    const gate = new Gate(store);
    store.start(hub.register(nodeId, gate));
    out.stores.push(store);
    out.gates.push(gate);
    out.logStores.push(logStore);
    out.kvs.push(kv);
    out.dataDirs.push(dir);
    out.lines.push(lines);
  }
  return out;
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = check();
    } catch {
      value = undefined; // not there yet (an uninitialised replica refuses reads)
    }
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function leaderOf(all: Store[], rangeId: number): Replica | undefined {
  return all.map((s) => s.replica(rangeId)).find((r) => r?.role().role === 'leader' && r.stateMachine.initialized);
}

const put = (key: string, value: string) => ({ op: 'put' as const, key: Buffer.from(key), value: Buffer.from(value) });

describe('store', () => {
  it('a failed connection wakes the quiescent followers of the ranges its node led (only those), and a request there campaigns', async () => {
    // Node liveness (leaderSuspectMs) stays out of it: no records here, and a minute to suspect.
    const c = await cluster({ quiesce: { idleTicks: 5, leaderSuspectMs: 60_000 } });
    const leader = await until('a leader of range 2', () => leaderOf(c.stores, firstUserRangeId));
    await leader.propose(put('k', 'v'), 5000);
    const leaderNode = leader.status().id;
    const survivors = c.stores.filter((_, i) => i + 1 !== leaderNode);
    const [first, second] = survivors.map((store) => store.replica(firstUserRangeId));
    if (first === undefined || second === undefined) throw new Error('no follower replicas');
    await until('range 2 quiescent on every node', () => (c.stores.every((store) => store.replica(firstUserRangeId)?.quiesced === true) ? true : undefined));
    const term = leader.status().term;
    const otherId = second.status().id;

    // A live leader: a request at a follower does not campaign.
    expect(survivors[0]?.campaignIfLeaderDown(first)).toBe(false);
    // A node that leads nothing here went down: range 2 stays quiescent.
    survivors[0]?.onPeerDown(otherId);
    expect(first.quiesced).toBe(true);
    expect(first.status().leaderId).toBe(leaderNode);

    // The leader's node: its connection failed on both survivors (the transport's report).
    c.hub.cut(leaderNode, true);
    for (const store of survivors) store.onPeerDown(leaderNode);
    for (const replica of [first, second]) {
      expect(replica.quiesced).toBe(false);
      expect(replica.status().leaderId).toBe(0);
    }
    expect(survivors.map((store) => store.forgottenLeaderCount)).toEqual([1, 1]);
    expect(survivors[0]?.peerDown(leaderNode)).toBe(true);
    // A request at the first survivor campaigns (it remembers whom it forgot); the second, which
    // forgot the leader too, votes for it at once (its own election timer is 200-400 ms away).
    expect(survivors[0]?.campaignIfLeaderDown(first)).toBe(true);
    expect(c.lines[first.status().id - 1]?.some((line) => line.includes('campaigning for a request'))).toBe(true);
    const next = await until('a new leader of range 2', () => leaderOf(survivors, firstUserRangeId));
    expect(next).toBe(first);
    expect(next.status().term).toBeGreaterThan(term);
    await next.propose(put('k', 'after'), 5000);
    // Led here now: nothing to campaign for.
    expect(survivors[0]?.campaignIfLeaderDown(first)).toBe(false);
    // The second survivor got no request, so nothing asked it about the leader it forgot: its
    // maintenance forgets that once the range has a leader again (else one entry per range woken, forever).
    expect(second.status().leaderId).not.toBe(0);
    await until('no forgotten leader left on either survivor', () => (survivors.every((store) => store.forgottenLeaderCount === 0) ? true : undefined));
  });

  it('heartbeats the meta range (never quiescent, on every member) three times per election timeout, user ranges every configured interval', async () => {
    expect(metaHeartbeatTicks({ electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1 })).toBe(3);
    expect(metaHeartbeatTicks({ electionTimeoutTicks: 10, heartbeatTimeoutTicks: 5 })).toBe(5);
    expect(metaHeartbeatTicks({ electionTimeoutTicks: 3, heartbeatTimeoutTicks: 1 })).toBe(1);
    expect(metaHeartbeatTicks({})).toBe(3);
    const c = await cluster();
    await until('leaders of both ranges', () => (leaderOf(c.stores, 1) !== undefined && leaderOf(c.stores, firstUserRangeId) !== undefined ? true : undefined));
    for (const gate of c.gates) gate.heartbeats.clear();
    // Both ranges are idle and ticked by the same timer: compare their heartbeats over the same window.
    await until('100 user-range heartbeats', () => (c.gates.reduce((sum, g) => sum + (g.heartbeats.get(firstUserRangeId) ?? 0), 0) >= 100 ? true : undefined));
    const count = (rangeId: number): number => c.gates.reduce((sum, g) => sum + (g.heartbeats.get(rangeId) ?? 0), 0);
    const [meta, user] = [count(1), count(firstUserRangeId)];
    expect(meta, `meta ${meta}, user ${user} heartbeats`).toBeGreaterThan(0);
    expect(meta * 2, `meta ${meta}, user ${user} heartbeats`).toBeLessThanOrEqual(user);
    // The meta range still works: a write commits and applies on every replica.
    await leaderOf(c.stores, 1)?.propose({ op: 'meta-record', name: 'liveness/9', value: Buffer.from('x') }, 5000);
    await until('the record on every meta replica', () => (c.stores.every((s) => s.metaStateMachine()?.metaRecords('liveness/').has('liveness/9') === true) ? true : undefined));
  });

  it('splits a range on every replica: the right range gets the data in place and a leader', async () => {
    const { stores: all } = await cluster();
    const left = await until('a leader of range 2', () => leaderOf(all, firstUserRangeId));
    for (const key of ['a', 'g', 'm', 'q', 'z']) await left.propose(put(key, `v-${key}`), 5000);
    const desc = left.stateMachine.descriptor();
    expect(desc).toBeDefined();
    const result = await left.propose({ op: 'split', rangeId: 2, generation: desc?.generation ?? 0, splitKey: Buffer.from('m'), newRangeId: 99, replicas: desc?.replicas ?? [] }, 5000);
    expect(result).toMatchObject({ op: 'split', ok: true });
    const right = await until('a leader of range 99', () => leaderOf(all, 99));
    await right.linearizableBarrier(5000);
    expect(right.stateMachine.get(Buffer.from('q'))?.toString()).toBe('v-q');
    await right.propose(put('r', 'after'), 5000);
    for (const store of all) {
      await until(`node's range 99 applied the write`, () => (store.replica(99)?.stateMachine.get(Buffer.from('r')) !== undefined ? true : undefined));
      expect(store.replica(2)?.stateMachine.descriptor()?.endKey.toString()).toBe('m');
      expect(store.lookup(Buffer.from('z'))?.rangeId).toBe(99);
      expect(store.lookup(Buffer.from('a'))?.rangeId).toBe(2);
    }
  });

  it('GC reads protections only from a meta replica that holds the meta range\'s state: a joining node (none yet) keeps its garbage', async () => {
    const c = await cluster();
    await until('a meta leader', () => c.stores.find((s) => s.meta()?.role().role === 'leader'));
    const protection = { id: 'backup/b1', ts: 12345n, reason: 'test', expiresAtMs: Date.now() + 60_000 };
    const metaLeader = c.stores.find((s) => s.meta()?.role().role === 'leader')?.meta();
    await metaLeader?.propose({ op: 'protect-ts', protection }, 5000);
    // Every member's meta replica has the protection (GC on each goes by it).
    for (const store of c.stores) await until('the protection applied', () => (gcProtectionsOf(store.metaStateMachine())?.some((p) => p.id === 'backup/b1') === true ? true : undefined));
    // A node that joins holds no meta state until its snapshot: GC stays put there.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-store-joining-'));
    dirs.push(dir);
    const kv = await KvEngine.open(path.join(dir, 'kv'));
    engines.push(kv);
    const joining = newStore(4, dir, kv, new MemoryLogStore(), {}, []);
    await joining.open();
    expect(gcProtectionsOf(joining.metaStateMachine())).toBeUndefined();
    expect(nextGcThreshold({ now: timestamp(Date.now()), gcTtlMs: 1000, protections: gcProtectionsOf(joining.metaStateMachine()), nowMs: Date.now(), current: undefined })).toBeUndefined();
  });

  it('drops the replica (its keys and its log) of a range this node was removed from', async () => {
    const { stores: all, logStores } = await cluster({ followMetaMembership: false });
    const leader = await until('a leader of range 2', () => leaderOf(all, firstUserRangeId));
    for (const key of ['a', 'b', 'c']) await leader.propose(put(key, 'v'), 5000);
    const index = all.findIndex((s) => s.replica(2) !== leader);
    const removed = all[index];
    if (removed === undefined) throw new Error('no follower');
    await until('the follower applied the writes', () => (removed.replica(2)?.stateMachine.get(Buffer.from('c')) !== undefined ? true : undefined));
    await leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await leader.proposeConfChange({ changes: [{ op: 'remove', nodeId: index + 1 }], transition: 'auto' }, 5000);
    const logStore = logStores[index];
    if (logStore === undefined) throw new Error('no log store');
    // Dropped: descriptor, keys and log gone (and late messages do not bring an empty one back).
    await until('the removed replica dropped', () => (!removed.engine.rangeIds().includes(2) && !logStore.hasGroup(2) ? true : undefined));
    expect(removed.replica(2)).toBeUndefined();
    expect(removed.engine.engine.get(Buffer.from('\x03a', 'latin1'))).toBeUndefined();
    // The others keep theirs, and the range keeps serving.
    await leader.propose(put('d', 'after'), 5000);
    expect(leader.stateMachine.get(Buffer.from('a'))?.toString()).toBe('v');
  });

  it('creates no replica for a range that removed this node from messages past the removal (its tombstone has the generation), only once the range adds it again', async () => {
    const c = await cluster({ followMetaMembership: false });
    const leader = await until('a leader of range 2', () => leaderOf(c.stores, firstUserRangeId));
    await leader.propose(put('a', 'v'), 5000);
    const index = c.stores.findIndex((s) => s.replica(2) !== leader);
    const removed = c.stores[index];
    const logStore = c.logStores[index];
    const kv = c.kvs[index];
    const dir = c.dataDirs[index];
    if (removed === undefined || logStore === undefined || kv === undefined || dir === undefined) throw new Error('no follower');
    await until('the follower applied the write', () => removed.replica(2)?.stateMachine.get(Buffer.from('a')));
    await leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await leader.proposeConfChange({ changes: [{ op: 'remove', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await until('the removed replica dropped', () => (!kv.rangeIds().includes(2) && !logStore.hasGroup(2) ? true : undefined));
    const tombstone = kv.tombstones().get(2);
    expect(tombstone?.generation).toBe(leader.stateMachine.descriptor()?.generation);
    // Restarted (no quiet period after the drop in memory): only the tombstone stands between the range's messages and a new replica.
    await removed.stop();
    const lines: string[] = [];
    const again = newStore(index + 1, dir, kv, logStore, { followMetaMembership: false }, lines);
    await again.open();
    again.start(c.hub.register(index + 1, again));
    await leader.propose(put('b', 'v'), 5000);
    // An append whose commit index is past the removal (what a leader that has not applied the
    // removal yet sends): the configuration it comes from is not later than the removal's.
    const status = leader.status();
    if (tombstone === undefined || status.commit <= tombstone.removedAt) throw new Error(`commit ${status.commit} is not past the removal at ${tombstone?.removedAt}`);
    const leaderId = c.stores.findIndex((s) => s.replica(2) === leader) + 1;
    again.onMessages([{ kind: 'Append', groupId: 2, from: leaderId, to: index + 1, term: status.term, prevLogIndex: status.commit, prevLogTerm: status.term, entries: [], commit: status.commit }]);
    const refused = (): boolean => lines.some((line) => line.startsWith('range 2: messages from node') && line.includes('ignored'));
    await until('the append was refused or created a replica', () => (refused() || again.replica(2) !== undefined ? true : undefined));
    expect(again.replica(2), lines.join('\n')).toBeUndefined();
    // Added again (a later generation, which the meta range's copy shows): the range's messages bring the replica back, with the data.
    await leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await until('the re-added replica has the range data', () => again.replica(2)?.stateMachine.get(Buffer.from('b')), 20_000);
    expect(lines.some((line) => line.includes('the meta range places this node in the range at generation') && line.includes('the range took this node back')), lines.join('\n')).toBe(true);
    expect(kv.tombstones().has(2)).toBe(false);
  });

  it('finishes a drop a crash interrupted; re-added later, the replica gets the range data by snapshot', async () => {
    // kill -9 between clearing the dropped replica's state and removing its group: the group
    // (members, log) outlives the descriptor. Simulated by a log store that fails that removal.
    const c = await cluster({ followMetaMembership: false, logStore: () => new FailingRemoveLogStore() });
    const leader = await until('a leader of range 2', () => leaderOf(c.stores, firstUserRangeId));
    await leader.propose(put('a', 'v'), 5000);
    const index = c.stores.findIndex((s) => s.replica(2) !== leader);
    const victim = c.stores[index];
    const logStore = c.logStores[index];
    const kv = c.kvs[index];
    const dir = c.dataDirs[index];
    if (victim === undefined || !(logStore instanceof FailingRemoveLogStore) || kv === undefined || dir === undefined) throw new Error('no follower');
    await until('the follower applied the write', () => victim.replica(2)?.stateMachine.get(Buffer.from('a')));
    logStore.failRemoveOf = 2;
    await leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await leader.proposeConfChange({ changes: [{ op: 'remove', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await until('the drop was interrupted', () => (logStore.failedRemovals > 0 ? true : undefined));
    expect(kv.rangeIds()).not.toContain(2);
    expect(logStore.hasGroup(2)).toBe(true);
    await victim.stop();
    logStore.failRemoveOf = undefined;
    const lines: string[] = [];
    const again = newStore(index + 1, dir, kv, logStore, { followMetaMembership: false }, lines);
    await again.open();
    again.start(c.hub.register(index + 1, again));
    expect(lines.some((line) => line.includes('range 2: finishing the drop'))).toBe(true);
    expect(logStore.hasGroup(2)).toBe(false);
    expect(again.replica(2)).toBeUndefined();
    // A heartbeat with commit 0 (as a leader that has not applied the removal yet sends) does not
    // bring a replica back: the range did not take this node back at a later generation. The
    // replica would be created asynchronously: wait until the node decided either way.
    const leaderId = c.stores.findIndex((s) => s.replica(2) === leader) + 1;
    again.onMessages([{ kind: 'Heartbeat', groupId: 2, from: leaderId, to: index + 1, term: leader.status().term, commit: 0, context: '', sentTick: 0 }]);
    const refused = (): boolean => lines.some((line) => line.startsWith('range 2: a heartbeat with commit 0') && line.includes('ignored'));
    await until('the heartbeat was refused or created a replica', () => (refused() || again.replica(2) !== undefined ? true : undefined));
    expect(again.replica(2), lines.join('\n')).toBeUndefined();
    expect(kv.tombstones().get(2)?.generation, 'the tombstone records the removal\'s generation').toBe(leader.stateMachine.descriptor()?.generation);
    // The range takes the node back: it must end up with the range's data, old and new.
    await leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await leader.propose(put('z', 'acknowledged'), 5000);
    await until('the re-added replica has the new write', () => again.replica(2)?.stateMachine.get(Buffer.from('z')), 20_000);
    expect(again.replica(2)?.stateMachine.get(Buffer.from('a'))?.toString()).toBe('v');
    expect(again.replica(2)?.stateMachine.appliedIndex()).toBeGreaterThan(0);
    // The log says what took the node back, with no sentinel index standing in for "a leader adding it anew".
    const tookBack = lines.filter((line) => line.includes('the range took this node back'));
    expect(tookBack.length, lines.join('\n')).toBeGreaterThan(0);
    for (const line of tookBack) expect(line).not.toContain(String(Number.MAX_SAFE_INTEGER));
  });

  it('holds a group whose descriptor a power cut lost until its split is replayed, then applies its log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-store-held-'));
    dirs.push(dir);
    const kv = await KvEngine.open(path.join(dir, 'kv'));
    engines.push(kv);
    const logStore = new MemoryLogStore();
    const hub = new MemoryTransportHub();
    const store = newStore(1, dir, kv, logStore, { followMetaMembership: false }, []);
    await store.bootstrap([1]);
    await store.open();
    store.start(hub.register(1, store));
    const left = await until('a leader of range 2', () => leaderOf([store], firstUserRangeId));
    await left.propose(put('a', 'v-a'), 5000);
    const appliedBefore = kv.engine.get(rangeLocalKey(2, 'applied'));
    const descBefore = kv.engine.get(rangeLocalKey(2, 'desc'));
    if (appliedBefore === undefined || descBefore === undefined) throw new Error('range 2 has no state');
    const desc = left.stateMachine.descriptor();
    await left.propose({ op: 'split', rangeId: 2, generation: desc?.generation ?? 0, splitKey: Buffer.from('m'), newRangeId: 99, replicas: desc?.replicas ?? [] }, 5000);
    const right = await until('a leader of range 99', () => leaderOf([store], 99));
    await right.propose(put('r', 'acknowledged'), 5000);
    await store.stop();
    // The engine as a power cut that lost the split would leave it (range 2 as before the split,
    // nothing of range 99), while the Raft log kept range 99's group and its acknowledged write.
    await kv.engine.put(rangeLocalKey(2, 'applied'), appliedBefore);
    await kv.engine.put(rangeLocalKey(2, 'desc'), descBefore);
    await new KvStateMachine(kv.engine, 99).clearReplicatedState([{ startKey: Buffer.from('m'), endKey: Buffer.alloc(0) }]);
    // Range 2 spans 'r' again (its descriptor as before the split): no version of 'r' is left.
    expect(new KvStateMachine(kv.engine, 2).get(Buffer.from('r'))).toBeUndefined();
    const lines: string[] = [];
    const again = newStore(1, dir, kv, logStore, { followMetaMembership: false }, lines);
    await again.open();
    expect(again.replica(99)).toBeUndefined();
    expect(logStore.hasGroup(99)).toBe(true);
    expect(lines.some((line) => line.includes('range 99: Raft group with a log but no range descriptor: held'))).toBe(true);
    again.start(hub.register(1, again));
    // Range 2 replays the split; range 99 then replays its own log with its descriptor.
    const value = await until('range 99 applied its log again', () => again.replica(99)?.stateMachine.get(Buffer.from('r')));
    expect(value.toString()).toBe('acknowledged');
    expect(again.replica(2)?.stateMachine.descriptor()?.endKey.toString()).toBe('m');
  });

  it('removes a held group (a log, no descriptor, no tombstone) once the meta range shows its range left this node', async () => {
    // The state a kill -9 mid-drop left with a build that wrote no tombstone.
    const c = await cluster({ followMetaMembership: false, uninitializedCollectMs: 300, logStore: () => new FailingRemoveLogStore() });
    const leader = await until('a leader of range 2', () => leaderOf(c.stores, firstUserRangeId));
    await until('a meta leader', () => c.stores.find((s) => s.meta()?.role().role === 'leader'));
    await leader.propose(put('a', 'v'), 5000);
    // Neither range 2's leader nor the meta leader (which records range 2's replicas in the meta range).
    const index = c.stores.findIndex((s) => s.replica(2) !== leader && s.meta()?.role().role !== 'leader');
    const victim = c.stores[index];
    const logStore = c.logStores[index];
    const kv = c.kvs[index];
    const dir = c.dataDirs[index];
    if (victim === undefined || !(logStore instanceof FailingRemoveLogStore) || kv === undefined || dir === undefined) throw new Error('no such node');
    await until('the node applied the write', () => victim.replica(2)?.stateMachine.get(Buffer.from('a')));
    logStore.failRemoveOf = 2;
    await leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await leader.proposeConfChange({ changes: [{ op: 'remove', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await until('the drop was interrupted', () => (logStore.failedRemovals > 0 ? true : undefined));
    await victim.stop();
    await kv.deleteTombstone(2);
    logStore.failRemoveOf = undefined;
    const lines: string[] = [];
    const again = newStore(index + 1, dir, kv, logStore, { followMetaMembership: false, uninitializedCollectMs: 300 }, lines);
    await again.open();
    expect(lines.some((line) => line.includes('range 2: Raft group with a log but no range descriptor: held'))).toBe(true);
    again.start(c.hub.register(index + 1, again));
    await until('the held group was removed', () => (logStore.hasGroup(2) ? undefined : true), 20_000);
    expect(lines.some((line) => line.includes('range 2: removing the held group'))).toBe(true);
    // Taken back later, the node gets the range's data by snapshot.
    await leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: index + 1 }], transition: 'auto' }, 5000);
    await leader.propose(put('z', 'after'), 5000);
    await until('the re-added replica has the new write', () => again.replica(2)?.stateMachine.get(Buffer.from('z')), 20_000);
    expect(again.replica(2)?.stateMachine.get(Buffer.from('a'))?.toString()).toBe('v');
  });

  it('caps uninitialised replicas (creations in flight included) and collects those that get no snapshot', async () => {
    const c = await cluster({ followMetaMembership: false, uninitializedMax: 8, uninitializedCollectMs: 300 });
    const node = c.stores[0];
    const logStore = c.logStores[0];
    if (node === undefined || logStore === undefined) throw new Error('no node');
    const heartbeat = (groupId: number): Message => ({ kind: 'Heartbeat', groupId, from: 2, to: 1, term: 5, commit: 0, context: '', sentTick: 0 });
    // One burst: every creation is in flight at once.
    node.onMessages(Array.from({ length: 30 }, (_, i) => heartbeat(1000 + i)));
    await until('the burst settled', () => (node.allReplicas().filter((r) => !r.stateMachine.initialized).length === 8 ? true : undefined));
    const created = logStore.groupIds().filter((id) => id >= 1000);
    expect(created.length).toBe(8);
    // None of them gets a snapshot: all are dropped, groups included.
    await until('the uninitialised replicas were collected', () => (logStore.groupIds().some((id) => id >= 1000) ? undefined : true), 20_000);
    expect(node.allReplicas().some((r) => r.groupId >= 1000)).toBe(false);
    // Room again for a range that does want this node.
    node.onMessages([heartbeat(5000)]);
    await until('a new range gets an uninitialised replica', () => node.replica(5000));
  });

  it("ignores a heartbeat whose commit is beyond an uninitialised replica's empty log (a leader's progress from the replica dropped here)", async () => {
    const c = await cluster({ followMetaMembership: false });
    const node = c.stores[0];
    if (node === undefined) throw new Error('no node');
    const heartbeat = (commit: number): Message => ({ kind: 'Heartbeat', groupId: 6000, from: 2, to: 1, term: 5, commit, context: '', sentTick: 0 });
    node.onMessages([heartbeat(0)]);
    const replica = await until('an uninitialised replica', () => node.replica(6000));
    // Before: the core asserted (commit 112 beyond last index 0) and the node process died.
    expect(() => node.onMessages([heartbeat(112)])).not.toThrow();
    expect(replica.serving).toBe(true);
    expect(replica.status().commit).toBe(0);
  });

  it('refuses proposals with rejected promises, never synchronous throws (the maintenance loop only attaches .catch)', async () => {
    const { stores: all } = await cluster({ followMetaMembership: false });
    const leader = await until('a leader of range 2', () => leaderOf(all, firstUserRangeId));
    const follower = all.map((s) => s.replica(2)).find((r) => r !== undefined && r !== leader);
    if (follower === undefined) throw new Error('no follower');
    const first = leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: 7 }], transition: 'auto' }, 5000);
    let second: Promise<unknown> | undefined;
    expect(() => (second = leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: 8 }], transition: 'auto' }, 5000))).not.toThrow();
    await expect(second).rejects.toMatchObject({ code: 'PH_UNAVAILABLE' });
    let onFollower: Promise<unknown> | undefined;
    expect(() => (onFollower = follower.propose(put('a', 'v'), 5000))).not.toThrow();
    await expect(onFollower).rejects.toMatchObject({ code: 'PH_NOT_LEADER' });
    let barrier: Promise<unknown> | undefined;
    expect(() => (barrier = follower.linearizableBarrier(5000))).not.toThrow();
    await expect(barrier).rejects.toMatchObject({ code: 'PH_NOT_LEADER' });
    await first;
  });

  it('reports a membership change as pending until it is applied (a split waits for it)', async () => {
    const { stores: all } = await cluster({ followMetaMembership: false });
    const leader = await until('a leader of range 2', () => leaderOf(all, firstUserRangeId));
    const follower = all.map((s) => s.replica(2)).find((r) => r !== undefined && r !== leader);
    // A new leader counts its own first entry as a possible change until it is applied.
    await until('the leader applied its term\'s first entry', () => (leader.membershipChangePending() ? undefined : true));
    const change = leader.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: 7 }], transition: 'auto' }, 5000);
    expect(leader.membershipChangePending()).toBe(true);
    expect(follower?.membershipChangePending()).toBe(false);
    await change;
    expect(leader.membershipChangePending()).toBe(false);
  });

  it('turns a replica that messages created before the split reached its node into a working voter', async () => {
    const { stores: all, gates } = await cluster();
    const left = await until('a leader of range 2', () => leaderOf(all, firstUserRangeId));
    const lagging = all.findIndex((s) => s.replica(2) !== left);
    const gate = gates[lagging];
    const slow = all[lagging];
    if (gate === undefined || slow === undefined) throw new Error('no follower');
    await left.propose(put('p', 'before'), 5000);
    gate.holding = 2; // the follower does not see the split yet
    const desc = left.stateMachine.descriptor();
    await left.propose({ op: 'split', rangeId: 2, generation: desc?.generation ?? 0, splitKey: Buffer.from('m'), newRangeId: 77, replicas: desc?.replicas ?? [] }, 5000);
    const right = await until('a leader of range 77', () => leaderOf(all, 77));
    await right.propose(put('q', 'after'), 5000);
    // The lagging node heard from range 77 first: an uninitialised replica with an empty group.
    const early = await until('an uninitialised replica of range 77', () => slow.replica(77));
    expect(early.status().config.voters).toEqual([]);
    gate.release();
    await until('range 77 on the lagging node applied the later write', () => (slow.replica(77)?.stateMachine.get(Buffer.from('q'))?.toString() === 'after' ? true : undefined));
    const replica = slow.replica(77);
    expect(replica).not.toBe(early);
    expect([...(replica?.status().config.voters ?? [])].sort()).toEqual([1, 2, 3]);
    expect(replica?.stateMachine.get(Buffer.from('p'))?.toString()).toBe('before');
  });

  it('moves a replica with the placement calls (demote, remove, add learner, catch up, promote), idempotently, on the range leader only', async () => {
    const { stores: all } = await cluster({ placement: true });
    const leader = await until('a leader of range 2', () => leaderOf(all, firstUserRangeId));
    for (const key of ['a', 'b', 'c']) await leader.propose(put(key, 'v'), 5000);
    const leaderIndex = all.findIndex((s) => s.replica(2) === leader);
    const leaderStore = all[leaderIndex];
    const followerIndex = all.findIndex((_, i) => i !== leaderIndex);
    const follower = all[followerIndex];
    if (leaderStore === undefined || follower === undefined) throw new Error('no stores');
    const moved = followerIndex + 1;
    // Only the leader runs changes; a follower answers NotLeader.
    await expect(follower.changeReplicas(2, 'demote', moved, 5000)).rejects.toMatchObject({ code: 'PH_NOT_LEADER' });
    // The leaseholder is never demoted; an unknown change is refused.
    await expect(leaderStore.changeReplicas(2, 'demote', leaderIndex + 1, 5000)).rejects.toMatchObject({ code: 'PH_UNAVAILABLE' });
    await expect(leaderStore.changeReplicas(2, 'explode', moved, 5000)).rejects.toMatchObject({ code: 'PH_BAD_REQUEST' });
    // A voter is not removed before it is demoted (joint consensus, left before the call answers).
    await expect(leaderStore.changeReplicas(2, 'remove', moved, 5000)).rejects.toMatchObject({ code: 'PH_BAD_REQUEST' });
    expect(await leaderStore.changeReplicas(2, 'demote', moved, 5000)).toBe(true);
    expect(leader.status().config.votersOutgoing).toEqual([]);
    expect(leader.status().config.learners).toContain(moved);
    expect(await leaderStore.changeReplicas(2, 'demote', moved, 5000)).toBe(true);
    expect(await leaderStore.changeReplicas(2, 'remove', moved, 5000)).toBe(true);
    await until('the removed replica dropped', () => (follower.replica(2) === undefined ? true : undefined));
    expect(await leaderStore.changeReplicas(2, 'caught-up', moved, 5000)).toBe(false);
    await leader.propose(put('d', 'while away'), 5000);
    // Added back: a learner that is not promoted by itself (placement promotes), catches up by snapshot.
    expect(await leaderStore.changeReplicas(2, 'add-learner', moved, 5000)).toBe(true);
    expect(await leaderStore.changeReplicas(2, 'add-learner', moved, 5000)).toBe(true);
    const caughtUp = async (): Promise<boolean> => leaderStore.changeReplicas(2, 'caught-up', moved, 5000);
    const deadline = performance.now() + 20_000;
    while (!(await caughtUp())) {
      if (performance.now() > deadline) throw new Error('learner did not catch up');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(leader.status().config.learners).toContain(moved);
    expect(await leaderStore.changeReplicas(2, 'promote', moved, 5000)).toBe(true);
    expect(leader.status().config.voters).toContain(moved);
    expect(leader.status().config.learners).not.toContain(moved);
    await until('the returned replica holds the data written while it was away', () => (follower.replica(2)?.stateMachine.get(Buffer.from('d'))?.toString() === 'while away' ? true : undefined));
    // The lease moves to the returned voter.
    expect(await leaderStore.changeReplicas(2, 'transfer-lease', moved, 5000)).toBe(true);
    await until('the moved voter leads', () => (follower.replica(2)?.role().role === 'leader' ? true : undefined));
    expect(leaderStore.leaderReports().some((report) => report.rangeId === 2)).toBe(false);
    expect(follower.leaderReports().find((report) => report.rangeId === 2)?.replicas).toHaveLength(3);
    // Every configuration change bumped the range's generation (demote and promote: enter and leave
    // a joint configuration; remove; add learner), the same on each replica, with the replicas of
    // the resulting configuration; the meta range's copy follows to that generation.
    const descriptors = await until('every replica applied the last change', () => {
      const descs = all.map((store) => store.replica(2)?.stateMachine.descriptor());
      return descs.every((d) => d !== undefined && d.generation === descs[0]?.generation) ? descs : undefined;
    });
    const current = descriptors[0];
    expect(current?.generation).toBeGreaterThanOrEqual(4);
    expect([...(current?.replicas ?? [])].sort((a, b) => a.nodeId - b.nodeId)).toEqual([1, 2, 3].map((nodeId) => ({ nodeId, voter: true })));
    await until('the meta copies at the new generation', () =>
      all.every((store) => store.metaStateMachine()?.rangeDescriptors().get(2)?.generation === current?.generation) ? true : undefined,
    );
  });
  it('wakes a quiescent range for a placement query: a learner whose answer to the quiesce heartbeat was lost is still found caught up and promoted', async () => {
    const c = await cluster({ placement: true, quiesce: { idleTicks: 5, leaderSuspectMs: 60_000 } });
    const leader = await until('a leader of range 2', () => leaderOf(c.stores, firstUserRangeId));
    await leader.propose(put('a', 'v'), 5000);
    const leaderIndex = c.stores.findIndex((s) => s.replica(2) === leader);
    const learnerIndex = c.stores.findIndex((_, i) => i !== leaderIndex);
    const leaderStore = c.stores[leaderIndex];
    const gate = c.gates[leaderIndex];
    if (leaderStore === undefined || gate === undefined) throw new Error('no stores');
    const learnerId = learnerIndex + 1;
    expect(await leaderStore.changeReplicas(2, 'demote', learnerId, 5000)).toBe(true);
    const progressOf = (): { match: number; recentActive: boolean } | undefined => leader.status().progress.get(learnerId);
    await until('the learner holds the whole log, the range quiescent', () => (progressOf()?.match === leader.status().lastIndex && leader.quiesced ? true : undefined));
    // Something wakes the range (a read, say) while the learner's answers to the leader are lost,
    // until the range is quiescent again: its leader now counts the learner inactive.
    gate.holdingFrom = { groupId: 2, from: learnerId };
    leader.wake();
    await until('quiescent again on both, the learner inactive', () => (leader.quiesced && c.stores[learnerIndex]?.replica(2)?.quiesced === true && progressOf()?.recentActive === false ? true : undefined));
    // Idle for a while (the learner's answer to the quiesce heartbeat lost too): the leader has
    // heard nothing from it for over an election timeout.
    await until('the learner silent for over an election timeout', () => (leader.sinceHeardMs(learnerId) > 500 ? true : undefined));
    expect(gate.heldOf('HeartbeatResponse')).toBeGreaterThan(0);
    gate.discard();
    expect(leader.quiesced).toBe(true);
    // Asked as the driver asks, the learner is found caught up: the query woke the range. Before,
    // nothing woke it, and the answer stayed "no" for as long as the range was idle.
    const deadline = performance.now() + 10_000;
    let polls = 0;
    while (!(await leaderStore.changeReplicas(2, 'caught-up', learnerId, 5000))) {
      polls++;
      if (performance.now() > deadline) throw new Error(`learner never found caught up (${polls} polls; quiesced ${String(leader.quiesced)}; progress ${JSON.stringify(progressOf())}, last index ${leader.status().lastIndex}; learner quiesced ${String(c.stores[learnerIndex]?.replica(2)?.quiesced)} role ${JSON.stringify(c.stores[learnerIndex]?.replica(2)?.role())})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await leaderStore.changeReplicas(2, 'promote', learnerId, 5000)).toBe(true);
    expect(leader.status().config.voters).toContain(learnerId);
  });

  it('sends a new replica a snapshot at the applied index, not the log since an old compaction point (the data once, a short catch-up)', async () => {
    const { stores: all, logStores } = await cluster({ placement: true });
    const leader = await until('a leader of range 2', () => leaderOf(all, firstUserRangeId));
    const leaderIndex = all.findIndex((s) => s.replica(2) === leader);
    const leaderStore = all[leaderIndex];
    const followerIndex = all.findIndex((_, i) => i !== leaderIndex);
    const follower = all[followerIndex];
    const followerLog = logStores[followerIndex];
    if (leaderStore === undefined || follower === undefined || followerLog === undefined) throw new Error('no stores');
    const moved = followerIndex + 1;
    expect(await leaderStore.changeReplicas(2, 'demote', moved, 5000)).toBe(true);
    expect(await leaderStore.changeReplicas(2, 'remove', moved, 5000)).toBe(true);
    await until('the removed replica dropped', () => (follower.replica(2) === undefined ? true : undefined));
    // Far more entries and bytes (1.6 MiB) than the log keeps behind a snapshot it sends (and fewer entries than compactionEntries).
    const writes = 200;
    const filler = 'x'.repeat(8 * 1024);
    for (let i = 0; i < writes; i++) await leader.propose(put(`key-${i}`, `value-${i}${filler}`), 5000);
    const leaderFirstIndexBefore = leader.status().lastIndex - writes;
    expect(await leaderStore.changeReplicas(2, 'add-learner', moved, 5000)).toBe(true);
    // On a loaded machine the lease may move meanwhile: ask whichever store leads the range now.
    const deadline = performance.now() + 30_000;
    for (;;) {
      const current = all.find((store) => store.replica(2)?.role().role === 'leader');
      if ((await current?.changeReplicas(2, 'caught-up', moved, 5000).catch(() => false)) === true) break;
      if (performance.now() > deadline) throw new Error(`learner did not catch up; leader ${current === undefined ? 'none' : all.indexOf(current) + 1}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await until('the new replica holds the data', () => (follower.replica(2)?.stateMachine.get(Buffer.from(`key-${writes - 1}`))?.toString() === `value-${writes - 1}${filler}` ? true : undefined));
    // Its log starts at the snapshot it installed: after every load write, none of which came again as an entry.
    const snapshotIndex = followerLog.storageFor(2).firstIndex() - 1;
    expect(snapshotIndex, `the replica's snapshot index (the leader wrote ${writes} entries after index ${leaderFirstIndexBefore})`).toBeGreaterThanOrEqual(leaderFirstIndexBefore + writes);
  });
});
