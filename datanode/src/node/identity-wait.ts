/**
 * A new StatefulSet pod (ordinal > 0, empty data directory) has no node id yet: ids are never
 * reused, so the id cannot come from the ordinal (a pod recreated after a scale-in would come
 * back under an id the cluster refuses forever). Until the operator gives it one, the node serves
 * only what the operator needs to find it, on its usual ports:
 * - Admin NodeInfo (node id 0, not initialized, its Raft address) and AssignIdentity(id), which
 *   records the id in the data directory's IDENTITY (fsynced) before answering; the same id
 *   again answers success, another id is refused with PH_IDENTITY_CONFLICT. Every other admin
 *   call answers PH_NOT_LEADER with no leader known (as an uninitialized node does, so clients
 *   rotate to another node); KV calls answer PH_UNAVAILABLE;
 * - HTTP /healthz (alive), /readyz 503 (not ready), /status.
 * Once assigned, these servers close and the node starts as usual with that id (uninitialized,
 * until the operator's AddLearner has reached it). See k8s-identity.ts and the operator's
 * joinNodes (operator/src/controllers/cluster-steps.ts).
 */
import * as grpc from '@grpc/grpc-js';
import type { RangeInfo, AdminBackend, ClusterStatus, DecommissionProgress, DrainProgress, Member, NodeInfo } from '../admin/backend.ts';
import { AdminError, NotLeaderError } from '../admin/errors.ts';
import { addAdminService } from '../admin/service.ts';
import { startHttpServer, type NodeStatus } from '../http/server.ts';
import { NodeMetrics } from '../metrics/node-metrics.ts';
import type { ApplyResult, ScanRow } from '../kv/state-machine.ts';
import { KvError } from '../kv/errors.ts';
import { defaultKvLimits, type KvLimits } from '../kv/limits.ts';
import { addKvServices, type KvBackend } from '../kv/service.ts';
import type { MemberAddress } from '../kv/command.ts';
import type { NodeId } from '../raft/types.ts';
import { checkOrRecordIdentity, IdentityMismatchError, readIdentity } from './identity.ts';

export interface PendingIdentityOptions {
  readonly clusterId: string;
  readonly dataDir: string;
  /** The Raft address the node will advertise (host:port), reported by NodeInfo. */
  readonly raftAddress: string;
  readonly version: string;
  readonly log: (line: string) => void;
  /** Serve /metrics while waiting (process metrics and the waiting status, node="0"), so scrapes do not fail. */
  readonly metrics?: boolean;
}

/** Calls for the leader answer as on any node that knows no leader (clients try another node). */
function notInitialized<T>(): Promise<T> {
  return Promise.reject(new NotLeaderError(0, ''));
}

/** The AdminBackend of a node waiting for its id (see the file comment). */
export class PendingIdentityAdmin implements AdminBackend {
  readonly clusterId: string;
  /** Resolves with the id once it is recorded. */
  readonly assigned: Promise<NodeId>;
  private nodeId: NodeId | undefined;
  private resolveAssigned: (nodeId: NodeId) => void = () => undefined;

  constructor(private readonly options: PendingIdentityOptions) {
    this.clusterId = options.clusterId;
    this.assigned = new Promise((resolve) => (this.resolveAssigned = resolve));
    const stored = readIdentity(options.dataDir);
    if (stored !== undefined && stored.clusterId === options.clusterId) this.record(stored.nodeId);
  }

  nodeInfo(): Promise<NodeInfo> {
    return Promise.resolve({ nodeId: this.nodeId ?? 0, clusterId: this.clusterId, address: this.options.raftAddress, initialized: false, leaderId: 0, version: this.options.version, locality: '' });
  }

  assignIdentity(nodeId: number): Promise<NodeInfo> {
    if (this.nodeId !== undefined && this.nodeId !== nodeId) {
      return Promise.reject(new AdminError('PH_IDENTITY_CONFLICT', `this node is node ${this.nodeId}; it cannot become node ${nodeId}`));
    }
    if (this.nodeId === undefined) {
      try {
        checkOrRecordIdentity(this.options.dataDir, { clusterId: this.clusterId, nodeId });
      } catch (err) {
        if (err instanceof IdentityMismatchError) return Promise.reject(new AdminError('PH_IDENTITY_CONFLICT', err.message));
        throw err;
      }
      this.options.log(`identity: the operator assigned node id ${nodeId}; recorded in ${this.options.dataDir}`);
      this.record(nodeId);
    }
    return this.nodeInfo();
  }

