/**
 * What the admin API reports about placement work, computed from snapshots (pure, no clock):
 * - decommission (and drain) progress: replicas, bytes and leases left on a node, the rate they
 *   leave at (from an earlier snapshot and the ticks since), and an ETA;
 * - recommission: cancelling a decommission (or a drain) is clearing the flag; the planner then
 *   stops moving the node's replicas away, and what already moved stays where it is until the
 *   balance rules decide otherwise;
 * - a rebalance plan: a dry run of the planner to quiescence on a copy of the snapshot, with the
 *   moves it would make, the bytes they would copy and each node's counts before and after;
 * - balance status: whether every node is within the count band (the operator's `Rebalancing`).
 */
import { assert } from '../assert.ts';
import { applyMove, balanceBand, byteBalanceBand, planMoves } from './planner.ts';
import type { Band } from './planner.ts';
import { canHostReplicas } from './model.ts';
import type { ClusterSnapshot, Move, NodeId, NodeState, PlannerLimits } from './model.ts';

export interface NodeLoad {
  /** Replicas (voters and learners) on the node. */
  readonly replicas: number;
  /** Bytes of the ranges the node holds a replica of. */
  readonly bytes: number;
  /** Ranges whose lease the node holds. */
  readonly leases: number;
}

/** The replicas, bytes and leases `nodeId` holds in `snapshot`. */
export function loadOf(snapshot: ClusterSnapshot, nodeId: NodeId): NodeLoad {
  let replicas = 0;
  let bytes = 0;
  let leases = 0;
  for (const range of snapshot.ranges) {
    if (range.replicas.some((replica) => replica.nodeId === nodeId)) {
      replicas += 1;
      bytes += range.bytes;
    }
    if (range.leaseholder === nodeId) leases += 1;
  }
  return { replicas, bytes, leases };
}

export type DecommissionPhase =
  /** The node is not decommissioning (never was, or was recommissioned). */
  | 'not-decommissioning'
  /** Replicas or leases are still leaving. */
  | 'moving'
  /** Something is left, and nothing left since the earlier snapshot. */
  | 'stalled'
  /** No replica and no lease left: the node may leave the cluster. */
  | 'done';

export interface DecommissionProgress extends NodeLoad {
  readonly nodeId: NodeId;
  readonly phase: DecommissionPhase;
  /** Bytes per tick that left the node since the earlier snapshot, or null without one. */
  readonly bytesPerTick: number | null;
  /** Replicas per tick that left the node since the earlier snapshot, or null without one. */
  readonly replicasPerTick: number | null;
  /** Ticks until done at the current rate: 0 when done, null when unknown (no rate yet, or stalled). */
  readonly etaTicks: number | null;
}

export interface EarlierSnapshot {
  readonly snapshot: ClusterSnapshot;
  /** Ticks between the earlier snapshot and the current one (the host's clock). */
  readonly elapsedTicks: number;
}

/**
 * Progress of `nodeId`'s decommission in `snapshot`. With `earlier`, the rate is what left the
 * node between the two snapshots (never negative: replicas that came back count as no progress),
 * and the ETA is the larger of bytes-left/byte-rate and replicas-left/replica-rate, so that
 * small-but-many and few-but-large ranges both count. Leases move without copying and are not
 * part of the ETA. Returns undefined for a node the snapshot does not know.
 */
export function decommissionProgress(snapshot: ClusterSnapshot, nodeId: NodeId, earlier?: EarlierSnapshot): DecommissionProgress | undefined {
  const node = snapshot.nodes.find((candidate) => candidate.id === nodeId);
  if (node === undefined) return undefined;
  const load = loadOf(snapshot, nodeId);
  const finished = load.replicas === 0 && load.leases === 0;
  if (!node.decommissioning) return { nodeId, ...load, phase: 'not-decommissioning', bytesPerTick: null, replicasPerTick: null, etaTicks: null };
  if (finished) return { nodeId, ...load, phase: 'done', bytesPerTick: null, replicasPerTick: null, etaTicks: 0 };
  if (earlier === undefined) return { nodeId, ...load, phase: 'moving', bytesPerTick: null, replicasPerTick: null, etaTicks: null };
  assert(Number.isSafeInteger(earlier.elapsedTicks), 'elapsedTicks must be an integer');
  assert(earlier.elapsedTicks > 0, 'elapsedTicks must be positive');
  const before = loadOf(earlier.snapshot, nodeId);
  const bytesPerTick = Math.max(0, before.bytes - load.bytes) / earlier.elapsedTicks;
  const replicasPerTick = Math.max(0, before.replicas - load.replicas) / earlier.elapsedTicks;
  const moved = bytesPerTick > 0 || replicasPerTick > 0 || before.leases > load.leases;
  const phase: DecommissionPhase = moved ? 'moving' : 'stalled';
  return { nodeId, ...load, phase, bytesPerTick, replicasPerTick, etaTicks: eta(load, bytesPerTick, replicasPerTick) };
}

function eta(load: NodeLoad, bytesPerTick: number, replicasPerTick: number): number | null {
  if (load.replicas === 0) return 0;
  const estimates: number[] = [];
  if (load.bytes > 0 && bytesPerTick > 0) estimates.push(load.bytes / bytesPerTick);
  if (replicasPerTick > 0) estimates.push(load.replicas / replicasPerTick);
  if (estimates.length === 0) return null;
  return Math.ceil(Math.max(...estimates));
}

