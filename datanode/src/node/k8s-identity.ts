/**
 * Running as a pod of the operator's StatefulSet: the node's id, how it finds peers it has no
 * address for yet, and whether a new data directory starts a cluster or waits to be added to one.
 *
 * Identity (when neither --node-id nor PHANTOMDB_NODE_ID is given):
 * - a data directory that records an id (IDENTITY) keeps it, whatever the ordinal;
 * - ordinal 0 with a new data directory is node 1 (the bootstrap below);
 * - any other ordinal with a new data directory has no id yet: it waits (identity-wait.ts) for
 *   the operator to allocate a fresh one (above every id the cluster has recorded, removed ones
 *   included: ids are never reused) and send it with AssignIdentity, then starts with it. So a
 *   pod recreated under the ordinal of a decommissioned node comes back as a new node.
 * Peers are found by their address book entry, else by asking the StatefulSet's pods for their
 * NodeInfo (PodPeerFinder), else by the old naming guess (node N+1 at ordinal N; a wrong guess is
 * refused by the peer's transport handshake, which checks the expected node id).
 *
 * Bootstrap contract with the operator (operator/src/controllers/cluster-steps.ts, joinNodes):
 * - a data directory that already holds the Raft group restarts as it is (no flags needed);
 * - ordinal 0 with a new data directory starts a new one-voter cluster by itself, but only when
 *   no cluster exists yet: it first asks every other pod of the StatefulSet that has a DNS name
 *   (ordinals 1..podOrdinalProbeMax) for its NodeInfo and bootstraps only once each of them has
 *   answered "not initialized" (or has no DNS name, i.e. no pod). If any of them belongs to a
 *   cluster, pod 0 lost its volume: it starts UNINITIALIZED instead of creating a second cluster
 *   with the same id. Node 1 is still a voter of that cluster, so its leader re-replicates to the
 *   empty replica (a snapshot, then the log): the data comes back, but a voter that lost its disk
 *   also lost its vote record, so the safe repair is still to replace it (decommission node 1,
 *   add a new node), which is an operator decision. A peer that has a name but does not answer
 *   yet is waited for, so a restarting cluster cannot race pod 0 into a second bootstrap;
 * - every other ordinal with a new data directory first gets its id (above), then starts
 *   UNINITIALIZED: the Raft group exists with an empty configuration, NodeInfo answers
 *   `initialized: false`, and the node waits for the operator's AddLearner (then Promote once
 *   caught up).
 *
 * Gap (documented): a full outage in which pod 0 also lost its volume and the other pods have no
 * DNS names yet (not scheduled) would let pod 0 bootstrap a new, empty cluster.
 */
import { lookup } from 'node:dns/promises';
import * as path from 'node:path';
import { AdminClient } from '../admin/client.ts';
import { RaftLogEngine } from '../raft/logstore/index.ts';
import { simpleConfState, type NodeId } from '../raft/types.ts';
import { realFs } from '../storage/fs.ts';
import type { NodeConfig } from './config.ts';
import { checkOrRecordIdentity, readIdentity } from './identity.ts';
import { waitForAssignedIdentity } from './identity-wait.ts';
import { advertisedHostOf, kvGroupId, nodeVersion } from './node.ts';

/** Other ordinals pod 0 asks before bootstrapping (a cluster has at most 7 voters; learners beyond are rare). */
const podOrdinalProbeMax = 15;
const probeAttemptDeadlineMs = 1_500;
const probeRetryMs = 500;
/** Pod 0 waits this long at most for named peers to answer before giving up (the kubelet restarts it). */
const bootstrapDecisionWaitMs = 120_000;

export interface PodIdentity {
  readonly podName: string;
  /** `<statefulset>` of `<statefulset>-N`. */
  readonly statefulSet: string;
  readonly ordinal: number;
  readonly nodeId: NodeId;
}

/** `<name>-N` → ordinal N (`nodeId` N+1: the id ordinal 0 bootstraps with, and only a guess for the others); undefined for a name without an ordinal suffix. */
export function podIdentityOf(podName: string): PodIdentity | undefined {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)-(\d{1,6})$/.exec(podName);
  if (match === null) return undefined;
  const ordinal = Number(match[3]);
  return { podName, statefulSet: match[1] ?? '', ordinal, nodeId: ordinal + 1 };
}

/** The pod name: PHANTOMDB_NODE_NAME (the operator's pod template sets it), else HOSTNAME. */
export function podIdentityFromEnv(env: NodeJS.ProcessEnv): PodIdentity | undefined {
  const explicit = env.PHANTOMDB_NODE_NAME;
  if (explicit !== undefined && explicit !== '') return podIdentityOf(explicit);
  const hostname = env.HOSTNAME;
  return hostname === undefined || hostname === '' ? undefined : podIdentityOf(hostname);
}

