// Decommission and drain progress (left, rate, ETA), recommission, and the rebalance dry run.
import { describe, expect, it } from 'vitest';
import { balanceStatus, decommissionProgress, drainProgress, loadOf, rebalancePlan, recommission } from './progress.ts';
import { applyMove, balanceBand, planMoves } from './planner.ts';
import type { ClusterSnapshot, NodeState, PlannerLimits, RangeState } from './model.ts';
import { makeNode } from './simulation.ts';

const limits: PlannerLimits = { concurrentMovesMax: 4, bytesInFlightMax: 1024 ** 4, deadAfterTicks: 5 };

function range(id: number, nodeIds: number[], bytes = 100, leaseholder: number | null = nodeIds[0] ?? null): RangeState {
  return { id, bytes, replicas: nodeIds.map((nodeId) => ({ nodeId, role: 'voter' as const })), leaseholder };
}

function cluster(nodes: NodeState[], ranges: RangeState[]): ClusterSnapshot {
  return { nowTicks: 0, replicationFactor: 3, nodes, ranges };
}

const fourNodes = (decommissioning?: number): NodeState[] =>
  [1, 2, 3, 4].map((id) => ({ ...makeNode(id, `z${id}`), decommissioning: id === decommissioning }));

describe('decommission progress', () => {
  const ranges = [range(1, [1, 2, 3], 100, 3), range(2, [1, 2, 3], 300, 1), range(3, [2, 3, 4], 50)];

  it('counts the replicas, bytes and leases left on the node', () => {
    const progress = decommissionProgress(cluster(fourNodes(3), ranges), 3);
    expect(progress).toMatchObject({ nodeId: 3, replicas: 3, bytes: 450, leases: 1, phase: 'moving', etaTicks: null });
    expect(decommissionProgress(cluster(fourNodes(), ranges), 3)?.phase).toBe('not-decommissioning');
    expect(decommissionProgress(cluster(fourNodes(), ranges), 99)).toBeUndefined();
  });

  it('derives the rate and ETA from an earlier snapshot, taking the slower of bytes and replicas', () => {
    const earlier = cluster(fourNodes(3), ranges);
    // Range 1 (100 bytes) left node 3 in 10 ticks: 10 bytes/tick; 350 bytes left → 35 ticks;
    // 0.1 replica/tick with 2 replicas left → 20 ticks. The ETA is the larger: 35.
    const now = cluster(fourNodes(3), [range(1, [1, 2, 4], 100, 1), ranges[1] as RangeState, ranges[2] as RangeState]);
    const progress = decommissionProgress(now, 3, { snapshot: earlier, elapsedTicks: 10 });
    expect(progress).toMatchObject({ replicas: 2, bytes: 350, leases: 0, bytesPerTick: 10, replicasPerTick: 0.1, etaTicks: 35, phase: 'moving' });
  });

  it('reports stalled when nothing left since the earlier snapshot, and done when nothing is left', () => {
    const snapshot = cluster(fourNodes(3), ranges);
    expect(decommissionProgress(snapshot, 3, { snapshot, elapsedTicks: 50 })).toMatchObject({ phase: 'stalled', etaTicks: null, bytesPerTick: 0 });
    const empty = cluster(fourNodes(3), [range(1, [1, 2, 4])]);
    expect(decommissionProgress(empty, 3, { snapshot, elapsedTicks: 50 })).toMatchObject({ phase: 'done', replicas: 0, etaTicks: 0 });
  });

  it('follows a real decommission to done, reporting an ETA on the way', () => {
    let snapshot = cluster(fourNodes(3), Array.from({ length: 12 }, (_, i) => range(i + 1, [1, 2, 3], 100 + i)));
    const etas: number[] = [];
    for (let tick = 1; tick <= 200; tick += 1) {
      const before = snapshot;
      for (const move of planMoves({ snapshot, limits, inFlight: [] }).moves) snapshot = applyMove(snapshot, move);
      snapshot = { ...snapshot, nowTicks: tick };
      const progress = decommissionProgress(snapshot, 3, { snapshot: before, elapsedTicks: 1 });
      expect(progress).toBeDefined();
      if (progress?.phase === 'done') break;
      if (progress?.etaTicks !== null && progress?.etaTicks !== undefined) etas.push(progress.etaTicks);
    }
    expect(decommissionProgress(snapshot, 3)?.phase).toBe('done');
    expect(loadOf(snapshot, 3)).toEqual({ replicas: 0, bytes: 0, leases: 0 });
    expect(etas.length).toBeGreaterThan(0);
  });

  it('recommission cancels: the planner stops moving replicas off the node', () => {
    const snapshot = cluster(fourNodes(3), [range(1, [1, 2, 3])]);
    expect(planMoves({ snapshot, limits, inFlight: [] }).moves.length).toBe(1);
    const node3 = snapshot.nodes.find((node) => node.id === 3);
    expect(node3).toBeDefined();
    if (node3 === undefined) return;
    const cancelled = { ...snapshot, nodes: snapshot.nodes.map((node) => (node.id === 3 ? recommission(node3) : node)) };
    expect(planMoves({ snapshot: cancelled, limits, inFlight: [] }).moves).toEqual([]);
    expect(decommissionProgress(cancelled, 3)?.phase).toBe('not-decommissioning');
  });
});

