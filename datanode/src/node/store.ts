/**
 * The Store: every range replica this node hosts, each its own Raft group (group id = range id)
 * over one storage engine and one shared Raft log. It
 *   - opens a replica for every range found in the log or the engine at start (and redoes
 *     snapshot installs a crash interrupted);
 *   - routes transport messages and snapshot streams by group id; a message from a known member
 *     for a range not hosted here creates an uninitialised replica (at most
 *     `uninitializedMax`), which waits for a snapshot (or for the split that creates it here)
 *     and never votes;
 *   - creates the right-hand replica when a split is applied, and drops a replica once it
 *     applied its own removal from its range;
 *   - on range leaders: proposes a split when a range grows past `rangeMaxBytes`, and keeps the
 *     range's membership in step with the meta range's (until a placement driver moves replicas,
 *     every range lives on every member: joins, promotions and decommissions follow the meta
 *     range); on the meta leader: records the descriptors of the ranges it hosts in the meta range.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containsKey, describeRange, firstUserRangeId, lookupDescriptor, metaRangeId, spansOverlap, type RangeDescriptor, type ReplicaDescriptor } from '../kv/descriptor.ts';
import { KvEngine, KvStateMachine, type RangeTombstone } from '../kv/state-machine.ts';
import { KvError, NotLeaderError } from '../kv/errors.ts';
import type { ConfState, GroupId, Message, NodeId } from '../raft/types.ts';
import { simpleConfState } from '../raft/types.ts';
import { defaultRaftOptions, type RaftOptions } from '../raft/raft.ts';
import type { LogStore, PeerTransport, SnapshotDataHeader, TransportHandlers } from './interfaces.ts';
import { Replica, type ReplicaOptions } from './replica.ts';
import { SnapshotInstaller } from './snapshot-install.ts';
import { ForgottenLeaders, LeaderLivenessWatch, PeerFailures } from './quiescence.ts';
import { decodeLivenessRecord, type LivenessRecord } from '../placement/liveness.ts';
import { observeSnapshotReceived } from '../metrics/sink.ts';

/** What every replica shares; the Store adds the range-specific parts. */
export type SharedReplicaOptions = Omit<ReplicaOptions, 'groupId' | 'stateMachine' | 'snapshotDir' | 'installer' | 'promotable' | 'refuseSnapshot'>;

export interface StoreOptions {
  readonly nodeId: NodeId;
  readonly dataDir: string;
  readonly kv: KvEngine;
  readonly logStore: LogStore;
  readonly replica: SharedReplicaOptions;
  /** Whether `id` is a node this node may take Raft messages for new ranges from. */
  readonly knownPeer: (id: NodeId) => boolean;
  /** Whether a learner may be promoted in the meta range (not while decommissioning). */
  readonly promotable: (id: NodeId) => boolean;
  /** A range whose user data grows past this many bytes is split. */
  readonly rangeMaxBytes: number;
  /** Sends descriptors of ranges led here to the meta range's leader (when that is another node). */
  readonly pushDescriptors?: (descriptors: readonly RangeDescriptor[]) => Promise<void>;
  /** Whether ranges follow the meta range's membership (default true; tests turn it off). */
  readonly followMetaMembership?: boolean;
  /**
   * Whether the placement driver (on the meta leader) decides where user ranges' replicas go:
   * then ranges do not follow the meta range's membership, and their learners are promoted by
   * the driver only (ChangeReplicas), never automatically.
   */
  readonly placement?: boolean;
  /** Most uninitialised replicas (waiting for their first snapshot) at once, creations in flight included. */
  readonly uninitializedMax?: number;
  /** An uninitialised replica that got no snapshot within this long is dropped (default 60 s). */
  readonly uninitializedCollectMs?: number;
  /** How often leaders check sizes, membership and meta records. */
  readonly maintenanceMs?: number;
  /**
   * Quiescence of idle user ranges (the meta range never quiesces: node liveness rides on it).
   * A leader quiesces a range idle for `idleTicks`; a quiescent follower is woken once its
   * leader's liveness record (meta range, as applied here) did not advance for `leaderSuspectMs`.
   * Only for nodes that write liveness records (the placement host). Off when absent.
   */
  readonly quiesce?: { readonly idleTicks: number; readonly leaderSuspectMs: number };
  readonly log: (line: string) => void;
}

/** A learner within this many entries of the leader's last index has caught up (placement). */
const learnerCaughtUpLagMax = 64;
/** For this long after dropping a range's replica, messages for the range create no new one. */
const droppedQuietMs = 3_000;
/**
 * An uninitialised replica of a range whose meta range copy does not list this node is dropped
 * after this long (the copy may lag an addition by a reconciliation pass or two).
 */
const notPlacedHereGraceMs = 5_000;
/** A range whose leader is down starts at most one campaign per this long for the requests that find it so. */
const leaderDownCampaignGapMs = 250;
/** Vote requests for an empty group are retried this many times, this far apart, then dropped. */
const voteHoldAttempts = 8;
const voteHoldStepMs = 50;

/**
 * What messages for a range not hosted here show of its log: the furthest index (a commit or
 * snapshot index), a leader's heartbeat with commit 0 to a member it holds nothing of (a
 * learner added anew, or a leader that has not applied this node's removal yet), or a Raft
 * snapshot and whether its configuration names this node.
 */
type RangeProgress =
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'fresh-member' }
  | { readonly kind: 'snapshot'; readonly index: number; readonly namesThisNode: boolean };

function describeProgress(progress: RangeProgress, from: NodeId): string {
  switch (progress.kind) {
    case 'fresh-member':
      return `a heartbeat with commit 0 from node ${from}`;
    case 'snapshot':
      return `a snapshot at index ${progress.index} from node ${from}${progress.namesThisNode ? ' naming this node' : ''}`;
    default:
      return `messages from node ${from} at index ${progress.index}`;
  }
}

/** How far a message shows its range's log to be (commit or snapshot index; 0 when it says nothing). */
function progressIndexOf(message: Message): number {
  switch (message.kind) {
    case 'Append':
      return Math.max(message.commit, message.prevLogIndex);
    case 'Heartbeat':
      return message.commit;
    case 'Snapshot':
      return message.snapshot.index;
    default:
      return 0;
  }
}

function votersOf(config: ConfState): NodeId[] {
  return [...new Set([...config.voters, ...config.votersOutgoing])];
}

function membersOf(config: ConfState): NodeId[] {
  return [...new Set([...config.voters, ...config.votersOutgoing, ...config.learners, ...config.learnersNext])];
}

/** The replicas of a range as its Raft configuration has them (voters first, each id once). */
export function replicasOf(config: ConfState): ReplicaDescriptor[] {
  const voters = votersOf(config);
  return [...voters.map((nodeId) => ({ nodeId, voter: true })), ...membersOf(config).filter((id) => !voters.includes(id)).map((nodeId) => ({ nodeId, voter: false }))];
}

function sameReplicas(a: readonly ReplicaDescriptor[], b: readonly ReplicaDescriptor[]): boolean {
  const key = (list: readonly ReplicaDescriptor[]): string =>
    list
      .map((r) => `${r.nodeId}${r.voter ? 'v' : 'l'}`)
      .sort()
      .join(',');
  return key(a) === key(b);
}

