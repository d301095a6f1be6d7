/**
 * Scale-in, journaled in status.operation. Nodes go highest ordinal first, one at a time, each
 * through these steps:
 *
 *   Decommission        ask the data nodes to move the node's replicas and leases away
 *   WaitDecommissioned  until the node holds nothing and has left the membership
 *   ShrinkStatefulSet   lower the StatefulSet's replicas, so its pod goes away
 *   WaitPodGone         until the pod no longer exists
 *   ReclaimVolume       delete its PersistentVolumeClaim if storage.reclaimPolicy is Delete
 *
 * The journal names the step reached and the node it is about. Each step acts and then writes
 * the journal with the next step before anything else happens, so an operator that stops at any
 * point resumes at the step it reached: a finished step is never repeated (the journal says it
 * finished) and a half-done one is done again (every action is idempotent: decommissioning a
 * decommissioning node, setting replicas already set, deleting a deleted claim).
 */
import { z } from 'zod';
import type { ClusterOperation } from '../api/index.ts';
import { AdminError, type DecommissionProgress } from '../admin-client/index.ts';
import { isNotFound } from '../kube/errors.ts';
import { objectNames } from '../resources/index.ts';
import { setCondition } from './conditions.ts';
import { nodeIdOfPod, setStatefulSetReplicas, statefulSetReplicas } from './cluster-steps.ts';
import { supersedeScaleOut } from './scale-out.ts';
import { proceed, requeueAfter, validated, type ReconcileContext, type Step, type StepResult } from './context.ts';

export const scaleInSteps = ['Decommission', 'WaitDecommissioned', 'ShrinkStatefulSet', 'WaitPodGone', 'ReclaimVolume'] as const;
export type ScaleInStep = (typeof scaleInSteps)[number];

const detailsSchema = z.object({
  fromReplicas: z.number().int().min(1),
  toReplicas: z.number().int().min(1),
  /** The node being removed now. */
  ordinal: z.number().int().min(0),
  nodeId: z.number().int().min(1).optional(),
  /** Ordinals removed so far. */
  removed: z.array(z.number().int().min(0)),
  /** How far the decommission of the current node is (WaitDecommissioned), from the data nodes' reports. */
  progress: z
    .object({
      /** Replicas the node held when the operator first saw it decommissioning. */
      replicasAtStart: z.number().int().min(0),
      replicasRemaining: z.number().int().min(0),
      leasesRemaining: z.number().int().min(0),
      /** The operator's estimate from the rate so far (the admin API reports neither bytes left nor an ETA). */
      etaSeconds: z.number().int().min(0).optional(),
      /** When the last progress event was recorded, so that events stay at most one per interval. */
      lastEventAt: z.string().optional(),
    })
    .optional(),
});
export type ScaleInDetails = z.output<typeof detailsSchema>;

/** Steps per reconcile at most, so one reconcile cannot run away. */
const stepsPerReconcileMax = 16;
/** At most one DecommissionProgress event per node this often (progress itself is on status.operation). */
const progressEventIntervalMs = 30_000;

type Transition = { readonly kind: 'advance'; readonly step: ScaleInStep; readonly details: ScaleInDetails } | { readonly kind: 'complete' } | { readonly kind: 'wait'; readonly result: StepResult };

const wait = (result: StepResult): Transition => ({ kind: 'wait', result });

function isoNow(ctx: ReconcileContext): string {
  return new Date(ctx.deps.clock.nowMs()).toISOString();
}

function podName(ctx: ReconcileContext, ordinal: number): string {
  return `${objectNames(validated(ctx)).statefulSet}-${ordinal}`;
}

function scalingDown(ctx: ReconcileContext, status: 'True' | 'False', reason: string, message: string): void {
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'ScalingDown', status, reason, message }, ctx.now, ctx.object.metadata.generation);
}

