/**
 * A simulated data-node cluster behind the admin API (membership, catch-up, decommission
 * progress), for the controller tests. The e2e suite runs real data node processes instead; this
 * keeps the operator's own logic testable in-process.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { AdminError, type AdminConnector, type ClusterAdmin, type ClusterStatus, type DecommissionProgress, type DrainProgress, type FinalizeResult, type Member, type NodeInfo } from '../admin-client/index.ts';
import type { MembershipState } from '../../../datanode/src/admin/index.ts';

/** The admin address the tests give a pod: its name (the fake cluster needs no network). */
export function fakePodAddress(pod: V1Pod): string | undefined {
  return pod.status?.podIP === undefined ? undefined : `${pod.metadata?.name ?? ''}:7000`;
}

interface FakeNode {
  /** The id the cluster knows it by (0: none yet). */
  nodeId: number;
  /** Whether the node itself knows its id (bootstrap, or AssignIdentity). */
  assigned: boolean;
  readonly address: string;
  initialized: boolean;
  membership: MembershipState | undefined;
  catchUpPollsLeft: number;
  replicas: number;
}

/**
 * A data-node cluster simulated behind the admin API. Pods named `*-0` bootstrap the cluster as
 * node 1; others answer node id 0 until AssignIdentity, and wait to be added. A pod that comes
 * back at the address of a decommissioned node is a new node (new data directory). Learners catch up after `catchUpPolls` status polls.
 *
 * Replica counts: node 1 starts with `bootstrapReplicas`, every other node with `joinReplicas`.
 * With `movesPerPoll` 0 (the default) counts stay as they are and a decommission drops one
 * replica per poll. With `movesPerPoll` > 0 each status poll is a round of a crude placement
 * driver: it moves up to that many replicas, one at a time, off a decommissioning node or else
 * from the fullest live voter to the emptiest one while they differ by more than one — so a
 * scale-out with `joinReplicas` 0 is unbalanced for a few polls and then balanced, as on real
 * nodes. Every mutating call is logged in `calls`.
 */
export class FakeDataCluster implements AdminConnector, ClusterAdmin {
  readonly nodes = new Map<string, FakeNode>();
  readonly calls: string[] = [];
  /** Addresses whose node does not answer (process down). */
  readonly down = new Set<string>();
  /** Liveness reported for nodes that answer all the same (e.g. DEAD: the liveness records have not caught up). */
  readonly reportedLiveness = new Map<string, 'SUSPECT' | 'DEAD'>();
  replicationFactor = 3;
  catchUpPolls = 2;
  underReplicatedRanges = 0;
  bootstrapReplicas = 3;
  joinReplicas = 3;
  movesPerPoll = 0;
  /** ClusterStatus calls answered so far (each is one reconcile's look at the data nodes). */
  statusPolls = 0;
  /** Decommissioned nodes whose pod came back as a new node: still reported, ids never reused. */
  readonly retired: FakeNode[] = [];
  /** The binary version every node reports, and the data nodes' replicated cluster version. */
  binaryVersion = '1.0.0';
  clusterVersion = '1.0.0';
  /** When set, FinalizeClusterVersion is refused with this message (PH_FINALIZE_REFUSED). */
  finalizeRefusal: string | undefined;
  /** Answers FinalizeClusterVersion as a build without the call does (PH_UNIMPLEMENTED). */
  finalizeUnimplemented = false;

  forCluster(): ClusterAdmin {
    return this;
  }

  release(): void {}
  close(): void {}

  private node(nodeId: number): FakeNode {
    const node = nodeId === 0 ? undefined : [...this.nodes.values()].find((candidate) => candidate.nodeId === nodeId);
    if (node === undefined) throw new AdminError('PH_UNKNOWN_NODE', `no node ${nodeId}`);
    return node;
  }

  private members(): Member[] {
    return [...this.nodes.values()].filter((node) => node.membership !== undefined && node.membership !== 'DECOMMISSIONED').map((node) => ({ nodeId: node.nodeId, address: node.address, membership: node.membership ?? 'LEARNER' }));
  }

