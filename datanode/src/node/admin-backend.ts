/**
 * The node's `AdminBackend` (datanode/src/admin): membership and leadership of the node's one
 * Raft group, as the leader sees them. Served on the KV gRPC server (--kv-listen) next to the
 * KV API, so an admin client's PH_NOT_LEADER redirect names the same address a KV client uses.
 *
 * Decommission is a level-triggered sequence of small steps that the leader re-derives from the
 * replicated lifecycle records and the Raft configuration on every pass (`advanceDecommissions`),
 * so a new leader resumes it where the old one stopped:
 *   1. the node is recorded 'decommissioning' (replicated); it is no longer promoted;
 *   2. if it leads, leadership moves to another voter;
 *   3. a voter is demoted to learner (one configuration change);
 *   4. it is recorded 'removed' (final: the id is never reused); the learner still receives
 *      the log, applies the record and shuts its replica down;
 *   5. it is removed from the configuration.
 * Recommission cancels steps 1–3 (a demoted learner is promoted again once caught up).
 */
import type { AdminBackend, FinalizeResult, RebalancePlanInfo, RangeInfo, ClusterStatus, DecommissionProgress, DrainProgress, LivenessState, Member, MembershipState, NodeInfo, NodeStatus, RaftRoleName } from '../admin/backend.ts';
import type { BackupDestinationSpec, BackupProgressReport, BackupRangeSpec, BackupRangeUpdate, BackupSpec, ExportChunk, ExportRangeSpec } from '../admin/backend.ts';
import { S3BackupStore, VolumeBackupStore, s3StoreConfig } from '../backup/store.ts';
import { AdminError, NotLeaderError } from '../admin/errors.ts';
import { assert } from '../assert.ts';
import type { MemberAddress } from '../kv/command.ts';
import { KvError, NotLeaderError as KvNotLeaderError } from '../kv/errors.ts';
import type { MemberLifecycles } from '../kv/state-machine.ts';
import type { RaftStatus } from '../raft/raft.ts';
import type { ConfState, NodeId } from '../raft/types.ts';
import { metaRangeId, type RangeDescriptor, type ReplicaDescriptor } from '../kv/descriptor.ts';
import { checkDecommission } from '../placement/planner.ts';
import type { ClusterSnapshot, PlannerLimits } from '../placement/model.ts';
import { balanceStatus, decommissionProgress, defaultRebalancePlanOptions, rebalancePlan } from '../placement/progress.ts';
import { driverLimitsOf, placementTickMs, type PlacementHost } from './placement-host.ts';
import type { Replica } from './replica.ts';
import type { Store } from './store.ts';
import { cannotRun, compareVersions, formatVersion, isVersion, parseVersion, type BinaryVersion } from '../version/version.ts';
import type { BackupCoordinator } from './backup-coordinator.ts';

/** What the admin backend needs from the node. */
export interface AdminHost {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly replicationFactor: number;
  /** A peer not heard from for longer is SUSPECT; for three times longer, DEAD. */
  readonly livenessTimeoutMs: number;
  readonly version: string;
  /** The serving replica; throws PH_UNAVAILABLE (starting, stopping, removed). */
  replica(): Replica;
  /** The replica, even when not serving (undefined before start). */
  replicaIfStarted(): Replica | undefined;
  /** The node's range replicas (undefined before start). */
  store?(): Store | undefined;
  /** Liveness and the placement driver (undefined before start). */
  placement?(): PlacementHost | undefined;
  addressBook(): ReadonlyMap<NodeId, MemberAddress>;
  lifecycles(): MemberLifecycles;
  appliedIndex(): number;
  log(line: string): void;
  /** This node's binary version and the oldest cluster version it runs (absent: not reported). */
  readonly binary?: BinaryVersion;
  /** The cluster version as of the meta range's applied index (undefined before it has one). */
  clusterVersion?(): string | undefined;
  /** A peer's binary version as learned from its transport handshake (undefined: not known). */
  peerVersion?(nodeId: NodeId): BinaryVersion | undefined;
  /** Backups this node coordinates and range exports it serves (absent: not supported). */
  backups?(): BackupCoordinator | undefined;
}

/** One range as the admin API reports it. */
export interface RangeSummary {
  readonly rangeId: number;
  /** undefined: the range's span is not known here (the meta range's own record). */
  readonly descriptor: RangeDescriptor | undefined;
  readonly config: ConfState;
  /** The leader this node knows of (0: none, or no replica here). */
  readonly leaderId: NodeId;
}

function simpleConfOf(replicas: readonly ReplicaDescriptor[]): ConfState {
  return { voters: replicas.filter((r) => r.voter).map((r) => r.nodeId), votersOutgoing: [], learners: replicas.filter((r) => !r.voter).map((r) => r.nodeId), learnersNext: [], autoLeave: false };
}

/** Liveness from the liveness records is re-read when older than this. */
const recordedLivenessFreshMs = 500;
/** A learner within this many entries of the leader's last index counts as caught up. */
const caughtUpLagEntriesMax = 64;
/** How long step 5 waits at most for a removed learner to receive its removal record, and at least. */
const removalNoticeWaitMs = 3000;
const removalNoticeMinMs = 500;

function majority(count: number): number {
  return Math.floor(count / 2) + 1;
}

