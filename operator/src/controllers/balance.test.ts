/** The balance rule behind the Rebalancing condition (balance.ts). */
import { describe, expect, it } from 'vitest';
import type { ClusterStatus, NodeStatus } from '../admin-client/index.ts';
import { assessBalance, balanceBand } from './balance.ts';

function node(nodeId: number, replicas: number, overrides: Partial<NodeStatus> = {}): NodeStatus {
  return { nodeId, address: `n${nodeId}:7000`, membership: 'VOTER', liveness: 'LIVE', raft: undefined, replicas, leases: 0, version: '1.0.0', locality: '', ...overrides };
}

function status(nodes: readonly NodeStatus[], underReplicatedRanges = 0): ClusterStatus {
  return { clusterId: 'c', leaderId: 1, nodes, groups: 1, ranges: 1, underReplicatedRanges, unavailableRanges: 0, replicationFactor: 3, highestNodeId: nodes.length };
}

describe('balanceBand', () => {
  it('is ±10% of the mean, widened outwards to whole replicas', () => {
    expect(balanceBand(500, 5)).toEqual({ low: 90, high: 110 });
    expect(balanceBand(60, 5)).toEqual({ low: 10, high: 14 });
    // 9 replicas on 5 nodes: mean 1.8, ±10% is 1.62..1.98, which no whole count meets.
    expect(balanceBand(9, 5)).toEqual({ low: 1, high: 2 });
    expect(balanceBand(0, 3)).toEqual({ low: 0, high: 0 });
  });

  it('contains every even spread (floor and ceil of the mean) for any total and node count', () => {
    for (let nodes = 1; nodes <= 12; nodes++) {
      for (let total = 0; total <= 400; total++) {
        const { low, high } = balanceBand(total, nodes);
        expect(low, `${total} over ${nodes}`).toBeLessThanOrEqual(Math.floor(total / nodes));
        expect(high, `${total} over ${nodes}`).toBeGreaterThanOrEqual(Math.ceil(total / nodes));
        // And it is never wider than ±10% plus the rounding to a whole replica.
        expect(low).toBeGreaterThan((0.9 * total) / nodes - 1);
        expect(high).toBeLessThan((1.1 * total) / nodes + 1);
      }
    }
  });

  it('refuses nonsense inputs', () => {
    expect(() => balanceBand(3, 0)).toThrow(/liveNodes/);
    expect(() => balanceBand(-1, 3)).toThrow(/totalReplicas/);
    expect(() => balanceBand(1.5, 3)).toThrow(/totalReplicas/);
  });
});

describe('assessBalance', () => {
  it('is balanced when every live member is within the band and nothing is under-replicated', () => {
    const result = assessBalance(status([node(1, 100), node(2, 95), node(3, 108), node(4, 97), node(5, 100)]));
    expect(result.balanced).toBe(true);
    expect(result.spread).toBe(13);
    expect(result.outside).toEqual([]);
    expect(result.message).toBe('replicas per node 1:100 2:95 3:108 4:97 5:100; spread 13; balanced band 90..110; 0 ranges under-replicated');
  });

  it('is not balanced right after a scale-out: the new nodes are empty', () => {
    const result = assessBalance(status([node(1, 10), node(2, 10), node(3, 10), node(4, 0), node(5, 0)]));
    expect(result.balanced).toBe(false);
    expect(result.meanReplicas).toBe(6);
    expect([result.lowReplicas, result.highReplicas]).toEqual([5, 7]);
    expect(result.outside.map((entry) => entry.nodeId)).toEqual([1, 2, 3, 4, 5]);
    expect(result.spread).toBe(10);
  });

  it('is not balanced while a range is under-replicated, even with equal counts', () => {
    const result = assessBalance(status([node(1, 3), node(2, 3), node(3, 3)], 2));
    expect(result.balanced).toBe(false);
    expect(result.outside).toEqual([]);
    expect(result.message).toContain('2 ranges under-replicated');
  });

  it('counts voters that are not dead: learners, decommissioning, decommissioned and dead nodes are left out, suspect ones count', () => {
    const result = assessBalance(
      status([
        node(1, 6),
        node(2, 6),
        node(3, 6),
        node(4, 0, { membership: 'LEARNER' }),
        node(5, 20, { membership: 'DECOMMISSIONING' }),
        node(6, 0, { membership: 'DECOMMISSIONED' }),
        node(7, 0, { liveness: 'DEAD' }),
        node(8, 6, { liveness: 'SUSPECT' }),
      ]),
    );
    expect(result.nodes.map((entry) => entry.nodeId)).toEqual([1, 2, 3, 8]);
    expect(result.balanced).toBe(true);
  });

  it('an empty node that just joined and is still suspect keeps the cluster unbalanced', () => {
    const result = assessBalance(status([node(1, 2), node(2, 2), node(3, 2), node(4, 2), node(5, 0, { liveness: 'SUSPECT' })]));
    expect(result.balanced).toBe(false);
    expect(result.outside.map((entry) => entry.nodeId)).toEqual([5]);
  });

  it('is not balanced with no live member', () => {
    const result = assessBalance(status([node(1, 3, { liveness: 'DEAD' })]));
    expect(result.balanced).toBe(false);
    expect(result.message).toMatch(/no live member/);
  });
});
