/**
 * The observed state of a cluster, computed at the end of every reconcile from what the steps
 * saw: pods, the data nodes' cluster status, the StatefulSet and the operation journal. The
 * result is written only when it differs from what is stored (kube/status.ts).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { ClusterPhase, NodeStatus } from '../api/index.ts';
import type { NodeStatus as DataNodeStatus } from '../admin-client/index.ts';
import { podTemplateHashAnnotation, selectorString } from '../resources/index.ts';
import { assessBalance } from './balance.ts';
import { conditionOf, setCondition } from './conditions.ts';
import { nodeIdOfPod, statefulSetReplicas } from './cluster-steps.ts';
import { isPodReady, ordinalOf, validated, type ReconcileContext } from './context.ts';
import { podHashOf, rolloutKinds } from './rollout.ts';

const roleOf: Record<DataNodeStatus['membership'], NodeStatus['role']> = {
  LEARNER: 'Joining',
  VOTER: 'Member',
  DECOMMISSIONING: 'Decommissioning',
  DECOMMISSIONED: 'Decommissioned',
};

function nodeStatus(ctx: ReconcileContext, pod: V1Pod, ordinal: number): NodeStatus {
  const podName = pod.metadata?.name ?? '';
  const info = ctx.nodeInfos.get(podName);
  const previous = ctx.status.nodes?.find((node) => node.pod === podName);
  const id = nodeIdOfPod(ctx, podName);
  const member = id === undefined ? undefined : ctx.clusterStatus?.nodes.find((node) => node.nodeId === id);
  const status: NodeStatus = { pod: podName, ordinal, role: previous?.role ?? 'Joining', health: 'Unknown' };
  if (id !== undefined) status.id = String(id);
  // The version the process reports (NodeInfo; the cluster status only knows the leader's own).
  const reported = info?.version ?? (member?.version === '' ? undefined : member?.version) ?? previous?.version;
  if (reported !== undefined && reported !== '') status.version = reported;
  const podVersion = pod.metadata?.labels?.['app.kubernetes.io/version'];
  if (podVersion !== undefined) status.podVersion = podVersion;
  const hash = podHashOf(pod);
  if (hash !== undefined) status.podTemplateHash = hash;
  if (member !== undefined) {
    status.role = roleOf[member.membership];
    status.health = member.liveness === 'LIVE' && isPodReady(pod) ? 'Healthy' : 'Unhealthy';
    status.ranges = member.replicas;
    status.leases = member.leases;
    if (member.locality !== '') status.locality = member.locality;
  } else if (info !== undefined) {
    status.role = ordinal === 0 && ctx.clusterStatus === undefined ? 'Bootstrap' : 'Joining';
    status.health = isPodReady(pod) ? 'Healthy' : 'Unhealthy';
  } else if (ctx.clusterStatus !== undefined || ctx.admin !== undefined) {
    status.health = ctx.deps.podAddress(pod) === undefined ? 'Unknown' : 'Unreachable';
  }
  return status;
}

function phaseOf(ctx: ReconcileContext, joining: boolean, readyReplicas: number): ClusterPhase {
  const cluster = validated(ctx);
  if (cluster.spec.paused) return 'Paused';
  if (ctx.status.operation !== undefined) return rolloutKinds.includes(ctx.status.operation.kind) ? 'Upgrading' : 'Scaling';
  if (ctx.pods.length === 0) return 'Pending';
  if (ctx.clusterStatus === undefined) return ctx.status.phase === undefined || ctx.status.phase === 'Pending' || ctx.status.phase === 'Bootstrapping' ? 'Bootstrapping' : 'Degraded';
  if (ctx.clusterStatus.unavailableRanges > 0) return 'Degraded';
  if (joining || statefulSetReplicas(ctx) !== cluster.spec.replicas) return 'Scaling';
  if (readyReplicas < cluster.spec.replicas || ctx.clusterStatus.underReplicatedRanges > 0) return 'Degraded';
  return 'Running';
}

/** Why the journaled rollout is paused, if it is. */
function rolloutPausedReason(ctx: ReconcileContext): string | undefined {
  const operation = ctx.status.operation;
  if (operation === undefined || !rolloutKinds.includes(operation.kind)) return undefined;
  const reason = operation.details?.['pausedReason'];
  return typeof reason === 'string' ? reason : undefined;
}