/** Whether the pod decides the node id (neither --node-id nor PHANTOMDB_NODE_ID is given). */
export function podManagesNodeId(env: NodeJS.ProcessEnv, flags: Readonly<Record<string, string | undefined>>): boolean {
  return flags['node-id'] === undefined && (env.PHANTOMDB_NODE_ID === undefined || env.PHANTOMDB_NODE_ID === '') && podIdentityFromEnv(env) !== undefined;
}

/**
 * The environment with PHANTOMDB_NODE_ID filled in from the pod name (N+1, a placeholder the
 * configuration needs; `resolvePodNodeId` decides the real id) when neither the flag nor the
 * variable gives one. Returns `env` unchanged otherwise.
 */
export function withPodNodeId(env: NodeJS.ProcessEnv, flags: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  if (flags['node-id'] !== undefined || (env.PHANTOMDB_NODE_ID !== undefined && env.PHANTOMDB_NODE_ID !== '')) return env;
  const pod = podIdentityFromEnv(env);
  return pod === undefined ? env : { ...env, PHANTOMDB_NODE_ID: String(pod.nodeId) };
}

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}

/** Where pods of the StatefulSet are: `<statefulset>-N.<PHANTOMDB_PEER_SERVICE>` (the headless Service domain). */
export interface PodNetwork {
  readonly pod: PodIdentity;
  readonly peerDomain: string;
  readonly raftPort: number;
  readonly kvPort: number;
}

export function podNetworkOf(config: NodeConfig, env: NodeJS.ProcessEnv): PodNetwork | undefined {
  const pod = podIdentityFromEnv(env);
  const peerDomain = env.PHANTOMDB_PEER_SERVICE;
  if (pod === undefined || peerDomain === undefined || peerDomain === '' || pod.nodeId !== config.nodeId) return undefined;
  return { pod, peerDomain, raftPort: portOf(config.grpcListen), kvPort: portOf(config.kvListen) };
}

function podHost(network: PodNetwork, ordinal: number): string {
  return `${network.pod.statefulSet}-${ordinal}.${network.peerDomain}`;
}

/**
 * The Raft address of node `nodeId` by the naming scheme, for peers the address book does not
 * know yet (an uninitialized node must answer the leader before it has applied any addresses).
 */
export function podRaftAddress(network: PodNetwork, nodeId: NodeId): string | undefined {
  if (!Number.isSafeInteger(nodeId) || nodeId < 1) return undefined;
  return `${podHost(network, nodeId - 1)}:${network.raftPort}`;
}

type PeerAnswer = 'absent' | 'uninitialized' | 'initialized' | 'unknown';

async function askPeer(client: AdminClient, network: PodNetwork, ordinal: number): Promise<PeerAnswer> {
  const host = podHost(network, ordinal);
  try {
    await lookup(host);
  } catch {
    return 'absent';
  }
  try {
    const info = await client.nodeInfo(`${host}:${network.kvPort}`, { deadlineMs: probeAttemptDeadlineMs });
    return info.initialized ? 'initialized' : 'uninitialized';
  } catch {
    return 'unknown';
  }
}

/** Whether a cluster already exists among the other pods (see the file comment); waits for named peers to answer. */
async function clusterExists(config: NodeConfig, network: PodNetwork, log: (line: string) => void, sleep: (ms: number) => Promise<void>): Promise<boolean> {
  const ordinals = Array.from({ length: podOrdinalProbeMax }, (_, index) => index + 1);
  const client = new AdminClient({ endpoints: [`${podHost(network, 0)}:${network.kvPort}`], clusterId: config.clusterId, deadlineMs: probeAttemptDeadlineMs, attemptDeadlineMs: probeAttemptDeadlineMs });
  try {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      const answers = await Promise.all(ordinals.map((ordinal) => askPeer(client, network, ordinal)));
      if (answers.includes('initialized')) return true;
      const waitingFor = ordinals.filter((_, index) => answers[index] === 'unknown');
      if (waitingFor.length === 0) return false;
      if (performance.now() - started > bootstrapDecisionWaitMs) {
        throw new Error(`cannot tell whether a cluster exists: pods ${waitingFor.map((ordinal) => podHost(network, ordinal)).join(', ')} do not answer`);
      }
      if (attempt === 1 || attempt % 20 === 0) log(`bootstrap: waiting for pods of ordinals ${waitingFor.join(', ')} to answer before starting a new cluster`);
      await sleep(probeRetryMs);
    }
  } finally {
    client.close();
  }
}