export class Store implements TransportHandlers {
  private readonly replicas = new Map<GroupId, Replica>();
  private readonly creating = new Map<GroupId, Promise<Replica | undefined>>();
  private transport: PeerTransport | undefined;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private maintaining = false;
  private pushing = false;
  private instanceSeq = 0;
  /** Ranges whose replica here applied its own removal: dropped by the next maintenance pass. */
  private readonly removedFrom = new Set<GroupId>();
  /** Ranges whose replica is being dropped right now (no replica is created for them meanwhile). */
  private readonly dropping = new Set<GroupId>();
  /** When the replica of each range this node left was dropped (monotonic ms). */
  private readonly droppedAt = new Map<GroupId, number>();
  private stopped = false;
  /** Ranges whose size was checked since this node became their leader. */
  private readonly sizeChecked = new Set<GroupId>();
  /** When each node's liveness record last advanced here (quiescence wake-ups). */
  private livenessWatch: LeaderLivenessWatch | undefined;
  /** Peers whose connection failed and who sent nothing since (fast wake-up of quiescent ranges). */
  private readonly peerFailures = new PeerFailures(leaderDownCampaignGapMs);
  /** The leader each woken range forgot (peerUnreachable), until it has a leader again or its replica goes. */
  private readonly forgottenLeaders = new ForgottenLeaders<Replica>();
  private readonly uninitializedMax: number;
  private readonly uninitializedCollectMs: number;
  /**
   * Ranges whose replica this node dropped after its removal → the applied index and descriptor
   * generation then (durable). Messages for such a range create no replica until the range
   * shows it took this node back at a later generation (see takenBack).
   */
  private readonly tombstones = new Map<GroupId, RangeTombstone>();
  /** Tombstoned ranges whose refused messages were logged (once per tombstone). */
  private readonly tombstoneRefusalLogged = new Set<GroupId>();
  /** When each uninitialised replica was created (monotonic ms), for collection. */
  private readonly uninitializedSince = new Map<GroupId, number>();
  /**
   * Groups with a log but no descriptor, found at start: held (no replica) until a split replayed
   * here writes their descriptor. Their log is kept: it may hold acknowledged writes, and this
   * node may be a voter the leader counts on. Removed once the meta range (caught up) shows that
   * the range does not place this node (a drop interrupted by a build without tombstones).
   * Value: when it was found (monotonic ms).
   */
  private readonly awaitingDescriptor = new Map<GroupId, number>();
  /** Initialised replicas the meta range does not place here, since when (placement; see collectForgottenReplicas). */
  private readonly notPlacedSince = new Map<GroupId, number>();
  /** Uninitialised replicas being created now: they count against uninitializedMax. */
  private uninitializedCreating = 0;
  /** Snapshot streams being received, by range: such a replica is not collected meanwhile. */
  private readonly receivingSnapshots = new Map<GroupId, number>();
  /** Splits this node proposed and applied, for tests and status. */
  splitsApplied = 0;

  constructor(private readonly options: StoreOptions) {
    this.uninitializedMax = options.uninitializedMax ?? 64;
    this.uninitializedCollectMs = options.uninitializedCollectMs ?? 60_000;
  }

  get engine(): KvEngine {
    return this.options.kv;
  }

  // ------------------------------------------------------------------ opening

