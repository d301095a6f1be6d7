/**
 * The PhantomCluster controller: informers on PhantomClusters, their StatefulSets and pods
 * (handlers only enqueue `namespace/name`), a rate-limited queue, and a reconcile that is the
 * ordered list of steps below, followed by a status write when the status changed.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PolicyV1Api, StorageV1Api, type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Pod, type V1StatefulSet } from '@kubernetes/client-node';
import { apiGroup, apiVersion, apiVersionName, clusterKind, type PhantomClusterStatus } from '../api/index.ts';
import { podAdminAddress, type AdminConnector } from '../admin-client/index.ts';
import type { Clock } from '../kube/clock.ts';
import { isNotFound } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { RestartingInformer } from '../kube/informer.ts';
import { StatusConflictError, writeStatusIfChanged } from '../kube/status.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';
import { kindClients } from './apply.ts';
import { summarizeStatus } from './cluster-status.ts';
import { conditionOf } from './conditions.ts';
import { annotateLocality } from './locality.ts';
import { ensureConfigMap, ensurePodDisruptionBudget, ensureServiceAccount, ensureServices, ensureStatefulSet, joinNodes, observeNodes, stopWhenPaused, validateSpec } from './cluster-steps.ts';
import { defaultClusterTimings, type ClusterControllerDeps, type ClusterObject, type ClusterTimings, type ReconcileContext, type Step, type StepResult } from './context.ts';
import { Controller, type ReconcileOutcome } from './runtime.ts';
import { prepareRestore } from './restore.ts';
import { refuseDowngrade, rollOutPods } from './rollout.ts';
import { scaleIn } from './scale-in.ts';
import { scaleOut } from './scale-out.ts';
import { expandVolumes } from './volumes.ts';

export const controllerName = 'phantomcluster';
const plural = 'phantomclusters';

/** The reconcile of one cluster, in order. */
export const clusterSteps: readonly Step[] = [
  validateSpec,
  refuseDowngrade,
  prepareRestore,
  stopWhenPaused,
  ensureServiceAccount,
  ensureConfigMap,
  ensureServices,
  ensurePodDisruptionBudget,
  ensureStatefulSet,
  observeNodes,
  annotateLocality,
  rollOutPods,
  scaleIn,
  joinNodes,
  scaleOut,
  expandVolumes,
];

export class OperatorStoppingError extends Error {
  readonly code = 'PH_OPERATOR_STOPPING';
}

function splitKey(key: string): { namespace: string; name: string } {
  const at = key.indexOf('/');
  return { namespace: key.slice(0, at), name: key.slice(at + 1) };
}

/**
 * One reconcile of `key`: read the cluster, run the steps, write the status if it changed.
 * Returns when to come back (work in progress, or the periodic health poll).
 */
export async function reconcileCluster(deps: ClusterControllerDeps, key: string, signal: AbortSignal): Promise<ReconcileOutcome> {
  const { namespace, name } = splitKey(key);
  const ref = { group: apiGroup, version: apiVersionName, plural, namespace, name };
  let object: ClusterObject;
  try {
    object = (await deps.custom.getNamespacedCustomObject(ref)) as ClusterObject;
  } catch (error) {
    if (!isNotFound(error)) throw error;
    deps.admin.release(key);
    deps.metrics?.setClusterPhase(key, namespace, undefined);
    return {};
  }
  const ctx: ReconcileContext = {
    key,
    namespace,
    name,
    deps,
    signal,
    now: new Date(deps.clock.nowMs()),
    object,
    cluster: undefined,
    status: structuredClone(object.status ?? {}) as PhantomClusterStatus,
    statefulSet: undefined,
    pods: [],
    admin: undefined,
    clusterStatus: undefined,
    nodeInfos: new Map(),
    persist: async () => {
      const written = await writeStatusIfChanged(deps.custom, ref, ctx.object, ctx.status);
      if (written.written) ctx.object = written.object as ClusterObject;
    },
    checkpoint: () => {
      if (signal.aborted) throw new OperatorStoppingError(`operator stopping; ${key} resumes from its journal`);
    },
    event: (type, reason, message) => deps.events.record({ apiVersion, kind: clusterKind, namespace, name, uid: object.metadata.uid }, type, reason, message),
  };
  let result: StepResult = { kind: 'proceed' };
  for (const step of clusterSteps) {
    if (signal.aborted) throw new OperatorStoppingError(`operator stopping during ${key}`);
    result = await step(ctx);
    if (result.kind !== 'proceed') break;
  }
  if (ctx.cluster !== undefined) summarizeStatus(ctx);
  try {
    const written = await writeStatusIfChanged(deps.custom, ref, ctx.object, ctx.status);
    if (written.written) ctx.object = written.object as ClusterObject;
  } catch (error) {
    // The object changed under us (e.g. a spec edit): reconcile again from a fresh read.
    if (error instanceof StatusConflictError) return { requeueAfterMs: 0 };
    throw error;
  }
  if (ctx.status.phase !== undefined) deps.metrics?.setClusterPhase(key, namespace, ctx.status.phase);
  if (result.kind === 'requeue') return { requeueAfterMs: result.afterMs };
  // Level-triggered: while the data nodes move replicas, look again soon to see them settle.
  if (conditionOf(ctx.status.conditions, 'Rebalancing')?.status === 'True') return { requeueAfterMs: deps.timings.rebalancePollMs };
  return { resyncAfterMs: deps.timings.healthPollMs };
}

