// Seeded simulation of Raft groups under faults. Failures print `reproduce with SEED=n`.
// Defaults: 200 seeds across 3- and 5-node clusters. More: RAFT_SIM_SEEDS=2000; one: SEED=123.
import { describe, expect, it } from 'vitest';
import { Simulation, type SimulationOptions } from './sim.ts';

const seedCount = Number(process.env['RAFT_SIM_SEEDS'] ?? 200);
const onlySeed = process.env['SEED'] === undefined ? undefined : Number(process.env['SEED']);
const firstSeed = Number(process.env['RAFT_SIM_FIRST_SEED'] ?? 1);

function optionsFor(seed: number): SimulationOptions {
  return {
    seed,
    nodeCount: seed % 2 === 0 ? 3 : 5,
    faultTicks: 300,
    livenessTicks: 300,
    readOnlyOption: seed % 3 === 0 ? 'lease-based' : 'safe',
    membershipChanges: seed % 4 !== 1,
    quiesce: seed % 5 < 2,
    skipHeartbeatAfterAppend: seed % 7 < 4,
    commitWithNextMessage: seed % 11 < 6,
  };
}

describe('raft deterministic simulation', () => {
  it(`keeps safety and liveness over ${onlySeed === undefined ? seedCount : 1} seeds`, () => {
    const seeds = onlySeed === undefined ? Array.from({ length: seedCount }, (_, i) => firstSeed + i) : [onlySeed];
    const totals = { elections: 0, committed: 0, crashes: 0, snapshotsSent: 0, confChanges: 0, reads: 0, transfers: 0, quiescedLeaderTicks: 0, wakeUps: 0 };
    for (const seed of seeds) {
      const simulation = new Simulation(optionsFor(seed));
      try {
        simulation.run();
      } catch (error) {
        const detail = error instanceof Error ? error.stack ?? error.message : String(error);
        throw new Error(`simulation seed ${seed} failed; reproduce with SEED=${seed}\n${detail}`, { cause: error });
      }
      for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += simulation.stats[key];
    }
    console.log(`raft simulation: ${seeds.length} seeds`, totals);
    // The faults must actually have exercised the protocol.
    expect(totals.committed).toBeGreaterThan(0);
    if (seeds.length >= 20) {
      expect(totals.crashes).toBeGreaterThan(0);
      expect(totals.snapshotsSent).toBeGreaterThan(0);
      expect(totals.confChanges).toBeGreaterThan(0);
      expect(totals.reads).toBeGreaterThan(0);
      // Quiescent seeds did quiesce, and some followers had to be woken by the host.
      expect(totals.quiescedLeaderTicks).toBeGreaterThan(0);
      expect(totals.wakeUps).toBeGreaterThan(0);
    }
  });
});
