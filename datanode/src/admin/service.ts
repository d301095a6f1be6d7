/**
 * The gRPC Admin service (datanode/proto/admin.proto) over an `AdminBackend` the node implements.
 * Requests are validated here (node ids, addresses, deadlines, the cluster id) before the
 * backend sees them; expected failures become a gRPC status plus `ph-error-code` metadata.
 */
import * as grpc from '@grpc/grpc-js';
import type { AdminHandlers } from '../../proto/generated/phantomdb/admin/v1/Admin.ts';
import type { ClusterStatusResponse } from '../../proto/generated/phantomdb/admin/v1/ClusterStatusResponse.ts';
import type { Member as MemberMessage } from '../../proto/generated/phantomdb/admin/v1/Member.ts';
import type { BackupRequest__Output } from '../../proto/generated/phantomdb/admin/v1/BackupRequest.ts';
import type { BackupRangeRequest__Output } from '../../proto/generated/phantomdb/admin/v1/BackupRangeRequest.ts';
import type { BackupProgress } from '../../proto/generated/phantomdb/admin/v1/BackupProgress.ts';
import type { RebalancePlanResponse } from '../../proto/generated/phantomdb/admin/v1/RebalancePlanResponse.ts';
import { serverStreamHandler, unaryHandler, type ServiceErrorMapping, type UnaryServiceContext } from '../rpc/service-core.ts';
import type { AdminBackend, BackupDestinationSpec, BackupProgressReport, BackupSpec, ClusterStatus, DecommissionProgress, Member, RebalancePlanInfo } from './backend.ts';
import { AdminError, NotLeaderError, type AdminErrorCode } from './errors.ts';
import { adminMetadataKeys, adminProto } from './proto.ts';
import { isVersion } from '../version/version.ts';
import { backupIdLengthMax, backupIdPattern, backupIdRule } from '../backup/manifest.ts';

export interface AdminServiceLimits {
  /** Time a call may take when the client set no deadline. */
  readonly requestDeadlineDefaultMs: number;
  /** Longest time a call may take whatever the client asked. */
  readonly requestDeadlineMaxMs: number;
}

export const defaultAdminServiceLimits: AdminServiceLimits = { requestDeadlineDefaultMs: 5_000, requestDeadlineMaxMs: 30_000 };

const statusOf: Record<AdminErrorCode, grpc.status> = {
  PH_NOT_LEADER: grpc.status.UNAVAILABLE,
  PH_UNAVAILABLE: grpc.status.UNAVAILABLE,
  PH_DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  PH_BAD_REQUEST: grpc.status.INVALID_ARGUMENT,
  PH_WRONG_CLUSTER: grpc.status.FAILED_PRECONDITION,
  PH_NOT_INITIALIZED: grpc.status.FAILED_PRECONDITION,
  PH_UNKNOWN_NODE: grpc.status.NOT_FOUND,
  PH_NOT_CAUGHT_UP: grpc.status.UNAVAILABLE,
  PH_DECOMMISSION_REFUSED: grpc.status.FAILED_PRECONDITION,
  PH_ALREADY_DECOMMISSIONED: grpc.status.FAILED_PRECONDITION,
  PH_MEMBERSHIP_CHANGE_IN_PROGRESS: grpc.status.ABORTED,
  PH_IDENTITY_CONFLICT: grpc.status.FAILED_PRECONDITION,
  PH_FINALIZE_REFUSED: grpc.status.FAILED_PRECONDITION,
  PH_FEATURE_NOT_FINALIZED: grpc.status.FAILED_PRECONDITION,
  PH_UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
};

const adminServiceErrors: ServiceErrorMapping<AdminErrorCode> = {
  isExpected: (err): err is AdminError => err instanceof AdminError,
  statusOf,
  leaderHintOf: (err) => (err instanceof NotLeaderError ? err : undefined),
};

/** A node id from the wire (uint64 as a decimal string): a positive safe integer. */
export function parseNodeId(value: string | number, field: string, allowZero = false): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id < 0 || (id === 0 && !allowZero)) throw new AdminError('PH_BAD_REQUEST', `${field} ${String(value)} is not a positive integer`);
  return id;
}

const hostPortPattern = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

function checkAddress(address: string): void {
  if (!hostPortPattern.test(address) || Number(address.slice(address.lastIndexOf(':') + 1)) > 65535) {
    throw new AdminError('PH_BAD_REQUEST', `address ${JSON.stringify(address)} is not host:port`);
  }
}

