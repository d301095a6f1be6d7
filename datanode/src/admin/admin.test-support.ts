/**
 * Admin API test fixtures: a backend whose every required call is refused (a test fills in the
 * ones it exercises), and real loopback gRPC servers with an AdminClient each, all closed by
 * `close()` (call it from `afterEach`).
 */
import * as grpc from '@grpc/grpc-js';
import type { AdminBackend } from './backend.ts';
import { AdminClient } from './client.ts';
import { AdminError } from './errors.ts';

const notUsed = (): Promise<never> => Promise.reject(new AdminError('PH_BAD_REQUEST', 'not used in this test'));

/** An AdminBackend of cluster 'c1' refusing every required call but those in `parts`. */
export function stubAdminBackend<T extends Partial<AdminBackend>>(parts: T): AdminBackend & T {
  return {
    clusterId: 'c1',
    nodeInfo: notUsed,
    assignIdentity: notUsed,
    clusterStatus: notUsed,
    addLearner: notUsed,
    promote: notUsed,
    decommission: notUsed,
    recommission: notUsed,
    drain: notUsed,
    transferLeadership: notUsed,
    rangeList: notUsed,
    ...parts,
  };
}

export class AdminTestServers {
  private readonly servers: grpc.Server[] = [];
  private readonly clients: AdminClient[] = [];

  /** A server on a loopback port with the services `register` adds, and a client of cluster 'c1' for it. */
  async serve(register: (server: grpc.Server) => void): Promise<AdminClient> {
    const server = new grpc.Server();
    register(server);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))));
    this.servers.push(server);
    const client = new AdminClient({ endpoints: [`127.0.0.1:${port}`], clusterId: 'c1', backoffInitialMs: 5, backoffMaxMs: 20, deadlineMs: 3000 });
    this.clients.push(client);
    return client;
  }

  async close(): Promise<void> {
    for (const client of this.clients.splice(0)) client.close();
    await Promise.all(this.servers.splice(0).map((server) => new Promise<void>((resolve) => server.tryShutdown(() => resolve()))));
  }
}
