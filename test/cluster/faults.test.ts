/**
 * Real `phantomdb-node` processes under concurrent client load and faults: SIGKILL of the
 * leader, SIGSTOP/SIGCONT of the leader (a paused old leader must not serve stale reads),
 * a partition through the fault-injecting proxies and its healing, and a restart of all nodes
 * at once. After each run: every acknowledged write is still there, and the history of the
 * shared keys is linearizable. CLUSTER_PHASE_MS (default 1500) sets how long each phase runs
 * under load; SEED picks the workload's operations.
 */
import { describe, it } from 'vitest';
import { TestCluster, closedAfterEachTest, timeouts } from './harness.ts';
import { finish as finishChecks, phase as runPhase, seed } from './scenario.ts';
import { StaleReadProbe, Workload } from './workload.ts';

const opened = closedAfterEachTest();

const phase = (load: Workload, name: string): Promise<void> => runPhase(load, name, opened.cluster);
const finish = (load: Workload, active: TestCluster, runSeed: number): Promise<void> => finishChecks(load, active.kvEndpoints(), runSeed);

describe('3-node cluster under faults', () => {
  it('survives leader SIGKILL, leader SIGSTOP/SIGCONT, a partition and a full restart; linearizable, nothing acknowledged lost', async () => {
    const active = await TestCluster.start({ size: 3 });
    opened.cluster = active;
    const load = new Workload({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, clients: 6, keys: 5, seed });
    opened.workload = load;
    await phase(load, 'steady');

    // SIGKILL the leader; a new one takes over; the old one restarts and catches up.
    const killed = await active.waitForLeader();
    await killed.kill();
    await active.waitForLeader(timeouts.leaderElected, [killed.spec.id]);
    await phase(load, 'after leader kill');
    killed.start();
    await active.waitReady(killed, `node ${killed.spec.id} ready again`);

    // Pause the leader: the others elect a new leader; once resumed, the old leader must not
    // answer reads from its stale state (the history check would catch it).
    const paused = await active.waitForLeader();
    const others = active.nodes.filter((node) => node !== paused).map((node) => node.kvAddress);
    const probe = new StaleReadProbe(load, active.clusterId, paused.kvAddress, others);
    await probe.write('before-pause');
    paused.signal('SIGSTOP');
    let staleRead: Promise<void> | undefined;
    try {
      await active.waitForLeader(timeouts.leaderElected, [paused.spec.id]);
      await probe.write('while-paused');
      // Invoked after that write was acknowledged, sent to the paused old leader: once it
      // resumes it must not answer from its stale state.
      staleRead = probe.readFromPaused();
      await phase(load, 'leader paused');
    } finally {
      paused.signal('SIGCONT');
    }
    await staleRead;
    probe.close();
    await phase(load, 'old leader resumed');

    // Partition a node (the leader, to force a change) away and heal it.
    const isolated = await active.waitForLeader();
    active.isolate(isolated.spec.id);
    await active.waitForLeader(timeouts.leaderElected, [isolated.spec.id]);
    await phase(load, 'partitioned');
    active.heal(isolated.spec.id);
    await active.waitForLeader();
    await phase(load, 'healed');

    // Restart every node at once.
    await Promise.all(active.nodes.map((node) => node.kill()));
    for (const node of active.nodes) node.start();
    await active.waitForLeader();
    await phase(load, 'after full restart');
    await finish(load, active, seed);
  });
});

describe('5-node cluster under faults', () => {
  it('keeps serving with the leader killed and a follower paused, then recovers both', async () => {
    const active = await TestCluster.start({ size: 5 });
    opened.cluster = active;
    const load = new Workload({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, clients: 6, keys: 5, seed: seed + 1 });
    opened.workload = load;
    await phase(load, 'steady');
    const killed = await active.waitForLeader();
    await killed.kill();
    const leader = await active.waitForLeader(timeouts.leaderElected, [killed.spec.id]);
    const follower = active.nodes.find((node) => node !== killed && node !== leader);
    if (follower === undefined) throw new Error('no follower');
    follower.signal('SIGSTOP');
    try {
      await phase(load, 'leader killed, follower paused');
    } finally {
      follower.signal('SIGCONT');
    }
    killed.start();
    await active.waitReady(killed, `node ${killed.spec.id} ready again`);
    await phase(load, 'recovered');
    await finish(load, active, seed + 1);
  });
});