  private record(nodeId: NodeId): void {
    this.nodeId = nodeId;
    this.resolveAssigned(nodeId);
  }

  clusterStatus(): Promise<ClusterStatus> {
    return notInitialized();
  }
  addLearner(): Promise<readonly Member[]> {
    return notInitialized();
  }
  promote(): Promise<readonly Member[]> {
    return notInitialized();
  }
  decommission(): Promise<DecommissionProgress> {
    return notInitialized();
  }
  recommission(): Promise<DecommissionProgress> {
    return notInitialized();
  }
  drain(): Promise<DrainProgress> {
    return notInitialized();
  }
  transferLeadership(): Promise<number> {
    return notInitialized();
  }
  rangeList(): Promise<readonly RangeInfo[]> {
    return notInitialized();
  }
}

/** KV calls on a node without an id: PH_UNAVAILABLE, so clients try another node. */
class UnavailableKv implements KvBackend {
  readonly limits: KvLimits = defaultKvLimits;
  constructor(readonly clusterId: string) {}
  private unavailable<T>(): Promise<T> {
    return Promise.reject(new KvError('PH_UNAVAILABLE', 'this node has no node id yet: it waits for the operator'));
  }
  write(): Promise<ApplyResult> {
    return this.unavailable();
  }
  get(): Promise<Buffer | undefined> {
    return this.unavailable();
  }
  scan(): Promise<{ rows: ScanRow[]; more: boolean }> {
    return this.unavailable();
  }
  join(): Promise<ReadonlyMap<number, MemberAddress>> {
    return this.unavailable();
  }
  recordRanges(): Promise<void> {
    return this.unavailable();
  }
  heartbeat(): Promise<void> {
    return this.unavailable();
  }
  changeReplicas(): Promise<boolean> {
    return this.unavailable();
  }
}

export interface PendingIdentityListen {
  /** The client gRPC address (Admin + KV), as --kv-listen. */
  readonly kvListen: string;
  readonly httpListen: string;
}

/**
 * Serves NodeInfo/AssignIdentity (and the health endpoints) until the id is assigned, then
 * closes those servers and returns the id. A data directory that already records an id of this
 * cluster returns it at once.
 */
export async function waitForAssignedIdentity(options: PendingIdentityOptions, listen: PendingIdentityListen): Promise<NodeId> {
  const admin = new PendingIdentityAdmin(options);
  const server = new grpc.Server();
  addAdminService(server, admin);
  addKvServices(server, new UnavailableKv(options.clusterId));
  await new Promise<number>((resolve, reject) => server.bindAsync(listen.kvListen, grpc.ServerCredentials.createInsecure(), (err, port) => (err === null ? resolve(port) : reject(err))));
  const status = (): NodeStatus => ({
    nodeId: 0,
    clusterId: options.clusterId,
    address: '',
    raftAddress: options.raftAddress,
    role: 'waiting-for-id',
    term: 0,
    leaderId: 0,
    leaderAddress: '',
    commitIndex: 0,
    appliedIndex: 0,
    lastIndex: 0,
    voters: [],
    learners: [],
    peers: [],
  });
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  try {
    const metrics = options.metrics === true ? new NodeMetrics({ status }, { nodeId: 0, clusterId: options.clusterId }) : undefined;
    http = await startHttpServer(listen.httpListen, { status, notReadyReason: () => 'waiting for a node id from the operator' }, metrics === undefined ? {} : { metrics });
    options.log(`identity: new data directory without a node id; waiting for the operator's AssignIdentity (NodeInfo answers node id 0 at ${listen.kvListen})`);
    return await admin.assigned;
  } finally {
    // In-flight calls (the AssignIdentity being answered) finish first.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await http?.server.close();
  }
}
