// Seeded simulation of the placement planner. Failures print `reproduce with SEED=n`.
// Defaults: 60 seeds (about 10 s of CPU). More: PLACEMENT_SIM_SEEDS=2000; one: SEED=123.
import { describe, expect, it } from 'vitest';
import { applyMove, balanceBand, byteBalanceBand, checkDecommission, maxZoneSpread, planMoves } from './planner.ts';
import { canHoldLeases, canHostReplicas, indexNodes, isQuorate, votersOf } from './model.ts';
import type { ClusterSnapshot, Move, NodeState, PlannerLimits } from './model.ts';
import { SeededRandom, checkStepSafety, gibibyte, makeNode, randomCluster } from './simulation.ts';

const seedCount = Number(process.env['PLACEMENT_SIM_SEEDS'] ?? 60);
const onlySeed = process.env['SEED'] === undefined ? undefined : Number(process.env['SEED']);
const epochsPerSeed = 6;
/** Learners copied and then dropped, as a fraction of all copies: a bound on churn. */
const wastedCopyFractionMax = 0.005;
const wastedCopiesPerSeedMax = 8;

interface World {
  snapshot: ClusterSnapshot;
  readonly limits: PlannerLimits;
  readonly random: SeededRandom;
  nextNodeId: number;
  roundsMax: number;
  movesApplied: number;
  copies: number;
  wastedCopies: number;
  readonly unpromoted: Set<string>;
  byteBalanceChecks: number;
  swapOnlyNodes: number;
}

function hostable(snapshot: ClusterSnapshot): NodeState[] {
  return snapshot.nodes.filter(canHostReplicas);
}

function updateNode(snapshot: ClusterSnapshot, id: number, change: Partial<NodeState>): ClusterSnapshot {
  return { ...snapshot, nodes: snapshot.nodes.map((node) => (node.id === id ? { ...node, ...change } : node)) };
}

/** One random cluster event that keeps at least RF hosts and every range quorate. */
function randomEvent(world: World): string {
  const { random, snapshot } = world;
  const kind = random.pick(['add', 'dead', 'decommission', 'recover']);
  const live = hostable(snapshot);
  if (kind === 'add' || live.length <= snapshot.replicationFactor) {
    const zones = [...new Set(snapshot.nodes.map((node) => node.locality.zone))];
    const node = makeNode(world.nextNodeId, random.pick(zones));
    world.nextNodeId += 1;
    world.snapshot = { ...snapshot, nodes: [...snapshot.nodes, node] };
    return `add node ${node.id}`;
  }
  const victim = random.pick(live);
  if (kind === 'dead') {
    const after = updateNode(snapshot, victim.id, { liveness: 'dead', deadSinceTicks: snapshot.nowTicks });
    const nodes = indexNodes(after);
    if (!after.ranges.every((range) => isQuorate(range, nodes))) return 'skip dead (would lose quorum)';
    world.snapshot = after;
    return `node ${victim.id} dead`;
  }
  if (kind === 'decommission') {
    const check = checkDecommission(snapshot, world.limits, victim.id);
    expect(check.ok).toBe(live.length - 1 >= snapshot.replicationFactor);
    if (check.ok) world.snapshot = updateNode(snapshot, victim.id, { decommissioning: true });
    return `decommission node ${victim.id}: ${check.ok ? 'accepted' : check.code}`;
  }
  const dead = snapshot.nodes.find((node) => node.liveness === 'dead');
  if (dead === undefined) return 'no dead node to recover';
  world.snapshot = updateNode(snapshot, dead.id, { liveness: 'live' });
  return `node ${dead.id} recovers`;
}

/**
 * A wasted copy: a learner added on a live, staying node and later removed without ever being
 * promoted (the planner changed its mind). Rare by design; counted to bound churn.
 */
function trackWastedCopies(world: World, move: Move): void {
  const key = `${move.rangeId}/${'nodeId' in move ? move.nodeId : move.toNodeId}`;
  if (move.kind === 'AddLearner') {
    world.copies += 1;
    world.unpromoted.add(key);
  } else if (move.kind === 'PromoteLearner') {
    world.unpromoted.delete(key);
  } else if (move.kind === 'RemoveReplica' && world.unpromoted.delete(key)) {
    const node = world.snapshot.nodes.find((candidate) => candidate.id === move.nodeId);
    if (node !== undefined && canHostReplicas(node)) world.wastedCopies += 1;
  }
}

