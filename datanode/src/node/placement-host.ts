/**
 * The node's side of placement (datanode/src/placement): it makes the pure planner and driver run
 * against the real cluster.
 *
 * - Liveness: every node sends a heartbeat to the meta range's leader every `heartbeatMs`: its
 *   liveness record (id, epoch, its own ticks, locality, disk capacity and use), which the meta
 *   leader records in the meta range (`meta-record liveness/<id>`) every `livenessRecordMs` (or
 *   at once when the epoch, locality or capacity changed; each record costs a Raft round and an
 *   fsync on every meta member), keeping the newest beat of each node in memory in between (its
 *   tracker sees every beat), and a report of the ranges it
 *   leads (term, size, replicas), which the meta leader keeps in memory (a new leader has it again
 *   within one beat: it is load information, not state).
 * - The ClusterView: nodes (the meta range's members minus removed ones, their liveness from a
 *   tracker fed by the recorded records, the admin flags) and user ranges (the meta range's
 *   descriptor copies, the leaseholder and size from the leaders' reports).
 * - The RangeAdmin: each change is run by the range's leader (`ChangeReplicas`, node to node, or
 *   directly when the leader is here); after a change the meta range's copy of the descriptor is
 *   updated with the new replica set, so the next snapshot shows it.
 * - The PlacementDriver runs on the meta range's leader only: started when this node becomes the
 *   leader, aborted when it stops being it (or the node stops).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KvClient } from '../kv/client.ts';
import type { MemberAddress } from '../kv/command.ts';
import { metaRangeId, type RangeDescriptor, type ReplicaDescriptor } from '../kv/descriptor.ts';
import { KvError } from '../kv/errors.ts';
import type { MemberLifecycles } from '../kv/state-machine.ts';
import type { RangeEventRecorder } from '../metrics/raft-metrics.ts';
import { PlacementDriver, systemClock, type ClusterView, type DriverEvent, type DriverLimits, type DriverProgress, type RangeAdmin } from '../placement/driver.ts';
import { decodeLivenessRecord, defaultLivenessConfig, emptyLivenessState, encodeLivenessRecord, livenessOf, localityLabelCharsMax, observeLiveness, toNodeState, type LivenessRecord, type LivenessState } from '../placement/liveness.ts';
import type { ClusterSnapshot, Locality, NodeState, PlannerLimits, RangeState } from '../placement/model.ts';
import type { NodeId } from '../raft/types.ts';
import type { Store } from './store.ts';

/** Liveness ticks (the tracker's and the records' unit): the defaults of liveness.ts assume 100 ms. */
export const placementTickMs = 100;
/** How often every node heartbeats (defaultLivenessConfig.heartbeatIntervalTicks ticks). */
const heartbeatMs = defaultLivenessConfig.heartbeatIntervalTicks * placementTickMs;
/**
 * How often the meta leader rewrites a node's liveness record when nothing but its ticks and disk
 * use changed. The other nodes see records advance at this pace: the quiescence wake-up
 * (node.ts quiesceLeaderSuspectMs) suspects a leader after more than two of these.
 */
export const livenessRecordMs = 2 * heartbeatMs;
/** A leader's report older than this is not used (three missed beats). */
const reportFreshMs = 3 * heartbeatMs;
/** Ranges reported per heartbeat at most (the report must stay a small message). */
const reportRangesMax = 10_000;
/** How often the driver polls whether a learner caught up. */
const caughtUpPollMs = 200;
/** Node-to-node calls of the RangeAdmin: one attempt's deadline. */
const rangeCallDeadlineMs = 10_000;
/** RangeAdmin clients kept (one per replica set the driver called). */
const rangeClientsMax = 64;

export interface PlacementHostOptions {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly replicationFactor: number;
  /** `region=<r>,zone=<z>` (--locality); undefined: from `topologyFile`, else "default". */
  readonly locality: string | undefined;
  /**
   * A Kubernetes downward-API annotations file (PHANTOMDB_TOPOLOGY_FILE) holding the node's
   * topology labels (`topology.kubernetes.io/region`, `.../zone`); read at every heartbeat, since
   * the kubelet keeps it current.
   */
  readonly topologyFile?: string;
  readonly rebalanceConcurrency: number;
  readonly snapshotRateBytes: number;
  readonly deadNodeReplaceMs: number;
  readonly store: () => Store | undefined;
  readonly lifecycles: () => MemberLifecycles;
  readonly addressBook: () => ReadonlyMap<NodeId, MemberAddress>;
  /** Whether the node is stopping or retired (no heartbeats). */
  readonly stopped: () => boolean;
  readonly events?: RangeEventRecorder;
  /** Load-aware pacing: the share of --snapshot-rate-bytes the driver may start copying now (DriverOptions.copyRateShare). */
  readonly copyRateShare?: () => number;
  readonly log: (line: string) => void;
}

