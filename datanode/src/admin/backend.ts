/**
 * What the admin service needs from a data node: the `AdminBackend` the node implements. The
 * service (service.ts) validates requests, maps these types to and from admin.proto, and turns
 * `AdminError`s into gRPC statuses; the backend does the work on the node's Raft groups.
 *
 * Contract for implementers:
 * - Every mutating method is idempotent (see admin.proto): asking for a state that already holds
 *   succeeds and returns the current state.
 * - Methods that need the cluster's leader throw `NotLeaderError` (with the leader's id and
 *   address when known) on other nodes; the client follows it. `nodeInfo` never redirects.
 * - `deadlineMs` is the time the call may take; work that needs longer (moving replicas) is
 *   started and reported as progress, never awaited past the deadline.
 * - Expected refusals are `AdminError`s with a code from errors.ts; anything else is reported to
 *   the caller as an internal error.
 */
import type { S3StoreConfig } from '../backup/store.ts';

export type MembershipState = 'LEARNER' | 'VOTER' | 'DECOMMISSIONING' | 'DECOMMISSIONED';
export type LivenessState = 'LIVE' | 'SUSPECT' | 'DEAD';
export type RaftRoleName = 'LEADER' | 'FOLLOWER' | 'CANDIDATE' | 'LEARNER_ROLE';

/** A node's own view of itself. */
export interface NodeInfo {
  readonly nodeId: number;
  readonly clusterId: string;
  /** The gRPC address (host:port) the node advertises to its peers. */
  readonly address: string;
  /** Whether it belongs to a cluster yet (bootstrapped one or was added as a learner). */
  readonly initialized: boolean;
  /** The leader it knows of, 0 when none. */
  readonly leaderId: number;
  readonly version: string;
  readonly locality: string;
  /** The oldest cluster version its binary can run (it runs up to `version`). */
  readonly clusterVersionMin?: string;
  /** The cluster version as this node knows it ('' before it has the meta range's state). */
  readonly clusterVersion?: string;
}

export interface RaftProgress {
  readonly role: RaftRoleName;
  readonly term: bigint;
  readonly matchIndex: bigint;
  readonly appliedIndex: bigint;
  /** Close enough to the leader's log to be promoted or counted as healthy. */
  readonly caughtUp: boolean;
}

export interface NodeStatus {
  readonly nodeId: number;
  readonly address: string;
  readonly membership: MembershipState;
  readonly liveness: LivenessState;
  readonly raft: RaftProgress | undefined;
  /** Range replicas held by the node. */
  readonly replicas: number;
  /** Range leases (leaderships) held by the node. */
  readonly leases: number;
  /** The node's binary version ('' when not known: the leader has not had a handshake with it). */
  readonly version: string;
  readonly locality: string;
  /** The oldest cluster version the node's binary can run ('' when not known). */
  readonly clusterVersionMin?: string;
}

export interface ClusterStatus {
  readonly clusterId: string;
  /** 0 when no leader is known. */
  readonly leaderId: number;
  readonly nodes: readonly NodeStatus[];
  readonly groups: number;
  readonly ranges: number;
  readonly underReplicatedRanges: number;
  readonly unavailableRanges: number;
  readonly replicationFactor: number;
  /** The highest node id the cluster has recorded (members, removed nodes, address book): new ids go above it. */
  readonly highestNodeId: number;
  /** The cluster version (the meta range's record). */
  readonly clusterVersion?: string;
}

/** What FinalizeClusterVersion did. */
export interface FinalizeResult {
  /** The cluster version after the call. */
  readonly clusterVersion: string;
  /** The cluster version before it. */
  readonly previousVersion: string;
}

export interface Member {
  readonly nodeId: number;
  readonly address: string;
  readonly membership: MembershipState;
}

export interface DecommissionProgress {
  readonly nodeId: number;
  readonly membership: MembershipState;
  readonly replicasRemaining: number;
  readonly leasesRemaining: number;
  /** The node holds nothing and has left the membership. */
  readonly done: boolean;
  /** Bytes of the ranges the node still holds a replica of (0 when unknown). */
  readonly bytesRemaining?: number;
  /** Estimated seconds until done; null while unknown. */
  readonly etaSeconds?: number | null;
}

export interface DrainProgress {
  readonly nodeId: number;
  readonly leasesRemaining: number;
  readonly done: boolean;
}

/** One range as the admin API lists it. */
export interface RangeInfo {
  readonly rangeId: number;
  readonly startKey: Buffer;
  /** Empty: to the end of the keyspace. */
  readonly endKey: Buffer;
  /** The meta range (no user keys). */
  readonly meta: boolean;
  readonly generation: number;
  readonly replicas: readonly { readonly nodeId: number; readonly voter: boolean }[];
  /** 0: no leader known. */
  readonly leaderId: number;
  readonly underReplicated: boolean;
  readonly unavailable: boolean;
}

/** One move of a rebalance plan. */
export interface PlannedMove {
  readonly kind: 'AddLearner' | 'PromoteLearner' | 'DemoteVoter' | 'RemoveReplica' | 'TransferLease';
  readonly rangeId: number;
  /** The node the replica is added to, promoted, demoted or removed on; the lease's new holder. */
  readonly nodeId: number;
  readonly bytes: number;
  readonly reason: string;
}

