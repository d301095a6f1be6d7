/**
 * The host of one Raft group on this node: it drives the pure RaftNode (ticks from a monotonic
 * clock, the Ready/advance loop), persists through the LogStore, sends through the transport,
 * applies committed entries to the KV state machine, and turns client requests into proposals
 * and ReadIndex reads that resolve only once applied.
 *
 * Ordering (the raft README's host contract): per Ready, the snapshot and entries/hard state
 * are made durable first, then messages are sent, then committed entries are applied and reads
 * served, then advance(). One Ready is processed at a time (`exclusive`), and snapshot
 * installation takes the same lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert } from '../assert.ts';
import { RaftNode, type RaftOptions, type RaftStatus } from '../raft/raft.ts';
import type { RaftStorage } from '../raft/storage.ts';
import type { ConfChange, Entry, GroupId, Message, NodeId, Ready, SnapshotRequest, SoftState } from '../raft/types.ts';
import { encodeCommand, type Command } from '../kv/command.ts';
import { metaRangeId } from '../kv/descriptor.ts';
import { KvError, NotLeaderError } from '../kv/errors.ts';
import type { KvLimits } from '../kv/limits.ts';
import { configAfter, type ApplyResult, type KvStateMachine } from '../kv/state-machine.ts';
import type { LogStore, PeerTransport, SnapshotDataHeader, TransportHandlers } from './interfaces.ts';
import type { SnapshotInstaller } from './snapshot-install.ts';
import { observeProposal, type ReplicaMetricsSink } from '../metrics/sink.ts';
import { paced, type ByteRateLimiter } from './byte-rate-limiter.ts';
import { decodeSnapshotStream, encodeSnapshotStream } from './snapshot-stream.ts';
import { ClockOffsetExceededError, HybridLogicalClock, decodeTimestamp, encodeTimestamp, systemPhysicalClock } from '../hlc/hlc.ts';

/** The clock offset bound of a replica's own clock when the node gives it none. */
const defaultMaxOffsetMs = 500;

export interface MonotonicClock {
  nowMs(): number;
}

export interface ReplicaOptions {
  readonly nodeId: NodeId;
  readonly groupId: GroupId;
  readonly logStore: LogStore;
  readonly stateMachine: KvStateMachine;
  /** Scratch space for outgoing and incoming snapshots (emptied at start). */
  readonly snapshotDir: string;
  readonly tickMs: number;
  readonly raft: Partial<RaftOptions>;
  readonly limits: KvLimits;
  readonly clock: MonotonicClock;
  /** Compact the Raft log (after flushing the engine) once it holds this many applied entries. */
  readonly compactionEntries: number;
  /** The gRPC address of a node, for NotLeader answers ('' when unknown). */
  readonly addressOf: (id: NodeId) => string;
  /** Installs received snapshots atomically across crashes (staged files and an install marker). */
  readonly installer: SnapshotInstaller;
  /** Whether a caught-up learner may be promoted (not while it is being decommissioned). */
  readonly promotable?: (id: NodeId) => boolean;
  /**
   * Why a snapshot of this range covering the user span may not be installed now (another
   * replica on this node still holds some of its keys), or undefined when it may.
   */
  readonly refuseSnapshot?: (span: { readonly startKey: Buffer; readonly endKey: Buffer }) => string | undefined;
  /**
   * Why a command may not be proposed yet (its format needs a cluster version not finalized:
   * kv/command.ts commandRefusal), or undefined when it may; refused with PH_FEATURE_NOT_FINALIZED.
   * Absent: every command may be proposed (tests that host replicas in-process).
   */
  readonly refuseCommand?: (command: Command) => string | undefined;
  readonly log: (line: string) => void;
  /** Paces this node's outgoing snapshot streams (--snapshot-rate-bytes; one limiter shared by every replica). */
  readonly snapshotRate?: ByteRateLimiter;
  /**
   * Paces this node's incoming snapshot streams (load-aware pacing: --snapshot-rate-bytes times the
   * pacer's share; shared by every replica). A slower read holds the sender back through the
   * stream's flow control. Absent: read as fast as they arrive.
   */
  readonly snapshotReceiveRate?: ByteRateLimiter;
  /** Where proposals, snapshots sent and role changes are reported (metrics); absent: not reported. */
  readonly metrics?: ReplicaMetricsSink;
  /** The node's hybrid logical clock: stamps writes when proposed, follows applied timestamps (default: one per replica on the system clock). */
  readonly hlc?: HybridLogicalClock;
  /**
   * Called once after this replica failed to persist or apply and stopped serving. The data node
   * program stops its process; absent (tests that host replicas in-process), nothing more happens.
   */
  readonly onFatal?: (err: Error) => void;
}

/** Stamps a KV write with the leader's clock; other commands are left as they are. */
function stamped(command: Command, hlc: HybridLogicalClock): Command {
  switch (command.op) {
    case 'put':
    case 'delete':
    case 'cas':
      return { ...command, ts: encodeTimestamp(hlc.now()) };
    default:
      return command;
  }
}

/**
 * One caller waiting for its command; several share an entry when proposals are batched. A class
 * (not an object of closures): one is made for every client write.
 */
class ProposalWaiter {
  settled = false;
  timer: NodeJS.Timeout | undefined;
  readonly promise: Promise<ApplyResult>;
  private settle!: (result: ApplyResult) => void;
  private fail!: (err: Error) => void;

  constructor(
    readonly command: Command | undefined,
    deadlineMs: number,
    /** Called once, when the waiter settles (the replica's count of waiting proposals). */
    private readonly onSettled: () => void,
  ) {
    this.promise = new Promise<ApplyResult>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    this.timer = setTimeout(expireWaiter, deadlineMs, this, deadlineMs);
  }

