/**
 * Test support for the placement simulation: a seeded random source, random clusters, and the
 * invariant checks run after every applied move. Used only by tests.
 */
import { assert } from '../assert.ts';
import { indexNodes, isQuorate } from './model.ts';
import type { ClusterSnapshot, NodeState, RangeState, Replica } from './model.ts';

/** mulberry32: small, fast, seedable; enough for test scenarios. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let value = this.state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length - 1)];
    assert(item !== undefined, 'pick from an empty list');
    return item;
  }
}

export const gibibyte = 1024 ** 3;

export function makeNode(id: number, zone: string): NodeState {
  return {
    id,
    liveness: 'live',
    deadSinceTicks: 0,
    draining: false,
    decommissioning: false,
    locality: { region: 'region-1', zone },
    capacityBytes: 1024 * gibibyte,
    usedBytes: 0,
  };
}

/** A random cluster whose ranges all start on the first RF nodes (a poor placement to repair). */
export function randomCluster(random: SeededRandom): ClusterSnapshot {
  const zoneCount = random.int(1, 3);
  const nodeCount = random.int(3, 9);
  const replicationFactor = random.pick([3, 3, 3, 5].filter((factor) => factor <= nodeCount));
  const nodes = Array.from({ length: nodeCount }, (_, index) => makeNode(index + 1, `zone-${(index % zoneCount) + 1}`));
  const rangeCount = random.int(1, 200);
  const ranges: RangeState[] = Array.from({ length: rangeCount }, (_, index) => {
    const replicas: Replica[] = Array.from({ length: replicationFactor }, (__, slot) => ({ nodeId: slot + 1, role: 'voter' }));
    return { id: index + 1, bytes: random.int(1, 512) * 1024 * 1024, replicas, leaseholder: 1 };
  });
  return withUsedBytes({ nowTicks: 0, replicationFactor, nodes, ranges });
}

/** Recomputes each node's used bytes from the replicas it holds. */
export function withUsedBytes(snapshot: ClusterSnapshot): ClusterSnapshot {
  const used = new Map<number, number>();
  for (const range of snapshot.ranges) {
    for (const replica of range.replicas) used.set(replica.nodeId, (used.get(replica.nodeId) ?? 0) + range.bytes);
  }
  return { ...snapshot, nodes: snapshot.nodes.map((node) => ({ ...node, usedBytes: used.get(node.id) ?? 0 })) };
}

/**
 * Safety after one applied move on range `rangeId` (the only range a move changes): if the range
 * had quorum it still has, no node holds two of its replicas, and its leaseholder is a voter.
 */
export function checkStepSafety(before: ClusterSnapshot, after: ClusterSnapshot, rangeId: number): string | undefined {
  const previous = before.ranges.find((candidate) => candidate.id === rangeId);
  const range = after.ranges.find((candidate) => candidate.id === rangeId);
  if (previous === undefined || range === undefined) return `range ${rangeId} vanished`;
  const nodeIds = range.replicas.map((replica) => replica.nodeId);
  if (new Set(nodeIds).size !== nodeIds.length) return `range ${range.id} has two replicas on one node: ${nodeIds.join(',')}`;
  if (isQuorate(previous, indexNodes(before)) && !isQuorate(range, indexNodes(after))) return `range ${range.id} lost quorum`;
  if (range.leaseholder !== null && !range.replicas.some((r) => r.nodeId === range.leaseholder && r.role === 'voter')) {
    return `range ${range.id} leaseholder ${range.leaseholder} is not a voter`;
  }
  return undefined;
}
