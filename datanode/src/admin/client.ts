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
import type { NodeInfoResponse__Output } from '../../proto/generated/phantomdb/admin/v1/NodeInfoResponse.ts';
import type { PromoteResponse__Output } from '../../proto/generated/phantomdb/admin/v1/PromoteResponse.ts';
import type { TransferLeadershipResponse__Output } from '../../proto/generated/phantomdb/admin/v1/TransferLeadershipResponse.ts';
import type { ClusterStatus, DecommissionProgress, DrainProgress, LivenessState, Member, MembershipState, NodeInfo, RaftRoleName } from './backend.ts';
import { AdminError, NotLeaderError, isAdminErrorCode } from './errors.ts';
import { adminMetadataKeys, adminProto } from './proto.ts';

export interface AdminClientOptions {
  /** gRPC addresses (host:port) of some cluster members. */
  readonly endpoints: readonly string[];
  /** When set, nodes of another cluster refuse the calls (PH_WRONG_CLUSTER). */
  readonly clusterId?: string;
  /** Overall deadline of one call, retries included. Default 10 s. */
  readonly deadlineMs?: number;
  /** Deadline of one attempt. Default 3 s. */
  readonly attemptDeadlineMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Attempts per call at most. Default 10. */
  readonly attemptsMax?: number;
}

export interface AdminCallOptions {
  readonly deadlineMs?: number;
}

type Attempt<T> = (stub: AdminStub, metadata: grpc.Metadata, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, value?: T) => void) => void;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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
    })),
    groups: message.groups,
    ranges: message.ranges,
    underReplicatedRanges: message.underReplicatedRanges,
    unavailableRanges: message.unavailableRanges,
    replicationFactor: message.replicationFactor,
  };
}

function progressOf(message: DecommissionProgress__Output): DecommissionProgress {
  return {
    nodeId: nodeIdOf(message.nodeId),
    membership: membershipOf(message.membership),
    replicasRemaining: message.replicasRemaining,
    leasesRemaining: message.leasesRemaining,
    done: message.done,
  };
}

export class AdminClient {
  private endpoints: string[];
  private readonly stubs = new Map<string, AdminStub>();
  private current = 0;
  private readonly deadlineMs: number;
  private readonly attemptDeadlineMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly attemptsMax: number;
  private closed = false;

  constructor(private readonly options: AdminClientOptions) {
    if (options.endpoints.length === 0) throw new AdminError('PH_BAD_REQUEST', 'AdminClient needs at least one endpoint');
    this.endpoints = [...options.endpoints];
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.attemptDeadlineMs = options.attemptDeadlineMs ?? 3_000;
    this.backoffInitialMs = options.backoffInitialMs ?? 50;
    this.backoffMaxMs = options.backoffMaxMs ?? 1_000;
    this.attemptsMax = options.attemptsMax ?? 10;
  }

  /** Replaces the endpoints (e.g. as pods come and go), keeping connections to those still named. */
  setEndpoints(endpoints: readonly string[]): void {
    if (endpoints.length === 0) throw new AdminError('PH_BAD_REQUEST', 'AdminClient needs at least one endpoint');
    const preferred = this.endpoints[this.current];
    this.endpoints = [...endpoints];
    const at = preferred === undefined ? -1 : this.endpoints.indexOf(preferred);
    this.current = at < 0 ? 0 : at;
    for (const [address, stub] of this.stubs) {
      if (!this.endpoints.includes(address)) {
        stub.close();
        this.stubs.delete(address);
      }
    }
  }

  /** The identity of the node at `address` (asked of that node only). */
  async nodeInfo(address: string, options: AdminCallOptions = {}): Promise<NodeInfo> {
    const response = await this.call<NodeInfoResponse__Output>(options, [address], (stub, m, o, done) => stub.NodeInfo({}, m, o, done));
    return { ...response, nodeId: nodeIdOf(response.nodeId), leaderId: nodeIdOf(response.leaderId) };
  }

  async clusterStatus(options: AdminCallOptions = {}): Promise<ClusterStatus> {
    return clusterStatusOf(await this.call<ClusterStatusResponse__Output>(options, undefined, (stub, m, o, done) => stub.ClusterStatus({}, m, o, done)));
  }

  async addLearner(nodeId: number, address: string, options: AdminCallOptions = {}): Promise<Member[]> {
    const response = await this.call<AddLearnerResponse__Output>(options, undefined, (stub, m, o, done) => stub.AddLearner({ nodeId: String(nodeId), address }, m, o, done));
    return response.members.map(memberOf);
  }

  async promote(nodeId: number, options: AdminCallOptions = {}): Promise<Member[]> {
    const response = await this.call<PromoteResponse__Output>(options, undefined, (stub, m, o, done) => stub.Promote({ nodeId: String(nodeId) }, m, o, done));
    return response.members.map(memberOf);
  }

  async decommission(nodeId: number, options: AdminCallOptions = {}): Promise<DecommissionProgress> {
    return progressOf(await this.call<DecommissionProgress__Output>(options, undefined, (stub, m, o, done) => stub.Decommission({ nodeId: String(nodeId) }, m, o, done)));
  }

  async recommission(nodeId: number, options: AdminCallOptions = {}): Promise<DecommissionProgress> {
    return progressOf(await this.call<DecommissionProgress__Output>(options, undefined, (stub, m, o, done) => stub.Recommission({ nodeId: String(nodeId) }, m, o, done)));
  }