/** Starts a scale-in when the StatefulSet is above spec.replicas and the data is fully replicated. */
async function start(ctx: ReconcileContext, current: number, target: number): Promise<StepResult | undefined> {
  const health = ctx.clusterStatus;
  if (health === undefined || health.unavailableRanges > 0 || health.underReplicatedRanges > 0) {
    const why = health === undefined ? 'no data node answers' : `${health.underReplicatedRanges} under-replicated and ${health.unavailableRanges} unavailable ranges`;
    scalingDown(ctx, 'False', 'WaitingForHealthyCluster', `scale-in from ${current} to ${target} waits: ${why}`);
    return requeueAfter(ctx.deps.timings.progressPollMs);
  }
  const details: ScaleInDetails = { fromReplicas: current, toReplicas: target, ordinal: current - 1, removed: [] };
  const now = isoNow(ctx);
  ctx.status.operation = { kind: 'ScaleIn', step: 'Decommission', startedAt: now, stepStartedAt: now, details, ...(ctx.object.metadata.generation === undefined ? {} : { generation: ctx.object.metadata.generation }) };
  scalingDown(ctx, 'True', 'ScaleInStarted', `removing ${current - target} node(s), highest ordinal first`);
  await ctx.persist();
  await ctx.event('Normal', 'ScaleInStarted', `Scaling in from ${current} to ${target} data nodes, highest ordinal first`);
  ctx.checkpoint();
  return undefined;
}

async function decommission(ctx: ReconcileContext, details: ScaleInDetails): Promise<Transition> {
  const pod = podName(ctx, details.ordinal);
  const podExists = ctx.pods.some((candidate) => candidate.metadata?.name === pod);
  const nodeId = details.nodeId ?? nodeIdOfPod(ctx, pod);
  const member = nodeId === undefined ? undefined : ctx.clusterStatus?.nodes.find((node) => node.nodeId === nodeId);
  if (nodeId === undefined || (ctx.clusterStatus !== undefined && member === undefined)) {
    // A node that never joined (or whose pod is gone without an id) holds nothing.
    if (nodeId === undefined && podExists) return wait(requeueAfter(ctx.deps.timings.podPollMs));
    return { kind: 'advance', step: 'ShrinkStatefulSet', details };
  }
  const admin = ctx.admin;
  if (admin === undefined) return wait(requeueAfter(ctx.deps.timings.podPollMs));
  let started: DecommissionProgress;
  try {
    started = await admin.decommission(nodeId);
  } catch (error) {
    if (error instanceof AdminError && error.code === 'PH_DECOMMISSION_REFUSED') {
      scalingDown(ctx, 'True', 'DecommissionRefused', `the data nodes refuse to decommission node ${nodeId} (pod ${pod}): ${error.message}`);
      await ctx.event('Warning', 'DecommissionRefused', `The data nodes refuse to decommission node ${nodeId} (pod ${pod}): ${error.message}`);
      return wait(requeueAfter(ctx.deps.timings.refusedRetryMs));
    }
    throw error;
  }
  const progress = { replicasAtStart: started.replicasRemaining, replicasRemaining: started.replicasRemaining, leasesRemaining: started.leasesRemaining };
  await ctx.event('Normal', 'Decommissioning', `Decommissioning node ${nodeId} (pod ${pod}): moving its ${progress.replicasRemaining} replicas and ${progress.leasesRemaining} leases away`);
  return { kind: 'advance', step: 'WaitDecommissioned', details: { ...details, nodeId, progress } };
}

type DecommissionProgressDetails = NonNullable<ScaleInDetails['progress']>;

/**
 * The next progress record from the node's current counts: the ETA is re-estimated only when the
 * count moved (so an unchanged count writes no status), linearly from the rate since the start.
 */