export interface PhantomClusterControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly admin: AdminConnector;
  readonly events: EventRecorder;
  readonly clock: Clock;
  /** Namespaces to watch; empty for all. */
  readonly namespaces?: readonly string[];
  readonly metrics?: OperatorMetrics;
  readonly timings?: Partial<ClusterTimings>;
  readonly podAddress?: (pod: V1Pod) => string | undefined;
  readonly dataNodeImageRepository?: string;
  readonly workers?: number;
  /** Every cluster is enqueued this often regardless of events (default 5 min). */
  readonly resyncMs?: number;
  readonly log?: (message: string) => void;
}

/** Wires informers, the queue and the reconcile together. `start` after becoming leader; `stop` on losing it. */
export class PhantomClusterController {
  private readonly controller: Controller;
  private readonly clusterInformers: RestartingInformer<KubernetesObject>[] = [];
  private readonly statefulSetInformers: RestartingInformer<V1StatefulSet>[] = [];
  private readonly podInformers: RestartingInformer<V1Pod>[] = [];
  private cancelResync: (() => void) | undefined;
  private readonly log: (message: string) => void;

  constructor(private readonly options: PhantomClusterControllerOptions) {
    const { kubeConfig } = options;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const policy = kubeConfig.makeApiClient(PolicyV1Api);
    this.log = options.log ?? ((message) => process.stderr.write(`${message}\n`));
    const deps: ClusterControllerDeps = {
      custom,
      core,
      storage: kubeConfig.makeApiClient(StorageV1Api),
      kinds: kindClients(core, apps, policy),
      events: options.events,
      admin: options.admin,
      clock: options.clock,
      timings: { ...defaultClusterTimings, ...options.timings },
      listPods: (namespace, clusterName) => this.podsOf(namespace, clusterName),
      podAddress: options.podAddress ?? podAdminAddress,
      log: this.log,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.dataNodeImageRepository === undefined ? {} : { dataNodeImageRepository: options.dataNodeImageRepository }),
    };
    this.controller = new Controller({
      name: controllerName,
      reconcile: (key, signal) => reconcileCluster(deps, key, signal),
      clock: options.clock,
      workers: options.workers ?? 2,
      log: this.log,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
    const namespaces = options.namespaces !== undefined && options.namespaces.length > 0 ? options.namespaces : [undefined];
    for (const namespace of namespaces) this.addInformers(kubeConfig, namespace, core, apps, custom);
  }

  private addInformers(kubeConfig: KubeConfig, namespace: string | undefined, core: CoreV1Api, apps: AppsV1Api, custom: CustomObjectsApi): void {
    const scope = namespace === undefined ? '' : `/namespaces/${namespace}`;
    const onRestart = (resource: string) => (error: unknown, restartInMs: number) => {
      this.options.metrics?.informerRestarted(resource);
      this.log(`informer ${resource}${namespace === undefined ? '' : ` in ${namespace}`} failed (${error instanceof Error ? error.message : String(error)}); restarting in ${restartInMs} ms`);
    };
    const clusters = new RestartingInformer<KubernetesObject>({
      kubeConfig,
      path: `/apis/${apiGroup}/${apiVersionName}${scope}/${plural}`,
      list: async () =>
        (namespace === undefined
          ? await custom.listClusterCustomObject({ group: apiGroup, version: apiVersionName, plural })
          : await custom.listNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace, plural })) as KubernetesListObject<KubernetesObject>,
      clock: this.options.clock,
      onError: onRestart(plural),
    });
    const enqueueObject = (object: KubernetesObject): void => {
      const ns = object.metadata?.namespace;
      const name = object.metadata?.name;
      if (ns !== undefined && name !== undefined) this.controller.enqueue(`${ns}/${name}`);
    };
    for (const event of ['add', 'update', 'delete'] as const) clusters.on(event, enqueueObject);
    this.clusterInformers.push(clusters);