function membersMessage(members: readonly Member[]): MemberMessage[] {
  return members.map((member) => ({ nodeId: String(member.nodeId), address: member.address, membership: member.membership }));
}

function clusterStatusMessage(status: ClusterStatus): ClusterStatusResponse {
  return {
    clusterId: status.clusterId,
    leaderId: String(status.leaderId),
    nodes: status.nodes.map((node) => ({
      nodeId: String(node.nodeId),
      address: node.address,
      membership: node.membership,
      liveness: node.liveness,
      raft:
        node.raft === undefined
          ? null
          : { role: node.raft.role, term: node.raft.term.toString(), matchIndex: node.raft.matchIndex.toString(), appliedIndex: node.raft.appliedIndex.toString(), caughtUp: node.raft.caughtUp },
      replicas: node.replicas,
      leases: node.leases,
      version: node.version,
      locality: node.locality,
      clusterVersionMin: node.clusterVersionMin ?? '',
    })),
    groups: status.groups,
    ranges: status.ranges,
    underReplicatedRanges: status.underReplicatedRanges,
    unavailableRanges: status.unavailableRanges,
    replicationFactor: status.replicationFactor,
    highestNodeId: String(status.highestNodeId),
    clusterVersion: status.clusterVersion ?? '',
  };
}

function progressMessage(progress: DecommissionProgress): Omit<DecommissionProgress, 'nodeId' | 'bytesRemaining' | 'etaSeconds'> & { nodeId: string; bytesRemaining: string; etaSeconds: string } {
  const { bytesRemaining, etaSeconds, ...rest } = progress;
  return { ...rest, nodeId: String(progress.nodeId), bytesRemaining: String(Math.max(0, Math.round(bytesRemaining ?? 0))), etaSeconds: String(etaSeconds === undefined || etaSeconds === null ? -1 : Math.round(etaSeconds)) };
}

function rebalancePlanMessage(plan: RebalancePlanInfo): RebalancePlanResponse {
  return {
    moves: plan.moves.map((move) => ({ ...move, rangeId: String(move.rangeId), nodeId: String(move.nodeId), bytes: String(move.bytes) })),
    moveCount: plan.moveCount,
    bytesToCopy: String(plan.bytesToCopy),
    converged: plan.converged,
    balanced: plan.balanced,
    nodes: plan.nodes.map((node) => ({ ...node, nodeId: String(node.nodeId), bytesBefore: String(node.bytesBefore), bytesAfter: String(node.bytesAfter) })),
  };
}

/** Backup ids name objects at the destination, as the manifest has them (backup/manifest.ts). */
function checkBackupId(id: string, field: string): void {
  if (id.length === 0 || id.length > backupIdLengthMax || !backupIdPattern.test(id)) {
    const hint = id !== id.toLowerCase() && backupIdPattern.test(id.toLowerCase()) ? ` (uppercase letters are not allowed: ${JSON.stringify(id.toLowerCase())} would do)` : '';
    throw new AdminError('PH_BAD_REQUEST', `${field} ${JSON.stringify(id)} must be ${backupIdRule}${hint}`);
  }
}

function destinationOf(request: Pick<BackupRequest__Output, 'volume' | 's3'>): BackupDestinationSpec {
  if (request.volume !== undefined && request.volume !== null) {
    if (!request.volume.path.startsWith('/')) throw new AdminError('PH_BAD_REQUEST', `volume path ${JSON.stringify(request.volume.path)} must be absolute`);
    return { kind: 'volume', path: request.volume.path };
  }
  const s3 = request.s3;
  if (s3 === undefined || s3 === null) throw new AdminError('PH_BAD_REQUEST', 'the backup names no destination (volume or s3)');
  if (s3.bucket === '') throw new AdminError('PH_BAD_REQUEST', 's3 destination needs a bucket');
  if ((s3.accessKeyId === '') !== (s3.secretAccessKey === '')) throw new AdminError('PH_BAD_REQUEST', 's3 credentials need both an access key id and a secret');
  return {
    kind: 's3',
    bucket: s3.bucket,
    prefix: s3.prefix,
    region: s3.region === '' ? 'us-east-1' : s3.region,
    ...(s3.endpoint === '' ? {} : { endpoint: s3.endpoint }),
    forcePathStyle: s3.forcePathStyle,
    ...(s3.accessKeyId === '' ? {} : { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }),
  };
}

