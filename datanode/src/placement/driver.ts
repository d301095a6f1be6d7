/**
 * The placement driver: the loop that runs on the meta range's leader. It takes a snapshot from an
 * injected `ClusterView`, asks the pure planner for moves, and executes each through an injected
 * `RangeAdmin`, with limits on concurrent moves (the planner's `concurrentMovesMax`, counting the
 * moves still executing) and on bytes per second (a token bucket on an injected clock), a timeout
 * per attempt, retries with capped exponential backoff, and cancellation when leadership is lost
 * (the host aborts the signal passed to `run`). Level-triggered: it remembers nothing the cluster
 * does not show, so a driver started on a new leader simply re-plans from the current snapshot.
 *
 * Before each attempt the driver checks the move against a fresh snapshot (`moveStatus`): a move
 * whose effect is already visible (a retried call that had in fact succeeded) counts as done, and
 * one that no longer applies (the cluster changed) is dropped for the planner to re-plan.
 */
import { assert, assertNever } from '../assert.ts';
import { PlacementError } from './errors.ts';
import { canHoldLeases, canHostReplicas, indexNodes, liveVoterCount, majority, votersOf } from './model.ts';
import type { AddLearner, ClusterSnapshot, Move, NodeId, PlannerLimits, RangeId, RangeState } from './model.ts';
import { planMoves } from './planner.ts';

/** The cluster as the meta range's leader sees it. Implemented by the node (meta range + liveness). */
export interface ClusterView {
  /**
   * A snapshot of nodes (liveness, admin flags, locality, disk) and ranges (replicas and roles,
   * leaseholder, bytes), as of one read of the meta range. `nowTicks` is the host's tick counter,
   * comparable with the nodes' `deadSinceTicks`. May throw while the meta range is unavailable.
   */
  snapshot(signal: AbortSignal): Promise<ClusterSnapshot>;
}

/**
 * Replica and lease changes on one range, implemented by the node (as proposals to the range's
 * leader). Each call resolves once the change is committed (or throws); each must stop early and
 * reject when `signal` aborts. The driver never runs two calls on one range at a time.
 */
