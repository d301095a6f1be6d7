/**
 * A typed client of the Admin service. Every call has an overall deadline; attempts have their
 * own. Because every admin call is idempotent (admin.proto), a call is retried with capped
 * exponential backoff on transient failures — unreachable node, no leader yet, a learner not
 * caught up, a membership change in flight — rotating over the endpoints and following
 * PH_NOT_LEADER redirects to the leader.
 */
import * as grpc from '@grpc/grpc-js';
import type { AdminClient as AdminStub } from '../../proto/generated/phantomdb/admin/v1/Admin.ts';
import type { ClusterStatusResponse__Output } from '../../proto/generated/phantomdb/admin/v1/ClusterStatusResponse.ts';
import type { DecommissionProgress__Output } from '../../proto/generated/phantomdb/admin/v1/DecommissionProgress.ts';
import type { Member__Output } from '../../proto/generated/phantomdb/admin/v1/Member.ts';
import type { AddLearnerResponse__Output } from '../../proto/generated/phantomdb/admin/v1/AddLearnerResponse.ts';
import type { DrainProgress__Output } from '../../proto/generated/phantomdb/admin/v1/DrainProgress.ts';
import type { RebalancePlanResponse__Output } from '../../proto/generated/phantomdb/admin/v1/RebalancePlanResponse.ts';
import type { NodeInfoResponse__Output } from '../../proto/generated/phantomdb/admin/v1/NodeInfoResponse.ts';
import type { PromoteResponse__Output } from '../../proto/generated/phantomdb/admin/v1/PromoteResponse.ts';
import type { TransferLeadershipResponse__Output } from '../../proto/generated/phantomdb/admin/v1/TransferLeadershipResponse.ts';
import type { RangeListResponse__Output } from '../../proto/generated/phantomdb/admin/v1/RangeListResponse.ts';
import type { BackupProgress__Output } from '../../proto/generated/phantomdb/admin/v1/BackupProgress.ts';
import type { FinalizeClusterVersionResponse__Output } from '../../proto/generated/phantomdb/admin/v1/FinalizeClusterVersionResponse.ts';
import type { BackupRequest } from '../../proto/generated/phantomdb/admin/v1/BackupRequest.ts';
import type { DeleteBackupResponse__Output } from '../../proto/generated/phantomdb/admin/v1/DeleteBackupResponse.ts';
import type { BackupDestinationSpec, BackupPhase, BackupProgressReport, BackupSpec, ClusterStatus, DecommissionProgress, DrainProgress, FinalizeResult, LivenessState, Member, MembershipState, NodeInfo, PlannedMove, RaftRoleName, RangeInfo, RebalancePlanInfo } from './backend.ts';
import { RpcClientCore, isUnreachableStatus, readAttemptFailure, reconnectChannelOptions, retryBudgetOf, type Attempt, type RetryBudget, type RetryPolicy, type RpcClientOptions } from '../rpc/client-core.ts';
import { AdminError, NotLeaderError, isAdminErrorCode } from './errors.ts';
import { adminMetadataKeys, adminProto } from './proto.ts';

/** Endpoints, cluster id and retry budget of a AdminClient; what it leaves out is taken from `adminRetryDefaults`. */
export type AdminClientOptions = RpcClientOptions;

/** Overall deadline 10 s, 3 s per attempt, backoff from 50 ms to 1000 ms, at most 10 attempts. */
export const adminRetryDefaults: RetryBudget = { deadlineMs: 10_000, attemptDeadlineMs: 3_000, backoffInitialMs: 50, backoffMaxMs: 1_000, attemptsMax: 10 };

export interface AdminCallOptions {
  readonly deadlineMs?: number;
}

const memberships: ReadonlySet<string> = new Set<MembershipState>(['LEARNER', 'VOTER', 'DECOMMISSIONING', 'DECOMMISSIONED']);
const livenesses: ReadonlySet<string> = new Set<LivenessState>(['LIVE', 'SUSPECT', 'DEAD']);
const roles: ReadonlySet<string> = new Set<RaftRoleName>(['LEADER', 'FOLLOWER', 'CANDIDATE', 'LEARNER_ROLE']);

