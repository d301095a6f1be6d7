/**
 * The gRPC Admin service (datanode/proto/admin.proto) over an `AdminBackend` the node implements.
 * Requests are validated here (node ids, addresses, deadlines, the cluster id) before the
 * backend sees them; expected failures become a gRPC status plus `ph-error-code` metadata.
 */
import * as grpc from '@grpc/grpc-js';
import type { AdminHandlers } from '../../proto/generated/phantomdb/admin/v1/Admin.ts';
import type { ClusterStatusResponse } from '../../proto/generated/phantomdb/admin/v1/ClusterStatusResponse.ts';
import type { Member as MemberMessage } from '../../proto/generated/phantomdb/admin/v1/Member.ts';
import type { RebalancePlanResponse } from '../../proto/generated/phantomdb/admin/v1/RebalancePlanResponse.ts';
import { unaryHandler, type ServiceErrorMapping, type UnaryServiceContext } from '../rpc/service-core.ts';
import type { AdminBackend, ClusterStatus, DecommissionProgress, Member, RebalancePlanInfo } from './backend.ts';
import { AdminError, NotLeaderError, type AdminErrorCode } from './errors.ts';
import { adminMetadataKeys, adminProto } from './proto.ts';
import { isVersion } from '../version/version.ts';

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
  };
}

/** Registers the Admin service on `server` (the node's gRPC server, next to KV and the transport). */
export function addAdminService(server: grpc.Server, backend: AdminBackend, limits: AdminServiceLimits = defaultAdminServiceLimits): void {
  server.addService(adminProto().Admin.service, adminHandlers(backend, limits));
}
