/**
 * The Raft consensus core for one group: a pure, deterministic state machine in the style of
 * etcd's RawNode. The host feeds it ticks, messages and proposals, then repeatedly takes a
 * Ready (state to persist, messages to send, entries to apply), acts on it, and calls advance().
 * No I/O, no clocks, no randomness of its own: election jitter comes from an injected Rng.
 *
 * Design notes:
 * - Config changes take effect when their entry is applied (in advance()).
 * - The leader counts its own log towards commit only once the host reports it persisted
 *   (advance()), so a commit never depends on unsynced local state.
 * - Node ids are never reused; the host enforces that (the core does not remember removed ids).
 */
import { assert, assertNever } from '../assert.ts';
import {
  allMembers,
  applyConfChange,
  confStateOf,
  configFromConfState,
  decodeConfChange,
  encodeConfChange,
  isJoint,
  isVoter,
  type Configuration,
} from './confchange.ts';
import { RaftLog } from './log.ts';
import { Progress, type ProgressState } from './progress.ts';
import { jointCommitted, jointVote } from './quorum.ts';
import { CompactedError, UnavailableError, type RaftStorage } from './storage.ts';
import {
  checkIndex,
  entryBytes,
  noNode,
  sameHardState,
  type AppendRequest,
  type AppendResponse,
  type ConfChange,
  type ConfState,
  type Entry,
  type EntryKind,
  type GroupId,
  type HardState,
  type Heartbeat,
  type HeartbeatResponse,
  type Message,
  type NodeId,
  type Ready,
  type ReadState,
  type Role,
  type SnapshotMeta,
  type SnapshotRequest,
  type SoftState,
  type VoteRequest,
  type VoteResponse,
} from './types.ts';

/** Injected randomness: next() returns a number in [0, 1). */
export interface Rng {
  next(): number;
}

export type ReadOnlyOption = 'safe' | 'lease-based';

export interface RaftOptions {
  /** Followers campaign after electionTimeoutTicks .. 2*electionTimeoutTicks-1 ticks of silence. */
  readonly electionTimeoutTicks: number;
  readonly heartbeatTimeoutTicks: number;
  /** Largest Append message payload (at least one entry is always sent). */
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  /** Proposals are refused while more than this many payload bytes are uncommitted. */
  readonly maxUncommittedEntriesBytes: number;
  /** Largest batch of committed entries handed out in one Ready. */
  readonly maxApplyBytes: number;
  readonly maxPendingReadRequests: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  /** Lease = electionTimeoutTicks - leaseClockDriftTicks, from the last quorum acknowledgment. */
  readonly leaseClockDriftTicks: number;
  /**
   * Quiescence: a leader whose group stayed idle this many ticks (nothing proposed, every
   * follower caught up, everything committed and applied) sends one last Heartbeat marked
   * `quiesce` and stops heartbeating; its followers stop their election timers. Any proposal,
   * read, message or the host's wake() resumes ticking. 0 disables quiescence. A host that
   * enables it must wake followers whose leader may have failed (for example from node liveness),
   * since a quiesced follower never times out on its own.
   */
  readonly quiesceAfterIdleTicks: number;
  /**
   * A leader skips the periodic Heartbeat to a follower it sent an Append since the last one
   * (the Append already reset the follower's election timer and carried the commit index), as
   * long as that follower replicates normally with room in its inflight window and no read is
   * waiting for a heartbeat round. Saves a heartbeat and its answer per follower and tick on busy
   * ranges. Not with lease reads: the lease is measured in heartbeat acknowledgments.
   */
  readonly skipHeartbeatAfterAppend: boolean;
  /**
   * When the leader's commit index advances it sends no empty Append to announce it: followers
   * learn it from the next Append or Heartbeat, which always carry it (Raft paper §5.3), at most
   * a heartbeat interval later (or with the quiesce heartbeat). A lone write then costs one
   * Append and one answer per follower instead of two of each; the leader's own commit, and so
   * the client's answer, is not delayed. Followers still get at once whatever entries are
   * waiting for them, and while a membership change is in flight every commit is announced at
   * once (a removed voter learns of its removal; joint configurations move on quickly).
   */
  readonly commitWithNextMessage: boolean;
}

export const defaultRaftOptions: RaftOptions = {
  electionTimeoutTicks: 10,
  heartbeatTimeoutTicks: 1,
  maxMsgBytes: 1 << 20,
  maxInflightMsgs: 256,
  maxInflightBytes: 32 << 20,
  maxUncommittedEntriesBytes: 64 << 20,
  maxApplyBytes: 64 << 20,
  maxPendingReadRequests: 4096,
  preVote: true,
  checkQuorum: true,
  readOnlyOption: 'safe',
  leaseClockDriftTicks: 2,
  quiesceAfterIdleTicks: 0,
  skipHeartbeatAfterAppend: false,
  commitWithNextMessage: false,
};

export interface RaftConfig extends Partial<RaftOptions> {
  readonly id: NodeId;
  readonly groupId: GroupId;
  readonly storage: RaftStorage;
  readonly rng: Rng;
  /** The index the host's state machine has already applied (at least the snapshot index). */
  readonly applied?: number;
}

export type ProposalRejection =
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderId: NodeId }
  | { readonly ok: false; readonly reason: 'transfer-in-progress'; readonly transferee: NodeId }
  | { readonly ok: false; readonly reason: 'uncommitted-bytes-limit'; readonly uncommittedBytes: number }
  | { readonly ok: false; readonly reason: 'conf-change-pending'; readonly pendingIndex: number }
  | { readonly ok: false; readonly reason: 'invalid-conf-change'; readonly detail: string };

export type ProposeResult = { readonly ok: true; readonly index: number; readonly term: number } | ProposalRejection;

export type ReadIndexResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'no-leader' }
  | { readonly ok: false; readonly reason: 'too-many-pending-reads' };