  nodeInfo(address: string): Promise<NodeInfo> {
    if (this.down.has(address)) return Promise.reject(new AdminError('PH_UNAVAILABLE', `${address} unreachable`));
    let node = this.nodes.get(address);
    if (node?.membership === 'DECOMMISSIONED') {
      this.retired.push(node);
      node = undefined;
    }
    if (node === undefined) {
      const bootstrap = /-0:\d+$/.test(address);
      node = { nodeId: bootstrap ? 1 : 0, assigned: bootstrap, address, initialized: bootstrap, membership: bootstrap ? 'VOTER' : undefined, catchUpPollsLeft: this.catchUpPolls, replicas: bootstrap ? this.bootstrapReplicas : this.joinReplicas };
      this.nodes.set(address, node);
    }
    const leader = [...this.nodes.values()].find((candidate) => candidate.membership === 'VOTER');
    return Promise.resolve({ nodeId: node.assigned ? node.nodeId : 0, clusterId: 'fake', address, initialized: node.initialized, leaderId: leader?.nodeId ?? 0, version: this.binaryVersion, locality: '' });
  }

  assignIdentity(address: string, nodeId: number): Promise<NodeInfo> {
    this.calls.push(`assignIdentity ${address} ${nodeId}`);
    const node = this.nodes.get(address);
    if (node === undefined) return Promise.reject(new AdminError('PH_UNAVAILABLE', `${address} unreachable`));
    if ((node.assigned || node.nodeId !== 0) && node.nodeId !== nodeId) return Promise.reject(new AdminError('PH_IDENTITY_CONFLICT', `${address} is node ${node.nodeId}`));
    node.nodeId = nodeId;
    node.assigned = true;
    if (node.membership !== undefined) node.initialized = true;
    return this.nodeInfo(address);
  }

  private allNodes(): FakeNode[] {
    return [...this.retired, ...this.nodes.values()];
  }

  /** One round of the simulated placement driver (see the class comment). */
  private moveReplicas(): void {
    for (let move = 0; move < this.movesPerPoll; move++) {
      const live = [...this.nodes.values()].filter((node) => node.membership === 'VOTER' && !this.down.has(node.address) && this.reportedLiveness.get(node.address) !== 'DEAD').sort((a, b) => a.replicas - b.replicas);
      const target = live[0];
      const draining = [...this.nodes.values()].find((node) => node.membership === 'DECOMMISSIONING' && node.replicas > 0);
      const fullest = live[live.length - 1];
      const source = draining ?? (fullest !== undefined && target !== undefined && fullest.replicas - target.replicas > 1 ? fullest : undefined);
      if (source === undefined || target === undefined || source === target) return;
      source.replicas -= 1;
      target.replicas += 1;
    }
  }

  clusterStatus(): Promise<ClusterStatus> {
    this.statusPolls += 1;
    const voters = [...this.nodes.values()].filter((node) => node.membership === 'VOTER');
    if (voters.length === 0) return Promise.reject(new AdminError('PH_UNAVAILABLE', 'no cluster yet'));
    for (const node of this.nodes.values()) {
      if (node.membership === 'LEARNER' && node.assigned && node.catchUpPollsLeft > 0) node.catchUpPollsLeft -= 1;
      if (node.membership === 'DECOMMISSIONING' && this.movesPerPoll === 0) node.replicas = Math.max(0, node.replicas - 1);
    }
    this.moveReplicas();
    for (const node of this.nodes.values()) if (node.membership === 'DECOMMISSIONING' && node.replicas === 0) node.membership = 'DECOMMISSIONED';
    return Promise.resolve({
      clusterId: 'fake',
      leaderId: voters[0]?.nodeId ?? 0,
      nodes: [...this.members(), ...this.allNodes().filter((node) => node.membership === 'DECOMMISSIONED').map((node) => ({ nodeId: node.nodeId, address: node.address, membership: 'DECOMMISSIONED' as const }))].map((member) => {
        const node = this.allNodes().find((candidate) => candidate.nodeId === member.nodeId) ?? this.node(member.nodeId);
        return {
          ...member,
          liveness: this.down.has(member.address) ? 'DEAD' : (this.reportedLiveness.get(member.address) ?? 'LIVE'),
          raft: { role: member.membership === 'LEARNER' ? 'LEARNER_ROLE' : 'FOLLOWER', term: 1n, matchIndex: 10n, appliedIndex: 10n, caughtUp: member.membership === 'VOTER' || node.catchUpPollsLeft === 0 },
          replicas: node.replicas,
          leases: 1,
          version: this.binaryVersion,
          locality: '',
        };
      }),
      groups: 4,
      ranges: 3,
      underReplicatedRanges: this.underReplicatedRanges,
      unavailableRanges: 0,
      replicationFactor: this.replicationFactor,
      highestNodeId: Math.max(0, ...this.allNodes().map((node) => node.nodeId)),
      clusterVersion: this.clusterVersion,
    });
  }