function isMember(config: ConfState, id: NodeId): boolean {
  return config.voters.includes(id) || config.votersOutgoing.includes(id) || config.learners.includes(id) || config.learnersNext.includes(id);
}

function isVoter(config: ConfState, id: NodeId): boolean {
  return config.voters.includes(id) || config.votersOutgoing.includes(id);
}

function allVoters(config: ConfState): NodeId[] {
  return [...new Set([...config.voters, ...config.votersOutgoing])];
}

/** Maps the replica's KV errors to the admin API's codes (both are expected failures). */
function adminErrorOf(err: unknown, addressOf: (id: NodeId) => string, confChange: boolean): unknown {
  if (!(err instanceof KvError)) return err;
  switch (err.code) {
    case 'PH_NOT_LEADER': {
      const leaderId = err instanceof KvNotLeaderError ? err.leaderId : 0;
      return new NotLeaderError(leaderId, leaderId === 0 ? '' : addressOf(leaderId));
    }
    case 'PH_UNAVAILABLE':
      return new AdminError(confChange ? 'PH_MEMBERSHIP_CHANGE_IN_PROGRESS' : 'PH_UNAVAILABLE', err.message);
    case 'PH_DEADLINE_EXCEEDED':
    case 'PH_OUTCOME_UNKNOWN':
      return new AdminError('PH_DEADLINE_EXCEEDED', err.message);
    case 'PH_PROPOSAL_DROPPED':
    case 'PH_OVERLOADED':
    case 'PH_RANGE_MISMATCH':
      return new AdminError('PH_UNAVAILABLE', err.message);
    case 'PH_BAD_REQUEST':
    case 'PH_TOO_LARGE':
    case 'PH_JOIN_REFUSED':
    case 'PH_CLUSTER_VERSION_UNSUPPORTED':
      return new AdminError('PH_BAD_REQUEST', err.message);
    case 'PH_WRONG_CLUSTER':
      return new AdminError('PH_WRONG_CLUSTER', err.message);
    case 'PH_FEATURE_NOT_FINALIZED':
      return new AdminError('PH_FEATURE_NOT_FINALIZED', err.message);
  }
}

export class NodeAdmin implements AdminBackend {
  readonly clusterId: string;
  /** When the 'removed' record of a still-configured learner was first seen (step 5's wait). */
  private readonly removalSeenMs = new Map<NodeId, number>();
  private stepping = false;

  constructor(private readonly host: AdminHost) {
    this.clusterId = host.clusterId;
  }

  private kvAddressOf(id: NodeId): string {
    return this.host.addressBook().get(id)?.kv ?? '';
  }

  /** The replica, on the leader only (NotLeaderError with the leader's admin address elsewhere). */
  private leaderReplica(): Replica {
    let replica: Replica;
    try {
      replica = this.host.replica();
    } catch (err) {
      throw adminErrorOf(err, (id) => this.kvAddressOf(id), false);
    }
    const { role, leaderId } = replica.role();
    if (role !== 'leader') throw new NotLeaderError(leaderId, leaderId === 0 ? '' : this.kvAddressOf(leaderId));
    return replica;
  }

