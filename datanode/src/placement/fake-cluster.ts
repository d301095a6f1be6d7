/**
 * Test support for the placement driver: a virtual clock, and an in-memory cluster that implements
 * `ClusterView` and `RangeAdmin` the way a node would (preconditions checked, changes taking time,
 * learners catching up at a copy rate, injected failures before and after a change takes effect),
 * while recording every safety violation the driver could cause. Used only by tests.
 */
import { assert } from '../assert.ts';
import { indexNodes, isQuorate } from './model.ts';
import type { ClusterSnapshot, NodeId, NodeState, RangeId, RangeState } from './model.ts';
import type { ClusterView, DriverClock, RangeAdmin } from './driver.ts';
import type { SeededRandom } from './simulation.ts';

interface Timer {
  readonly atMs: number;
  readonly order: number;
  readonly fire: () => void;
}

/** A clock whose time moves only when the test advances it to the next timer. */
export class VirtualClock implements DriverClock {
  private now = 0;
  private order = 0;
  private timers: Timer[] = [];

  nowMs(): number {
    return this.now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        this.timers = this.timers.filter((candidate) => candidate !== timer);
        reject(signal?.reason as Error);
      };
      const timer: Timer = {
        atMs: this.now + Math.max(0, ms),
        order: this.order++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Moves time to the earliest timer and fires every timer due then; false when none is set. */
  advance(): boolean {
    if (this.timers.length === 0) return false;
    const atMs = Math.min(...this.timers.map((timer) => timer.atMs));
    this.now = Math.max(this.now, atMs);
    const due = this.timers.filter((timer) => timer.atMs <= this.now).sort((a, b) => a.order - b.order);
    this.timers = this.timers.filter((timer) => timer.atMs > this.now);
    for (const timer of due) timer.fire();
    return true;
  }
}

/** Lets every pending promise continuation run (all the code under test is promise-driven). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Alternates settling and advancing virtual time until `done()` holds. Throws if virtual time
 * passes `virtualMsMax` or nothing is left to run (a deadlock).
 */
export async function runVirtual(clock: VirtualClock, done: () => boolean, virtualMsMax: number): Promise<void> {
  for (;;) {
    await settle();
    if (done()) return;
    if (clock.nowMs() > virtualMsMax) throw new Error(`condition not reached within ${virtualMsMax} virtual ms`);
    if (!clock.advance()) throw new Error(`deadlock at ${clock.nowMs()} virtual ms: no timer set and the condition does not hold`);
  }
}

export interface FakeClusterOptions {
  readonly replicationFactor: number;
  /** Each admin call takes a uniformly random time in [min, max]. */
  readonly callDelayMs: readonly [number, number];
  /** Probability that a call fails before taking effect. */
  readonly failureRate: number;
  /** Probability that a call takes effect and then reports a failure anyway (outcome unknown). */
  readonly failureAfterEffectRate: number;
  /** Probability that a call hangs until aborted (tests the per-attempt timeout). */
  readonly hangRate: number;
  /** Learners catch up at this many bytes per virtual ms. */
  readonly catchUpBytesPerMs: number;
  /** Nodes that look healthy but where every addLearner fails (a bad disk the snapshot does not show). */
  readonly brokenTargetNodeIds?: readonly NodeId[];
  /** Nodes whose learners catch up once, then fall behind for good: every promotion is refused. */
  readonly laggingLearnerNodeIds?: readonly NodeId[];
}

interface FakeReplica {
  nodeId: NodeId;
  role: 'voter' | 'learner';
  caughtUpAtMs: number;
}

interface FakeRange {
  readonly id: RangeId;
  readonly bytes: number;
  replicas: FakeReplica[];
  leaseholder: NodeId | null;
}

/** An in-memory cluster the driver can plan against and change. */
export class FakeCluster implements ClusterView, RangeAdmin {
  nodes: NodeState[];
  private readonly ranges = new Map<RangeId, FakeRange>();
  private readonly rangesInCall = new Set<RangeId>();
  /** Safety violations seen (a test expects none). */
  readonly violations: string[] = [];
  /** Each learner added: when and how many bytes it copies. */
  readonly copies: { readonly atMs: number; readonly bytes: number }[] = [];
  /** Most ranges with an admin call running at once. */
  concurrentRangesMax = 0;
  /** Admin calls that began after `frozen` was set (a stopped driver must make none). */
  callsWhileFrozen = 0;
  frozen = false;
  /** addLearner calls per target node, failed ones included. */
  readonly addLearnerCalls = new Map<NodeId, number>();
  /** promoteLearner calls per range and node ("range/node"), failed ones included. */
  readonly promoteCalls = new Map<string, number>();

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: SeededRandom,
    readonly options: FakeClusterOptions,
    start: ClusterSnapshot,
  ) {
    this.nodes = [...start.nodes];
    for (const range of start.ranges) {
      const replicas = range.replicas.map((replica) => ({ nodeId: replica.nodeId, role: replica.role, caughtUpAtMs: 0 }));
      this.ranges.set(range.id, { id: range.id, bytes: range.bytes, replicas, leaseholder: range.leaseholder });
    }
  }