  resolve(result: ApplyResult): void {
    if (this.settled) return;
    this.finish();
    this.settle(result);
  }

  reject(err: Error): void {
    if (this.settled) return;
    this.finish();
    this.fail(err);
  }

  private finish(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.onSettled();
  }
}

function expireWaiter(waiter: ProposalWaiter, deadlineMs: number): void {
  waiter.reject(new KvError('PH_DEADLINE_EXCEEDED', `write not applied within ${deadlineMs} ms; it may or may not take effect`));
}

interface PendingProposal {
  readonly term: number;
  readonly waiters: readonly ProposalWaiter[];
  /** The entry is a 'batch' command whose i-th result belongs to waiters[i]. */
  readonly batched: boolean;
}

interface PendingRead {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface ReadRound {
  index: number | undefined;
  readonly reads: PendingRead[];
}

/** Most bytes and commands proposed as one batch entry. */
const proposalBatchBytesMax = 512 * 1024;
const proposalBatchCommandsMax = 1024;

function commandBytes(command: Command): number {
  switch (command.op) {
    case 'put':
      return command.key.byteLength + command.value.byteLength + 16;
    case 'cas':
      return command.key.byteLength + command.value.byteLength + (command.expected?.byteLength ?? 0) + 16;
    case 'delete':
      return command.key.byteLength + 16;
    case 'members':
    case 'member-state':
    case 'batch':
    case 'split':
    case 'meta-descriptors':
    case 'cluster-version':
    case 'close-ts':
    case 'protect-ts':
    case 'release-ts':
    case 'meta-record':
      return 4096;
  }
}

/** A tick gap larger than this (a paused process) is not replayed tick by tick. */
const tickCatchUpMax = 1000;
/** A learner within this many entries of the leader's last index is promoted to voter. */
const promotionLagEntriesMax = 64;
/**
 * A snapshot whose Raft index trails the applied index by more entries than this, and by more log
 * bytes than the next, is refreshed before it is sent.
 */
const snapshotRefreshLagEntriesMin = 64;
const snapshotRefreshLogBytesMin = 1024 * 1024;

/**
 * The index of the first configuration change in (snapshotIndex, upTo], or upTo + 1 if none.
 * The core starts with the snapshot's configuration and changes take effect when applied, so a
 * restart must replay from there (the state machine skips what it already holds), or a node
 * added after the snapshot would not know it is a member. Reads in pages to bound memory.
 */
function firstConfChangeAfter(storage: RaftStorage, snapshotIndex: number, upTo: number): number {
  const pageBytesMax = 4 * 1024 * 1024;
  for (let lo = snapshotIndex + 1; lo <= upTo; ) {
    const page = storage.entries(lo, upTo + 1, pageBytesMax);
    const change = page.find((entry) => entry.kind === 'conf-change');
    if (change !== undefined) return change.index;
    lo += page.length;
  }
  return upTo + 1;
}

/** `source` unchanged, reporting each chunk's size as it is taken. */
async function* counted(source: AsyncIterable<Uint8Array>, count: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    count(chunk.byteLength);
    yield chunk;
  }
}

export class Replica implements TransportHandlers {
  readonly raft: RaftNode;
  private transport: PeerTransport | undefined;
  private lockTail: Promise<void> = Promise.resolve();
  private loopScheduled = false;
  private loopRunning = false;
  private stopped = false;
  private fatal: Error | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private lastTickMs: number;
  private ticksSinceMembershipCheck = 0;
  private readonly proposals = new Map<number, PendingProposal>();
  private queuedProposals: ProposalWaiter[] = [];
  private proposalsWaiting = 0;
  private persistedHardState: { term: number; vote: number };
  private unassignedReads: PendingRead[] = [];
  private readonly readRounds = new Map<string, ReadRound>();
  private readonly servableRounds: ReadRound[] = [];
  private readsInFlight = 0;
  private readRoundSeq = 0;
  private snapshotSeq = 0;
  private readonly snapshotsSending = new Set<NodeId>();
  /** Per peer: the index the log was last compacted at before a snapshot to it (refreshStaleSnapshot). */
  private readonly snapshotRefreshedTo = new Map<NodeId, number>();
  private readonly receivedSnapshots = new Set<string>();
  private softState: SoftState = { leaderId: 0, role: 'follower' };
  private readonly roleListeners: ((state: SoftState) => void)[] = [];
  private readonly removedListeners: (() => void)[] = [];
  /** When a message from each peer last arrived (monotonic ms): liveness as this node sees it. */
  private readonly lastHeardMs = new Map<NodeId, number>();

  private readonly hlc: HybridLogicalClock;

  constructor(private readonly options: ReplicaOptions) {
    this.hlc = options.hlc ?? new HybridLogicalClock(systemPhysicalClock, { maxOffsetMs: defaultMaxOffsetMs });
    const storage = options.logStore.storageFor(options.groupId);
    const snapshotIndex = storage.firstIndex() - 1;
    // The engine may be ahead of the log's commit (a snapshot installed just before a crash):
    // the core then replays entries the state machine skips (KvStateMachine.apply).
    const initialHardState = storage.initialState().hardState;
    const commit = initialHardState.commit;
    this.persistedHardState = { term: initialHardState.term, vote: initialHardState.vote };
    const stateApplied = Math.max(snapshotIndex, Math.min(options.stateMachine.appliedIndex(), Math.max(commit, snapshotIndex)));
    const applied = Math.min(stateApplied, firstConfChangeAfter(storage, snapshotIndex, stateApplied) - 1);
    this.raft = new RaftNode({
      ...options.raft,
      id: options.nodeId,
      groupId: options.groupId,
      storage,
      rng: { next: () => Math.random() },
      ...(applied > 0 ? { applied } : {}),
    });
    fs.rmSync(options.snapshotDir, { recursive: true, force: true });
    fs.mkdirSync(options.snapshotDir, { recursive: true });
    this.lastTickMs = options.clock.nowMs();
  }