/** One range a node leads, as its heartbeat reports it. */
export interface LeaseReport {
  readonly rangeId: number;
  readonly term: number;
  readonly bytes: number;
  readonly replicas: readonly ReplicaDescriptor[];
}

interface ReceivedReport {
  readonly atMs: number;
  readonly leases: readonly LeaseReport[];
}

/** Parses `region=a,zone=b` (validated by the config schema); a missing label is "default". */
export function parseLocality(text: string): Locality {
  const labels = new Map(text.split(',').map((part) => part.split('=') as [string, string]));
  return { region: labels.get('region') ?? 'default', zone: labels.get('zone') ?? 'default' };
}

/** The topology labels a downward-API annotations file names (lines `key="value"`); "default" when absent. */
export function localityFromAnnotations(text: string): Locality {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([^=]+)="((?:[^"\\]|\\.)*)"$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2].replace(/\\(.)/g, '$1'));
  }
  const label = (key: string): string => {
    const value = values.get(key) ?? '';
    return value.length > 0 && value.length <= localityLabelCharsMax ? value : 'default';
  };
  return { region: label('topology.kubernetes.io/region'), zone: label('topology.kubernetes.io/zone') };
}

function encodeReport(leases: readonly LeaseReport[]): Buffer {
  return Buffer.from(JSON.stringify({ leases }), 'utf8');
}

function decodeReport(bytes: Buffer): LeaseReport[] {
  if (bytes.byteLength === 0) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new KvError('PH_BAD_REQUEST', 'heartbeat report is not JSON');
  }
  const leases = (parsed as { leases?: unknown }).leases;
  if (!Array.isArray(leases) || leases.length > reportRangesMax) throw new KvError('PH_BAD_REQUEST', 'heartbeat report has no valid leases list');
  return leases.filter((lease): lease is LeaseReport => {
    const l = lease as Partial<LeaseReport>;
    return Number.isSafeInteger(l.rangeId) && Number.isSafeInteger(l.term) && typeof l.bytes === 'number' && Array.isArray(l.replicas);
  });
}

/** The driver's limits from the node's flags. */
export function driverLimitsOf(options: Pick<PlacementHostOptions, 'rebalanceConcurrency' | 'snapshotRateBytes' | 'deadNodeReplaceMs'>): DriverLimits {
  const planner: PlannerLimits = {
    concurrentMovesMax: options.rebalanceConcurrency,
    // Copies in flight at once: eight seconds' worth of the rate (one larger range may move alone),
    // so that the next copy is already planned, building its snapshot and waiting for its
    // tokens while the one before streams (a range of four seconds' worth, the bench's 64 MiB at
    // 16 MiB/s, moved alone with four: the bandwidth sat idle between copies). The driver's token
    // bucket, not this budget, keeps the copies at the rate.
    bytesInFlightMax: options.snapshotRateBytes * 8,
    deadAfterTicks: Math.ceil(options.deadNodeReplaceMs / placementTickMs),
  };
  return {
    planner,
    copyBytesPerSecondMax: options.snapshotRateBytes,
    copyBurstBytesMax: options.snapshotRateBytes,
    moveAttemptTimeoutMs: 60_000,
    moveAttemptsMax: 3,
    retryBackoffInitialMs: 500,
    retryBackoffMaxMs: 10_000,
    replanIntervalMs: 1000,
    failedTargetAvoidMs: 30_000,
    // A learner whose copy or promotion failed three moves in a row (each of moveAttemptsMax
    // attempts; a refused promotion fails in seconds) is removed and placed afresh.
    learnerFailedMovesMax: 3,
    // One suspect period plus a beat: every live node has beaten since the tracker started.
    startDelayMs: (defaultLivenessConfig.suspectAfterTicks + defaultLivenessConfig.heartbeatIntervalTicks) * placementTickMs,
  };
}

export class PlacementHost {
  private readonly fixedLocality: Locality | undefined;
  private readonly epoch: number;
  private readonly limits: DriverLimits;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private beating = false;
  private client: { key: string; client: KvClient } | undefined;
  /** On the meta leader: the latest report of each node. */
  private readonly reports = new Map<NodeId, ReceivedReport>();
  /** On the meta leader: each node's newest beat, and the last record this node proposed for it. */
  private readonly beats = new Map<NodeId, { latest: LivenessRecord; proposed: LivenessRecord | undefined; proposedAtMs: number }>();
  private tracker: LivenessState = emptyLivenessState;
  private lastSnapshot: ClusterSnapshot | undefined;
  private driver: { readonly abort: AbortController; readonly done: Promise<DriverProgress>; readonly instance: PlacementDriver } | undefined;
  /** Moves and bytes the drivers on this node completed (for status and tests). */
  movesSucceeded = 0;
  movesFailed = 0;
  bytesMoved = 0;

  constructor(private readonly options: PlacementHostOptions) {
    this.fixedLocality = options.locality === undefined ? undefined : parseLocality(options.locality);
    this.epoch = this.nextEpoch();
    this.limits = driverLimitsOf(options);
  }