/**
 * A settled cluster whose every node runs the StatefulSet's template (a new cluster, or one an
 * older operator rolled) gets its cluster version and template hash here; after a rollout the
 * rollout's completion sets them. Never while a node still runs another template.
 */
function finalizeSettledVersion(ctx: ReconcileContext, nodes: readonly NodeStatus[], phase: ClusterPhase): void {
  const cluster = validated(ctx);
  const desired = ctx.statefulSet?.spec?.template.metadata?.annotations?.[podTemplateHashAnnotation];
  if (phase !== 'Running' || desired === undefined || nodes.length !== cluster.spec.replicas) return;
  if (!nodes.every((node) => node.podTemplateHash === desired && node.podVersion === cluster.spec.version)) return;
  ctx.status.podTemplateHash = desired;
  ctx.status.clusterVersion = cluster.spec.version;
}

/**
 * The Rebalancing condition, recomputed from this reconcile's ClusterStatus (balance.ts): True
 * while a live node's replica count is outside ±10% of the mean or a range is under-replicated,
 * False when balanced, Unknown when no data node answered. Returns the imbalance (for messages)
 * when True. The False message does not carry the counts, so a balanced cluster whose counts
 * change (splits) writes no status.
 */
export function setRebalancing(ctx: ReconcileContext): string | undefined {
  const health = ctx.clusterStatus;
  const update = (status: 'True' | 'False' | 'Unknown', reason: string, message: string): void => {
    ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Rebalancing', status, reason, message }, ctx.now, ctx.object.metadata.generation);
  };
  if (health === undefined) {
    update('Unknown', 'NoDataNodeAnswers', 'no data node answers the admin API: replica counts unknown');
    return undefined;
  }
  const balance = assessBalance(health);
  if (balance.balanced) {
    update('False', 'Balanced', `every live node holds within ±10% of the mean replica count (${balance.nodes.length} live nodes) and no range is under-replicated`);
    return undefined;
  }
  const reason = balance.outside.length > 0 ? 'ReplicasMoving' : balance.nodes.length === 0 ? 'NoLiveNodes' : 'UnderReplicated';
  update('True', reason, balance.message);
  return balance.message;
}

