/**
 * AssignIdentity: a new node without an id (PendingIdentityAdmin, over real loopback gRPC and a
 * real data directory) and a node that has one (NodeAdmin), refusals included.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../admin/client.ts';
import { AdminError } from '../admin/errors.ts';
import { addAdminService } from '../admin/service.ts';
import { NodeAdmin } from './admin-backend.ts';
import { readIdentity } from './identity.ts';
import { PendingIdentityAdmin, waitForAssignedIdentity } from './identity-wait.ts';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-identity-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'data');
}

function pending(dataDir: string): PendingIdentityAdmin {
  return new PendingIdentityAdmin({ clusterId: 'c1', dataDir, raftAddress: 'db-3.nodes.ns.svc:7000', version: '0.1.0', log: () => undefined });
}

async function serve(backend: PendingIdentityAdmin | NodeAdmin): Promise<string> {
  const server = new grpc.Server();
  addAdminService(server, backend, { requestDeadlineDefaultMs: 1000, requestDeadlineMaxMs: 2000 });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))));
  cleanups.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return `127.0.0.1:${port}`;
}

function client(address: string, clusterId = 'c1'): AdminClient {
  const made = new AdminClient({ endpoints: [address], clusterId, deadlineMs: 1000, attemptDeadlineMs: 500, backoffInitialMs: 5, backoffMaxMs: 20 });
  cleanups.push(() => made.close());
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

describe('AssignIdentity on a new node', () => {
  it('answers node id 0 until assigned, records the id durably before answering, and repeats it idempotently', async () => {
    const dataDir = tempDir();
    const backend = pending(dataDir);
    const address = await serve(backend);
    const admin = client(address);
    expect(await admin.nodeInfo(address)).toMatchObject({ nodeId: 0, initialized: false, address: 'db-3.nodes.ns.svc:7000', clusterId: 'c1' });
    const info = await admin.assignIdentity(address, 6);
    expect(info.nodeId).toBe(6);
    expect(readIdentity(dataDir)).toEqual({ clusterId: 'c1', nodeId: 6 });
    await expect(backend.assigned).resolves.toBe(6);
    expect((await admin.assignIdentity(address, 6)).nodeId).toBe(6);
    expect((await admin.nodeInfo(address)).nodeId).toBe(6);
    // A restart of the waiting phase finds the recorded id.
    await expect(pending(dataDir).assigned).resolves.toBe(6);
  });

  it('refuses another id once assigned, id 0, another cluster, and a data directory that is not its own', async () => {
    const dataDir = tempDir();
    const address = await serve(pending(dataDir));
    const admin = client(address);
    await admin.assignIdentity(address, 6);
    const conflict = await failure(admin.assignIdentity(address, 7));
    expect(conflict.code).toBe('PH_IDENTITY_CONFLICT');
    expect(readIdentity(dataDir)?.nodeId).toBe(6);
    expect((await failure(admin.assignIdentity(address, 0))).code).toBe('PH_BAD_REQUEST');
    expect((await failure(client(address, 'other').assignIdentity(address, 6))).code).toBe('PH_WRONG_CLUSTER');

    const strayDir = tempDir();
    fs.mkdirSync(strayDir, { recursive: true });
    fs.writeFileSync(path.join(strayDir, 'leftover'), 'x');
    const strayAddress = await serve(pending(strayDir));
    expect((await failure(client(strayAddress).assignIdentity(strayAddress, 8))).code).toBe('PH_IDENTITY_CONFLICT');
    expect(readIdentity(strayDir)).toBeUndefined();
  });

  it('answers calls for the leader as a node that knows no leader (clients move on)', async () => {
    const address = await serve(pending(tempDir()));
    const error = await failure(client(address).clusterStatus());
    expect(['PH_NOT_LEADER', 'PH_DEADLINE_EXCEEDED']).toContain(error.code);
  });
});

describe('AssignIdentity on a node that has its id', () => {
  it('accepts its own id and refuses another', async () => {
    const backend = new NodeAdmin({
      clusterId: 'c1',
      nodeId: 4,
      replicationFactor: 3,
      livenessTimeoutMs: 1000,
      version: '0.1.0',
      replica: () => {
        throw new Error('not started');
      },
      replicaIfStarted: () => undefined,
      addressBook: () => new Map([[4, { raft: 'db-3.nodes.ns.svc:7000', kv: '' }]]),
      lifecycles: () => ({ decommissioning: new Set(), removed: new Set() }),
      appliedIndex: () => 0,
      log: () => undefined,
    });
    const address = await serve(backend);
    const admin = client(address);
    expect((await admin.assignIdentity(address, 4)).nodeId).toBe(4);
    expect((await failure(admin.assignIdentity(address, 6))).code).toBe('PH_IDENTITY_CONFLICT');
  });
});

/** A port free a moment ago (the server under test binds it next). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

describe('waiting for an id with metrics on', () => {
  it('serves /metrics (node="0") while waiting, so scrapes of a waiting pod do not fail, and closes it once assigned', async () => {
    const dataDir = tempDir();
    const kvAddress = `127.0.0.1:${await freePort()}`;
    const metricsUrl = `http://127.0.0.1:${await freePort()}/metrics`;
    const url = new URL(metricsUrl);
    const waiting = waitForAssignedIdentity(
      { clusterId: 'c1', dataDir, raftAddress: 'db-3.nodes.ns.svc:7000', version: '0.1.0', log: () => undefined, metrics: true },
      { kvListen: kvAddress, httpListen: url.host },
    );
    const admin = client(kvAddress);
    // Both servers are up once NodeInfo answers (the HTTP server starts right after the gRPC one binds).
    expect((await admin.nodeInfo(kvAddress)).nodeId).toBe(0);
    let text = '';
    for (let attempt = 0; attempt < 50 && text === ''; attempt++) {
      const response = await fetch(metricsUrl).catch(() => undefined);
      if (response?.status === 200) text = await response.text();
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(text).toMatch(/phantomdb_build_info\{[^}]*cluster_id="c1",node="0"\} 1/);
    expect(text).toContain('phantomdb_raft_role{role="leader",node="0"} 0');
    expect((await admin.assignIdentity(kvAddress, 6)).nodeId).toBe(6);
    await expect(waiting).resolves.toBe(6);
    await expect(fetch(metricsUrl)).rejects.toThrow();
  });
});
