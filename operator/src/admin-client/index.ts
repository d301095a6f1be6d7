/**
 * How the operator reaches the data nodes' admin API: the `ClusterAdmin` calls the controller
 * makes, and an `AdminConnector` that hands out one per cluster. The production connector wraps
 * the typed gRPC client (datanode/src/admin); tests can give a simulated cluster instead.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { AdminClient, type BackupDestinationSpec, type BackupProgressReport, type BackupSpec, type ClusterStatus, type DecommissionProgress, type DrainProgress, type FinalizeResult, type Member, type NodeInfo } from '../../../datanode/src/admin/index.ts';
import { ports } from '../resources/index.ts';

export type { ClusterStatus, DecommissionProgress, DrainProgress, FinalizeResult, Member, NodeInfo, NodeStatus } from '../../../datanode/src/admin/index.ts';
export type { BackupDestinationSpec, BackupProgressReport, BackupSpec } from '../../../datanode/src/admin/index.ts';
export { AdminError } from '../../../datanode/src/admin/index.ts';

/** The admin calls the controllers make on one cluster. */
export interface ClusterAdmin {
  /** Identity of the node at `address` (that node answers, never another). */
  nodeInfo(address: string): Promise<NodeInfo>;
  /** Gives the new node at `address` (NodeInfo id 0) its id; idempotent, PH_IDENTITY_CONFLICT if it has another. */
  assignIdentity(address: string, nodeId: number): Promise<NodeInfo>;
  clusterStatus(): Promise<ClusterStatus>;
  addLearner(nodeId: number, address: string): Promise<readonly Member[]>;
  promote(nodeId: number): Promise<readonly Member[]>;
  decommission(nodeId: number): Promise<DecommissionProgress>;
  recommission(nodeId: number): Promise<DecommissionProgress>;
  /** Starts or reports moving every lease (leadership) off `nodeId`; idempotent. */
  drain(nodeId: number): Promise<DrainProgress>;
  /** Raises the data nodes' cluster version to `targetVersion` ('' : what every node runs); PH_FINALIZE_REFUSED names the nodes in the way. */
  finalizeClusterVersion(targetVersion: string): Promise<FinalizeResult>;
  /** Starts a backup or reports its progress (idempotent by backup id); absent: not supported. */
  backup?(spec: BackupSpec): Promise<BackupProgressReport>;
  /** The progress of a backup, as the node running it knows it. */
  backupStatus?(backupId: string): Promise<BackupProgressReport>;
  /** Deletes a backup's objects through a data node (a volume only the data pods mount); answers how many. */
  deleteBackup?(backupId: string, destination: BackupDestinationSpec): Promise<number>;
}

export interface AdminConnector {
  /**
   * Admin access to the cluster `key` (namespace/name) with data node cluster id `clusterId`,
   * through `endpoints` (the admin addresses of its pods). Calls with the same key reuse one
   * connection set, updated to the latest endpoints.
   */
  forCluster(key: string, clusterId: string, endpoints: readonly string[]): ClusterAdmin;
  /** Forgets a cluster (it was deleted). */
  release(key: string): void;
  close(): void;
}

/**
 * The admin address of a data node pod: its IP and the port of the node's client gRPC server,
 * which serves the Admin service next to the KV API (the Raft transport on ports.peer does not);
 * undefined before it has an IP.
 */
export function podAdminAddress(pod: V1Pod): string | undefined {
  const ip = pod.status?.podIP;
  if (ip === undefined || ip === '') return undefined;
  return ip.includes(':') ? `[${ip}]:${ports.kv}` : `${ip}:${ports.kv}`;
}

export interface GrpcAdminConnectorOptions {
  /** Overall deadline of one admin call (retries included). Reconciles must not block long. */
  readonly callDeadlineMs?: number;
  readonly attemptDeadlineMs?: number;
}

/** ClusterAdmin over the typed gRPC client, one client per cluster. */
export class GrpcAdminConnector implements AdminConnector {
  private readonly clients = new Map<string, AdminClient>();

  constructor(private readonly options: GrpcAdminConnectorOptions = {}) {}

  forCluster(key: string, clusterId: string, endpoints: readonly string[]): ClusterAdmin {
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new AdminClient({ endpoints, clusterId, deadlineMs: this.options.callDeadlineMs ?? 5_000, attemptDeadlineMs: this.options.attemptDeadlineMs ?? 2_000 });
      this.clients.set(key, client);
    } else {
      client.setEndpoints(endpoints);
    }
    const bound = client;
    return {
      nodeInfo: (address) => bound.nodeInfo(address, { deadlineMs: 2_000 }),
      assignIdentity: (address, nodeId) => bound.assignIdentity(address, nodeId, { deadlineMs: 3_000 }),
      clusterStatus: () => bound.clusterStatus(),
      addLearner: (nodeId, address) => bound.addLearner(nodeId, address),
      promote: (nodeId) => bound.promote(nodeId),
      decommission: (nodeId) => bound.decommission(nodeId),
      recommission: (nodeId) => bound.recommission(nodeId),
      drain: (nodeId) => bound.drain(nodeId),
      finalizeClusterVersion: (targetVersion) => bound.finalizeClusterVersion(targetVersion),
      backup: (spec) => bound.backup(spec),
      backupStatus: (backupId) => bound.backupStatus(backupId),
      deleteBackup: (backupId, destination) => bound.deleteBackup(backupId, destination),
    };
  }

  release(key: string): void {
    this.clients.get(key)?.close();
    this.clients.delete(key);
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
