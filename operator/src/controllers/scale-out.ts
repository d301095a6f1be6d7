/**
 * Scale-out, journaled in status.operation (kind ScaleOut) so that its start survives an
 * operator restart and other disruptive operations (rollouts, scale-in) wait for it:
 *
 *   AddNodes      raise the StatefulSet to spec.replicas; joinNodes (an earlier step) adds each
 *                 new pod as a learner and promotes it, and this step is reached once all joined
 *   WaitBalanced  until the data nodes have moved replicas onto the new nodes: every live node
 *                 within ±10% of the mean replica count and no range under-replicated (balance.ts)
 *
 * While it waits the cluster's phase is Scaling and its Rebalancing condition (set on every
 * reconcile from the data nodes' ClusterStatus, cluster-status.ts) says how far it is. It ends
 * succeeded when balanced, or failed after `timings.rebalanceTimeoutMs` (a Warning event; the
 * Rebalancing condition goes on reporting, and other operations may go ahead). A spec lowered
 * below the StatefulSet's replicas ends it early (superseded) so that the scale-in can start.
 */
import { z } from 'zod';
import type { ClusterOperation } from '../api/index.ts';
import { objectNames } from '../resources/index.ts';
import { assessBalance } from './balance.ts';
import { setRebalancing } from './cluster-status.ts';
import { nodeIdOfPod, setStatefulSetReplicas, statefulSetReplicas } from './cluster-steps.ts';
import { proceed, requeueAfter, validated, type ReconcileContext, type Step, type StepResult } from './context.ts';

export const scaleOutSteps = ['AddNodes', 'WaitBalanced'] as const;
export type ScaleOutStep = (typeof scaleOutSteps)[number];

const detailsSchema = z.object({
  fromReplicas: z.number().int().min(0),
  toReplicas: z.number().int().min(1),
});
export type ScaleOutDetails = z.output<typeof detailsSchema>;

function isoNow(ctx: ReconcileContext): string {
  return new Date(ctx.deps.clock.nowMs()).toISOString();
}

function secondsSince(ctx: ReconcileContext, iso: string): number {
  return Math.max(0, (ctx.deps.clock.nowMs() - Date.parse(iso)) / 1000);
}

/** Raises the StatefulSet to `replicas` unless it already has at least that many (idempotent). */
async function raiseStatefulSet(ctx: ReconcileContext, replicas: number): Promise<void> {
  if (ctx.statefulSet === undefined || statefulSetReplicas(ctx) >= replicas) return;
  await setStatefulSetReplicas(ctx, replicas);
}

/** Journals a new scale-out (step AddNodes), then raises the StatefulSet. */
async function start(ctx: ReconcileContext, current: number, target: number): Promise<StepResult> {
  const now = isoNow(ctx);
  const details: ScaleOutDetails = { fromReplicas: current, toReplicas: target };
  ctx.status.operation = { kind: 'ScaleOut', step: 'AddNodes', startedAt: now, stepStartedAt: now, details, ...(ctx.object.metadata.generation === undefined ? {} : { generation: ctx.object.metadata.generation }) };
  await ctx.persist();
  ctx.checkpoint();
  await raiseStatefulSet(ctx, target);
  await ctx.event('Normal', 'ScalingUp', `Raising the data nodes from ${current} to ${target}; the scale-out ends when replicas are balanced across them`);
  return requeueAfter(ctx.deps.timings.podPollMs);
}

async function finishScaleOut(ctx: ReconcileContext, operation: ClusterOperation, result: 'succeeded' | 'failed', reason: string, message: string): Promise<void> {
  delete ctx.status.operation;
  await ctx.persist();
  ctx.deps.metrics?.observeOperation('ScaleOut', result, secondsSince(ctx, operation.startedAt));
  await ctx.event(result === 'succeeded' ? 'Normal' : 'Warning', reason, message);
  ctx.checkpoint();
}

/** WaitBalanced: done when the data nodes report a balanced cluster, or when it took too long. */
async function waitBalanced(ctx: ReconcileContext, operation: ClusterOperation, details: ScaleOutDetails): Promise<StepResult> {
  const health = ctx.clusterStatus;
  if (health === undefined) return requeueAfter(ctx.deps.timings.progressPollMs);
  const balance = assessBalance(health);
  // A node of the scale-out that the balance leaves out (not in the status yet, or reported DEAD)
  // could be empty: the balance of the others says nothing about it, so wait until every one counts.
  const counted = new Set(balance.nodes.map((node) => node.nodeId));
  const uncounted = nodeIdsOfOrdinals(ctx, details.toReplicas).filter((nodeId) => nodeId === undefined || !counted.has(nodeId));
  if (balance.balanced && uncounted.length === 0) {
    // The journal write below carries the conditions too: make Rebalancing say what ends the wait.
    setRebalancing(ctx);
    const seconds = Math.round(secondsSince(ctx, operation.startedAt));
    await finishScaleOut(ctx, operation, 'succeeded', 'ScaleOutCompleted', `Scaled out from ${details.fromReplicas} to ${details.toReplicas} data nodes in ${seconds} s; balanced: ${balance.message}`);
    return proceed;
  }
  const waited = secondsSince(ctx, operation.stepStartedAt ?? operation.startedAt);
  if (waited * 1000 >= ctx.deps.timings.rebalanceTimeoutMs) {
    await finishScaleOut(ctx, operation, 'failed', 'RebalanceTimedOut', `Scale-out to ${details.toReplicas} data nodes: replicas still not balanced after ${Math.round(waited)} s (${balance.message}); the operator stops waiting, the data nodes keep rebalancing and the Rebalancing condition keeps reporting`);
    return proceed;
  }
  return requeueAfter(ctx.deps.timings.rebalancePollMs);
}