describe('drain progress', () => {
  it('counts leases left on a draining node', () => {
    const nodes = fourNodes().map((node) => (node.id === 1 ? { ...node, draining: true } : node));
    const snapshot = cluster(nodes, [range(1, [1, 2, 3], 100, 1), range(2, [1, 2, 3], 100, 2)]);
    expect(drainProgress(snapshot, 1)).toEqual({ nodeId: 1, leasesLeft: 1, done: false });
    const moved = applyMove(snapshot, { kind: 'TransferLease', rangeId: 1, fromNodeId: 1, toNodeId: 2, reason: 'drain' });
    expect(drainProgress(moved, 1)).toEqual({ nodeId: 1, leasesLeft: 0, done: true });
  });
});

describe('rebalance plan (dry run)', () => {
  it('lists the moves to balance a new node and the bytes they copy, without touching the input', () => {
    const nodes = [1, 2, 3, 4, 5, 6].map((id) => makeNode(id, `z${((id - 1) % 3) + 1}`));
    const ranges = Array.from({ length: 30 }, (_, i) => range(i + 1, [1, 2, 3], 1000, (i % 3) + 1));
    const snapshot = cluster(nodes, ranges);
    const frozen = JSON.stringify(snapshot);
    const plan = rebalancePlan(snapshot, limits);
    expect(JSON.stringify(snapshot)).toBe(frozen);
    expect(plan.converged).toBe(true);
    expect(plan.countsByKind.AddLearner).toBeGreaterThan(0);
    expect(plan.bytesToCopy).toBe(plan.countsByKind.AddLearner * 1000);
    expect(plan.countsByKind.RemoveReplica).toBe(plan.countsByKind.AddLearner);
    expect(plan.moveCount).toBe(plan.moves.length);
    const band = balanceBand(snapshot);
    for (const change of plan.nodes) {
      expect(change.after.replicas).toBeGreaterThanOrEqual(band.low);
      expect(change.after.replicas).toBeLessThanOrEqual(band.high);
    }
    expect(plan.nodes.find((change) => change.nodeId === 4)?.before.replicas).toBe(0);
  });

  it('is empty for a balanced cluster, and reports when it did not converge within roundsMax', () => {
    const balanced = cluster(fourNodes().slice(0, 3), [range(1, [1, 2, 3])]);
    expect(rebalancePlan(balanced, limits)).toMatchObject({ moveCount: 0, bytesToCopy: 0, converged: true, rounds: 0 });
    const nodes = [1, 2, 3, 4, 5, 6].map((id) => makeNode(id, `z${((id - 1) % 3) + 1}`));
    const busy = cluster(nodes, Array.from({ length: 30 }, (_, i) => range(i + 1, [1, 2, 3])));
    const cut = rebalancePlan(busy, limits, { roundsMax: 2, movesShownMax: 3 });
    expect(cut).toMatchObject({ converged: false, rounds: 2 });
    expect(cut.moves.length).toBe(3);
    expect(cut.moveCount).toBeGreaterThan(3);
  });
});

describe('balance status', () => {
  it('is unbalanced after a scale-out and balanced once the dry run’s moves are applied', () => {
    const nodes = [1, 2, 3, 4, 5, 6].map((id) => makeNode(id, `z${((id - 1) % 3) + 1}`));
    const crowded = cluster(nodes, Array.from({ length: 30 }, (_, i) => range(i + 1, [1, 2, 3], 1000, (i % 3) + 1)));
    const before = balanceStatus(crowded, limits);
    expect(before.balanced).toBe(false);
    expect(before.nodes.map((node) => [node.nodeId, node.replicas, node.replicasInBand])).toEqual([
      [1, 30, false], [2, 30, false], [3, 30, false], [4, 0, false], [5, 0, false], [6, 0, false],
    ]);
    let snapshot = crowded;
    for (let round = 0; round < 100; round += 1) {
      const plan = planMoves({ snapshot, limits, inFlight: [] });
      if (plan.moves.length === 0) break;
      for (const move of plan.moves) snapshot = applyMove(snapshot, move);
    }
    const after = balanceStatus(snapshot, limits);
    expect(after.balanced).toBe(true);
    expect(after.nodes.every((node) => node.bytesInBand)).toBe(true);
    expect(after.countBand).toEqual(balanceBand(snapshot));
  });
});