  /** The planner's view: ticks are virtual milliseconds. */
  view(): ClusterSnapshot {
    const ranges: RangeState[] = [...this.ranges.values()].map((range) => ({
      id: range.id,
      bytes: range.bytes,
      replicas: range.replicas.map((replica) => ({ nodeId: replica.nodeId, role: replica.role })),
      leaseholder: range.leaseholder,
    }));
    const used = new Map<NodeId, number>();
    for (const range of ranges) for (const replica of range.replicas) used.set(replica.nodeId, (used.get(replica.nodeId) ?? 0) + range.bytes);
    const nodes = this.nodes.map((node) => ({ ...node, usedBytes: used.get(node.id) ?? 0 }));
    return { nowTicks: this.clock.nowMs(), replicationFactor: this.options.replicationFactor, nodes, ranges };
  }

  snapshot(signal: AbortSignal): Promise<ClusterSnapshot> {
    signal.throwIfAborted();
    return Promise.resolve(this.view());
  }

  updateNode(nodeId: NodeId, change: Partial<NodeState>): void {
    this.nodes = this.nodes.map((node) => (node.id === nodeId ? { ...node, ...change } : node));
  }

  addNode(node: NodeState): void {
    this.nodes = [...this.nodes, node];
  }

  private isLive(nodeId: NodeId): boolean {
    return this.nodes.find((node) => node.id === nodeId)?.liveness === 'live';
  }

  private range(rangeId: RangeId): FakeRange {
    const range = this.ranges.get(rangeId);
    if (range === undefined) throw new Error(`no range ${rangeId}`);
    return range;
  }

  /** Runs one admin call: serial per range, taking time, failing as configured, checking safety. */
  private async call(rangeId: RangeId, signal: AbortSignal, change: (range: FakeRange) => void): Promise<void> {
    if (this.frozen) this.callsWhileFrozen += 1;
    if (this.rangesInCall.has(rangeId)) this.violations.push(`two calls at once on range ${rangeId}`);
    this.rangesInCall.add(rangeId);
    this.concurrentRangesMax = Math.max(this.concurrentRangesMax, this.rangesInCall.size);
    try {
      const [low, high] = this.options.callDelayMs;
      const hang = this.random.next() < this.options.hangRate;
      await this.clock.sleep(hang ? 1e12 : low + Math.floor(this.random.next() * (high - low + 1)), signal);
      if (this.random.next() < this.options.failureRate) throw new Error('injected failure before the change');
      const range = this.range(rangeId);
      const before = this.view();
      change(range);
      this.checkSafety(before, rangeId);
      if (this.random.next() < this.options.failureAfterEffectRate) throw new Error('injected failure after the change took effect');
    } finally {
      this.rangesInCall.delete(rangeId);
    }
  }