    const managedBy = 'app.kubernetes.io/managed-by=phantomdb-operator';
    const statefulSets = new RestartingInformer<V1StatefulSet>({
      kubeConfig,
      path: `/apis/apps/v1${scope}/statefulsets`,
      labelSelector: managedBy,
      list: () => (namespace === undefined ? apps.listStatefulSetForAllNamespaces({ labelSelector: managedBy }) : apps.listNamespacedStatefulSet({ namespace, labelSelector: managedBy })),
      clock: this.options.clock,
      onError: onRestart('statefulsets'),
    });
    const enqueueOwner = (object: KubernetesObject): void => {
      const owner = object.metadata?.ownerReferences?.find((reference) => reference.kind === clusterKind && reference.controller === true);
      const ns = object.metadata?.namespace;
      if (owner !== undefined && ns !== undefined) this.controller.enqueue(`${ns}/${owner.name}`);
    };
    for (const event of ['add', 'update', 'delete'] as const) statefulSets.on(event, enqueueOwner);
    this.statefulSetInformers.push(statefulSets);

    const dataNodes = 'app.kubernetes.io/name=phantomdb';
    const pods = new RestartingInformer<V1Pod>({
      kubeConfig,
      path: `/api/v1${scope}/pods`,
      labelSelector: dataNodes,
      list: () => (namespace === undefined ? core.listPodForAllNamespaces({ labelSelector: dataNodes }) : core.listNamespacedPod({ namespace, labelSelector: dataNodes })),
      clock: this.options.clock,
      onError: onRestart('pods'),
    });
    const enqueueInstance = (pod: V1Pod): void => {
      const instance = pod.metadata?.labels?.['app.kubernetes.io/instance'];
      const ns = pod.metadata?.namespace;
      if (instance !== undefined && ns !== undefined) this.controller.enqueue(`${ns}/${instance}`);
    };
    for (const event of ['add', 'update', 'delete'] as const) pods.on(event, enqueueInstance);
    this.podInformers.push(pods);
  }

  private podsOf(namespace: string, clusterName: string): V1Pod[] {
    return this.podInformers.flatMap((informer) => informer.list(namespace)).filter((pod) => pod.metadata?.labels?.['app.kubernetes.io/instance'] === clusterName);
  }

  /** Starts informers, waits for their first lists, then starts the workers. */
  async start(): Promise<void> {
    await Promise.all([...this.podInformers, ...this.statefulSetInformers].map((informer) => informer.start()));
    await Promise.all(this.clusterInformers.map((informer) => informer.start()));
    this.controller.start();
    this.scheduleResync();
  }

  private scheduleResync(): void {
    this.cancelResync = this.options.clock.setTimer(this.options.resyncMs ?? 300_000, () => {
      for (const informer of this.clusterInformers) for (const object of informer.list()) if (object.metadata?.namespace !== undefined && object.metadata.name !== undefined) this.controller.enqueue(`${object.metadata.namespace}/${object.metadata.name}`);
      this.scheduleResync();
    });
  }

  get hasSynced(): boolean {
    return [...this.clusterInformers, ...this.statefulSetInformers, ...this.podInformers].every((informer) => informer.hasSynced);
  }

  /** Stops reconciling: reconciles in flight stop at their next step or journal write. */
  async stop(): Promise<void> {
    this.cancelResync?.();
    await this.controller.stop();
    await Promise.all([...this.clusterInformers, ...this.statefulSetInformers, ...this.podInformers].map((informer) => informer.stop()));
  }

  /** The work queue (for metrics and tests). */
  get queue(): Controller['queue'] {
    return this.controller.queue;
  }
}
