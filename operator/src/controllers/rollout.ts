/**
 * Rolling restarts and upgrades, journaled in status.operation like scale-in (scale-in.ts). The
 * StatefulSet uses `updateStrategy: OnDelete`, so a changed pod template (spec.version, spec.image,
 * config, resources...) restarts nothing by itself: this step compares every pod's
 * `phantomdb.io/pod-template-hash` with the StatefulSet's and replaces the outdated pods one at a
 * time — pods that are not Ready first (restarting them cannot cost availability), then highest
 * ordinal first — each through:
 *
 *   Drain         move the node's leases away through the admin API (skipped for a pod that is
 *                 not Ready: it serves nothing), once the cluster has nothing under-replicated
 *   DeletePod     drain again (a lease may have come back) and delete the pod; the StatefulSet
 *                 recreates it from the new template, on the same volume (same node id)
 *   WaitPodReady  until the new pod is Ready, its node is a live, caught-up voter again, and the
 *                 cluster reports nothing under-replicated or unavailable
 *
 * Each step acts and then writes the journal with the next step before anything else happens, so
 * an operator stopped at any point resumes at the step it reached, and every action is idempotent
 * (draining a drained node; deleting a pod only if it is still the incarnation recorded in the
 * journal, by uid). A node that is not back within spec.rollout.podReadyTimeoutSeconds pauses the
 * rollout: Degraded condition and one Warning event naming the pod and why. Changing the spec
 * again retargets the rollout: reverting spec.version brings the template hash back to the one
 * the other pods run, so only the stuck pod is replaced again (a rollback).
 *
 *   Finalize      (RollingUpgrade only, after the last pod) FinalizeClusterVersion through the
 *                 admin API: the data nodes raise their replicated cluster version to what every
 *                 node now runs, switching on the new version's formats. Refused while a node is
 *                 not live or runs an older binary: the step waits (and pauses past the timeout).
 *                 It is the point of no return: a spec change that arrives once the data nodes
 *                 finalized no longer rolls back (retargets only while they have not).
 *
 * When the last pod is done (and finalized), status.clusterVersion and status.podTemplateHash are
 * set: the cluster version changes only once every node runs the new version. After that a
 * spec.version older than status.clusterVersion is refused (`refuseDowngrade`): Degraded and
 * Upgrading conditions with reason DowngradeRefused, and nothing is changed; before the
 * finalization, reverting spec.version is an ordinary rollback.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import type { ClusterOperation, OperationKind, PhantomCluster } from '../api/index.ts';
import { AdminError } from '../admin-client/index.ts';
import { isNotFound } from '../kube/errors.ts';
import { dataNodeImage, podTemplateHashAnnotation } from '../resources/index.ts';
import { conditionOf, setCondition } from './conditions.ts';
import { nodeIdOfPod, observeNodes, readStatefulSet, statefulSetReplicas } from './cluster-steps.ts';
import { finish, isPodReady, ordinalOf, proceed, requeueAfter, validated, type ReconcileContext, type Step, type StepResult } from './context.ts';
import { compareVersions, isVersion } from '../../../datanode/src/version/version.ts';

export const rolloutSteps = ['Drain', 'DeletePod', 'WaitPodReady', 'Finalize'] as const;
export type RolloutStep = (typeof rolloutSteps)[number];
export const rolloutKinds: readonly OperationKind[] = ['RollingUpgrade', 'Restart'];

const detailsSchema = z.object({
  /** The pod template hash every pod is being rolled to. */
  targetHash: z.string().min(1),
  toVersion: z.string(),
  fromVersion: z.string().optional(),
  /** The pod being replaced now. */
  ordinal: z.number().int().min(0),
  /** Uid of the incarnation of that pod to delete (recorded by Drain); a pod with another uid is the new one. */
  podUid: z.string().optional(),
  /** Ordinals replaced so far (for people; the hashes decide what is left). */
  restarted: z.array(z.number().int().min(0)),
  /** Set while the rollout is paused because the pod is not back in time: why. */
  pausedReason: z.string().optional(),
  /** The data nodes' cluster version when Finalize began (a different one later: they finalized). */
  dataClusterVersionBefore: z.string().optional(),
  /** The data nodes' cluster version after FinalizeClusterVersion answered. */
  dataClusterVersion: z.string().optional(),
});
export type RolloutDetails = z.output<typeof detailsSchema>;

