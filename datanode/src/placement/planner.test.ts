// Unit tests, one per planner rule, plus fast-check properties over random snapshots.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyMove, balanceBand, byteBalanceBand, checkDecommission, planMoves } from './planner.ts';
import { indexNodes, isQuorate } from './model.ts';
import type { ClusterSnapshot, NodeState, PlannerLimits, RangeState } from './model.ts';
import { SeededRandom, checkStepSafety, makeNode, randomCluster } from './simulation.ts';

const limits: PlannerLimits = { concurrentMovesMax: 100, bytesInFlightMax: 1024 ** 4, deadAfterTicks: 5 };
const propertyRuns = Number(process.env['PROPERTY_RUNS'] ?? 100);

function cluster(nodes: NodeState[], ranges: RangeState[], replicationFactor = 3): ClusterSnapshot {
  return { nowTicks: 100, replicationFactor, nodes, ranges };
}

function range(id: number, nodeIds: number[], leaseholder: number | null = nodeIds[0] ?? null): RangeState {
  return { id, bytes: 1000, replicas: nodeIds.map((nodeId) => ({ nodeId, role: 'voter' as const })), leaseholder };
}

const threeZones = (count: number): NodeState[] => Array.from({ length: count }, (_, i) => makeNode(i + 1, `z${(i % 3) + 1}`));