function nextProgress(ctx: ReconcileContext, operation: ClusterOperation, previous: DecommissionProgressDetails | undefined, replicas: number, leases: number): DecommissionProgressDetails {
  const replicasAtStart = Math.max(previous?.replicasAtStart ?? replicas, replicas);
  const base = { replicasAtStart, replicasRemaining: replicas, leasesRemaining: leases, ...(previous?.lastEventAt === undefined ? {} : { lastEventAt: previous.lastEventAt }) };
  if (previous !== undefined && previous.replicasRemaining === replicas) return { ...base, ...(previous.etaSeconds === undefined ? {} : { etaSeconds: previous.etaSeconds }) };
  const moved = replicasAtStart - replicas;
  const elapsedMs = ctx.deps.clock.nowMs() - Date.parse(operation.stepStartedAt ?? operation.startedAt);
  if (moved <= 0 || elapsedMs <= 0) return base;
  return { ...base, etaSeconds: Math.ceil(((elapsedMs / moved) * replicas) / 1000) };
}

function describeProgress(progress: DecommissionProgressDetails): string {
  const eta = progress.etaSeconds === undefined ? 'no estimate yet' : `about ${progress.etaSeconds} s left at the rate so far`;
  return `${progress.replicasRemaining} of ${progress.replicasAtStart} replicas and ${progress.leasesRemaining} leases left (${eta})`;
}

async function waitDecommissioned(ctx: ReconcileContext, operation: ClusterOperation, details: ScaleInDetails): Promise<Transition> {
  const health = ctx.clusterStatus;
  if (health === undefined || details.nodeId === undefined) return wait(requeueAfter(ctx.deps.timings.progressPollMs));
  const node = health.nodes.find((candidate) => candidate.nodeId === details.nodeId);
  if (node === undefined || node.membership === 'DECOMMISSIONED') return { kind: 'advance', step: 'ShrinkStatefulSet', details };
  let progress = nextProgress(ctx, operation, details.progress, node.replicas, node.leases);
  const pod = podName(ctx, details.ordinal);
  const lastEventMs = progress.lastEventAt === undefined ? undefined : Date.parse(progress.lastEventAt);
  if (progress.replicasRemaining !== details.progress?.replicasRemaining && (lastEventMs === undefined || ctx.deps.clock.nowMs() - lastEventMs >= progressEventIntervalMs)) {
    progress = { ...progress, lastEventAt: isoNow(ctx) };
    await ctx.event('Normal', 'DecommissionProgress', `Decommissioning node ${details.nodeId} (pod ${pod}): ${describeProgress(progress)}`);
  }
  // Not journaled at once: progress is written with the rest of the status at the end of the reconcile.
  ctx.status.operation = { ...operation, details: { ...details, progress } };
  scalingDown(ctx, 'True', 'Decommissioning', `node ${details.nodeId} (pod ${pod}) still holds ${describeProgress(progress)}`);
  return wait(requeueAfter(ctx.deps.timings.progressPollMs));
}

async function shrinkStatefulSet(ctx: ReconcileContext, details: ScaleInDetails): Promise<Transition> {
  if (ctx.statefulSet === undefined) return wait(requeueAfter(ctx.deps.timings.podPollMs));
  if (statefulSetReplicas(ctx) > details.ordinal) await setStatefulSetReplicas(ctx, details.ordinal);
  return { kind: 'advance', step: 'WaitPodGone', details };
}

function waitPodGone(ctx: ReconcileContext, details: ScaleInDetails): Transition {
  const pod = podName(ctx, details.ordinal);
  if (ctx.pods.some((candidate) => candidate.metadata?.name === pod)) return wait(requeueAfter(ctx.deps.timings.podPollMs));
  return { kind: 'advance', step: 'ReclaimVolume', details };
}

