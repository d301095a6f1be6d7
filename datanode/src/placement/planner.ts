/**
 * The placement planner: a pure function from a cluster snapshot (plus limits and the moves
 * already in flight) to the next moves. It keeps no state between calls; the placement driver
 * calls it again after moves complete or the cluster changes (level-triggered).
 *
 * Each call plans at most one move per range (the next step of that range's sequence
 * add learner → promote → demote → remove), so every planned move is safe on the snapshot it was
 * planned from, whatever order the host completes them in. See README.md for the rules.
 */
import { assert } from '../assert.ts';
import {
  canHoldLeases,
  canHostReplicas,
  indexNodes,
  isGone,
  isQuorate,
  learnersOf,
  liveVoterCount,
  majority,
  votersOf,
} from './model.ts';
import type { ClusterSnapshot, Move, NodeId, NodeState, PlannerLimits, RangeId, RangeState, Replica } from './model.ts';

export { applyMove } from './apply.ts';
export type * from './model.ts';

export interface PlanInput {
  readonly snapshot: ClusterSnapshot;
  readonly limits: PlannerLimits;
  readonly inFlight: readonly Move[];
}

export interface Plan {
  readonly moves: readonly Move[];
  /** Ranges without a live majority of voters: no configuration change can commit for them. */
  readonly unavailableRangeIds: readonly RangeId[];
  /** Ranges below the replication factor for which no node can take a new replica. */
  readonly stalledRangeIds: readonly RangeId[];
}

/** A replica must not push a node's disk past this fraction of its capacity. */
export const diskUsageFractionMax = 0.95;
/** Replica counts count as balanced within this fraction of the mean (rounded outward). */
export const balanceToleranceFraction = 0.1;

/** The mutable scratch state of one planning call; it never escapes `planMoves`. */
interface Planning {
  readonly snapshot: ClusterSnapshot;
  readonly limits: PlannerLimits;
  readonly nodeById: ReadonlyMap<NodeId, NodeState>;
  readonly replicaCount: Map<NodeId, number>;
  /** Replicas expected to leave a node (the victim of an over-replicated range). */
  readonly leavingCount: Map<NodeId, number>;
  readonly usedBytes: Map<NodeId, number>;
  readonly leaseCount: Map<NodeId, number>;
  readonly busyRangeIds: Set<RangeId>;
  readonly moves: Move[];
  readonly stalledRangeIds: Set<RangeId>;
  movesLeft: number;
  bytesInFlight: number;
}

/**
 * Plans the next moves. Contract: the result respects `concurrentMovesMax` and `bytesInFlightMax`
 * (counting `inFlight`), names each range at most once and never a range with a move in flight,
 * and every move keeps its range's live voters at or above a majority of its voters.
 */
export function planMoves(input: PlanInput): Plan {
  checkLimits(input.limits);
  const planning = startPlanning(input);
  const ranges = [...input.snapshot.ranges].sort((a, b) => a.id - b.id);
  const unavailableRangeIds = ranges.filter((range) => !isQuorate(range, planning.nodeById)).map((range) => range.id);
  const workable = ranges.filter((range) => isQuorate(range, planning.nodeById));
  for (const range of workable) planRepairStep(planning, range);
  for (const range of workable) planUpReplication(planning, range);
  for (const range of workable) planZoneSpread(planning, range);
  for (const range of workable) planLeaseBalance(planning, range);
  for (const range of workable) planCountRebalance(planning, range);
  for (const move of planning.moves) assertMoveKeepsQuorum(planning, move);
  return { moves: planning.moves, unavailableRangeIds, stalledRangeIds: [...planning.stalledRangeIds].sort((a, b) => a - b) };
}

function checkLimits(limits: PlannerLimits): void {
  assert(Number.isSafeInteger(limits.concurrentMovesMax), 'concurrentMovesMax must be an integer');
  assert(limits.concurrentMovesMax >= 1, 'concurrentMovesMax must be at least 1');
  assert(limits.bytesInFlightMax >= 1, 'bytesInFlightMax must be at least 1');
  assert(limits.deadAfterTicks >= 0, 'deadAfterTicks must not be negative');
}

