/**
 * The steps of a PhantomCluster reconcile before and after scale-in (scale-in.ts): validate,
 * pause, the owned objects, observing the data nodes, bootstrap and joins (scale-out: scale-out.ts).
 */
import type { KubernetesObject, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { isNotFound } from '../kube/errors.ts';
import { apiVersion, clusterKind, validateClusterSpec, type PhantomCluster } from '../api/index.ts';
import { desiredClusterObjects, objectNames } from '../resources/index.ts';
import { deleteIfExists, ensureObject, type KindClient } from './apply.ts';
import { setCondition } from './conditions.ts';
import type { ClusterAdmin, ClusterStatus, NodeInfo } from '../admin-client/index.ts';
import { finish, isPodReady, ordinalOf, proceed, requeueAfter, validated, type ReconcileContext, type Step } from './context.ts';

/**
 * Invalid spec: Degraded condition and a Warning event saying why, and nothing else changes. A
 * replica count below the replication factor is reported as a refused scale-in when the cluster
 * has more nodes now.
 */
export const validateSpec: Step = async (ctx) => {
  const result = validateClusterSpec(ctx.object.spec);
  const generation = ctx.object.metadata.generation;
  if (result.ok) {
    ctx.cluster = { apiVersion, kind: clusterKind, metadata: ctx.object.metadata, spec: result.value, status: ctx.status } as PhantomCluster;
    return proceed;
  }
  const spec = (typeof ctx.object.spec === 'object' && ctx.object.spec !== null ? ctx.object.spec : {}) as { replicas?: unknown; replicationFactor?: unknown };
  const currentReplicas = ctx.status.replicas ?? 0;
  const rfProblem = result.errors.find((error) => error.path === 'spec.replicationFactor' && /must not exceed spec\.replicas/.test(error.message));
  let reason = 'InvalidSpec';
  let message = `the operator keeps the cluster as it is until the spec is fixed: ${result.errors.map((error) => error.message).join('; ')}`;
  if (rfProblem !== undefined && typeof spec.replicas === 'number' && typeof spec.replicationFactor === 'number' && currentReplicas > spec.replicas) {
    reason = 'ScaleInRefused';
    message = `refusing to scale in to ${spec.replicas} node(s): replicationFactor ${spec.replicationFactor} needs at least ${spec.replicationFactor} nodes; the cluster keeps its ${currentReplicas} nodes`;
    ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'ScalingDown', status: 'False', reason, message }, ctx.now, generation);
  }
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Degraded', status: 'True', reason, message }, ctx.now, generation);
  ctx.status.message = message;
  if (generation !== undefined) ctx.status.observedGeneration = generation;
  await ctx.event('Warning', reason, message);
  return finish;
};

/** A paused cluster is observed (read-only) for its status, and nothing is changed. */
export const stopWhenPaused: Step = async (ctx) => {
  if (!validated(ctx).spec.paused) return proceed;
  ctx.statefulSet = await readStatefulSet(ctx);
  await observeNodes(ctx);
  return finish;
};

async function ensure<T extends KubernetesObject>(ctx: ReconcileContext, client: KindClient<T>, desired: T): Promise<T> {
  const result = await ensureObject(client, desired);
  if (result.action !== 'unchanged') await ctx.event('Normal', result.action === 'created' ? 'Created' : 'Updated', `${result.action === 'created' ? 'Created' : 'Updated'} ${client.kind} ${desired.metadata?.name ?? ''}`);
  return result.object;
}

function desired(ctx: ReconcileContext, replicas?: number): ReturnType<typeof desiredClusterObjects> {
  const options = ctx.deps.dataNodeImageRepository === undefined ? {} : { dataNodeImageRepository: ctx.deps.dataNodeImageRepository };
  const cluster = validated(ctx);
  return desiredClusterObjects(cluster, replicas ?? cluster.spec.replicas, options);
}

export const ensureServiceAccount: Step = async (ctx) => {
  await ensure(ctx, ctx.deps.kinds.serviceAccount, desired(ctx).serviceAccount);
  return proceed;
};

export const ensureConfigMap: Step = async (ctx) => {
  await ensure(ctx, ctx.deps.kinds.configMap, desired(ctx).configMap);
  return proceed;
};

export const ensureServices: Step = async (ctx) => {
  const objects = desired(ctx);
  await ensure(ctx, ctx.deps.kinds.service, objects.headlessService);
  await ensure(ctx, ctx.deps.kinds.service, objects.clientService);
  return proceed;
};