/**
 * The node id of a pod that manages its own id (see the file comment): the one its data
 * directory records, 1 for ordinal 0, else the one the operator assigns (waits for it).
 */
export async function resolvePodNodeId(config: NodeConfig, network: PodNetwork, log: (line: string) => void): Promise<NodeId> {
  const stored = readIdentity(config.dataDir);
  if (stored !== undefined) return stored.nodeId;
  if (network.pod.ordinal === 0) return 1;
  return waitForAssignedIdentity(
    { clusterId: config.clusterId, dataDir: config.dataDir, raftAddress: `${advertisedHostOf(config)}:${network.raftPort}`, version: nodeVersion, log, metrics: config.metrics === 'on' },
    { kvListen: config.kvListen, httpListen: config.httpListen },
  );
}

const peerScanIntervalMs = 2_000;

/**
 * Finds the Raft address of a node id by asking the StatefulSet's pods (ordinals
 * 0..podOrdinalProbeMax) for their NodeInfo, in the background and at most every 2 s; until it
 * has an answer it offers the naming guess (node N+1 at ordinal N).
 */
export class PodPeerFinder {
  private readonly found = new Map<NodeId, string>();
  private scanning = false;
  private lastScanMs = Number.NEGATIVE_INFINITY;
  private client: AdminClient | undefined;

  constructor(
    private readonly network: PodNetwork,
    private readonly clusterId: string,
  ) {}

  resolve(nodeId: NodeId): string | undefined {
    const hit = this.found.get(nodeId);
    if (hit !== undefined) return hit;
    this.scan();
    return podRaftAddress(this.network, nodeId);
  }

  private scan(): void {
    const now = performance.now();
    if (this.scanning || now - this.lastScanMs < peerScanIntervalMs) return;
    this.scanning = true;
    this.lastScanMs = now;
    this.client ??= new AdminClient({ endpoints: [`${podHost(this.network, 0)}:${this.network.kvPort}`], clusterId: this.clusterId, deadlineMs: probeAttemptDeadlineMs, attemptDeadlineMs: probeAttemptDeadlineMs });
    const client = this.client;
    const ordinals = Array.from({ length: podOrdinalProbeMax + 1 }, (_, index) => index).filter((ordinal) => ordinal !== this.network.pod.ordinal);
    void Promise.all(
      ordinals.map(async (ordinal) => {
        const host = podHost(this.network, ordinal);
        try {
          await lookup(host);
          const info = await client.nodeInfo(`${host}:${this.network.kvPort}`, { deadlineMs: probeAttemptDeadlineMs });
          if (info.nodeId > 0 && info.address !== '') this.found.set(info.nodeId, info.address);
        } catch {
          // No such pod, or not answering yet: the next scan asks again.
        }
      }),
    ).finally(() => (this.scanning = false));
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}

export type PodStartMode = 'restart' | 'bootstrap' | 'uninitialized';

/**
 * Prepares the data directory of a pod started without --peers/--join (see the file comment):
 * records the identity and creates the Raft group, with this node as the only voter (bootstrap)
 * or with no members (uninitialized). Returns what it did.
 */
export async function preparePodDataDir(config: NodeConfig, network: PodNetwork, log: (line: string) => void, sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))): Promise<PodStartMode> {
  checkOrRecordIdentity(config.dataDir, { clusterId: config.clusterId, nodeId: config.nodeId });
  const logStore = await RaftLogEngine.open(realFs, path.join(config.dataDir, 'raft'));
  try {
    if (logStore.hasGroup(kvGroupId)) return 'restart';
    const bootstrap = network.pod.ordinal === 0 && !(await clusterExists(config, network, log, sleep));
    if (bootstrap) {
      log(`bootstrap: pod ${network.pod.podName} starts cluster ${config.clusterId} as its first voter (node ${config.nodeId})`);
      await logStore.createGroup(kvGroupId, simpleConfState([config.nodeId]));
      return 'bootstrap';
    }
    if (network.pod.ordinal === 0) {
      log(`bootstrap: a cluster already exists but this data directory is new (lost volume?): starting uninitialized, NOT as a new cluster; the leader re-replicates to node ${config.nodeId} if it is still a member`);
    } else {
      log(`new data directory: starting uninitialized; the operator adds node ${config.nodeId} as a learner`);
    }
    await logStore.createGroup(kvGroupId, simpleConfState([]));
    return 'uninitialized';
  } finally {
    await logStore.close();
  }
}
