/**
 * The admin gRPC plumbing: handlers over a fake AdminBackend (the backend is not under test),
 * the typed client's redirects, retries, deadlines and error codes, over real loopback gRPC.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdminBackend, ClusterStatus, DecommissionProgress, Member, RangeInfo } from './backend.ts';
import { AdminClient } from './client.ts';
import { AdminError, NotLeaderError } from './errors.ts';
import { addAdminService } from './service.ts';

/** A three-node cluster's state shared by the fake backends of its nodes. */
class FakeClusterState {
  leaderId = 1;
  readonly addresses = new Map<number, string>();
  readonly members = new Map<number, Member>();
  promoteLagCalls = 0;
  decommissioned = new Map<number, number>();
  calls: string[] = [];
}

class FakeBackend implements AdminBackend {
  readonly clusterId = 'c1';
  hang = false;
  constructor(
    private readonly state: FakeClusterState,
    private readonly nodeId: number,
  ) {}

  private leaderOnly(call: string): void {
    this.state.calls.push(`${this.nodeId}:${call}`);
    if (this.state.leaderId !== this.nodeId) throw new NotLeaderError(this.state.leaderId, this.state.addresses.get(this.state.leaderId) ?? '');
  }

  nodeInfo() {
    return Promise.resolve({ nodeId: this.nodeId, clusterId: this.clusterId, address: this.state.addresses.get(this.nodeId) ?? '', initialized: true, leaderId: this.state.leaderId, version: '0.1.0', locality: 'zone=a' });
  }

  assignIdentity(nodeId: number) {
    if (nodeId !== this.nodeId) throw new AdminError('PH_IDENTITY_CONFLICT', `this node is node ${this.nodeId}`);
    return this.nodeInfo();
  }

  async clusterStatus(deadlineMs: number): Promise<ClusterStatus> {
    if (this.hang) await new Promise((resolve) => setTimeout(resolve, deadlineMs + 50));
    this.leaderOnly('status');
    return {
      clusterId: this.clusterId,
      leaderId: this.state.leaderId,
      nodes: [...this.state.members.values()].map((member) => ({
        ...member,
        liveness: 'LIVE',
        raft: { role: member.nodeId === this.state.leaderId ? 'LEADER' : 'FOLLOWER', term: 2n ** 60n, matchIndex: 2n ** 55n + 1n, appliedIndex: 7n, caughtUp: true },
        replicas: 3,
        leases: member.nodeId === this.state.leaderId ? 1 : 0,
        version: '0.1.0',
        locality: '',
      })),
      groups: 4,
      ranges: 3,
      underReplicatedRanges: 1,
      unavailableRanges: 0,
      replicationFactor: 3,
      highestNodeId: 2 ** 40,
    };
  }

  addLearner(nodeId: number, address: string): Promise<readonly Member[]> {
    this.leaderOnly(`addLearner ${nodeId} ${address}`);
    if (!this.state.members.has(nodeId)) this.state.members.set(nodeId, { nodeId, address, membership: 'LEARNER' });
    return Promise.resolve([...this.state.members.values()]);
  }

  promote(nodeId: number): Promise<readonly Member[]> {
    this.leaderOnly(`promote ${nodeId}`);
    const member = this.state.members.get(nodeId);
    if (member === undefined) throw new AdminError('PH_UNKNOWN_NODE', `no node ${nodeId}`);
    if (this.state.promoteLagCalls > 0) {
      this.state.promoteLagCalls -= 1;
      throw new AdminError('PH_NOT_CAUGHT_UP', 'lagging');
    }
    this.state.members.set(nodeId, { ...member, membership: 'VOTER' });
    return Promise.resolve([...this.state.members.values()]);
  }

  decommission(nodeId: number): Promise<DecommissionProgress> {
    this.leaderOnly(`decommission ${nodeId}`);
    const voters = [...this.state.members.values()].filter((member) => member.membership === 'VOTER').length;
    if (voters <= 3) throw new AdminError('PH_DECOMMISSION_REFUSED', 'three voters needed for replication factor 3');
    const polls = (this.state.decommissioned.get(nodeId) ?? 0) + 1;
    this.state.decommissioned.set(nodeId, polls);
    return Promise.resolve({ nodeId, membership: 'DECOMMISSIONING', replicasRemaining: 3 - polls, leasesRemaining: 0, done: false });
  }

  recommission(nodeId: number): Promise<DecommissionProgress> {
    this.leaderOnly(`recommission ${nodeId}`);
    return Promise.resolve({ nodeId, membership: 'VOTER', replicasRemaining: 3, leasesRemaining: 0, done: false });
  }

  drain(nodeId: number) {
    this.leaderOnly(`drain ${nodeId}`);
    return Promise.resolve({ nodeId, leasesRemaining: 0, done: true });
  }

  transferLeadership(targetNodeId: number): Promise<number> {
    this.leaderOnly(`transfer ${targetNodeId}`);
    this.state.leaderId = targetNodeId === 0 ? 2 : targetNodeId;
    return Promise.resolve(this.state.leaderId);
  }