function increment(map: Map<NodeId, number>, nodeId: NodeId, delta: number): void {
  map.set(nodeId, (map.get(nodeId) ?? 0) + delta);
}

function startPlanning(input: PlanInput): Planning {
  const { snapshot, limits } = input;
  const planning: Planning = {
    snapshot,
    limits,
    nodeById: indexNodes(snapshot),
    replicaCount: new Map(snapshot.nodes.map((node) => [node.id, 0])),
    leavingCount: new Map(),
    usedBytes: new Map(snapshot.nodes.map((node) => [node.id, node.usedBytes])),
    leaseCount: new Map(snapshot.nodes.map((node) => [node.id, 0])),
    busyRangeIds: new Set(),
    moves: [],
    stalledRangeIds: new Set(),
    movesLeft: limits.concurrentMovesMax - input.inFlight.length,
    bytesInFlight: 0,
  };
  for (const range of snapshot.ranges) {
    for (const replica of range.replicas) increment(planning.replicaCount, replica.nodeId, 1);
    if (range.leaseholder !== null) increment(planning.leaseCount, range.leaseholder, 1);
  }
  for (const move of input.inFlight) countMove(planning, move);
  for (const range of snapshot.ranges) countLeaving(planning, range);
  return planning;
}

/** Records a planned or in-flight move in the tallies later decisions read. */
function countMove(planning: Planning, move: Move): void {
  planning.busyRangeIds.add(move.rangeId);
  if (move.kind === 'AddLearner') {
    increment(planning.replicaCount, move.nodeId, 1);
    increment(planning.usedBytes, move.nodeId, move.bytes);
    planning.bytesInFlight += move.bytes;
  } else if (move.kind === 'TransferLease') {
    if (move.fromNodeId !== null) increment(planning.leaseCount, move.fromNodeId, -1);
    increment(planning.leaseCount, move.toNodeId, 1);
  }
}

function countLeaving(planning: Planning, range: RangeState): void {
  if (range.replicas.length <= planning.snapshot.replicationFactor) return;
  const victim = pickReplicaToRemove(planning, range, range.replicas.map((replica) => replica.nodeId));
  increment(planning.leavingCount, victim, 1);
}

/** Adds `move` to the plan if the limits allow it; returns whether it was added. */
function emit(planning: Planning, move: Move): boolean {
  if (planning.movesLeft <= 0) return false;
  if (move.kind === 'AddLearner') {
    // A range larger than the whole budget may still move alone, or it could never move.
    const fits = planning.bytesInFlight + move.bytes <= planning.limits.bytesInFlightMax;
    if (!fits && planning.bytesInFlight > 0) return false;
  }
  planning.moves.push(move);
  planning.movesLeft -= 1;
  countMove(planning, move);
  return true;
}

function nodeOf(planning: Planning, nodeId: NodeId): NodeState | undefined {
  return planning.nodeById.get(nodeId);
}

function zoneOf(planning: Planning, nodeId: NodeId): string {
  return nodeOf(planning, nodeId)?.locality.zone ?? `unknown-node-${nodeId}`;
}

function gone(planning: Planning, nodeId: NodeId): boolean {
  return isGone(nodeOf(planning, nodeId), planning.snapshot.nowTicks, planning.limits);
}

function isLiveNode(planning: Planning, nodeId: NodeId): boolean {
  return nodeOf(planning, nodeId)?.liveness === 'live';
}

function count(map: ReadonlyMap<NodeId, number>, nodeId: NodeId): number {
  return map.get(nodeId) ?? 0;
}

function usedFraction(planning: Planning, nodeId: NodeId): number {
  const capacity = nodeOf(planning, nodeId)?.capacityBytes ?? 0;
  return capacity > 0 ? count(planning.usedBytes, nodeId) / capacity : 1;
}

