/**
 * Decommission through the Admin API on real processes: 5 voters under client load, two of them
 * decommissioned (the leader first, so leadership must move away) down to 3; the removed nodes
 * stop serving; a third decommission is refused below the replication factor (3); the removed
 * ids are refused when they try to join again. Nothing acknowledged is lost (full scan of the
 * remaining nodes) and the history stays linearizable.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdminClient, AdminError, type ClusterStatus } from '../../datanode/src/admin/index.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { KvError } from '../../datanode/src/kv/errors.ts';
import { NodeProcess, TestCluster, closedAfterEachTest, eventually, freePort, timeouts } from './harness.ts';
import { finish, phase, seed } from './scenario.ts';
import { Workload } from './workload.ts';

const opened = closedAfterEachTest();

async function expectAdminError(call: Promise<unknown>, code: string): Promise<AdminError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdminError);
  expect((err as AdminError).code).toBe(code);
  return err as AdminError;
}

/** Decommissions `nodeId` and waits until the cluster reports it DECOMMISSIONED. */
async function decommission(client: AdminClient, nodeId: number): Promise<ClusterStatus> {
  const started = await client.decommission(nodeId);
  expect(started.nodeId).toBe(nodeId);
  expect(['DECOMMISSIONING', 'DECOMMISSIONED']).toContain(started.membership);
  return eventually(`node ${nodeId} decommissioned`, timeouts.decommissioned, async () => {
    const progress = await client.decommission(nodeId);
    if (!progress.done) return undefined;
    const status = await client.clusterStatus();
    return status.nodes.find((node) => node.nodeId === nodeId)?.membership === 'DECOMMISSIONED' ? status : undefined;
  });
}

describe('decommission', () => {
  it('takes 5 nodes to 3 under load, refuses below the replication factor, and never reuses a removed id', async () => {
    const active = await TestCluster.start({ size: 5, extraArgs: ['--replication-factor', '3'] });
    opened.cluster = active;
    const adminClient = new AdminClient({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, deadlineMs: 10_000 });
    opened.clients.push(adminClient);
    const load = new Workload({ endpoints: active.kvEndpoints(), clusterId: active.clusterId, clients: 4, keys: 5, seed: seed + 11 });
    opened.workload = load;
    await phase(load, 'steady', active);

    // Every process must be up first: on 2 busy cores one may still be booting after the election.
    for (const node of active.nodes) await active.waitReady(node, `node ${node.spec.id} ready`);
    let seen = '';
    const before = await eventually('all 5 voters live', timeouts.leaderElected, async () => {
      const status = await adminClient.clusterStatus();
      seen = JSON.stringify(status.nodes.map((node) => [node.nodeId, node.membership, node.liveness, String(node.raft?.matchIndex)]));
      return status.nodes.filter((node) => node.membership === 'VOTER' && node.liveness === 'LIVE').length === 5 ? status : undefined;
    }).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen ${seen}\n${active.logs()}`);
    });
    expect(before.replicationFactor).toBe(3);
    expect(before.underReplicatedRanges).toBe(0);
    // Leases are range leaderships: the meta range's leader holds at least that one, and no range has two.
    expect(before.nodes.find((node) => node.nodeId === before.leaderId)?.leases).toBeGreaterThanOrEqual(1);
    expect(before.nodes.reduce((sum, node) => sum + node.leases, 0)).toBeLessThanOrEqual(before.groups);

    // The leader first: leadership moves away, then it is demoted and removed.
    const first = before.leaderId;
    const afterFirst = await decommission(adminClient, first);
    expect(afterFirst.leaderId).not.toBe(first);
    await phase(load, 'one node decommissioned', active);
    const second = [1, 2, 3, 4, 5].find((id) => id !== first && id !== afterFirst.leaderId) ?? 0;
    const afterSecond = await decommission(adminClient, second);
    await phase(load, 'two nodes decommissioned', active);
    const removed = [first, second];
    const remaining = [1, 2, 3, 4, 5].filter((id) => !removed.includes(id));
    expect(afterSecond.nodes.filter((node) => node.membership === 'VOTER').map((node) => node.nodeId)).toEqual(remaining);

    // The removed nodes stop serving: KV calls answer PH_UNAVAILABLE, /readyz fails.
    for (const id of removed) {
      const node = active.node(id);
      await eventually(`node ${id} retired`, timeouts.decommissioned, () => (node.output.includes('removed from the cluster') ? true : undefined)).catch((err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n${active.logs()}`);
      });
      expect(await node.ready()).toBe(false);
      // One attempt with a generous deadline: the node's own answer, not the client's retry budget running out.
      const direct = new KvClient({ endpoints: [node.kvAddress], clusterId: active.clusterId, deadlineMs: 5000, attemptDeadlineMs: 5000, attemptsMax: 1 });
      try {
        const err = await direct.get('k0').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(KvError);
        expect((err as KvError).code).toBe('PH_UNAVAILABLE');
      } finally {
        direct.close();
      }
    }

    // Three voters left: one more would go below the replication factor.
    const leaderId = (await adminClient.clusterStatus()).leaderId;
    await expectAdminError(adminClient.decommission(remaining.find((id) => id !== leaderId) ?? 0), 'PH_DECOMMISSION_REFUSED');
    await expectAdminError(adminClient.decommission(leaderId), 'PH_DECOMMISSION_REFUSED');
    await expectAdminError(adminClient.recommission(first), 'PH_ALREADY_DECOMMISSIONED');
    const repeated = await adminClient.decommission(second);
    expect(repeated.done).toBe(true);

    await finish(load, remaining.map((id) => active.node(id).kvAddress), seed + 11);

    // A removed id is never reused: neither through AddLearner nor by a node joining with it.
    await expectAdminError(adminClient.addLearner(second, '127.0.0.1:1'), 'PH_BAD_REQUEST');
    const rejoin = new NodeProcess({
      id: second,
      raftPort: await freePort(),
      kvPort: await freePort(),
      httpPort: await freePort(),
      dataDir: path.join(active.baseDir, `node-${second}-again`),
      clusterId: active.clusterId,
      membershipArgs: ['--join', active.node(remaining[0] ?? 0).kvAddress],
      extraArgs: [],
    });
    rejoin.start();
    try {
      const code = await Promise.race([rejoin.exited(), new Promise<string>((resolve) => setTimeout(() => resolve('still running'), timeouts.processExit))]);
      expect(code, rejoin.output).not.toBe(0);
      expect(code).not.toBe('still running');
      expect(rejoin.output).toMatch(/never reused/);
    } finally {
      await rejoin.kill();
    }
    const final = await adminClient.clusterStatus();
    expect(final.nodes.filter((node) => node.membership === 'VOTER').map((node) => node.nodeId)).toEqual(remaining);
    expect(final.underReplicatedRanges).toBe(0);
  });
});