  rangeList(): Promise<readonly RangeInfo[]> {
    this.leaderOnly('ranges');
    const replicas = [
      { nodeId: 1, voter: true },
      { nodeId: 4, voter: false },
    ];
    return Promise.resolve([
      { rangeId: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), meta: true, generation: 0, replicas, leaderId: this.state.leaderId, underReplicated: false, unavailable: false },
      { rangeId: 2 ** 21 + 7, startKey: Buffer.from([0, 255]), endKey: Buffer.alloc(0), meta: false, generation: 3, replicas, leaderId: 0, underReplicated: true, unavailable: false },
    ]);
  }
}

interface Running {
  readonly state: FakeClusterState;
  readonly backends: Map<number, FakeBackend>;
  readonly servers: grpc.Server[];
  readonly addresses: string[];
}

const running: Running[] = [];
const clients: AdminClient[] = [];

async function startCluster(nodes = 3): Promise<Running> {
  const state = new FakeClusterState();
  const backends = new Map<number, FakeBackend>();
  const servers: grpc.Server[] = [];
  const addresses: string[] = [];
  for (let nodeId = 1; nodeId <= nodes; nodeId++) {
    const server = new grpc.Server();
    const backend = new FakeBackend(state, nodeId);
    backends.set(nodeId, backend);
    addAdminService(server, backend, { requestDeadlineDefaultMs: 1000, requestDeadlineMaxMs: 2000 });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))));
    const address = `127.0.0.1:${port}`;
    state.addresses.set(nodeId, address);
    state.members.set(nodeId, { nodeId, address, membership: 'VOTER' });
    servers.push(server);
    addresses.push(address);
  }
  const cluster = { state, backends, servers, addresses };
  running.push(cluster);
  return cluster;
}

function client(endpoints: readonly string[], extra: Partial<ConstructorParameters<typeof AdminClient>[0]> = {}): AdminClient {
  const made = new AdminClient({ endpoints, backoffInitialMs: 5, backoffMaxMs: 20, ...extra });
  clients.push(made);
  return made;
}

async function failure(call: Promise<unknown>): Promise<AdminError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof AdminError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

afterEach(async () => {
  for (const made of clients.splice(0)) made.close();
  for (const cluster of running.splice(0)) await Promise.all(cluster.servers.map((server) => new Promise<void>((resolve) => server.tryShutdown(() => resolve()))));
});