/** Steps per reconcile at most, so one reconcile cannot run away. */
const stepsPerReconcileMax = 16;

type Transition = { readonly kind: 'advance'; readonly step: RolloutStep; readonly details: RolloutDetails } | { readonly kind: 'complete'; readonly details: RolloutDetails } | { readonly kind: 'wait'; readonly result: StepResult; readonly details?: RolloutDetails };

/** The template hash a pod was created from. */
export function podHashOf(pod: V1Pod): string | undefined {
  return pod.metadata?.annotations?.[podTemplateHashAnnotation];
}

/**
 * Ordinals of the pods still to roll to `targetHash`, in the order to roll them: pods that are
 * not Ready first (highest ordinal first), then Ready ones, highest ordinal first. Only ordinals
 * below `replicasMax` count (pods above it are about to be scaled in).
 */
export function podsToRoll(pods: readonly V1Pod[], clusterName: string, replicasMax: number, targetHash: string): number[] {
  const outdated = pods
    .map((pod) => ({ pod, ordinal: ordinalOf(pod, clusterName) }))
    .filter((entry): entry is { pod: V1Pod; ordinal: number } => entry.ordinal !== undefined && entry.ordinal < replicasMax && podHashOf(entry.pod) !== targetHash);
  const rank = (entry: { pod: V1Pod }): number => (isPodReady(entry.pod) ? 1 : 0);
  return outdated.sort((a, b) => rank(a) - rank(b) || b.ordinal - a.ordinal).map((entry) => entry.ordinal);
}

/** The hash of the template the StatefulSet now carries (what every pod should run). */
function desiredHash(ctx: ReconcileContext): string | undefined {
  return ctx.statefulSet?.spec?.template.metadata?.annotations?.[podTemplateHashAnnotation];
}

function podAt(ctx: ReconcileContext, ordinal: number): V1Pod | undefined {
  const name = `${validated(ctx).metadata.name}-${ordinal}`;
  return ctx.pods.find((pod) => pod.metadata?.name === name);
}

function podNameOf(ctx: ReconcileContext, ordinal: number): string {
  return `${validated(ctx).metadata.name}-${ordinal}`;
}

function isoNow(ctx: ReconcileContext): string {
  return new Date(ctx.deps.clock.nowMs()).toISOString();
}

function upgrading(ctx: ReconcileContext, status: 'True' | 'False', reason: string, message: string): void {
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Upgrading', status, reason, message }, ctx.now, ctx.object.metadata.generation);
}

/** Why the cluster is not fit to take a node down, or undefined when it is. */
function clusterUnhealthy(ctx: ReconcileContext): string | undefined {
  const health = ctx.clusterStatus;
  if (health === undefined) return 'no data node answers the admin API';
  if (health.unavailableRanges > 0 || health.underReplicatedRanges > 0) return `${health.underReplicatedRanges} under-replicated and ${health.unavailableRanges} unavailable ranges`;
  if (health.nodes.some((node) => node.membership === 'LEARNER' || node.membership === 'DECOMMISSIONING')) return 'a membership change (join or decommission) is in progress';
  return undefined;
}

/** RollingUpgrade when an outdated pod runs another version or image than the spec asks for; Restart otherwise. */
function rolloutKind(ctx: ReconcileContext, cluster: PhantomCluster, ordinals: readonly number[]): OperationKind {
  const image = dataNodeImage(cluster, ctx.deps.dataNodeImageRepository === undefined ? {} : { dataNodeImageRepository: ctx.deps.dataNodeImageRepository });
  const changed = ordinals.some((ordinal) => {
    const pod = podAt(ctx, ordinal);
    return pod?.metadata?.labels?.['app.kubernetes.io/version'] !== cluster.spec.version || pod.spec?.containers[0]?.image !== image;
  });
  return changed ? 'RollingUpgrade' : 'Restart';
}