export type TransferResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderId: NodeId }
  | { readonly ok: false; readonly reason: 'not-a-voter' };

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly inflightMsgs: number;
  readonly pendingSnapshot: number;
  readonly isLearner: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly groupId: GroupId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leaderId: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly config: ConfState;
  readonly leadTransferee: NodeId;
  /** Whether the group is quiescent here (no election or heartbeat timer running). */
  readonly quiesced: boolean;
  /** Per peer, on the leader only (empty elsewhere). */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

/** A message without the fields the core stamps on every outgoing message. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'groupId' | 'from'> : never) : never;

interface PendingRead {
  readonly context: string;
  readonly from: NodeId;
}

interface ReadIndexRound extends PendingRead {
  /** Unique per round within this leader's term; heartbeats carry it, not the caller's context. */
  readonly roundId: string;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

type CampaignKind = 'pre-vote' | 'election' | 'transfer';

export class RaftNode {
  readonly id: NodeId;
  readonly groupId: GroupId;
  private readonly options: RaftOptions;
  private readonly rng: Rng;
  private readonly log: RaftLog;

  private term = 0;
  private vote: NodeId = noNode;
  private lead: NodeId = noNode;
  private role: Role = 'follower';
  private config: Configuration;
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Counts every tick; the leader measures its lease in these. */
  private ticks = 0;
  private leadTransferee: NodeId = noNode;
  /** Set once this leader sent TimeoutNow: its lease can no longer be trusted this term. */
  private leaseRevoked = false;
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private pendingReads: PendingRead[] = [];
  private readRounds: ReadIndexRound[] = [];
  private readRoundSeq = 0;
  /** Quiescent: ticks only count time (the lease clock); no election or heartbeat timer runs. */
  private quiesced = false;
  /** Leader ticks since the log last grew or a read arrived (quiescence hysteresis). */
  private idleTicks = 0;
  /** `ticks` when this follower last heard from its leader (forgetLeader's lease check). */
  private leaderContactTick = 0;
  /** Followers this leader sent an Append since its last periodic heartbeat. */
  private readonly appendedSinceHeartbeat = new Set<NodeId>();

  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readyOutstanding = false;

  constructor(config: RaftConfig) {
    this.options = { ...defaultRaftOptions, ...stripUndefined(config) };
    validateOptions(this.options);
    assert(Number.isSafeInteger(config.id) && config.id > 0, 'node id is a positive safe integer');
    this.id = config.id;
    this.groupId = config.groupId;
    this.rng = config.rng;
    this.log = new RaftLog(config.storage, this.options.maxApplyBytes);
    const initial = config.storage.initialState();
    this.config = configFromConfState(initial.confState);
    if (initial.hardState.term > 0 || initial.hardState.commit > 0) {
      this.loadHardState(initial.hardState);
    }
    if (config.applied !== undefined && config.applied > 0) this.log.appliedTo(checkIndex(config.applied, 'applied'));
    this.prevHardState = this.hardState();
    this.becomeFollower(this.term, noNode);
    this.prevSoftState = this.softState();
  }

  private loadHardState(hardState: HardState): void {
    checkIndex(hardState.term, 'term');
    assert(hardState.commit >= this.log.committed, 'hard state commit below the snapshot');
    assert(hardState.commit <= this.log.lastIndex(), 'hard state commit beyond the log');
    this.log.commitTo(hardState.commit);
    this.term = hardState.term;
    this.vote = hardState.vote;
  }

  // ------------------------------------------------------------------ inputs

  /** Advances logical time by one tick (elections, heartbeats, CheckQuorum, transfer timeout). */
  tick(): void {
    this.ticks++;
    // Quiescent: time still passes for the lease (it must expire), but no timer fires.
    if (this.quiesced) return;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Starts an election now (the host's "campaign" command). Ignored on leaders and non-voters. */
  campaign(): void {
    this.wake();
    this.hup('election');
  }

  /** Feeds one received message. Messages for another group are a routing bug (assertion). */
  step(message: Message): void {
    assert(message.groupId === this.groupId, `message for group ${message.groupId} stepped into ${this.groupId}`);
    assert(message.to === this.id, `message for ${message.to} stepped into ${this.id}`);
    checkIndex(message.term, 'message term');
    // Any message wakes a quiescent group, except the answers to (and a repeat of) the quiesce
    // heartbeat itself.
    if (this.quiesced && message.kind !== 'HeartbeatResponse' && !(message.kind === 'Heartbeat' && message.quiesce === true)) this.wake();
    if (message.kind !== 'HeartbeatResponse') this.idleTicks = 0;
    if (message.term > this.term) {
      if (message.kind === 'Vote' || message.kind === 'PreVote') {
        if (!message.transfer && this.inLeaderLease()) return;
      }
      if (message.kind === 'PreVote') {
        // A pre-vote never changes our term.
      } else if (message.kind === 'PreVoteResponse' && !message.reject) {
        // A granted pre-vote carries the term we would campaign for; nothing to learn.
      } else if (message.kind === 'Append' || message.kind === 'Heartbeat' || message.kind === 'Snapshot') {
        this.becomeFollower(message.term, message.from);
      } else if (message.kind === 'Vote') {
        // Adopt the term but keep the election timer running: a candidate that cannot win
        // (its log is behind) must not keep resetting the timers of nodes that could.
        // Granting the vote resets the timer (handleVoteRequest).
        const elapsed = this.electionElapsed;
        this.becomeFollower(message.term, noNode);
        this.electionElapsed = elapsed;
      } else {
        this.becomeFollower(message.term, noNode);
      }
    } else if (message.term < this.term) {
      this.stepStaleMessage(message);
      return;
    }
    if (message.kind === 'Vote' || message.kind === 'PreVote') {
      this.handleVoteRequest(message);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(message);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(message);
        break;
      case 'follower':
        this.stepFollower(message);
        break;
      default:
        assertNever(this.role, 'role');
    }
  }

  /** Proposes a command. Only a leader that is not transferring leadership accepts it. */
  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== undefined) return refused;
    this.wake();
    const size = data.byteLength;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + size > this.options.maxUncommittedEntriesBytes) {
      return { ok: false, reason: 'uncommitted-bytes-limit', uncommittedBytes: this.uncommittedBytes };
    }
    const entry = this.appendEntry('normal', data);
    this.uncommittedBytes += size;
    this.bcastAppend();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Whether this leader has a membership change in its log that is not applied yet (false on followers). */
  membershipChangePending(): boolean {
    return this.role === 'leader' && this.pendingConfIndex > this.log.applied;
  }