function applyChecked(world: World, move: Move): void {
  const before = world.snapshot;
  trackWastedCopies(world, move);
  world.snapshot = applyMove(before, move);
  world.movesApplied += 1;
  const problem = checkStepSafety(before, world.snapshot, move.rangeId);
  // Hot loops call expect only on a mismatch: vitest's expect is costly at this volume.
  if (problem !== undefined) expect(problem, `after ${move.kind} ${JSON.stringify(move)}`).toBeUndefined();
}

function waitingForDeadNodes(world: World): boolean {
  const { snapshot, limits } = world;
  return snapshot.nodes.some(
    (node) => node.liveness === 'dead' && snapshot.nowTicks - node.deadSinceTicks < limits.deadAfterTicks
      && snapshot.ranges.some((range) => range.replicas.some((replica) => replica.nodeId === node.id)),
  );
}

/** Plans and applies rounds until the planner has nothing left to do; returns the rounds used. */
function runUntilQuiet(world: World): number {
  let pending: Move[] = [];
  for (let round = 1; round <= world.roundsMax; round += 1) {
    world.snapshot = { ...world.snapshot, nowTicks: world.snapshot.nowTicks + 1 };
    const plan = planMoves({ snapshot: world.snapshot, limits: world.limits, inFlight: pending });
    if (plan.moves.length + pending.length > world.limits.concurrentMovesMax) expect(plan.moves.length + pending.length).toBeLessThanOrEqual(world.limits.concurrentMovesMax);
    const rangeIds = [...pending, ...plan.moves].map((move) => move.rangeId);
    if (new Set(rangeIds).size !== rangeIds.length) expect(new Set(rangeIds).size).toBe(rangeIds.length);
    if (plan.moves.length === 0 && pending.length === 0 && !waitingForDeadNodes(world)) return round;
    const all = [...pending, ...plan.moves];
    pending = [];
    // Some moves stay in flight across a round, completing in a different order than planned.
    for (const move of all) {
      if (world.random.next() < 0.7) applyChecked(world, move);
      else pending.push(move);
    }
  }
  throw new Error(`no convergence within ${world.roundsMax} rounds`);
}

/**
 * Zones whose staying nodes are all dead: the planner waits for such a zone rather than put two
 * replicas of a range in one zone, so a range with a replica there keeps it (and fewer live ones).
 */
function awayZones(snapshot: ClusterSnapshot): Set<string> {
  const staying = new Map<string, NodeState[]>();
  for (const node of snapshot.nodes) if (!node.decommissioning) staying.set(node.locality.zone, [...(staying.get(node.locality.zone) ?? []), node]);
  return new Set([...staying].filter(([, nodes]) => nodes.every((node) => node.liveness !== 'live')).map(([zone]) => zone));
}

/**
 * A range waiting for an away zone: RF voters spanning as many zones as RF and the staying zones
 * allow (no zone doubled up while another was free), the ones not live all in away zones.
 */
function checkWaitingRange(snapshot: ClusterSnapshot, range: ClusterSnapshot['ranges'][number], away: ReadonlySet<string>): void {
  const nodes = indexNodes(snapshot);
  const zones = range.replicas.map((replica) => nodes.get(replica.nodeId)?.locality.zone ?? '?');
  const stayingZones = new Set(snapshot.nodes.filter((node) => !node.decommissioning).map((node) => node.locality.zone));
  if (new Set(zones).size < Math.min(snapshot.replicationFactor, stayingZones.size)) expect.fail(`range ${range.id} waiting for an away zone spans too few zones: ${zones.join(',')}`);
  if (votersOf(range).length !== snapshot.replicationFactor) expect(votersOf(range).length, `range ${range.id} voters`).toBe(snapshot.replicationFactor);
  for (const replica of range.replicas) {
    const node = nodes.get(replica.nodeId);
    if (node !== undefined && !canHostReplicas(node) && !away.has(node.locality.zone)) expect.fail(`range ${range.id} replica ${replica.nodeId} on a leaving node outside an away zone: ${JSON.stringify(range)}; nodes ${snapshot.nodes.map((n) => `${n.id}:${n.locality.zone}:${n.liveness}${n.decommissioning ? ':decommissioning' : ''}`).join(' ')}; away zones ${[...away].join(',')}`);
  }
}