  /** The liveness epoch grows at every start: a counter in the data directory. */
  private nextEpoch(): number {
    const file = path.join(this.options.dataDir, 'liveness-epoch');
    let previous: number;
    try {
      previous = Number(fs.readFileSync(file, 'utf8').trim());
    } catch {
      previous = 0;
    }
    const epoch = (Number.isSafeInteger(previous) && previous > 0 ? previous : 0) + 1;
    fs.writeFileSync(file, `${epoch}\n`);
    return epoch;
  }

  nowTicks(): number {
    return Math.floor(performance.now() / placementTickMs);
  }

  start(): void {
    this.heartbeatTimer = setInterval(() => void this.beat(), heartbeatMs);
    void this.beat();
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    await this.stopDriver('node stopping');
    this.client?.client.close();
    this.client = undefined;
    for (const client of this.rangeClients.values()) client.close();
    this.rangeClients.clear();
  }

  // ------------------------------------------------------------------ heartbeats (every node)

  private record(): LivenessRecord {
    let capacityBytes = 0;
    let usedBytes = 0;
    try {
      const stats = fs.statfsSync(this.options.dataDir);
      capacityBytes = stats.blocks * stats.bsize;
      usedBytes = Math.max(0, capacityBytes - stats.bavail * stats.bsize);
    } catch {
      // No disk figures: 0/0 (the planner then treats the disk as unknown-full; see below).
    }
    // A node with unknown capacity must still take replicas: report a large capacity.
    if (capacityBytes === 0) capacityBytes = Number.MAX_SAFE_INTEGER;
    return { nodeId: this.options.nodeId, epoch: this.epoch, heartbeatTicks: this.nowTicks(), locality: this.locality(), capacityBytes, usedBytes };
  }

  /** --locality, else the pod's topology annotations, else "default". */
  private locality(): Locality {
    if (this.fixedLocality !== undefined) return this.fixedLocality;
    if (this.options.topologyFile === undefined) return { region: 'default', zone: 'default' };
    try {
      return localityFromAnnotations(fs.readFileSync(this.options.topologyFile, 'utf8'));
    } catch {
      return { region: 'default', zone: 'default' };
    }
  }

  /** The ranges this node leads: term, an upper bound of their size, and their replicas. */
  leaseReport(): LeaseReport[] {
    const store = this.options.store();
    if (store === undefined) return [];
    return store.leaderReports().slice(0, reportRangesMax);
  }