describe('admin service and client', () => {
  it('answers NodeInfo from the node asked, never redirecting', async () => {
    const cluster = await startCluster();
    const admin = client(cluster.addresses);
    const info = await admin.nodeInfo(cluster.addresses[2] ?? '');
    expect(info).toEqual({ nodeId: 3, clusterId: 'c1', address: cluster.addresses[2], initialized: true, leaderId: 1, version: '0.1.0', locality: 'zone=a', clusterVersionMin: '', clusterVersion: '' });
  });

  it('sends AssignIdentity to the node asked only, and reports a conflicting id as PH_IDENTITY_CONFLICT, not retried', async () => {
    const cluster = await startCluster();
    const admin = client(cluster.addresses);
    expect((await admin.assignIdentity(cluster.addresses[1] ?? '', 2)).nodeId).toBe(2);
    const conflict = await failure(admin.assignIdentity(cluster.addresses[1] ?? '', 7));
    expect(conflict.code).toBe('PH_IDENTITY_CONFLICT');
    expect(conflict.retriable).toBe(false);
    expect((await failure(admin.assignIdentity(cluster.addresses[1] ?? '', 0))).code).toBe('PH_BAD_REQUEST');
  });

  it('follows NotLeader to the leader and keeps 64-bit Raft indexes exact', async () => {
    const cluster = await startCluster();
    const admin = client([cluster.addresses[2] ?? '']);
    const status = await admin.clusterStatus();
    expect(cluster.state.calls).toEqual(['3:status', '1:status']);
    expect(status.leaderId).toBe(1);
    expect(status.nodes.map((node) => node.nodeId)).toEqual([1, 2, 3]);
    expect(status.nodes[0]?.raft).toEqual({ role: 'LEADER', term: 2n ** 60n, matchIndex: 2n ** 55n + 1n, appliedIndex: 7n, caughtUp: true });
    expect(status).toMatchObject({ groups: 4, ranges: 3, underReplicatedRanges: 1, unavailableRanges: 0, replicationFactor: 3, highestNodeId: 2 ** 40 });
    // The client now goes to the leader first.
    await admin.clusterStatus();
    expect(cluster.state.calls.slice(2)).toEqual(['1:status']);
  });

  it('joins a node: AddLearner, then Promote retried while the learner catches up', async () => {
    const cluster = await startCluster();
    const admin = client(cluster.addresses);
    const members = await admin.addLearner(4, 'node-4.nodes.ns.svc:7000');
    expect(members.find((member) => member.nodeId === 4)).toEqual({ nodeId: 4, address: 'node-4.nodes.ns.svc:7000', membership: 'LEARNER' });
    // Idempotent: the same call again changes nothing.
    expect(await admin.addLearner(4, 'node-4.nodes.ns.svc:7000')).toEqual(members);
    cluster.state.promoteLagCalls = 2;
    const promoted = await admin.promote(4);
    expect(promoted.find((member) => member.nodeId === 4)?.membership).toBe('VOTER');
    expect(cluster.state.calls.filter((call) => call === '1:promote 4')).toHaveLength(3);
  });

  it('reports decommission progress and refusals with stable codes, not retried', async () => {
    const cluster = await startCluster();
    const admin = client(cluster.addresses);
    const refused = await failure(admin.decommission(3));
    expect(refused.code).toBe('PH_DECOMMISSION_REFUSED');
    expect(cluster.state.calls.filter((call) => call.endsWith('decommission 3'))).toHaveLength(1);
    await admin.addLearner(4, '127.0.0.1:7004');
    await admin.promote(4);
    // bytesRemaining and etaSeconds: the backend gave none (0 bytes, ETA unknown).
    expect(await admin.decommission(4)).toEqual({ nodeId: 4, membership: 'DECOMMISSIONING', replicasRemaining: 2, leasesRemaining: 0, done: false, bytesRemaining: 0, etaSeconds: null });
    expect((await admin.decommission(4)).replicasRemaining).toBe(1);
    expect((await admin.recommission(4)).membership).toBe('VOTER');
    expect(await admin.drain(2)).toEqual({ nodeId: 2, leasesRemaining: 0, done: true });
    expect(await admin.transferLeadership(3)).toBe(3);
    expect((await admin.clusterStatus()).leaderId).toBe(3);
  });

  it('lists ranges from the leader: ids, binary spans, replicas and health survive the wire', async () => {
    const cluster = await startCluster();
    const admin = client(cluster.addresses);
    const ranges = await admin.rangeList();
    expect(ranges.map((range) => range.rangeId)).toEqual([1, 2 ** 21 + 7]);
    expect(ranges[0]).toMatchObject({ meta: true, leaderId: cluster.state.leaderId, underReplicated: false });
    expect(ranges[1]?.startKey.equals(Buffer.from([0, 255]))).toBe(true);
    expect(ranges[1]).toMatchObject({ meta: false, generation: 3, leaderId: 0, underReplicated: true, replicas: [{ nodeId: 1, voter: true }, { nodeId: 4, voter: false }] });
    expect(cluster.state.calls.filter((call) => call.endsWith('ranges')).at(-1)).toBe(`${cluster.state.leaderId}:ranges`);
  });

  it('validates requests before the backend sees them', async () => {
    const cluster = await startCluster();
    const admin = client(cluster.addresses);
    expect((await failure(admin.addLearner(4, 'not an address'))).code).toBe('PH_BAD_REQUEST');
    expect((await failure(admin.promote(0))).code).toBe('PH_BAD_REQUEST');
    expect((await failure(admin.promote(99))).code).toBe('PH_UNKNOWN_NODE');
    expect(cluster.state.calls.some((call) => call.includes('addLearner'))).toBe(false);
  });

  it('refuses calls meant for another cluster', async () => {
    const cluster = await startCluster();
    const admin = client(cluster.addresses, { clusterId: 'other' });
    expect((await failure(admin.clusterStatus())).code).toBe('PH_WRONG_CLUSTER');
  });

  it('skips an unreachable endpoint and gives up at the overall deadline', async () => {
    const cluster = await startCluster();
    const dead = '127.0.0.1:1';
    const admin = client([dead, ...cluster.addresses]);
    expect((await admin.clusterStatus()).leaderId).toBe(1);
    const onlyDead = client([dead], { deadlineMs: 300, attemptDeadlineMs: 100 });
    const started = Date.now();
    const error = await failure(onlyDead.clusterStatus());
    expect(error.code).toBe('PH_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('tries the other endpoints when the leader a redirect names does not answer (a name this process cannot resolve)', async () => {
    const cluster = await startCluster();
    const leaderAddress = cluster.addresses[0] ?? '';
    // The followers name the leader by an address that does not answer from here.
    cluster.state.addresses.set(1, '127.0.0.1:1');
    const admin = client([cluster.addresses[2] ?? '', cluster.addresses[1] ?? '', leaderAddress], { deadlineMs: 3000, attemptDeadlineMs: 500 });
    expect((await admin.clusterStatus()).leaderId).toBe(1);
    expect(cluster.state.calls.at(-1)).toBe('1:status');
  });

  it('bounds a hung call by the attempt deadline', async () => {
    const cluster = await startCluster();
    for (const backend of cluster.backends.values()) backend.hang = true;
    const admin = client(cluster.addresses, { deadlineMs: 400, attemptDeadlineMs: 150 });
    const started = Date.now();
    expect((await failure(admin.clusterStatus())).code).toBe('PH_DEADLINE_EXCEEDED');
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