describe('planner rules', () => {
  it('plans nothing for a balanced, fully replicated cluster', () => {
    const plan = planMoves({ snapshot: cluster(threeZones(3), [range(1, [1, 2, 3])]), limits, inFlight: [] });
    expect(plan.moves).toEqual([]);
  });

  it('re-replicates a replica on a node dead longer than deadAfterTicks, but not sooner', () => {
    const nodes = threeZones(6).map((node) => (node.id === 3 ? { ...node, liveness: 'dead' as const, deadSinceTicks: 98 } : node));
    const early = planMoves({ snapshot: cluster(nodes, [range(1, [1, 2, 3])]), limits, inFlight: [] });
    expect(early.moves).toEqual([]);
    const late = planMoves({ snapshot: { ...cluster(nodes, [range(1, [1, 2, 3])]), nowTicks: 103 }, limits, inFlight: [] });
    // Node 6 shares the dead node's zone (z3), which the range's other replicas do not use.
    expect(late.moves).toMatchObject([{ kind: 'AddLearner', nodeId: 6 }]);
  });

  it('finishes a move in flight when a zone went away by demoting the crowded zone\'s voter, not the away zone\'s only one', () => {
    // A balance move added node 4 (z1) to range 1 just before zone z3 (nodes 3 and 6) went quiet.
    const nodes = threeZones(6).map((node) => (node.id === 3 || node.id === 6 ? { ...node, liveness: 'suspect' as const } : node));
    const plan = planMoves({ snapshot: cluster(nodes, [range(1, [1, 2, 3, 4], 2)]), limits, inFlight: [] });
    expect(plan.moves).toHaveLength(1);
    expect(plan.moves[0]).toMatchObject({ kind: 'DemoteVoter' });
    expect([1, 4]).toContain(plan.moves[0]?.kind === 'DemoteVoter' ? plan.moves[0].nodeId : 0);
  });

  it('waits for a zone whose nodes are all away rather than put two replicas of a range in one zone', () => {
    // Zone z3 (nodes 3 and 6) is cut off: both dead past deadAfterTicks. Nodes 4 and 5 (z1, z2) could take a replica.
    const away = threeZones(6).map((node) => (node.id === 3 || node.id === 6 ? { ...node, liveness: 'dead' as const, deadSinceTicks: 90 } : node));
    const waiting = planMoves({ snapshot: cluster(away, [range(1, [1, 2, 3])]), limits, inFlight: [] });
    expect(waiting.moves).toEqual([]);
    expect(waiting.stalledRangeIds).toEqual([1]);
    // One node of z3 back: the replica goes there.
    const oneBack = away.map((node) => (node.id === 6 ? { ...node, liveness: 'live' as const } : node));
    expect(planMoves({ snapshot: cluster(oneBack, [range(1, [1, 2, 3])]), limits, inFlight: [] }).moves).toMatchObject([{ kind: 'AddLearner', nodeId: 6 }]);
    // The zone given up (its nodes decommissioning): re-replicated within the zones left.
    const givenUp = away.map((node) => (node.id === 3 || node.id === 6 ? { ...node, decommissioning: true } : node));
    const moves = planMoves({ snapshot: cluster(givenUp, [range(1, [1, 2, 3])]), limits, inFlight: [] }).moves;
    expect(moves).toHaveLength(1);
    expect(moves[0]).toMatchObject({ kind: 'AddLearner' });
    expect([4, 5]).toContain(moves[0]?.kind === 'AddLearner' ? moves[0].nodeId : 0);
    // A replica leaving a zone that has live nodes (node 1 decommissioning) is replaced at once,
    // even while the range's zone z3 replica waits: the new one stands in for node 1's.
    const decommissioning = away.map((node) => (node.id === 1 ? { ...node, decommissioning: true } : node));
    expect(planMoves({ snapshot: cluster(decommissioning, [range(1, [1, 2, 3], 2)]), limits, inFlight: [] }).moves).toMatchObject([{ kind: 'AddLearner', nodeId: 4 }]);
  });

  it('replaces a decommissioning node in the order add → promote → demote → remove', () => {
    const nodes = threeZones(4).map((node) => (node.id === 3 ? { ...node, decommissioning: true } : node));
    let snapshot = cluster(nodes, [range(1, [1, 2, 3])]);
    const kinds: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      const plan = planMoves({ snapshot, limits, inFlight: [] });
      if (plan.moves.length === 0) break;
      for (const move of plan.moves) {
        kinds.push(`${move.kind}:${'nodeId' in move ? move.nodeId : move.toNodeId}`);
        const before = snapshot;
        snapshot = applyMove(snapshot, move);
        expect(checkStepSafety(before, snapshot, move.rangeId)).toBeUndefined();
      }
    }
    expect(kinds).toEqual(['AddLearner:4', 'PromoteLearner:4', 'DemoteVoter:3', 'RemoveReplica:3']);
  });

  it('keeps the replica a move chose to remove through its later steps, unless one has a harder reason to go', () => {
    // Range 1 was moved 1 → 4 (4 promoted, 1 pinned to go); other ranges make node 2 look fuller now.
    const nodes = Array.from({ length: 6 }, (_, i) => makeNode(i + 1, 'z1'));
    const overReplicated = { id: 1, bytes: 1000, replicas: [1, 2, 3, 4].map((nodeId) => ({ nodeId, role: 'voter' as const })), leaseholder: 3 };
    const ranges = [overReplicated, range(2, [2, 5, 6]), range(3, [2, 5, 6]), range(4, [2, 5, 6])];
    const fresh = planMoves({ snapshot: cluster(nodes, ranges), limits, inFlight: [] }).moves.filter((move) => move.rangeId === 1);
    expect(fresh).toMatchObject([{ kind: 'DemoteVoter', nodeId: 2 }]);
    const pinned = planMoves({ snapshot: cluster(nodes, ranges), limits, inFlight: [], pinnedRemovals: new Map([[1, 1]]) }).moves.filter((move) => move.rangeId === 1);
    expect(pinned).toMatchObject([{ kind: 'DemoteVoter', nodeId: 1 }]);
    // The demoted replica is then removed, not promoted back to replace another voter.
    const demoted = { ...overReplicated, replicas: overReplicated.replicas.map((replica) => (replica.nodeId === 1 ? { nodeId: 1, role: 'learner' as const } : replica)) };
    const next = planMoves({ snapshot: cluster(nodes, [demoted, ...ranges.slice(1)]), limits, inFlight: [], pinnedRemovals: new Map([[1, 1]]) }).moves.filter((move) => move.rangeId === 1);
    expect(next).toMatchObject([{ kind: 'RemoveReplica', nodeId: 1 }]);
    // A voter on a node that died meanwhile goes first, pin or not.
    const deadTwo = nodes.map((node) => (node.id === 2 ? { ...node, liveness: 'dead' as const, deadSinceTicks: 99 } : node));
    const overridden = planMoves({ snapshot: cluster(deadTwo, ranges), limits, inFlight: [], pinnedRemovals: new Map([[1, 1]]) }).moves.filter((move) => move.rangeId === 1);
    expect(overridden).toMatchObject([{ kind: 'DemoteVoter', nodeId: 2 }]);
  });

  it('moves the lease off a voter before demoting it', () => {
    const nodes = threeZones(4).map((node) => (node.id === 1 ? { ...node, decommissioning: true } : node));
    const snapshot = cluster(nodes, [range(1, [1, 2, 3, 4], 1)]);
    const plan = planMoves({ snapshot, limits, inFlight: [] });
    expect(plan.moves).toMatchObject([{ kind: 'TransferLease', fromNodeId: 1 }]);
  });

  it('never demotes a voter when that would lose quorum', () => {
    const nodes = threeZones(4).map((node) => (node.id >= 3 ? { ...node, liveness: 'suspect' as const } : node));
    const snapshot = cluster(nodes, [range(1, [1, 2, 3, 4], 1)]);
    const plan = planMoves({ snapshot, limits, inFlight: [] });
    expect(plan.unavailableRangeIds).toEqual([1]);
    expect(plan.moves).toEqual([]);
  });

  it('spreads replicas across zones first', () => {
    const nodes = [makeNode(1, 'a'), makeNode(2, 'a'), makeNode(3, 'b'), makeNode(4, 'c')];
    const plan = planMoves({ snapshot: cluster(nodes, [range(1, [1, 2, 3])]), limits, inFlight: [] });
    expect(plan.moves).toMatchObject([{ kind: 'AddLearner', nodeId: 4 }]);
  });

  it('puts two replicas in one zone only when there are fewer zones than RF', () => {
    const nodes = [makeNode(1, 'a'), makeNode(2, 'a'), makeNode(3, 'b')];
    const plan = planMoves({ snapshot: cluster(nodes, [range(1, [1, 2, 3])]), limits, inFlight: [] });
    expect(plan.moves).toEqual([]);
  });

  it('moves replicas to a new node until counts are balanced', () => {
    const ranges = Array.from({ length: 30 }, (_, i) => range(i + 1, [1, 2, 3], (i % 3) + 1));
    const plan = planMoves({ snapshot: cluster(threeZones(6), ranges), limits, inFlight: [] });
    const adds = plan.moves.filter((move) => move.kind === 'AddLearner');
    expect(adds.length).toBeGreaterThan(0);
    expect(adds.every((move) => move.nodeId >= 4)).toBe(true);
  });

  /** Plans and applies until quiet; fails if a learner copied by a rule is ever removed unpromoted. */
  function runToQuiet(start: ClusterSnapshot): ClusterSnapshot {
    let snapshot = start;
    const copied = new Set<string>();
    for (let round = 0; round < 50; round += 1) {
      const plan = planMoves({ snapshot, limits, inFlight: [] });
      if (plan.moves.length === 0) return snapshot;
      for (const move of plan.moves) {
        if (move.kind === 'AddLearner') copied.add(`${move.rangeId}/${move.nodeId}`);
        if (move.kind === 'RemoveReplica') expect(copied.has(`${move.rangeId}/${move.nodeId}`), 'a copied learner was dropped').toBe(false);
        snapshot = applyMove(snapshot, move);
      }
    }
    throw new Error('the planner did not go quiet');
  }

  function heldBy(snapshot: ClusterSnapshot, nodeId: number): { replicas: number; bytes: number } {
    const held = snapshot.ranges.filter((r) => r.replicas.some((replica) => replica.nodeId === nodeId));
    return { replicas: held.length, bytes: held.reduce((sum, r) => sum + r.bytes, 0) };
  }

  it('balances bytes once replica counts are balanced, and then goes quiet', () => {
    // Equal replica counts (10 each), but nodes 1-3 hold 600 bytes and nodes 4-6 hold 400.
    const large = Array.from({ length: 10 }, (_, i) => ({ ...range(i + 1, [1, 2, 3]), bytes: 60 }));
    const small = Array.from({ length: 10 }, (_, i) => ({ ...range(i + 11, [4, 5, 6]), bytes: 40 }));
    const start = cluster(threeZones(6), [...large, ...small]);
    const first = planMoves({ snapshot: start, limits, inFlight: [] });
    expect(first.moves.filter((move) => move.kind === 'AddLearner').map((move) => move.reason.split(':')[0])).toEqual(['balance bytes', 'balance bytes', 'balance bytes']);
    const snapshot = runToQuiet(start);
    const band = byteBalanceBand(snapshot);
    const countBand = balanceBand(snapshot);
    for (const node of snapshot.nodes) {
      const { replicas, bytes } = heldBy(snapshot, node.id);
      expect(bytes, `node ${node.id} bytes`).toBeGreaterThanOrEqual(band.low);
      expect(bytes, `node ${node.id} bytes`).toBeLessThanOrEqual(band.high);
      expect(replicas, `node ${node.id} replicas`).toBeGreaterThanOrEqual(countBand.low);
      expect(replicas, `node ${node.id} replicas`).toBeLessThanOrEqual(countBand.high);
    }
  });

  it('stops rather than churns when only swaps could balance bytes inside the count band', () => {
    // Tenfold size skew: moving enough bytes would push counts out of their band, and the count
    // rule would move replicas back. The planner moves what it can and goes quiet.
    const large = Array.from({ length: 10 }, (_, i) => ({ ...range(i + 1, [1, 2, 3]), bytes: 100 }));
    const small = Array.from({ length: 10 }, (_, i) => ({ ...range(i + 11, [4, 5, 6]), bytes: 10 }));
    const snapshot = runToQuiet(cluster(threeZones(6), [...large, ...small]));
    const countBand = balanceBand(snapshot);
    expect(heldBy(snapshot, 1).bytes).toBeLessThan(1000);
    for (const node of snapshot.nodes) expect(heldBy(snapshot, node.id).replicas).toBeGreaterThanOrEqual(countBand.low);
  });

  it('does not count an in-flight learner twice once the snapshot shows it', () => {
    // Nine nodes in three zones; node 4 already holds range 1's learner (its AddLearner is still
    // catching up), node 7 holds one replica of range 2: nodes 4 and 7 are equally loaded.
    const nodes = Array.from({ length: 9 }, (_, i) => makeNode(i + 1, `z${(i % 3) + 1}`));
    const withLearner = { ...range(1, [1, 2, 3]), replicas: [...range(1, [1, 2, 3]).replicas, { nodeId: 4, role: 'learner' as const }] };
    const crowded = Array.from({ length: 20 }, (_, i) => range(i + 3, [1, 2, 3]));
    const snapshot = cluster(nodes, [withLearner, range(2, [7, 5, 6], 7), ...crowded]);
    const adding = planMoves({ snapshot, limits, inFlight: [{ kind: 'AddLearner', rangeId: 1, nodeId: 4, bytes: 1000, reason: 'test' }] });
    const promoting = planMoves({ snapshot, limits, inFlight: [{ kind: 'PromoteLearner', rangeId: 1, nodeId: 4, reason: 'test' }] });
    expect(adding.moves.length).toBeGreaterThan(0);
    expect(adding.moves).toEqual(promoting.moves);
  });

  it('never targets a node the driver asked it to avoid', () => {
    const ranges = Array.from({ length: 30 }, (_, i) => range(i + 1, [1, 2, 3]));
    const snapshot = cluster(threeZones(9), ranges);
    const plain = planMoves({ snapshot, limits, inFlight: [] });
    expect(plain.moves.some((move) => move.kind === 'AddLearner' && move.nodeId === 5)).toBe(true);
    const avoiding = planMoves({ snapshot, limits, inFlight: [], avoidTargetNodeIds: new Set([5]) });
    expect(avoiding.moves.some((move) => move.kind === 'AddLearner')).toBe(true);
    expect(avoiding.moves.some((move) => move.kind === 'AddLearner' && move.nodeId === 5)).toBe(false);
  });

  it('moves no data when a node turns suspect or dies briefly (the balance bands do not shrink)', () => {
    // 18 ranges on 6 nodes: 9 replicas each except node 1 (8) and node 4 (10), inside the band 8..10.
    // Counting only 5 hosts (node 6 paused) would make the band 9..12 and move a replica 4 → 1.
    // Sizes keep every node's bytes within ±10% of the mean too.
    const ranges = [
      ...[1, 1, 1, 2, 2, 2, 3, 3].map((leaseholder, i) => ({ ...range(i + 1, [1, 2, 3], leaseholder), bytes: 1125 })),
      { ...range(9, [4, 2, 3], 3), bytes: 500 },
      ...[4, 4, 4, 5, 5, 5, 6, 6, 6].map((leaseholder, i) => ({ ...range(i + 10, [4, 5, 6], leaseholder), bytes: 944 })),
    ];
    const balanced = cluster(threeZones(6), ranges);
    expect(planMoves({ snapshot: balanced, limits, inFlight: [] }).moves).toEqual([]);
    for (const change of [{ liveness: 'suspect' as const }, { liveness: 'dead' as const, deadSinceTicks: 99 }]) {
      const paused = { ...balanced, nodes: balanced.nodes.map((node) => (node.id === 6 ? { ...node, ...change } : node)) };
      const plan = planMoves({ snapshot: paused, limits, inFlight: [] });
      expect(plan.moves.filter((move) => move.kind === 'AddLearner'), change.liveness).toEqual([]);
    }
  });

  it('balances leases among voters', () => {
    const ranges = Array.from({ length: 6 }, (_, i) => range(i + 1, [1, 2, 3], 1));
    const plan = planMoves({ snapshot: cluster(threeZones(3), ranges), limits, inFlight: [] });
    expect(plan.moves.filter((move) => move.kind === 'TransferLease').length).toBe(4);
  });

  it('moves leases off a draining node and never onto one', () => {
    const nodes = threeZones(3).map((node) => (node.id === 1 ? { ...node, draining: true } : node));
    const plan = planMoves({ snapshot: cluster(nodes, [range(1, [1, 2, 3], 1)]), limits, inFlight: [] });
    expect(plan.moves).toMatchObject([{ kind: 'TransferLease', fromNodeId: 1 }]);
    expect(plan.moves.every((move) => move.kind !== 'TransferLease' || move.toNodeId !== 1)).toBe(true);
  });

  it('respects concurrentMovesMax (counting moves in flight) and skips busy ranges', () => {
    const ranges = Array.from({ length: 30 }, (_, i) => range(i + 1, [1, 2, 3]));
    const snapshot = cluster(threeZones(6), ranges);
    const inFlight = [{ kind: 'AddLearner' as const, rangeId: 1, nodeId: 4, bytes: 1000, reason: 'test' }];
    const plan = planMoves({ snapshot, limits: { ...limits, concurrentMovesMax: 3 }, inFlight });
    expect(plan.moves.length).toBe(2);
    expect(plan.moves.some((move) => move.rangeId === 1)).toBe(false);
  });

  it('respects bytesInFlightMax, letting one oversized range move alone', () => {
    const ranges = Array.from({ length: 30 }, (_, i) => range(i + 1, [1, 2, 3]));
    const snapshot = cluster(threeZones(6), ranges);
    const small = planMoves({ snapshot, limits: { ...limits, bytesInFlightMax: 2500 }, inFlight: [] });
    expect(small.moves.filter((move) => move.kind === 'AddLearner').length).toBe(2);
    const tiny = planMoves({ snapshot, limits: { ...limits, bytesInFlightMax: 10 }, inFlight: [] });
    expect(tiny.moves.filter((move) => move.kind === 'AddLearner').length).toBe(1);
  });

  it('refuses a decommission that would leave ranges under-replicated', () => {
    const snapshot = cluster(threeZones(3), [range(1, [1, 2, 3])]);
    const refused = checkDecommission(snapshot, limits, 2);
    expect(refused).toMatchObject({ ok: false, code: 'PH_DECOMMISSION_REFUSED', nodeId: 2, underReplicatedRangeIds: [1] });
    expect(checkDecommission(cluster(threeZones(4), [range(1, [1, 2, 3])]), limits, 2)).toEqual({ ok: true });
  });

  it('reports a range it cannot re-replicate as stalled', () => {
    const nodes = threeZones(3).map((node) => (node.id === 3 ? { ...node, decommissioning: true } : node));
    const plan = planMoves({ snapshot: cluster(nodes, [range(1, [1, 2, 3])]), limits, inFlight: [] });
    expect(plan.stalledRangeIds).toEqual([1]);
    expect(plan.moves).toEqual([]);
  });
});