/** Starts a rollout when some pod runs an outdated template; undefined when one was started. */
async function start(ctx: ReconcileContext, targetHash: string): Promise<StepResult | undefined> {
  const cluster = validated(ctx);
  const ordinals = podsToRoll(ctx.pods, cluster.metadata.name, Math.min(statefulSetReplicas(ctx), cluster.spec.replicas), targetHash);
  const first = ordinals[0];
  if (first === undefined) {
    // A rollout that waited for a healthy cluster is no longer needed (e.g. the change was reverted).
    if (conditionOf(ctx.status.conditions, 'Upgrading')?.reason === 'WaitingForHealthyCluster') upgrading(ctx, 'False', 'NoRollout', 'every data node runs the desired pod template');
    return proceed;
  }
  const firstPod = podAt(ctx, first);
  const unhealthy = clusterUnhealthy(ctx);
  // A pod that is not Ready serves nothing: replacing it (e.g. a fixed bad config) cannot hurt.
  if (unhealthy !== undefined && firstPod !== undefined && isPodReady(firstPod)) {
    upgrading(ctx, 'False', 'WaitingForHealthyCluster', `${ordinals.length} data node(s) run an outdated pod template; the rollout waits: ${unhealthy}`);
    return proceed;
  }
  const kind = rolloutKind(ctx, cluster, ordinals);
  const fromVersion = ctx.status.clusterVersion ?? ctx.status.currentVersion;
  const details: RolloutDetails = { targetHash, toVersion: cluster.spec.version, ordinal: first, restarted: [], ...(fromVersion === undefined ? {} : { fromVersion }) };
  const now = isoNow(ctx);
  ctx.status.operation = { kind, step: 'Drain', startedAt: now, stepStartedAt: now, details, ...(ctx.object.metadata.generation === undefined ? {} : { generation: ctx.object.metadata.generation }) };
  const what = kind === 'RollingUpgrade' ? `Upgrading ${ordinals.length} data node(s)${fromVersion === undefined ? '' : ` from ${fromVersion}`} to ${cluster.spec.version}` : `Restarting ${ordinals.length} data node(s) for a changed pod template`;
  upgrading(ctx, 'True', kind === 'RollingUpgrade' ? 'UpgradeStarted' : 'RestartStarted', `${what}, one at a time`);
  await ctx.persist();
  await ctx.event('Normal', kind === 'RollingUpgrade' ? 'UpgradeStarted' : 'RestartStarted', `${what}, one at a time (template ${targetHash})`);
  ctx.checkpoint();
  return undefined;
}

function timedOut(ctx: ReconcileContext, operation: ClusterOperation): boolean {
  const since = Date.parse(operation.stepStartedAt ?? operation.startedAt);
  return ctx.deps.clock.nowMs() - since > validated(ctx).spec.rollout.podReadyTimeoutSeconds * 1000;
}

/** Waits; past the timeout, pauses the rollout saying why (one Warning event per pause). */
async function waitOrPause(ctx: ReconcileContext, operation: ClusterOperation, details: RolloutDetails, problem: string): Promise<Transition> {
  const pod = podNameOf(ctx, details.ordinal);
  if (!timedOut(ctx, operation)) {
    upgrading(ctx, 'True', 'WaitingForNode', `pod ${pod}: ${problem}`);
    return { kind: 'wait', result: requeueAfter(ctx.deps.timings.progressPollMs) };
  }
  const nodeId = nodeIdOfPod(ctx, pod);
  const reason = `pod ${pod}${nodeId === undefined ? '' : ` (node ${nodeId})`} is not back after ${validated(ctx).spec.rollout.podReadyTimeoutSeconds} s: ${problem}`;
  if (details.pausedReason === undefined) {
    await ctx.event('Warning', 'RolloutPaused', `Rollout paused: ${reason}. Fix the cause, or revert the change (e.g. spec.version) to roll back.`);
  }
  upgrading(ctx, 'False', 'RolloutPaused', reason);
  return { kind: 'wait', result: requeueAfter(ctx.deps.timings.progressPollMs), details: { ...details, pausedReason: reason } };
}