async function reclaimVolume(ctx: ReconcileContext, details: ScaleInDetails): Promise<Transition> {
  const cluster = validated(ctx);
  const claim = `data-${podName(ctx, details.ordinal)}`;
  if (cluster.spec.storage.reclaimPolicy === 'Delete') {
    try {
      await ctx.deps.core.deleteNamespacedPersistentVolumeClaim({ namespace: ctx.namespace, name: claim });
      await ctx.event('Normal', 'VolumeDeleted', `Deleted PersistentVolumeClaim ${claim} of the removed node (reclaimPolicy Delete)`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  } else {
    await ctx.event('Normal', 'VolumeRetained', `Kept PersistentVolumeClaim ${claim} of the removed node (reclaimPolicy Retain)`);
  }
  const removed = [...details.removed, details.ordinal];
  // A spec raised meanwhile ends the scale-in early; one lowered further is the next scale-in.
  const target = Math.max(details.toReplicas, cluster.spec.replicas);
  if (details.ordinal - 1 >= target) {
    const { nodeId: _done, progress: _finished, ...rest } = details;
    return { kind: 'advance', step: 'Decommission', details: { ...rest, ordinal: details.ordinal - 1, removed } };
  }
  return { kind: 'complete' };
}

async function runStep(ctx: ReconcileContext, operation: ClusterOperation, step: ScaleInStep, details: ScaleInDetails): Promise<Transition> {
  switch (step) {
    case 'Decommission':
      return decommission(ctx, details);
    case 'WaitDecommissioned':
      return waitDecommissioned(ctx, operation, details);
    case 'ShrinkStatefulSet':
      return shrinkStatefulSet(ctx, details);
    case 'WaitPodGone':
      return waitPodGone(ctx, details);
    case 'ReclaimVolume':
      return reclaimVolume(ctx, details);
    default: {
      const unknown: never = step;
      throw new Error(`unknown scale-in step ${String(unknown)}`);
    }
  }
}

async function complete(ctx: ReconcileContext, operation: ClusterOperation, details: ScaleInDetails): Promise<void> {
  delete ctx.status.operation;
  ctx.status.nodes = (ctx.status.nodes ?? []).filter((node) => node.ordinal < details.ordinal);
  scalingDown(ctx, 'False', 'ScaleInCompleted', `scaled in from ${details.fromReplicas} to ${details.ordinal} data nodes`);
  await ctx.persist();
  const seconds = (ctx.deps.clock.nowMs() - Date.parse(operation.startedAt)) / 1000;
  ctx.deps.metrics?.observeOperation('ScaleIn', 'succeeded', Math.max(0, seconds));
  await ctx.event('Normal', 'ScaleInCompleted', `Scaled in from ${details.fromReplicas} to ${details.ordinal} data nodes`);
  ctx.checkpoint();
}

/**
 * Starts or resumes the journaled scale-in. While one runs, the steps after this one (joins,
 * scale-out) wait: one disruptive operation at a time.
 */
export const scaleIn: Step = async (ctx) => {
  const cluster = validated(ctx);
  const inFlight = ctx.status.operation;
  if (inFlight?.kind === 'ScaleOut') {
    // A scale-out still waiting for balance gives way to a lowered spec; otherwise it goes on.
    if (statefulSetReplicas(ctx) <= cluster.spec.replicas) return proceed;
    await supersedeScaleOut(ctx, inFlight);
  }
  if (ctx.status.operation === undefined) {
    const current = statefulSetReplicas(ctx);
    if (current <= cluster.spec.replicas) return proceed;
    const waiting = await start(ctx, current, cluster.spec.replicas);
    if (waiting !== undefined) return waiting;
  }
  for (let count = 0; count < stepsPerReconcileMax; count++) {
    const operation = ctx.status.operation;
    if (operation === undefined) return proceed;
    if (operation.kind !== 'ScaleIn') return requeueAfter(ctx.deps.timings.progressPollMs);
    const step = scaleInSteps.find((name) => name === operation.step);
    const details = detailsSchema.safeParse(operation.details);
    if (step === undefined || !details.success) throw new Error(`status.operation of ${ctx.key} is not a scale-in this operator understands (step ${operation.step})`);
    scalingDown(ctx, 'True', 'ScalingDown', `removing the node of pod ${podName(ctx, details.data.ordinal)} (step ${step})`);
    const transition = await runStep(ctx, operation, step, details.data);
    if (transition.kind === 'wait') return transition.result;
    if (transition.kind === 'complete') {
      await complete(ctx, operation, details.data);
      return proceed;
    }
    ctx.status.operation = { ...operation, step: transition.step, stepStartedAt: isoNow(ctx), details: transition.details };
    await ctx.persist();
    ctx.checkpoint();
  }
  return requeueAfter(0);
};