function membershipOf(value: string): MembershipState {
  if (!memberships.has(value)) throw new AdminError('PH_BAD_REQUEST', `node answered an unknown membership ${JSON.stringify(value)}`);
  return value as MembershipState;
}

/** An unspecified liveness (an older node) reads as SUSPECT: not known to be live. */
function livenessOf(value: string): LivenessState {
  return livenesses.has(value) ? (value as LivenessState) : 'SUSPECT';
}

function roleOf(value: string): RaftRoleName {
  return roles.has(value) ? (value as RaftRoleName) : 'FOLLOWER';
}

function nodeIdOf(value: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id < 0) throw new AdminError('PH_BAD_REQUEST', `node answered an invalid node id ${value}`);
  return id;
}

function memberOf(message: Member__Output): Member {
  return { nodeId: nodeIdOf(message.nodeId), address: message.address, membership: membershipOf(message.membership) };
}

function clusterStatusOf(message: ClusterStatusResponse__Output): ClusterStatus {
  return {
    clusterId: message.clusterId,
    leaderId: nodeIdOf(message.leaderId),
    nodes: message.nodes.map((node) => ({
      nodeId: nodeIdOf(node.nodeId),
      address: node.address,
      membership: membershipOf(node.membership),
      liveness: livenessOf(node.liveness),
      raft:
        node.raft === null
          ? undefined
          : { role: roleOf(node.raft.role), term: BigInt(node.raft.term), matchIndex: BigInt(node.raft.matchIndex), appliedIndex: BigInt(node.raft.appliedIndex), caughtUp: node.raft.caughtUp },
      replicas: node.replicas,
      leases: node.leases,
      version: node.version,
      locality: node.locality,
      clusterVersionMin: node.clusterVersionMin,
    })),
    groups: message.groups,
    ranges: message.ranges,
    underReplicatedRanges: message.underReplicatedRanges,
    unavailableRanges: message.unavailableRanges,
    replicationFactor: message.replicationFactor,
    highestNodeId: nodeIdOf(message.highestNodeId),
    clusterVersion: message.clusterVersion,
  };
}

function progressOf(message: DecommissionProgress__Output): DecommissionProgress {
  return {
    nodeId: nodeIdOf(message.nodeId),
    membership: membershipOf(message.membership),
    replicasRemaining: message.replicasRemaining,
    leasesRemaining: message.leasesRemaining,
    done: message.done,
    bytesRemaining: Number(message.bytesRemaining),
    etaSeconds: Number(message.etaSeconds) < 0 ? null : Number(message.etaSeconds),
  };
}

const plannedMoveKinds: ReadonlySet<string> = new Set(['AddLearner', 'PromoteLearner', 'DemoteVoter', 'RemoveReplica', 'TransferLease']);

function rebalancePlanOf(message: RebalancePlanResponse__Output): RebalancePlanInfo {
  return {
    moves: message.moves.map((move) => {
      if (!plannedMoveKinds.has(move.kind)) throw new AdminError('PH_BAD_REQUEST', `unknown move kind ${JSON.stringify(move.kind)}`);
      return { kind: move.kind as PlannedMove['kind'], rangeId: Number(move.rangeId), nodeId: nodeIdOf(move.nodeId), bytes: Number(move.bytes), reason: move.reason };
    }),
    moveCount: message.moveCount,
    bytesToCopy: Number(message.bytesToCopy),
    converged: message.converged,
    balanced: message.balanced,
    nodes: message.nodes.map((node) => ({
      nodeId: nodeIdOf(node.nodeId),
      replicasBefore: node.replicasBefore,
      replicasAfter: node.replicasAfter,
      leasesBefore: node.leasesBefore,
      leasesAfter: node.leasesAfter,
      bytesBefore: Number(node.bytesBefore),
      bytesAfter: Number(node.bytesAfter),
    })),
  };
}

