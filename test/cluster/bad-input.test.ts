/**
 * Bad input against real processes: malformed and oversized KV requests, a client of another
 * cluster, a Raft peer speaking an older protocol version or another cluster id, a data
 * directory of another cluster, invalid configuration. Each gets a clear error and harms
 * nothing (the cluster keeps serving, the directory is unchanged). Also: a node joins a running
 * cluster as a learner and is promoted to voter once caught up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { KvError } from '../../datanode/src/kv/errors.ts';
import { raftTransportPackage } from '../../datanode/src/transport/grpc-service.ts';
import { TestCluster, eventually, nodeArgs, runToExit, timeouts } from './harness.ts';

let cluster: TestCluster;
let client: KvClient;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
  client = new KvClient({ endpoints: cluster.kvEndpoints(), clusterId: cluster.clusterId });
  await client.put('before', 'bad input');
});

afterAll(async () => {
  client.close();
  await cluster.close();
});

function listTree(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTree(full));
    else out.push(`${path.relative(dir, full)}:${fs.statSync(full).size}:${fs.statSync(full).mtimeMs}`);
  }
  return out.sort();
}

async function expectKvError(promise: Promise<unknown>, code: string): Promise<void> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KvError);
  expect((err as KvError).code).toBe(code);
}

describe('bad input to a running cluster', () => {
  it('refuses oversized keys and values, empty keys and too-large scans with typed errors', async () => {
    await expectKvError(client.put('x'.repeat(5000), 'v'), 'PH_TOO_LARGE');
    await expectKvError(client.put('big', Buffer.alloc(1024 * 1024 + 1)), 'PH_TOO_LARGE');
    await expectKvError(client.put('', 'v'), 'PH_BAD_REQUEST');
    await expectKvError(client.scan('', '', 1_000_000), 'PH_TOO_LARGE');
    expect((await client.get('before'))?.toString()).toBe('bad input');
  });

  it('answers malformed protobuf with INVALID_ARGUMENT-class errors and keeps serving', async () => {
    const leader = await cluster.waitForLeader();
    const raw = new grpc.Client(leader.kvAddress, grpc.credentials.createInsecure());
    const status = await new Promise<grpc.status>((resolve) => {
      raw.makeUnaryRequest(
        '/phantomdb.kv.v1.KV/Put',
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
        (err) => resolve(err?.code ?? grpc.status.OK),
      );
    });
    raw.close();
    expect([grpc.status.INTERNAL, grpc.status.INVALID_ARGUMENT]).toContain(status);
    expect((await client.get('before'))?.toString()).toBe('bad input');
  });

  it('refuses requests meant for another cluster', async () => {
    const stranger = new KvClient({ endpoints: cluster.kvEndpoints(), clusterId: 'other-cluster' });
    try {
      await expectKvError(stranger.get('before'), 'PH_WRONG_CLUSTER');
    } finally {
      stranger.close();
    }
  });

  it('refuses a Raft peer with an older protocol version or another cluster id', async () => {
    const pkg = raftTransportPackage();
    const leader = await cluster.waitForLeader();
    const transport = new pkg.RaftTransport(`127.0.0.1:${leader.spec.raftPort}`, grpc.credentials.createInsecure());
    const hello = (request: object): Promise<{ accepted: boolean; rejectReason: string }> =>
      new Promise((resolve, reject) => transport.Hello(request, (err, response) => (err === null && response !== undefined ? resolve(response) : reject(err ?? new Error('empty')))));
    const old = await hello({ clusterId: cluster.clusterId, nodeId: 99, protocolVersions: { min: 0, max: 0 }, expectedNodeId: 0 });
    expect(old.accepted).toBe(false);
    expect(old.rejectReason).toBe('version-mismatch');
    const foreign = await hello({ clusterId: 'other-cluster', nodeId: 99, protocolVersions: { min: 1, max: 1 }, expectedNodeId: 0 });
    expect(foreign.accepted).toBe(false);
    expect(foreign.rejectReason).toBe('cluster-mismatch');
    transport.close();
    await client.put('after-hello', 'ok');
    expect((await client.get('after-hello'))?.toString()).toBe('ok');
  });

  it('refuses to start a data directory of another cluster or node, changing nothing', async () => {
    const victim = cluster.node(3);
    await victim.stop();
    const before = listTree(victim.spec.dataDir);
    const wrongCluster = await runToExit(nodeArgs({ ...victim.spec, clusterId: 'other-cluster' }));
    expect(wrongCluster.code).not.toBe(0);
    expect(wrongCluster.output).toMatch(/belongs to cluster "test-cluster", not "other-cluster"/);
    const wrongNode = await runToExit(nodeArgs({ ...victim.spec, id: 7, membershipArgs: [] }));
    expect(wrongNode.code).not.toBe(0);
    expect(wrongNode.output).toMatch(/belongs to node 3, not node 7/);
    expect(listTree(victim.spec.dataDir)).toEqual(before);
    victim.start();
    await cluster.waitReady(victim, 'node 3 ready after the refused starts');
  });

  it('names every bad configuration field', async () => {
    const result = await runToExit(['--import', 'tsx', 'datanode/src/main.ts', 'start', '--node-id', '0', '--cluster-id', 'bad id!', '--grpc-listen', 'nowhere', '--data-dir', '/tmp/x']);
    expect(result.code).toBe(2);
    expect(result.output).toMatch(/nodeId \(from flag --node-id\)/);
    expect(result.output).toMatch(/clusterId \(from flag --cluster-id\)/);
    expect(result.output).toMatch(/grpcListen \(from flag --grpc-listen\): must be host:port/);
  });
});

describe('membership', () => {
  it('adds a joining node as a learner, catches it up by snapshot and promotes it to voter', async () => {
    for (let i = 0; i < 50; i++) await client.put(`join/${i}`, `v${i}`);
    const joiner = await cluster.joiner(4, cluster.kvEndpoints()[0] ?? '');
    joiner.start();
    try {
      await eventually('node 4 promoted to voter', timeouts.learnerPromoted, async () => {
        const status = await joiner.status();
        return status?.voters.includes(4) === true && status.appliedIndex >= status.commitIndex ? status : undefined;
      });
      const leader = await cluster.waitForLeader();
      const leaderStatus = await leader.status();
      expect(leaderStatus?.voters).toContain(4);
      const direct = new KvClient({ endpoints: [joiner.kvAddress], clusterId: cluster.clusterId });
      try {
        expect((await direct.get('join/49'))?.toString()).toBe('v49');
      } finally {
        direct.close();
      }
      expect(joiner.output).toMatch(/installing snapshot/);
    } finally {
      await joiner.kill();
    }
  });
});