/** Why a pod's container is not running: its waiting reason or last exit, if the kubelet says. */
function containerProblem(pod: V1Pod): string {
  const status = pod.status?.containerStatuses?.[0];
  const waiting = status?.state?.waiting;
  if (waiting?.reason !== undefined) return `container ${waiting.reason}${waiting.message === undefined || waiting.message === '' ? '' : ` (${waiting.message})`}`;
  const last = status?.lastState?.terminated;
  if (last !== undefined) return `container exited with code ${last.exitCode}${last.reason === undefined ? '' : ` (${last.reason})`}, restarted ${status?.restartCount ?? 0} time(s)`;
  return 'not Ready (readiness probe failing)';
}

/** What keeps the replaced node from counting as back, or undefined when it is back. */
function notBack(ctx: ReconcileContext, details: RolloutDetails): string | undefined {
  const pod = podAt(ctx, details.ordinal);
  if (pod === undefined) return 'the StatefulSet has not recreated the pod yet';
  if (pod.metadata?.uid !== undefined && pod.metadata.uid === details.podUid) return 'the old pod is still terminating';
  if (podHashOf(pod) !== details.targetHash) return `the pod runs template ${podHashOf(pod) ?? '(none)'}, not ${details.targetHash}`;
  if (!isPodReady(pod)) return containerProblem(pod);
  const nodeId = nodeIdOfPod(ctx, pod.metadata?.name ?? '');
  const member = nodeId === undefined ? undefined : ctx.clusterStatus?.nodes.find((node) => node.nodeId === nodeId);
  if (ctx.clusterStatus === undefined) return 'no data node answers the admin API';
  if (member === undefined) return 'its node is not a member of the cluster';
  if (member.membership !== 'VOTER' || member.liveness !== 'LIVE') return `node ${member.nodeId} has not rejoined (${member.membership}, ${member.liveness})`;
  if (member.raft?.caughtUp === false) return `node ${member.nodeId} is catching up`;
  const health = ctx.clusterStatus;
  if (health.unavailableRanges > 0 || health.underReplicatedRanges > 0) return `${health.underReplicatedRanges} under-replicated and ${health.unavailableRanges} unavailable ranges`;
  return undefined;
}

/** Drains the node of the pod when it serves; true when it holds no lease (or serves nothing). */
async function drained(ctx: ReconcileContext, pod: V1Pod): Promise<{ done: boolean; problem?: string }> {
  if (!isPodReady(pod)) return { done: true };
  const nodeId = nodeIdOfPod(ctx, pod.metadata?.name ?? '');
  const member = nodeId === undefined ? undefined : ctx.clusterStatus?.nodes.find((node) => node.nodeId === nodeId);
  if (nodeId === undefined || member === undefined || member.membership !== 'VOTER' || member.leases === 0) return { done: true };
  // A single-voter cluster has nowhere to move its leases: its restart is an outage either way.
  const otherVoters = ctx.clusterStatus?.nodes.filter((node) => node.nodeId !== nodeId && node.membership === 'VOTER' && node.liveness === 'LIVE') ?? [];
  if (otherVoters.length === 0) return { done: true };
  const admin = ctx.admin;
  if (admin === undefined) return { done: false, problem: 'no admin connection' };
  try {
    const progress = await admin.drain(nodeId);
    return progress.done ? { done: true } : { done: false, problem: `node ${nodeId} still holds ${progress.leasesRemaining} lease(s)` };
  } catch (error) {
    if (error instanceof AdminError) return { done: false, problem: `draining node ${nodeId} failed: ${error.code}: ${error.message}` };
    throw error;
  }
}

async function drain(ctx: ReconcileContext, operation: ClusterOperation, details: RolloutDetails): Promise<Transition> {
  const pod = podAt(ctx, details.ordinal);
  if (pod === undefined || podHashOf(pod) === details.targetHash) return { kind: 'advance', step: 'WaitPodReady', details };
  const withUid: RolloutDetails = { ...details, ...(pod.metadata?.uid === undefined ? {} : { podUid: pod.metadata.uid }) };
  if (isPodReady(pod)) {
    const unhealthy = clusterUnhealthy(ctx);
    if (unhealthy !== undefined) return waitOrPause(ctx, operation, details, `waiting to take it down: ${unhealthy}`);
  }
  const result = await drained(ctx, pod);
  if (!result.done) return waitOrPause(ctx, operation, details, result.problem ?? 'draining');
  return { kind: 'advance', step: 'DeletePod', details: withUid };
}