const backupPhases: ReadonlySet<string> = new Set<BackupPhase>(['UNKNOWN', 'RUNNING', 'COMPLETED', 'FAILED']);

function backupProgressOf(message: BackupProgress__Output): BackupProgressReport {
  if (!backupPhases.has(message.phase)) throw new AdminError('PH_BAD_REQUEST', `node answered an unknown backup phase ${JSON.stringify(message.phase)}`);
  return {
    backupId: message.backupId,
    phase: message.phase as BackupPhase,
    backupTimestamp: message.backupTimestamp,
    rangesDone: message.rangesDone,
    rangesTotal: message.rangesTotal,
    bytesDone: Number(message.bytesDone),
    totalBytes: Number(message.totalBytes),
    verified: message.verified,
    message: message.message,
  };
}

/** Admin calls are all idempotent: every transient failure is retried, anything else is final. */
const adminRetryPolicy: RetryPolicy<AdminError> = {
  judge(err) {
    const error = classify(err);
    return { error, leaderAddress: error instanceof NotLeaderError ? error.leaderAddress : '', next: error.retriable ? 'retry' : 'fail' };
  },
  noAttemptError: () => new AdminError('PH_DEADLINE_EXCEEDED', 'no attempt made before the deadline'),
  exhausted: (lastError) => new AdminError(lastError.code, `gave up after retries: ${lastError.message}`),
};

/** A backup destination as the admin protocol's `volume` / `s3` fields (Backup, DeleteBackup, BackupRange). */
export function destinationFields(destination: BackupDestinationSpec): Pick<BackupRequest, 'volume' | 's3'> {
  if (destination.kind === 'volume') return { volume: { path: destination.path } };
  return {
    s3: {
      bucket: destination.bucket,
      prefix: destination.prefix,
      region: destination.region,
      endpoint: destination.endpoint ?? '',
      forcePathStyle: destination.forcePathStyle,
      accessKeyId: destination.credentials?.accessKeyId ?? '',
      secretAccessKey: destination.credentials?.secretAccessKey ?? '',
    },
  };
}

export class AdminClient {
  private readonly core: RpcClientCore<AdminStub, AdminError>;

  constructor(options: AdminClientOptions) {
    if (options.endpoints.length === 0) throw new AdminError('PH_BAD_REQUEST', 'AdminClient needs at least one endpoint');
    this.core = new RpcClientCore({
      endpoints: options.endpoints,
      clusterId: options.clusterId,
      metadataKeys: adminMetadataKeys,
      budget: retryBudgetOf(options, adminRetryDefaults),
      connect: (address) => new (adminProto().Admin)(address, grpc.credentials.createInsecure(), { ...reconnectChannelOptions }),
      disconnect: (stub) => stub.close(),
      newError: (code, message) => new AdminError(code, message),
    });
  }

  /** Replaces the endpoints (e.g. as pods come and go), keeping connections to those still named. */
  setEndpoints(endpoints: readonly string[]): void {
    if (endpoints.length === 0) throw new AdminError('PH_BAD_REQUEST', 'AdminClient needs at least one endpoint');
    this.core.setEndpoints(endpoints);
  }

  /** The identity of the node at `address` (asked of that node only, never redirected). */
  async nodeInfo(address: string, options: AdminCallOptions = {}): Promise<NodeInfo> {
    const response = await this.core.call<NodeInfoResponse__Output>(adminRetryPolicy, options.deadlineMs, (stub, m, o, done) => stub.NodeInfo({}, m, o, done), this.core.pinnedTo([address]));
    return { ...response, nodeId: nodeIdOf(response.nodeId), leaderId: nodeIdOf(response.leaderId) };
  }

