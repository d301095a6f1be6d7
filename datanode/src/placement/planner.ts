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
  /**
   * Nodes that must not receive new replicas for now although the snapshot shows them healthy (the
   * driver's copies to them kept failing). Their existing replicas stay.
   */
  readonly avoidTargetNodeIds?: ReadonlySet<NodeId>;
  /**
   * Per range with a move under way: the replica an earlier step of that move chose to remove
   * (`replacesNodeId` of its AddLearner or PromoteLearner). Later steps keep that choice instead
   * of choosing again from counts the move itself keeps changing, which could demote one voter,
   * promote it back and demote another (each a joint-consensus round). A choice is dropped when a
   * fresh one has a harder reason (a gone, crowded-zone or not-live replica).
   */
  readonly pinnedRemovals?: ReadonlyMap<RangeId, NodeId>;
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

/** A balance target: values inside [low, high] count as balanced. */
export interface Band {
  readonly mean: number;
  readonly low: number;
  readonly high: number;
}

/** The mutable scratch state of one planning call; it never escapes `planMoves`. */
interface Planning {
  readonly snapshot: ClusterSnapshot;
  readonly limits: PlannerLimits;
  readonly avoidTargetNodeIds: ReadonlySet<NodeId>;
  readonly pinnedRemovals: ReadonlyMap<RangeId, NodeId>;
  readonly nodeById: ReadonlyMap<NodeId, NodeState>;
  readonly replicaCount: Map<NodeId, number>;
  /** Replicas expected to leave a node (the victim of an over-replicated range). */
  readonly leavingCount: Map<NodeId, number>;
  /** Bytes of the replicas counted in `leavingCount`. */
  readonly leavingBytes: Map<NodeId, number>;
  /** Bytes of the ranges each node holds a replica of (in-flight and planned learners included). */
  readonly replicaBytes: Map<NodeId, number>;
  readonly usedBytes: Map<NodeId, number>;
  readonly countBand: Band;
  readonly byteBand: Band;
  /** maxZoneSpread of the snapshot. */
  readonly zoneSpread: number;
  readonly leaseCount: Map<NodeId, number>;
  readonly busyRangeIds: Set<RangeId>;
  /** Per range: exactly RF voters, all live and staying, no learners (see isSteady). */
  readonly steadyShape: Map<RangeId, boolean>;
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
  const workable: RangeState[] = [];
  const unavailableRangeIds: RangeId[] = [];
  for (const range of ranges) {
    if (isQuorate(range, planning.nodeById)) workable.push(range);
    else unavailableRangeIds.push(range.id);
  }
  for (const range of workable) planRepairStep(planning, range);
  for (const range of workable) planUpReplication(planning, range);
  for (const range of workable) planZoneSpread(planning, range);
  for (const range of workable) planLeaseBalance(planning, range);
  for (const range of workable) planCountRebalance(planning, range);
  for (const range of workable) planByteRebalance(planning, range);
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
    avoidTargetNodeIds: input.avoidTargetNodeIds ?? new Set(),
    pinnedRemovals: input.pinnedRemovals ?? new Map(),
    nodeById: indexNodes(snapshot),
    replicaCount: new Map(snapshot.nodes.map((node) => [node.id, 0])),
    leavingCount: new Map(),
    leavingBytes: new Map(),
    replicaBytes: new Map(snapshot.nodes.map((node) => [node.id, 0])),
    usedBytes: new Map(snapshot.nodes.map((node) => [node.id, node.usedBytes])),
    leaseCount: new Map(snapshot.nodes.map((node) => [node.id, 0])),
    busyRangeIds: new Set(),
    steadyShape: new Map(),
    moves: [],
    stalledRangeIds: new Set(),
    countBand: balanceBand(snapshot, limits),
    byteBand: byteBalanceBand(snapshot, limits),
    zoneSpread: maxZoneSpread(snapshot),
    movesLeft: limits.concurrentMovesMax - input.inFlight.length,
    bytesInFlight: 0,
  };
  for (const range of snapshot.ranges) {
    for (const replica of range.replicas) {
      increment(planning.replicaCount, replica.nodeId, 1);
      increment(planning.replicaBytes, replica.nodeId, range.bytes);
    }
    if (range.leaseholder !== null) increment(planning.leaseCount, range.leaseholder, 1);
  }
  const rangeById = new Map(snapshot.ranges.map((range) => [range.id, range]));
  for (const move of input.inFlight) countMove(planning, move, rangeById.get(move.rangeId));
  for (const range of snapshot.ranges) countLeaving(planning, range);
  return planning;
}