async function deletePod(ctx: ReconcileContext, operation: ClusterOperation, details: RolloutDetails): Promise<Transition> {
  const pod = podAt(ctx, details.ordinal);
  const name = podNameOf(ctx, details.ordinal);
  if (pod === undefined || pod.metadata?.uid !== details.podUid || pod.metadata?.deletionTimestamp !== undefined || podHashOf(pod) === details.targetHash) {
    return { kind: 'advance', step: 'WaitPodReady', details };
  }
  // A lease may have come back since Drain: hand it off again right before the pod goes.
  const result = await drained(ctx, pod);
  if (!result.done) return waitOrPause(ctx, operation, details, result.problem ?? 'draining');
  try {
    await ctx.deps.core.deleteNamespacedPod({ namespace: ctx.namespace, name, body: { preconditions: { uid: details.podUid ?? '' } } });
  } catch (error) {
    if (!isNotFound(error) && !isConflict(error)) throw error;
  }
  const nodeId = nodeIdOfPod(ctx, name);
  await ctx.event('Normal', 'RestartingNode', `Restarting ${nodeId === undefined ? '' : `node ${nodeId} `}(pod ${name}) with template ${details.targetHash} (version ${details.toVersion})`);
  return { kind: 'advance', step: 'WaitPodReady', details };
}

function isConflict(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 409;
}

async function waitPodReady(ctx: ReconcileContext, operation: ClusterOperation, details: RolloutDetails): Promise<Transition> {
  const problem = notBack(ctx, details);
  if (problem !== undefined) return waitOrPause(ctx, operation, details, problem);
  if (details.pausedReason !== undefined) await ctx.event('Normal', 'RolloutResumed', `Pod ${podNameOf(ctx, details.ordinal)} is back; the rollout continues`);
  const cluster = validated(ctx);
  const restarted = details.restarted.includes(details.ordinal) ? details.restarted : [...details.restarted, details.ordinal];
  const next = podsToRoll(ctx.pods, cluster.metadata.name, Math.min(statefulSetReplicas(ctx), cluster.spec.replicas), details.targetHash)[0];
  const { podUid: _done, pausedReason: _resumed, ...rest } = details;
  if (next === undefined && operation.kind === 'RollingUpgrade') {
    const before = ctx.clusterStatus?.clusterVersion;
    return { kind: 'advance', step: 'Finalize', details: { ...rest, restarted, ...(before === undefined || before === '' ? {} : { dataClusterVersionBefore: before }) } };
  }
  if (next === undefined) return { kind: 'complete', details: { ...rest, restarted } };
  return { kind: 'advance', step: 'Drain', details: { ...rest, ordinal: next, restarted } };
}

/**
 * Asks the data nodes to finalize their cluster version at what every node runs (the oldest
 * binary among them: '' target). Refusals (a node not live, an old binary) wait and, past the
 * timeout, pause the rollout saying which nodes.
 */
async function finalize(ctx: ReconcileContext, operation: ClusterOperation, details: RolloutDetails): Promise<Transition> {
  const admin = ctx.admin;
  let problem: string;
  if (admin === undefined) {
    problem = 'no admin connection to the data nodes';
  } else {
    try {
      const result = await admin.finalizeClusterVersion('');
      return { kind: 'complete', details: { ...details, dataClusterVersion: result.clusterVersion } };
    } catch (error) {
      if (!(error instanceof AdminError)) throw error;
      // Data nodes of a build before cluster versions have nothing to finalize.
      if (error.code === 'PH_UNIMPLEMENTED') return { kind: 'complete', details };
      problem = `${error.code}: ${error.message}`;
    }
  }
  if (!timedOut(ctx, operation)) {
    upgrading(ctx, 'True', 'Finalizing', `every data node runs the new template; finalizing the cluster version: ${problem}`);
    return { kind: 'wait', result: requeueAfter(ctx.deps.timings.progressPollMs) };
  }
  const reason = `the cluster version could not be finalized after ${validated(ctx).spec.rollout.podReadyTimeoutSeconds} s: ${problem}`;
  if (details.pausedReason === undefined) await ctx.event('Warning', 'RolloutPaused', `Rollout paused: ${reason}. Bring every data node back (or decommission it); the operator retries.`);
  upgrading(ctx, 'False', 'RolloutPaused', reason);
  return { kind: 'wait', result: requeueAfter(ctx.deps.timings.progressPollMs), details: { ...details, pausedReason: reason } };
}