  async drain(nodeId: number, options: AdminCallOptions = {}): Promise<DrainProgress> {
    const response = await this.call<DrainProgress__Output>(options, undefined, (stub, m, o, done) => stub.Drain({ nodeId: String(nodeId) }, m, o, done));
    return { nodeId: nodeIdOf(response.nodeId), leasesRemaining: response.leasesRemaining, done: response.done };
  }

  /** Moves leadership to `targetNodeId` (0: any suitable voter); returns the new leader's id. */
  async transferLeadership(targetNodeId = 0, options: AdminCallOptions = {}): Promise<number> {
    const response = await this.call<TransferLeadershipResponse__Output>(options, undefined, (stub, m, o, done) => stub.TransferLeadership({ targetNodeId: String(targetNodeId) }, m, o, done));
    return nodeIdOf(response.leaderId);
  }

  close(): void {
    this.closed = true;
    for (const stub of this.stubs.values()) stub.close();
    this.stubs.clear();
  }

  private stubFor(address: string): AdminStub {
    let stub = this.stubs.get(address);
    if (stub === undefined) {
      const channelOptions = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };
      stub = new (adminProto().Admin)(address, grpc.credentials.createInsecure(), channelOptions);
      this.stubs.set(address, stub);
    }
    return stub;
  }

  private useLeader(address: string): void {
    let at = this.endpoints.indexOf(address);
    if (at < 0) {
      this.endpoints.push(address);
      at = this.endpoints.length - 1;
    }
    this.current = at;
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, or the deadline or attempt budget is spent.
   * `pinned` limits the call to those addresses (NodeInfo asks one node, never another).
   */
  private async call<T>(options: AdminCallOptions, pinned: readonly string[] | undefined, attempt: Attempt<T>): Promise<T> {
    if (this.closed) throw new AdminError('PH_UNAVAILABLE', 'client is closed');
    const deadlineAt = Date.now() + (options.deadlineMs ?? this.deadlineMs);
    let backoffMs = this.backoffInitialMs;
    let lastError = new AdminError('PH_DEADLINE_EXCEEDED', 'no attempt made before the deadline');
    let pinnedIndex = 0;
    for (let attemptNumber = 0; attemptNumber < this.attemptsMax; attemptNumber++) {
      const left = deadlineAt - Date.now();
      if (left <= 0) break;
      const address = pinned === undefined ? this.endpoints[this.current] : pinned[pinnedIndex % pinned.length];
      if (address === undefined) throw new AdminError('PH_BAD_REQUEST', 'no endpoint');
      const metadata = new grpc.Metadata();
      if (this.options.clusterId !== undefined) metadata.set(adminMetadataKeys.clusterId, this.options.clusterId);
      const callOptions: grpc.CallOptions = { deadline: Date.now() + Math.min(left, this.attemptDeadlineMs) };
      try {
        return await new Promise<T>((resolve, reject) => {
          attempt(this.stubFor(address), metadata, callOptions, (err, value) => {
            if (err !== null) reject(err);
            else if (value === undefined) reject(new AdminError('PH_UNAVAILABLE', 'empty response'));
            else resolve(value);
          });
        });
      } catch (err) {
        lastError = classify(err);
        if (pinned === undefined && lastError instanceof NotLeaderError && lastError.leaderAddress !== '' && lastError.leaderAddress !== address) {
          this.useLeader(lastError.leaderAddress);
          continue;
        }
        if (!lastError.retriable) throw lastError;
        if (pinned === undefined) this.current = (this.current + 1) % this.endpoints.length;
        else pinnedIndex += 1;
        await sleep(Math.min(backoffMs, Math.max(0, deadlineAt - Date.now())));
        backoffMs = Math.min(backoffMs * 2, this.backoffMaxMs);
      }
    }
    throw new AdminError(lastError.code, `gave up after retries: ${lastError.message}`);
  }
}

/** The AdminError of a failed attempt: the node's code, or a transport failure as PH_UNAVAILABLE. */
function classify(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  const serviceError = err as Partial<grpc.ServiceError>;
  const code = serviceError.metadata?.get(adminMetadataKeys.errorCode)[0];
  const details = serviceError.details ?? (err instanceof Error ? err.message : String(err));
  if (typeof code === 'string' && isAdminErrorCode(code)) {
    if (code === 'PH_NOT_LEADER') {
      const leaderId = Number(serviceError.metadata?.get(adminMetadataKeys.leaderId)[0] ?? 0);
      const leaderAddress = String(serviceError.metadata?.get(adminMetadataKeys.leaderAddress)[0] ?? '');
      return new NotLeaderError(Number.isSafeInteger(leaderId) ? leaderId : 0, leaderAddress);
    }
    return new AdminError(code, details);
  }
  switch (serviceError.code) {
    case grpc.status.DEADLINE_EXCEEDED:
      return new AdminError('PH_DEADLINE_EXCEEDED', details);
    case grpc.status.UNAVAILABLE:
    case grpc.status.CANCELLED:
    case grpc.status.UNKNOWN:
    case grpc.status.INTERNAL:
      return new AdminError('PH_UNAVAILABLE', `unreachable: ${details}`);
    default:
      return new AdminError('PH_BAD_REQUEST', details);
  }
}
