/**
 * applyMove: the effect of one completed move on a snapshot, as a pure function. The host uses
 * it to predict a plan's result (dry runs); the simulation uses it to execute plans.
 */
import { assert, assertNever } from '../assert.ts';
import type { ClusterSnapshot, Move, NodeId, NodeState, RangeState, Replica } from './model.ts';

/**
 * Returns the snapshot after `move` completed. Asserts the move's preconditions (the planner never
 * emits a move that breaks them): a learner is added only to a node without a replica of the range,
 * only learners are promoted or removed, only voters are demoted (and never the leaseholder), and a
 * lease moves only to a voter.
 */
export function applyMove(snapshot: ClusterSnapshot, move: Move): ClusterSnapshot {
  const range = snapshot.ranges.find((candidate) => candidate.id === move.rangeId);
  assert(range !== undefined, `move names unknown range ${move.rangeId}`);
  const updated = applyToRange(range, move);
  const ranges = snapshot.ranges.map((candidate) => (candidate.id === range.id ? updated : candidate));
  const nodes = snapshot.nodes.map((node) => withUsedBytes(node, usedBytesDelta(node.id, range, move)));
  return { ...snapshot, ranges, nodes };
}

function usedBytesDelta(nodeId: NodeId, range: RangeState, move: Move): number {
  if (move.kind === 'AddLearner' && move.nodeId === nodeId) return range.bytes;
  if (move.kind === 'RemoveReplica' && move.nodeId === nodeId) return -range.bytes;
  return 0;
}

function withUsedBytes(node: NodeState, delta: number): NodeState {
  if (delta === 0) return node;
  return { ...node, usedBytes: Math.max(0, node.usedBytes + delta) };
}

function roleOf(range: RangeState, nodeId: NodeId): Replica['role'] | undefined {
  return range.replicas.find((replica) => replica.nodeId === nodeId)?.role;
}

function withRole(range: RangeState, nodeId: NodeId, role: Replica['role']): RangeState {
  const replicas = range.replicas.map((replica) => (replica.nodeId === nodeId ? { nodeId, role } : replica));
  return { ...range, replicas };
}

function applyToRange(range: RangeState, move: Move): RangeState {
  switch (move.kind) {
    case 'AddLearner':
      assert(roleOf(range, move.nodeId) === undefined, `range ${range.id} already has a replica on node ${move.nodeId}`);
      return { ...range, replicas: [...range.replicas, { nodeId: move.nodeId, role: 'learner' }] };
    case 'PromoteLearner':
      assert(roleOf(range, move.nodeId) === 'learner', `range ${range.id}: node ${move.nodeId} is not a learner`);
      return withRole(range, move.nodeId, 'voter');
    case 'DemoteVoter':
      assert(roleOf(range, move.nodeId) === 'voter', `range ${range.id}: node ${move.nodeId} is not a voter`);
      assert(range.leaseholder !== move.nodeId, `range ${range.id}: the leaseholder ${move.nodeId} cannot be demoted`);
      return withRole(range, move.nodeId, 'learner');
    case 'RemoveReplica':
      assert(roleOf(range, move.nodeId) === 'learner', `range ${range.id}: only a learner can be removed, not ${move.nodeId}`);
      return { ...range, replicas: range.replicas.filter((replica) => replica.nodeId !== move.nodeId) };
    case 'TransferLease':
      assert(roleOf(range, move.toNodeId) === 'voter', `range ${range.id}: lease target ${move.toNodeId} is not a voter`);
      return { ...range, leaseholder: move.toNodeId };
    default:
      return assertNever(move, 'move');
  }
}