  get groupId(): number {
    return this.options.groupId;
  }

  get stateMachine(): KvStateMachine {
    return this.options.stateMachine;
  }

  /** Starts an election now (a range created by a split, on the node that led its left part). */
  campaign(): void {
    if (this.stopped) return;
    this.raft.campaign();
    this.scheduleLoop();
  }

  /** On the leader: sends the followers the commit index now (Raft broadcastCommit). */
  broadcastCommit(): void {
    if (this.stopped) return;
    this.raft.broadcastCommit();
    this.scheduleLoop();
  }

  /** Connects the transport and starts ticking. */
  start(transport: PeerTransport, options: { readonly externalTicks?: boolean } = {}): void {
    this.transport = transport;
    if (options.externalTicks !== true) this.tickTimer = setInterval(() => this.tick(), this.options.tickMs);
    this.scheduleLoop();
  }

  /**
   * Catches the Raft ticks up with the clock and runs the host loop if that produced work. The
   * Store calls it for all its replicas from one timer (or the replica's own timer does).
   */
  tick(): void {
    if (this.stopped) return;
    this.catchUpTicks();
    if (this.raft.hasReady()) this.scheduleLoop();
  }

  // ------------------------------------------------------------------ client API

  /**
   * Proposes a command; resolves with its result once committed and applied here. Commands
   * that arrive together are proposed as one 'batch' entry (one append, one message per peer).
   */
  propose(command: Command, deadlineMs: number): Promise<ApplyResult> {
    return observeProposal(this.options.metrics, () => this.proposeCommand(command, deadlineMs));
  }