/** Drain progress: the leases still on a draining node (replicas stay). */
export function drainProgress(snapshot: ClusterSnapshot, nodeId: NodeId): { readonly nodeId: NodeId; readonly leasesLeft: number; readonly done: boolean } | undefined {
  const node = snapshot.nodes.find((candidate) => candidate.id === nodeId);
  if (node === undefined) return undefined;
  const { leases } = loadOf(snapshot, nodeId);
  return { nodeId, leasesLeft: leases, done: node.draining && leases === 0 };
}

/** Recommission: the node with its decommission (and drain) cancelled. The planner does the rest. */
export function recommission(node: NodeState): NodeState {
  return { ...node, decommissioning: false, draining: false };
}

export interface NodeChange {
  readonly nodeId: NodeId;
  readonly before: NodeLoad;
  readonly after: NodeLoad;
}

export interface RebalancePlan {
  /** The first `movesShownMax` moves, in the order the dry run would make them. */
  readonly moves: readonly Move[];
  readonly moveCount: number;
  readonly countsByKind: Readonly<Record<Move['kind'], number>>;
  /** Bytes the AddLearner moves would copy over the network. */
  readonly bytesToCopy: number;
  /** Planning rounds the dry run took (each round starts moves up to the limits). */
  readonly rounds: number;
  /** False when the dry run hit `roundsMax` with moves still planned. */
  readonly converged: boolean;
  readonly nodes: readonly NodeChange[];
  readonly unavailableRangeIds: readonly number[];
  readonly stalledRangeIds: readonly number[];
}

export interface RebalancePlanOptions {
  readonly roundsMax: number;
  readonly movesShownMax: number;
}

export const defaultRebalancePlanOptions: RebalancePlanOptions = { roundsMax: 10_000, movesShownMax: 1000 };

/**
 * The rebalance plan (dry run): plans and applies moves on a copy of `snapshot`, every planned
 * move completing each round, until the planner goes quiet or `roundsMax` rounds pass. Pure.
 */
export function rebalancePlan(snapshot: ClusterSnapshot, limits: PlannerLimits, options: RebalancePlanOptions = defaultRebalancePlanOptions): RebalancePlan {
  assert(options.roundsMax >= 1, 'roundsMax must be at least 1');
  const countsByKind: Record<Move['kind'], number> = { AddLearner: 0, PromoteLearner: 0, DemoteVoter: 0, RemoveReplica: 0, TransferLease: 0 };
  const moves: Move[] = [];
  let moveCount = 0;
  let bytesToCopy = 0;
  let current = snapshot;
  let rounds = 0;
  let converged = false;
  let first: ReturnType<typeof planMoves> | undefined;
  while (rounds < options.roundsMax) {
    const plan = planMoves({ snapshot: current, limits, inFlight: [] });
    first ??= plan;
    if (plan.moves.length === 0) {
      converged = true;
      break;
    }
    rounds += 1;
    for (const move of plan.moves) {
      current = applyMove(current, move);
      moveCount += 1;
      countsByKind[move.kind] += 1;
      if (move.kind === 'AddLearner') bytesToCopy += move.bytes;
      if (moves.length < options.movesShownMax) moves.push(move);
    }
  }
  const nodes = snapshot.nodes.map((node) => ({ nodeId: node.id, before: loadOf(snapshot, node.id), after: loadOf(current, node.id) }));
  return {
    moves,
    moveCount,
    countsByKind,
    bytesToCopy,
    rounds,
    converged,
    nodes,
    unavailableRangeIds: first?.unavailableRangeIds ?? [],
    stalledRangeIds: first?.stalledRangeIds ?? [],
  };
}

export interface NodeBalance extends NodeLoad {
  readonly nodeId: NodeId;
  readonly replicasInBand: boolean;
  readonly bytesInBand: boolean;
}

export interface BalanceStatus {
  /** Every node that can host replicas holds a replica count inside the count band. */
  readonly balanced: boolean;
  readonly countBand: Band;
  readonly byteBand: Band;
  /** Nodes that can host replicas, by id. */
  readonly nodes: readonly NodeBalance[];
}

/**
 * Whether the cluster is balanced as the operator defines it for scale-out (every node that can
 * host replicas within ±10% of the mean replica count), with each node's bytes against the byte band
 * for display. The operator shows `Rebalancing` while `balanced` is false.
 */
export function balanceStatus(snapshot: ClusterSnapshot, limits?: PlannerLimits): BalanceStatus {
  const countBand = balanceBand(snapshot, limits);
  const byteBand = byteBalanceBand(snapshot, limits);
  const nodes = snapshot.nodes
    .filter(canHostReplicas)
    .map((node) => {
      const load = loadOf(snapshot, node.id);
      return {
        nodeId: node.id,
        ...load,
        replicasInBand: load.replicas >= countBand.low && load.replicas <= countBand.high,
        bytesInBand: load.bytes >= byteBand.low && load.bytes <= byteBand.high,
      };
    })
    .sort((a, b) => a.nodeId - b.nodeId);
  return { balanced: nodes.every((node) => node.replicasInBand), countBand, byteBand, nodes };
}