describe('planner properties', () => {
  const arbitraryWorld = fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    deadNodes: fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 3 }),
    decommissioned: fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 2 }),
    concurrentMovesMax: fc.integer({ min: 1, max: 50 }),
  });

  it('plans within limits, one move per range, and every move keeps quorum and distinct nodes', () => {
    fc.assert(
      fc.property(arbitraryWorld, ({ seed, deadNodes, decommissioned, concurrentMovesMax }) => {
        const base = randomCluster(new SeededRandom(seed));
        const nodes = base.nodes.map((node) => ({
          ...node,
          liveness: deadNodes.includes(node.id) ? ('dead' as const) : node.liveness,
          decommissioning: decommissioned.includes(node.id),
        }));
        const snapshot: ClusterSnapshot = { ...base, nowTicks: 50, nodes };
        const plan = planMoves({ snapshot, limits: { ...limits, concurrentMovesMax }, inFlight: [] });
        expect(plan.moves.length).toBeLessThanOrEqual(concurrentMovesMax);
        expect(new Set(plan.moves.map((move) => move.rangeId)).size).toBe(plan.moves.length);
        const byNode = indexNodes(snapshot);
        for (const id of plan.unavailableRangeIds) {
          const unavailable = snapshot.ranges.find((candidate) => candidate.id === id);
          expect(unavailable !== undefined && !isQuorate(unavailable, byNode)).toBe(true);
        }
        let current: ClusterSnapshot = snapshot;
        for (const move of plan.moves) {
          const next = applyMove(current, move);
          expect(checkStepSafety(current, next, move.rangeId)).toBeUndefined();
          current = next;
        }
      }),
      { numRuns: propertyRuns },
    );
  });

  it('is deterministic: the same input gives the same plan', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const snapshot = randomCluster(new SeededRandom(seed));
        const first = planMoves({ snapshot, limits, inFlight: [] });
        expect(planMoves({ snapshot, limits, inFlight: [] })).toEqual(first);
      }),
      { numRuns: Math.min(propertyRuns, 50) },
    );
  });
});