/** Validates a Backup request into the backend's spec. */
export function backupSpecOf(request: BackupRequest__Output): BackupSpec {
  checkBackupId(request.backupId, 'backup_id');
  if (request.type !== 'full' && request.type !== 'incremental') throw new AdminError('PH_BAD_REQUEST', `backup type ${JSON.stringify(request.type)} must be "full" or "incremental"`);
  if (request.type === 'incremental') {
    checkBackupId(request.parentBackupId, 'parent_backup_id');
    if (request.parentBackupId === request.backupId) throw new AdminError('PH_BAD_REQUEST', 'an incremental backup cannot be its own parent');
  } else if (request.parentBackupId !== '') {
    throw new AdminError('PH_BAD_REQUEST', 'a full backup has no parent_backup_id');
  }
  const destination = destinationOf(request);
  return { backupId: request.backupId, type: request.type, ...(request.type === 'incremental' ? { parentBackupId: request.parentBackupId } : {}), destination };
}

function backupProgressMessage(report: BackupProgressReport): BackupProgress {
  return { ...report, bytesDone: String(report.bytesDone), totalBytes: String(report.totalBytes) };
}

function parseTs(value: string, field: string): bigint {
  if (!/^[0-9]{1,20}$/.test(value)) throw new AdminError('PH_BAD_REQUEST', `${field} ${JSON.stringify(value)} is not an unsigned integer`);
  const ts = BigInt(value);
  if (ts > 0xffff_ffff_ffff_ffffn) throw new AdminError('PH_BAD_REQUEST', `${field} ${value} exceeds 64 bits`);
  return ts;
}

function unsupported(what: string): AdminError {
  return new AdminError('PH_UNAVAILABLE', `this node does not serve ${what}`);
}