  private checkSafety(before: ClusterSnapshot, rangeId: RangeId): void {
    const after = this.view();
    const previous = before.ranges.find((range) => range.id === rangeId);
    const range = after.ranges.find((candidate) => candidate.id === rangeId);
    assert(previous !== undefined && range !== undefined, 'range vanished');
    const nodeIds = range.replicas.map((replica) => replica.nodeId);
    if (new Set(nodeIds).size !== nodeIds.length) this.violations.push(`range ${rangeId} has two replicas on one node`);
    if (isQuorate(previous, indexNodes(before)) && !isQuorate(range, indexNodes(after))) this.violations.push(`range ${rangeId} lost quorum`);
    if (range.leaseholder !== null && !range.replicas.some((replica) => replica.nodeId === range.leaseholder && replica.role === 'voter')) {
      this.violations.push(`range ${rangeId} leaseholder is not a voter`);
    }
  }

  addLearner(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void> {
    this.addLearnerCalls.set(nodeId, (this.addLearnerCalls.get(nodeId) ?? 0) + 1);
    return this.call(rangeId, signal, (range) => {
      if (this.options.brokenTargetNodeIds?.includes(nodeId) === true) throw new Error(`node ${nodeId}: snapshot ingest failed (injected)`);
      if (range.replicas.some((replica) => replica.nodeId === nodeId)) throw new Error(`range ${rangeId} already has a replica on ${nodeId}`);
      if (!this.isLive(nodeId)) throw new Error(`node ${nodeId} is not live`);
      this.copies.push({ atMs: this.clock.nowMs(), bytes: range.bytes });
      const caughtUpAtMs = this.clock.nowMs() + Math.ceil(range.bytes / this.options.catchUpBytesPerMs);
      range.replicas = [...range.replicas, { nodeId, role: 'learner', caughtUpAtMs }];
    });
  }

  async waitLearnerCaughtUp(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void> {
    for (;;) {
      const learner = this.range(rangeId).replicas.find((replica) => replica.nodeId === nodeId && replica.role === 'learner');
      if (learner === undefined) throw new Error(`no learner on ${nodeId} for range ${rangeId}`);
      if (this.clock.nowMs() >= learner.caughtUpAtMs && this.isLive(nodeId)) return;
      await this.clock.sleep(Math.max(1, Math.min(50, learner.caughtUpAtMs - this.clock.nowMs())), signal);
    }
  }

  promoteLearner(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void> {
    const key = `${rangeId}/${nodeId}`;
    this.promoteCalls.set(key, (this.promoteCalls.get(key) ?? 0) + 1);
    return this.call(rangeId, signal, (range) => {
      const learner = range.replicas.find((replica) => replica.nodeId === nodeId && replica.role === 'learner');
      if (learner === undefined) throw new Error(`no learner on ${nodeId}`);
      if (this.clock.nowMs() < learner.caughtUpAtMs) throw new Error('PH_NOT_CAUGHT_UP');
      if (this.options.laggingLearnerNodeIds?.includes(nodeId) === true) throw new Error(`learner ${nodeId} has not caught up (injected)`);
      learner.role = 'voter';
    });
  }

  demoteVoter(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void> {
    return this.call(rangeId, signal, (range) => {
      const voter = range.replicas.find((replica) => replica.nodeId === nodeId && replica.role === 'voter');
      if (voter === undefined) throw new Error(`no voter on ${nodeId}`);
      if (range.leaseholder === nodeId) throw new Error('cannot demote the leaseholder');
      voter.role = 'learner';
    });
  }

  removeLearner(rangeId: RangeId, nodeId: NodeId, signal: AbortSignal): Promise<void> {
    return this.call(rangeId, signal, (range) => {
      if (!range.replicas.some((replica) => replica.nodeId === nodeId && replica.role === 'learner')) throw new Error(`no learner on ${nodeId}`);
      range.replicas = range.replicas.filter((replica) => replica.nodeId !== nodeId);
    });
  }

  transferLease(rangeId: RangeId, toNodeId: NodeId, signal: AbortSignal): Promise<void> {
    return this.call(rangeId, signal, (range) => {
      if (!range.replicas.some((replica) => replica.nodeId === toNodeId && replica.role === 'voter')) throw new Error(`no voter on ${toNodeId}`);
      if (!this.isLive(toNodeId)) throw new Error(`node ${toNodeId} is not live`);
      range.leaseholder = toNodeId;
    });
  }
}
