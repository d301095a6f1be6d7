/**
 * Lease reads (`--read-mode lease`) under the SIGSTOP/SIGCONT-leader scenario: while the old
 * leader is paused the others elect a new one and take writes; once resumed, the old leader
 * must not answer from its stale state on a lease that has expired (its ticks are caught up
 * from the monotonic clock before any read). The history, with a stale-read probe sent to the
 * paused leader, must stay linearizable, and no acknowledged write may be lost.
 */
import { describe, it } from 'vitest';
import { TestCluster, closedAfterEachTest, timeouts } from './harness.ts';
import { finish, phase, seed } from './scenario.ts';
import { StaleReadProbe, Workload } from './workload.ts';

const opened = closedAfterEachTest();

describe('lease reads', () => {
  it('stay linearizable when the leader is paused (SIGSTOP) and resumed (SIGCONT), twice', async () => {
    const active = await TestCluster.start({ size: 3, extraArgs: ['--read-mode', 'lease'] });
    opened.cluster = active;
    const load = new Workload({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, clients: 6, keys: 5, seed: seed + 7 });
    opened.workload = load;
    await phase(load, 'steady', active);
    for (let round = 1; round <= 2; round++) {
      const paused = await active.waitForLeader();
      const others = active.nodes.filter((node) => node !== paused).map((node) => node.kvAddress);
      const probe = new StaleReadProbe(load, active.clusterId, paused.kvAddress, others);
      await probe.write(`before-pause-${round}`);
      paused.signal('SIGSTOP');
      let staleRead: Promise<void> | undefined;
      try {
        await active.waitForLeader(timeouts.leaderElected, [paused.spec.id]);
        await probe.write(`while-paused-${round}`);
        // Sent to the paused leader after that write was acknowledged: once resumed, a read
        // answered from its old lease would miss the write, and the checker would catch it.
        staleRead = probe.readFromPaused();
        await phase(load, `leader paused (round ${round})`, active);
      } finally {
        paused.signal('SIGCONT');
      }
      await staleRead;
      probe.close();
      await phase(load, `old leader resumed (round ${round})`, active);
    }
    await finish(load, active.kvEndpoints(), seed + 7);
  });
});
