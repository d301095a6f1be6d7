/**
 * The placement model: a cluster snapshot (nodes, ranges, replicas, leases), the planner's limits,
 * and the typed, immutable moves the planner emits. Plain data only; no I/O, no clock.
 *
 * Time is in ticks supplied by the host (`ClusterSnapshot.nowTicks`, `NodeState.deadSinceTicks`),
 * so the planner never reads a clock.
 */
import { assert } from '../assert.ts';

export type NodeId = number;
export type RangeId = number;

export type Liveness = 'live' | 'suspect' | 'dead';

export interface Locality {
  readonly region: string;
  readonly zone: string;
}

export interface NodeState {
  readonly id: NodeId;
  readonly liveness: Liveness;
  /** The tick at which the node was last seen alive; meaningful only when `liveness` is 'dead'. */
  readonly deadSinceTicks: number;
  /** Drain: move leases away (for a restart); replicas stay. */
  readonly draining: boolean;
  /** Decommission: move every replica and lease away; the node then leaves for good. */
  readonly decommissioning: boolean;
  readonly locality: Locality;
  readonly capacityBytes: number;
  readonly usedBytes: number;
}

export type ReplicaRole = 'voter' | 'learner';

export interface Replica {
  readonly nodeId: NodeId;
  readonly role: ReplicaRole;
}

export interface RangeState {
  readonly id: RangeId;
  readonly bytes: number;
  readonly replicas: readonly Replica[];
  /** The node holding the range lease, or null while no lease is held. */
  readonly leaseholder: NodeId | null;
}

export interface ClusterSnapshot {
  readonly nowTicks: number;
  readonly replicationFactor: number;
  readonly nodes: readonly NodeState[];
  readonly ranges: readonly RangeState[];
}

export interface PlannerLimits {
  /** Moves in flight plus moves planned never exceed this. */
  readonly concurrentMovesMax: number;
  /** Bytes being copied by in-flight and planned AddLearner moves never exceed this (see README). */
  readonly bytesInFlightMax: number;
  /** A dead node's replicas are replaced once it has been dead this many ticks. */
  readonly deadAfterTicks: number;
}

interface MoveBase {
  readonly rangeId: RangeId;
  /** Why the planner chose this move, for operators reading a plan. */
  readonly reason: string;
}

/** Add a non-voting replica on `nodeId`; the move completes once the learner has caught up. */
export interface AddLearner extends MoveBase {
  readonly kind: 'AddLearner';
  readonly nodeId: NodeId;
  readonly bytes: number;
  /** The replica the copy is meant to replace (removed once the learner is promoted), when one is. */
  readonly replacesNodeId?: NodeId;
}

/** Promote a caught-up learner to voter (a joint-consensus configuration change). */
export interface PromoteLearner extends MoveBase {
  readonly kind: 'PromoteLearner';
  readonly nodeId: NodeId;
  /** The voter the promotion makes redundant (demoted and removed next), when one is. */
  readonly replacesNodeId?: NodeId;
}

/** Turn a voter into a learner (joint consensus), the step before removing it. */
export interface DemoteVoter extends MoveBase {
  readonly kind: 'DemoteVoter';
  readonly nodeId: NodeId;
}

/** Remove a learner. Voters are never removed directly: they are demoted first. */
export interface RemoveReplica extends MoveBase {
  readonly kind: 'RemoveReplica';
  readonly nodeId: NodeId;
}

export interface TransferLease extends MoveBase {
  readonly kind: 'TransferLease';
  readonly fromNodeId: NodeId | null;
  readonly toNodeId: NodeId;
}

export type Move = AddLearner | PromoteLearner | DemoteVoter | RemoveReplica | TransferLease;

/** Votes needed to commit in a configuration of `voterCount` voters. */
export function majority(voterCount: number): number {
  assert(Number.isSafeInteger(voterCount), 'voter count must be an integer');
  assert(voterCount >= 0, 'voter count must not be negative');
  return Math.floor(voterCount / 2) + 1;
}

export function votersOf(range: RangeState): Replica[] {
  return range.replicas.filter((replica) => replica.role === 'voter');
}

export function learnersOf(range: RangeState): Replica[] {
  return range.replicas.filter((replica) => replica.role === 'learner');
}

/** Voters on nodes that are 'live' (suspect and dead nodes do not count toward a quorum here). */
export function liveVoterCount(range: RangeState, nodeById: ReadonlyMap<NodeId, NodeState>): number {
  return votersOf(range).filter((voter) => nodeById.get(voter.nodeId)?.liveness === 'live').length;
}

/** A range can commit (and so change its configuration) only while a majority of its voters is live. */
export function isQuorate(range: RangeState, nodeById: ReadonlyMap<NodeId, NodeState>): boolean {
  return liveVoterCount(range, nodeById) >= majority(votersOf(range).length);
}

export function indexNodes(snapshot: ClusterSnapshot): Map<NodeId, NodeState> {
  return new Map(snapshot.nodes.map((node) => [node.id, node]));
}

/**
 * A replica on this node must be replaced: the node is unknown, decommissioning, or has been dead
 * for at least `deadAfterTicks`.
 */
export function isGone(node: NodeState | undefined, nowTicks: number, limits: PlannerLimits): boolean {
  if (node === undefined) return true;
  if (node.decommissioning) return true;
  return node.liveness === 'dead' && nowTicks - node.deadSinceTicks >= limits.deadAfterTicks;
}

/** New replicas go only to live nodes that are staying in the cluster. */
export function canHostReplicas(node: NodeState): boolean {
  return node.liveness === 'live' && !node.decommissioning;
}

/** Leases go only to live nodes that are neither draining nor decommissioning. */
export function canHoldLeases(node: NodeState): boolean {
  return node.liveness === 'live' && !node.decommissioning && !node.draining;
}