function checkConverged(world: World): void {
  const { snapshot } = world;
  const nodes = indexNodes(snapshot);
  const spread = maxZoneSpread(snapshot);
  const away = awayZones(snapshot);
  const waiting = (range: ClusterSnapshot['ranges'][number]): boolean => range.replicas.some((replica) => away.has(nodes.get(replica.nodeId)?.locality.zone ?? ''));
  for (const range of snapshot.ranges) {
    if (waiting(range)) {
      checkWaitingRange(snapshot, range, away);
      continue;
    }
    const voters = votersOf(range);
    if (range.replicas.length !== snapshot.replicationFactor) expect(range.replicas.length, `range ${range.id} replicas`).toBe(snapshot.replicationFactor);
    if (voters.length !== snapshot.replicationFactor) expect(voters.length, `range ${range.id} voters`).toBe(snapshot.replicationFactor);
    for (const voter of voters) {
      const node = nodes.get(voter.nodeId);
      if (node === undefined || !canHostReplicas(node)) expect.fail(`range ${range.id} voter ${voter.nodeId} on a leaving node`);
    }
    const zones = new Set(range.replicas.map((replica) => nodes.get(replica.nodeId)?.locality.zone));
    if (zones.size !== spread) expect(zones.size, `range ${range.id} zone spread`).toBe(spread);
    const holder = range.leaseholder === null ? undefined : nodes.get(range.leaseholder);
    if (holder === undefined || !canHoldLeases(holder)) expect.fail(`range ${range.id} leaseholder ${range.leaseholder} cannot hold leases`);
  }
  // Replicas waiting on dead nodes of an away zone count for no live node: the bands do not apply.
  if (!snapshot.ranges.some(waiting)) checkBalance(world);
}

/** Replica counts within the band when the zones allow it; leases within one of the mean plus tolerance. */
function checkBalance(world: World): void {
  const { snapshot } = world;
  const hosts = hostable(snapshot);
  const counts = new Map(hosts.map((node) => [node.id, 0]));
  const leases = new Map(hosts.map((node) => [node.id, 0]));
  for (const range of snapshot.ranges) {
    for (const replica of range.replicas) counts.set(replica.nodeId, (counts.get(replica.nodeId) ?? 0) + 1);
    if (range.leaseholder !== null) leases.set(range.leaseholder, (leases.get(range.leaseholder) ?? 0) + 1);
  }
  const zoneSizes = new Map<string, number>();
  for (const node of hosts) zoneSizes.set(node.locality.zone, (zoneSizes.get(node.locality.zone) ?? 0) + 1);
  const zonesEven = new Set(zoneSizes.values()).size === 1;
  if (zonesEven && snapshot.ranges.length >= hosts.length) {
    const band = balanceBand(snapshot);
    for (const [nodeId, replicas] of counts) {
      expect(replicas, `node ${nodeId} replicas (band ${band.low}..${band.high})`).toBeGreaterThanOrEqual(band.low);
      expect(replicas, `node ${nodeId} replicas (band ${band.low}..${band.high})`).toBeLessThanOrEqual(band.high);
    }
    checkByteBalance(world, [...counts.keys()], counts);
    const leaseMean = snapshot.ranges.length / hosts.length;
    for (const [nodeId, held] of leases) {
      expect(held, `node ${nodeId} leases (mean ${leaseMean.toFixed(1)})`).toBeLessThanOrEqual(Math.ceil(leaseMean * 1.1) + 1);
    }
  }
}

/**
 * Bytes per node within ±10% of the mean, where that is reachable by moving single replicas: zones
 * evenly sized (checked by the caller), a mean of at least `byteBalanceRangesMin` of the largest
 * range per node (with a handful of ranges per node, whole ranges cannot fill a ±10% band), and the
 * node's replica count leaving room in the needed direction. A node below the byte band whose
 * count is already at the top of the count band (or above it with a count at the bottom) could
 * only be fixed by a swap, which the planner does not do (README, known gaps): counted, not failed.
 */