  /** As the data nodes do: refused while a member is down; else the cluster version rises to the nodes' binary. */
  finalizeClusterVersion(targetVersion: string): Promise<FinalizeResult> {
    this.calls.push(`finalize ${targetVersion === '' ? '(oldest binary)' : targetVersion}`);
    if (this.finalizeUnimplemented) return Promise.reject(new AdminError('PH_UNIMPLEMENTED', 'unknown method FinalizeClusterVersion'));
    if (this.finalizeRefusal !== undefined) return Promise.reject(new AdminError('PH_FINALIZE_REFUSED', this.finalizeRefusal));
    const down = this.members().filter((member) => this.down.has(member.address));
    if (down.length > 0) return Promise.reject(new AdminError('PH_FINALIZE_REFUSED', down.map((member) => `node ${member.nodeId} is DEAD`).join('; ')));
    const previousVersion = this.clusterVersion;
    this.clusterVersion = targetVersion === '' ? this.binaryVersion : targetVersion;
    return Promise.resolve({ clusterVersion: this.clusterVersion, previousVersion });
  }

  addLearner(nodeId: number, address: string): Promise<readonly Member[]> {
    this.calls.push(`addLearner ${nodeId}`);
    if (this.allNodes().some((candidate) => candidate.nodeId === nodeId && (candidate.address !== address || candidate.membership === 'DECOMMISSIONED'))) {
      return Promise.reject(new AdminError('PH_BAD_REQUEST', `node id ${nodeId} is used or removed; ids are never reused`));
    }
    const node = this.nodes.get(address);
    if (node === undefined || (node.nodeId !== 0 && node.nodeId !== nodeId)) return Promise.reject(new AdminError('PH_BAD_REQUEST', 'address mismatch'));
    node.nodeId = nodeId;
    if (node.membership === undefined) {
      node.membership = 'LEARNER';
      node.initialized = node.assigned;
    }
    return Promise.resolve(this.members());
  }

  promote(nodeId: number): Promise<readonly Member[]> {
    this.calls.push(`promote ${nodeId}`);
    const node = this.node(nodeId);
    if (node.membership === 'LEARNER') {
      if (node.catchUpPollsLeft > 0) return Promise.reject(new AdminError('PH_NOT_CAUGHT_UP', 'lagging'));
      node.membership = 'VOTER';
    }
    return Promise.resolve(this.members());
  }

  decommission(nodeId: number): Promise<DecommissionProgress> {
    const node = this.node(nodeId);
    if (node.membership === 'DECOMMISSIONING' || node.membership === 'DECOMMISSIONED') {
      this.calls.push(`decommission-again ${nodeId}`);
    } else {
      const voters = [...this.nodes.values()].filter((candidate) => candidate.membership === 'VOTER').length;
      if (voters - 1 < this.replicationFactor) {
        this.calls.push(`decommission-refused ${nodeId}`);
        return Promise.reject(new AdminError('PH_DECOMMISSION_REFUSED', `${voters - 1} voters cannot hold replicationFactor ${this.replicationFactor}`));
      }
      this.calls.push(`decommission ${nodeId}`);
      node.membership = 'DECOMMISSIONING';
    }
    return Promise.resolve({ nodeId, membership: node.membership, replicasRemaining: node.replicas, leasesRemaining: 0, done: node.membership === 'DECOMMISSIONED' });
  }

  recommission(nodeId: number): Promise<DecommissionProgress> {
    this.calls.push(`recommission ${nodeId}`);
    const node = this.node(nodeId);
    if (node.membership === 'DECOMMISSIONING') node.membership = 'VOTER';
    return Promise.resolve({ nodeId, membership: node.membership ?? 'LEARNER', replicasRemaining: node.replicas, leasesRemaining: 0, done: false });
  }

  drain(nodeId: number): Promise<DrainProgress> {
    this.calls.push(`drain ${nodeId}`);
    const node = this.node(nodeId);
    if (node.membership !== 'VOTER') return Promise.reject(new AdminError('PH_UNKNOWN_NODE', `node ${nodeId} is not a voter`));
    // As the data nodes do: leadership needs another caught-up voter to go to.
    if (![...this.nodes.values()].some((other) => other !== node && other.membership === 'VOTER')) return Promise.reject(new AdminError('PH_UNAVAILABLE', 'no caught-up voter to take the leadership'));
    return Promise.resolve({ nodeId, leasesRemaining: 0, done: true });
  }
}