function compareTuples(a: readonly number[], b: readonly number[]): number {
  for (let index = 0; index < Math.max(a.length, b.length); index += 1) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function zoneCounts(planning: Planning, nodeIds: readonly NodeId[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const nodeId of nodeIds) {
    const zone = zoneOf(planning, nodeId);
    counts.set(zone, (counts.get(zone) ?? 0) + 1);
  }
  return counts;
}

/**
 * Which of `nodeIds` (the replicas of `range`, possibly with a candidate added) should go first:
 * a replica on a gone node, then on a node not live, then in the most crowded zone, then on the
 * node with most replicas, then the fullest disk, then not the leaseholder, then the higher id.
 * `extraOn` counts one more replica on that node (a learner about to be added).
 */
function pickReplicaToRemove(planning: Planning, range: RangeState, nodeIds: readonly NodeId[], extraOn?: NodeId): NodeId {
  assert(nodeIds.length > 0, 'no replica to pick from');
  const zones = zoneCounts(planning, nodeIds);
  const score = (nodeId: NodeId): number[] => [
    gone(planning, nodeId) ? 1 : 0,
    isLiveNode(planning, nodeId) ? 0 : 1,
    zones.get(zoneOf(planning, nodeId)) ?? 0,
    count(planning.replicaCount, nodeId) + (nodeId === extraOn ? 1 : 0),
    usedFraction(planning, nodeId),
    range.leaseholder === nodeId ? 0 : 1,
    nodeId,
  ];
  const sorted = [...nodeIds].sort((a, b) => compareTuples(score(b), score(a)));
  const victim = sorted[0];
  assert(victim !== undefined, 'sorted candidates cannot be empty');
  return victim;
}

function hasRoom(planning: Planning, nodeId: NodeId, bytes: number): boolean {
  const capacity = nodeOf(planning, nodeId)?.capacityBytes ?? 0;
  return count(planning.usedBytes, nodeId) + bytes <= capacity * diskUsageFractionMax;
}

/** Nodes that may take a new replica of `range`, best first: least crowded zone, fewest replicas, emptiest disk. */
function rankTargets(planning: Planning, range: RangeState, keptNodeIds: readonly NodeId[]): NodeId[] {
  const holding = new Set(range.replicas.map((replica) => replica.nodeId));
  const zones = zoneCounts(planning, keptNodeIds);
  const candidates = planning.snapshot.nodes
    .filter((node) => canHostReplicas(node) && !holding.has(node.id) && hasRoom(planning, node.id, range.bytes))
    .map((node) => node.id);
  const score = (nodeId: NodeId): number[] => [
    zones.get(zoneOf(planning, nodeId)) ?? 0,
    count(planning.replicaCount, nodeId),
    usedFraction(planning, nodeId),
    nodeId,
  ];
  return candidates.sort((a, b) => compareTuples(score(a), score(b)));
}

function describeNode(planning: Planning, nodeId: NodeId): string {
  const node = nodeOf(planning, nodeId);
  if (node === undefined) return `unknown node ${nodeId}`;
  if (node.decommissioning) return `decommissioning node ${nodeId}`;
  if (node.liveness === 'dead') return `node ${nodeId} dead since tick ${node.deadSinceTicks}`;
  return `node ${nodeId} (${node.liveness})`;
}

/** Finishes a range's move in progress, or fixes its lease; never copies data. */
function planRepairStep(planning: Planning, range: RangeState): void {
  if (planning.busyRangeIds.has(range.id)) return;
  const move = repairMove(planning, range);
  if (move !== undefined) emit(planning, move);
}

function repairMove(planning: Planning, range: RangeState): Move | undefined {
  const replicationFactor = planning.snapshot.replicationFactor;
  const voters = votersOf(range);
  for (const learner of learnersOf(range)) {
    if (gone(planning, learner.nodeId) || nodeOf(planning, learner.nodeId)?.liveness === 'dead') {
      return { kind: 'RemoveReplica', rangeId: range.id, nodeId: learner.nodeId, reason: `learner on ${describeNode(planning, learner.nodeId)}` };
    }
  }
  const learner = learnersOf(range).find((candidate) => isLiveNode(planning, candidate.nodeId));
  if (learner !== undefined) return learnerMove(planning, range, learner);
  if (voters.length > replicationFactor) return demoteMove(planning, range, voters);
  return leaseRepairMove(planning, range);
}

/** A live learner is promoted if it is wanted (it replaces a worse voter or fills a gap), else removed. */
function learnerMove(planning: Planning, range: RangeState, learner: Replica): Move {
  const voters = votersOf(range);
  if (voters.length < planning.snapshot.replicationFactor) {
    return { kind: 'PromoteLearner', rangeId: range.id, nodeId: learner.nodeId, reason: `restore replication factor (${voters.length} voters)` };
  }
  const victim = pickReplicaToRemove(planning, range, [...voters.map((voter) => voter.nodeId), learner.nodeId]);
  if (victim === learner.nodeId) {
    return { kind: 'RemoveReplica', rangeId: range.id, nodeId: learner.nodeId, reason: 'learner no longer needed' };
  }
  return { kind: 'PromoteLearner', rangeId: range.id, nodeId: learner.nodeId, reason: `replaces voter on ${describeNode(planning, victim)}` };
}

/** Demotes the worst voter of an over-replicated range, moving its lease away first. */
function demoteMove(planning: Planning, range: RangeState, voters: readonly Replica[]): Move | undefined {
  const victim = pickReplicaToRemove(planning, range, voters.map((voter) => voter.nodeId));
  if (range.leaseholder === victim) {
    const target = bestLeaseTarget(planning, range, victim);
    if (target === undefined) return undefined;
    return { kind: 'TransferLease', rangeId: range.id, fromNodeId: victim, toNodeId: target, reason: `leaseholder ${victim} is about to be demoted` };
  }
  const liveAfter = liveVoterCount(range, planning.nodeById) - (isLiveNode(planning, victim) ? 1 : 0);
  if (liveAfter < majority(voters.length - 1)) return undefined;
  return { kind: 'DemoteVoter', rangeId: range.id, nodeId: victim, reason: `over-replicated; demote voter on ${describeNode(planning, victim)}` };
}

function bestLeaseTarget(planning: Planning, range: RangeState, excluded: NodeId | null): NodeId | undefined {
  const candidates = votersOf(range)
    .map((voter) => voter.nodeId)
    .filter((nodeId) => nodeId !== excluded)
    .filter((nodeId) => {
      const node = nodeOf(planning, nodeId);
      return node !== undefined && canHoldLeases(node) && !gone(planning, nodeId);
    });
  const score = (nodeId: NodeId): number[] => [count(planning.leaseCount, nodeId), nodeId];
  return candidates.sort((a, b) => compareTuples(score(a), score(b)))[0];
}

function leaseRepairMove(planning: Planning, range: RangeState): Move | undefined {
  const holder = range.leaseholder;
  const holderNode = holder === null ? undefined : nodeOf(planning, holder);
  const holderIsVoter = votersOf(range).some((voter) => voter.nodeId === holder);
  if (holderNode !== undefined && holderIsVoter && canHoldLeases(holderNode)) return undefined;
  const target = bestLeaseTarget(planning, range, holder);
  if (target === undefined) return undefined;
  const why = holder === null ? 'range has no leaseholder' : `leaseholder ${describeNode(planning, holder)} cannot hold leases`;
  return { kind: 'TransferLease', rangeId: range.id, fromNodeId: holder, toNodeId: target, reason: why };
}

/** Adds a learner to a range with fewer than RF voters on nodes that are staying. */
function planUpReplication(planning: Planning, range: RangeState): void {
  if (planning.busyRangeIds.has(range.id)) return;
  if (learnersOf(range).length > 0) return;
  const voters = votersOf(range);
  const kept = voters.map((voter) => voter.nodeId).filter((nodeId) => !gone(planning, nodeId));
  if (kept.length >= planning.snapshot.replicationFactor) return;
  if (voters.length > planning.snapshot.replicationFactor) return;
  const target = rankTargets(planning, range, kept)[0];
  if (target === undefined) {
    planning.stalledRangeIds.add(range.id);
    return;
  }
  const replaced = voters.find((voter) => gone(planning, voter.nodeId));
  const reason = replaced === undefined
    ? `under-replicated (${kept.length} of ${planning.snapshot.replicationFactor})`
    : `replace replica on ${describeNode(planning, replaced.nodeId)}`;
  emit(planning, { kind: 'AddLearner', rangeId: range.id, nodeId: target, bytes: range.bytes, reason });
}

/** A range in its steady state: exactly RF voters, all live and staying, and no learners. */
function isSteady(planning: Planning, range: RangeState): boolean {
  if (planning.busyRangeIds.has(range.id)) return false;
  if (learnersOf(range).length > 0) return false;
  const voters = votersOf(range);
  if (voters.length !== planning.snapshot.replicationFactor) return false;
  return voters.every((voter) => isLiveNode(planning, voter.nodeId) && !gone(planning, voter.nodeId));
}

/** The most zones a range's replicas can span: min(RF, zones with a node that can host replicas). */
export function maxZoneSpread(snapshot: ClusterSnapshot): number {
  const zones = new Set(snapshot.nodes.filter(canHostReplicas).map((node) => node.locality.zone));
  return Math.min(snapshot.replicationFactor, zones.size);
}

/** Moves one replica of a range whose replicas share a zone to a zone it does not use yet. */
function planZoneSpread(planning: Planning, range: RangeState): void {
  if (!isSteady(planning, range)) return;
  const nodeIds = range.replicas.map((replica) => replica.nodeId);
  const zones = zoneCounts(planning, nodeIds);
  if (zones.size >= maxZoneSpread(planning.snapshot)) return;
  const target = rankTargets(planning, range, nodeIds).find((nodeId) => !zones.has(zoneOf(planning, nodeId)));
  if (target === undefined) return;
  const victim = pickReplicaToRemove(planning, range, [...nodeIds, target], target);
  if (victim === target) return;
  const reason = `spread across zones: ${zones.size} zones used, replace node ${victim} in zone ${zoneOf(planning, victim)}`;
  if (emit(planning, { kind: 'AddLearner', rangeId: range.id, nodeId: target, bytes: range.bytes, reason })) {
    increment(planning.leavingCount, victim, 1);
  }
}

/** Moves a lease to a voter holding at least two fewer leases. */
function planLeaseBalance(planning: Planning, range: RangeState): void {
  if (planning.busyRangeIds.has(range.id)) return;
  const holder = range.leaseholder;
  if (holder === null) return;
  const target = bestLeaseTarget(planning, range, holder);
  if (target === undefined) return;
  if (count(planning.leaseCount, target) + 2 > count(planning.leaseCount, holder)) return;
  const reason = `balance leases: node ${holder} holds ${count(planning.leaseCount, holder)}, node ${target} ${count(planning.leaseCount, target)}`;
  emit(planning, { kind: 'TransferLease', rangeId: range.id, fromNodeId: holder, toNodeId: target, reason });
}

/** The band of replica counts per node that counts as balanced: mean ± 10%, rounded outward. */
export function balanceBand(snapshot: ClusterSnapshot): { readonly low: number; readonly high: number; readonly mean: number } {
  const hosts = snapshot.nodes.filter(canHostReplicas).length;
  const mean = hosts === 0 ? 0 : (snapshot.ranges.length * snapshot.replicationFactor) / hosts;
  return {
    mean,
    low: Math.floor(mean * (1 - balanceToleranceFraction)),
    high: Math.ceil(mean * (1 + balanceToleranceFraction)),
  };
}

/**
 * Moves one replica from an over-full node to an under-full one when they differ by two or more,
 * only where the zone spread does not get worse and the later removal would pick the source.
 */
function planCountRebalance(planning: Planning, range: RangeState): void {
  if (!isSteady(planning, range)) return;
  const band = balanceBand(planning.snapshot);
  const nodeIds = range.replicas.map((replica) => replica.nodeId);
  const effective = (nodeId: NodeId): number => count(planning.replicaCount, nodeId) - count(planning.leavingCount, nodeId);
  const sources = [...nodeIds].sort((a, b) => effective(b) - effective(a) || a - b);
  const targets = rankTargets(planning, range, []).sort((a, b) => effective(a) - effective(b) || a - b);
  for (const source of sources) {
    for (const target of targets) {
      const imbalanced = effective(source) > band.high || effective(target) < band.low;
      if (!imbalanced || effective(source) - effective(target) < 2) continue;
      if (pickReplicaToRemove(planning, range, [...nodeIds, target], target) !== source) continue;
      const reason = `balance replicas: node ${source} has ${effective(source)}, node ${target} ${effective(target)} (band ${band.low}..${band.high})`;
      if (emit(planning, { kind: 'AddLearner', rangeId: range.id, nodeId: target, bytes: range.bytes, reason })) {
        increment(planning.leavingCount, source, 1);
      }
      return;
    }
  }
}

function assertMoveKeepsQuorum(planning: Planning, move: Move): void {
  const range = planning.snapshot.ranges.find((candidate) => candidate.id === move.rangeId);
  assert(range !== undefined, `planned move names unknown range ${move.rangeId}`);
  if (move.kind !== 'DemoteVoter' && move.kind !== 'PromoteLearner') return;
  const voters = votersOf(range).length + (move.kind === 'PromoteLearner' ? 1 : -1);
  const delta = isLiveNode(planning, move.nodeId) ? (move.kind === 'PromoteLearner' ? 1 : -1) : 0;
  assert(liveVoterCount(range, planning.nodeById) + delta >= majority(voters), `move on range ${range.id} would lose quorum`);
}

export type DecommissionCheck =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly code: 'PH_DECOMMISSION_REFUSED';
      readonly nodeId: NodeId;
      /** Ranges that could not keep `replicationFactor` replicas without the node. */
      readonly underReplicatedRangeIds: readonly RangeId[];
      readonly message: string;
    };