export const ensurePodDisruptionBudget: Step = async (ctx) => {
  const budget = desired(ctx).podDisruptionBudget;
  if (budget !== undefined) await ensure(ctx, ctx.deps.kinds.podDisruptionBudget, budget);
  else if (await deleteIfExists(ctx.deps.kinds.podDisruptionBudget, ctx.namespace, objectNames(validated(ctx)).podDisruptionBudget)) await ctx.event('Normal', 'Deleted', 'Deleted PodDisruptionBudget (disabled in spec)');
  return proceed;
};

/**
 * The StatefulSet with everything but its replica count taken from the spec: the count is
 * changed only by the scale steps (a new cluster starts at spec.replicas).
 */
export const ensureStatefulSet: Step = async (ctx) => {
  const existing = ctx.statefulSet ?? (await readStatefulSet(ctx));
  const replicas = existing?.spec?.replicas ?? validated(ctx).spec.replicas;
  ctx.statefulSet = await ensure(ctx, ctx.deps.kinds.statefulSet, desired(ctx, replicas).statefulSet);
  return proceed;
};

export async function readStatefulSet(ctx: ReconcileContext): Promise<V1StatefulSet | undefined> {
  try {
    return await ctx.deps.kinds.statefulSet.read(ctx.namespace, objectNames(validated(ctx)).statefulSet);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Replaces the StatefulSet with the spec's at `replicas` pods: the only way the scale steps
 * change its replica count. Needs the StatefulSet read in this reconcile (ctx.statefulSet).
 */
export async function setStatefulSetReplicas(ctx: ReconcileContext, replicas: number): Promise<void> {
  const existing = ctx.statefulSet;
  if (existing === undefined) throw new Error(`unreachable: ${ctx.key} scaled before its StatefulSet was read`);
  ctx.statefulSet = await ctx.deps.kinds.statefulSet.replace(ctx.namespace, objectNames(validated(ctx)).statefulSet, ctx.deps.kinds.statefulSet.merge(existing, desired(ctx, replicas).statefulSet));
}

/** The StatefulSet's replica count as the operator last set it. */
export function statefulSetReplicas(ctx: ReconcileContext): number {
  return ctx.statefulSet?.spec?.replicas ?? 0;
}

/**
 * Reads the data nodes' state: the pods, NodeInfo of every pod that is not a known member, and
 * the cluster status from whichever member answers. Unreachable nodes are not an error here:
 * the status reports them and later steps wait.
 */
export const observeNodes: Step = async (ctx) => {
  const cluster = validated(ctx);
  ctx.pods = [...ctx.deps.listPods(ctx.namespace, cluster.metadata.name)].sort((a, b) => (ordinalOf(a, cluster.metadata.name) ?? 0) - (ordinalOf(b, cluster.metadata.name) ?? 0));
  const endpoints = ctx.pods.map((pod) => ctx.deps.podAddress(pod)).filter((address): address is string => address !== undefined);
  if (endpoints.length === 0) return proceed;
  const admin = ctx.deps.admin.forCluster(ctx.key, cluster.metadata.name, endpoints);
  ctx.admin = admin;
  try {
    ctx.clusterStatus = await admin.clusterStatus();
  } catch {
    ctx.clusterStatus = undefined;
  }
  // Removed nodes stay in the cluster status (DECOMMISSIONED); a pod of such an id is asked again.
  const memberIds = new Set(ctx.clusterStatus?.nodes.filter((node) => node.membership !== 'DECOMMISSIONED').map((node) => node.nodeId) ?? []);
  const knownIds = new Map((ctx.status.nodes ?? []).map((node) => [node.pod, node.id]));
  await Promise.all(
    ctx.pods.map(async (pod) => {
      const podName = pod.metadata?.name ?? '';
      const address = ctx.deps.podAddress(pod);
      const known = knownIds.get(podName);
      // Known members are asked too while Ready, for the version their process reports.
      if (address === undefined || (known !== undefined && memberIds.has(Number(known)) && !isPodReady(pod))) return;
      try {
        ctx.nodeInfos.set(podName, await admin.nodeInfo(address));
      } catch {
        // Not up yet; the status shows it as unreachable.
      }
    }),
  );
  return proceed;
};

/**
 * The member (not removed) a new node (NodeInfo id 0) was added as before it got its id: the one
 * at its Raft address (the pod's stable DNS name), if any.
 */
function memberReservedFor(ctx: ReconcileContext, info: NodeInfo): number | undefined {
  if (info.address === '') return undefined;
  return ctx.clusterStatus?.nodes.find((node) => node.address === info.address && node.membership !== 'DECOMMISSIONED' && node.membership !== 'DECOMMISSIONING')?.nodeId;
}

/**
 * The node id of a pod: from this reconcile's NodeInfo (a new node without an id yet: the member
 * added for it, if any), else from the status. Never derived from the ordinal.
 */
export function nodeIdOfPod(ctx: ReconcileContext, podName: string): number | undefined {
  const info = ctx.nodeInfos.get(podName);
  if (info !== undefined) return info.nodeId === 0 ? memberReservedFor(ctx, info) : info.nodeId;
  const id = ctx.status.nodes?.find((node) => node.pod === podName)?.id;
  return id === undefined ? undefined : Number(id);
}

/**
 * A fresh node id: above every id the cluster reports (members, removed nodes, its highest
 * recorded id) and every id in use by a pod (`alsoUsed`). Ids are never reused: a removed id is
 * refused by the data nodes forever.
 */
export function allocateNodeId(status: ClusterStatus, alsoUsed: Iterable<number> = []): number {
  let highest = status.highestNodeId;
  for (const node of status.nodes) highest = Math.max(highest, node.nodeId);
  for (const id of alsoUsed) highest = Math.max(highest, id);
  return highest + 1;
}

/**
 * A pod whose node has no id yet (NodeInfo id 0: a new data directory, ordinal > 0): adds a
 * fresh id as a learner at the pod's Raft address first (the replicated configuration and
 * address book then hold the reservation, so a restarted operator finds it again by address and
 * never hands the id to another pod), then tells the pod its id (AssignIdentity, idempotent).
 */
async function assignNodeId(ctx: ReconcileContext, admin: ClusterAdmin, status: ClusterStatus, pod: V1Pod, info: NodeInfo): Promise<void> {
  const podName = pod.metadata?.name ?? '';
  const address = ctx.deps.podAddress(pod);
  if (address === undefined) return;
  let nodeId = memberReservedFor(ctx, info);
  if (nodeId === undefined) {
    const used = [...ctx.nodeInfos.values()].map((other) => other.nodeId);
    for (const node of ctx.status.nodes ?? []) if (node.id !== undefined) used.push(Number(node.id));
    nodeId = allocateNodeId(status, used);
    await admin.addLearner(nodeId, info.address);
    await ctx.event('Normal', 'NodeJoining', `Adding node ${nodeId} (pod ${podName}, a fresh id) to the cluster as a learner`);
  }
  await admin.assignIdentity(address, nodeId);
  await ctx.event('Normal', 'NodeIdAssigned', `Pod ${podName} is node ${nodeId}`);
}

/**
 * Bootstrap and joins. The pod of ordinal 0 initializes a new cluster by itself (node 1); every
 * other node starts empty without an id, gets a fresh one here (assignNodeId; at most one per
 * reconcile, so two pods never get the same) and is added: AddLearner, then Promote once it has
 * caught up.
 */
export const joinNodes: Step = async (ctx) => {
  const cluster = validated(ctx);
  const admin = ctx.admin;
  if (admin === undefined) return ctx.pods.length === 0 ? proceed : requeueAfter(ctx.deps.timings.podPollMs);
  if (ctx.clusterStatus === undefined) {
    // Nobody answers for the cluster yet: the first node is still initializing.
    return requeueAfter(ctx.deps.timings.progressPollMs);
  }
  let waiting = false;
  let assigned = false;
  for (const pod of ctx.pods) {
    const podName = pod.metadata?.name ?? '';
    const ordinal = ordinalOf(pod, cluster.metadata.name);
    if (ordinal === undefined || ordinal >= cluster.spec.replicas) continue;
    const info = ctx.nodeInfos.get(podName);
    if (info !== undefined && info.nodeId === 0) {
      if (!assigned) await assignNodeId(ctx, admin, ctx.clusterStatus, pod, info);
      assigned = true;
      waiting = true;
      continue;
    }
    const nodeId = nodeIdOfPod(ctx, podName);
    const member = ctx.clusterStatus.nodes.find((node) => node.nodeId === nodeId);
    if (nodeId === undefined) {
      waiting = true;
      continue;
    }
    if (member === undefined) {
      if (info === undefined || info.initialized) {
        waiting = true;
        continue;
      }
      await admin.addLearner(nodeId, info.address);
      await ctx.event('Normal', 'NodeJoining', `Adding node ${nodeId} (pod ${podName}) to the cluster as a learner`);
      waiting = true;
    } else if (member.membership === 'LEARNER') {
      if (member.raft?.caughtUp === true) {
        await admin.promote(nodeId);
        await ctx.event('Normal', 'NodeJoined', `Node ${nodeId} (pod ${podName}) caught up and became a voter`);
      }
      waiting = true;
    }
  }
  return waiting ? requeueAfter(ctx.deps.timings.progressPollMs) : proceed;
};