  private async guard<T>(confChange: boolean, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw adminErrorOf(err, (id) => this.kvAddressOf(id), confChange);
    }
  }

  // ------------------------------------------------------------------ views

  nodeInfo(): Promise<NodeInfo> {
    const replica = this.host.replicaIfStarted();
    const config = replica?.status().config;
    const address = this.host.addressBook().get(this.host.nodeId)?.raft ?? '';
    return Promise.resolve({
      nodeId: this.host.nodeId,
      clusterId: this.clusterId,
      address,
      initialized: config !== undefined && isMember(config, this.host.nodeId),
      leaderId: replica?.serving === true ? replica.role().leaderId : 0,
      version: this.host.version,
      locality: '',
      clusterVersionMin: this.host.binary?.clusterVersionMin ?? '',
      clusterVersion: this.host.clusterVersion?.() ?? '',
    });
  }

  /** This node has its id already: the same id again is a no-op, another one is refused. */
  assignIdentity(nodeId: number): Promise<NodeInfo> {
    if (nodeId !== this.host.nodeId) return Promise.reject(new AdminError('PH_IDENTITY_CONFLICT', `this node is node ${this.host.nodeId}; it cannot become node ${nodeId}`));
    return this.nodeInfo();
  }

  private membershipOf(config: ConfState, id: NodeId): MembershipState {
    const lifecycles = this.host.lifecycles();
    if (lifecycles.removed.has(id) && !isMember(config, id)) return 'DECOMMISSIONED';
    if (lifecycles.removed.has(id) || lifecycles.decommissioning.has(id)) return 'DECOMMISSIONING';
    return isVoter(config, id) ? 'VOTER' : 'LEARNER';
  }

  private livenessOf(replica: Replica, id: NodeId): LivenessState {
    if (id === this.host.nodeId) return 'LIVE';
    const since = replica.sinceHeardMs(id);
    const heard: LivenessState = since <= this.host.livenessTimeoutMs ? 'LIVE' : since <= 3 * this.host.livenessTimeoutMs ? 'SUSPECT' : 'DEAD';
    // The worse of what the meta range's Raft heartbeats and the liveness records say; not the
    // records while this node's tracker is new (a meta leader elected a moment ago sees every
    // node as suspect until its record advances: that is its short memory, not the node).
    if (this.host.placement?.()?.livenessWarmingUp() === true) return heard;
    if (performance.now() - this.recordedAtMs > recordedLivenessFreshMs) this.refreshRecordedLiveness(this.placementSnapshot());
    const recorded = this.recordedLiveness.get(id);
    const rank: Record<LivenessState, number> = { LIVE: 0, SUSPECT: 1, DEAD: 2 };
    return recorded !== undefined && rank[recorded] > rank[heard] ? recorded : heard;
  }

  /** The placement snapshot (meta leader), or undefined when it cannot be taken here. */
  private placementSnapshot(): ClusterSnapshot | undefined {
    try {
      return this.host.placement?.()?.snapshotNow();
    } catch {
      return undefined;
    }
  }

  /** Liveness from the liveness records, refreshed by clusterStatus (meta leader). */
  private recordedLiveness = new Map<NodeId, LivenessState>();
  private recordedLocality = new Map<NodeId, string>();

  private recordedAtMs = Number.NEGATIVE_INFINITY;

  private refreshRecordedLiveness(snapshot: ClusterSnapshot | undefined): void {
    this.recordedAtMs = performance.now();
    this.recordedLiveness = new Map((snapshot?.nodes ?? []).map((node) => [node.id, node.liveness === 'live' ? 'LIVE' : node.liveness === 'suspect' ? 'SUSPECT' : 'DEAD']));
    this.recordedLocality = new Map((snapshot?.nodes ?? []).map((node) => [node.id, `region=${node.locality.region},zone=${node.locality.zone}`]));
  }

  private caughtUp(status: RaftStatus, id: NodeId): boolean {
    if (id === this.host.nodeId) return true;
    const progress = status.progress.get(id);
    return progress !== undefined && progress.recentActive && status.lastIndex - progress.match <= caughtUpLagEntriesMax;
  }

  /** Voters that are LIVE and not being decommissioned: the replicas that count towards the factor. */
  private healthyVoters(replica: Replica, status: RaftStatus, excluding: ReadonlySet<NodeId> = new Set()): NodeId[] {
    const lifecycles = this.host.lifecycles();
    return allVoters(status.config).filter((id) => !excluding.has(id) && !lifecycles.decommissioning.has(id) && !lifecycles.removed.has(id) && this.livenessOf(replica, id) === 'LIVE');
  }

  private nodeStatus(replica: Replica, status: RaftStatus, id: NodeId): NodeStatus {
    const book = this.host.addressBook();
    const member = isMember(status.config, id);
    const role: RaftRoleName = id === status.id ? 'LEADER' : isVoter(status.config, id) ? 'FOLLOWER' : 'LEARNER_ROLE';
    const match = id === status.id ? status.lastIndex : (status.progress.get(id)?.match ?? 0);
    return {
      nodeId: id,
      address: book.get(id)?.raft ?? '',
      membership: this.membershipOf(status.config, id),
      liveness: member ? this.livenessOf(replica, id) : 'DEAD',
      // A peer's applied index is not reported to the leader: the committed part of its log
      // (min(match, commit)) is the known lower bound.
      raft: member
        ? { role, term: BigInt(status.term), matchIndex: BigInt(match), appliedIndex: BigInt(id === status.id ? this.host.appliedIndex() : Math.min(match, status.commit)), caughtUp: this.caughtUp(status, id) }
        : undefined,
      replicas: member ? 1 : 0,
      leases: id === status.leaderId ? 1 : 0,
      version: this.binaryOf(id)?.version ?? '',
      locality: this.recordedLocality.get(id) ?? '',
      clusterVersionMin: this.binaryOf(id)?.clusterVersionMin ?? '',
    };
  }

  /**
   * Every range this node knows (its replicas and the meta range's descriptor copies) with its
   * configuration as seen here, and per node the replicas and leaderships it holds.
   */
  rangeSummaries(replica: Replica): RangeSummary[] {
    const store = this.host.store?.();
    const status = replica.status();
    const own: RangeSummary = { rangeId: status.groupId, descriptor: undefined, config: status.config, leaderId: status.leaderId };
    if (store === undefined) return [own];
    const out: RangeSummary[] = [];
    const known = store.knownRanges();
    const ids = new Set<number>([...known.keys(), ...store.allReplicas().map((r) => r.groupId)]);
    for (const id of [...ids].sort((a, b) => a - b)) {
      const local = store.replica(id);
      const desc = known.get(id) ?? local?.stateMachine.descriptor();
      if (local !== undefined && !local.stateMachine.initialized && desc === undefined) continue;
      // A replica here that leads the range knows its configuration best; a follower's may be
      // stale (a removal that never reached it), so the meta range's copy is used then.
      const leads = local?.serving === true && local.stateMachine.initialized && local.role().role === 'leader';
      const config: ConfState = leads || (local?.stateMachine.initialized === true && known.get(id) === undefined) ? local.status().config : simpleConfOf(desc?.replicas ?? []);
      const leaderId = this.host.placement?.()?.leaderOf(id) ?? (local?.serving === true ? local.role().leaderId : 0);
      out.push({ rangeId: id, descriptor: desc, config, leaderId });
    }
    return out;
  }

  /** A range is under-replicated with fewer healthy voters than the factor, unavailable without a LIVE majority. */
  private rangeHealth(replica: Replica, config: ConfState): { underReplicated: boolean; unavailable: boolean } {
    const lifecycles = this.host.lifecycles();
    const voters = allVoters(config);
    const live = voters.filter((id) => this.livenessOf(replica, id) === 'LIVE');
    const healthy = live.filter((id) => !lifecycles.decommissioning.has(id) && !lifecycles.removed.has(id));
    return { underReplicated: healthy.length < this.host.replicationFactor, unavailable: live.length < majority(voters.length) };
  }

  clusterStatus(): Promise<ClusterStatus> {
    const replica = this.leaderReplica();
    this.refreshRecordedLiveness(this.placementSnapshot());
    const status = replica.status();
    const config = status.config;
    const ids = new Set<NodeId>([...config.voters, ...config.votersOutgoing, ...config.learners, ...config.learnersNext, ...this.host.lifecycles().removed]);
    const ranges = this.rangeSummaries(replica);
    const replicaCounts = new Map<NodeId, number>();
    const leaseCounts = new Map<NodeId, number>();
    let underReplicated = 0;
    let unavailable = 0;
    for (const range of ranges) {
      for (const id of new Set([...allVoters(range.config), ...range.config.learners, ...range.config.learnersNext])) replicaCounts.set(id, (replicaCounts.get(id) ?? 0) + 1);
      if (range.leaderId !== 0) leaseCounts.set(range.leaderId, (leaseCounts.get(range.leaderId) ?? 0) + 1);
      const health = this.rangeHealth(replica, range.config);
      if (health.underReplicated) underReplicated++;
      if (health.unavailable) unavailable++;
    }
    const nodes = [...ids].sort((a, b) => a - b).map((id) => ({ ...this.nodeStatus(replica, status, id), replicas: replicaCounts.get(id) ?? 0, leases: leaseCounts.get(id) ?? 0 }));
    return Promise.resolve({
      clusterId: this.clusterId,
      leaderId: status.leaderId,
      nodes,
      groups: ranges.length,
      ranges: Math.max(1, ranges.filter((range) => range.rangeId !== metaRangeId).length),
      underReplicatedRanges: underReplicated,
      unavailableRanges: unavailable,
      replicationFactor: this.host.replicationFactor,
      highestNodeId: Math.max(0, ...ids, ...this.host.addressBook().keys(), ...this.host.lifecycles().decommissioning),
      clusterVersion: this.host.clusterVersion?.() ?? '',
    });
  }

  rangeList(): Promise<readonly RangeInfo[]> {
    const replica = this.leaderReplica();
    return Promise.resolve(
      this.rangeSummaries(replica).map((range) => {
        const health = this.rangeHealth(replica, range.config);
        const meta = range.rangeId === metaRangeId;
        return {
          rangeId: range.rangeId,
          startKey: meta ? Buffer.alloc(0) : (range.descriptor?.startKey ?? Buffer.alloc(0)),
          endKey: meta ? Buffer.alloc(0) : (range.descriptor?.endKey ?? Buffer.alloc(0)),
          meta,
          generation: range.descriptor?.generation ?? 0,
          replicas: [...allVoters(range.config).map((nodeId) => ({ nodeId, voter: true })), ...range.config.learners.map((nodeId) => ({ nodeId, voter: false }))],
          leaderId: range.leaderId,
          underReplicated: health.underReplicated,
          unavailable: health.unavailable,
        };
      }),
    );
  }

  private members(replica: Replica): Member[] {
    const status = replica.status();
    const config = status.config;
    const ids = [...new Set([...config.voters, ...config.votersOutgoing, ...config.learners, ...config.learnersNext])].sort((a, b) => a - b);
    const book = this.host.addressBook();
    return ids.map((id) => ({ nodeId: id, address: book.get(id)?.raft ?? '', membership: this.membershipOf(config, id) }));
  }

  // ------------------------------------------------------------------ membership

  async addLearner(nodeId: number, address: string, deadlineMs: number): Promise<readonly Member[]> {
    const replica = this.leaderReplica();
    if (this.host.lifecycles().removed.has(nodeId)) throw new AdminError('PH_BAD_REQUEST', `node id ${nodeId} was removed from the cluster; node ids are never reused`);
    const known = this.host.addressBook().get(nodeId);
    if (known !== undefined && known.raft !== '' && known.raft !== address) {
      throw new AdminError('PH_BAD_REQUEST', `node id ${nodeId} is already used by ${known.raft}; node ids are never reused`);
    }
    if (isMember(replica.status().config, nodeId)) return this.members(replica);
    await this.guard(false, async () => {
      if (known === undefined) await replica.propose({ op: 'members', members: new Map([[nodeId, { raft: address, kv: '' }]]) }, deadlineMs);
    });
    this.host.log(`admin: adding node ${nodeId} (${address}) as a learner`);
    await this.guard(true, () => replica.proposeConfChange({ changes: [{ op: 'add-learner', nodeId }], transition: 'auto' }, deadlineMs));
    return this.members(replica);
  }

  async promote(nodeId: number, deadlineMs: number): Promise<readonly Member[]> {
    const replica = this.leaderReplica();
    const status = replica.status();
    if (isVoter(status.config, nodeId)) return this.members(replica);
    if (!isMember(status.config, nodeId)) throw new AdminError('PH_UNKNOWN_NODE', `node ${nodeId} is not a member`);
    const lifecycles = this.host.lifecycles();
    if (lifecycles.decommissioning.has(nodeId) || lifecycles.removed.has(nodeId)) throw new AdminError('PH_BAD_REQUEST', `node ${nodeId} is being decommissioned; recommission it first`);
    if (!this.caughtUp(status, nodeId)) throw new AdminError('PH_NOT_CAUGHT_UP', `learner ${nodeId} lags the leader's last index ${status.lastIndex}`);
    await this.guard(true, () => replica.proposeConfChange({ changes: [{ op: 'add-voter', nodeId }], transition: 'auto' }, deadlineMs));
    return this.members(replica);
  }

  /** The planner's decommission progress of `nodeId` (replicas, bytes, leases left; rate and ETA against the previous call). */
  private lastProgressSnapshot: { snapshot: ClusterSnapshot; nodeId: NodeId } | undefined;

  placementProgress(nodeId: NodeId): ReturnType<typeof decommissionProgress> | undefined {
    const snapshot = this.placementSnapshot();
    if (snapshot === undefined) return undefined;
    const last = this.lastProgressSnapshot;
    const elapsedTicks = last === undefined ? 0 : snapshot.nowTicks - last.snapshot.nowTicks;
    if (last === undefined || last.nodeId !== nodeId || elapsedTicks > 0) this.lastProgressSnapshot = { snapshot, nodeId };
    const earlier = last?.nodeId === nodeId && elapsedTicks > 0 ? { snapshot: last.snapshot, elapsedTicks } : undefined;
    return decommissionProgress(snapshot, nodeId, earlier);
  }

  private progressOf(nodeId: NodeId, status: RaftStatus): DecommissionProgress {
    const removed = this.host.lifecycles().removed.has(nodeId) && !isMember(status.config, nodeId);
    const replica = this.host.replicaIfStarted();
    const ranges = replica === undefined ? [] : this.rangeSummaries(replica);
    const placement = this.placementProgress(nodeId);
    const etaSeconds = placement?.etaTicks === null || placement?.etaTicks === undefined ? null : (placement.etaTicks * placementTickMs) / 1000;
    return {
      nodeId,
      membership: this.membershipOf(status.config, nodeId),
      replicasRemaining: ranges.filter((range) => isMember(range.config, nodeId)).length,
      leasesRemaining: ranges.filter((range) => range.leaderId === nodeId).length,
      done: removed,
      bytesRemaining: placement?.bytes ?? 0,
      etaSeconds: removed ? 0 : etaSeconds,
    };
  }

  /**
   * Refuses when the voters left after removing `nodeId` (and every node already leaving) would
   * be fewer than the replication factor, or would not hold a majority of healthy (LIVE) voters:
   * the cluster must stay writable and fully replicated through the change.
   */
  private checkDecommissionAllowed(replica: Replica, status: RaftStatus, nodeId: NodeId): void {
    const leaving = new Set([...this.host.lifecycles().decommissioning, nodeId]);
    const remaining = allVoters(status.config).filter((id) => !leaving.has(id));
    const factor = this.host.replicationFactor;
    if (remaining.length < factor) {
      throw new AdminError('PH_DECOMMISSION_REFUSED', `removing node ${nodeId} would leave ${remaining.length} voter(s), fewer than the replication factor ${factor}`);
    }
    // A meta leader elected a moment ago sees every other node as suspect until their liveness
    // records advance: a refusal then would only reflect its own short memory (retriable instead).
    const refuse = (message: string): AdminError =>
      this.host.placement?.()?.livenessWarmingUp() === true
        ? new AdminError('PH_UNAVAILABLE', `this node leads the meta range since a moment and is still learning node liveness (${message}); retry`)
        : new AdminError('PH_DECOMMISSION_REFUSED', message);
    const healthy = this.healthyVoters(replica, status, leaving).length;
    if (healthy < majority(remaining.length)) throw refuse(`removing node ${nodeId} would leave ${healthy} healthy voter(s) of ${remaining.length}, not a majority`);
    // Every user range must keep its replication factor on the nodes that stay (the planner's check).
    const snapshot = this.placementSnapshot();
    if (snapshot !== undefined) {
      const check = checkDecommission(snapshot, this.plannerLimits(), nodeId);
      if (!check.ok) throw refuse(`${check.message}: ranges ${check.underReplicatedRangeIds.join(', ')}`);
    }
  }

  private plannerLimits(): PlannerLimits {
    return this.host.placement?.()?.plannerLimits() ?? driverLimitsOf({ rebalanceConcurrency: 1, snapshotRateBytes: 1024 * 1024, deadNodeReplaceMs: 60_000 }).planner;
  }

  // ------------------------------------------------------------------ rebalancing

  private async planNow(): Promise<RebalancePlanInfo> {
    this.leaderReplica();
    const snapshot = this.placementSnapshot();
    if (snapshot === undefined) throw new AdminError('PH_UNAVAILABLE', 'no placement snapshot yet (the meta range is not initialised here)');
    const limits = this.plannerLimits();
    const plan = rebalancePlan(snapshot, limits, defaultRebalancePlanOptions);
    return Promise.resolve({
      moves: plan.moves.map((move) => ({
        kind: move.kind,
        rangeId: move.rangeId,
        nodeId: move.kind === 'TransferLease' ? move.toNodeId : move.nodeId,
        bytes: move.kind === 'AddLearner' ? move.bytes : 0,
        reason: move.reason,
      })),
      moveCount: plan.moveCount,
      bytesToCopy: plan.bytesToCopy,
      converged: plan.converged,
      balanced: balanceStatus(snapshot, limits).balanced,
      nodes: plan.nodes.map((node) => ({
        nodeId: node.nodeId,
        replicasBefore: node.before.replicas,
        replicasAfter: node.after.replicas,
        leasesBefore: node.before.leases,
        leasesAfter: node.after.leases,
        bytesBefore: node.before.bytes,
        bytesAfter: node.after.bytes,
      })),
    });
  }

  rebalancePlan(): Promise<RebalancePlanInfo> {
    return this.planNow();
  }

  async rebalanceNow(): Promise<RebalancePlanInfo> {
    const plan = await this.planNow();
    if (this.host.placement?.()?.replanNow() !== true) throw new AdminError('PH_UNAVAILABLE', 'the placement driver is not running on this node yet');
    this.host.log(`admin: rebalance now (${plan.moveCount} moves planned, ${plan.bytesToCopy} bytes to copy)`);
    return plan;
  }

  async decommission(nodeId: number, deadlineMs: number): Promise<DecommissionProgress> {
    const replica = this.leaderReplica();
    const status = replica.status();
    const lifecycles = this.host.lifecycles();
    if (lifecycles.removed.has(nodeId) || lifecycles.decommissioning.has(nodeId)) return this.progressOf(nodeId, status);
    if (!isMember(status.config, nodeId)) throw new AdminError('PH_UNKNOWN_NODE', `node ${nodeId} is not a member`);
    this.checkDecommissionAllowed(replica, status, nodeId);
    this.host.log(`admin: decommissioning node ${nodeId}`);
    await this.guard(false, () => replica.propose({ op: 'member-state', nodeId, state: 'decommissioning' }, deadlineMs));
    this.advanceDecommissions();
    return this.progressOf(nodeId, replica.status());
  }

  async recommission(nodeId: number, deadlineMs: number): Promise<DecommissionProgress> {
    const replica = this.leaderReplica();
    const lifecycles = this.host.lifecycles();
    if (lifecycles.removed.has(nodeId)) throw new AdminError('PH_ALREADY_DECOMMISSIONED', `node ${nodeId} was removed; node ids are never reused`);
    if (!isMember(replica.status().config, nodeId)) throw new AdminError('PH_UNKNOWN_NODE', `node ${nodeId} is not a member`);
    if (lifecycles.decommissioning.has(nodeId)) {
      this.host.log(`admin: recommissioning node ${nodeId}`);
      await this.guard(false, () => replica.propose({ op: 'member-state', nodeId, state: 'active' }, deadlineMs));
    }
    // Recommission also cancels a drain: the node takes replicas and leases again.
    await this.guard(false, async () => this.host.placement?.()?.setDraining(nodeId, false, deadlineMs));
    return this.progressOf(nodeId, replica.status());
  }

  // ------------------------------------------------------------------ leadership

  /** The caught-up, recently active voter with the longest log, other than `excluding` and nodes leaving. */
  private transferTarget(status: RaftStatus, excluding: NodeId): NodeId {
    const lifecycles = this.host.lifecycles();
    let target = 0;
    let best = -1;
    for (const [id, progress] of status.progress) {
      if (id === excluding || !isVoter(status.config, id) || !progress.recentActive) continue;
      if (lifecycles.decommissioning.has(id) || lifecycles.removed.has(id)) continue;
      if (progress.match > best) {
        best = progress.match;
        target = id;
      }
    }
    return target;
  }

  async drain(nodeId: number, deadlineMs: number): Promise<DrainProgress> {
    const replica = this.leaderReplica();
    const status = replica.status();
    if (!isMember(status.config, nodeId)) throw new AdminError('PH_UNKNOWN_NODE', `node ${nodeId} is not a member`);
    // The range leases: the placement driver moves them off a draining node (until it restarts).
    const placement = this.host.placement?.();
    if (placement !== undefined) await this.guard(false, () => placement.setDraining(nodeId, true, deadlineMs));
    const rangeLeases = this.placementSnapshot()?.ranges.filter((range) => range.leaseholder === nodeId).length ?? 0;
    if (status.leaderId !== nodeId) return { nodeId, leasesRemaining: rangeLeases, done: rangeLeases === 0 };
    const target = this.transferTarget(status, nodeId);
    if (target === 0) throw new AdminError('PH_UNAVAILABLE', 'no caught-up voter to take the leadership');
    this.host.log(`admin: draining node ${nodeId}: leadership to node ${target}`);
    const moved = await replica.transferLeadership(target, Math.max(0, deadlineMs - 100));
    const left = rangeLeases + (moved ? 0 : 1);
    return { nodeId, leasesRemaining: left, done: left === 0 };
  }

  async transferLeadership(targetNodeId: number, deadlineMs: number): Promise<number> {
    const replica = this.leaderReplica();
    const status = replica.status();
    if (targetNodeId === this.host.nodeId) return targetNodeId;
    const target = targetNodeId === 0 ? this.transferTarget(status, this.host.nodeId) : targetNodeId;
    if (target === 0) throw new AdminError('PH_UNAVAILABLE', 'no caught-up voter to take the leadership');
    if (!isVoter(status.config, target)) throw new AdminError('PH_UNKNOWN_NODE', `node ${target} is not a voter`);
    this.host.log(`admin: transferring leadership to node ${target}`);
    const moved = await replica.transferLeadership(target, Math.max(0, deadlineMs - 100));
    if (!moved) throw new AdminError('PH_DEADLINE_EXCEEDED', `leadership did not move to node ${target} in time`);
    return target;
  }

  // ------------------------------------------------------------------ cluster version

  /** A node's binary version: this node's own, a peer's from its handshake (undefined: unknown). */
  private binaryOf(id: NodeId): BinaryVersion | undefined {
    if (id === this.host.nodeId) return this.host.binary ?? { version: this.host.version, clusterVersionMin: '' };
    return this.host.peerVersion?.(id);
  }

  /**
   * Why the cluster cannot be finalized at `target` (one line per node), given the members that
   * must all run it: every one LIVE, with a known binary that can run the target.
   */
  private finalizeProblems(replica: Replica, members: readonly NodeId[], target: string | undefined): string[] {
    const problems: string[] = [];
    for (const id of members) {
      const liveness = this.livenessOf(replica, id);
      const binary = this.binaryOf(id);
      if (liveness !== 'LIVE') problems.push(`node ${id} is ${liveness} (binary ${binary?.version ?? 'unknown'}): every member must be live to finalize`);
      else if (binary === undefined || !isVersion(binary.version)) problems.push(`node ${id}: binary version not known yet (no handshake with it)`);
      else if (target !== undefined) {
        const why = cannotRun({ version: binary.version, clusterVersionMin: isVersion(binary.clusterVersionMin) ? binary.clusterVersionMin : binary.version }, target);
        if (why !== undefined) problems.push(`node ${id} runs ${binary.version}: it cannot run cluster version ${target}`);
      }
    }
    return problems;
  }

  /** The oldest binary version among `members` (all known: finalizeProblems found none). */
  private oldestBinary(members: readonly NodeId[]): string {
    const versions = members.map((id) => formatVersion(parseVersion(this.binaryOf(id)?.version ?? '0.0.0')));
    assert(versions.length > 0, 'the leader is a member: there is a binary version to finalize at');
    return versions.reduce((oldest, version) => (compareVersions(version, oldest) < 0 ? version : oldest));
  }

  async finalizeClusterVersion(targetVersion: string, deadlineMs: number): Promise<FinalizeResult> {
    const replica = this.leaderReplica();
    const current = this.host.clusterVersion?.();
    if (current === undefined) throw new AdminError('PH_UNAVAILABLE', 'the cluster version is not known yet');
    const removed = this.host.lifecycles().removed;
    const config = replica.status().config;
    const members = [...new Set([...config.voters, ...config.votersOutgoing, ...config.learners, ...config.learnersNext])].filter((id) => !removed.has(id)).sort((a, b) => a - b);
    const refuse = (problems: readonly string[]): never => {
      throw new AdminError('PH_FINALIZE_REFUSED', `cannot finalize cluster version ${targetVersion === '' ? '(oldest binary)' : targetVersion} (now ${current}): ${problems.join('; ')}`);
    };
    // Asking again for the version the cluster already has succeeds whatever the nodes do (a retry).
    if (targetVersion !== '' && compareVersions(targetVersion, current) === 0) return { clusterVersion: current, previousVersion: current };
    const unknown = this.finalizeProblems(replica, members, undefined);
    if (unknown.length > 0) refuse(unknown);
    const target = targetVersion === '' ? this.oldestBinary(members) : formatVersion(parseVersion(targetVersion));
    if (compareVersions(target, current) < 0) refuse([`the target ${target} is below the cluster version ${current}; a cluster version is never lowered`]);
    const problems = this.finalizeProblems(replica, members, target);
    if (problems.length > 0) refuse(problems);
    if (compareVersions(target, current) === 0) return { clusterVersion: current, previousVersion: current };
    this.host.log(`admin: finalizing cluster version ${target} (was ${current}); members ${members.join(', ')}`);
    await this.guard(false, () => replica.propose({ op: 'cluster-version', version: target }, deadlineMs));
    return { clusterVersion: this.host.clusterVersion?.() ?? target, previousVersion: current };
  }

  // ------------------------------------------------------------------ the decommission driver

  /**
   * One pass of the decommission sequence (see the file comment), on the leader; the node calls
   * it on a timer. Takes at most one step per pass, and no step while one is in flight.
   */
  advanceDecommissions(): void {
    const replica = this.host.replicaIfStarted();
    if (this.stepping || replica === undefined || !replica.serving || replica.role().role !== 'leader') return;
    const step = this.nextDecommissionStep(replica);
    if (step === undefined) return;
    this.stepping = true;
    step().then(
      () => (this.stepping = false),
      (err: unknown) => {
        this.stepping = false;
        this.host.log(`decommission step failed (retried on the next pass): ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  private nextDecommissionStep(replica: Replica): (() => Promise<unknown>) | undefined {
    const status = replica.status();
    const { decommissioning, removed } = this.host.lifecycles();
    const deadlineMs = 5000;
    for (const id of decommissioning) {
      if (id === this.host.nodeId) {
        const target = this.transferTarget(status, id);
        if (target === 0) return undefined;
        this.host.log(`decommission of node ${id} (the leader): leadership to node ${target}`);
        return () => replica.transferLeadership(target, deadlineMs);
      }
      if (isVoter(status.config, id)) {
        this.host.log(`decommission of node ${id}: demoting it to learner`);
        return () => replica.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: id }], transition: 'auto' }, deadlineMs);
      }
      // The placement driver moves every replica of the ranges away first (the meta range's
      // copies, and the configurations of the ranges led here, must no longer list it).
      const stillHolds = this.rangeSummaries(replica).some((range) => range.rangeId !== replica.groupId && isMember(range.config, id));
      if (stillHolds) return undefined;
      this.host.log(`decommission of node ${id}: recording its removal (the id is never reused)`);
      return () => replica.propose({ op: 'member-state', nodeId: id, state: 'removed' }, deadlineMs);
    }
    for (const id of removed) {
      if (!isMember(status.config, id)) {
        this.removalSeenMs.delete(id);
        continue;
      }
      if (isVoter(status.config, id)) return () => replica.proposeConfChange({ changes: [{ op: 'add-learner', nodeId: id }], transition: 'auto' }, deadlineMs);
      // Give the learner a moment to receive its removal record, so it shuts down by itself.
      const now = performance.now();
      const seen = this.removalSeenMs.get(id) ?? now;
      this.removalSeenMs.set(id, seen);
      const progress = status.progress.get(id);
      const informed = progress === undefined || !progress.recentActive || progress.match >= status.commit;
      // It learns that the record is committed from the next heartbeat; leave a few of them.
      const waited = now - seen;
      if (!(informed && waited >= removalNoticeMinMs) && waited < removalNoticeWaitMs) return undefined;
      this.host.log(`decommission of node ${id}: removing it from the configuration`);
      return () => replica.proposeConfChange({ changes: [{ op: 'remove', nodeId: id }], transition: 'auto' }, deadlineMs);
    }
    return undefined;
  }

  // ------------------------------------------------------------------ backups (backup-coordinator.ts)

  private backupCoordinator(): BackupCoordinator {
    const coordinator = this.host.backups?.();
    if (coordinator === undefined) throw new AdminError('PH_UNAVAILABLE', 'backups are not available on this node yet (starting)');
    return coordinator;
  }

  backup(spec: BackupSpec): Promise<BackupProgressReport> {
    return this.backupCoordinator().backup(spec);
  }

  backupStatus(backupId: string): Promise<BackupProgressReport> {
    return Promise.resolve(this.backupCoordinator().backupStatus(backupId));
  }

  exportRange(spec: ExportRangeSpec, signal: AbortSignal): AsyncIterable<ExportChunk> {
    return this.backupCoordinator().exportRange(spec, signal);
  }

  backupRange(spec: BackupRangeSpec, signal: AbortSignal): AsyncIterable<BackupRangeUpdate> {
    return this.backupCoordinator().backupRange(spec, signal);
  }

  /** Deletes a backup's objects where this node reaches the destination (no leader needed). */
  deleteBackup(backupId: string, destination: BackupDestinationSpec): Promise<number> {
    return deleteBackupObjects(backupId, destination);
  }
}

/**
 * What a backup's folder may hold (docs/backup.md, "The backup format"): its objects, the progress
 * records of an unfinished run (backup/progress.ts) and the temporary files of unfinished writes (`<object>.partial`; an exclusive manifest write's `manifest.json.<pid>.new.partial`).
 */
const backupObjectPattern = /^(manifest\.json|ranges\/[0-9]{1,20}\/[A-Za-z0-9._-]{1,128}\.sst|progress\/[A-Za-z0-9._-]{1,128}\.json)(\.[0-9]{1,10}\.new)?(\.partial)?$/;

/**
 * Deletes every object under `<backupId>/` at `destination`, as this node reaches it, and on a
 * volume the temporary files (`.partial`) of writes a crash or a cancellation interrupted;
 * answers how many. (An S3 PutObject is atomic: an interrupted one leaves nothing, and backups
 * use no multipart uploads.) A folder holding anything that is not a backup object is refused
 * untouched (PH_BAD_REQUEST): the call deletes backups, never whatever a path happens to name.
 */
export async function deleteBackupObjects(backupId: string, destination: BackupDestinationSpec): Promise<number> {
  const store = destination.kind === 'volume' ? new VolumeBackupStore(destination.path) : new S3BackupStore(s3StoreConfig(destination, destination.credentials));
  try {
    const keys = [...(await store.list(`${backupId}/`)), ...(store instanceof VolumeBackupStore ? await store.listPartial(`${backupId}/`) : [])];
    const foreign = keys.find((key) => !backupObjectPattern.test(key.slice(backupId.length + 1)));
    if (foreign !== undefined) throw new AdminError('PH_BAD_REQUEST', `${store.description}/${backupId} holds ${foreign}, which is not a backup object: nothing was deleted`);
    await store.delete(keys);
    return keys.length;
  } finally {
    if (store instanceof S3BackupStore) store.destroy();
  }
}