/** A rebalance plan: a dry run of the placement planner on the current snapshot. */
export interface RebalancePlanInfo {
  readonly moves: readonly PlannedMove[];
  readonly moveCount: number;
  readonly bytesToCopy: number;
  readonly converged: boolean;
  /** Every node that can host replicas is inside the count band now. */
  readonly balanced: boolean;
  readonly nodes: readonly {
    readonly nodeId: number;
    readonly replicasBefore: number;
    readonly replicasAfter: number;
    readonly leasesBefore: number;
    readonly leasesAfter: number;
    readonly bytesBefore: number;
    readonly bytesAfter: number;
  }[];
}

/** Implemented by the data node (datanode/src/node). See the contract above. */
/** Where a backup goes: a directory (a mounted volume) or an S3-compatible bucket. */
export type BackupDestinationSpec = { readonly kind: 'volume'; readonly path: string } | ({ readonly kind: 's3' } & S3StoreConfig);

export interface BackupSpec {
  readonly backupId: string;
  readonly type: 'full' | 'incremental';
  /** The previous backup of the chain (incremental only). */
  readonly parentBackupId?: string;
  readonly destination: BackupDestinationSpec;
}

export type BackupPhase = 'UNKNOWN' | 'RUNNING' | 'COMPLETED' | 'FAILED';

export interface BackupProgressReport {
  readonly backupId: string;
  readonly phase: BackupPhase;
  /** HLC text `<wallMs>.<logical>` ('' until picked). */
  readonly backupTimestamp: string;
  readonly rangesDone: number;
  readonly rangesTotal: number;
  readonly bytesDone: number;
  readonly totalBytes: number;
  readonly verified: boolean;
  readonly message: string;
}

export interface ExportRangeSpec {
  readonly rangeId: number;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
  /** Packed HLC timestamps; since undefined: a full export. */
  readonly at: bigint;
  readonly since: bigint | undefined;
}

/** A piece of an exported file; the file's last piece carries its description. */
export interface ExportChunk {
  readonly fileIndex: number;
  readonly data: Buffer;
  readonly fileEnd: boolean;
  readonly entries: number;
  readonly fileBytes: number;
  readonly smallestKey: Buffer;
  readonly largestKey: Buffer;
}

export interface AdminBackend {
  readonly clusterId: string;
  /** This node's identity; nodeId 0 while a new node waits for `assignIdentity`. */
  nodeInfo(): Promise<NodeInfo>;
  /**
   * Gives this (new) node its id, recorded durably before it resolves; the same id again
   * succeeds, another one throws PH_IDENTITY_CONFLICT. Answered by the node itself.
   */
  assignIdentity(nodeId: number, deadlineMs: number): Promise<NodeInfo>;
  clusterStatus(deadlineMs: number): Promise<ClusterStatus>;
  /** Adds `nodeId` at `address` as a learner (leader only); returns the members after. */
  addLearner(nodeId: number, address: string, deadlineMs: number): Promise<readonly Member[]>;
  /** Makes a caught-up learner a voter; throws PH_NOT_CAUGHT_UP while it lags. */
  promote(nodeId: number, deadlineMs: number): Promise<readonly Member[]>;
  /** Starts or reports the decommission; throws PH_DECOMMISSION_REFUSED when it would lose the replication factor. */
  decommission(nodeId: number, deadlineMs: number): Promise<DecommissionProgress>;
  /** Cancels an unfinished decommission; PH_ALREADY_DECOMMISSIONED once it finished. */
  recommission(nodeId: number, deadlineMs: number): Promise<DecommissionProgress>;
  /** Starts or reports moving every lease off `nodeId`. */
  drain(nodeId: number, deadlineMs: number): Promise<DrainProgress>;
  /** Moves leadership to `targetNodeId` (0: any suitable voter); returns the new leader. */
  transferLeadership(targetNodeId: number, deadlineMs: number): Promise<number>;
  /** Every range the meta leader knows, in range id order (leader only). */
  rangeList(deadlineMs: number): Promise<readonly RangeInfo[]>;
  /**
   * Raises the cluster version to `targetVersion` ('' : the oldest binary among the members)
   * once every member is LIVE and runs a binary that can run it; PH_FINALIZE_REFUSED naming the
   * nodes otherwise (leader only). Absent on a node that cannot finalize (no id yet).
   */
  finalizeClusterVersion?(targetVersion: string, deadlineMs: number): Promise<FinalizeResult>;
  /** Starts or reports a backup (the meta range's leader only; absent: backups not supported). */
  backup?(spec: BackupSpec, deadlineMs: number): Promise<BackupProgressReport>;
  /** The progress of a backup this node runs or ran. */
  backupStatus?(backupId: string): Promise<BackupProgressReport>;
  /** Deletes every object of backup `backupId` at `destination` as this node reaches it; answers how many. */
  deleteBackup?(backupId: string, destination: BackupDestinationSpec): Promise<number>;
  /** Exports a piece of a range as of a timestamp (the range's leader only). */
  exportRange?(spec: ExportRangeSpec, signal: AbortSignal): AsyncIterable<ExportChunk>;
  /** The rebalance plan (dry run) from the current snapshot (meta leader only). */
  rebalancePlan?(deadlineMs: number): Promise<RebalancePlanInfo>;
  /** Wakes the placement driver to plan now; answers the dry-run plan (meta leader only). */
  rebalanceNow?(deadlineMs: number): Promise<RebalancePlanInfo>;
}