/**
 * Whether `nodeId` may be decommissioned: every range with a replica on it must still find
 * `replicationFactor` nodes that stay (live, not decommissioning, not gone) and either hold a
 * replica already or have disk room for one. Pure; the admin service turns a refusal into
 * PH_DECOMMISSION_REFUSED.
 */
export function checkDecommission(snapshot: ClusterSnapshot, limits: PlannerLimits, nodeId: NodeId): DecommissionCheck {
  const staying = snapshot.nodes.filter(
    (node) => node.id !== nodeId && canHostReplicas(node) && !isGone(node, snapshot.nowTicks, limits),
  );
  const underReplicatedRangeIds = snapshot.ranges
    .filter((range) => range.replicas.some((replica) => replica.nodeId === nodeId))
    .filter((range) => {
      const holders = new Set(range.replicas.map((replica) => replica.nodeId));
      const able = staying.filter((node) => holders.has(node.id) || node.usedBytes + range.bytes <= node.capacityBytes * diskUsageFractionMax);
      return able.length < snapshot.replicationFactor;
    })
    .map((range) => range.id)
    .sort((a, b) => a - b);
  if (underReplicatedRangeIds.length === 0) return { ok: true };
  const message = `decommissioning node ${nodeId} would leave ${underReplicatedRangeIds.length} ranges below ${snapshot.replicationFactor} replicas (${staying.length} other nodes can host replicas)`;
  return { ok: false, code: 'PH_DECOMMISSION_REFUSED', nodeId, underReplicatedRangeIds, message };
}