/** The node id of the pod of each ordinal below `replicas` (undefined: not known). */
function nodeIdsOfOrdinals(ctx: ReconcileContext, replicas: number): (number | undefined)[] {
  const prefix = `${objectNames(validated(ctx)).statefulSet}-`;
  return Array.from({ length: replicas }, (_, ordinal) => nodeIdOfPod(ctx, `${prefix}${ordinal}`));
}

/** Whether the pod of every ordinal below `replicas` exists and its node is a voter. */
function allJoined(ctx: ReconcileContext, replicas: number): boolean {
  const prefix = `${objectNames(validated(ctx)).statefulSet}-`;
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const pod = `${prefix}${ordinal}`;
    if (!ctx.pods.some((candidate) => candidate.metadata?.name === pod)) return false;
    const nodeId = nodeIdOfPod(ctx, pod);
    if (nodeId === undefined) return false;
    if (ctx.clusterStatus?.nodes.find((node) => node.nodeId === nodeId)?.membership !== 'VOTER') return false;
  }
  return true;
}

function parseDetails(ctx: ReconcileContext, operation: ClusterOperation): { step: ScaleOutStep; details: ScaleOutDetails } {
  const step = scaleOutSteps.find((name) => name === operation.step);
  const details = detailsSchema.safeParse(operation.details);
  if (step === undefined || !details.success) throw new Error(`status.operation of ${ctx.key} is not a scale-out this operator understands (step ${operation.step})`);
  return { step, details: details.data };
}

/**
 * Ends a scale-out that a lowered spec.replicas overtook (the scale-in step calls this before it
 * starts): the nodes it added stay until the scale-in decommissions them.
 */
export async function supersedeScaleOut(ctx: ReconcileContext, operation: ClusterOperation): Promise<void> {
  const { details } = parseDetails(ctx, operation);
  await finishScaleOut(ctx, operation, 'failed', 'ScaleOutSuperseded', `Scale-out to ${details.toReplicas} data nodes ended early: spec.replicas is now ${validated(ctx).spec.replicas}`);
}

/**
 * Starts or resumes the journaled scale-out. Reached only when joinNodes has nothing left to do
 * (every pod up to spec.replicas is a voter). A spec raised during a scale-out extends it.
 */
export const scaleOut: Step = async (ctx) => {
  const cluster = validated(ctx);
  const current = statefulSetReplicas(ctx);
  const operation = ctx.status.operation;
  if (operation === undefined) {
    if (current >= cluster.spec.replicas || ctx.statefulSet === undefined) return proceed;
    return start(ctx, current, cluster.spec.replicas);
  }
  if (operation.kind !== 'ScaleOut') return proceed;
  const { step, details } = parseDetails(ctx, operation);
  if (cluster.spec.replicas > details.toReplicas || current < details.toReplicas) {
    // Raised again (or the journal was written and the StatefulSet not yet raised): add nodes.
    const toReplicas = Math.max(details.toReplicas, cluster.spec.replicas);
    ctx.status.operation = { ...operation, step: 'AddNodes', stepStartedAt: isoNow(ctx), details: { ...details, toReplicas } };
    await ctx.persist();
    ctx.checkpoint();
    await raiseStatefulSet(ctx, toReplicas);
    return requeueAfter(ctx.deps.timings.podPollMs);
  }
  if (step === 'AddNodes') {
    // joinNodes lets us through once it has nothing to do, which is also the case before the new
    // pods exist: wait until each of them is a voter. Then the data has to follow.
    if (!allJoined(ctx, details.toReplicas)) return requeueAfter(ctx.deps.timings.podPollMs);
    ctx.status.operation = { ...operation, step: 'WaitBalanced', stepStartedAt: isoNow(ctx) };
    await ctx.persist();
    ctx.checkpoint();
    await ctx.event('Normal', 'Rebalancing', `All ${details.toReplicas} data nodes joined; waiting for replicas to be balanced across them`);
    return waitBalanced(ctx, ctx.status.operation, details);
  }
  return waitBalanced(ctx, operation, details);
};