export interface RangeAdmin {
  /** Adds a non-voting replica on `nodeId` and starts its snapshot stream. */
  addLearner(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void>;
  /** Resolves once the learner on `nodeId` has caught up with the range's log. */
  waitLearnerCaughtUp(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void>;
  /** Promotes the caught-up learner to voter through joint consensus. */
  promoteLearner(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void>;
  /** Demotes a voter (never the leaseholder) to learner through joint consensus. */
  demoteVoter(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void>;
  /** Removes a learner. */
  removeLearner(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void>;
  /** Moves the range lease to the voter on `toNodeId`. */
  transferLease(rangeId: RangeId, toNodeId: NodeId, signal: AbortSignal): Promise<void>;
}

/** Time for the driver: the host passes real timers; tests pass a virtual clock. */
export interface DriverClock {
  nowMs(): number;
  /** Resolves after `ms`; rejects (with the signal's reason) when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface DriverLimits {
  readonly planner: PlannerLimits;
  /** Bytes per second that AddLearner moves may start copying, averaged by the token bucket. */
  readonly copyBytesPerSecondMax: number;
  /** The token bucket's size: the most bytes that may start at once after an idle period. */
  readonly copyBurstBytesMax: number;
  /** One attempt of a move (all its calls) is aborted after this. */
  readonly moveAttemptTimeoutMs: number;
  /** Attempts per move, the first included; then the move is given up (and re-planned later). */
  readonly moveAttemptsMax: number;
  readonly retryBackoffInitialMs: number;
  readonly retryBackoffMaxMs: number;
  /** Re-plan at least this often even if no move finishes (the cluster may change). */
  readonly replanIntervalMs: number;
  /** A node whose copy failed every attempt gets no new replica for this long (its disk or network may be bad). */
  readonly failedTargetAvoidMs: number;
  /**
   * Moves of a learner (its copy, or its promotion) that may fail every attempt in a row on one
   * range; after the last, the driver removes the learner, avoids its node for
   * `failedTargetAvoidMs`, and the planner places the replica afresh. Without this bound a learner
   * that never catches up (or a promotion the range keeps refusing) is retried forever.
   */
  readonly learnerFailedMovesMax: number;
  /**
   * A new driver takes snapshots but plans nothing for this long, so that a view fed by a fresh
   * liveness tracker has seen every live node beat (use the tracker's `suspectAfterTicks`).
   */
  readonly startDelayMs: number;
}

export type DriverEvent =
  | { readonly kind: 'planned'; readonly moves: readonly Move[]; readonly inFlight: number; readonly unavailableRangeIds: readonly RangeId[] }
  | { readonly kind: 'move-started'; readonly move: Move; readonly attempt: number }
  | { readonly kind: 'move-succeeded'; readonly move: Move; readonly attempts: number; readonly durationMs: number }
  | { readonly kind: 'move-failed'; readonly move: Move; readonly attempt: number; readonly error: unknown; readonly retryInMs: number | null }
  | { readonly kind: 'move-dropped'; readonly move: Move; readonly why: string }
  | { readonly kind: 'target-avoided'; readonly nodeId: NodeId; readonly untilMs: number }
  /**
   * The learner on `nodeId` failed `failedMoves` moves in a row (the last with `error`): the driver
   * removed it (`removed`), or tried to and will try again after the range's next failed move.
   */
  | { readonly kind: 'learner-abandoned'; readonly rangeId: RangeId; readonly nodeId: NodeId; readonly failedMoves: number; readonly error: unknown; readonly removed: boolean; readonly removeError?: unknown }
  | { readonly kind: 'snapshot-failed'; readonly error: unknown; readonly retryInMs: number }
  /**
   * The planner has nothing to do and nothing is in flight (emitted once per quiet period), with
   * the ranges it cannot help: no live majority, or no node able to take a missing replica.
   */
  | { readonly kind: 'quiet'; readonly unavailableRangeIds: readonly RangeId[]; readonly stalledRangeIds: readonly RangeId[] }
  | { readonly kind: 'stopped'; readonly reason: string };

export interface DriverProgress {
  readonly inFlight: readonly Move[];
  readonly succeeded: number;
  readonly failed: number;
  readonly dropped: number;
  /** Learners removed after `learnerFailedMovesMax` failed moves in a row. */
  readonly learnersAbandoned: number;
  /** Bytes of AddLearner moves that completed (learner caught up). */
  readonly bytesCopied: number;
  readonly quiet: boolean;
  /** Nodes the planner is told not to copy to for now (their copies failed). */
  readonly avoidedTargetNodeIds: readonly NodeId[];
}

export interface DriverOptions {
  readonly view: ClusterView;
  readonly admin: RangeAdmin;
  readonly clock: DriverClock;
  readonly limits: DriverLimits;
  readonly onEvent?: (event: DriverEvent) => void;
  /**
   * Load-aware pacing of the copies the driver starts: the share (0 < share ≤ 1) of
   * `copyBytesPerSecondMax` it may start now (the node passes its snapshot pacer's share,
   * node/load-pacer.ts, which never goes below its floor). Absent: always the full rate.
   */
  readonly copyRateShare?: () => number;
}

/** Throws PH_INVALID_OPTIONS naming every bad field. */
export function checkDriverLimits(limits: DriverLimits): void {
  const problems: string[] = [];
  const positive = (field: string, value: number): void => {
    if (!(Number.isFinite(value) && value > 0)) problems.push(`${field} must be a positive number (got ${value})`);
  };
  positive('copyBytesPerSecondMax', limits.copyBytesPerSecondMax);
  positive('copyBurstBytesMax', limits.copyBurstBytesMax);
  positive('moveAttemptTimeoutMs', limits.moveAttemptTimeoutMs);
  positive('retryBackoffInitialMs', limits.retryBackoffInitialMs);
  positive('retryBackoffMaxMs', limits.retryBackoffMaxMs);
  positive('replanIntervalMs', limits.replanIntervalMs);
  positive('failedTargetAvoidMs', limits.failedTargetAvoidMs);
  if (!(Number.isFinite(limits.startDelayMs) && limits.startDelayMs >= 0)) problems.push('startDelayMs must not be negative');
  if (!Number.isSafeInteger(limits.moveAttemptsMax) || limits.moveAttemptsMax < 1) problems.push('moveAttemptsMax must be an integer ≥ 1');
  if (!Number.isSafeInteger(limits.learnerFailedMovesMax) || limits.learnerFailedMovesMax < 1) problems.push('learnerFailedMovesMax must be an integer ≥ 1');
  if (limits.retryBackoffMaxMs < limits.retryBackoffInitialMs) problems.push('retryBackoffMaxMs must be at least retryBackoffInitialMs');
  if (!Number.isSafeInteger(limits.planner.concurrentMovesMax) || limits.planner.concurrentMovesMax < 1) problems.push('planner.concurrentMovesMax must be an integer ≥ 1');
  positive('planner.bytesInFlightMax', limits.planner.bytesInFlightMax);
  if (!(limits.planner.deadAfterTicks >= 0)) problems.push('planner.deadAfterTicks must not be negative');
  if (problems.length > 0) throw new PlacementError('PH_INVALID_OPTIONS', `placement driver limits: ${problems.join('; ')}`);
}

/** Capped exponential backoff before attempt `attempt + 1` (attempt counts from 1). */
export function retryBackoffMs(limits: DriverLimits, attempt: number): number {
  return Math.min(limits.retryBackoffMaxMs, limits.retryBackoffInitialMs * 2 ** Math.min(attempt - 1, 30));
}

/**
 * A token bucket of bytes on an injected clock. `take` waits until the bucket holds the amount
 * (or, for an amount larger than the bucket, until it is full, then goes into debt), so copies
 * start at no more than `capacity + rate × elapsed` bytes (plus one oversized range). Callers are
 * served in order, so a large range is not starved by a stream of small ones.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAtMs: number;
  /** Settles when the previous caller has its tokens (or gave up). */
  private tail: Promise<void> = Promise.resolve();

  /** `share` (0 < share ≤ 1, asked at each refill) scales the rate: load-aware pacing (DriverOptions.copyRateShare). */
  constructor(
    private readonly clock: DriverClock,
    readonly bytesPerSecond: number,
    readonly capacityBytes: number,
    private readonly share?: () => number,
  ) {
    assert(bytesPerSecond > 0, 'token bucket rate must be positive');
    assert(capacityBytes > 0, 'token bucket capacity must be positive');
    this.tokens = capacityBytes;
    this.refilledAtMs = clock.nowMs();
  }

  /** The rate now: `bytesPerSecond` times the share (a share outside (0, 1] counts as 1). */
  currentBytesPerSecond(): number {
    const share = this.share?.() ?? 1;
    return this.bytesPerSecond * (share > 0 && share <= 1 ? share : 1);
  }

  private refill(): number {
    const now = this.clock.nowMs();
    const rate = this.currentBytesPerSecond();
    this.tokens = Math.min(this.capacityBytes, this.tokens + ((now - this.refilledAtMs) * rate) / 1000);
    this.refilledAtMs = now;
    return rate;
  }

  take(bytes: number, signal: AbortSignal): Promise<void> {
    assert(bytes >= 0, 'cannot take negative bytes');
    const turn = this.tail.then(() => this.takeInTurn(bytes, signal));
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  private async takeInTurn(bytes: number, signal: AbortSignal): Promise<void> {
    const needed = Math.min(bytes, this.capacityBytes);
    for (;;) {
      signal.throwIfAborted();
      const rate = this.refill();
      if (this.tokens >= needed) {
        this.tokens -= bytes;
        return;
      }
      await this.clock.sleep(Math.max(1, Math.ceil(((needed - this.tokens) * 1000) / rate)), signal);
    }
  }
}

export type MoveStatus = { readonly status: 'pending' | 'done' } | { readonly status: 'obsolete'; readonly why: string };

function roleOn(range: RangeState, nodeId: NodeId): 'voter' | 'learner' | undefined {
  return range.replicas.find((replica) => replica.nodeId === nodeId)?.role;
}

/**
 * Whether `move` still has to run on `snapshot` ('pending'), already took effect ('done'), or no
 * longer applies ('obsolete'). An AddLearner whose learner exists is pending (it waits for catch-up).
 * A DemoteVoter that would now leave fewer live voters than a majority is obsolete.
 */
export function moveStatus(snapshot: ClusterSnapshot, move: Move): MoveStatus {
  const range = snapshot.ranges.find((candidate) => candidate.id === move.rangeId);
  if (range === undefined) return { status: 'obsolete', why: `range ${move.rangeId} is gone` };
  const nodes = indexNodes(snapshot);
  switch (move.kind) {
    case 'AddLearner': {
      const role = roleOn(range, move.nodeId);
      if (role === 'voter') return { status: 'done' };
      const node = nodes.get(move.nodeId);
      if (node === undefined || !canHostReplicas(node)) return { status: 'obsolete', why: `node ${move.nodeId} cannot host replicas` };
      return { status: 'pending' };
    }
    case 'PromoteLearner': {
      const role = roleOn(range, move.nodeId);
      if (role === 'voter') return { status: 'done' };
      return role === 'learner' ? { status: 'pending' } : { status: 'obsolete', why: `no learner on node ${move.nodeId}` };
    }
    case 'DemoteVoter': {
      const role = roleOn(range, move.nodeId);
      if (role !== 'voter') return role === 'learner' ? { status: 'done' } : { status: 'obsolete', why: `no replica on node ${move.nodeId}` };
      if (range.leaseholder === move.nodeId) return { status: 'obsolete', why: `node ${move.nodeId} holds the lease` };
      const liveAfter = liveVoterCount(range, nodes) - (nodes.get(move.nodeId)?.liveness === 'live' ? 1 : 0);
      if (liveAfter < majority(votersOf(range).length - 1)) return { status: 'obsolete', why: 'demoting would leave no live majority' };
      return { status: 'pending' };
    }
    case 'RemoveReplica': {
      const role = roleOn(range, move.nodeId);
      if (role === undefined) return { status: 'done' };
      return role === 'learner' ? { status: 'pending' } : { status: 'obsolete', why: `node ${move.nodeId} is a voter again` };
    }
    case 'TransferLease': {
      if (range.leaseholder === move.toNodeId) return { status: 'done' };
      const node = nodes.get(move.toNodeId);
      if (roleOn(range, move.toNodeId) !== 'voter' || node === undefined || !canHoldLeases(node)) {
        return { status: 'obsolete', why: `node ${move.toNodeId} cannot take the lease` };
      }
      return { status: 'pending' };
    }
    default:
      return assertNever(move, 'move');
  }
}

/** Whether the learner an AddLearner creates already exists (an earlier attempt or driver added it). */
function hasLearner(snapshot: ClusterSnapshot, move: AddLearner): boolean {
  const range = snapshot.ranges.find((candidate) => candidate.id === move.rangeId);
  return range !== undefined && roleOn(range, move.nodeId) === 'learner';
}

interface Running {
  readonly move: Move;
  readonly done: Promise<void>;
  /** Abandons this move alone (its target died). */
  readonly abandon: AbortController;
}

/**
 * Runs the loop until `signal` aborts (leadership lost, or shutdown), then aborts the moves in
 * flight, waits for them to settle and resolves with the progress. One instance runs once.
 */
export class PlacementDriver {
  private readonly running = new Map<RangeId, Running>();
  private readonly bucket: TokenBucket;
  private succeeded = 0;
  private failed = 0;
  private dropped = 0;
  private learnersAbandoned = 0;
  private bytesCopied = 0;
  private quiet = false;
  private started = false;
  /** Resolves the current wait early when a move settles. */
  private wake: (() => void) | undefined;
  /** A move settled since the last plan: re-plan without waiting. */
  private settled = false;
  /** Per range: moves that failed every attempt in a row; the next move on it starts after a backoff. */
  private readonly rangeFailures = new Map<RangeId, number>();
  /** Per range: the learner whose moves (copy or promotion) failed every attempt, and how many in a row. */
  private readonly learnerFailures = new Map<RangeId, { readonly nodeId: NodeId; readonly failedMoves: number }>();
  /** Per node: until when the planner must not copy to it. */
  private readonly avoidUntilMs = new Map<NodeId, number>();
  /**
   * Per range with a move under way: the replica its copy or promotion was meant to replace
   * (PlanInput.pinnedRemovals). A hint, not state the cluster lacks: a new driver starts without
   * it and only risks an extra round; dropped once the range is back to RF replicas or the replica left.
   */
  private readonly pinnedRemovals = new Map<RangeId, NodeId>();

  constructor(private readonly options: DriverOptions) {
    checkDriverLimits(options.limits);
    this.bucket = new TokenBucket(options.clock, options.limits.copyBytesPerSecondMax, options.limits.copyBurstBytesMax, options.copyRateShare);
  }

  /** Plans again now instead of at the next pass (the admin API's "rebalance now"). */
  replanNow(): void {
    this.settled = true;
    this.wake?.();
  }

  progress(): DriverProgress {
    return {
      inFlight: [...this.running.values()].map((entry) => entry.move),
      succeeded: this.succeeded,
      failed: this.failed,
      dropped: this.dropped,
      learnersAbandoned: this.learnersAbandoned,
      bytesCopied: this.bytesCopied,
      quiet: this.quiet,
      avoidedTargetNodeIds: [...this.avoidedTargets()].sort((a, b) => a - b),
    };
  }

  private avoidedTargets(): Set<NodeId> {
    const now = this.options.clock.nowMs();
    for (const [nodeId, untilMs] of this.avoidUntilMs) if (untilMs <= now) this.avoidUntilMs.delete(nodeId);
    return new Set(this.avoidUntilMs.keys());
  }

  async run(signal: AbortSignal): Promise<DriverProgress> {
    assert(!this.started, 'a placement driver runs once; start a new one on a new leader');
    this.started = true;
    let snapshotFailures = 0;
    const planFromMs = this.options.clock.nowMs() + this.options.limits.startDelayMs;
    while (!signal.aborted) {
      let snapshot: ClusterSnapshot;
      try {
        snapshot = await this.options.view.snapshot(signal);
        snapshotFailures = 0;
      } catch (error) {
        if (signal.aborted) break;
        snapshotFailures += 1;
        const retryInMs = retryBackoffMs(this.options.limits, snapshotFailures);
        this.emit({ kind: 'snapshot-failed', error, retryInMs });
        await this.pause(retryInMs, signal);
        continue;
      }
      if (signal.aborted) break;
      const warmUpLeftMs = planFromMs - this.options.clock.nowMs();
      if (warmUpLeftMs > 0) {
        await this.pause(Math.min(warmUpLeftMs, this.options.limits.replanIntervalMs), signal);
        continue;
      }
      this.abandonMovesToDeadNodes(snapshot);
      this.planAndStart(snapshot, signal);
      await this.pause(this.options.limits.replanIntervalMs, signal);
    }
    await Promise.allSettled([...this.running.values()].map((entry) => entry.done));
    this.emit({ kind: 'stopped', reason: describeAbort(signal) });
    return this.progress();
  }

  /**
   * Gives up the copies and promotions in flight to a node that is now dead: the attempt would
   * only run into its timeout, holding the range (and its learner on the dead node) meanwhile,
   * while the next plan removes that learner and copies to a live node instead.
   */
  private abandonMovesToDeadNodes(snapshot: ClusterSnapshot): void {
    const dead = new Set(snapshot.nodes.filter((node) => node.liveness === 'dead').map((node) => node.id));
    for (const entry of this.running.values()) {
      const move = entry.move;
      if ((move.kind !== 'AddLearner' && move.kind !== 'PromoteLearner') || !dead.has(move.nodeId) || entry.abandon.signal.aborted) continue;
      entry.abandon.abort();
      this.dropped += 1;
      this.emit({ kind: 'move-dropped', move, why: `its target node ${move.nodeId} is dead` });
    }
  }

  private planAndStart(snapshot: ClusterSnapshot, signal: AbortSignal): void {
    const inFlight = [...this.running.values()].map((entry) => entry.move);
    this.prunePinnedRemovals(snapshot);
    const plan = planMoves({ snapshot, limits: this.options.limits.planner, inFlight, avoidTargetNodeIds: this.avoidedTargets(), pinnedRemovals: this.pinnedRemovals });
    const nowQuiet = plan.moves.length === 0 && inFlight.length === 0;
    if (nowQuiet && !this.quiet) this.emit({ kind: 'quiet', unavailableRangeIds: plan.unavailableRangeIds, stalledRangeIds: plan.stalledRangeIds });
    this.quiet = nowQuiet;
    if (plan.moves.length === 0) return;
    this.emit({ kind: 'planned', moves: plan.moves, inFlight: inFlight.length, unavailableRangeIds: plan.unavailableRangeIds });
    for (const move of plan.moves) {
      assert(!this.running.has(move.rangeId), `range ${move.rangeId} already has a move in flight`);
      const abandon = new AbortController();
      const done = this.execute(move, snapshot, AbortSignal.any([signal, abandon.signal])).finally(() => {
        this.running.delete(move.rangeId);
        this.settled = true;
        this.wake?.();
      });
      this.running.set(move.rangeId, { move, done, abandon });
    }
    assert(this.running.size <= this.options.limits.planner.concurrentMovesMax, 'more moves in flight than concurrentMovesMax');
  }

  /** Forgets the pinned removals of ranges whose move is over (RF replicas or fewer) or whose pinned replica left. */
  private prunePinnedRemovals(snapshot: ClusterSnapshot): void {
    const rangeById = new Map(snapshot.ranges.map((range) => [range.id, range]));
    for (const [rangeId, nodeId] of this.pinnedRemovals) {
      const range = rangeById.get(rangeId);
      const over = range !== undefined && range.replicas.length > snapshot.replicationFactor;
      if (!over || !range.replicas.some((replica) => replica.nodeId === nodeId)) this.pinnedRemovals.delete(rangeId);
    }
  }

  /** Waits `ms`, or less if a move settles or `signal` aborts. Never throws. */
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    if (this.settled) {
      this.settled = false;
      return;
    }
    const stop = new AbortController();
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    const onAbort = (): void => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([this.options.clock.sleep(ms, stop.signal).catch(() => undefined), woken]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      stop.abort();
      this.wake = undefined;
      this.settled = false;
    }
  }

  /**
   * Runs one move to success, to its last failed attempt, or until it no longer applies. Never
   * throws. On a range whose earlier moves failed every attempt, it first waits a backoff that keeps
   * growing across re-plans (capped), so a range that cannot move is not hammered.
   */
  private async execute(move: Move, planned: ClusterSnapshot, signal: AbortSignal): Promise<void> {
    const { limits } = this.options;
    const startedMs = this.options.clock.nowMs();
    let snapshot = planned;
    const earlierFailures = this.rangeFailures.get(move.rangeId) ?? 0;
    let lastError: unknown;
    if (earlierFailures > 0) {
      try {
        await this.options.clock.sleep(retryBackoffMs(limits, earlierFailures * limits.moveAttemptsMax), signal);
        snapshot = await this.options.view.snapshot(signal);
      } catch {
        if (signal.aborted) return;
      }
    }
    for (let attempt = 1; attempt <= limits.moveAttemptsMax; attempt += 1) {
      if (signal.aborted) return;
      const status = moveStatus(snapshot, move);
      if (status.status === 'obsolete') {
        this.dropped += 1;
        this.emit({ kind: 'move-dropped', move, why: status.why });
        return;
      }
      try {
        if (status.status === 'pending') {
          // Bandwidth is metered before the attempt's timeout starts: waiting for tokens is not slowness.
          if (move.kind === 'AddLearner' && !hasLearner(snapshot, move)) await this.bucket.take(move.bytes, signal);
          this.emit({ kind: 'move-started', move, attempt });
          await this.attempt(move, snapshot, signal);
        }
        this.succeeded += 1;
        this.rangeFailures.delete(move.rangeId);
        if (move.kind === 'AddLearner' || move.kind === 'PromoteLearner') this.learnerFailures.delete(move.rangeId);
        if ((move.kind === 'AddLearner' || move.kind === 'PromoteLearner') && move.replacesNodeId !== undefined) this.pinnedRemovals.set(move.rangeId, move.replacesNodeId);
        if (move.kind === 'AddLearner') {
          this.bytesCopied += move.bytes;
          this.avoidUntilMs.delete(move.nodeId);
        }
        this.emit({ kind: 'move-succeeded', move, attempts: attempt, durationMs: this.options.clock.nowMs() - startedMs });
        return;
      } catch (error) {
        if (signal.aborted) return;
        lastError = error;
        const last = attempt === limits.moveAttemptsMax;
        const retryInMs = last ? null : retryBackoffMs(limits, attempt);
        this.emit({ kind: 'move-failed', move, attempt, error, retryInMs });
        if (retryInMs === null) break;
        try {
          await this.options.clock.sleep(retryInMs, signal);
          snapshot = await this.options.view.snapshot(signal);
        } catch {
          if (signal.aborted) return;
        }
      }
    }
    this.failed += 1;
    this.rangeFailures.set(move.rangeId, earlierFailures + 1);
    if (move.kind === 'AddLearner') this.avoidTarget(move.nodeId);
    if (move.kind === 'AddLearner' || move.kind === 'PromoteLearner') {
      const before = this.learnerFailures.get(move.rangeId);
      const learnerFailedMoves = (before?.nodeId === move.nodeId ? before.failedMoves : 0) + 1;
      this.learnerFailures.set(move.rangeId, { nodeId: move.nodeId, failedMoves: learnerFailedMoves });
      if (learnerFailedMoves >= limits.learnerFailedMovesMax) await this.abandonLearner(move.rangeId, move.nodeId, learnerFailedMoves, lastError, signal);
    }
  }

  private avoidTarget(nodeId: NodeId): void {
    const untilMs = this.options.clock.nowMs() + this.options.limits.failedTargetAvoidMs;
    this.avoidUntilMs.set(nodeId, untilMs);
    this.emit({ kind: 'target-avoided', nodeId, untilMs });
  }

  /**
   * Removes the learner on `nodeId` whose moves failed `failedMoves` times in a row (the range
   * is still this driver's: no other move runs on it meanwhile), so the planner places that
   * replica afresh, elsewhere while the node is avoided. Checked against a fresh snapshot first:
   * a learner that was promoted after all, or is gone, is left alone. If the removal fails too,
   * the learner's failure count stays, and its next failed move tries again.
   */
  private async abandonLearner(rangeId: RangeId, nodeId: NodeId, failedMoves: number, error: unknown, signal: AbortSignal): Promise<void> {
    const remove: Move = { kind: 'RemoveReplica', rangeId, nodeId, reason: `learner failed ${failedMoves} moves in a row` };
    try {
      const snapshot = await this.options.view.snapshot(signal);
      if (moveStatus(snapshot, remove).status !== 'pending') return;
      await this.attempt(remove, snapshot, signal);
    } catch (removeError) {
      if (signal.aborted) return;
      this.emit({ kind: 'learner-abandoned', rangeId, nodeId, failedMoves, error, removed: false, removeError });
      return;
    }
    this.learnersAbandoned += 1;
    this.rangeFailures.delete(rangeId);
    this.learnerFailures.delete(rangeId);
    this.pinnedRemovals.delete(rangeId);
    this.avoidTarget(nodeId);
    this.emit({ kind: 'learner-abandoned', rangeId, nodeId, failedMoves, error, removed: true });
  }

  /** One attempt, bounded by `moveAttemptTimeoutMs` (PH_DEADLINE_EXCEEDED) and by `signal`. */
  private async attempt(move: Move, snapshot: ClusterSnapshot, signal: AbortSignal): Promise<void> {
    const { admin, clock, limits } = this.options;
    const timeout = new AbortController();
    const attemptSignal = AbortSignal.any([signal, timeout.signal]);
    const timer = clock.sleep(limits.moveAttemptTimeoutMs, attemptSignal).then(
      () => timeout.abort(new PlacementError('PH_DEADLINE_EXCEEDED', `${move.kind} on range ${move.rangeId} took longer than ${limits.moveAttemptTimeoutMs} ms`)),
      () => undefined,
    );
    try {
      await this.callAdmin(admin, move, snapshot, attemptSignal);
      attemptSignal.throwIfAborted();
    } catch (error) {
      // An aborted call may reject with its own error: report why it was aborted.
      if (timeout.signal.aborted) throw timeout.signal.reason;
      throw error;
    } finally {
      timeout.abort();
      await timer;
    }
  }

  private async callAdmin(admin: RangeAdmin, move: Move, snapshot: ClusterSnapshot, signal: AbortSignal): Promise<void> {
    switch (move.kind) {
      case 'AddLearner':
        if (!hasLearner(snapshot, move)) await admin.addLearner(move.rangeId, move.nodeId, signal);
        await admin.waitLearnerCaughtUp(move.rangeId, move.nodeId, signal);
        return;
      case 'PromoteLearner':
        return admin.promoteLearner(move.rangeId, move.nodeId, signal);
      case 'DemoteVoter':
        return admin.demoteVoter(move.rangeId, move.nodeId, signal);
      case 'RemoveReplica':
        return admin.removeLearner(move.rangeId, move.nodeId, signal);
      case 'TransferLease':
        return admin.transferLease(move.rangeId, move.toNodeId, signal);
      default:
        return assertNever(move, 'move');
    }
  }

  private emit(event: DriverEvent): void {
    this.options.onEvent?.(event);
  }
}

function describeAbort(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' ? reason : 'aborted';
}

/** The DriverClock of a real host: Date.now and timers. */
export const systemClock: DriverClock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