  /**
   * Proposes a membership change. One change may be in flight at a time; the change is checked
   * against the current configuration now and again (identically on every replica) on apply.
   */
  proposeConfChange(change: ConfChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== undefined) return refused;
    this.wake();
    if (this.pendingConfIndex > this.log.applied) {
      return { ok: false, reason: 'conf-change-pending', pendingIndex: this.pendingConfIndex };
    }
    const result = applyConfChange(this.config, change);
    if (!result.ok) return { ok: false, reason: 'invalid-conf-change', detail: result.reason };
    const entry = this.appendEntry('conf-change', encodeConfChange(change));
    this.pendingConfIndex = entry.index;
    this.bcastAppend();
    return { ok: true, index: entry.index, term: entry.term };
  }

  private refuseProposal(): ProposalRejection | undefined {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderId: this.lead };
    if (this.leadTransferee !== noNode) {
      return { ok: false, reason: 'transfer-in-progress', transferee: this.leadTransferee };
    }
    return undefined;
  }

  /**
   * Requests a linearizable read point. Later, a Ready carries a ReadState with this context
   * and the index the state machine must reach before the read is served. Followers forward
   * the request to the leader; without a known leader the request is refused.
   */
  readIndex(context: string): ReadIndexResult {
    assert(context !== '', 'read context must not be empty');
    if (this.role === 'leader') {
      if (this.pendingReads.length + this.readRounds.length >= this.options.maxPendingReadRequests) {
        return { ok: false, reason: 'too-many-pending-reads' };
      }
      this.wake();
      this.idleTicks = 0;
      this.handleReadRequest({ context, from: this.id });
      return { ok: true };
    }
    if (this.lead === noNode) return { ok: false, reason: 'no-leader' };
    this.send({ kind: 'ReadIndex', to: this.lead, term: this.term, context });
    return { ok: true };
  }

  /** Hands leadership to `target` once it is caught up (TimeoutNow); aborts after an election timeout. */
  transferLeadership(target: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderId: this.lead };
    if (!isVoter(this.config, target)) return { ok: false, reason: 'not-a-voter' };
    if (target === this.id) {
      this.leadTransferee = noNode;
      return { ok: true };
    }
    if (this.leadTransferee === target) return { ok: true };
    this.wake();
    this.leadTransferee = target;
    this.electionElapsed = 0;
    const progress = this.progress.get(target);
    assert(progress !== undefined, 'a voter has progress');
    if (progress.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target);
    return { ok: true };
  }

  /**
   * A leader sends every follower its commit index now (an Append, empty if need be), for a host
   * that needs them to apply what it just applied (with commitWithNextMessage they would learn it
   * only with the next Append or Heartbeat). A no-op on a follower.
   */
  broadcastCommit(): void {
    if (this.role !== 'leader') return;
    this.bcastAppend();
  }

  /**
   * Resumes ticking a quiescent group (a no-op otherwise). The host calls it on a follower when
   * its leader may have failed (node liveness); the core calls it on any proposal, read or
   * message. A leader that wakes heartbeats at once, so its followers wake too, and must hear a
   * quorum again before it trusts its lease or CheckQuorum.
   */
  wake(): void {
    if (!this.quiesced) return;
    this.quiesced = false;
    this.idleTicks = 0;
    if (this.role !== 'leader') return;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    for (const [id, progress] of this.progress) {
      if (id === this.id) continue;
      progress.recentActive = false;
      // Acknowledgments of heartbeats sent before or while quiescent prove nothing about now.
      progress.leaseAckTick = -1;
    }
    this.bcastHeartbeat();
  }

  /**
   * Forgets a follower's leader (lead becomes none, the term stays) and wakes the group. The
   * host calls it when it has evidence that the leader failed (the connection to its node
   * dropped): a follower that heard from a leader within an election timeout refuses
   * (pre-)votes, and a quiescent follower's election clock stands still, so without this the
   * followers of a quiescent range whose leader died would refuse each other's campaigns until
   * their own timers ran out. Forgetting changes no vote and no term; a live leader's other
   * followers still refuse, and its next heartbeat restores the leader here.
   *
   * With lease reads the leader may serve reads on the strength of this follower's recent
   * acknowledgment, so then it is refused until an election timeout passed since the leader's
   * last message (the lease it could have granted ran out). Returns whether it forgot.
   */
  forgetLeader(): boolean {
    if (this.role !== 'follower' || this.lead === noNode) return false;
    if (this.options.readOnlyOption === 'lease-based' && this.ticks - this.leaderContactTick < this.options.electionTimeoutTicks) return false;
    this.lead = noNode;
    this.wake();
    return true;
  }

  /** Whether the group is quiescent on this node. */
  isQuiesced(): boolean {
    return this.quiesced;
  }

  /** The transport could not reach `peer`: stop optimistic pipelining to it. */
  reportUnreachable(peer: NodeId): void {
    if (this.role !== 'leader') return;
    const progress = this.progress.get(peer);
    if (progress?.state === 'replicate') progress.becomeProbe();
  }

  /** The host finished (ok) or gave up (not ok) streaming a snapshot to `peer`. */
  reportSnapshot(peer: NodeId, ok: boolean): void {
    if (this.role !== 'leader') return;
    const progress = this.progress.get(peer);
    if (progress?.state !== 'snapshot') return;
    if (!ok) progress.pendingSnapshot = 0;
    progress.becomeProbe();
    // Wait for the follower's answer (or a heartbeat response) before probing again.
    progress.probeSent = true;
  }

  // ------------------------------------------------------------------ Ready / advance

  hasReady(): boolean {
    if (!sameSoftState(this.softState(), this.prevSoftState)) return true;
    if (!sameHardState(this.hardState(), this.prevHardState)) return true;
    if (this.log.unstableSnapshot() !== undefined) return true;
    if (this.log.unstableEntries().length > 0) return true;
    if (this.msgs.length > 0 || this.readStates.length > 0) return true;
    return this.log.hasNextCommittedEntries();
  }

  /** Takes the pending work. Must be followed by advance() before the next ready(). */
  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called twice without advance()');
    this.readyOutstanding = true;
    const softState = this.softState();
    const hardState = this.hardState();
    const snapshot = this.log.unstableSnapshot();
    const ready: Ready = {
      ...(sameSoftState(softState, this.prevSoftState) ? {} : { softState }),
      ...(sameHardState(hardState, this.prevHardState) ? {} : { hardState }),
      ...(snapshot === undefined ? {} : { snapshot }),
      entries: this.log.unstableEntries(),
      committedEntries: this.log.nextCommittedEntries(),
      messages: this.msgs,
      readStates: this.readStates,
    };
    this.prevSoftState = softState;
    this.msgs = [];
    this.readStates = [];
    return ready;
  }

  /** The host persisted, sent and applied everything in `ready`. */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, 'advance() without ready()');
    this.readyOutstanding = false;
    if (ready.hardState !== undefined) this.prevHardState = ready.hardState;
    if (ready.snapshot !== undefined) {
      this.log.stableSnapshotTo(ready.snapshot.index);
      if (ready.snapshot.index > this.log.applied) this.log.appliedTo(ready.snapshot.index);
    }
    const lastPersisted = ready.entries[ready.entries.length - 1];
    if (lastPersisted !== undefined) {
      this.log.stableTo(lastPersisted.index, lastPersisted.term);
      if (this.role === 'leader' && this.log.matchTerm(lastPersisted.index, lastPersisted.term)) {
        this.selfProgress().maybeUpdate(lastPersisted.index);
        if (this.maybeCommit()) this.announceCommit();
      }
    }
    for (const entry of ready.committedEntries) {
      if (entry.index <= this.log.applied) continue;
      if (entry.kind === 'conf-change') this.applyConfChangeEntry(entry);
      this.log.appliedTo(entry.index);
      if (this.role === 'leader' && entry.kind === 'normal') {
        this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entry.data.byteLength);
      }
    }
    this.maybeAutoLeaveJoint();
  }

  /**
   * Whether this replica knows neither a log entry nor a member (a range created here by a
   * message, before its snapshot): what status() would say, without building the status.
   */
  isBlank(): boolean {
    return this.log.lastIndex() === 0 && this.config.incoming.size === 0 && this.config.learners.size === 0;
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>();
    if (this.role === 'leader') {
      for (const [id, pr] of this.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          inflightMsgs: pr.inflights.count(),
          pendingSnapshot: pr.pendingSnapshot,
          isLearner: !isVoter(this.config, id),
        });
      }
    }
    return {
      id: this.id,
      groupId: this.groupId,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      config: confStateOf(this.config),
      leadTransferee: this.leadTransferee,
      quiesced: this.quiesced,
      progress,
    };
  }

  /**
   * The highest index the host may compact its log to (by taking a state-machine snapshot
   * there) without forcing a snapshot onto a follower that is keeping up: the applied index,
   * lowered on a leader to the smallest match of its recently active followers. Compacting
   * further is safe too; lagging followers then receive a Snapshot message.
   */
  compactableIndex(): number {
    let index = this.log.applied;
    if (this.role === 'leader') {
      for (const [id, progress] of this.progress) {
        if (id !== this.id && progress.recentActive) index = Math.min(index, progress.match);
      }
    }
    return Math.max(index, this.log.firstIndex() - 1);
  }

  /** Whether a lease read would be answered locally right now (for tests and metrics). */
  leaseValid(): boolean {
    if (this.role !== 'leader' || !this.options.checkQuorum) return false;
    if (this.leaseRevoked || this.leadTransferee !== noNode) return false;
    const quorumTick = jointCommitted(this.config.incoming, this.config.outgoing, (id) =>
      id === this.id ? this.ticks : (this.progress.get(id)?.leaseAckTick ?? -1),
    );
    if (quorumTick < 0) return false;
    return this.ticks - quorumTick < this.options.electionTimeoutTicks - this.options.leaseClockDriftTicks;
  }

  /** Read access to the log for tests and the host (entries lo..hi-1, throws CompactedError). */
  logEntries(lo: number, hi: number): Entry[] {
    return this.log.slice(lo, hi, Number.POSITIVE_INFINITY);
  }

  logTerm(index: number): number {
    return this.log.termOrZero(index);
  }

  firstLogIndex(): number {
    return this.log.firstIndex();
  }

  // ------------------------------------------------------------------ state transitions

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leaderId: this.lead, role: this.role };
  }

  private selfProgress(): Progress {
    const progress = this.progress.get(this.id);
    assert(progress !== undefined, 'leader has its own progress');
    return progress;
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = noNode;
    }
    this.lead = noNode;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.options.electionTimeoutTicks + Math.floor(this.rng.next() * this.options.electionTimeoutTicks);
    this.leadTransferee = noNode;
    this.leaseRevoked = false;
    this.quiesced = false;
    this.idleTicks = 0;
    this.appendedSinceHeartbeat.clear();
    this.votes.clear();
    this.progress.clear();
    for (const id of allMembers(this.config)) this.addProgress(id);
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.pendingReads = [];
    this.readRounds = [];
  }

  private addProgress(id: NodeId): Progress {
    const progress = new Progress(this.log.lastIndex() + 1, this.options.maxInflightMsgs, this.options.maxInflightBytes);
    if (id === this.id) progress.match = this.log.stableLastIndex();
    this.progress.set(id, progress);
    return progress;
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become pre-candidate');
    // Does not change the term or the vote: a pre-vote round is side-effect free.
    this.role = 'pre-candidate';
    this.quiesced = false;
    this.votes.clear();
    this.lead = noNode;
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become candidate');
    this.reset(this.term + 1);
    checkIndex(this.term, 'term');
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.selfProgress();
    self.becomeReplicate();
    self.recentActive = true;
    // Conf changes from earlier terms must be applied before this leader proposes another.
    this.pendingConfIndex = this.log.lastIndex();
    // An entry of the new term lets the leader commit (§5.4.2) and serve reads.
    this.appendEntry('normal', new Uint8Array(0));
  }

  private promotable(): boolean {
    return isVoter(this.config, this.id) && this.log.unstableSnapshot() === undefined;
  }

  private hasUnappliedConfChanges(): boolean {
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    if (lo > this.log.committed) return false;
    return this.log.slice(lo, this.log.committed + 1, Number.POSITIVE_INFINITY).some((e) => e.kind === 'conf-change');
  }

  private hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // Campaigning before applying a committed conf change could use the wrong configuration.
    if (this.hasUnappliedConfChanges()) return;
    if (kind === 'election' && this.options.preVote) this.startCampaign('pre-vote');
    else this.startCampaign(kind);
  }

  private startCampaign(kind: CampaignKind): void {
    let voteTerm: number;
    if (kind === 'pre-vote') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (this.pollVotes() === 'won') {
      if (kind === 'pre-vote') this.startCampaign('election');
      else this.becomeLeader();
      return;
    }
    const voters = new Set([...this.config.incoming, ...this.config.outgoing]);
    for (const id of [...voters].sort((a, b) => a - b)) {
      if (id === this.id) continue;
      this.send({
        kind: kind === 'pre-vote' ? 'PreVote' : 'Vote',
        to: id,
        term: voteTerm,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
        transfer: kind === 'transfer',
      });
    }
  }

  private pollVotes(): 'won' | 'lost' | 'pending' {
    return jointVote(this.config.incoming, this.config.outgoing, this.votes);
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup('election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.options.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.options.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, noNode);
          return;
        }
        for (const [id, progress] of this.progress) if (id !== this.id) progress.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== noNode) this.leadTransferee = noNode;
    }
    this.idleTicks++;
    if (this.heartbeatElapsed >= this.options.heartbeatTimeoutTicks) {
      this.heartbeatElapsed = 0;
      if (this.canQuiesce()) this.quiesce();
      else this.bcastHeartbeat(this.options.skipHeartbeatAfterAppend && this.options.readOnlyOption === 'safe' && this.readRounds.length === 0);
      this.appendedSinceHeartbeat.clear();
    }
  }

  /**
   * Whether this leader may stop ticking: quiescence is enabled and the group was idle long
   * enough; nothing is in flight (no transfer, membership change, joint configuration, read);
   * its own log is durable, committed and applied; and every peer's log matches it in full, so
   * the quiesce heartbeat tells each of them the final commit index.
   */
  private canQuiesce(): boolean {
    const after = this.options.quiesceAfterIdleTicks;
    if (after <= 0 || this.idleTicks < after) return false;
    if (this.leadTransferee !== noNode || isJoint(this.config)) return false;
    if (this.pendingConfIndex > this.log.applied) return false;
    if (this.pendingReads.length > 0 || this.readRounds.length > 0) return false;
    const lastIndex = this.log.lastIndex();
    if (this.log.committed !== lastIndex || this.log.applied !== lastIndex) return false;
    if (!this.committedEntryInCurrentTerm()) return false;
    for (const progress of this.progress.values()) {
      if (progress.match !== lastIndex) return false;
    }
    return true;
  }

  /** Sends the last heartbeat, marked quiesce, and stops the leader's timers. */
  private quiesce(): void {
    assert(this.role === 'leader', 'only a leader quiesces a group');
    this.quiesced = true;
    for (const id of this.progress.keys()) {
      if (id === this.id) continue;
      this.send({ kind: 'Heartbeat', to: id, term: this.term, commit: this.log.committed, context: '', sentTick: this.ticks, quiesce: true });
    }
  }

  private quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, progress] of this.progress) active.set(id, id === this.id || progress.recentActive);
    return jointVote(this.config.incoming, this.config.outgoing, active) === 'won';
  }

  /** A follower that heard from a leader within an election timeout ignores (pre)votes. */
  private inLeaderLease(): boolean {
    // A restarted node forgot when it last heard from a leader; with lease reads it must
    // assume a lease it acknowledged may still run, for one election timeout after start.
    if (this.options.readOnlyOption === 'lease-based' && this.ticks < this.options.electionTimeoutTicks) return true;
    if (!this.options.checkQuorum && !this.options.preVote) return false;
    return this.lead !== noNode && this.electionElapsed < this.options.electionTimeoutTicks;
  }

  // ------------------------------------------------------------------ message handling

  private send(message: Outgoing): void {
    checkIndex(message.term, 'outgoing term');
    assert(message.to !== this.id, 'a node never messages itself');
    // Every variant of Outgoing plus these two fields is exactly the matching Message variant.
    this.msgs.push({ ...message, groupId: this.groupId, from: this.id } as Message);
  }

  private stepStaleMessage(message: Message): void {
    if ((this.options.checkQuorum || this.options.preVote) && (message.kind === 'Heartbeat' || message.kind === 'Append')) {
      // Tell a deposed leader about the newer term so that it steps down.
      this.send({ kind: 'AppendResponse', to: message.from, term: this.term, reject: false, index: 0, hintIndex: 0, hintTerm: 0 });
    } else if (message.kind === 'PreVote' || message.kind === 'Vote') {
      // Rejecting (rather than ignoring) tells the stale candidate about the newer term.
      const kind = message.kind === 'PreVote' ? 'PreVoteResponse' : 'VoteResponse';
      this.send({ kind, to: message.from, term: this.term, reject: true });
    }
  }

  private handleVoteRequest(message: VoteRequest): void {
    const responseKind = message.kind === 'PreVote' ? 'PreVoteResponse' : 'VoteResponse';
    const canVote =
      this.vote === message.from ||
      (this.vote === noNode && this.lead === noNode) ||
      (message.kind === 'PreVote' && message.term > this.term);
    if (canVote && this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm)) {
      this.send({ kind: responseKind, to: message.from, term: message.term, reject: false });
      if (message.kind === 'Vote') {
        this.electionElapsed = 0;
        this.vote = message.from;
      }
    } else {
      this.send({ kind: responseKind, to: message.from, term: this.term, reject: true });
    }
  }

  private stepFollower(message: Message): void {
    switch (message.kind) {
      case 'Append':
      case 'Heartbeat':
      case 'Snapshot':
        this.electionElapsed = 0;
        this.leaderContactTick = this.ticks;
        this.lead = message.from;
        this.handleLeaderMessage(message);
        return;
      case 'TimeoutNow':
        this.hup('transfer');
        return;
      case 'ReadIndexResponse':
        this.readStates.push({ index: message.index, context: message.context });
        return;
      case 'ReadIndex':
      case 'AppendResponse':
      case 'HeartbeatResponse':
      case 'VoteResponse':
      case 'PreVoteResponse':
      case 'Vote':
      case 'PreVote':
        return;
      default:
        assertNever(message, 'message');
    }
  }

  private stepCandidate(message: Message): void {
    switch (message.kind) {
      case 'Append':
      case 'Heartbeat':
      case 'Snapshot':
        // A leader exists in our term: give up the campaign.
        this.becomeFollower(message.term, message.from);
        this.handleLeaderMessage(message);
        return;
      case 'VoteResponse':
      case 'PreVoteResponse':
        this.handleVoteResponse(message);
        return;
      case 'TimeoutNow':
      case 'ReadIndex':
      case 'ReadIndexResponse':
      case 'AppendResponse':
      case 'HeartbeatResponse':
      case 'Vote':
      case 'PreVote':
        return;
      default:
        assertNever(message, 'message');
    }
  }

  private handleVoteResponse(message: VoteResponse): void {
    const expected = this.role === 'pre-candidate' ? 'PreVoteResponse' : 'VoteResponse';
    if (message.kind !== expected) return;
    this.votes.set(message.from, !message.reject);
    const result = this.pollVotes();
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.startCampaign('election');
      else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === 'lost') {
      this.becomeFollower(this.term, noNode);
    }
  }

  private handleLeaderMessage(message: AppendRequest | Heartbeat | SnapshotRequest): void {
    switch (message.kind) {
      case 'Append':
        this.handleAppend(message);
        return;
      case 'Heartbeat':
        this.handleHeartbeat(message);
        return;
      case 'Snapshot':
        this.handleSnapshot(message);
        return;
      default:
        assertNever(message, 'leader message');
    }
  }

  private respondAppend(to: NodeId, index: number): void {
    this.send({ kind: 'AppendResponse', to, term: this.term, reject: false, index, hintIndex: 0, hintTerm: 0 });
  }

  private handleAppend(message: AppendRequest): void {
    if (message.prevLogIndex < this.log.committed) {
      this.respondAppend(message.from, this.log.committed);
      return;
    }
    const lastNewIndex = this.log.maybeAppend(message.prevLogIndex, message.prevLogTerm, message.commit, message.entries);
    if (lastNewIndex !== undefined) {
      this.respondAppend(message.from, lastNewIndex);
      return;
    }
    // Point the leader at the last entry that might match: at or before prevLogIndex and with
    // a term no newer than prevLogTerm. That skips a whole divergent term per round trip.
    const hint = this.log.findConflictByTerm(Math.min(message.prevLogIndex, this.log.lastIndex()), message.prevLogTerm);
    this.send({
      kind: 'AppendResponse',
      to: message.from,
      term: this.term,
      reject: true,
      index: message.prevLogIndex,
      hintIndex: hint.index,
      hintTerm: hint.term,
    });
  }

  private handleHeartbeat(message: Heartbeat): void {
    this.log.commitTo(message.commit);
    // Quiesce only with a log that is exactly the leader's committed log: otherwise keep the
    // timer running, and the campaign it ends in wakes the leader, which then repairs this log.
    if (message.quiesce === true && this.log.committed === message.commit && this.log.lastIndex() === message.commit) this.quiesced = true;
    this.send({ kind: 'HeartbeatResponse', to: message.from, term: this.term, context: message.context, sentTick: message.sentTick });
  }

  private handleSnapshot(message: SnapshotRequest): void {
    if (this.restore(message.snapshot)) this.respondAppend(message.from, this.log.lastIndex());
    else this.respondAppend(message.from, this.log.committed);
  }

  private restore(snapshot: SnapshotMeta): boolean {
    if (snapshot.index <= this.log.committed) return false;
    if (this.log.matchTerm(snapshot.index, snapshot.term)) {
      // We already have the snapshot's entries: just learn that they are committed.
      this.log.commitTo(snapshot.index);
      return false;
    }
    this.log.restore(snapshot);
    this.config = configFromConfState(snapshot.confState);
    this.progress.clear();
    for (const id of allMembers(this.config)) this.addProgress(id);
    return true;
  }

  private stepLeader(message: Message): void {
    switch (message.kind) {
      case 'AppendResponse':
      case 'HeartbeatResponse': {
        const progress = this.progress.get(message.from);
        if (progress === undefined) return;
        progress.recentActive = true;
        if (message.kind === 'AppendResponse') this.handleAppendResponse(message, progress);
        else this.handleHeartbeatResponse(message, progress);
        return;
      }
      case 'ReadIndex':
        if (!this.progress.has(message.from)) return;
        // Bounded like local reads: an excess request is dropped and the follower's client retries.
        if (this.pendingReads.length + this.readRounds.length >= this.options.maxPendingReadRequests) return;
        this.handleReadRequest({ context: message.context, from: message.from });
        return;
      case 'Append':
      case 'Heartbeat':
      case 'Snapshot':
        assert(false, `two leaders in term ${this.term}: ${this.id} and ${message.from}`);
        return;
      case 'VoteResponse':
      case 'PreVoteResponse':
      case 'TimeoutNow':
      case 'ReadIndexResponse':
      case 'Vote':
      case 'PreVote':
        return;
      default:
        assertNever(message, 'message');
    }
  }

  private handleAppendResponse(message: AppendResponse, progress: Progress): void {
    if (message.reject) {
      let nextProbe = message.hintIndex;
      if (message.hintTerm > 0) nextProbe = this.log.findConflictByTerm(message.hintIndex, message.hintTerm).index;
      if (progress.maybeDecrTo(message.index, nextProbe)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        this.sendAppend(message.from);
      }
      return;
    }
    const wasPaused = progress.isPaused();
    if (!progress.maybeUpdate(message.index)) {
      if (wasPaused && progress.state === 'probe') this.sendAppend(message.from);
      return;
    }
    if (progress.state === 'probe') progress.becomeReplicate();
    else if (progress.state === 'snapshot' && progress.match >= progress.pendingSnapshot) progress.becomeReplicate();
    else if (progress.state === 'replicate') progress.inflights.freeLE(message.index);
    if (this.maybeCommit()) this.announceCommit();
    // A follower that was waiting (probe) learns the current commit index right away.
    else if (wasPaused) this.sendAppend(message.from);
    // Pipelining: keep sending while the inflight window has room.
    while (this.sendAppend(message.from, false)) {
      // each iteration sends one batch
    }
    if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.sendTimeoutNow(message.from);
    }
  }

  private handleHeartbeatResponse(message: HeartbeatResponse, progress: Progress): void {
    progress.probeSent = false;
    // A lost Append would otherwise keep a full window stuck forever: make room for a retry.
    if (progress.state === 'replicate' && progress.inflights.full()) progress.inflights.freeFirstOne();
    if (message.sentTick > progress.leaseAckTick) progress.leaseAckTick = message.sentTick;
    if (progress.match < this.log.lastIndex()) this.sendAppend(message.from);
    if (message.context !== '') this.ackReadRound(message.from, message.context);
  }

  private maybeCommit(): boolean {
    const index = jointCommitted(this.config.incoming, this.config.outgoing, (id) => this.progress.get(id)?.match ?? 0);
    if (!Number.isFinite(index)) return false;
    const committedBefore = this.committedEntryInCurrentTerm();
    // Only entries of the current term are committed by counting replicas (§5.4.2).
    if (!this.log.maybeCommit(index, this.term)) return false;
    if (!committedBefore) this.releasePendingReads();
    return true;
  }

  private appendEntry(kind: EntryKind, data: Uint8Array): Entry {
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, kind, data };
    checkIndex(entry.index, 'entry index');
    assert(!this.quiesced, 'a quiescent leader appends nothing (it wakes first)');
    this.idleTicks = 0;
    this.log.append([entry]);
    return entry;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /**
   * The commit index advanced: tell the followers (an Append to each, empty if need be), or with
   * commitWithNextMessage only send the entries some follower is still waiting for; the commit
   * index rides along with them, the next Append or the next Heartbeat.
   */
  private announceCommit(): void {
    if (!this.options.commitWithNextMessage || this.pendingConfIndex > this.log.applied) {
      this.bcastAppend();
      return;
    }
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, false);
  }

  /** Sends one Append (or a Snapshot) to `to` if its progress allows; returns whether it sent. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const progress = this.progress.get(to);
    if (progress === undefined || progress.isPaused()) return false;
    const prevLogIndex = progress.next - 1;
    let prevLogTerm: number;
    let entries: Entry[];
    try {
      prevLogTerm = this.log.term(prevLogIndex);
      entries = this.log.slice(progress.next, this.log.lastIndex() + 1, this.options.maxMsgBytes);
    } catch (error) {
      if (error instanceof CompactedError) return this.sendSnapshot(to, progress);
      throw error;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ kind: 'Append', to, term: this.term, prevLogIndex, prevLogTerm, entries, commit: this.log.committed });
    this.appendedSinceHeartbeat.add(to);
    const last = entries[entries.length - 1];
    if (last !== undefined) progress.sentEntries(last.index, entries.reduce((sum, e) => sum + entryBytes(e), 0));
    else if (progress.state === 'probe') progress.probeSent = true;
    return true;
  }

  private sendSnapshot(to: NodeId, progress: Progress): boolean {
    if (!progress.recentActive) return false;
    let snapshot: SnapshotMeta;
    try {
      snapshot = this.log.snapshot();
    } catch (error) {
      if (error instanceof UnavailableError) return false;
      throw error;
    }
    assert(snapshot.index > 0, 'a compacted log has a snapshot');
    progress.becomeSnapshot(snapshot.index);
    this.send({ kind: 'Snapshot', to, term: this.term, snapshot });
    return true;
  }

  private bcastHeartbeat(skipRecentlyAppended = false): void {
    const lastRound = this.readRounds[this.readRounds.length - 1];
    const context = lastRound?.roundId ?? '';
    for (const [id, progress] of this.progress) {
      if (id === this.id) continue;
      if (skipRecentlyAppended && this.appendedSinceHeartbeat.has(id) && progress.state === 'replicate' && !progress.inflights.full()) continue;
      const commit = Math.min(progress.match, this.log.committed);
      this.send({ kind: 'Heartbeat', to: id, term: this.term, commit, context, sentTick: this.ticks });
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    // Once the transferee may campaign, voters may ignore our lease: stop lease reads.
    this.leaseRevoked = true;
    this.send({ kind: 'TimeoutNow', to, term: this.term });
  }

  // ------------------------------------------------------------------ reads

  private committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  private handleReadRequest(read: PendingRead): void {
    if (!this.committedEntryInCurrentTerm()) {
      // The commit index of a new leader may lag; wait for its first entry to commit.
      if (this.pendingReads.length < this.options.maxPendingReadRequests) this.pendingReads.push(read);
      return;
    }
    const soleVoter = this.config.incoming.size === 1 && this.config.outgoing.size === 0 && this.config.incoming.has(this.id);
    if (soleVoter || (this.options.readOnlyOption === 'lease-based' && this.leaseValid())) {
      this.answerRead(read, this.log.committed);
      return;
    }
    if (this.readRounds.some((round) => round.context === read.context && round.from === read.from)) return;
    this.readRoundSeq++;
    this.readRounds.push({ ...read, roundId: String(this.readRoundSeq), index: this.log.committed, acks: new Set([this.id]) });
    this.bcastHeartbeat();
  }

  private answerRead(read: PendingRead, index: number): void {
    if (read.from === this.id) this.readStates.push({ index, context: read.context });
    else this.send({ kind: 'ReadIndexResponse', to: read.from, term: this.term, index, context: read.context });
  }

  private releasePendingReads(): void {
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const read of reads) this.handleReadRequest(read);
  }

  private ackReadRound(from: NodeId, roundId: string): void {
    const position = this.readRounds.findIndex((round) => round.roundId === roundId);
    const round = this.readRounds[position];
    if (round === undefined) return;
    round.acks.add(from);
    const acks = new Map<NodeId, boolean>([...round.acks].map((id) => [id, true]));
    if (jointVote(this.config.incoming, this.config.outgoing, acks) !== 'won') return;
    // Leadership was confirmed after every earlier round started, so they are all answered.
    const done = this.readRounds.splice(0, position + 1);
    for (const finished of done) this.answerRead(finished, finished.index);
  }

  // ------------------------------------------------------------------ membership

  private applyConfChangeEntry(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    const result = applyConfChange(this.config, change);
    // An invalid change is refused identically on every replica, so skipping it is safe.
    if (!result.ok) return;
    this.switchConfig(result.config);
  }

  private switchConfig(config: Configuration): void {
    this.config = config;
    const members = new Set(allMembers(config));
    const added: NodeId[] = [];
    for (const id of members) {
      if (this.progress.has(id)) continue;
      const progress = this.addProgress(id);
      // Give a new member a full CheckQuorum round before it counts as inactive.
      progress.recentActive = true;
      added.push(id);
    }
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    if (this.role !== 'leader') return;
    if (!isVoter(config, this.id)) {
      this.stepDownAfterRemoval();
      return;
    }
    if (this.leadTransferee !== noNode && !isVoter(config, this.leadTransferee)) this.leadTransferee = noNode;
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of added) if (id !== this.id) this.sendAppend(id);
  }

  /** A leader that is no longer a voter hands off to the most caught-up voter and steps down. */
  private stepDownAfterRemoval(): void {
    let best: NodeId = noNode;
    let bestMatch = -1;
    for (const id of [...this.config.incoming].sort((a, b) => a - b)) {
      const match = this.progress.get(id)?.match ?? 0;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    if (best !== noNode && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
    this.becomeFollower(this.term, noNode);
  }

  private maybeAutoLeaveJoint(): void {
    if (this.role !== 'leader') return;
    if (!isJoint(this.config) || !this.config.autoLeave) return;
    if (this.pendingConfIndex > this.log.applied) return;
    const entry = this.appendEntry('conf-change', encodeConfChange({ changes: [], transition: 'auto' }));
    this.pendingConfIndex = entry.index;
    this.bcastAppend();
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leaderId === b.leaderId && a.role === b.role;
}

function stripUndefined(config: RaftConfig): Partial<RaftOptions> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value !== undefined && key in defaultRaftOptions) out[key] = value;
  }
  return out as Partial<RaftOptions>;
}

function validateOptions(options: RaftOptions): void {
  assert(options.heartbeatTimeoutTicks > 0, 'heartbeatTimeoutTicks must be positive');
  assert(options.electionTimeoutTicks > options.heartbeatTimeoutTicks, 'electionTimeoutTicks must exceed heartbeatTimeoutTicks');
  assert(options.maxMsgBytes > 0, 'maxMsgBytes must be positive');
  assert(options.maxUncommittedEntriesBytes > 0, 'maxUncommittedEntriesBytes must be positive');
  assert(options.maxPendingReadRequests > 0, 'maxPendingReadRequests must be positive');
  assert(options.leaseClockDriftTicks >= 0, 'leaseClockDriftTicks must not be negative');
  assert(options.leaseClockDriftTicks < options.electionTimeoutTicks, 'leaseClockDriftTicks must be below electionTimeoutTicks');
  if (options.readOnlyOption === 'lease-based') {
    assert(options.checkQuorum, "readOnlyOption 'lease-based' requires checkQuorum");
  }
}