  /** Gives the new node at `address` its id (asked of that node only, never redirected); PH_IDENTITY_CONFLICT when it has another. */
  async assignIdentity(address: string, nodeId: number, options: AdminCallOptions = {}): Promise<NodeInfo> {
    const response = await this.core.call<NodeInfoResponse__Output>(
      adminRetryPolicy,
      options.deadlineMs,
      (stub, m, o, done) => stub.AssignIdentity({ nodeId: String(nodeId) }, m, o, done),
      this.core.pinnedTo([address]),
    );
    return { ...response, nodeId: nodeIdOf(response.nodeId), leaderId: nodeIdOf(response.leaderId) };
  }

  async clusterStatus(options: AdminCallOptions = {}): Promise<ClusterStatus> {
    return clusterStatusOf(await this.call<ClusterStatusResponse__Output>(options, (stub, m, o, done) => stub.ClusterStatus({}, m, o, done)));
  }

  async addLearner(nodeId: number, address: string, options: AdminCallOptions = {}): Promise<Member[]> {
    const response = await this.call<AddLearnerResponse__Output>(options, (stub, m, o, done) => stub.AddLearner({ nodeId: String(nodeId), address }, m, o, done));
    return response.members.map(memberOf);
  }

  async promote(nodeId: number, options: AdminCallOptions = {}): Promise<Member[]> {
    const response = await this.call<PromoteResponse__Output>(options, (stub, m, o, done) => stub.Promote({ nodeId: String(nodeId) }, m, o, done));
    return response.members.map(memberOf);
  }

  async decommission(nodeId: number, options: AdminCallOptions = {}): Promise<DecommissionProgress> {
    return progressOf(await this.call<DecommissionProgress__Output>(options, (stub, m, o, done) => stub.Decommission({ nodeId: String(nodeId) }, m, o, done)));
  }

  async recommission(nodeId: number, options: AdminCallOptions = {}): Promise<DecommissionProgress> {
    return progressOf(await this.call<DecommissionProgress__Output>(options, (stub, m, o, done) => stub.Recommission({ nodeId: String(nodeId) }, m, o, done)));
  }

  async drain(nodeId: number, options: AdminCallOptions = {}): Promise<DrainProgress> {
    const response = await this.call<DrainProgress__Output>(options, (stub, m, o, done) => stub.Drain({ nodeId: String(nodeId) }, m, o, done));
    return { nodeId: nodeIdOf(response.nodeId), leasesRemaining: response.leasesRemaining, done: response.done };
  }

  /** Moves leadership to `targetNodeId` (0: any suitable voter); returns the new leader's id. */
  async transferLeadership(targetNodeId = 0, options: AdminCallOptions = {}): Promise<number> {
    const response = await this.call<TransferLeadershipResponse__Output>(options, (stub, m, o, done) => stub.TransferLeadership({ targetNodeId: String(targetNodeId) }, m, o, done));
    return nodeIdOf(response.leaderId);
  }

  /**
   * Raises the cluster version to `targetVersion` ('' : the oldest binary version among the
   * members); PH_FINALIZE_REFUSED (not retried) names the nodes that stand in the way.
   */
  async finalizeClusterVersion(targetVersion = '', options: AdminCallOptions = {}): Promise<FinalizeResult> {
    const response = await this.call<FinalizeClusterVersionResponse__Output>(options, (stub, m, o, done) => stub.FinalizeClusterVersion({ targetVersion }, m, o, done));
    return { clusterVersion: response.clusterVersion, previousVersion: response.previousVersion };
  }

  /** The rebalance plan (dry run) of the meta range's leader. */
  async rebalancePlan(options: AdminCallOptions = {}): Promise<RebalancePlanInfo> {
    return rebalancePlanOf(await this.call<RebalancePlanResponse__Output>(options, (stub, m, o, done) => stub.RebalancePlan({}, m, o, done)));
  }