  private proposeCommand(command: Command, deadlineMs: number): Promise<ApplyResult> {
    // Every refusal is a rejected promise, never a synchronous throw: callers that only attach
    // .catch() (fire-and-forget proposals in the Store's loops) must see it too.
    try {
      this.checkServing();
      if (this.softState.role !== 'leader') throw this.notLeader();
      const refusal = this.options.refuseCommand?.(command);
      if (refusal !== undefined) throw new KvError('PH_FEATURE_NOT_FINALIZED', `range ${this.options.groupId}: ${refusal}`);
      if (this.proposalsWaiting >= this.options.limits.proposalsInFlightMax) {
        throw new KvError('PH_OVERLOADED', `${this.proposalsWaiting} proposals in flight (limit ${this.options.limits.proposalsInFlightMax})`);
      }
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const waiter = this.newWaiter(command, deadlineMs);
    this.queuedProposals.push(waiter);
    this.scheduleLoop();
    return waiter.promise;
  }

  /** Proposes a membership change; resolves once it is applied here. */
  proposeConfChange(change: ConfChange, deadlineMs: number): Promise<ApplyResult> {
    try {
      this.checkServing();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const result = this.raft.proposeConfChange(change);
    if (!result.ok) return Promise.reject(this.rejectionError(result));
    const waiter = this.newWaiter(undefined, deadlineMs);
    this.proposals.set(result.index, { term: result.term, waiters: [waiter], batched: false });
    this.scheduleLoop();
    return waiter.promise;
  }

  private readonly waiterSettled = (): void => {
    this.proposalsWaiting--;
  };

  private newWaiter(command: Command | undefined, deadlineMs: number): ProposalWaiter {
    this.proposalsWaiting++;
    return new ProposalWaiter(command, deadlineMs, this.waiterSettled);
  }

  private rejectionError(result: Exclude<ReturnType<RaftNode['propose']>, { ok: true }>): KvError {
    switch (result.reason) {
      case 'not-leader':
        return this.notLeader();
      case 'transfer-in-progress':
        return new KvError('PH_UNAVAILABLE', `leadership is moving to node ${result.transferee}`);
      case 'uncommitted-bytes-limit':
        return new KvError('PH_OVERLOADED', `${result.uncommittedBytes} uncommitted bytes`);
      case 'conf-change-pending':
        return new KvError('PH_UNAVAILABLE', `a membership change (index ${result.pendingIndex}) is still pending`);
      case 'invalid-conf-change':
        return new KvError('PH_BAD_REQUEST', `invalid membership change: ${result.detail}`);
    }
  }

  /** Proposes the queued commands, in batches of at most proposalBatchBytesMax. */
  private proposeQueued(): void {
    // Taken whole (nothing queues more while this runs: it is synchronous) and walked by index.
    const queue = this.queuedProposals;
    this.queuedProposals = [];
    let next = 0;
    try {
      while (next < queue.length) {
        const waiters: ProposalWaiter[] = [];
        const commands: Command[] = [];
        let bytes = 0;
        while (next < queue.length && bytes < proposalBatchBytesMax && waiters.length < proposalBatchCommandsMax) {
          const waiter = queue[next++];
          assert(waiter !== undefined, 'index within the queue');
          if (waiter.settled || waiter.command === undefined) continue;
          waiters.push(waiter);
          commands.push(stamped(waiter.command, this.hlc));
          bytes += commandBytes(waiter.command);
        }
        const only = commands[0];
        if (only === undefined) continue;
        const batched = commands.length > 1;
        const result = this.raft.propose(encodeCommand(batched ? { op: 'batch', commands } : only));
        if (!result.ok) {
          const err = this.rejectionError(result);
          for (const waiter of waiters) waiter.reject(err);
          continue;
        }
        this.proposals.set(result.index, { term: result.term, waiters, batched });
      }
    } finally {
      // A throw (the replica then fails) leaves the rest queued, for failPending to answer.
      if (next < queue.length) this.queuedProposals = [...queue.slice(next), ...this.queuedProposals];
    }
  }

  /**
   * Makes a read at `ts` (a packed HLC timestamp) repeatable on this leader: once it resolves,
   * everything committed before is applied here and every later write of the range gets a
   * timestamp above `ts` (the range's closed timestamp is at or above it; raised through the
   * log when it is not, so every replica and every later leader keeps it).
   */
  async closeTimestamp(ts: bigint, deadlineMs: number): Promise<void> {
    const until = performance.now() + deadlineMs;
    await this.linearizableBarrier(deadlineMs);
    if (this.options.stateMachine.closedTimestamp() >= ts) return;
    await this.propose({ op: 'close-ts', ts }, Math.max(1, Math.floor(until - performance.now())));
  }

  /** The node's clock, for reads and backups at a timestamp. */
  get clock(): HybridLogicalClock {
    return this.hlc;
  }

  /** Moves the node's clock past a timestamp the range applied (another leader's), when it can. */
  private followTimestamp(ts: bigint): void {
    if (ts === 0n || ts <= encodeTimestamp(this.hlc.latest)) return;
    try {
      this.hlc.update(decodeTimestamp(ts));
    } catch (err) {
      // A timestamp beyond the offset bound is not taken into the clock; versions stay ordered
      // anyway (the state machine writes above the range's closed timestamp).
      if (!(err instanceof ClockOffsetExceededError)) throw err;
    }
  }

  /**
   * Waits until this leader has confirmed (ReadIndex, or its lease) that it was still leader at
   * some point after the call, and has applied everything committed then. Reads that arrive
   * together share one ReadIndex round. Followers refuse with NotLeader.
   */
  linearizableBarrier(deadlineMs: number): Promise<void> {
    try {
      this.checkServing();
      if (this.softState.role !== 'leader') throw this.notLeader();
      if (this.readsInFlight >= this.options.limits.readsInFlightMax) {
        throw new KvError('PH_OVERLOADED', `${this.readsInFlight} reads in flight (limit ${this.options.limits.readsInFlightMax})`);
      }
    } catch (err) {
      return Promise.reject(err as Error);
    }
    // A process paused (SIGSTOP, GC) must see the time that passed before it answers a read:
    // ticks are caught up from the monotonic clock here, not only when the timer fires.
    this.catchUpTicks();
    return new Promise<void>((resolve, reject) => {
      this.readsInFlight++;
      const read: PendingRead = {
        resolve: () => {
          clearTimeout(read.timer);
          this.readsInFlight--;
          resolve();
        },
        reject: (err) => {
          clearTimeout(read.timer);
          this.readsInFlight--;
          reject(err);
        },
        timer: setTimeout(() => {
          this.dropRead(read);
          read.reject(new KvError('PH_DEADLINE_EXCEEDED', `read not confirmed within ${deadlineMs} ms`));
        }, deadlineMs),
      };
      this.unassignedReads.push(read);
      this.scheduleLoop();
    });
  }

  private dropRead(read: PendingRead): void {
    this.unassignedReads = this.unassignedReads.filter((r) => r !== read);
    for (const round of this.readRounds.values()) {
      const at = round.reads.indexOf(read);
      if (at >= 0) round.reads.splice(at, 1);
    }
  }

  /** Asks Raft to hand leadership to `target`; resolves once this node is no longer leader or after `waitMs`. */
  async transferLeadership(target: NodeId, waitMs: number): Promise<boolean> {
    const result = this.raft.transferLeadership(target);
    if (!result.ok) return false;
    this.scheduleLoop();
    const until = this.options.clock.nowMs() + waitMs;
    while (this.softState.role === 'leader' && this.options.clock.nowMs() < until) {
      await new Promise((resolve) => setTimeout(resolve, this.options.tickMs));
    }
    return this.softState.role !== 'leader';
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** Whether the replica knows neither a log entry nor a member (RaftNode.isBlank): cheap, per message batch. */
  isBlank(): boolean {
    return this.raft.isBlank();
  }

  /** Whether a membership change this leader proposed is not applied yet (false on followers). */
  membershipChangePending(): boolean {
    return this.raft.membershipChangePending();
  }

  /** Whether the range is quiescent here (no election or heartbeat timer running). */
  get quiesced(): boolean {
    return this.raft.isQuiesced();
  }

  /** Resumes the Raft timers of a quiescent range (its leader may have failed). */
  wake(): void {
    if (this.stopped || !this.raft.isQuiesced()) return;
    this.raft.wake();
    this.scheduleLoop();
  }

  /**
   * Forgets this follower's leader, on evidence that it failed (the connection to its node
   * dropped): the range wakes and grants a peer's campaign at once (raft.ts forgetLeader).
   * Returns whether it forgot (not on leaders, candidates, or followers without a leader).
   */
  forgetLeader(): boolean {
    if (this.stopped || !this.raft.forgetLeader()) return false;
    this.scheduleLoop();
    return true;
  }

  /** Milliseconds since a message from `peer` last arrived (Infinity when never). */
  sinceHeardMs(peer: NodeId): number {
    const at = this.lastHeardMs.get(peer);
    return at === undefined ? Number.POSITIVE_INFINITY : this.options.clock.nowMs() - at;
  }

  /** Whether the replica stopped (shut down, removed, or failed). */
  get serving(): boolean {
    return !this.stopped && this.fatal === undefined;
  }

  role(): SoftState {
    return this.softState;
  }

  onRoleChange(listener: (state: SoftState) => void): void {
    this.roleListeners.push(listener);
  }

  /** Called once this replica applied a configuration change that removed this node. */
  onRemoved(listener: () => void): void {
    this.removedListeners.push(listener);
  }

  private isMember(): boolean {
    const config = this.raft.status().config;
    const me = this.options.nodeId;
    return config.voters.includes(me) || config.votersOutgoing.includes(me) || config.learners.includes(me) || config.learnersNext.includes(me);
  }

  notLeader(): NotLeaderError {
    const leaderId = this.softState.leaderId;
    return new NotLeaderError(leaderId, leaderId === 0 ? '' : this.options.addressOf(leaderId));
  }

  private checkServing(): void {
    if (this.fatal !== undefined) throw new KvError('PH_UNAVAILABLE', `replica failed: ${this.fatal.message}`);
    if (this.stopped) throw new KvError('PH_UNAVAILABLE', 'node is shutting down');
  }

  // ------------------------------------------------------------------ transport handlers

  onMessages(messages: readonly Message[]): void {
    if (this.stopped) return;
    const now = this.options.clock.nowMs();
    for (const message of messages) {
      if (message.groupId !== this.options.groupId || message.to !== this.options.nodeId) continue;
      this.lastHeardMs.set(message.from, now);
      if (message.kind === 'Snapshot') {
        // Step a snapshot only once its data is here; otherwise the leader retries.
        const key = `${message.snapshot.index}/${message.snapshot.term}`;
        if (!this.receivedSnapshots.has(key)) continue;
        this.receivedSnapshots.delete(key);
      }
      this.raft.step(message);
    }
    this.scheduleLoop();
  }

  onUnreachable(peer: NodeId): void {
    if (this.stopped) return;
    this.raft.reportUnreachable(peer);
  }

  async onSnapshotData(header: SnapshotDataHeader, data: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.stopped) throw new KvError('PH_UNAVAILABLE', 'node is shutting down');
    if (header.groupId !== this.options.groupId) throw new KvError('PH_BAD_REQUEST', `no group ${header.groupId} here`);
    const dir = path.join(this.options.snapshotDir, `in-${++this.snapshotSeq}`);
    try {
      const { header: stream, files } = await decodeSnapshotStream(paced(data, this.options.snapshotReceiveRate), dir);
      await this.exclusive(async () => {
        if (this.stopped) throw new KvError('PH_UNAVAILABLE', 'node is shutting down');
        const sm = this.options.stateMachine;
        const span = stream.span === undefined ? undefined : { startKey: Buffer.from(stream.span.start, 'hex'), endKey: Buffer.from(stream.span.end, 'hex') };
        // An uninitialised replica takes every snapshot of a user range, even one at applied
        // index 0 (a range just created by a split): the descriptor comes with it. Stepping the
        // snapshot without its data would make a voter whose state machine ignores the log.
        const uninitialized = !sm.initialized && span !== undefined;
        if ((stream.appliedIndex > sm.appliedIndex() || uninitialized) && header.snapshotIndex > this.raft.status().commit) {
          const refused = span === undefined ? undefined : this.options.refuseSnapshot?.(span);
          if (refused !== undefined) throw new KvError('PH_UNAVAILABLE', `snapshot of range ${this.options.groupId} refused for now: ${refused}`);
          const current = sm.descriptor();
          const spans = [...(span === undefined ? [] : [span]), ...(current === undefined ? [] : [{ startKey: current.startKey, endKey: current.endKey }])];
          this.options.log(`installing snapshot of range ${this.options.groupId} from node ${header.fromNode}: raft index ${header.snapshotIndex}, state at ${stream.appliedIndex}, ${files.length} file(s)`);
          await this.options.installer.install(files, { snapshotIndex: header.snapshotIndex, snapshotTerm: header.snapshotTerm, appliedIndex: stream.appliedIndex, spans });
        }
        // The Snapshot message that follows may now be stepped into the core.
        this.receivedSnapshots.add(`${header.snapshotIndex}/${header.snapshotTerm}`);
        if (this.receivedSnapshots.size > 16) this.receivedSnapshots.delete(this.receivedSnapshots.values().next().value ?? '');
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  // ------------------------------------------------------------------ the host loop

  private catchUpTicks(): void {
    const now = this.options.clock.nowMs();
    const due = Math.floor((now - this.lastTickMs) / this.options.tickMs);
    if (due <= 0) return;
    const ticks = Math.min(due, tickCatchUpMax);
    for (let i = 0; i < ticks; i++) this.raft.tick();
    this.lastTickMs = due > tickCatchUpMax ? now : this.lastTickMs + due * this.options.tickMs;
    this.ticksSinceMembershipCheck += ticks;
    if (this.ticksSinceMembershipCheck >= 5) {
      this.ticksSinceMembershipCheck = 0;
      this.promoteCaughtUpLearners();
    }
  }

  private scheduleLoop(): void {
    if (this.loopScheduled || this.stopped) return;
    this.loopScheduled = true;
    setImmediate(() => {
      this.loopScheduled = false;
      void this.runLoop();
    });
  }

  private async runLoop(): Promise<void> {
    if (this.loopRunning || this.fatal !== undefined) return;
    this.loopRunning = true;
    try {
      await this.exclusive(async () => {
        this.proposeQueued();
        this.startReadRound();
        while (!this.stopped && this.raft.hasReady()) {
          await this.processReady(this.raft.ready());
          this.proposeQueued();
          this.startReadRound();
        }
        if (!this.stopped) await this.maybeCompact();
      });
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.loopRunning = false;
    }
    if (!this.stopped && this.raft.hasReady()) this.scheduleLoop();
  }

  /** A failure to persist or apply leaves the replica in an unknown state: stop serving, loudly. */
  private fail(err: Error): void {
    this.fatal = err;
    this.options.log(`FATAL: replica stopped: ${err.stack ?? err.message}`);
    this.failPending(new KvError('PH_OUTCOME_UNKNOWN', `replica failed: ${err.message}`));
    this.options.onFatal?.(err);
  }

  private startReadRound(): void {
    if (this.unassignedReads.length === 0) return;
    const reads = this.unassignedReads;
    this.unassignedReads = [];
    const context = `r${++this.readRoundSeq}`;
    const result = this.raft.readIndex(context);
    if (!result.ok) {
      const err = result.reason === 'no-leader' ? this.notLeader() : new KvError('PH_OVERLOADED', 'too many pending reads');
      for (const read of reads) read.reject(err);
      return;
    }
    this.readRounds.set(context, { index: undefined, reads });
  }

  private async processReady(ready: Ready): Promise<void> {
    const { logStore, groupId, stateMachine } = this.options;
    const t0 = performance.now();
    if (ready.softState !== undefined) this.onSoftState(ready.softState);
    // A leader may replicate in parallel with its own write (Raft thesis §10.2.1): the core
    // counts the leader's log towards commit only after advance() reports it persisted. Only
    // plain replication traffic goes early, and only when term and vote are already durable.
    const hardState = ready.hardState;
    const termVoteDurable = hardState === undefined || (hardState.term === this.persistedHardState.term && hardState.vote === this.persistedHardState.vote);
    const sendEarly =
      this.softState.role === 'leader' && ready.snapshot === undefined && termVoteDurable && ready.messages.every((m) => m.kind === 'Append' || m.kind === 'Heartbeat');
    if (sendEarly) this.sendMessages(ready.messages);
    // Committed entries already durable in this node's log are applied (and their clients
    // answered) while this Ready's new entries are being written and fsynced, as etcd's server
    // does: the write of entry N+1 no longer delays the answer for entry N. Entries at or past
    // the first one this Ready writes, and everything after a snapshot, wait for the write.
    const durableBelow = ready.snapshot !== undefined ? 0 : Math.min(ready.entries[0]?.index ?? Infinity, logStore.storageFor(groupId).lastIndex() + 1);
    let early = 0;
    while (early < ready.committedEntries.length && (ready.committedEntries[early]?.index ?? Infinity) < durableBelow) early++;
    const earlyEntries = early === ready.committedEntries.length ? ready.committedEntries : ready.committedEntries.slice(0, early);
    // The configuration before these entries, for the descriptors' replicas (only when one changes it).
    const configBefore = ready.committedEntries.some((entry) => entry.kind === 'conf-change') ? this.raft.status().config : undefined;
    const applying = early > 0 ? stateMachine.apply(earlyEntries, configBefore) : undefined;
    // Observed below; a failed write stops the replica and must not leave it unhandled.
    applying?.catch(() => undefined);
    if (ready.snapshot !== undefined) await logStore.applySnapshot(groupId, ready.snapshot);
    // A hard state whose only change is the commit index need not be made durable on its own
    // (the commit index is recovered from the leader; etcd's MustSync rule); it rides along
    // with the next append.
    if (ready.entries.length > 0 || (hardState !== undefined && !termVoteDurable)) {
      await logStore.append(groupId, ready.entries, hardState);
      if (hardState !== undefined) this.persistedHardState = { term: hardState.term, vote: hardState.vote };
    }
    if (!sendEarly) this.sendMessages(ready.messages);
    if (applying !== undefined) {
      const results = await applying;
      this.followTimestamp(stateMachine.closedTimestamp());
      this.settleProposals(earlyEntries, results);
    }
    if (early < ready.committedEntries.length) {
      const lateEntries = ready.committedEntries.slice(early);
      const results = await stateMachine.apply(lateEntries, configBefore === undefined ? undefined : configAfter(configBefore, earlyEntries));
      this.followTimestamp(stateMachine.closedTimestamp());
      this.settleProposals(lateEntries, results);
    }
    for (const readState of ready.readStates) {
      const round = this.readRounds.get(readState.context);
      if (round === undefined) continue;
      this.readRounds.delete(readState.context);
      round.index = readState.index;
      this.servableRounds.push(round);
    }
    const confChanged = ready.committedEntries.some((entry) => entry.kind === 'conf-change');
    const memberBefore = confChanged && this.isMember();
    this.raft.advance(ready);
    if (memberBefore && !this.isMember()) for (const listener of this.removedListeners) listener();
    this.serveReads();
    if (process.env.PHANTOMDB_TRACE === '1') this.options.log(`ready ${(performance.now() - t0).toFixed(2)}ms entries=${ready.entries.length} committed=${ready.committedEntries.length} msgs=${ready.messages.length} hs=${ready.hardState === undefined ? '-' : ready.hardState.commit}`);
  }

  private serveReads(): void {
    const applied = Math.max(this.options.stateMachine.appliedIndex(), this.raft.status().applied);
    for (let i = 0; i < this.servableRounds.length; ) {
      const round = this.servableRounds[i];
      assert(round !== undefined, 'round in range');
      if (round.index !== undefined && round.index <= applied) {
        this.servableRounds.splice(i, 1);
        for (const read of round.reads) read.resolve();
      } else {
        i++;
      }
    }
  }

  private settleProposals(entries: readonly Entry[], results: readonly (ApplyResult | undefined)[]): void {
    entries.forEach((entry, i) => {
      const pending = this.proposals.get(entry.index);
      if (pending === undefined) return;
      this.proposals.delete(entry.index);
      const result = results[i];
      pending.waiters.forEach((waiter, at) => {
        if (pending.term !== entry.term) {
          waiter.reject(new KvError('PH_PROPOSAL_DROPPED', `write at index ${entry.index} was replaced by another leader's entry; it did not take effect`));
        } else if (result === undefined) {
          waiter.reject(new KvError('PH_OUTCOME_UNKNOWN', `write at index ${entry.index} was covered by a snapshot; its outcome is unknown`));
        } else if (pending.batched) {
          const inner = result.op === 'batch' ? result.results[at] : undefined;
          assert(inner !== undefined, 'a batch entry answers one result per command');
          waiter.resolve(inner);
        } else {
          waiter.resolve(result);
        }
      });
    });
  }

  private onSoftState(state: SoftState): void {
    const wasLeader = this.softState.role === 'leader';
    this.softState = state;
    if (wasLeader && state.role !== 'leader') {
      // Reads waiting for a confirmation from this term can no longer be confirmed here.
      const err = this.notLeader();
      for (const read of this.unassignedReads) read.reject(err);
      this.unassignedReads = [];
      for (const round of this.readRounds.values()) for (const read of round.reads) read.reject(err);
      this.readRounds.clear();
      for (const round of this.servableRounds) if (round.index === undefined) for (const read of round.reads) read.reject(err);
    }
    this.options.metrics?.roleChanged();
    for (const listener of this.roleListeners) listener(state);
  }

  private sendMessages(messages: readonly Message[]): void {
    const transport = this.transport;
    assert(transport !== undefined, 'transport attached before messages flow');
    const plain: Message[] = [];
    for (const message of messages) {
      if (message.kind === 'Snapshot') this.sendSnapshot(message);
      else plain.push(message);
    }
    if (plain.length > 0) transport.send(plain);
  }

  private sendSnapshot(message: SnapshotRequest): void {
    const transport = this.transport;
    assert(transport !== undefined, 'transport attached');
    if (this.snapshotsSending.has(message.to)) return;
    this.snapshotsSending.add(message.to);
    const dir = path.join(this.options.snapshotDir, `out-${++this.snapshotSeq}`);
    const run = async (): Promise<'sent' | 'refreshed'> => {
      if (await this.refreshStaleSnapshot(message)) return 'refreshed';
      const { files, appliedIndex, descriptor } = await this.options.stateMachine.exportSnapshot(dir);
      this.options.log(`sending snapshot of range ${this.options.groupId} to node ${message.to}: raft index ${message.snapshot.index}, state at ${appliedIndex}`);
      const span = descriptor === undefined || descriptor.rangeId === metaRangeId ? undefined : { startKey: descriptor.startKey, endKey: descriptor.endKey };
      const stream = paced(encodeSnapshotStream(appliedIndex, files, span), this.options.snapshotRate);
      await transport.sendSnapshot(message, counted(stream, (bytes) => this.options.metrics?.snapshotBytesSent(bytes)));
      return 'sent';
    };
    run().then(
      (outcome) => {
        if (outcome === 'refreshed') {
          // Nothing was sent: the core probes the peer again and asks for the newer snapshot.
          this.finishSnapshot(message.to, dir, false);
          return;
        }
        this.options.metrics?.snapshotFinished('sent', 'succeeded');
        this.finishSnapshot(message.to, dir, true);
      },
      (err: unknown) => {
        this.options.metrics?.snapshotFinished('sent', 'failed');
        this.options.log(`snapshot to node ${message.to} failed: ${err instanceof Error ? err.message : String(err)}`);
        this.finishSnapshot(message.to, dir, false);
      },
    );
  }

  private finishSnapshot(peer: NodeId, dir: string, ok: boolean): void {
    fs.rmSync(dir, { recursive: true, force: true });
    this.snapshotsSending.delete(peer);
    if (this.stopped) return;
    this.raft.reportSnapshot(peer, ok);
    this.scheduleLoop();
  }

  /**
   * Before a snapshot goes to `message.to`: when the core's snapshot (the log's compaction point)
   * trails the applied state by more than `snapshotRefreshLagEntriesMin` entries, compacts the log
   * at the applied index (no further than other active peers have, nor past a membership change
   * after them) and answers true; the caller reports the snapshot as not sent, so the core asks
   * again with the new index. Without this, a new replica would get the state (at the applied
   * index) and then every entry after the old compaction point again through the log: the data
   * twice over the network and on its disk, and a long catch-up. Answers false when the snapshot
   * is recent enough or cannot be refreshed (then it is sent as it is).
   */
  private async refreshStaleSnapshot(message: SnapshotRequest): Promise<boolean> {
    const candidate = this.snapshotRefreshIndex(message, Number.POSITIVE_INFINITY);
    if (candidate === undefined) return false;
    // Made durable outside this replica's lock, so that the range keeps taking writes meanwhile:
    // everything applied up to `candidate` is in the engine before the sync starts, so it is
    // durable once the sync is done. A log sync, not a flush: every move refreshes a snapshot,
    // and a flush per move piled L0 tables up on the senders, each fourth one rewriting L1.
    await this.options.stateMachine.makeDurable();
    return this.exclusive(async () => {
      const index = this.snapshotRefreshIndex(message, candidate);
      if (index === undefined) return false;
      this.options.log(`compacting the log of range ${this.options.groupId} at ${index} before a snapshot to node ${message.to} (the snapshot was at ${message.snapshot.index})`);
      await this.compactLog(index, this.raft.status().config, { durable: true });
      this.snapshotRefreshedTo.set(message.to, index);
      return true;
    });
  }

  /**
   * The index to compact the log at before a snapshot goes to `message.to` (at most `cap`), or
   * undefined when the snapshot should go as it is (see refreshStaleSnapshot).
   */
  private snapshotRefreshIndex(message: SnapshotRequest, cap: number): number | undefined {
    if (this.stopped || this.softState.role !== 'leader') return undefined;
    // Once per send: a snapshot at or past the last refresh for this peer goes as it is, however
    // far the writes moved on meanwhile (or a busy range could refresh forever and never send).
    if ((this.snapshotRefreshedTo.get(message.to) ?? -1) >= message.snapshot.index) return undefined;
    const storage = this.options.logStore.storageFor(this.options.groupId);
    const status = this.raft.status();
    let index = Math.min(status.applied, cap);
    // A peer with match 0 has not answered this leader yet (just elected), it does not lag.
    for (const [peer, progress] of status.progress) {
      if (peer !== this.options.nodeId && peer !== message.to && progress.recentActive && progress.match > 0) index = Math.min(index, progress.match);
    }
    if (index - message.snapshot.index <= snapshotRefreshLagEntriesMin || index < storage.firstIndex()) return undefined;
    // A compaction syncs the node's engine log and makes the receiver wait a round: worth it only
    // when the log since the snapshot is large (a range's data), not for a few hundred small
    // entries (the meta range's records).
    const from = Math.max(message.snapshot.index + 1, storage.firstIndex());
    if (storage.entries(from, index + 1, snapshotRefreshLogBytesMin).length >= index + 1 - from) return undefined;
    // The snapshot records the configuration as of `index`: the current one only if no change followed.
    if (firstConfChangeAfter(storage, index, status.applied) <= status.applied) return undefined;
    return index;
  }

  /** Compacts the log below the applied index once it is long, making the applied state durable first. */
  private async maybeCompact(): Promise<void> {
    const storage = this.options.logStore.storageFor(this.options.groupId);
    const status = this.raft.status();
    if (status.applied - storage.firstIndex() < this.options.compactionEntries) return;
    // Keep entries that healthy followers still need, unless the log grew to twice the threshold.
    if (this.raft.compactableIndex() < status.applied && status.applied - storage.firstIndex() < 2 * this.options.compactionEntries) return;
    await this.compactLog(status.applied, status.config);
  }

  /**
   * Makes the state durable in the engine (unless the caller did after `index` was applied),
   * then drops the log up to `index` (applied, with configuration `config`).
   */
  private async compactLog(index: number, config: RaftStatus['config'], options: { readonly durable?: boolean } = {}): Promise<void> {
    const storage = this.options.logStore.storageFor(this.options.groupId);
    const status = this.raft.status();
    assert(index <= status.applied, 'the log is compacted only below the applied index');
    if (options.durable !== true) await this.options.stateMachine.makeDurable();
    // A commit-only hard state change is not persisted on its own (processReady), so the durable
    // commit index may lag the applied one; the core refuses at restart a snapshot above the
    // durable commit. Persist the commit first (capped by the durable log, at least applied).
    const commit = Math.max(status.applied, Math.min(status.commit, storage.lastIndex()));
    const durable = storage.initialState().hardState;
    if (durable.commit < commit) await this.options.logStore.append(this.options.groupId, [], { ...durable, commit });
    await this.options.logStore.createSnapshot(this.options.groupId, index, config, 'kv');
  }

  /** On the leader: a learner that has caught up becomes a voter (one change at a time). */
  private promoteCaughtUpLearners(): void {
    if (this.softState.role !== 'leader' || this.stopped) return;
    const status = this.raft.status();
    for (const learner of status.config.learners) {
      if (this.options.promotable?.(learner) === false) continue;
      const progress = status.progress.get(learner);
      if (progress === undefined || !progress.recentActive) continue;
      if (status.lastIndex - progress.match > promotionLagEntriesMax) continue;
      const result = this.raft.proposeConfChange({ changes: [{ op: 'add-voter', nodeId: learner }], transition: 'auto' });
      if (result.ok) {
        this.options.log(`promoting learner ${learner} to voter (match ${progress.match}, last ${status.lastIndex})`);
        this.scheduleLoop();
      }
      return;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lockTail.then(fn);
    this.lockTail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private failPending(err: Error): void {
    for (const proposal of this.proposals.values()) for (const waiter of proposal.waiters) waiter.reject(err);
    this.proposals.clear();
    for (const waiter of this.queuedProposals) waiter.reject(err);
    this.queuedProposals = [];
    for (const read of this.unassignedReads) read.reject(err);
    this.unassignedReads = [];
    for (const round of [...this.readRounds.values(), ...this.servableRounds]) for (const read of round.reads) read.reject(err);
    this.readRounds.clear();
    this.servableRounds.length = 0;
  }

  /** Stops ticking and serving; waits for the Ready in progress; fails what is still pending. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    await this.exclusive(() => Promise.resolve());
    this.failPending(new KvError('PH_OUTCOME_UNKNOWN', 'node is shutting down; the outcome of this request is unknown'));
  }
}