/**
 * Records a planned or in-flight move in the tallies later decisions read. An in-flight AddLearner
 * whose learner the snapshot already shows (added, still catching up) is counted by the snapshot;
 * only its bytes still count as in flight.
 */
function countMove(planning: Planning, move: Move, range?: RangeState): void {
  planning.busyRangeIds.add(move.rangeId);
  if (move.kind === 'AddLearner') {
    const visible = range?.replicas.some((replica) => replica.nodeId === move.nodeId) ?? false;
    if (!visible) {
      increment(planning.replicaCount, move.nodeId, 1);
      increment(planning.replicaBytes, move.nodeId, move.bytes);
      increment(planning.usedBytes, move.nodeId, move.bytes);
    }
    planning.bytesInFlight += move.bytes;
  } else if (move.kind === 'TransferLease') {
    if (move.fromNodeId !== null) increment(planning.leaseCount, move.fromNodeId, -1);
    increment(planning.leaseCount, move.toNodeId, 1);
  }
}

function countLeaving(planning: Planning, range: RangeState): void {
  if (range.replicas.length <= planning.snapshot.replicationFactor) return;
  const victim = pickPinnedReplicaToRemove(planning, range, range.replicas.map((replica) => replica.nodeId));
  markLeaving(planning, victim, range.bytes);
}