async function runStep(ctx: ReconcileContext, operation: ClusterOperation, step: RolloutStep, details: RolloutDetails): Promise<Transition> {
  switch (step) {
    case 'Drain':
      return drain(ctx, operation, details);
    case 'DeletePod':
      return deletePod(ctx, operation, details);
    case 'WaitPodReady':
      return waitPodReady(ctx, operation, details);
    case 'Finalize':
      return finalize(ctx, operation, details);
    default: {
      const unknown: never = step;
      throw new Error(`unknown rollout step ${String(unknown)}`);
    }
  }
}

/**
 * The spec changed during the rollout (e.g. spec.version reverted): roll to the new template.
 * The pod being replaced goes back to Drain, which skips what is already right.
 */
async function retarget(ctx: ReconcileContext, operation: ClusterOperation, details: RolloutDetails, targetHash: string): Promise<ClusterOperation> {
  const cluster = validated(ctx);
  const { podUid: _old, pausedReason: _cleared, ...rest } = details;
  const next: RolloutDetails = { ...rest, targetHash, toVersion: cluster.spec.version, restarted: [] };
  ctx.status.operation = { ...operation, step: 'Drain', stepStartedAt: isoNow(ctx), details: next };
  upgrading(ctx, 'True', 'RolloutRetargeted', `the spec changed during the rollout: now rolling to version ${cluster.spec.version} (template ${targetHash})`);
  await ctx.persist();
  await ctx.event('Normal', 'RolloutRetargeted', `The spec changed during the rollout: rolling to version ${cluster.spec.version} (template ${targetHash}) instead of ${details.toVersion}`);
  ctx.checkpoint();
  return ctx.status.operation;
}

async function complete(ctx: ReconcileContext, operation: ClusterOperation, details: RolloutDetails): Promise<void> {
  delete ctx.status.operation;
  const previous = ctx.status.clusterVersion;
  ctx.status.clusterVersion = details.toVersion;
  ctx.status.podTemplateHash = details.targetHash;
  if (details.dataClusterVersion !== undefined) ctx.status.dataClusterVersion = details.dataClusterVersion;
  const what = operation.kind === 'RollingUpgrade' ? `upgraded ${details.restarted.length} data node(s) to ${details.toVersion}` : `restarted ${details.restarted.length} data node(s) with template ${details.targetHash}`;
  upgrading(ctx, 'False', 'RolloutCompleted', what);
  await ctx.persist();
  const seconds = (ctx.deps.clock.nowMs() - Date.parse(operation.startedAt)) / 1000;
  ctx.deps.metrics?.observeOperation(operation.kind === 'RollingUpgrade' ? 'Upgrade' : 'Restart', 'succeeded', Math.max(0, seconds));
  await ctx.event('Normal', 'RolloutCompleted', `Rollout completed: ${what}`);
  const data = details.dataClusterVersion === undefined ? '' : `; the data nodes' cluster version is ${details.dataClusterVersion}`;
  if (previous !== details.toVersion) await ctx.event('Normal', 'ClusterVersionFinalized', `Every data node runs ${details.toVersion}: cluster version finalized${previous === undefined ? '' : ` (was ${previous})`}${data}`);
  ctx.checkpoint();
}