  private async beat(): Promise<void> {
    if (this.beating || this.options.stopped()) return;
    const meta = this.options.store()?.meta();
    if (meta === undefined || !meta.serving || !meta.stateMachine.initialized) return;
    this.beating = true;
    try {
      const record = Buffer.from(encodeLivenessRecord(this.record()));
      const report = encodeReport(this.leaseReport());
      if (meta.role().role === 'leader') {
        await this.heartbeat(record, report, 3000);
        return;
      }
      // No member's KV address is known yet (just started): the next beat tries again.
      const client = this.clientFor(meta.role().leaderId);
      if (client !== undefined) await client.heartbeat(record, report);
    } catch (err) {
      this.options.log(`liveness heartbeat failed (retried): ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.beating = false;
    }
  }

  /** A KvClient to the meta leader first, then every other member (reused while the endpoints stay the same). */
  private clientFor(leaderId: NodeId): KvClient | undefined {
    const book = this.options.addressBook();
    const first = book.get(leaderId)?.kv ?? '';
    const others = [...book].filter(([id, address]) => id !== this.options.nodeId && address.kv !== '' && address.kv !== first).map(([, address]) => address.kv);
    const endpoints = [first, ...others].filter((endpoint) => endpoint !== '');
    const key = endpoints.join(',');
    if (this.client?.key !== key) {
      this.client?.client.close();
      this.client = undefined;
      if (endpoints.length === 0) return undefined;
      this.client = { key, client: new KvClient({ endpoints, clusterId: this.options.clusterId, deadlineMs: 3000, backoffMaxMs: 200 }) };
    }
    return this.client.client;
  }

  /** On the meta leader: records a node's liveness record and keeps its report. */
  async heartbeat(recordBytes: Buffer, reportBytes: Buffer, deadlineMs: number): Promise<void> {
    const meta = this.options.store()?.meta();
    if (meta === undefined) throw new KvError('PH_UNAVAILABLE', 'node is not serving');
    if (meta.role().role !== 'leader') throw meta.notLeader();
    let record: LivenessRecord;
    try {
      record = decodeLivenessRecord(recordBytes);
    } catch (err) {
      throw new KvError('PH_BAD_REQUEST', err instanceof Error ? err.message : String(err));
    }
    const now = performance.now();
    this.reports.set(record.nodeId, { atMs: now, leases: decodeReport(reportBytes) });
    const beat = this.beats.get(record.nodeId);
    if (beat !== undefined && !newerRecord(record, beat.latest)) return;
    if (beat !== undefined && !recordDue(beat.proposed, beat.proposedAtMs, record, now)) {
      beat.latest = record;
      return;
    }
    this.beats.set(record.nodeId, { latest: record, proposed: beat?.proposed, proposedAtMs: beat?.proposedAtMs ?? Number.NEGATIVE_INFINITY });
    // Every other node whose beat advanced since its last write rides along: proposed in the same
    // turn, the records share one Raft entry (one append and fsync per meta replica, not one per
    // node and interval), and their next writes come due together.
    let due: Promise<unknown> = Promise.resolve();
    for (const nodeId of livenessWriteBatch(this.beats, record.nodeId)) {
      const entry = this.beats.get(nodeId);
      if (entry === undefined) continue;
      const written = entry.latest;
      const value = nodeId === record.nodeId ? recordBytes : Buffer.from(encodeLivenessRecord(written));
      const previous = { proposed: entry.proposed, proposedAtMs: entry.proposedAtMs };
      // Marked before the proposal commits, so a beat arriving meanwhile does not write it again.
      entry.proposed = written;
      entry.proposedAtMs = now;
      const write = meta.propose({ op: 'meta-record', name: `liveness/${nodeId}`, value }, deadlineMs).catch((err: unknown) => {
        // Not written: due again at the node's next beat (unless a later write already went out).
        const current = this.beats.get(nodeId);
        if (current?.proposed === written) {
          current.proposed = previous.proposed;
          current.proposedAtMs = previous.proposedAtMs;
        }
        throw err;
      });
      if (nodeId === record.nodeId) due = write;
      else write.catch((err: unknown) => this.options.log(`liveness record of node ${nodeId} not written (retried at its next beat): ${err instanceof Error ? err.message : String(err)}`));
    }
    await due;
  }

  // ------------------------------------------------------------------ the cluster view (meta leader)

  /**
   * The liveness records (meta range, as applied here; corrupt ones are skipped and logged), each
   * replaced by a newer beat this node received as the meta leader (records are written only
   * every `livenessRecordMs`). A node without a record (never recorded, or decommissioned and
   * deleted) gets none from its beats.
   */
  private livenessRecords(): LivenessRecord[] {
    const recorded = this.options.store()?.livenessRecords((name, err) => this.options.log(`meta record ${name}: ${err instanceof Error ? err.message : String(err)}`)) ?? [];
    return withNewerBeats(recorded, this.beats.size === 0 ? new Map() : new Map([...this.beats].map(([id, beat]) => [id, beat.latest])));
  }

  /**
   * Node ids with the drain flag set (meta range records `draining/<id>` → the node's liveness
   * epoch when it was drained). A drain is for a restart: once the node restarted (a higher epoch
   * in its liveness record) it takes leases again.
   */
  drainingNodes(records: readonly LivenessRecord[] = this.livenessRecords()): Set<NodeId> {
    const metaSm = this.options.store()?.metaStateMachine();
    const epochs = new Map(records.map((record) => [record.nodeId, record.epoch]));
    const out = new Set<NodeId>();
    for (const [name, value] of metaSm?.metaRecords('draining/') ?? []) {
      const nodeId = Number(name.slice('draining/'.length));
      const drainedAtEpoch = Number(value.toString('utf8'));
      if ((epochs.get(nodeId) ?? 0) <= drainedAtEpoch) out.add(nodeId);
    }
    return out;
  }

  /** Sets (or clears) a node's drain flag in the meta range (meta leader only). */
  async setDraining(nodeId: NodeId, draining: boolean, deadlineMs: number): Promise<void> {
    const meta = this.options.store()?.meta();
    if (meta === undefined) throw new KvError('PH_UNAVAILABLE', 'node is not serving');
    const name = `draining/${nodeId}`;
    const present = meta.stateMachine.metaRecords(name).has(name);
    if (!draining && !present) return;
    const epoch = this.livenessRecords().find((record) => record.nodeId === nodeId)?.epoch ?? 0;
    if (draining && this.drainingNodes().has(nodeId)) return;
    await meta.propose({ op: 'meta-record', name, value: draining ? Buffer.from(String(epoch), 'utf8') : null }, deadlineMs);
    this.driver?.instance.replanNow();
  }

  /** Wakes the driver to plan now (rebalance now); false when this node runs none. */
  replanNow(): boolean {
    this.driver?.instance.replanNow();
    return this.driver !== undefined;
  }

  /** The planner's limits this node's driver uses. */
  plannerLimits(): PlannerLimits {
    return this.limits.planner;
  }

  /**
   * A snapshot of the cluster as this node (the meta leader) sees it; also folds the records into
   * the liveness tracker. Nodes: the meta range's members that are not removed; a member without a
   * record yet is `suspect` (never `dead` before its record was seen, so nothing moves because a
   * new node has not beaten yet). Ranges: the user ranges of the meta range's copies.
   */
  snapshotNow(): ClusterSnapshot {
    const store = this.options.store();
    const meta = store?.meta();
    const metaSm = store?.metaStateMachine();
    if (store === undefined || meta === undefined || metaSm === undefined || !metaSm.initialized) throw new KvError('PH_UNAVAILABLE', 'the meta range is not initialised here');
    const nowTicks = this.nowTicks();
    const records = this.livenessRecords();
    if (this.tracker.observedTicks === null || nowTicks >= this.tracker.observedTicks) this.tracker = observeLiveness(this.tracker, nowTicks, records, defaultLivenessConfig);
    const liveness = new Map(livenessOf(this.tracker, nowTicks, defaultLivenessConfig).map((node) => [node.nodeId, node]));
    const lifecycles = this.options.lifecycles();
    const draining = this.drainingNodes(records);
    const config = meta.status().config;
    const members = [...new Set([...config.voters, ...config.votersOutgoing, ...config.learners, ...config.learnersNext])].filter((id) => !lifecycles.removed.has(id));
    const nodes: NodeState[] = members.sort((a, b) => a - b).map((id) => {
      const flags = { draining: draining.has(id), decommissioning: lifecycles.decommissioning.has(id) };
      const known = liveness.get(id);
      if (known !== undefined) return toNodeState(known, flags);
      return { id, liveness: 'suspect', deadSinceTicks: nowTicks, ...flags, locality: { region: 'default', zone: 'default' }, capacityBytes: Number.MAX_SAFE_INTEGER, usedBytes: 0 };
    });
    const leases = this.freshLeases(store);
    const ranges: RangeState[] = [];
    for (const desc of metaSm.rangeDescriptors().values()) {
      if (desc.rangeId === metaRangeId) continue;
      const lease = leases.get(desc.rangeId);
      const replicas = desc.replicas.map((replica) => ({ nodeId: replica.nodeId, role: replica.voter ? ('voter' as const) : ('learner' as const) }));
      const leaseholder = lease !== undefined && replicas.some((r) => r.nodeId === lease.nodeId && r.role === 'voter') ? lease.nodeId : null;
      ranges.push({ id: desc.rangeId, bytes: Math.max(0, Math.round(lease?.bytes ?? 0)), replicas, leaseholder });
    }
    ranges.sort((a, b) => a.id - b.id);
    this.lastSnapshot = { nowTicks, replicationFactor: this.options.replicationFactor, nodes, ranges };
    return this.lastSnapshot;
  }

  /**
   * Per range: the leader with the highest term among fresh reports (and this node's own ranges);
   * a lease this node's driver moved since that report was received wins over it (reports are up
   * to a beat old: planning on the old holder would move the lease back and forth).
   */
  private freshLeases(store: Store): Map<number, { nodeId: NodeId; term: number; bytes: number }> {
    const now = performance.now();
    const out = new Map<number, { nodeId: NodeId; term: number; bytes: number; atMs: number }>();
    const consider = (nodeId: NodeId, lease: LeaseReport, atMs: number): void => {
      const known = out.get(lease.rangeId);
      if (known === undefined || lease.term > known.term) out.set(lease.rangeId, { nodeId, term: lease.term, bytes: lease.bytes, atMs });
    };
    for (const [nodeId, report] of this.reports) {
      if (now - report.atMs > reportFreshMs || nodeId === this.options.nodeId) continue;
      for (const lease of report.leases) consider(nodeId, lease, report.atMs);
    }
    for (const lease of store.leaderReports()) consider(this.options.nodeId, lease, now);
    for (const [rangeId, moved] of this.leaseMoves) {
      if (now - moved.atMs > reportFreshMs) {
        this.leaseMoves.delete(rangeId);
        continue;
      }
      const known = out.get(rangeId);
      // Only a leader of a later term than the one the lease moved from supersedes the move.
      if (known === undefined || known.term <= moved.termAtMove) out.set(rangeId, { nodeId: moved.nodeId, term: moved.termAtMove, bytes: known?.bytes ?? 0, atMs: moved.atMs });
    }
    return out;
  }

  /** Leases this node's driver moved, by range, until reports received after the move show the holder. */
  private readonly leaseMoves = new Map<number, { nodeId: NodeId; atMs: number; termAtMove: number }>();

  /** The leader this node knows for `rangeId` (own replica, then fresh reports), or 0. */
  leaderOf(rangeId: number): NodeId {
    const store = this.options.store();
    if (store === undefined) return 0;
    const local = store.replica(rangeId);
    if (local?.serving === true && local.role().leaderId !== 0) return local.role().leaderId;
    return this.freshLeases(store).get(rangeId)?.nodeId ?? 0;
  }

  // ------------------------------------------------------------------ the range admin

  private rangeAdmin(): RangeAdmin {
    const call = (rangeId: number, op: string, nodeId: NodeId, signal: AbortSignal): Promise<boolean> => this.changeReplicas(rangeId, op, nodeId, signal);
    const changed = async (rangeId: number, op: string, nodeId: NodeId, signal: AbortSignal): Promise<void> => {
      await call(rangeId, op, nodeId, signal);
      await this.recordReplicaChange(rangeId, op, nodeId);
    };
    return {
      addLearner: (rangeId, nodeId, signal) => changed(rangeId, 'add-learner', nodeId, signal),
      waitLearnerCaughtUp: async (rangeId, nodeId, signal) => {
        while (!(await call(rangeId, 'caught-up', nodeId, signal))) await systemClock.sleep(caughtUpPollMs, signal);
      },
      promoteLearner: (rangeId, nodeId, signal) => changed(rangeId, 'promote', nodeId, signal),
      demoteVoter: (rangeId, nodeId, signal) => changed(rangeId, 'demote', nodeId, signal),
      removeLearner: (rangeId, nodeId, signal) => changed(rangeId, 'remove', nodeId, signal),
      transferLease: async (rangeId, nodeId, signal) => {
        if (!(await call(rangeId, 'transfer-lease', nodeId, signal))) throw new KvError('PH_UNAVAILABLE', `range ${rangeId}: the lease did not move to node ${nodeId} in time`);
        const store = this.options.store();
        const termAtMove = store === undefined ? 0 : (this.freshLeases(store).get(rangeId)?.term ?? 0);
        this.leaseMoves.set(rangeId, { nodeId, atMs: performance.now(), termAtMove });
      },
    };
  }

  /** Runs one change at the range's leader: here when it leads, else through its KV address (then the other replicas'). */
  private async changeReplicas(rangeId: number, op: string, nodeId: NodeId, signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    const store = this.options.store();
    if (store === undefined) throw new KvError('PH_UNAVAILABLE', 'node is not serving');
    const leaderId = this.leaderOf(rangeId);
    if (leaderId === this.options.nodeId) return store.changeReplicas(rangeId, op, nodeId, rangeCallDeadlineMs);
    const book = this.options.addressBook();
    const replicas = store.metaStateMachine()?.rangeDescriptors().get(rangeId)?.replicas ?? [];
    const endpoints = [...new Set([leaderId, ...replicas.map((r) => r.nodeId)])]
      .map((id) => book.get(id)?.kv ?? '')
      .filter((endpoint) => endpoint !== '');
    if (endpoints.length === 0) throw new KvError('PH_UNAVAILABLE', `range ${rangeId}: no replica with a known KV address`);
    const call = this.rangeClient(endpoints).changeReplicas(rangeId, op, nodeId);
    // An aborted move stops waiting at once; the call itself ends within its deadline.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([call, aborted]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      call.catch(() => undefined);
      aborted.catch(() => undefined);
    }
  }

  /**
   * Clients for the RangeAdmin's node-to-node calls, one per set of endpoints (a range's replicas),
   * kept across calls: the driver polls "caught up?" every caughtUpPollMs for each copy, and a
   * client per call opened a new connection to the range's leader every time. A kept client also
   * remembers the leader it was redirected to. At most rangeClientsMax, the oldest closed first.
   */
  private readonly rangeClients = new Map<string, KvClient>();

  private rangeClient(endpoints: readonly string[]): KvClient {
    const key = [...endpoints].sort().join(',');
    const known = this.rangeClients.get(key);
    if (known !== undefined) return known;
    const client = new KvClient({ endpoints: [...endpoints], clusterId: this.options.clusterId, deadlineMs: rangeCallDeadlineMs, backoffMaxMs: 200 });
    this.rangeClients.set(key, client);
    if (this.rangeClients.size > rangeClientsMax) {
      const [oldestKey, oldest] = this.rangeClients.entries().next().value ?? [];
      if (oldestKey !== undefined) this.rangeClients.delete(oldestKey);
      oldest?.close();
    }
    return client;
  }

  /**
   * Updates the meta range's copy of the range's descriptor with the replica set after a change
   * (the range's leader reports it too, within a maintenance pass; this makes the next snapshot
   * show it at once). Same generation: a copy of a newer generation is never replaced.
   */
  private async recordReplicaChange(rangeId: number, op: string, nodeId: NodeId): Promise<void> {
    const meta = this.options.store()?.meta();
    const copy = meta?.stateMachine.rangeDescriptors().get(rangeId);
    if (meta === undefined || copy === undefined || meta.role().role !== 'leader') return;
    const others = copy.replicas.filter((replica) => replica.nodeId !== nodeId);
    let replicas: ReplicaDescriptor[];
    switch (op) {
      case 'add-learner':
        replicas = copy.replicas.some((replica) => replica.nodeId === nodeId) ? [...copy.replicas] : [...copy.replicas, { nodeId, voter: false }];
        break;
      case 'promote':
        replicas = [...others, { nodeId, voter: true }];
        break;
      case 'demote':
        replicas = [...others, { nodeId, voter: false }];
        break;
      case 'remove':
        replicas = others;
        break;
      default:
        return;
    }
    const updated: RangeDescriptor = { ...copy, replicas };
    await meta.propose({ op: 'meta-descriptors', descriptors: [updated] }, 5000).catch((err: unknown) => {
      this.options.log(`range ${rangeId}: could not record the new replica set (the range's leader reports it): ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  // ------------------------------------------------------------------ the driver (meta leader)

  /** Starts or stops the driver with the meta range's leadership (the node calls it on role changes). */
  onMetaRole(isLeader: boolean): void {
    if (isLeader && this.driver === undefined && !this.options.stopped()) this.startDriver();
    if (!isLeader) void this.stopDriver('no longer the meta range leader');
  }

  private startDriver(): void {
    const view: ClusterView = { snapshot: (signal) => (signal.aborted ? Promise.reject(signal.reason as Error) : Promise.resolve(this.snapshotNow())) };
    const instance = new PlacementDriver({ view, admin: this.rangeAdmin(), clock: systemClock, limits: this.limits, onEvent: (event) => this.onDriverEvent(event), ...(this.options.copyRateShare === undefined ? {} : { copyRateShare: this.options.copyRateShare }) });
    const abort = new AbortController();
    // A new leader's tracker starts afresh: records seen once are suspect until they advance.
    this.tracker = emptyLivenessState;
    this.trackerSinceTicks = this.nowTicks();
    this.options.log('placement driver starting (this node leads the meta range)');
    const done = instance.run(abort.signal);
    this.driver = { abort, done, instance };
  }

  /** When this node's driver (and its fresh liveness tracker) started, in liveness ticks. */
  private trackerSinceTicks: number | undefined;

  /**
   * Whether this node's liveness view is too young to call a node anything but suspect: a new
   * meta leader's tracker confirms a node only once its record advances (within a heartbeat
   * interval), so for a moment after a leadership change every other node looks suspect.
   */
  livenessWarmingUp(): boolean {
    if (this.driver === undefined || this.trackerSinceTicks === undefined) return false;
    return this.nowTicks() - this.trackerSinceTicks < defaultLivenessConfig.suspectAfterTicks + defaultLivenessConfig.heartbeatIntervalTicks;
  }

  private async stopDriver(reason: string): Promise<void> {
    const driver = this.driver;
    if (driver === undefined) return;
    this.driver = undefined;
    driver.abort.abort(new KvError('PH_NOT_LEADER', reason));
    const progress = await driver.done.catch(() => undefined);
    this.options.log(`placement driver stopped (${reason})${progress === undefined ? '' : `: ${progress.succeeded} moves done, ${progress.failed} failed`}`);
  }

  /** Each node's liveness, flags and replica/lease counts in the last snapshot (for logs). */
  private describeSnapshot(): string {
    const snapshot = this.lastSnapshot;
    if (snapshot === undefined) return 'no snapshot';
    return snapshot.nodes
      .map((node) => {
        const replicas = snapshot.ranges.filter((range) => range.replicas.some((replica) => replica.nodeId === node.id)).length;
        const leases = snapshot.ranges.filter((range) => range.leaseholder === node.id).length;
        return `node ${node.id} ${node.liveness}${node.decommissioning ? ' decommissioning' : ''}${node.draining ? ' draining' : ''} ${node.locality.zone}: ${replicas} replicas, ${leases} leases`;
      })
      .join('; ');
  }

  /** The running driver's progress (undefined when this node does not run one). */
  driverProgress(): DriverProgress | undefined {
    return this.driver?.instance.progress();
  }

  /** Ranges whose AddLearner move this node's driver has started and not yet settled (metrics). */
  private readonly copiesRunning = new Set<number>();

  /** Keeps phantomdb_rebalance_copies_in_flight at the copies this node's driver is running. */
  private trackCopies(event: DriverEvent): void {
    const before = this.copiesRunning.size;
    switch (event.kind) {
      case 'move-started':
        if (event.move.kind === 'AddLearner') this.copiesRunning.add(event.move.rangeId);
        break;
      case 'move-succeeded':
      case 'move-failed':
      case 'move-dropped':
        if (event.move.kind === 'AddLearner') this.copiesRunning.delete(event.move.rangeId);
        break;
      case 'stopped':
        this.copiesRunning.clear();
        break;
      default:
        return;
    }
    if (this.copiesRunning.size !== before || event.kind === 'move-started') this.options.events?.rebalanceCopiesInFlight(this.copiesRunning.size);
  }

  private onDriverEvent(event: DriverEvent): void {
    this.trackCopies(event);
    const describe = (move: { kind: string; rangeId: number; nodeId?: number; toNodeId?: number }): string => `${move.kind} range ${move.rangeId} node ${move.nodeId ?? move.toNodeId}`;
    switch (event.kind) {
      case 'planned':
        this.options.log(`placement: planned ${event.moves.map(describe).join('; ')}`);
        return;
      case 'move-succeeded': {
        this.movesSucceeded++;
        const bytes = event.move.kind === 'AddLearner' ? event.move.bytes : 0;
        this.bytesMoved += bytes;
        this.options.events?.rebalanceMoveFinished('succeeded', bytes);
        this.options.log(`placement: ${describe(event.move)} done (${event.durationMs.toFixed(0)} ms)`);
        return;
      }
      case 'move-failed':
        if (event.retryInMs === null) {
          this.movesFailed++;
          this.options.events?.rebalanceMoveFinished('failed', 0);
        }
        this.options.log(`placement: ${describe(event.move)} attempt ${event.attempt} failed: ${event.error instanceof Error ? event.error.message : String(event.error)}`);
        return;
      case 'move-dropped':
        this.options.log(`placement: ${describe(event.move)} dropped: ${event.why}`);
        return;
      case 'quiet':
        this.options.log(`placement: quiet; ${this.describeSnapshot()}${event.unavailableRangeIds.length > 0 ? ` (unavailable ranges ${event.unavailableRangeIds.join(',')})` : ''}${event.stalledRangeIds.length > 0 ? ` (stalled ranges ${event.stalledRangeIds.join(',')})` : ''}`);
        return;
      case 'snapshot-failed':
        this.options.log(`placement: cluster snapshot failed: ${event.error instanceof Error ? event.error.message : String(event.error)}`);
        return;
      case 'move-started':
        // Copies only: when one starts (its tokens taken) tells where a rebalance spends its time.
        if (event.move.kind === 'AddLearner') this.options.log(`placement: ${describe(event.move)} started (attempt ${event.attempt}, ${event.move.bytes} bytes)`);
        return;
      case 'learner-abandoned':
        this.options.log(
          event.removed
            ? `placement: gave up on the learner on node ${event.nodeId} of range ${event.rangeId} after ${event.failedMoves} failed moves (last: ${describeError(event.error)}); removed it, node ${event.nodeId} gets no new replica for ${this.limits.failedTargetAvoidMs / 1000} s, the range is re-planned`
            : `placement: giving up on the learner on node ${event.nodeId} of range ${event.rangeId} after ${event.failedMoves} failed moves (last: ${describeError(event.error)}), but removing it failed (${describeError(event.removeError)}); retried after its next failed move`,
        );
        return;
      case 'target-avoided':
      case 'stopped':
        return;
      default:
        return;
    }
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether `a` is a newer beat than `b` of the same node: a higher epoch, or the same epoch and more ticks. */
export function newerRecord(a: LivenessRecord, b: LivenessRecord): boolean {
  return a.epoch !== b.epoch ? a.epoch > b.epoch : a.heartbeatTicks > b.heartbeatTicks;
}

/**
 * Whether the meta leader writes `record` to the meta range now: nothing was written for the node
 * yet, `livenessRecordMs` passed since the last write, or what the placement reads besides the
 * beat itself changed (epoch: a restart; locality; capacity). Disk use is refreshed with the beats.
 */
export function recordDue(proposed: LivenessRecord | undefined, proposedAtMs: number, record: LivenessRecord, nowMs: number): boolean {
  if (proposed === undefined || nowMs - proposedAtMs >= livenessRecordMs) return true;
  return proposed.epoch !== record.epoch || proposed.capacityBytes !== record.capacityBytes || proposed.locality.region !== record.locality.region || proposed.locality.zone !== record.locality.zone;
}

/**
 * The nodes whose liveness records the meta leader writes when `dueNodeId`'s record is due: that
 * node first, then every other node whose newest beat is newer than the record last written for
 * it (or that has none). Written together, they take one Raft entry instead of one per node, and
 * come due together next time: with N nodes, one meta entry per livenessRecordMs instead of N.
 */
export function livenessWriteBatch(beats: ReadonlyMap<NodeId, { readonly latest: LivenessRecord; readonly proposed: LivenessRecord | undefined }>, dueNodeId: NodeId): NodeId[] {
  const out = [dueNodeId];
  for (const [nodeId, beat] of beats) {
    if (nodeId !== dueNodeId && (beat.proposed === undefined || newerRecord(beat.latest, beat.proposed))) out.push(nodeId);
  }
  return out;
}

/** `recorded` with each record replaced by the node's beat in `beats` when that is newer (nodes without a record get none). */
export function withNewerBeats(recorded: readonly LivenessRecord[], beats: ReadonlyMap<NodeId, LivenessRecord>): LivenessRecord[] {
  if (beats.size === 0) return [...recorded];
  return recorded.map((record) => {
    const beat = beats.get(record.nodeId);
    return beat !== undefined && newerRecord(beat, record) ? beat : record;
  });
}
