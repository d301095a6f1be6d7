/**
 * What one reconcile of a PhantomCluster works with, and the shape of its steps. A reconcile is
 * an ordered list of small steps (STYLE.md, after CloudNativePG); each returns `proceed` (next
 * step), `requeueAfter(ms)` (stop here, come back later: work in progress) or `finish` (stop
 * here, nothing more to do now). The status is built up in `ctx.status` and written once at the
 * end, only if it changed — except the operation journal, which `persist` writes at once so
 * that a restarted operator resumes from the step reached.
 */
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { PhantomCluster, PhantomClusterStatus } from '../api/index.ts';
import type { AdminConnector, ClusterAdmin, ClusterStatus, NodeInfo } from '../admin-client/index.ts';
import type { Clock } from '../kube/clock.ts';
import type { EventRecorder, EventType } from '../kube/events.ts';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { OperatorMetrics } from '../metrics/metrics.ts';
import type { KindClients } from './apply.ts';
import type { CoreV1Api, StorageV1Api } from '@kubernetes/client-node';

export type StepResult = { readonly kind: 'proceed' } | { readonly kind: 'requeue'; readonly afterMs: number } | { readonly kind: 'finish' };

export const proceed: StepResult = { kind: 'proceed' };
export const finish: StepResult = { kind: 'finish' };
export function requeueAfter(afterMs: number): StepResult {
  return { kind: 'requeue', afterMs };
}

/** A PhantomCluster as read from the API server (not yet validated). */
export interface ClusterObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string; readonly uid?: string; readonly generation?: number; readonly resourceVersion?: string } & Record<string, unknown>;
  readonly spec?: unknown;
  readonly status?: PhantomClusterStatus;
  readonly [key: string]: unknown;
}

/** Timing of the controller's polling while work is in progress. */
export interface ClusterTimings {
  /** While nodes join, bootstrap, or a decommission moves data. */
  readonly progressPollMs: number;
  /** While waiting for pods to appear or go away. */
  readonly podPollMs: number;
  /** After a refusal (decommission refused, unsafe to proceed): retry this much later. */
  readonly refusedRetryMs: number;
  /** A settled cluster is looked at again this often (data node health changes are not Kubernetes events). */
  readonly healthPollMs: number;
  /** While the data nodes move replicas (the Rebalancing condition is True): how often to look again. */
  readonly rebalancePollMs: number;
  /** A scale-out stops waiting for balanced replicas after this long (it ends as failed; the data nodes go on). */
  readonly rebalanceTimeoutMs: number;
}

export const defaultClusterTimings: ClusterTimings = { progressPollMs: 2_000, podPollMs: 1_000, refusedRetryMs: 30_000, healthPollMs: 30_000, rebalancePollMs: 5_000, rebalanceTimeoutMs: 3_600_000 };

export interface ClusterControllerDeps {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  /** StorageClasses: whether volumes may grow. */
  readonly storage: StorageV1Api;
  readonly kinds: KindClients;
  readonly events: EventRecorder;
  readonly admin: AdminConnector;
  readonly clock: Clock;
  readonly metrics?: OperatorMetrics;
  readonly timings: ClusterTimings;
  /** The data node pods of a cluster (from the pod informer's cache). */
  readonly listPods: (namespace: string, clusterName: string) => readonly V1Pod[];
  /** The admin address of a pod (default: its IP and port 7000); undefined while it has none. */
  readonly podAddress: (pod: V1Pod) => string | undefined;
  readonly dataNodeImageRepository?: string;
  readonly log: (message: string) => void;
}

export interface ReconcileContext {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly deps: ClusterControllerDeps;
  readonly signal: AbortSignal;
  readonly now: Date;
  /** The object as last read or written (its resourceVersion is the one to write against). */
  object: ClusterObject;
  /** The validated cluster with defaults (set by the validation step). */
  cluster: PhantomCluster | undefined;
  /** The status being built. */
  status: PhantomClusterStatus;
  statefulSet: V1StatefulSet | undefined;
  pods: readonly V1Pod[];
  admin: ClusterAdmin | undefined;
  /** The data nodes' view of the cluster, when a member answered. */
  clusterStatus: ClusterStatus | undefined;
  /** Node identity by pod name, for pods that answered NodeInfo in this reconcile. */
  readonly nodeInfos: Map<string, NodeInfo>;
  /** Writes the status now (the operation journal). */
  persist(): Promise<void>;
  /** Ends the reconcile (throws) if the operator is stopping: call after a journal write and its event. */
  checkpoint(): void;
  event(type: EventType, reason: string, message: string): Promise<void>;
}

export type Step = (ctx: ReconcileContext) => Promise<StepResult>;

/** The validated cluster; steps after validation may rely on it. */
export function validated(ctx: ReconcileContext): PhantomCluster {
  const cluster = ctx.cluster;
  if (cluster === undefined) throw new Error(`unreachable: step ran before validation of ${ctx.key}`);
  return cluster;
}

/** The ordinal of a StatefulSet pod (`<name>-<ordinal>`), or undefined. */
export function ordinalOf(pod: V1Pod, clusterName: string): number | undefined {
  const name = pod.metadata?.name ?? '';
  const prefix = `${clusterName}-`;
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp === undefined && (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
}