const byteBalanceRangesMin = 8;
function checkByteBalance(world: World, hostIds: readonly number[], counts: ReadonlyMap<number, number>): void {
  const { snapshot } = world;
  const band = byteBalanceBand(snapshot);
  const countBand = balanceBand(snapshot);
  const largest = Math.max(...snapshot.ranges.map((range) => range.bytes));
  if (band.mean < byteBalanceRangesMin * largest) return;
  world.byteBalanceChecks += 1;
  const held = new Map(hostIds.map((id) => [id, 0]));
  for (const range of snapshot.ranges) {
    for (const replica of range.replicas) held.set(replica.nodeId, (held.get(replica.nodeId) ?? 0) + range.bytes);
  }
  for (const [nodeId, bytes] of held) {
    const replicas = counts.get(nodeId) ?? 0;
    const swapOnly = (bytes < band.low && replicas >= countBand.high) || (bytes > band.high && replicas <= countBand.low);
    if (swapOnly) {
      world.swapOnlyNodes += 1;
      continue;
    }
    const ratio = `${(bytes / band.mean).toFixed(3)} of the mean, ${replicas} replicas (band ${countBand.low}..${countBand.high})`;
    if (bytes < band.low || bytes > band.high) {
      expect(bytes, `node ${nodeId} bytes ${ratio}`).toBeGreaterThanOrEqual(band.low);
      expect(bytes, `node ${nodeId} bytes ${ratio}`).toBeLessThanOrEqual(band.high);
    }
  }
}

interface SeedResult {
  readonly rounds: number;
  readonly moves: number;
  readonly copies: number;
  readonly wastedCopies: number;
  readonly byteBalanceChecks: number;
  readonly swapOnlyNodes: number;
}

function runSeed(seed: number): SeedResult {
  const random = new SeededRandom(seed);
  const snapshot = randomCluster(random);
  const limits: PlannerLimits = {
    concurrentMovesMax: random.int(4, 40),
    bytesInFlightMax: random.int(1, 32) * gibibyte,
    deadAfterTicks: random.int(0, 5),
  };
  const replicaMoves = snapshot.ranges.length * snapshot.replicationFactor;
  const roundsMax = 60 + Math.ceil((replicaMoves * 12) / limits.concurrentMovesMax);
  const world: World = {
    snapshot,
    limits,
    random,
    nextNodeId: snapshot.nodes.length + 1,
    roundsMax,
    movesApplied: 0,
    copies: 0,
    wastedCopies: 0,
    unpromoted: new Set(),
    byteBalanceChecks: 0,
    swapOnlyNodes: 0,
  };
  let rounds = runUntilQuiet(world);
  checkConverged(world);
  for (let epoch = 0; epoch < epochsPerSeed; epoch += 1) {
    randomEvent(world);
    rounds = Math.max(rounds, runUntilQuiet(world));
    checkConverged(world);
  }
  const { movesApplied: moves, copies, wastedCopies, byteBalanceChecks, swapOnlyNodes } = world;
  return { rounds, moves, copies, wastedCopies, byteBalanceChecks, swapOnlyNodes };
}

describe('placement simulation', () => {
  const seeds = onlySeed === undefined ? Array.from({ length: seedCount }, (_, index) => index + 1) : [onlySeed];
  it(`converges safely on ${seeds.length} seeds`, { timeout: 600_000 }, () => {
    let roundsWorst = 0;
    const totals = { moves: 0, copies: 0, wastedCopies: 0, byteBalanceChecks: 0, swapOnlyNodes: 0 };
    for (const seed of seeds) {
      try {
        const result = runSeed(seed);
        roundsWorst = Math.max(roundsWorst, result.rounds);
        totals.moves += result.moves;
        totals.copies += result.copies;
        totals.wastedCopies += result.wastedCopies;
        totals.byteBalanceChecks += result.byteBalanceChecks;
        totals.swapOnlyNodes += result.swapOnlyNodes;
        // No churn: a learner copied and then dropped is rare (other moves completing in between
        // can change which replica should go), never a pattern.
        expect(result.wastedCopies, `wasted copies of ${result.copies}`).toBeLessThanOrEqual(Math.max(wastedCopiesPerSeedMax, result.copies * wastedCopyFractionMax));
      } catch (error) {
        console.error(`placement simulation failed: reproduce with SEED=${seed}`);
        throw error;
      }
    }
    expect(totals.moves).toBeGreaterThan(0);
    if (onlySeed === undefined) expect(totals.byteBalanceChecks).toBeGreaterThan(seeds.length);
    expect(totals.wastedCopies).toBeLessThanOrEqual(totals.copies * wastedCopyFractionMax);
    console.log(
      `placement simulation: ${seeds.length} seeds, ${totals.moves} moves applied, worst convergence ${roundsWorst} rounds, ` +
        `${totals.copies} copies (${totals.wastedCopies} wasted), byte balance asserted ${totals.byteBalanceChecks} times ` +
        `(${totals.swapOnlyNodes} nodes outside it that only a swap could fix)`,
    );
  });
});
