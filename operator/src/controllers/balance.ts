/**
 * Whether the data nodes' replicas are balanced, from one ClusterStatus (a pure function: the
 * controller recomputes it on every reconcile from what the admin API reported, so the
 * Rebalancing condition is level-triggered and costs one pass over the node list).
 *
 * The rule (issue 5 §3): every live member's replica count is within ±10% of the mean, and no
 * range is under-replicated. Counts are integers, so the band is widened to whole replicas:
 *
 *   low  = floor(0.9 × mean)      high = ceil(1.1 × mean)      mean = replicas / live members
 *
 * An even spread (every count floor(mean) or ceil(mean)) is therefore always balanced, even when
 * ±10% of a small mean is narrower than one replica (9 replicas on 5 nodes: mean 1.8, band 1..2).
 * "Live members" are nodes whose membership is VOTER and whose liveness is not DEAD: learners have
 * not joined yet, decommissioning nodes are being emptied on purpose, and dead nodes are the
 * re-replication's business (their ranges show up as under-replicated). SUSPECT nodes count, as
 * they do in the data nodes' planner (the nodes that stay): a node that misses a beat does not
 * change the mean, and a node that just joined (suspect until its beats are seen) counts while
 * it is still empty.
 */
import type { ClusterStatus } from '../admin-client/index.ts';

export interface NodeReplicas {
  readonly nodeId: number;
  readonly replicas: number;
}

export interface BalanceAssessment {
  readonly balanced: boolean;
  /** Live members and their replica counts, by node id. */
  readonly nodes: readonly NodeReplicas[];
  readonly meanReplicas: number;
  /** Inclusive band every live member's count must fall in. */
  readonly lowReplicas: number;
  readonly highReplicas: number;
  /** Highest minus lowest count among live members. */
  readonly spread: number;
  /** Live members outside the band. */
  readonly outside: readonly NodeReplicas[];
  readonly underReplicatedRanges: number;
  /** One line for people: counts per node, spread, band and under-replicated ranges. */
  readonly message: string;
}

/** The percentage either side of the mean a node's replica count may be. */
export const balanceTolerancePercent = 10;

/** The inclusive band of balanced replica counts for `totalReplicas` over `liveNodes` nodes. */
export function balanceBand(totalReplicas: number, liveNodes: number): { readonly low: number; readonly high: number } {
  if (!Number.isInteger(totalReplicas) || totalReplicas < 0) throw new Error(`totalReplicas must be a non-negative integer, got ${totalReplicas}`);
  if (!Number.isInteger(liveNodes) || liveNodes < 1) throw new Error(`liveNodes must be a positive integer, got ${liveNodes}`);
  // Integer numerators and denominators: an exact quotient is computed exactly, so 110% of a mean
  // of 100 is 110, not 110.00000000000001 rounded up to 111.
  const low = Math.floor(((100 - balanceTolerancePercent) * totalReplicas) / (100 * liveNodes));
  const high = Math.ceil(((100 + balanceTolerancePercent) * totalReplicas) / (100 * liveNodes));
  return { low, high };
}

function describe(nodes: readonly NodeReplicas[], spread: number, low: number, high: number, underReplicated: number): string {
  const counts = nodes.map((node) => `${node.nodeId}:${node.replicas}`).join(' ');
  return `replicas per node ${counts === '' ? '(none)' : counts}; spread ${spread}; balanced band ${low}..${high}; ${underReplicated} ranges under-replicated`;
}

/** Assesses the balance of `status` (see the rule above). A cluster with no live member is not balanced. */
export function assessBalance(status: ClusterStatus): BalanceAssessment {
  const nodes = status.nodes
    .filter((node) => node.membership === 'VOTER' && node.liveness !== 'DEAD')
    .map((node) => ({ nodeId: node.nodeId, replicas: node.replicas }))
    .sort((a, b) => a.nodeId - b.nodeId);
  const underReplicatedRanges = status.underReplicatedRanges;
  if (nodes.length === 0) {
    return { balanced: false, nodes, meanReplicas: 0, lowReplicas: 0, highReplicas: 0, spread: 0, outside: [], underReplicatedRanges, message: `no live member reports replicas; ${underReplicatedRanges} ranges under-replicated` };
  }
  const total = nodes.reduce((sum, node) => sum + node.replicas, 0);
  const { low, high } = balanceBand(total, nodes.length);
  const counts = nodes.map((node) => node.replicas);
  const spread = Math.max(...counts) - Math.min(...counts);
  const outside = nodes.filter((node) => node.replicas < low || node.replicas > high);
  return {
    balanced: outside.length === 0 && underReplicatedRanges === 0,
    nodes,
    meanReplicas: total / nodes.length,
    lowReplicas: low,
    highReplicas: high,
    spread,
    outside,
    underReplicatedRanges,
    message: describe(nodes, spread, low, high, underReplicatedRanges),
  };
}