/** Fills ctx.status with the observed state and the conditions that follow from it. */
export function summarizeStatus(ctx: ReconcileContext): void {
  const cluster = validated(ctx);
  const generation = ctx.object.metadata.generation;
  const nodes = ctx.pods
    .map((pod) => ({ pod, ordinal: ordinalOf(pod, cluster.metadata.name) }))
    .filter((entry): entry is { pod: V1Pod; ordinal: number } => entry.ordinal !== undefined)
    .map(({ pod, ordinal }) => nodeStatus(ctx, pod, ordinal));
  const readyReplicas = ctx.pods.filter(isPodReady).length;
  const joining = nodes.some((node) => node.ordinal < cluster.spec.replicas && (node.role === 'Joining' || node.role === 'Bootstrap')) || nodes.length < cluster.spec.replicas;
  const status = ctx.status;
  status.replicas = ctx.pods.length;
  status.readyReplicas = readyReplicas;
  status.selector = selectorString(cluster);
  status.clusterId = cluster.metadata.name;
  status.nodes = nodes;
  if (generation !== undefined) status.observedGeneration = generation;
  const versions = new Set(nodes.map((node) => node.podVersion ?? ''));
  if (nodes.length > 0 && versions.size === 1 && !versions.has('')) status.currentVersion = [...versions][0] ?? cluster.spec.version;
  else if (status.currentVersion === undefined && readyReplicas === cluster.spec.replicas && readyReplicas > 0) status.currentVersion = cluster.spec.version;
  const phase = phaseOf(ctx, joining, readyReplicas);
  finalizeSettledVersion(ctx, nodes, phase);
  status.phase = phase;
  const health = ctx.clusterStatus;
  const set = (type: string, value: boolean, reason: string, message: string): void => {
    status.conditions = setCondition(status.conditions, { type, status: value ? 'True' : 'False', reason, message }, ctx.now, generation);
  };
  const available = health !== undefined && health.unavailableRanges === 0 && readyReplicas >= Math.min(cluster.spec.replicationFactor, cluster.spec.replicas);
  set('Available', available, available ? 'QuorumAvailable' : health === undefined ? 'NoDataNodeAnswers' : 'RangesUnavailable', available ? `${readyReplicas} of ${cluster.spec.replicas} data nodes ready` : health === undefined ? 'no data node answers the admin API yet' : `${health.unavailableRanges} ranges have no live majority; ${readyReplicas} data nodes ready`);
  const progressing = phase === 'Scaling' || phase === 'Bootstrapping' || phase === 'Upgrading';
  if (conditionOf(status.conditions, 'Upgrading') === undefined) set('Upgrading', false, 'NoRollout', 'every data node runs the desired pod template');
  const addingNodes = status.operation === undefined || (status.operation.kind === 'ScaleOut' && status.operation.step === 'AddNodes');
  const scalingUp = addingNodes && (statefulSetReplicas(ctx) < cluster.spec.replicas || joining);
  set('ScalingUp', scalingUp, scalingUp ? 'NodesJoining' : 'AllNodesJoined', scalingUp ? `${nodes.filter((node) => node.role === 'Member').length} of ${cluster.spec.replicas} data nodes are members` : 'every data node is a member');
  const rebalancing = setRebalancing(ctx);
  if (status.operation === undefined && conditionOf(status.conditions, 'ScalingDown') === undefined) set('ScalingDown', false, 'NoScaleIn', 'no scale-in in progress');
  const pausedReason = rolloutPausedReason(ctx);
  const upgradingCondition = conditionOf(status.conditions, 'Upgrading');
  const downgradeRefused = upgradingCondition?.reason === 'DowngradeRefused' ? upgradingCondition.message : undefined;
  const degradedReason = downgradeRefused !== undefined ? 'DowngradeRefused' : pausedReason !== undefined ? 'RolloutPaused' : health !== undefined && health.unavailableRanges > 0 ? 'RangesUnavailable' : health !== undefined && health.underReplicatedRanges > 0 ? 'UnderReplicated' : readyReplicas < cluster.spec.replicas && phase === 'Degraded' ? 'NodesNotReady' : undefined;
  const degradedMessage =
    degradedReason === 'DowngradeRefused'
      ? (downgradeRefused ?? '')
      : degradedReason === 'RolloutPaused'
      ? (pausedReason ?? '')
      : degradedReason === 'RangesUnavailable'
      ? `${health?.unavailableRanges ?? 0} ranges have no live majority`
      : degradedReason === 'UnderReplicated'
        ? `${health?.underReplicatedRanges ?? 0} ranges have fewer replicas than replicationFactor ${cluster.spec.replicationFactor}`
        : degradedReason === 'NodesNotReady'
          ? `${readyReplicas} of ${cluster.spec.replicas} data nodes ready`
          : 'spec is valid and the cluster is healthy';
  set('Degraded', degradedReason !== undefined, degradedReason ?? 'Healthy', degradedMessage);
  // Rebalancing is progress too, also outside a scale-out (the data nodes move replicas on their own).
  const moving = progressing || rebalancing !== undefined;
  set('Progressing', moving, !moving ? 'Settled' : progressing && rebalancing === undefined ? phase : 'Rebalancing', !moving ? 'no change in progress' : rebalancing === undefined ? `cluster is ${phase.toLowerCase()}` : `rebalancing: ${rebalancing}`);
  const running = phase === 'Running' ? `${readyReplicas} data nodes running` : undefined;
  status.message = conditionOf(status.conditions, 'Degraded')?.status === 'True' ? degradedMessage : rebalancing !== undefined ? `${running ?? `cluster is ${phase.toLowerCase()}`}; rebalancing: ${rebalancing}` : (running ?? `cluster is ${phase.toLowerCase()}`);
}