/** The Admin service's handlers. `nowMs` is injectable for deadline arithmetic in tests. */
export function adminHandlers(backend: AdminBackend, limits: AdminServiceLimits = defaultAdminServiceLimits, nowMs: () => number = Date.now): AdminHandlers {
  const context: UnaryServiceContext<AdminErrorCode> = {
    metadataKeys: adminMetadataKeys,
    newError: (code, message) => new AdminError(code, message),
    errors: adminServiceErrors,
    clusterId: () => backend.clusterId,
    limits: () => limits,
    nowMs,
  };
  function unary<Req, Res>(handle: (request: Req, deadlineMs: number) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return unaryHandler(context, handle);
  }
  return {
    NodeInfo: unary(async () => {
      const info = await backend.nodeInfo();
      return { ...info, nodeId: String(info.nodeId), leaderId: String(info.leaderId) };
    }),
    AssignIdentity: unary(async (request, deadlineMs) => {
      const info = await backend.assignIdentity(parseNodeId(request.nodeId, 'node_id'), deadlineMs);
      return { ...info, nodeId: String(info.nodeId), leaderId: String(info.leaderId) };
    }),
    ClusterStatus: unary(async (_request, deadlineMs) => clusterStatusMessage(await backend.clusterStatus(deadlineMs))),
    AddLearner: unary(async (request, deadlineMs) => {
      const nodeId = parseNodeId(request.nodeId, 'node_id');
      checkAddress(request.address);
      return { members: membersMessage(await backend.addLearner(nodeId, request.address, deadlineMs)) };
    }),
    Promote: unary(async (request, deadlineMs) => ({ members: membersMessage(await backend.promote(parseNodeId(request.nodeId, 'node_id'), deadlineMs)) })),
    Decommission: unary(async (request, deadlineMs) => progressMessage(await backend.decommission(parseNodeId(request.nodeId, 'node_id'), deadlineMs))),
    Recommission: unary(async (request, deadlineMs) => progressMessage(await backend.recommission(parseNodeId(request.nodeId, 'node_id'), deadlineMs))),
    Drain: unary(async (request, deadlineMs) => {
      const progress = await backend.drain(parseNodeId(request.nodeId, 'node_id'), deadlineMs);
      return { ...progress, nodeId: String(progress.nodeId) };
    }),
    TransferLeadership: unary(async (request, deadlineMs) => {
      const leaderId = await backend.transferLeadership(parseNodeId(request.targetNodeId, 'target_node_id', true), deadlineMs);
      return { leaderId: String(leaderId) };
    }),
    RebalancePlan: unary(async (_request, deadlineMs) => {
      if (backend.rebalancePlan === undefined) throw new AdminError('PH_UNAVAILABLE', 'this node does not plan placement');
      return rebalancePlanMessage(await backend.rebalancePlan(deadlineMs));
    }),
    RebalanceNow: unary(async (_request, deadlineMs) => {
      if (backend.rebalanceNow === undefined) throw new AdminError('PH_UNAVAILABLE', 'this node does not plan placement');
      return rebalancePlanMessage(await backend.rebalanceNow(deadlineMs));
    }),
    RangeList: unary(async (_request, deadlineMs) => ({
      ranges: (await backend.rangeList(deadlineMs)).map((range) => ({
        ...range,
        rangeId: String(range.rangeId),
        generation: String(range.generation),
        leaderId: String(range.leaderId),
        replicas: range.replicas.map((replica) => ({ nodeId: String(replica.nodeId), voter: replica.voter })),
      })),
    })),
    FinalizeClusterVersion: unary(async (request, deadlineMs) => {
      if (backend.finalizeClusterVersion === undefined) throw new AdminError('PH_UNAVAILABLE', 'this node cannot finalize the cluster version yet (it has no node id)');
      const target = request.targetVersion.trim();
      if (target !== '' && !isVersion(target)) throw new AdminError('PH_BAD_REQUEST', `target_version ${JSON.stringify(request.targetVersion)} is not a version (MAJOR.MINOR.PATCH)`);
      return backend.finalizeClusterVersion(target, deadlineMs);
    }),
    Backup: unary(async (request, deadlineMs) => {
      if (backend.backup === undefined) throw unsupported('backups');
      return backupProgressMessage(await backend.backup(backupSpecOf(request), deadlineMs));
    }),
    BackupStatus: unary(async (request) => {
      if (backend.backupStatus === undefined) throw unsupported('backups');
      checkBackupId(request.backupId, 'backup_id');
      return backupProgressMessage(await backend.backupStatus(request.backupId));
    }),
    BackupRange: serverStreamHandler(context, (request: BackupRangeRequest__Output, _metadata, signal) => {
      if (backend.backupRange === undefined) throw unsupported('range backups');
      const at = parseTs(request.at, 'at');
      const since = parseTs(request.since, 'since');
      if (at === 0n) throw new AdminError('PH_BAD_REQUEST', 'a range backup needs a timestamp (at)');
      if (since >= at) throw new AdminError('PH_BAD_REQUEST', 'since must be below at');
      checkBackupId(request.backupId, 'backup_id');
      if (!request.objectKeyPrefix.startsWith(`${request.backupId}/`) || request.objectKeyPrefix.includes('..') || request.objectKeyPrefix.length > 512) {
        throw new AdminError('PH_BAD_REQUEST', `object_key_prefix ${JSON.stringify(request.objectKeyPrefix)} must lie inside the backup's folder ${request.backupId}/`);
      }
      const spec = {
        rangeId: parseNodeId(request.rangeId, 'range_id'),
        startKey: request.startKey,
        endKey: request.endKey,
        at,
        since: since === 0n ? undefined : since,
        backupId: request.backupId,
        objectKeyPrefix: request.objectKeyPrefix,
        destination: destinationOf(request),
      };
      return (async function* () {
        for await (const update of backend.backupRange?.(spec, signal) ?? []) {
          yield {
            bytesDone: String(update.bytesDone),
            done: update.done,
            files: update.files.map((file) => ({ ...file, sizeBytes: String(file.sizeBytes), entries: String(file.entries) })),
          };
        }
      })();
    }),
    DeleteBackup: unary(async (request) => {
      if (backend.deleteBackup === undefined) throw unsupported('backups');
      checkBackupId(request.backupId, 'backup_id');
      return { objectsDeleted: await backend.deleteBackup(request.backupId, destinationOf(request)) };
    }),
    ExportRange: serverStreamHandler(context, (request, _metadata, signal) => {
      if (backend.exportRange === undefined) throw unsupported('range exports');
      const at = parseTs(request.at, 'at');
      const since = parseTs(request.since, 'since');
      if (at === 0n) throw new AdminError('PH_BAD_REQUEST', 'an export needs a timestamp (at)');
      if (since >= at) throw new AdminError('PH_BAD_REQUEST', 'since must be below at');
      const spec = { rangeId: parseNodeId(request.rangeId, 'range_id'), startKey: request.startKey, endKey: request.endKey, at, since: since === 0n ? undefined : since };
      return (async function* () {
        for await (const chunk of backend.exportRange?.(spec, signal) ?? []) {
          yield { ...chunk, entries: String(chunk.entries), fileBytes: String(chunk.fileBytes) };
        }
      })();
    }),
  };
}

/** Registers the Admin service on `server` (the node's gRPC server, next to KV and the transport). */
export function addAdminService(server: grpc.Server, backend: AdminBackend, limits: AdminServiceLimits = defaultAdminServiceLimits): void {
  server.addService(adminProto().Admin.service, adminHandlers(backend, limits));
}