  /**
   * Bootstraps a new cluster's ranges (meta range 1, user range 2) with `voters`, unless done:
   * idempotent, and the same on every node given the same voters.
   */
  async bootstrap(voters: readonly NodeId[]): Promise<void> {
    const { logStore, kv } = this.options;
    const replicas = voters.map((nodeId) => ({ nodeId, voter: true }));
    const meta: RangeDescriptor = { rangeId: metaRangeId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), generation: 0, replicas };
    const user: RangeDescriptor = { rangeId: firstUserRangeId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), generation: 0, replicas };
    await new KvStateMachine(kv.engine, firstUserRangeId).bootstrap(user);
    await new KvStateMachine(kv.engine, metaRangeId).bootstrap(meta, [user]);
    for (const id of [metaRangeId, firstUserRangeId]) if (!logStore.hasGroup(id)) await logStore.createGroup(id, simpleConfState(voters));
  }

  /**
   * Whether this data directory holds a bootstrapped-but-unwritten meta group (the pod
   * bootstrap path creates the group only): then its voters, to finish the bootstrap.
   */
  pendingBootstrapVoters(): readonly NodeId[] | undefined {
    const { logStore, kv } = this.options;
    if (!logStore.hasGroup(metaRangeId)) return undefined;
    if (new KvStateMachine(kv.engine, metaRangeId).initialized) return undefined;
    const storage = logStore.storageFor(metaRangeId);
    const voters = storage.initialState().confState.voters;
    if (storage.firstIndex() !== 2 || voters.length === 0) return undefined;
    return voters;
  }

  /**
   * Opens a replica for every range in the log or the engine; redoes interrupted installs first.
   * Finishes the drop of replicas this node was removed from (tombstoned), and removes the groups
   * of user ranges that have no descriptor: an uninitialised replica's empty group, or a group
   * whose state is gone. Their replicas come back when messages show the range wants this node.
   */
  async open(): Promise<void> {
    const { logStore, kv } = this.options;
    for (const [id, tombstone] of kv.tombstones()) this.tombstones.set(id, tombstone);
    const ids = new Set<GroupId>([...logStore.groupIds(), ...kv.rangeIds()]);
    // Scratch space of outgoing and incoming snapshots: nothing in it survives a restart.
    fs.rmSync(path.join(this.options.dataDir, 'snapshots'), { recursive: true, force: true });
    const installRoot = path.join(this.options.dataDir, 'snapshot-install');
    if (fs.existsSync(installRoot)) for (const name of fs.readdirSync(installRoot)) if (/^\d+$/.test(name)) ids.add(Number(name));
    for (const id of [...ids].sort((a, b) => a - b)) {
      const sm = new KvStateMachine(kv.engine, id);
      const installer = this.installerFor(id, sm);
      await installer.recover();
      const desc = sm.descriptor();
      if (id !== metaRangeId && this.tombstones.has(id)) {
        // A crash interrupted the drop of a replica this node was removed from: finish it.
        this.options.log(`range ${id}: finishing the drop of the replica this node was removed from`);
        await this.clearDroppedReplica(id, sm, desc);
        continue;
      }
      if (desc === undefined && id !== metaRangeId) {
        if (logStore.hasGroup(id) && !this.emptyGroup(id)) {
          // A log without its descriptor (an engine that lost an unsynced split, before splits
          // were synced): applying it would turn every write into a no-op, and dropping it would
          // forget entries this node acknowledged. Held until the split is replayed here.
          this.awaitingDescriptor.set(id, performance.now());
          this.options.log(`range ${id}: Raft group with a log but no range descriptor: held (not started, log kept) until a split replayed here brings the descriptor`);
        } else if (logStore.hasGroup(id)) {
          // An uninitialised replica's empty group: it holds nothing and never voted. The
          // range's messages create a replica again if the range wants this node.
          await logStore.removeGroup(id);
        }
        continue;
      }
      if (desc !== undefined && logStore.hasGroup(id) && this.emptyGroup(id)) {
        // A split wrote the right range's descriptor over an uninitialised replica's empty group,
        // and the crash came before the group was created afresh.
        await logStore.removeGroup(id);
      }
      if (!logStore.hasGroup(id)) {
        // A split wrote the right range's descriptor, but the crash came before its group was created.
        await logStore.createGroup(id, desc === undefined ? simpleConfState([]) : this.confOf(desc.replicas));
      }
      this.replicas.set(id, this.newReplica(id, sm, installer));
    }
  }

  /**
   * Deletes a dropped replica's range-local keys and the user keys of its span (unless another
   * range here holds part of that span), durably, then its group. Idempotent: a crash anywhere
   * in it is finished by the next open() (the tombstone is written first).
   */
  private async clearDroppedReplica(id: GroupId, sm: KvStateMachine, desc: RangeDescriptor | undefined): Promise<void> {
    const { logStore, kv } = this.options;
    // The other ranges' descriptors as recorded (no state machine built per range: the meta
    // range's would scan all its records, for every replica dropped).
    const others = kv.rangeDescriptors().filter((other) => other.rangeId !== id);
    const spans = desc === undefined || others.some((other) => spansOverlap(other, desc)) ? [] : [{ startKey: desc.startKey, endKey: desc.endKey }];
    await sm.clearReplicatedState(spans);
    if (logStore.hasGroup(id)) await logStore.removeGroup(id);
  }

  /** A group that never joined a log: no members, no entries, no vote (an uninitialised replica's). */
  private emptyGroup(id: GroupId): boolean {
    const storage = this.options.logStore.storageFor(id);
    const state = storage.initialState();
    return storage.lastIndex() === 0 && state.hardState.vote === 0 && state.confState.voters.length === 0 && state.confState.learners.length === 0;
  }

  private confOf(replicas: readonly ReplicaDescriptor[]): ConfState {
    return simpleConfState(
      replicas.filter((r) => r.voter).map((r) => r.nodeId),
      replicas.filter((r) => !r.voter).map((r) => r.nodeId),
    );
  }

  private installerFor(id: GroupId, sm: KvStateMachine): SnapshotInstaller {
    return new SnapshotInstaller(path.join(this.options.dataDir, 'snapshot-install', String(id)), sm, this.options.log);
  }

  private newReplica(id: GroupId, sm: KvStateMachine, installer: SnapshotInstaller): Replica {
    sm.onSplit((left, right) => this.onSplitApplied(left, right));
    const quiesceAfterIdleTicks = id === metaRangeId ? 0 : (this.options.quiesce?.idleTicks ?? 0);
    const heartbeatTimeoutTicks = id === metaRangeId ? metaHeartbeatTicks(this.options.replica.raft) : (this.options.replica.raft.heartbeatTimeoutTicks ?? defaultRaftOptions.heartbeatTimeoutTicks);
    const replica = new Replica({
      ...this.options.replica,
      raft: { ...this.options.replica.raft, quiesceAfterIdleTicks, heartbeatTimeoutTicks },
      groupId: id,
      stateMachine: sm,
      // Per replica instance: a replica re-created by a split must not wipe the scratch files of
      // the one it replaces while that one still receives a snapshot.
      snapshotDir: path.join(this.options.dataDir, 'snapshots', `${id}-${++this.instanceSeq}`),
      installer,
      promotable: (node) => this.promotable(id, node),
      refuseSnapshot: (span) => this.refuseSnapshot(id, span),
    });
    if (id !== metaRangeId) {
      replica.onRemoved(() => this.removedFrom.add(id));
      let wasLeader = false;
      replica.onRoleChange((state) => {
        const isLeader = state.role === 'leader';
        if (isLeader !== wasLeader) this.options.log(`range ${id}: ${isLeader ? 'leader now' : `no longer leader (${state.role}, leader ${state.leaderId})`}`);
        wasLeader = isLeader;
      });
    }
    if (this.transport !== undefined) replica.start(this.transport, { externalTicks: true });
    return replica;
  }

  /** Learners are promoted in the meta range when caught up; in other ranges once the meta range made them voters. */
  private promotable(rangeId: GroupId, node: NodeId): boolean {
    if (!this.options.promotable(node)) return false;
    if (rangeId === metaRangeId) return true;
    if (this.options.placement === true) return false;
    const meta = this.replicas.get(metaRangeId);
    return meta !== undefined && votersOf(meta.status().config).includes(node);
  }

  private refuseSnapshot(rangeId: GroupId, span: { readonly startKey: Buffer; readonly endKey: Buffer }): string | undefined {
    const incoming: RangeDescriptor = { rangeId, startKey: span.startKey, endKey: span.endKey, generation: 0, replicas: [] };
    for (const [id, replica] of this.replicas) {
      if (id === rangeId) continue;
      const desc = replica.stateMachine.descriptor();
      if (desc !== undefined && spansOverlap(desc, incoming)) return `range ${id} here still holds part of its span (${describeRange(desc)})`;
    }
    return undefined;
  }

  /** Connects the transport, starts every replica and the maintenance timer. */
  start(transport: PeerTransport): void {
    this.transport = transport;
    for (const replica of this.replicas.values()) replica.start(transport, { externalTicks: true });
    // One timer ticks every replica (not one timer per range).
    this.tickTimer = setInterval(() => {
      for (const replica of this.replicas.values()) replica.tick();
    }, this.options.replica.tickMs);
    this.maintenanceTimer = setInterval(() => void this.maintain(), this.options.maintenanceMs ?? 500);
  }

  // ------------------------------------------------------------------ lookups

  meta(): Replica | undefined {
    return this.replicas.get(metaRangeId);
  }

  replica(rangeId: GroupId): Replica | undefined {
    return this.replicas.get(rangeId);
  }

  allReplicas(): Replica[] {
    return [...this.replicas.values()];
  }

  metaStateMachine(): KvStateMachine | undefined {
    return this.meta()?.stateMachine;
  }

  /**
   * The descriptor of the range holding `key`, as this node knows it: its own initialised
   * replicas' descriptors (current as of their applied index) and the meta range's copies.
   */
  lookup(key: Uint8Array): RangeDescriptor | undefined {
    const local: RangeDescriptor[] = [];
    for (const replica of this.replicas.values()) {
      const desc = replica.stateMachine.descriptor();
      if (desc !== undefined) local.push(desc);
    }
    const copies = this.metaStateMachine()?.rangeDescriptors().values() ?? [];
    return lookupDescriptor([...local, ...copies], key);
  }

  /** Every range this node knows of (the meta range's copies, and its replicas' descriptors when newer), by id. */
  knownRanges(): Map<GroupId, RangeDescriptor> {
    const out = new Map<GroupId, RangeDescriptor>();
    for (const desc of this.metaStateMachine()?.rangeDescriptors().values() ?? []) out.set(desc.rangeId, desc);
    for (const replica of this.replicas.values()) {
      const desc = replica.stateMachine.descriptor();
      const known = desc === undefined ? undefined : out.get(desc.rangeId);
      // At the same generation the meta range's copy wins: the driver records a move in it at
      // once, before the range's own descriptor (whose generation each change bumps) reaches here.
      if (desc !== undefined && (known === undefined || known.generation < desc.generation)) out.set(desc.rangeId, desc);
    }
    return out;
  }

  // ------------------------------------------------------------------ placement (the driver's calls)

  /** The user ranges this node leads: term, an upper bound of their user bytes, replicas. */
  leaderReports(): { rangeId: number; term: number; bytes: number; replicas: ReplicaDescriptor[] }[] {
    const out: { rangeId: number; term: number; bytes: number; replicas: ReplicaDescriptor[] }[] = [];
    for (const replica of this.replicas.values()) {
      if (replica.groupId === metaRangeId || !replica.serving || !replica.stateMachine.initialized || replica.role().role !== 'leader') continue;
      const status = replica.status();
      out.push({ rangeId: replica.groupId, term: status.term, bytes: replica.stateMachine.sizeEstimate(), replicas: replicasOf(status.config) });
    }
    return out;
  }

  /**
   * One replica or lease change of a range this node leads (the placement driver's RangeAdmin):
   * add-learner, promote (joint consensus), demote (joint consensus), remove (learners only),
   * transfer-lease, or caught-up (a query). Idempotent: a change already in effect answers true
   * at once. Answers whether it is done (caught-up: whether the learner caught up). Not the
   * leader: PH_NOT_LEADER naming the leader; a change of the configuration in progress:
   * PH_UNAVAILABLE (retried by the driver).
   */
  async changeReplicas(rangeId: number, op: string, nodeId: NodeId, deadlineMs: number): Promise<boolean> {
    const replica = this.replicas.get(rangeId);
    if (rangeId === metaRangeId) throw new KvError('PH_BAD_REQUEST', 'the meta range is not placed by the driver');
    if (replica === undefined || !replica.stateMachine.initialized) throw new NotLeaderError(0, '');
    if (!replica.serving) throw new KvError('PH_UNAVAILABLE', `range ${rangeId}: replica not serving`);
    if (replica.role().role !== 'leader') throw replica.notLeader();
    // A quiescent leader's progress is as old as its quiescence: a learner whose answer to the
    // quiesce heartbeat was lost stays inactive there until something wakes the range, and no
    // placement query did, so "caught up?" answered no, and promotions were refused, for as long
    // as the range stayed idle. Waking costs one heartbeat round; the driver's next poll (or its
    // client's retry) sees the learner's fresh progress.
    if (op === 'caught-up' || op === 'promote') replica.wake();
    const status = replica.status();
    const config = status.config;
    const voters = votersOf(config);
    const members = membersOf(config);
    const change = async (changeOp: 'add-learner' | 'add-voter' | 'remove', transition: 'auto' | 'joint-auto'): Promise<boolean> => {
      if (config.votersOutgoing.length > 0 || replica.membershipChangePending()) throw new KvError('PH_UNAVAILABLE', `range ${rangeId}: a configuration change is in progress`);
      this.options.log(`range ${rangeId}: ${op} node ${nodeId} (placement)`);
      await replica.proposeConfChange({ changes: [{ op: changeOp, nodeId }], transition }, deadlineMs);
      // A joint change is left automatically: answer once it is, so the next step sees the result.
      const until = performance.now() + deadlineMs;
      while (replica.serving && replica.status().config.votersOutgoing.length > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
      return true;
    };
    switch (op) {
      case 'add-learner':
        if (members.includes(nodeId)) return true;
        if (!this.options.knownPeer(nodeId)) throw new KvError('PH_BAD_REQUEST', `node ${nodeId} has no known address`);
        return change('add-learner', 'auto');
      case 'promote': {
        if (voters.includes(nodeId) && !config.learnersNext.includes(nodeId)) return true;
        if (!config.learners.includes(nodeId)) throw new KvError('PH_BAD_REQUEST', `range ${rangeId}: node ${nodeId} is not a learner`);
        if (!this.learnerCaughtUp(replica, nodeId)) throw new KvError('PH_UNAVAILABLE', `range ${rangeId}: learner ${nodeId} has not caught up`);
        return change('add-voter', 'joint-auto');
      }
      case 'demote':
        if (!members.includes(nodeId) || (config.learners.includes(nodeId) && !voters.includes(nodeId))) return true;
        if (nodeId === this.options.nodeId) throw new KvError('PH_UNAVAILABLE', `range ${rangeId}: node ${nodeId} holds the lease; move it first`);
        return change('add-learner', 'joint-auto');
      case 'remove':
        if (!members.includes(nodeId)) return true;
        if (voters.includes(nodeId)) throw new KvError('PH_BAD_REQUEST', `range ${rangeId}: node ${nodeId} is a voter; demote it first`);
        return change('remove', 'auto');
      case 'transfer-lease':
        if (nodeId === this.options.nodeId) return true;
        if (!voters.includes(nodeId)) throw new KvError('PH_BAD_REQUEST', `range ${rangeId}: node ${nodeId} is not a voter`);
        return replica.transferLeadership(nodeId, Math.max(100, Math.min(deadlineMs - 100, 5000)));
      case 'caught-up':
        return members.includes(nodeId) && this.learnerCaughtUp(replica, nodeId);
      default:
        throw new KvError('PH_BAD_REQUEST', `unknown replica change ${JSON.stringify(op)}`);
    }
  }

  /**
   * Whether `nodeId` holds the range's log up to near the leader's last index (a snapshot
   * received) and answers: active in the leader's progress, or heard from within an election
   * timeout (a leader that wakes, e.g. for this very query, counts every peer inactive until its
   * next answer, though it answered a moment before).
   */
  private learnerCaughtUp(replica: Replica, nodeId: NodeId): boolean {
    const status = replica.status();
    const progress = status.progress.get(nodeId);
    if (progress === undefined || progress.match === 0 || status.lastIndex - progress.match > learnerCaughtUpLagMax) return false;
    const electionTimeoutMs = this.options.replica.tickMs * (this.options.replica.raft.electionTimeoutTicks ?? defaultRaftOptions.electionTimeoutTicks);
    return progress.recentActive || replica.sinceHeardMs(nodeId) <= electionTimeoutMs;
  }

  // ------------------------------------------------------------------ transport handlers

  onMessages(messages: readonly Message[]): void {
    if (this.stopped) return;
    if (this.peerFailures.any) for (const message of messages) this.peerFailures.heardFrom(message.from);
    const byGroup = new Map<GroupId, Message[]>();
    for (const message of messages) {
      const list = byGroup.get(message.groupId);
      if (list === undefined) byGroup.set(message.groupId, [message]);
      else list.push(message);
    }
    for (const [groupId, list] of byGroup) {
      const replica = this.replicas.get(groupId);
      if (replica !== undefined) {
        this.deliver(replica, list);
        continue;
      }
      const from = list[0]?.from ?? 0;
      // A leader's heartbeat with commit 0 is for a member it holds nothing of: a learner added
      // anew (its probes wait for a heartbeat answer, so without one it never sends more).
      const freshMember = list.some((m) => m.kind === 'Heartbeat' && m.commit === 0);
      const snapshot = list.find((m) => m.kind === 'Snapshot');
      const progress: RangeProgress =
        snapshot !== undefined
          ? { kind: 'snapshot', index: snapshot.snapshot.index, namesThisNode: membersOf(snapshot.snapshot.confState).includes(this.options.nodeId) }
          : freshMember
            ? { kind: 'fresh-member' }
            : { kind: 'index', index: Math.max(...list.map(progressIndexOf)) };
      void this.ensureReplica(groupId, from, progress).then((created) => {
        if (created !== undefined) this.deliver(created, list);
      });
    }
  }

  /**
   * A replica whose group is still empty (no members, no log: created by messages, waiting for
   * a snapshot or for the split that creates the range here) takes no part in elections: it
   * knows neither the log nor the members, and a vote it cast would be forgotten when the split
   * creates the group afresh. Vote requests for it are held back for a moment instead (a
   * message may always be delayed): the split that creates the range here usually applies
   * within a heartbeat, and the candidate (the left range's leader) then wins at once instead of
   * waiting an election timeout.
   */
  private deliver(replica: Replica, messages: readonly Message[], attempt = 0): void {
    // Checked on every incoming batch: without building the whole status (progress map, sorted config).
    if (!replica.isBlank()) {
      replica.onMessages(messages);
      return;
    }
    const status = replica.status();
    const held = messages.filter((m) => m.kind === 'Vote' || m.kind === 'PreVote' || m.kind === 'TimeoutNow');
    // A heartbeat whose commit index is beyond an empty log comes from a leader that still has
    // this node's progress from an earlier replica of the range (dropped here, the removal not
    // applied on the leader yet): stepping it would assert (commit beyond the last index) and
    // stop the node. Drop it; the leader's new progress for this node heartbeats with commit 0.
    const stale = messages.filter((m) => m.kind === 'Heartbeat' && m.commit > status.lastIndex);
    replica.onMessages(messages.filter((m) => !held.includes(m) && !stale.includes(m)));
    if (held.length === 0 || attempt >= voteHoldAttempts) return;
    setTimeout(() => {
      const now = this.replicas.get(replica.groupId);
      if (now !== undefined && !this.stopped) this.deliver(now, held, attempt + 1);
    }, voteHoldStepMs);
  }

  onUnreachable(peer: NodeId): void {
    for (const replica of this.replicas.values()) replica.onUnreachable(peer);
  }

  onPeerDown(peer: NodeId): void {
    this.peerUnreachable(peer);
  }

  /**
   * A connection to `peer` failed (the Raft transport's onConnectionFailed, or a request forwarded
   * to it could not connect; a full queue to a live node is no such report).
   * Until a message from it arrives, it counts as down here: the quiescent followers here of the
   * ranges it leads forget it (raft.ts forgetLeader), which wakes them and lets them grant each
   * other's campaigns at once, and a request for such a range campaigns instead of forwarding to
   * it (campaignIfLeaderDown). One pass over this node's replicas per report. Followers of
   * ranges that are not quiescent keep their leader: its heartbeats (or their absence) already
   * tell them within an election timeout.
   */
  peerUnreachable(peer: NodeId): void {
    if (this.stopped || peer === this.options.nodeId) return;
    const news = this.peerFailures.markDown(peer, performance.now());
    let forgot = 0;
    for (const replica of this.replicas.values()) {
      if (!replica.quiesced || replica.role().leaderId !== peer) continue;
      if (!replica.forgetLeader()) continue;
      this.forgottenLeaders.remember(replica.groupId, replica, peer);
      forgot++;
    }
    if (news || forgot > 0) this.options.log(`node ${peer} unreachable: ${forgot} quiescent range(s) it led woke here and forgot it`);
  }

  /** Whether a connection to `peer` failed and nothing arrived from it since. */
  peerDown(peer: NodeId): boolean {
    return this.peerFailures.isDown(peer);
  }

  /**
   * For a request that found `replica` following a leader that is down here (its connection
   * failed, or its liveness record stalled): forgets that leader and campaigns, at most once per
   * range per leaderDownCampaignGapMs. PreVote keeps it harmless when the leader is in fact
   * alive: the followers that hear from it refuse, and the pre-vote wakes it. Returns whether
   * the leader counts as down (the caller should not forward to it).
   */
  campaignIfLeaderDown(replica: Replica): boolean {
    const { role, leaderId: current } = replica.role();
    if (role === 'leader') return false;
    // A replica that forgot its leader (peerUnreachable) still knows whom it followed.
    if (current !== 0) this.forgottenLeaders.forget(replica.groupId);
    const leaderId = current !== 0 ? current : this.forgottenLeaders.leaderOf(replica.groupId, replica);
    if (leaderId === 0 || leaderId === this.options.nodeId) return false;
    const now = performance.now();
    const down = this.peerFailures.isDown(leaderId) || (this.livenessWatch?.suspect(leaderId, now) ?? false);
    if (!down) {
      this.forgottenLeaders.forget(replica.groupId);
      return false;
    }
    if (this.peerFailures.mayCampaign(replica.groupId, now)) {
      replica.forgetLeader();
      replica.campaign();
      this.options.log(`range ${replica.groupId}: leader node ${leaderId} is down, campaigning for a request`);
    }
    return true;
  }

  onSnapshotData(header: SnapshotDataHeader, data: AsyncIterable<Uint8Array>): Promise<void> {
    return observeSnapshotReceived(this.options.replica.metrics, () => this.receiveSnapshotData(header, data));
  }

  private async receiveSnapshotData(header: SnapshotDataHeader, data: AsyncIterable<Uint8Array>): Promise<void> {
    const id = header.groupId;
    this.receivingSnapshots.set(id, (this.receivingSnapshots.get(id) ?? 0) + 1);
    try {
      const replica = this.replicas.get(id) ?? (await this.ensureReplica(id, header.fromNode, { kind: 'index', index: header.snapshotIndex }));
      if (replica === undefined) throw new Error(`no replica of range ${id} here (not created)`);
      await replica.onSnapshotData(header, data);
    } finally {
      const left = (this.receivingSnapshots.get(id) ?? 1) - 1;
      if (left === 0) this.receivingSnapshots.delete(id);
      else this.receivingSnapshots.set(id, left);
    }
  }

  /**
   * Creates an uninitialised replica for a range a known member sends messages for. For a range
   * this node was removed from (tombstoned), only once the range took this node back (takenBack).
   */
  private ensureReplica(groupId: GroupId, from: NodeId, progress: RangeProgress): Promise<Replica | undefined> {
    const existing = this.replicas.get(groupId);
    if (existing !== undefined) return Promise.resolve(existing);
    const pending = this.creating.get(groupId);
    if (pending !== undefined) return pending;
    if (this.awaitingDescriptor.has(groupId)) return Promise.resolve(undefined);
    // A drop in progress removes the group at its end: a replica created over it meanwhile would
    // lose its log under it (seen: a node crashed reading the removed group's last index).
    if (this.dropping.has(groupId)) return Promise.resolve(undefined);
    if (this.stopped || groupId <= 0 || (!this.options.knownPeer(from) && groupId !== metaRangeId)) return Promise.resolve(undefined);
    // Messages that were on their way when this node left the range do not bring it back at once.
    if ((this.droppedAt.get(groupId) ?? -Infinity) > performance.now() - droppedQuietMs) return Promise.resolve(undefined);
    const tombstone = this.tombstones.get(groupId);
    const takenBackBy = tombstone === undefined ? undefined : this.takenBack(groupId, tombstone, progress, from);
    if (tombstone !== undefined && takenBackBy === undefined) {
      if (!this.tombstoneRefusalLogged.has(groupId)) {
        this.tombstoneRefusalLogged.add(groupId);
        this.options.log(
          `range ${groupId}: ${describeProgress(progress, from)} ignored: this node's replica was removed (index ${tombstone.removedAt}, generation ${tombstone.generation ?? 'unknown'}) and the range has not taken it back`,
        );
      }
      return Promise.resolve(undefined);
    }
    const uninitialized = [...this.replicas.values()].filter((r) => !r.stateMachine.initialized).length + this.uninitializedCreating;
    if (uninitialized >= this.uninitializedMax) return Promise.resolve(undefined);
    this.uninitializedCreating++;
    const create = (async (): Promise<Replica | undefined> => {
      try {
        if (tombstone !== undefined) {
          this.options.log(`range ${groupId}: ${takenBackBy ?? ''}: the range took this node back`);
          this.tombstones.delete(groupId);
          this.tombstoneRefusalLogged.delete(groupId);
          await this.options.kv.deleteTombstone(groupId);
        }
        // A split applied here meanwhile wrote the descriptor: the group starts with its replicas.
        const desc = new KvStateMachine(this.options.kv.engine, groupId).descriptor();
        const conf = desc === undefined ? simpleConfState([]) : this.confOf(desc.replicas);
        if (!this.options.logStore.hasGroup(groupId)) await this.options.logStore.createGroup(groupId, conf);
        if (this.stopped) return undefined;
        const sm = new KvStateMachine(this.options.kv.engine, groupId);
        const replica = this.newReplica(groupId, sm, this.installerFor(groupId, sm));
        this.replicas.set(groupId, replica);
        if (!sm.initialized) this.uninitializedSince.set(groupId, performance.now());
        this.options.log(`range ${groupId}: uninitialised replica created (messages from node ${from}); waiting for a snapshot`);
        return replica;
      } finally {
        this.uninitializedCreating--;
      }
    })();
    this.creating.set(groupId, create);
    return create.finally(() => this.creating.delete(groupId));
  }

  /**
   * Whether a range whose replica this node dropped (`tombstone`) took this node back, and what
   * shows it (undefined: not shown; its messages create no replica). Raft messages carry no
   * descriptor generation and no replica id, and a heartbeat with commit 0 comes as well from a
   * leader that has not applied this node's removal yet as from one that added it anew, so the
   * messages alone do not tell. Shown by:
   *  - the meta range's copy of the range (as applied here) at a generation above the removal's,
   *    naming this node: every configuration change bumps the generation, so a later one added
   *    this node again (the placement driver records a move there before making it; a range
   *    leader reports its configuration there within a maintenance pass);
   *  - a Raft snapshot at an index past the removal whose configuration names this node.
   * A tombstone of a build that recorded no generation keeps that build's rule: any message
   * past the removal's index, or a heartbeat with commit 0.
   */
  private takenBack(groupId: GroupId, tombstone: RangeTombstone, progress: RangeProgress, from: NodeId): string | undefined {
    if (progress.kind === 'snapshot' && progress.namesThisNode && progress.index > tombstone.removedAt) return `${describeProgress(progress, from)} (past this node's removal at index ${tombstone.removedAt})`;
    if (tombstone.generation === undefined) {
      if (progress.kind === 'fresh-member' || progress.index > tombstone.removedAt) return `${describeProgress(progress, from)} (past this node's removal at index ${tombstone.removedAt}; a tombstone without generation)`;
      return undefined;
    }
    const copy = this.metaStateMachine()?.rangeDescriptors().get(groupId);
    if (copy !== undefined && copy.generation > tombstone.generation && copy.replicas.some((r) => r.nodeId === this.options.nodeId)) {
      return `${describeProgress(progress, from)}, and the meta range places this node in the range at generation ${copy.generation} (removed at generation ${tombstone.generation})`;
    }
    return undefined;
  }

  // ------------------------------------------------------------------ splits

  /**
   * Runs inside the left range's apply, after the split is written: creates (or, when messages
   * created an uninitialised one first, replaces) the right range's replica. The node that led
   * the left range campaigns at once so the right range has a leader without an election timeout.
   */
  private async onSplitApplied(left: RangeDescriptor, right: RangeDescriptor): Promise<void> {
    this.options.log(`split applied: ${describeRange(left)} | ${describeRange(right)}`);
    // The split forgot the left range's measured size: measure it again at the next pass, so the
    // leader's reports (placement: byte balance and the copy rate limit) carry a size.
    this.sizeChecked.delete(left.rangeId);
    // A held group (log kept, descriptor lost) gets its replica now, over its own log.
    this.awaitingDescriptor.delete(right.rangeId);
    const pending = this.creating.get(right.rangeId);
    if (pending !== undefined) await pending.catch(() => undefined);
    const existing = this.replicas.get(right.rangeId);
    // A replica whose group has members already (found at start, the split being replayed; or
    // one a snapshot reached): nothing to do. One created by messages has an empty group (even
    // if its state machine, created after the split's write, sees the descriptor).
    if (existing !== undefined && !this.emptyGroup(right.rangeId)) return;
    const init = this.initializeSplitRight(right, existing);
    this.creating.set(right.rangeId, init);
    const replica = await init.finally(() => this.creating.delete(right.rangeId));
    const leftReplica = this.replicas.get(left.rangeId);
    if (replica !== undefined && leftReplica?.role().role === 'leader') {
      this.splitsApplied++;
      // The right range's other replicas come to be where the split applies: tell the followers
      // the commit index now rather than with the next write or heartbeat, so that they vote.
      leftReplica.broadcastCommit();
      setImmediate(() => replica.campaign());
    }
  }

  /**
   * Creates the right range's group and replica. An uninitialised replica that messages created
   * first never voted (Store.deliver drops vote requests to it) and holds no data: its group is
   * dropped and created afresh with the split's configuration.
   */
  private async initializeSplitRight(right: RangeDescriptor, existing: Replica | undefined): Promise<Replica | undefined> {
    const { logStore, kv } = this.options;
    if (existing !== undefined) {
      this.replicas.delete(right.rangeId);
      this.uninitializedSince.delete(right.rangeId);
      await existing.stop();
      if (logStore.hasGroup(right.rangeId)) await logStore.removeGroup(right.rangeId);
    }
    if (!logStore.hasGroup(right.rangeId)) await logStore.createGroup(right.rangeId, this.confOf(right.replicas));
    if (this.stopped) return undefined;
    const sm = new KvStateMachine(kv.engine, right.rangeId);
    const replica = this.newReplica(right.rangeId, sm, this.installerFor(right.rangeId, sm));
    this.replicas.set(right.rangeId, replica);
    return replica;
  }

  // ------------------------------------------------------------------ maintenance (leaders)

  private async maintain(): Promise<void> {
    if (this.maintaining || this.stopped) return;
    this.maintaining = true;
    try {
      this.recordDescriptors();
      this.reportDescriptors();
      await this.collectRemovedReplicas();
      await this.collectUninitializedReplicas();
      await this.collectForgottenReplicas(performance.now());
      this.wakeFollowersOfSuspectLeaders(performance.now());
      this.pruneRangeBookkeeping(performance.now());
      for (const replica of this.replicas.values()) {
        if (this.stopped) return;
        if (!replica.serving || replica.role().role !== 'leader') {
          this.sizeChecked.delete(replica.groupId);
          continue;
        }
        if (replica.groupId === metaRangeId) continue;
        // One range's failure (a refused proposal, a replica stopping) must not starve the
        // ranges after it of membership changes and split checks.
        try {
          if (this.options.followMetaMembership !== false && this.options.placement !== true) this.followMetaMembership(replica);
          await this.maybeSplit(replica);
        } catch (err) {
          this.options.log(`range ${replica.groupId}: maintenance failed (retried): ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    } catch (err) {
      this.options.log(`range maintenance failed (retried): ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.maintaining = false;
    }
  }

  /**
   * Forgets what is kept per range only for a while: the leaders forgotten by replicas that are
   * gone or know a leader again, and drop times older than droppedQuietMs. Without this both
   * maps grow with every range this node ever woke or left, over the node's lifetime.
   */
  private pruneRangeBookkeeping(now: number): void {
    this.forgottenLeaders.prune((rangeId) => {
      const replica = this.replicas.get(rangeId);
      return replica === undefined ? undefined : { replica, leaderKnown: replica.role().leaderId !== 0 };
    });
    for (const [rangeId, droppedAtMs] of this.droppedAt) if (now - droppedAtMs >= droppedQuietMs) this.droppedAt.delete(rangeId);
  }

  /** Ranges whose replica here forgot its leader and has none yet (diagnostics and tests). */
  get forgottenLeaderCount(): number {
    return this.forgottenLeaders.size;
  }

  /**
   * The node liveness records in this node's copy of the meta range; records that do not decode
   * are skipped (and told to `onCorrupt`).
   */
  livenessRecords(onCorrupt?: (name: string, err: unknown) => void): LivenessRecord[] {
    const records: LivenessRecord[] = [];
    for (const [name, bytes] of this.metaStateMachine()?.metaRecords('liveness/') ?? []) {
      try {
        records.push(decodeLivenessRecord(bytes));
      } catch (err) {
        onCorrupt?.(name, err);
      }
    }
    return records;
  }

  /** Whether `nodeId`'s liveness record advanced recently (false when quiescence is off). */
  nodeRecentlyLive(nodeId: NodeId): boolean {
    return this.livenessWatch !== undefined && !this.livenessWatch.suspect(nodeId, performance.now());
  }

  /** Wakes quiescent followers whose leader's node liveness lapsed (node/quiescence.ts). */
  private wakeFollowersOfSuspectLeaders(nowMs: number): void {
    if (this.options.quiesce === undefined) return;
    this.livenessWatch ??= new LeaderLivenessWatch(this.options.quiesce.leaderSuspectMs, nowMs);
    // A corrupt record is reported by the placement host; here it simply never advances.
    this.livenessWatch.observe(this.livenessRecords(), nowMs);
    for (const replica of this.replicas.values()) {
      if (!replica.quiesced) continue;
      const { role, leaderId } = replica.role();
      if (role === 'leader' || leaderId === this.options.nodeId) continue;
      if (leaderId === 0 || this.livenessWatch.suspect(leaderId, nowMs)) replica.wake();
    }
  }

  private async maybeSplit(replica: Replica): Promise<void> {
    const sm = replica.stateMachine;
    const desc = sm.descriptor();
    if (desc === undefined) return;
    // The split copies the range's configuration: not while a membership change is on its way,
    // or the right range would start with the members the change is replacing.
    if (replica.membershipChangePending()) return;
    const max = this.options.rangeMaxBytes;
    if (this.sizeChecked.has(replica.groupId)) {
      // A walk at most every max/8 bytes written, and none while the range cannot be past the
      // limit yet (last measured size plus everything written since).
      if (sm.bytesSinceSizeCheck < max / 8) return;
      const upperBound = sm.sizeUpperBound();
      if (upperBound !== undefined && upperBound <= max) return;
    }
    this.sizeChecked.add(replica.groupId);
    sm.bytesSinceSizeCheck = 0;
    const { bytes, middle } = await sm.sizeAndMiddle();
    if (bytes <= max || middle === undefined) return;
    const config = replica.status().config;
    if (config.votersOutgoing.length > 0 || replica.membershipChangePending() || replica.role().role !== 'leader') {
      this.sizeChecked.delete(replica.groupId); // walked for nothing: check again next pass
      return;
    }
    const current = sm.descriptor();
    if (current === undefined || current.generation !== desc.generation || !containsKey(current, middle)) return;
    const newRangeId = await this.allocateRangeId();
    if (newRangeId === undefined) return;
    this.options.log(`range ${desc.rangeId} holds ~${bytes} bytes (limit ${max}): splitting at ${JSON.stringify(middle.toString('latin1'))} into new range ${newRangeId}`);
    const result = await replica.propose({ op: 'split', rangeId: desc.rangeId, generation: desc.generation, splitKey: middle, newRangeId, replicas: replicasOf(config) }, 10_000);
    if (result.op !== 'split' || !result.ok) this.options.log(`split of range ${desc.rangeId} was refused (the range changed meanwhile)`);
  }

  /**
   * A new range id, never one in use: the node-local counter is raised past every id of this
   * node's block the replicated state shows (the meta range's copies, the ranges hosted here).
   * Not before the meta range is initialised here: a node that lost its volume (and kept its id)
   * knows which ids it handed out only from the meta range.
   */
  private async allocateRangeId(): Promise<number | undefined> {
    const metaSm = this.metaStateMachine();
    if (metaSm === undefined || !metaSm.initialized) return undefined;
    const known = [...metaSm.rangeDescriptors().keys(), ...this.replicas.keys(), ...this.options.kv.rangeIds()];
    return this.options.kv.allocateRangeId(this.options.nodeId, known);
  }

  /**
   * Until a placement driver decides where replicas go, every range has the meta range's
   * members: one membership change per pass, towards the meta range's configuration; learners
   * are promoted by the replica once caught up (and once the meta range made them voters).
   */
  private followMetaMembership(replica: Replica): void {
    const meta = this.replicas.get(metaRangeId);
    const metaSm = meta?.stateMachine;
    if (meta === undefined || metaSm === undefined || !metaSm.initialized) return;
    const target = meta.status().config;
    if (target.voters.length === 0) return;
    const status = replica.status();
    const config = status.config;
    if (config.votersOutgoing.length > 0) return;
    const lifecycles = metaSm.memberLifecycles();
    const leaving = (id: NodeId): boolean => lifecycles.decommissioning.has(id) || lifecycles.removed.has(id);
    const me = this.options.nodeId;
    if (leaving(me) || !membersOf(target).includes(me)) {
      let best = 0;
      let bestMatch = -1;
      for (const [id, progress] of status.progress) {
        if (id === me || !config.voters.includes(id) || !progress.recentActive || leaving(id)) continue;
        if (progress.match > bestMatch) {
          bestMatch = progress.match;
          best = id;
        }
      }
      if (best !== 0) void replica.transferLeadership(best, 2000);
      return;
    }
    const wanted = membersOf(target).filter((id) => !lifecycles.removed.has(id));
    const current = membersOf(config);
    const change = (op: 'add-learner' | 'remove', nodeId: NodeId, why: string): void => {
      this.options.log(`range ${replica.groupId}: ${why}`);
      replica.proposeConfChange({ changes: [{ op, nodeId }], transition: 'auto' }, 5000).catch(() => undefined);
    };
    const missing = wanted.find((id) => !current.includes(id));
    if (missing !== undefined) return change('add-learner', missing, `adding node ${missing} as a learner (a member of the meta range)`);
    const demote = config.voters.find((id) => id !== me && (!target.voters.includes(id) || leaving(id)));
    if (demote !== undefined) return change('add-learner', demote, `demoting node ${demote} (not a voter of the meta range)`);
    const extra = current.find((id) => id !== me && !wanted.includes(id) && !config.voters.includes(id));
    if (extra !== undefined) return change('remove', extra, `removing node ${extra} (no longer a member of the meta range)`);
  }

  /** On the meta leader: records the descriptors of the ranges hosted here that the meta range lacks or has older. */
  private recordDescriptors(): void {
    const meta = this.replicas.get(metaRangeId);
    if (meta === undefined || !meta.serving || meta.role().role !== 'leader') return;
    const copies = meta.stateMachine.rangeDescriptors();
    const updates: RangeDescriptor[] = [];
    for (const replica of this.replicas.values()) {
      const desc = replica.stateMachine.descriptor();
      if (desc === undefined || desc.rangeId === metaRangeId) continue;
      const withReplicas = { ...desc, replicas: replicasOf(replica.status().config) };
      const copy = copies.get(desc.rangeId);
      if (copy !== undefined && copy.generation > desc.generation) continue;
      if (copy !== undefined && copy.generation === desc.generation && sameReplicas(copy.replicas, withReplicas.replicas)) continue;
      // With placement, a follower's configuration may be stale (a removal that never reached
      // it): at the same generation only the range's leader (it reports too) and the driver
      // correct the copy's replicas.
      const leads = replica.serving && replica.role().role === 'leader';
      if (this.options.placement === true && copy !== undefined && copy.generation === desc.generation && !leads) continue;
      updates.push(withReplicas);
    }
    if (updates.length === 0) return;
    meta.propose({ op: 'meta-descriptors', descriptors: updates }, 5000).catch((err: unknown) => {
      this.options.log(`could not record range descriptors: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  /**
   * On a range leader that is not the meta leader: reports the descriptors of the ranges it
   * leads that the meta range (as replicated here) lacks or has older, so that the meta range
   * knows every range even where the meta leader hosts no replica of it.
   */
  private reportDescriptors(): void {
    const meta = this.replicas.get(metaRangeId);
    const push = this.options.pushDescriptors;
    if (push === undefined || this.pushing || meta === undefined || !meta.stateMachine.initialized || meta.role().role === 'leader') return;
    const copies = meta.stateMachine.rangeDescriptors();
    const updates: RangeDescriptor[] = [];
    for (const replica of this.replicas.values()) {
      const desc = replica.stateMachine.descriptor();
      if (desc === undefined || desc.rangeId === metaRangeId || !replica.serving || replica.role().role !== 'leader') continue;
      const copy = copies.get(desc.rangeId);
      const replicas = replicasOf(replica.status().config);
      if (copy !== undefined && copy.generation > desc.generation) continue;
      // Same generation: only when the replica set changed (the placement driver moved replicas).
      if (copy !== undefined && copy.generation === desc.generation && sameReplicas(copy.replicas, replicas)) continue;
      updates.push({ ...desc, replicas });
    }
    if (updates.length === 0) return;
    this.pushing = true;
    push(updates)
      .catch((err: unknown) => this.options.log(`could not report range descriptors to the meta leader (retried): ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => (this.pushing = false));
  }

  /**
   * Drops the replicas of user ranges this node was removed from (it applied the configuration
   * change that removed it): the replica stops, its range-local keys and the user
   * keys of its span are deleted (synced) unless another replica here holds them, then its
   * group. Otherwise their stale spans would make this node refuse snapshots of the ranges that
   * hold those keys now. The meta range is never dropped (a removed node retires instead).
   */
  private async collectRemovedReplicas(): Promise<void> {
    const me = this.options.nodeId;
    for (const id of [...this.removedFrom]) {
      this.removedFrom.delete(id);
      const replica = this.replicas.get(id);
      if (this.stopped || replica === undefined || id === metaRangeId || this.creating.has(id)) continue;
      // Only on the removal's own signal (never from a configuration seen at start, which may
      // predate this node's addition until the log is replayed), and only if it still holds.
      if (membersOf(replica.status().config).includes(me)) continue;
      await this.dropReplica(id, replica, 'this node is no longer a member');
    }
  }

  /** Drops an initialised replica for good: stop, tombstone (synced), clear its state, remove its group. */
  private async dropReplica(id: GroupId, replica: Replica, why: string): Promise<void> {
    const desc = replica.stateMachine.descriptor();
    this.options.log(`range ${id}: ${why}; dropping its replica${desc === undefined ? '' : ` (${describeRange(desc)})`}`);
    this.replicas.delete(id);
    this.uninitializedSince.delete(id);
    this.dropping.add(id);
    try {
      await replica.stop();
      // The tombstone first (synced): a crash anywhere after it is finished by open(), and late
      // messages for the range do not bring an empty replica back.
      // The generation the range left this node at: its own descriptor's (it applied its
      // removal), or the meta range's copy's when later and without this node (a removal that
      // never reached it; a later copy naming this node is a re-addition, which counts).
      const copy = this.metaStateMachine()?.rangeDescriptors().get(id);
      const copyLeftMe = copy !== undefined && !copy.replicas.some((r) => r.nodeId === this.options.nodeId);
      const tombstone = { removedAt: replica.stateMachine.appliedIndex(), generation: Math.max(desc?.generation ?? 0, copyLeftMe ? copy.generation : 0) };
      this.tombstones.set(id, tombstone);
      this.tombstoneRefusalLogged.delete(id);
      await this.options.kv.writeTombstone(id, tombstone);
      await this.clearDroppedReplica(id, replica.stateMachine, desc);
      this.sizeChecked.delete(id);
      this.droppedAt.set(id, performance.now());
    } finally {
      this.dropping.delete(id);
    }
  }

  /**
   * With placement: drops replicas this node was removed from without learning it (the leader
   * stopped sending before the removal reached it). Only a replica whose own configuration no
   * longer counts this node as a voter (a removed voter was demoted first, and applied that), or
   * whose range's meta copy is of a later generation than its own descriptor, and whose
   * range the meta range (caught up here) does not place here for `notPlacedHereGraceMs`: its log
   * counts for no quorum, so dropping it loses nothing; if the range does want it, its messages
   * bring a replica back (past the tombstone) and a snapshot.
   */
  private async collectForgottenReplicas(now: number): Promise<void> {
    if (this.options.placement !== true) return;
    const meta = this.meta();
    if (meta === undefined || !meta.stateMachine.initialized) return;
    const metaStatus = meta.status();
    if (metaStatus.leaderId === 0 || meta.stateMachine.appliedIndex() < metaStatus.commit) return;
    const copies = meta.stateMachine.rangeDescriptors();
    const me = this.options.nodeId;
    for (const [id, replica] of [...this.replicas]) {
      if (this.stopped) return;
      const copy = copies.get(id);
      const forgotten =
        id !== metaRangeId &&
        replica.stateMachine.initialized &&
        !this.creating.has(id) &&
        !this.receivingSnapshots.has(id) &&
        replica.role().role !== 'leader' &&
        copy !== undefined &&
        !copy.replicas.some((r) => r.nodeId === me) &&
        // A voter by its own configuration only if the meta copy is of a later generation: every
        // configuration change bumps it, so the range committed changes past this replica's state
        // that left this node out (a node replaced while it was dead never hears of its removal).
        (!votersOf(replica.status().config).includes(me) || copy.generation > (replica.stateMachine.descriptor()?.generation ?? Number.MAX_SAFE_INTEGER));
      if (!forgotten) {
        this.notPlacedSince.delete(id);
        continue;
      }
      const since = this.notPlacedSince.get(id) ?? now;
      this.notPlacedSince.set(id, since);
      if (now - since < notPlacedHereGraceMs * 2) continue;
      this.notPlacedSince.delete(id);
      await this.dropReplica(id, replica, 'the meta range no longer places the range on this node (its removal never reached this replica)');
    }
  }

  /**
   * Removes held groups (a log, no descriptor) of ranges that the meta range, caught up here,
   * does not place on this node: a non-member's log counts for no quorum, so it is garbage.
   */
  private async collectHeldGroups(now: number): Promise<void> {
    const meta = this.meta();
    if (meta === undefined || !meta.stateMachine.initialized) return;
    const metaStatus = meta.status();
    if (metaStatus.leaderId === 0 || meta.stateMachine.appliedIndex() < metaStatus.commit) return;
    const copies = meta.stateMachine.rangeDescriptors();
    for (const [id, since] of [...this.awaitingDescriptor]) {
      const copy = copies.get(id);
      if (copy === undefined || copy.replicas.some((r) => r.nodeId === this.options.nodeId)) continue;
      if (now - since < Math.min(notPlacedHereGraceMs, this.uninitializedCollectMs)) continue;
      this.options.log(`range ${id}: removing the held group (a log, no descriptor): the meta range does not place the range on this node`);
      this.awaitingDescriptor.delete(id);
      if (this.options.logStore.hasGroup(id)) await this.options.logStore.removeGroup(id);
    }
  }

  /**
   * Drops uninitialised replicas (empty groups, created by messages) that got no snapshot within
   * uninitializedCollectMs, or sooner when the meta range's copy of the range does not list this
   * node. They hold nothing and never voted; if the range does want this node, its next message
   * creates one again.
   */
  private async collectUninitializedReplicas(): Promise<void> {
    const now = performance.now();
    const copies = this.metaStateMachine()?.rangeDescriptors();
    await this.collectHeldGroups(now);
    for (const [id, since] of [...this.uninitializedSince]) {
      const replica = this.replicas.get(id);
      if (this.stopped) return;
      // The meta range is never dropped (a joining node waits for its snapshot as long as it takes).
      if (replica === undefined || replica.stateMachine.initialized || id === metaRangeId) {
        this.uninitializedSince.delete(id);
        continue;
      }
      if (this.creating.has(id) || this.receivingSnapshots.has(id) || !this.emptyGroup(id)) continue;
      const age = now - since;
      const copy = copies?.get(id);
      const notPlacedHere = copy !== undefined && !copy.replicas.some((r) => r.nodeId === this.options.nodeId);
      if (age < this.uninitializedCollectMs && !(notPlacedHere && age >= Math.min(notPlacedHereGraceMs, this.uninitializedCollectMs))) continue;
      this.options.log(`range ${id}: dropping the uninitialised replica (${notPlacedHere ? 'the meta range does not place the range here' : `no snapshot within ${this.uninitializedCollectMs} ms`})`);
      this.replicas.delete(id);
      this.uninitializedSince.delete(id);
      await replica.stop();
      // A split or a message may have re-created the range meanwhile: then its group is theirs.
      if (this.replicas.has(id) || this.creating.has(id)) continue;
      if (this.options.logStore.hasGroup(id) && this.emptyGroup(id)) await this.options.logStore.removeGroup(id);
    }
  }

  // ------------------------------------------------------------------ shutdown

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.maintenanceTimer);
    clearInterval(this.tickTimer);
    await Promise.all([...this.creating.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.replicas.values()].map((replica) => replica.stop()));
  }
}

/**
 * The meta range's heartbeat interval in ticks: a third of the election timeout, or the configured
 * interval when that is longer. The meta range never quiesces (node liveness rides on it) and has
 * a replica on every member, so its leader's heartbeats to every node, and their answers, were
 * about half of an idle follower's CPU (profiled at 5 nodes: ~9 of ~18 ms per second). Three
 * heartbeats per election timeout still keep followers from campaigning, CheckQuorum and lease
 * acknowledgments fresh (a lease lasts the election timeout less the drift), and the cluster
 * status's Raft contact (live when heard within an election timeout). Commits do not wait for
 * heartbeats: a leader sends appends as soon as its commit index advances.
 */
export function metaHeartbeatTicks(raft: Partial<Pick<RaftOptions, 'electionTimeoutTicks' | 'heartbeatTimeoutTicks'>>): number {
  const configured = raft.heartbeatTimeoutTicks ?? defaultRaftOptions.heartbeatTimeoutTicks;
  const election = raft.electionTimeoutTicks ?? defaultRaftOptions.electionTimeoutTicks;
  return Math.max(configured, Math.floor(election / 3));
}