  /** Wakes the placement driver to plan now; answers the dry-run plan it starts from. */
  async rebalanceNow(options: AdminCallOptions = {}): Promise<RebalancePlanInfo> {
    return rebalancePlanOf(await this.call<RebalancePlanResponse__Output>(options, (stub, m, o, done) => stub.RebalanceNow({}, m, o, done)));
  }

  close(): void {
    this.core.close();
  }

  /** A call any member may answer: retried over the endpoints, following leader redirects. */
  /** Every range the meta range's leader knows, in range id order. */
  async rangeList(options: AdminCallOptions = {}): Promise<RangeInfo[]> {
    const response = await this.call<RangeListResponse__Output>(options, (stub, m, o, done) => stub.RangeList({}, m, o, done));
    return response.ranges.map((range) => ({
      rangeId: Number(range.rangeId),
      startKey: Buffer.from(range.startKey),
      endKey: Buffer.from(range.endKey),
      meta: range.meta,
      generation: Number(range.generation),
      replicas: range.replicas.map((replica) => ({ nodeId: nodeIdOf(replica.nodeId), voter: replica.voter })),
      leaderId: nodeIdOf(range.leaderId),
      underReplicated: range.underReplicated,
      unavailable: range.unavailable,
    }));
  }

  /**
   * Starts a backup, or reports its progress when it was started already (the same request
   * again is the way to follow it). Answered by the meta range's leader.
   */
  async backup(spec: BackupSpec, options: AdminCallOptions = {}): Promise<BackupProgressReport> {
    const request = { backupId: spec.backupId, type: spec.type, parentBackupId: spec.parentBackupId ?? '', ...destinationFields(spec.destination) };
    return backupProgressOf(await this.call<BackupProgress__Output>(options, (stub, m, o, done) => stub.Backup(request, m, o, done)));
  }

  /** Deletes every object of backup `backupId` at `destination`, through the node asked (any node); answers how many. */
  async deleteBackup(backupId: string, destination: BackupDestinationSpec, options: AdminCallOptions = {}): Promise<number> {
    const request = { backupId, ...destinationFields(destination) };
    const response = await this.call<DeleteBackupResponse__Output>(options, (stub, m, o, done) => stub.DeleteBackup(request, m, o, done));
    return response.objectsDeleted;
  }

  /** The progress of a backup, as the node that runs it (the meta range's leader) knows it. */
  async backupStatus(backupId: string, options: AdminCallOptions = {}): Promise<BackupProgressReport> {
    return backupProgressOf(await this.call<BackupProgress__Output>(options, (stub, m, o, done) => stub.BackupStatus({ backupId }, m, o, done)));
  }

  private call<T>(options: AdminCallOptions, attempt: Attempt<AdminStub, T>): Promise<T> {
    return this.core.call(adminRetryPolicy, options.deadlineMs, attempt);
  }
}

/** The AdminError of a failed attempt: the node's code, or a transport failure as PH_UNAVAILABLE. */
function classify(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  const failure = readAttemptFailure(err, adminMetadataKeys);
  const code = failure.phantomCode;
  if (code !== undefined && isAdminErrorCode(code)) {
    if (code === 'PH_NOT_LEADER') return new NotLeaderError(Number.isSafeInteger(failure.leaderId) ? failure.leaderId : 0, failure.leaderAddress);
    return new AdminError(code, failure.details);
  }
  if (failure.status === grpc.status.DEADLINE_EXCEEDED) return new AdminError('PH_DEADLINE_EXCEEDED', failure.details);
  // A node of an older build that lacks the call (e.g. FinalizeClusterVersion before versions).
  if (failure.status === grpc.status.UNIMPLEMENTED) return new AdminError('PH_UNIMPLEMENTED', failure.details);
  // Every admin call is idempotent, so an unreachable node is simply transient (unlike a KV write).
  if (isUnreachableStatus(failure.status)) return new AdminError('PH_UNAVAILABLE', `unreachable: ${failure.details}`);
  return new AdminError('PH_BAD_REQUEST', failure.details);
}
