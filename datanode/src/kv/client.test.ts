/**
 * The client library follows the `ph-served-by` header a node adds when it forwarded a request:
 * its next calls go to the node that served (the range's leader), so it pays the forwarding hop
 * once, not on every request. Two real gRPC servers with the KV service over fake backends.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Command } from './command.ts';
import { KvClient } from './client.ts';
import { defaultKvLimits } from './limits.ts';
import { addKvServices, type KvBackend, type ServedElsewhere } from './service.ts';
import type { ApplyResult } from './state-machine.ts';

interface FakeNode {
  readonly address: string;
  /** Requests this node received. */
  readonly received: string[];
  server: grpc.Server;
}

const servers: grpc.Server[] = [];
const clients: KvClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) server.forceShutdown();
});

/** A node whose backend serves everything itself, or says it forwarded to `forwardsTo()`. */
async function startNode(name: string, forwardsTo: () => string | undefined): Promise<FakeNode> {
  const received: string[] = [];
  const served = (what: string, servedElsewhere?: ServedElsewhere): void => {
    received.push(what);
    const other = forwardsTo();
    if (other !== undefined) servedElsewhere?.(other);
  };
  const backend: KvBackend = {
    clusterId: 'c',
    limits: defaultKvLimits,
    write: (command: Command, _deadlineMs, _forwarded, servedElsewhere): Promise<ApplyResult> => {
      served(`${command.op}`, servedElsewhere);
      return Promise.resolve({ op: 'put' });
    },
    get: (_key, _deadlineMs, _forwarded, servedElsewhere) => {
      served('get', servedElsewhere);
      return Promise.resolve(Buffer.from(name));
    },
    scan: (_start, _end, _rowsMax, _bytesMax, _deadlineMs, _forwarded, servedElsewhere) => {
      served('scan', servedElsewhere);
      return Promise.resolve({ rows: [], more: false });
    },
    recordRanges: () => Promise.resolve(),
    join: () => Promise.resolve(new Map()),
    heartbeat: () => Promise.resolve(),
    changeReplicas: () => Promise.resolve(true),
  };
  const server = new grpc.Server();
  addKvServices(server, backend);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))));
  servers.push(server);
  return { address: `127.0.0.1:${port}`, received, server };
}

describe('KvClient and the served-by header', () => {
  it('sends its next requests to the node that served a forwarded one', async () => {
    const leader = await startNode('leader', () => undefined);
    const follower = await startNode('follower', () => leader.address);
    const client = new KvClient({ endpoints: [follower.address, leader.address], clusterId: 'c' });
    clients.push(client);
    await client.put('k', 'v');
    expect(follower.received).toEqual(['put']);
    expect(leader.received).toEqual([]);
    for (let i = 0; i < 5; i++) await client.put(`k${i}`, 'v');
    expect((await client.get('k'))?.toString()).toBe('leader');
    expect(follower.received).toEqual(['put']);
    expect(leader.received).toEqual(['put', 'put', 'put', 'put', 'put', 'get']);
  });

  it('ignores a served-by address that is not one of its endpoints (it may not be reachable from the client)', async () => {
    const behindService = await startNode('service', () => '10.0.0.1:26257');
    const other = await startNode('other', () => undefined);
    const client = new KvClient({ endpoints: [behindService.address, other.address], clusterId: 'c' });
    clients.push(client);
    for (let i = 0; i < 3; i++) await client.put(`k${i}`, 'v');
    expect(behindService.received).toEqual(['put', 'put', 'put']);
    expect(other.received).toEqual([]);
  });

  it('stays on a node that serves requests itself', async () => {
    const first = await startNode('first', () => undefined);
    const second = await startNode('second', () => undefined);
    const client = new KvClient({ endpoints: [first.address, second.address], clusterId: 'c' });
    clients.push(client);
    await client.scan('a', 'z', 10);
    await client.delete('a');
    expect(first.received).toEqual(['scan', 'delete']);
    expect(second.received).toEqual([]);
  });
});