/** Whether the data nodes' cluster version moved since Finalize began (they finalized). */
function dataNodesFinalized(ctx: ReconcileContext, details: RolloutDetails): boolean {
  const now = ctx.clusterStatus?.clusterVersion;
  return now !== undefined && now !== '' && details.dataClusterVersionBefore !== undefined && now !== details.dataClusterVersionBefore;
}

/** Whether `wanted` is an older version than `finalized` (both versions; anything else is not judged). */
export function isDowngrade(wanted: string, finalized: string | undefined): boolean {
  if (finalized === undefined || !isVersion(wanted) || !isVersion(finalized)) return false;
  return compareVersions(wanted, finalized) < 0;
}

/**
 * A finalized cluster is never rolled back to an older version: its data may already use the
 * newer formats. Such a spec is refused before the StatefulSet changes (nothing is touched; the
 * status is still observed), with Degraded and Upgrading conditions saying why.
 */
export const refuseDowngrade: Step = async (ctx) => {
  const cluster = validated(ctx);
  const finalized = ctx.status.clusterVersion;
  const refused = conditionOf(ctx.status.conditions, 'Upgrading')?.reason === 'DowngradeRefused';
  if (ctx.status.operation !== undefined || !isDowngrade(cluster.spec.version, finalized)) {
    if (refused) upgrading(ctx, 'False', 'NoRollout', `spec.version ${cluster.spec.version} is accepted`);
    return proceed;
  }
  const message = `spec.version ${cluster.spec.version} is older than the cluster version ${finalized ?? ''} the cluster was finalized at: a finalized cluster cannot be downgraded (its data may use the newer formats); set spec.version to ${finalized ?? ''} or newer. Nothing was changed.`;
  upgrading(ctx, 'False', 'DowngradeRefused', message);
  if (!refused) await ctx.event('Warning', 'DowngradeRefused', message);
  ctx.statefulSet = await readStatefulSet(ctx);
  await observeNodes(ctx);
  return finish;
};

/**
 * Starts or resumes the journaled rollout. While one runs, the steps after this one (scale-in,
 * joins, scale-out) wait: one disruptive operation at a time.
 */
export const rollOutPods: Step = async (ctx) => {
  const targetHash = desiredHash(ctx);
  if (targetHash === undefined) return proceed;
  if (ctx.status.operation === undefined) {
    const waiting = await start(ctx, targetHash);
    if (waiting !== undefined) return waiting;
  }
  for (let count = 0; count < stepsPerReconcileMax; count++) {
    let operation = ctx.status.operation;
    if (operation === undefined) return proceed;
    if (!rolloutKinds.includes(operation.kind)) return proceed;
    const step = rolloutSteps.find((name) => name === operation?.step);
    const parsed = detailsSchema.safeParse(operation.details);
    if (step === undefined || !parsed.success) throw new Error(`status.operation of ${ctx.key} is not a rollout this operator understands (step ${operation.step})`);
    let details = parsed.data;
    if (details.targetHash !== targetHash && step === 'Finalize' && dataNodesFinalized(ctx, details)) {
      // Past the point of no return: finish the upgrade; refuseDowngrade refuses the new spec.
      await complete(ctx, operation, { ...details, dataClusterVersion: ctx.clusterStatus?.clusterVersion ?? '' });
      return proceed;
    }
    if (details.targetHash !== targetHash) {
      operation = await retarget(ctx, operation, details, targetHash);
      continue;
    }
    const transition = await runStep(ctx, operation, step, details);
    if (transition.kind === 'wait') {
      // The journal records that the rollout paused (once), so the Warning event is not repeated.
      if (transition.details !== undefined && details.pausedReason === undefined && transition.details.pausedReason !== undefined) {
        details = transition.details;
        ctx.status.operation = { ...operation, details };
        await ctx.persist();
      }
      return transition.result;
    }
    if (transition.kind === 'complete') {
      await complete(ctx, operation, transition.details);
      return proceed;
    }
    const { pausedReason: _resumed, ...advanced } = transition.details;
    ctx.status.operation = { ...operation, step: transition.step, stepStartedAt: isoNow(ctx), details: advanced };
    await ctx.persist();
    ctx.checkpoint();
  }
  return requeueAfter(0);
};