/** Records that a replica of `bytes` is expected to leave `nodeId` (it is the victim of an over-replicated range). */
function markLeaving(planning: Planning, nodeId: NodeId, bytes: number): void {
  increment(planning.leavingCount, nodeId, 1);
  increment(planning.leavingBytes, nodeId, bytes);
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
 * Where a replica count sits relative to `band`: 0 at or below its low end, 1 inside it, 2 above
 * it. The low end counts as "under" so that a node raised from below the band to its low end by a
 * learner still ranks under a source inside the band (the count rule's move stays wanted).
 */
function bandCategory(value: number, band: Band): number {
  if (value <= band.low) return 0;
  return value > band.high ? 2 : 1;
}

/** The element of `items` with the smallest score (lexicographic), each score computed once. */
function bestBy<T>(items: readonly T[], score: (item: T) => readonly number[]): T | undefined {
  let best: T | undefined;
  let bestScore: readonly number[] = [];
  for (const item of items) {
    const itemScore = score(item);
    if (best === undefined || compareTuples(itemScore, bestScore) < 0) {
      best = item;
      bestScore = itemScore;
    }
  }
  return best;
}

/** `items` sorted by ascending score (lexicographic), each score computed once. */
function sortBy<T>(items: readonly T[], score: (item: T) => readonly number[]): T[] {
  return items
    .map((item) => ({ item, itemScore: score(item) }))
    .sort((a, b) => compareTuples(a.itemScore, b.itemScore))
    .map((entry) => entry.item);
}

/**
 * Which of `nodeIds` (the replicas of `range`, possibly with a candidate added) should go first:
 * a replica on a gone node, then in the most crowded zone, then on a node not live, then on a node
 * above the replica-count band (rather than inside it, rather than at or below its low end), then on the node
 * holding most bytes, then most replicas, then the fullest disk, then not the leaseholder, then the
 * higher id. `extraOn` counts one more replica of the range on that node (a learner about to be added).
 * `afterLeaving` counts the other nodes without the replicas already expected to leave them, so a
 * rebalance move is planned only if its source is still the one to remove once those have left
 * (otherwise the copy could be wasted: the learner removed instead of promoted).
 * Comparing count *bands* before bytes lets byte balance choose among nodes whose counts are balanced.
 */
function pickReplicaToRemove(
  planning: Planning,
  range: RangeState,
  nodeIds: readonly NodeId[],
  extraOn?: NodeId,
  afterLeaving = false,
): NodeId {
  assert(nodeIds.length > 0, 'no replica to pick from');
  const zones = zoneCounts(planning, nodeIds);
  const score = (nodeId: NodeId): number[] => {
    const extra = nodeId === extraOn ? 1 : 0;
    const leaving = afterLeaving && nodeId !== extraOn ? 1 : 0;
    const replicas = count(planning.replicaCount, nodeId) + extra - leaving * count(planning.leavingCount, nodeId);
    const bytes = count(planning.replicaBytes, nodeId) + extra * range.bytes - leaving * count(planning.leavingBytes, nodeId);
    return [
      gone(planning, nodeId) ? 0 : 1,
      // A crowded zone before a node that is merely not live: a move in flight when a zone went
      // away must not finish by dropping the range's only replica in that zone.
      -(zones.get(zoneOf(planning, nodeId)) ?? 0),
      isLiveNode(planning, nodeId) ? 1 : 0,
      -bandCategory(replicas, planning.countBand),
      -bytes,
      -replicas,
      -usedFraction(planning, nodeId),
      range.leaseholder === nodeId ? 1 : 0,
      -nodeId,
    ];
  };
  const victim = bestBy(nodeIds, score);
  assert(victim !== undefined, 'candidates cannot be empty');
  return victim;
}

/**
 * `pickReplicaToRemove` for the steps of a move under way: the replica pinned for the range
 * (PlanInput.pinnedRemovals) while it is among `nodeIds` and the fresh choice has no harder
 * reason to go (gone, more crowded zone, not live: the first three criteria); else the fresh choice.
 */
function pickPinnedReplicaToRemove(planning: Planning, range: RangeState, nodeIds: readonly NodeId[]): NodeId {
  const fresh = pickReplicaToRemove(planning, range, nodeIds);
  const pinned = planning.pinnedRemovals.get(range.id);
  if (pinned === undefined || pinned === fresh || !nodeIds.includes(pinned)) return fresh;
  const zones = zoneCounts(planning, nodeIds);
  const hardReasons = (nodeId: NodeId): number[] => [gone(planning, nodeId) ? 0 : 1, -(zones.get(zoneOf(planning, nodeId)) ?? 0), isLiveNode(planning, nodeId) ? 1 : 0];
  return compareTuples(hardReasons(fresh), hardReasons(pinned)) < 0 ? fresh : pinned;
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
    .filter((node) => canHostReplicas(node) && !holding.has(node.id) && !planning.avoidTargetNodeIds.has(node.id))
    .filter((node) => hasRoom(planning, node.id, range.bytes))
    .map((node) => node.id);
  const score = (nodeId: NodeId): number[] => [
    zones.get(zoneOf(planning, nodeId)) ?? 0,
    count(planning.replicaCount, nodeId),
    usedFraction(planning, nodeId),
    nodeId,
  ];
  return sortBy(candidates, score);
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
  if (planning.movesLeft <= 0 || planning.busyRangeIds.has(range.id)) return;
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
  const victim = pickPinnedReplicaToRemove(planning, range, [...voters.map((voter) => voter.nodeId), learner.nodeId]);
  if (victim === learner.nodeId) {
    return { kind: 'RemoveReplica', rangeId: range.id, nodeId: learner.nodeId, reason: 'learner no longer needed' };
  }
  return { kind: 'PromoteLearner', rangeId: range.id, nodeId: learner.nodeId, replacesNodeId: victim, reason: `replaces voter on ${describeNode(planning, victim)}` };
}

/** Demotes the worst voter of an over-replicated range, moving its lease away first. */
function demoteMove(planning: Planning, range: RangeState, voters: readonly Replica[]): Move | undefined {
  const victim = pickPinnedReplicaToRemove(planning, range, voters.map((voter) => voter.nodeId));
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
  return bestBy(candidates, (nodeId) => [count(planning.leaseCount, nodeId), nodeId]);
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
  // A steady range has RF voters on staying nodes already.
  if (isSteady(planning, range) || planning.busyRangeIds.has(range.id)) return;
  if (learnersOf(range).length > 0) return;
  const voters = votersOf(range);
  const kept = voters.map((voter) => voter.nodeId).filter((nodeId) => !gone(planning, nodeId));
  if (kept.length >= planning.snapshot.replicationFactor) return;
  if (voters.length > planning.snapshot.replicationFactor) return;
  const target = rankTargets(planning, range, kept)[0];
  const replacedNodeIds = voters.map((voter) => voter.nodeId).filter((nodeId) => gone(planning, nodeId));
  if (target === undefined || zoneAwayFrom(planning, kept, replacedNodeIds, target) !== undefined) {
    planning.stalledRangeIds.add(range.id);
    return;
  }
  const replaced = voters.find((voter) => gone(planning, voter.nodeId));
  const reason = replaced === undefined
    ? `under-replicated (${kept.length} of ${planning.snapshot.replicationFactor})`
    : `replace replica on ${describeNode(planning, replaced.nodeId)}`;
  emit(planning, { kind: 'AddLearner', rangeId: range.id, nodeId: target, bytes: range.bytes, ...(replaced === undefined ? {} : { replacesNodeId: replaced.nodeId }), reason });
}

/**
 * The zone of the replicas being replaced (`replacedNodeIds`) when they are all in zones that the
 * kept replicas do not use and whose nodes are all away (suspect or dead, none live; decommissioning ones aside), when
 * `target` is in a zone the kept replicas use already; else undefined. Re-replication then waits
 * for that zone rather than put two replicas in one zone: a whole zone going quiet is most likely
 * a partition or an outage that ends, and crowding another zone would copy the zone's data twice
 * (away and back) and leave the range one zone failure from unavailable. A zone lost for good is
 * given up by decommissioning its nodes. Only when every replica being replaced is in such a
 * zone: one replaced for another reason (its node decommissioning in a zone with live nodes) is
 * replaced at once, and the new replica stands in for it.
 */
function zoneAwayFrom(planning: Planning, keptNodeIds: readonly NodeId[], replacedNodeIds: readonly NodeId[], target: NodeId): string | undefined {
  const used = new Set(keptNodeIds.map((nodeId) => zoneOf(planning, nodeId)));
  if (!used.has(zoneOf(planning, target))) return undefined;
  const away = (zone: string): boolean => {
    if (used.has(zone)) return false;
    const staying = planning.snapshot.nodes.filter((node) => node.locality.zone === zone && !node.decommissioning);
    return staying.length > 0 && staying.every((node) => node.liveness !== 'live');
  };
  // The new replica may stand in for any replaced one outside an away zone without crowding more.
  const zones = replacedNodeIds.map((nodeId) => zoneOf(planning, nodeId));
  return zones.length > 0 && zones.every(away) ? zones[0] : undefined;
}

/** A range in its steady state: exactly RF voters, all live and staying, and no learners. */
function isSteady(planning: Planning, range: RangeState): boolean {
  if (planning.busyRangeIds.has(range.id)) return false;
  // The rest depends only on the snapshot: computed once per range and plan.
  let steady = planning.steadyShape.get(range.id);
  if (steady === undefined) {
    steady = range.replicas.length === planning.snapshot.replicationFactor
      && range.replicas.every((replica) => replica.role === 'voter' && isLiveNode(planning, replica.nodeId) && !gone(planning, replica.nodeId));
    planning.steadyShape.set(range.id, steady);
  }
  return steady;
}

/** The most zones a range's replicas can span: min(RF, zones with a node that can host replicas). */
export function maxZoneSpread(snapshot: ClusterSnapshot): number {
  const zones = new Set(snapshot.nodes.filter(canHostReplicas).map((node) => node.locality.zone));
  return Math.min(snapshot.replicationFactor, zones.size);
}

/** Moves one replica of a range whose replicas share a zone to a zone it does not use yet. */
function planZoneSpread(planning: Planning, range: RangeState): void {
  // Optional rules stop once the move budget is spent (emit would refuse every move anyway).
  if (planning.movesLeft <= 0 || !isSteady(planning, range)) return;
  const nodeIds = range.replicas.map((replica) => replica.nodeId);
  const zones = zoneCounts(planning, nodeIds);
  if (zones.size >= planning.zoneSpread) return;
  const target = rankTargets(planning, range, nodeIds).find((nodeId) => !zones.has(zoneOf(planning, nodeId)));
  if (target === undefined) return;
  const victim = pickReplicaToRemove(planning, range, [...nodeIds, target], target);
  if (victim === target) return;
  const reason = `spread across zones: ${zones.size} zones used, replace node ${victim} in zone ${zoneOf(planning, victim)}`;
  if (emit(planning, { kind: 'AddLearner', rangeId: range.id, nodeId: target, bytes: range.bytes, replacesNodeId: victim, reason })) {
    markLeaving(planning, victim, range.bytes);
  }
}

/** Moves a lease to a voter holding at least two fewer leases. */
function planLeaseBalance(planning: Planning, range: RangeState): void {
  if (planning.movesLeft <= 0 || planning.busyRangeIds.has(range.id)) return;
  const holder = range.leaseholder;
  if (holder === null) return;
  const target = bestLeaseTarget(planning, range, holder);
  if (target === undefined) return;
  if (count(planning.leaseCount, target) + 2 > count(planning.leaseCount, holder)) return;
  const reason = `balance leases: node ${holder} holds ${count(planning.leaseCount, holder)}, node ${target} ${count(planning.leaseCount, target)}`;
  emit(planning, { kind: 'TransferLease', rangeId: range.id, fromNodeId: holder, toNodeId: target, reason });
}

/**
 * Nodes whose share of the replicas the balance bands are computed over: those staying in the
 * cluster, suspect ones and (given the limits) ones dead for less than `deadAfterTicks` included.
 * A node that misses a beat must not shrink the bands, or every pause would move data around.
 */
function balanceHostCount(snapshot: ClusterSnapshot, limits?: PlannerLimits): number {
  return snapshot.nodes.filter((node) => {
    if (node.decommissioning) return false;
    if (node.liveness !== 'dead') return true;
    return limits !== undefined && !isGone(node, snapshot.nowTicks, limits);
  }).length;
}

/**
 * The band of replica counts per node that counts as balanced: mean ± 10%, rounded outward, over
 * the nodes that stay (see balanceHostCount; without `limits`, dead nodes are left out).
 */
export function balanceBand(snapshot: ClusterSnapshot, limits?: PlannerLimits): Band {
  const hosts = balanceHostCount(snapshot, limits);
  const mean = hosts === 0 ? 0 : (snapshot.ranges.length * snapshot.replicationFactor) / hosts;
  return {
    mean,
    low: Math.floor(mean * (1 - balanceToleranceFraction)),
    high: Math.ceil(mean * (1 + balanceToleranceFraction)),
  };
}

/**
 * The band of replica bytes per node (the sizes of the ranges it holds a replica of) that counts
 * as balanced: mean ± 10%, where the mean spreads every range's bytes × RF over the nodes that stay.
 */
export function byteBalanceBand(snapshot: ClusterSnapshot, limits?: PlannerLimits): Band {
  const hosts = balanceHostCount(snapshot, limits);
  const totalBytes = snapshot.ranges.reduce((sum, range) => sum + range.bytes, 0) * snapshot.replicationFactor;
  const mean = hosts === 0 ? 0 : totalBytes / hosts;
  return { mean, low: mean * (1 - balanceToleranceFraction), high: mean * (1 + balanceToleranceFraction) };
}

/**
 * Moves one replica from an over-full node to an under-full one when they differ by two or more,
 * only where the zone spread does not get worse and the later removal would pick the source.
 */
function planCountRebalance(planning: Planning, range: RangeState): void {
  if (planning.movesLeft <= 0 || !isSteady(planning, range)) return;
  const band = planning.countBand;
  const effective = (nodeId: NodeId): number => count(planning.replicaCount, nodeId) - count(planning.leavingCount, nodeId);
  // Cheap exit (this runs for every range): a move needs some node outside the band.
  if (!planning.snapshot.nodes.some((node) => effective(node.id) > band.high || effective(node.id) < band.low)) return;
  const nodeIds = range.replicas.map((replica) => replica.nodeId);
  const sources = sortBy(nodeIds, (nodeId) => [-effective(nodeId), nodeId]);
  const targets = sortBy(rankTargets(planning, range, []), (nodeId) => [effective(nodeId), nodeId]);
  for (const source of sources) {
    for (const target of targets) {
      const imbalanced = effective(source) > band.high || effective(target) < band.low;
      if (!imbalanced || effective(source) - effective(target) < 2) continue;
      // The count band, not bytes, must make the source the replica to remove: bytes drift while
      // other moves complete, and the learner would then be removed instead (a wasted copy).
      if (bandCategory(effective(source), band) <= bandCategory(effective(target) + 1, band)) continue;
      if (pickReplicaToRemove(planning, range, [...nodeIds, target], target, true) !== source) continue;
      const reason = `balance replicas: node ${source} has ${effective(source)}, node ${target} ${effective(target)} (band ${band.low}..${band.high})`;
      if (emit(planning, { kind: 'AddLearner', rangeId: range.id, nodeId: target, bytes: range.bytes, replacesNodeId: source, reason })) {
        markLeaving(planning, source, range.bytes);
      }
      return;
    }
  }
}

/**
 * Byte balance, after replica counts: moves one replica from a node above the byte band (or to a
 * node below it) when the move keeps both nodes' replica counts inside the count band, keeps the
 * zone spread, the later removal would pick the source, and the two nodes differ by more than the
 * range's bytes. That last condition is what prevents churn: after the move the target holds less
 * than the source held, so the reverse move never qualifies, and every move strictly lowers the
 * sum of squared byte loads, so the rule goes quiet.
 */
function planByteRebalance(planning: Planning, range: RangeState): void {
  if (planning.movesLeft <= 0 || !isSteady(planning, range)) return;
  const { byteBand, countBand } = planning;
  const bytesOf = (nodeId: NodeId): number => count(planning.replicaBytes, nodeId) - count(planning.leavingBytes, nodeId);
  if (!planning.snapshot.nodes.some((node) => bytesOf(node.id) > byteBand.high || bytesOf(node.id) < byteBand.low)) return;
  const nodeIds = range.replicas.map((replica) => replica.nodeId);
  const replicasOf = (nodeId: NodeId): number => count(planning.replicaCount, nodeId) - count(planning.leavingCount, nodeId);
  const sources = sortBy(nodeIds, (nodeId) => [-bytesOf(nodeId), nodeId]).filter((nodeId) => replicasOf(nodeId) - 1 >= countBand.low);
  const targets = sortBy(rankTargets(planning, range, []), (nodeId) => [bytesOf(nodeId), nodeId])
    .filter((nodeId) => replicasOf(nodeId) + 1 <= countBand.high);
  for (const source of sources) {
    for (const target of targets) {
      // Targets ascend by bytes: once the gap is too small, it is too small for every later target.
      if (bytesOf(source) - bytesOf(target) <= range.bytes) break;
      if (bytesOf(source) <= byteBand.high && bytesOf(target) >= byteBand.low) break;
      if (pickReplicaToRemove(planning, range, [...nodeIds, target], target, true) !== source) continue;
      const reason = `balance bytes: node ${source} holds ${formatMebibytes(bytesOf(source))}, node ${target} ${formatMebibytes(bytesOf(target))} (band ${formatMebibytes(byteBand.low)}..${formatMebibytes(byteBand.high)})`;
      if (emit(planning, { kind: 'AddLearner', rangeId: range.id, nodeId: target, bytes: range.bytes, replacesNodeId: source, reason })) {
        markLeaving(planning, source, range.bytes);
      }
      return;
    }
  }
}

function formatMebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
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
