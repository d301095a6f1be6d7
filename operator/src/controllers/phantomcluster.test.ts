/**
 * The PhantomCluster controller against the API test server, with a fake StatefulSet kubelet and
 * a simulated data-node cluster behind the admin API: owned objects, bootstrap and joins, status
 * written only on change, refusal below the replication factor, scale-out, scale-in with its
 * journal, and an operator killed at every journal step of a scale-in.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, PolicyV1Api, StorageV1Api, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeTestServer, type ControllerContext, type KubeTestController, type KubeTestServer } from '../../../test/kube/server.ts';
import { crdOf, kindDefinitions, type PhantomClusterStatus } from '../api/index.ts';
import { systemClock } from '../kube/clock.ts';
import { EventRecorder } from '../kube/events.ts';
import { eventually, kubeConfigFor, timeouts } from '../kube/testing.ts';
import { OperatorMetrics } from '../metrics/metrics.ts';
import { allocateNodeId } from './cluster-steps.ts';
import type { ClusterTimings } from './context.ts';
import { PhantomClusterController } from './phantomcluster.ts';
import type { JsonObject } from '../../../test/kube/json.ts';
import { FakeDataCluster, fakePodAddress } from './fake-data-cluster.ts';

const statefulSets = { group: 'apps', plural: 'statefulsets' } as const;
const pods = { group: '', plural: 'pods' } as const;
const claims = { group: '', plural: 'persistentvolumeclaims' } as const;

type Json = Record<string, unknown>;
const at = (object: unknown, key: string): Json => {
  const value = (object as Json | undefined)?.[key];
  return typeof value === 'object' && value !== null ? (value as Json) : {};
};

/**
 * Creates pods `<sts>-0..replicas-1` from the template (labels, annotations, image) with their
 * claims, recreates deleted ones, and deletes pods above replicas. A pod is Running and Ready,
 * unless its image names a tag containing "nonexistent": then it waits in ImagePullBackOff.
 */
export class FakeStatefulSetKubelet implements KubeTestController {
  readonly name = 'fake-statefulset-kubelet';
  private context: ControllerContext | undefined;
  private unsubscribe: (() => void) | undefined;
  private scheduled = false;

  start(context: ControllerContext): void {
    this.context = context;
    const unsubscribeSets = context.store.subscribe(statefulSets, () => this.schedule());
    const unsubscribePods = context.store.subscribe(pods, () => this.schedule());
    this.unsubscribe = () => {
      unsubscribeSets();
      unsubscribePods();
    };
  }

  stop(): void {
    this.unsubscribe?.();
    this.context = undefined;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.sync();
    });
  }

  private sync(): void {
    const store = this.context?.store;
    if (store === undefined) return;
    for (const sts of store.list(statefulSets)) {
      const meta = at(sts, 'metadata');
      const namespace = String(meta['namespace']);
      const name = String(meta['name']);
      const replicas = Number(at(sts, 'spec')['replicas'] ?? 1);
      const templateMeta = at(at(at(sts, 'spec'), 'template'), 'metadata');
      const labels = templateMeta['labels'] as JsonObject;
      const annotations = (templateMeta['annotations'] ?? {}) as JsonObject;
      const containers = at(at(at(sts, 'spec'), 'template'), 'spec')['containers'] as { image?: string }[] | undefined;
      const image = containers?.[0]?.image ?? 'phantomdb-node';
      const existing = store.list(pods, namespace).filter((pod) => String(at(pod, 'metadata')['name']).startsWith(`${name}-`));
      for (const pod of existing) {
        const ordinal = Number(String(at(pod, 'metadata')['name']).slice(name.length + 1));
        if (ordinal >= replicas && at(pod, 'metadata')['deletionTimestamp'] === undefined) store.delete(pods, namespace, String(at(pod, 'metadata')['name']));
      }
      for (let ordinal = 0; ordinal < replicas; ordinal++) {
        const podName = `${name}-${ordinal}`;
        if (existing.some((pod) => at(pod, 'metadata')['name'] === podName)) continue;
        const claim = `data-${podName}`;
        if (!store.list(claims, namespace).some((object) => at(object, 'metadata')['name'] === claim)) {
          const claimTemplate = ((at(sts, 'spec')['volumeClaimTemplates'] ?? []) as { spec?: { storageClassName?: string; resources?: { requests?: { storage?: string } } } }[])[0];
          const storageClassName = claimTemplate?.spec?.storageClassName;
          const storage = claimTemplate?.spec?.resources?.requests?.storage ?? '1Gi';
          store.create(claims, namespace, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: claim, namespace }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } }, ...(storageClassName === undefined ? {} : { storageClassName }) } });
        }
        const uid = String(meta['uid']);
        const created = store.create(pods, namespace, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: podName, namespace, labels, annotations, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid, controller: true }] },
          spec: { containers: [{ name: 'phantomdb', image }] },
        } as JsonObject);
        const status = image.includes('nonexistent')
          ? { phase: 'Pending', podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'phantomdb', image, imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` } } }] }
          : { phase: 'Running', podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] };
        store.update(pods, namespace, podName, { ...created, status } as JsonObject, { subresource: 'status' });
      }
    }
  }
}

let api: TestApi;

interface TestApi {
  readonly server: KubeTestServer;
  readonly kubeConfig: KubeConfig;
  close(): Promise<void>;
}

async function startTestApi(): Promise<TestApi> {
  const server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  return { server, kubeConfig: kubeConfigFor(server.url), close: () => server.close() };
}
let core: CoreV1Api;
let apps: AppsV1Api;
let custom: CustomObjectsApi;
let namespaceCounter = 0;
const group = { group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters' } as const;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

beforeAll(async () => {
  api = await startTestApi();
  core = api.kubeConfig.makeApiClient(CoreV1Api);
  apps = api.kubeConfig.makeApiClient(AppsV1Api);
  custom = api.kubeConfig.makeApiClient(CustomObjectsApi);
  const definition = kindDefinitions[0];
  if (definition === undefined) throw new Error('no kinds');
  const response = await fetch(`${api.server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(crdOf(definition)) });
  if (!response.ok) throw new Error(`CRD: ${response.status} ${await response.text()}`);
  await api.server.hooks.registerController(new FakeStatefulSetKubelet());
});

afterAll(async () => {
  await api.close();
});

async function freshNamespace(): Promise<string> {
  namespaceCounter += 1;
  const name = `pc-${namespaceCounter}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

interface Operator {
  readonly controller: PhantomClusterController;
  readonly metrics: OperatorMetrics;
}

async function startOperator(namespace: string, data: FakeDataCluster, timings: Partial<ClusterTimings> = {}): Promise<Operator> {
  const metrics = new OperatorMetrics();
  const controller = new PhantomClusterController({
    kubeConfig: api.kubeConfig,
    admin: data,
    events: new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test' }),
    clock: systemClock,
    namespaces: [namespace],
    metrics,
    podAddress: fakePodAddress,
    timings: { progressPollMs: 40, podPollMs: 25, refusedRetryMs: 300, healthPollMs: 60_000, rebalancePollMs: 40, ...timings },
    log: () => {},
  });
  await controller.start();
  return { controller, metrics };
}

async function createCluster(namespace: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'db' }, spec: { version: '1.0.0', storage: { size: '1Gi' }, ...spec } } });
}

async function clusterStatus(namespace: string): Promise<PhantomClusterStatus> {
  const object = (await custom.getNamespacedCustomObject({ ...group, namespace, name: 'db' })) as { status?: PhantomClusterStatus };
  return object.status ?? {};
}

async function statefulSetReplicas(namespace: string): Promise<number> {
  return (await apps.readNamespacedStatefulSet({ namespace, name: 'db' })).spec?.replicas ?? -1;
}

async function events(namespace: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace })).items;
}

async function running(namespace: string, replicas: number): Promise<void> {
  await eventually(
    async () => {
      const status = await clusterStatus(namespace);
      return status.phase === 'Running' && (status.nodes ?? []).filter((node) => node.role === 'Member').length === replicas;
    },
    timeouts.reconcile,
    `cluster Running with ${replicas} members`,
  );
}

function condition(status: PhantomClusterStatus, type: string): { status: string; reason: string; message: string; lastTransitionTime: string } | undefined {
  return status.conditions?.find((entry) => entry.type === type);
}

describe('PhantomClusterController', () => {
  it('creates the owned objects, bootstraps, joins the other nodes and reports Running', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    const uid = ((await custom.getNamespacedCustomObject({ ...group, namespace, name: 'db' })) as { metadata: { uid: string } }).metadata.uid;
    const owned = [
      (await apps.readNamespacedStatefulSet({ namespace, name: 'db' })).metadata,
      (await core.readNamespacedService({ namespace, name: 'db' })).metadata,
      (await core.readNamespacedService({ namespace, name: 'db-nodes' })).metadata,
      (await core.readNamespacedConfigMap({ namespace, name: 'db-config' })).metadata,
      (await core.readNamespacedServiceAccount({ namespace, name: 'db-node' })).metadata,
      (await api.kubeConfig.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ namespace, name: 'db' })).metadata,
    ];
    for (const meta of owned) expect(meta?.ownerReferences?.[0]).toMatchObject({ kind: 'PhantomCluster', name: 'db', uid, controller: true });
    const status = await clusterStatus(namespace);
    expect(status).toMatchObject({ replicas: 3, readyReplicas: 3, selector: 'app.kubernetes.io/name=phantomdb,app.kubernetes.io/instance=db', observedGeneration: 1, currentVersion: '1.0.0' });
    expect(status.nodes?.map((node) => [node.pod, node.role, node.health])).toEqual([
      ['db-0', 'Member', 'Healthy'],
      ['db-1', 'Member', 'Healthy'],
      ['db-2', 'Member', 'Healthy'],
    ]);
    expect(condition(status, 'Available')?.status).toBe('True');
    expect(condition(status, 'Degraded')?.status).toBe('False');
    // Bootstrap: node 1 initialized alone; the others joined through the admin API.
    expect(data.calls.filter((call) => call.startsWith('addLearner')).sort()).toEqual(['addLearner 2', 'addLearner 3']);
    expect(data.calls.filter((call) => call === 'promote 2' || call === 'promote 3').length).toBeGreaterThanOrEqual(2);
    const reasons = (await events(namespace)).map((event) => event.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Created', 'NodeJoining', 'NodeJoined']));
    expect(await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_clusters')).toContain(`phantomdb_operator_clusters{namespace="${namespace}",phase="Running"} 1`);
    expect(await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_reconcile_total')).toMatch(/result="success"/);

    // Settled: more reconciles write nothing (no status, no object updates).
    let writes = 0;
    const counted = ['phantomclusters', 'statefulsets', 'services', 'configmaps', 'serviceaccounts', 'poddisruptionbudgets'];
    const unsubscribes = counted.map((plural) =>
      api.server.hooks.onChange({ group: plural === 'phantomclusters' ? 'phantomdb.io' : plural === 'statefulsets' ? 'apps' : plural === 'poddisruptionbudgets' ? 'policy' : '', plural }, (event) => {
        if (event.type === 'MODIFIED') writes += 1;
      }),
    );
    const before = await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_reconcile_total');
    for (let round = 0; round < 3; round++) {
      operator.controller.queue.add(`${namespace}/db`);
      await eventually(() => operator.controller.queue.stats().processing === 0 && operator.controller.queue.stats().depth === 0, timeouts.reconcile, 'the reconcile');
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    expect(await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_reconcile_total')).not.toBe(before);
    expect(writes).toBe(0);
    for (const unsubscribe of unsubscribes) unsubscribe();
    await operator.controller.stop();
  });

  it('refuses to scale in below the replication factor: condition and event, cluster unchanged', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3, replicationFactor: 3 });
    await running(namespace, 3);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 1 } } }, mergePatch);
    await eventually(async () => condition(await clusterStatus(namespace), 'Degraded')?.reason === 'ScaleInRefused', timeouts.reconcile, 'ScaleInRefused');
    const status = await clusterStatus(namespace);
    expect(condition(status, 'Degraded')?.message).toBe('refusing to scale in to 1 node(s): replicationFactor 3 needs at least 3 nodes; the cluster keeps its 3 nodes');
    expect(condition(status, 'ScalingDown')).toMatchObject({ status: 'False', reason: 'ScaleInRefused' });
    expect(status.observedGeneration).toBe(2);
    const refused = (await events(namespace)).find((event) => event.reason === 'ScaleInRefused');
    expect(refused).toMatchObject({ type: 'Warning', involvedObject: { kind: 'PhantomCluster', name: 'db' } });
    expect(await statefulSetReplicas(namespace)).toBe(3);
    expect(data.calls.some((call) => call.startsWith('decommission'))).toBe(false);
    expect((await core.listNamespacedPod({ namespace })).items).toHaveLength(3);
    await operator.controller.stop();
  });

  it('changes nothing while paused but keeps reporting the nodes', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { paused: true, replicas: 5 } } }, mergePatch);
    await eventually(async () => (await clusterStatus(namespace)).phase === 'Paused', timeouts.reconcile, 'phase Paused');
    const status = await clusterStatus(namespace);
    expect(status.nodes?.map((node) => node.role)).toEqual(['Member', 'Member', 'Member']);
    expect(status.observedGeneration).toBe(2);
    expect(await statefulSetReplicas(namespace)).toBe(3);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { paused: false } } }, mergePatch);
    await running(namespace, 5);
    await operator.controller.stop();
  });

  it('scales out (ScalingUp until the new nodes joined) and scales in through decommission, deleting volumes per reclaimPolicy', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3, storage: { size: '1Gi', reclaimPolicy: 'Delete' } });
    await running(namespace, 3);
    const sawScalingUp: string[] = [];
    const unsubscribe = api.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, (event) => {
      const status = (event.object as { status?: PhantomClusterStatus }).status;
      if (status !== undefined && condition(status, 'ScalingUp')?.status === 'True') sawScalingUp.push(status.phase ?? '');
    });
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 5 } } }, mergePatch);
    await running(namespace, 5);
    unsubscribe();
    expect(sawScalingUp.length).toBeGreaterThan(0);
    expect(sawScalingUp.every((phase) => phase === 'Scaling')).toBe(true);
    expect(await statefulSetReplicas(namespace)).toBe(5);

    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 3 } } }, mergePatch);
    await eventually(async () => (await clusterStatus(namespace)).operation?.kind === 'ScaleIn', timeouts.reconcile, 'the scale-in to start');
    await running(namespace, 3);
    const status = await clusterStatus(namespace);
    expect(status.operation).toBeUndefined();
    expect(condition(status, 'ScalingDown')).toMatchObject({ status: 'False', reason: 'ScaleInCompleted' });
    expect(await statefulSetReplicas(namespace)).toBe(3);
    // Highest ordinal first, each node once.
    expect(data.calls.filter((call) => call.startsWith('decommission'))).toEqual(['decommission 5', 'decommission 4']);
    const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace })).items.map((claim) => claim.metadata?.name).sort();
    expect(claims).toEqual(['data-db-0', 'data-db-1', 'data-db-2']);
    const reasons = (await events(namespace)).map((event) => event.reason);
    expect(reasons).toEqual(expect.arrayContaining(['ScalingUp', 'ScaleInStarted', 'Decommissioning', 'VolumeDeleted', 'ScaleInCompleted']));
    expect(await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds')).toMatch(/kind="ScaleIn",result="succeeded"/);

    // Out again: the recreated pods db-3 and db-4 get fresh ids (6 and 7), never the removed 4 and 5.
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 5 } } }, mergePatch);
    await running(namespace, 5);
    const again = await clusterStatus(namespace);
    expect(again.nodes?.map((node) => [node.pod, node.id, node.role])).toEqual([
      ['db-0', '1', 'Member'],
      ['db-1', '2', 'Member'],
      ['db-2', '3', 'Member'],
      ['db-3', '6', 'Member'],
      ['db-4', '7', 'Member'],
    ]);
    expect(data.calls.filter((call) => /^addLearner (4|5)$/.test(call))).toHaveLength(2);
    expect(data.calls.filter((call) => /^addLearner (6|7)$/.test(call)).length).toBeGreaterThanOrEqual(2);
    expect(data.calls.some((call) => call.startsWith('assignIdentity db-3:7000 6'))).toBe(true);
    await operator.controller.stop();
  });

  it('a scale-out waits for balanced replicas: Rebalancing True with the counts while they move, cleared after; the scale-in reports decommission progress', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    // 30 replicas, all on node 1 at first; the fake placement driver moves one per status poll.
    data.bootstrapReplicas = 30;
    data.joinReplicas = 0;
    data.movesPerPoll = 1;
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    await eventually(async () => condition(await clusterStatus(namespace), 'Rebalancing')?.status === 'False', timeouts.reconcile, 'the 3 nodes balanced');
    // Balanced means within 9..11 of a mean of 10 (the fake driver would go on to 10 each if asked).
    for (const node of (await clusterStatus(namespace)).nodes ?? []) expect(node.ranges).toBeGreaterThanOrEqual(9);

    const seen: { rebalancing: string; reason: string; message: string; phase: string; step: string; progress: unknown }[] = [];
    const unsubscribe = api.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, (event) => {
      const status = (event.object as { status?: PhantomClusterStatus }).status;
      const rebalancing = status === undefined ? undefined : condition(status, 'Rebalancing');
      if (status === undefined || rebalancing === undefined) return;
      seen.push({ rebalancing: rebalancing.status, reason: rebalancing.reason, message: rebalancing.message, phase: status.phase ?? '', step: `${status.operation?.kind ?? ''}/${status.operation?.step ?? ''}`, progress: status.operation?.details?.['progress'] });
    });
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 5 } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.phase === 'Running' && status.operation === undefined && condition(status, 'Rebalancing')?.status === 'False' && status.nodes?.length === 5;
    }, timeouts.reconcile, 'the scale-out to 5 balanced and finished');
    const moving = seen.filter((entry) => entry.rebalancing === 'True');
    expect(moving.length).toBeGreaterThan(0);
    // While replicas moved, the scale-out was journaled and waiting, and the message said how far.
    expect(moving.some((entry) => entry.step === 'ScaleOut/WaitBalanced' && entry.phase === 'Scaling' && entry.reason === 'ReplicasMoving')).toBe(true);
    expect(moving.map((entry) => entry.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^replicas per node 1:\d+ 2:\d+ 3:\d+ 4:\d+ 5:\d+; spread \d+; balanced band 5\.\.7; 0 ranges under-replicated$/)]));
    // It never finished while unbalanced: every status without the journal after the scale-out began is balanced.
    const firstMove = seen.findIndex((entry) => entry.rebalancing === 'True');
    expect(seen.slice(firstMove).filter((entry) => entry.step === '/' && entry.rebalancing === 'True')).toEqual([]);
    const balanced = await clusterStatus(namespace);
    expect((balanced.nodes ?? []).reduce((sum, node) => sum + (node.ranges ?? 0), 0)).toBe(30);
    for (const node of balanced.nodes ?? []) expect([5, 6, 7]).toContain(node.ranges);
    expect(condition(balanced, 'Rebalancing')).toMatchObject({ status: 'False', reason: 'Balanced' });
    const metrics = await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds');
    expect(metrics).toMatch(/phantomdb_operator_operation_duration_seconds_count\{kind="ScaleOut",result="succeeded"\} 1\n/);
    expect((await events(namespace)).map((event) => event.reason)).toEqual(expect.arrayContaining(['ScalingUp', 'Rebalancing', 'ScaleOutCompleted']));

    // Scale-in: node 5 holds 5 to 7 replicas; its decommission moves them one per poll, and says so.
    seen.length = 0;
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 4 } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.phase === 'Running' && status.operation === undefined && status.nodes?.length === 4;
    }, timeouts.reconcile, 'the scale-in to 4 finished');
    unsubscribe();
    const progress = seen.filter((entry) => entry.step === 'ScaleIn/WaitDecommissioned').map((entry) => entry.progress as { replicasAtStart: number; replicasRemaining: number; leasesRemaining: number; etaSeconds?: number });
    expect(progress.length).toBeGreaterThan(0);
    const atStart = progress[0]?.replicasAtStart ?? 0;
    expect(atStart).toBeGreaterThanOrEqual(5);
    expect(progress.every((entry) => entry.replicasAtStart === atStart)).toBe(true);
    const remaining = progress.map((entry) => entry.replicasRemaining);
    expect(remaining).toEqual([...remaining].sort((a, b) => b - a));
    expect(Math.min(...remaining)).toBeLessThan(atStart);
    expect(progress.some((entry) => entry.etaSeconds !== undefined)).toBe(true);
    const progressEvents = (await events(namespace)).filter((event) => event.reason === 'DecommissionProgress');
    expect(progressEvents.length).toBeGreaterThan(0);
    expect(progressEvents[0]?.message).toMatch(/^Decommissioning node 5 \(pod db-4\): \d of \d replicas and \d+ leases left \(/);
    await operator.controller.stop();
  });

  it('resumes a scale-out from its journal when the operator stops while it waits for balance, and finishes it exactly once', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    data.bootstrapReplicas = 10;
    data.joinReplicas = 10;
    const first = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    // The new nodes arrive empty and nothing moves until the second operator runs.
    data.joinReplicas = 0;
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 5 } } }, mergePatch);
    await eventually(async () => (await clusterStatus(namespace)).operation?.step === 'WaitBalanced', timeouts.reconcile, 'the scale-out waiting for balance');
    await first.controller.stop();
    const journaled = (await clusterStatus(namespace)).operation;
    expect(journaled).toMatchObject({ kind: 'ScaleOut', step: 'WaitBalanced', details: { fromReplicas: 3, toReplicas: 5 } });

    data.movesPerPoll = 1;
    const second = await startOperator(namespace, data);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation === undefined && condition(status, 'Rebalancing')?.status === 'False';
    }, timeouts.reconcile, 'the resumed scale-out balanced and finished');
    const completed = (await events(namespace)).filter((event) => event.reason === 'ScaleOutCompleted');
    expect(completed.reduce((sum, event) => sum + (event.count ?? 1), 0)).toBe(1);
    expect(completed[0]?.message).toMatch(/^Scaled out from 3 to 5 data nodes in \d+ s; balanced: replicas per node /);
    expect(await first.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds')).toMatch(/_count\{kind="ScaleOut",result="succeeded"\} 0\n/);
    expect(await second.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds')).toMatch(/_count\{kind="ScaleOut",result="succeeded"\} 1\n/);
    // Only the first operator raised the StatefulSet, once.
    expect((await events(namespace)).filter((event) => event.reason === 'ScalingUp').reduce((sum, event) => sum + (event.count ?? 1), 0)).toBe(1);
    await second.controller.stop();
  });

  it('a scale-out does not finish while a new node is not counted (reported DEAD), even though the counted nodes look balanced', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    data.bootstrapReplicas = 0;
    data.joinReplicas = 0;
    data.reportedLiveness.set('db-3:7000', 'DEAD');
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 4 } } }, mergePatch);
    await eventually(async () => (await clusterStatus(namespace)).operation?.step === 'WaitBalanced', timeouts.reconcile, 'the scale-out waiting for balance');
    // Ten more looks at the data nodes later it still waits: node 4 (db-3) is a voter but reported
    // DEAD, so it is not counted, and the three counted nodes alone would be balanced.
    expect(data.nodes.get('db-3:7000')?.membership).toBe('VOTER');
    const polls = data.statusPolls;
    await eventually(() => data.statusPolls >= polls + 10, timeouts.reconcile, 'ten more status polls');
    const waiting = await clusterStatus(namespace);
    expect(waiting.operation?.step).toBe('WaitBalanced');
    expect(waiting.phase).toBe('Scaling');
    expect((await events(namespace)).some((event) => event.reason === 'ScaleOutCompleted')).toBe(false);
    data.reportedLiveness.delete('db-3:7000');
    await running(namespace, 4);
    expect((await events(namespace)).filter((event) => event.reason === 'ScaleOutCompleted')[0]?.message).toMatch(/replicas per node 1:0 2:0 3:0 4:0;/);
    await operator.controller.stop();
  });

  it('a scale-out waiting for balance gives way to a lowered spec: superseded, then the scale-in removes the new nodes', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    data.bootstrapReplicas = 6;
    data.joinReplicas = 6;
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    data.joinReplicas = 0;
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 5 } } }, mergePatch);
    await eventually(async () => (await clusterStatus(namespace)).operation?.step === 'WaitBalanced', timeouts.reconcile, 'the scale-out waiting for balance');
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 3 } } }, mergePatch);
    await running(namespace, 3);
    expect(await statefulSetReplicas(namespace)).toBe(3);
    const reasons = (await events(namespace)).map((event) => event.reason);
    expect(reasons).toEqual(expect.arrayContaining(['ScaleOutSuperseded', 'ScaleInCompleted']));
    expect(reasons).not.toContain('ScaleOutCompleted');
    expect(data.calls.filter((call) => call.startsWith('decommission'))).toEqual(['decommission 5', 'decommission 4']);
    const metrics = await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds');
    expect(metrics).toMatch(/_count\{kind="ScaleOut",result="failed"\} 1\n/);
    expect(metrics).toMatch(/_count\{kind="ScaleIn",result="succeeded"\} 1\n/);
    await operator.controller.stop();
  });

  it('a scale-out that never balances ends failed after rebalanceTimeoutMs, and Rebalancing keeps reporting', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    data.bootstrapReplicas = 6;
    data.joinReplicas = 6;
    const operator = await startOperator(namespace, data, { rebalanceTimeoutMs: 300 });
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    // New nodes arrive empty and nothing moves (a data node placement driver that is stuck).
    data.joinReplicas = 0;
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 4 } } }, mergePatch);
    await eventually(async () => (await events(namespace)).some((event) => event.reason === 'RebalanceTimedOut' && event.type === 'Warning'), timeouts.reconcile, 'a RebalanceTimedOut warning');
    await running(namespace, 4);
    const status = await clusterStatus(namespace);
    expect(status.operation).toBeUndefined();
    expect(condition(status, 'Rebalancing')).toMatchObject({ status: 'True', reason: 'ReplicasMoving' });
    expect(condition(status, 'Rebalancing')?.message).toContain('replicas per node 1:6 2:6 3:6 4:0');
    expect(condition(status, 'Progressing')).toMatchObject({ status: 'True', reason: 'Rebalancing' });
    expect(status.message).toMatch(/rebalancing: replicas per node/);
    const metrics = await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds');
    expect(metrics).toMatch(/phantomdb_operator_operation_duration_seconds_count\{kind="ScaleOut",result="failed"\} 1\n/);
    await operator.controller.stop();
  });

  it('allocates node ids above every member, removed and recorded id, and above ids pods already hold', () => {
    const node = (nodeId: number, membership: 'VOTER' | 'DECOMMISSIONED') => ({ nodeId, address: `n${nodeId}:7000`, membership, liveness: 'LIVE' as const, raft: undefined, replicas: 1, leases: 0, version: '', locality: '' });
    const status = { clusterId: 'c', leaderId: 1, nodes: [node(1, 'VOTER'), node(2, 'VOTER'), node(3, 'VOTER'), node(5, 'DECOMMISSIONED')], groups: 1, ranges: 1, underReplicatedRanges: 0, unavailableRanges: 0, replicationFactor: 3, highestNodeId: 0 };
    expect(allocateNodeId(status)).toBe(6);
    expect(allocateNodeId({ ...status, highestNodeId: 9 })).toBe(10);
    expect(allocateNodeId(status, [0, 7])).toBe(8);
  });

  it('resumes a scale-in from its journal when the operator is killed at every step, and finishes it exactly once', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    let operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 5, storage: { size: '1Gi', reclaimPolicy: 'Delete' } });
    await running(namespace, 5);
    await operator.controller.stop();

    // Kill the operator right after each journal write, then start a new one.
    const killedAt: string[] = [];
    let kill: (() => void) | undefined;
    const unsubscribe = api.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, (event) => {
      const operation = (event.object as { status?: PhantomClusterStatus }).status?.operation;
      if (operation === undefined) return;
      const point = `${String(operation.details?.['ordinal'])}/${operation.step}`;
      if (!killedAt.includes(point)) {
        killedAt.push(point);
        kill?.();
      }
    });
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { replicas: 3 } } }, mergePatch);
    let restarts = 0;
    for (;;) {
      let killed = false;
      operator = await startOperator(namespace, data);
      const current = operator;
      kill = () => {
        killed = true;
        void current.controller.stop();
      };
      await eventually(async () => killed || ((await clusterStatus(namespace)).operation === undefined && (await statefulSetReplicas(namespace)) === 3), timeouts.scaleIn, 'a kill or the end of the scale-in');
      await current.controller.stop();
      if (!killed) break;
      restarts += 1;
      expect(restarts).toBeLessThan(30);
    }
    unsubscribe();
    operator = await startOperator(namespace, data);
    await running(namespace, 3);
    await operator.controller.stop();

    const steps = ['Decommission', 'WaitDecommissioned', 'ShrinkStatefulSet', 'WaitPodGone', 'ReclaimVolume'];
    expect(killedAt).toEqual([...steps.map((step) => `4/${step}`), ...steps.map((step) => `3/${step}`)]);
    // Every node decommissioned once, none repeated, none forgotten.
    expect(data.calls.filter((call) => call.startsWith('decommission'))).toEqual(['decommission 5', 'decommission 4']);
    expect(await statefulSetReplicas(namespace)).toBe(3);
    const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace })).items.map((claim) => claim.metadata?.name).sort();
    expect(claims).toEqual(['data-db-0', 'data-db-1', 'data-db-2']);
    const completed = (await events(namespace)).filter((event) => event.reason === 'ScaleInCompleted');
    expect(completed.map((event) => event.count ?? 1).reduce((a, b) => a + b, 0)).toBe(1);
    const started = (await events(namespace)).filter((event) => event.reason === 'ScaleInStarted');
    expect(started.map((event) => event.count ?? 1).reduce((a, b) => a + b, 0)).toBe(1);
  });
});

/** Pod names in the order the API server deleted them, from now until `stop`. */
function recordPodDeletions(namespace: string): { readonly deleted: string[]; stop(): void } {
  const deleted: string[] = [];
  const stop = api.server.hooks.onChange(pods, (event) => {
    const meta = at(event.object, 'metadata');
    if (event.type === 'DELETED' && meta['namespace'] === namespace) deleted.push(String(meta['name']));
  });
  return { deleted, stop };
}

async function eventCount(namespace: string, reason: string): Promise<number> {
  return (await events(namespace)).filter((event) => event.reason === reason).reduce((sum, event) => sum + (event.count ?? 1), 0);
}

async function templateHash(namespace: string): Promise<string> {
  const hash = (await apps.readNamespacedStatefulSet({ namespace, name: 'db' })).spec?.template.metadata?.annotations?.['phantomdb.io/pod-template-hash'];
  if (hash === undefined) throw new Error('the StatefulSet has no template hash');
  return hash;
}

async function settleReconciles(operator: Operator, namespace: string, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    operator.controller.queue.add(`${namespace}/db`);
    await eventually(() => operator.controller.queue.stats().processing === 0 && operator.controller.queue.stats().depth === 0, timeouts.reconcile, 'the reconcile');
  }
}

describe('rolling restarts and upgrades', () => {
  it('rolls a version change one node at a time, highest ordinal first, drained first; paused changes nothing; clusterVersion is finalized only at the end', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    const before = await clusterStatus(namespace);
    expect(before.clusterVersion).toBe('1.0.0');
    expect(before.podTemplateHash).toBe(await templateHash(namespace));
    expect(before.nodes?.map((node) => [node.podVersion, node.version])).toEqual([['1.0.0', '1.0.0'], ['1.0.0', '1.0.0'], ['1.0.0', '1.0.0']]);

    const deletions = recordPodDeletions(namespace);
    const versionsDuring: (string | undefined)[] = [];
    const unsubscribe = api.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, (event) => {
      const status = (event.object as { status?: PhantomClusterStatus }).status;
      if (status?.operation !== undefined) versionsDuring.push(status.clusterVersion);
    });
    // Paused: the StatefulSet keeps its template and no pod is touched.
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { paused: true, version: '1.1.0' } } }, mergePatch);
    await eventually(async () => (await clusterStatus(namespace)).phase === 'Paused', timeouts.reconcile, 'phase Paused');
    await settleReconciles(operator, namespace, 2);
    expect(deletions.deleted).toEqual([]);
    expect((await clusterStatus(namespace)).operation).toBeUndefined();
    expect(await templateHash(namespace)).toBe(before.podTemplateHash);

    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { paused: false } } }, mergePatch);
    await eventually(async () => (await clusterStatus(namespace)).operation?.kind === 'RollingUpgrade', timeouts.reconcile, 'the rolling upgrade to start');
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation === undefined && status.clusterVersion === '1.1.0' && status.phase === 'Running';
    }, timeouts.scaleIn, 'the upgrade to finish');
    unsubscribe();
    deletions.stop();
    const after = await clusterStatus(namespace);
    const hash = await templateHash(namespace);
    expect(hash).not.toBe(before.podTemplateHash);
    expect(after.podTemplateHash).toBe(hash);
    expect(after.nodes?.map((node) => [node.pod, node.podVersion, node.podTemplateHash, node.role])).toEqual([0, 1, 2].map((ordinal) => [`db-${ordinal}`, '1.1.0', hash, 'Member']));
    expect(condition(after, 'Upgrading')).toMatchObject({ status: 'False', reason: 'RolloutCompleted' });
    expect(deletions.deleted).toEqual(['db-2', 'db-1', 'db-0']);
    // Each node drained before its pod went (ids 3, 2, 1 for ordinals 2, 1, 0).
    expect(data.calls.filter((call) => call.startsWith('drain'))).toEqual(['drain 3', 'drain 3', 'drain 2', 'drain 2', 'drain 1', 'drain 1']);
    expect(versionsDuring.length).toBeGreaterThan(0);
    expect(versionsDuring.every((version) => version === '1.0.0')).toBe(true);
    expect(await eventCount(namespace, 'UpgradeStarted')).toBe(1);
    expect(await eventCount(namespace, 'RolloutCompleted')).toBe(1);
    expect(await eventCount(namespace, 'ClusterVersionFinalized')).toBe(1);
    expect(await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds')).toMatch(/_count\{kind="Upgrade",result="succeeded"\} 1$/m);
    await operator.controller.stop();
  });

  it('finalizes the data nodes\' cluster version as the last, journaled step of an upgrade; then refuses a downgrade with a clear condition', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3, rollout: { podReadyTimeoutSeconds: 30 } });
    await running(namespace, 3);
    const steps: string[] = [];
    const unsubscribe = api.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, (event) => {
      const operation = (event.object as { status?: PhantomClusterStatus }).status?.operation;
      if (operation !== undefined && steps.at(-1) !== operation.step) steps.push(operation.step);
    });
    // The new binaries report 1.1.0 once rolled; one node is down when the finalize first comes.
    data.binaryVersion = '1.1.0';
    data.finalizeRefusal = 'node 2 is DEAD (binary unknown): every member must be live to finalize';
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { version: '1.1.0' } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation?.step === 'Finalize' && condition(status, 'Upgrading')?.reason === 'Finalizing';
    }, timeouts.scaleIn, 'the rollout to wait in Finalize');
    const finalizing = await clusterStatus(namespace);
    expect(condition(finalizing, 'Upgrading')?.message).toContain('PH_FINALIZE_REFUSED: node 2 is DEAD');
    expect(finalizing.clusterVersion).toBe('1.0.0');
    expect(data.clusterVersion).toBe('1.0.0');
    data.finalizeRefusal = undefined;
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation === undefined && status.clusterVersion === '1.1.0';
    }, timeouts.scaleIn, 'the upgrade to finish');
    const done = await clusterStatus(namespace);
    unsubscribe();
    expect(done.dataClusterVersion).toBe('1.1.0');
    expect(data.clusterVersion).toBe('1.1.0');
    expect(steps.slice(-2)).toEqual(['WaitPodReady', 'Finalize']);
    // Finalize came after the last pod was back (the last drain), and only then.
    const finalizeAt = data.calls.indexOf('finalize (oldest binary)');
    expect(finalizeAt).toBeGreaterThan(data.calls.lastIndexOf('drain 1'));
    expect(await eventCount(namespace, 'ClusterVersionFinalized')).toBe(1);

    // A downgrade after finalization: refused, nothing changes.
    const hash = await templateHash(namespace);
    const deletions = recordPodDeletions(namespace);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { version: '1.0.0' } } }, mergePatch);
    await eventually(async () => condition(await clusterStatus(namespace), 'Degraded')?.reason === 'DowngradeRefused', timeouts.reconcile, 'the downgrade to be refused');
    const refused = await clusterStatus(namespace);
    expect(condition(refused, 'Upgrading')).toMatchObject({ status: 'False', reason: 'DowngradeRefused' });
    expect(condition(refused, 'Degraded')?.message).toContain('spec.version 1.0.0 is older than the cluster version 1.1.0');
    expect(refused.message).toContain('cannot be downgraded');
    await settleReconciles(operator, namespace, 2);
    expect(deletions.deleted).toEqual([]);
    expect(await templateHash(namespace)).toBe(hash);
    expect((await clusterStatus(namespace)).operation).toBeUndefined();
    expect(await eventCount(namespace, 'DowngradeRefused')).toBe(1);
    // Setting the finalized version again clears the refusal.
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { version: '1.1.0' } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return condition(status, 'Degraded')?.status === 'False' && condition(status, 'Upgrading')?.reason !== 'DowngradeRefused';
    }, timeouts.reconcile, 'the refusal to clear');
    deletions.stop();
    expect(deletions.deleted).toEqual([]);
    await operator.controller.stop();
  });

  it('completes an upgrade of data nodes that predate cluster versions (FinalizeClusterVersion unimplemented) without finalizing them', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    data.finalizeUnimplemented = true;
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { version: '1.1.0' } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation === undefined && status.clusterVersion === '1.1.0';
    }, timeouts.scaleIn, 'the upgrade to finish');
    const status = await clusterStatus(namespace);
    expect(status.dataClusterVersion).toBeUndefined();
    expect(data.calls.filter((call) => call.startsWith('finalize'))).toEqual(['finalize (oldest binary)']);
    expect(condition(status, 'Upgrading')).toMatchObject({ status: 'False', reason: 'RolloutCompleted' });
    await operator.controller.stop();
  });

  it('deletes no pod when an operator of another build reconciles the same spec (labels it adds elsewhere do not count)', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    let operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    await operator.controller.stop();
    const hash = await templateHash(namespace);
    // What an older operator build left behind: its own labels and annotations on the StatefulSet.
    await apps.patchNamespacedStatefulSet(
      { namespace, name: 'db', body: { metadata: { labels: { 'app.kubernetes.io/version': 'operator-0.0.9', 'helm.sh/chart': 'phantomdb-operator-0.0.9' }, annotations: { 'phantomdb.io/operator-build': 'old' } } } },
      mergePatch,
    );
    const deletions = recordPodDeletions(namespace);
    operator = await startOperator(namespace, data);
    await settleReconciles(operator, namespace, 3);
    deletions.stop();
    expect(deletions.deleted).toEqual([]);
    const status = await clusterStatus(namespace);
    expect(status.operation).toBeUndefined();
    expect(status.phase).toBe('Running');
    expect(await templateHash(namespace)).toBe(hash);
    expect(data.calls.some((call) => call.startsWith('drain'))).toBe(false);
    await operator.controller.stop();
  });

  it('pauses when a restarted pod is never Ready (Degraded, a Warning naming the pod), and reverting the change rolls it back', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3, rollout: { podReadyTimeoutSeconds: 5 } });
    await running(namespace, 3);
    const goodHash = await templateHash(namespace);
    const deletions = recordPodDeletions(namespace);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { image: 'registry.example/phantomdb-node:nonexistent' } } }, mergePatch);
    await eventually(async () => condition(await clusterStatus(namespace), 'Degraded')?.reason === 'RolloutPaused', timeouts.scaleIn, 'the rollout to pause');
    const paused = await clusterStatus(namespace);
    expect(condition(paused, 'Degraded')?.message).toMatch(/pod db-2 \(node 3\) is not back after 5 s: container ImagePullBackOff/);
    expect(paused.operation).toMatchObject({ kind: 'RollingUpgrade', step: 'WaitPodReady' });
    const warning = (await events(namespace)).find((event) => event.reason === 'RolloutPaused');
    expect(warning?.type).toBe('Warning');
    expect(warning?.message).toContain('db-2');
    expect(warning?.message).toContain('ImagePullBackOff');
    // Only the first pod was replaced; the others keep serving.
    expect(deletions.deleted).toEqual(['db-2']);

    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { image: null } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation === undefined && status.phase === 'Running' && condition(status, 'Degraded')?.status === 'False';
    }, timeouts.scaleIn, 'the rollback to finish');
    deletions.stop();
    expect(await templateHash(namespace)).toBe(goodHash);
    const status = await clusterStatus(namespace);
    expect(status.nodes?.map((node) => node.podTemplateHash)).toEqual([goodHash, goodHash, goodHash]);
    expect(status.clusterVersion).toBe('1.0.0');
    expect(deletions.deleted).toEqual(['db-2', 'db-2']);
    expect(await eventCount(namespace, 'RolloutPaused')).toBe(1);
    expect(await eventCount(namespace, 'RolloutRetargeted')).toBe(1);
    await operator.controller.stop();
  });

  it('rolls back the nodes already upgraded when the version is reverted after a node did not rejoin', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3, rollout: { podReadyTimeoutSeconds: 5 } });
    await running(namespace, 3);
    const oldHash = await templateHash(namespace);
    const deletions = recordPodDeletions(namespace);
    // The node of db-1 does not rejoin on 1.1.0 (its process is unreachable once its pod is replaced).
    const stopBreaking = api.server.hooks.onChange(pods, (event) => {
      if (event.type === 'DELETED' && at(event.object, 'metadata')['name'] === 'db-1' && at(event.object, 'metadata')['namespace'] === namespace) data.down.add('db-1:7000');
    });
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { version: '1.1.0' } } }, mergePatch);
    await eventually(async () => condition(await clusterStatus(namespace), 'Degraded')?.reason === 'RolloutPaused', timeouts.scaleIn, 'the rollout to pause on db-1');
    expect(condition(await clusterStatus(namespace), 'Degraded')?.message).toMatch(/pod db-1 \(node 2\) is not back after 5 s: node 2 has not rejoined \(VOTER, DEAD\)/);
    expect(deletions.deleted).toEqual(['db-2', 'db-1']);
    const newHash = await templateHash(namespace);

    stopBreaking();
    data.down.clear();
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { version: '1.0.0' } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation === undefined && status.phase === 'Running' && status.podTemplateHash === oldHash;
    }, timeouts.scaleIn, 'the rollback to finish');
    deletions.stop();
    expect(await templateHash(namespace)).toBe(oldHash);
    expect(newHash).not.toBe(oldHash);
    const status = await clusterStatus(namespace);
    expect(status.nodes?.map((node) => [node.pod, node.podVersion, node.podTemplateHash])).toEqual([0, 1, 2].map((ordinal) => [`db-${ordinal}`, '1.0.0', oldHash]));
    expect(status.clusterVersion).toBe('1.0.0');
    // db-1 back to 1.0.0, then db-2 (already on 1.1.0) rolled back too; db-0 never touched.
    expect(deletions.deleted).toEqual(['db-2', 'db-1', 'db-1', 'db-2']);
    await operator.controller.stop();
  });

  it('restarts a single-node cluster without draining (there is no other voter to take its leases)', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    data.replicationFactor = 1;
    const operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 1, replicationFactor: 1 });
    await running(namespace, 1);
    const deletions = recordPodDeletions(namespace);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { resources: { requests: { cpu: '2' } } } } }, mergePatch);
    await eventually(async () => {
      const status = await clusterStatus(namespace);
      return status.operation === undefined && status.observedGeneration === 2 && status.podTemplateHash === (await templateHash(namespace));
    }, timeouts.scaleIn, 'the restart to finish');
    deletions.stop();
    expect(deletions.deleted).toEqual(['db-0']);
    expect(data.calls.filter((call) => call.startsWith('drain'))).toEqual([]);
    expect(condition(await clusterStatus(namespace), 'Upgrading')).toMatchObject({ status: 'False', reason: 'RolloutCompleted' });
    expect(await operator.metrics.registry.getSingleMetricAsString('phantomdb_operator_operation_duration_seconds')).toMatch(/_count\{kind="Restart",result="succeeded"\} 1$/m);
    await operator.controller.stop();
  });

  it('resumes a rollout from its journal when the operator is killed at every step, and finishes it exactly once', async () => {
    const namespace = await freshNamespace();
    const data = new FakeDataCluster();
    let operator = await startOperator(namespace, data);
    await createCluster(namespace, { replicas: 3 });
    await running(namespace, 3);
    await operator.controller.stop();

    const killedAt: string[] = [];
    let kill: (() => void) | undefined;
    const unsubscribe = api.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, (event) => {
      const operation = (event.object as { status?: PhantomClusterStatus }).status?.operation;
      if (operation === undefined) return;
      const point = `${String(operation.details?.['ordinal'])}/${operation.step}`;
      if (!killedAt.includes(point)) {
        killedAt.push(point);
        kill?.();
      }
    });
    const deletions = recordPodDeletions(namespace);
    await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { config: { logLevel: 'debug' } } } }, mergePatch);
    let restarts = 0;
    for (;;) {
      let killed = false;
      operator = await startOperator(namespace, data);
      const current = operator;
      kill = () => {
        killed = true;
        void current.controller.stop();
      };
      await eventually(async () => {
        if (killed) return true;
        const status = await clusterStatus(namespace);
        return status.operation === undefined && status.observedGeneration === 2 && status.podTemplateHash === (await templateHash(namespace));
      }, timeouts.scaleIn, 'a kill or the end of the rollout');
      await current.controller.stop();
      if (!killed) break;
      restarts += 1;
      expect(restarts).toBeLessThan(30);
    }
    unsubscribe();
    deletions.stop();
    const steps = ['Drain', 'DeletePod', 'WaitPodReady'];
    expect(killedAt).toEqual([2, 1, 0].flatMap((ordinal) => steps.map((step) => `${ordinal}/${step}`)));
    // A config change is a restart, not an upgrade; every pod replaced exactly once.
    expect(deletions.deleted).toEqual(['db-2', 'db-1', 'db-0']);
    expect(await eventCount(namespace, 'RestartStarted')).toBe(1);
    expect(await eventCount(namespace, 'RolloutCompleted')).toBe(1);
    expect(await eventCount(namespace, 'ClusterVersionFinalized')).toBe(0);
  });
});

describe('volume expansion', () => {
  it('grows the claims when their StorageClass allows expansion, and says so on status when it does not', async () => {
    const storage = api.kubeConfig.makeApiClient(StorageV1Api);
    await storage.createStorageClass({ body: { metadata: { name: 'grows' }, provisioner: 'test.phantomdb.io/dir', allowVolumeExpansion: true } });
    await storage.createStorageClass({ body: { metadata: { name: 'fixed' }, provisioner: 'test.phantomdb.io/dir' } });
    const sizes = async (namespace: string): Promise<string[]> => (await core.listNamespacedPersistentVolumeClaim({ namespace })).items.map((claim) => String(claim.spec?.resources?.requests?.['storage'])).sort();

    const growing = await freshNamespace();
    const fixed = await freshNamespace();
    const data = new FakeDataCluster();
    const dataFixed = new FakeDataCluster();
    const operators = [await startOperator(growing, data), await startOperator(fixed, dataFixed)];
    await createCluster(growing, { replicas: 3, storage: { size: '1Gi', storageClassName: 'grows' } });
    await createCluster(fixed, { replicas: 3, storage: { size: '1Gi', storageClassName: 'fixed' } });
    await running(growing, 3);
    await running(fixed, 3);
    const deletions = recordPodDeletions(growing);
    for (const namespace of [growing, fixed]) await custom.patchNamespacedCustomObject({ ...group, namespace, name: 'db', body: { spec: { storage: { size: '2Gi' } } } }, mergePatch);

    await eventually(async () => (await sizes(growing)).every((size) => size === '2Gi'), timeouts.reconcile, 'the claims asking for 2Gi');
    await eventually(async () => condition(await clusterStatus(growing), 'VolumeExpansion')?.reason === 'Expanded', timeouts.reconcile, 'VolumeExpansion Expanded');
    expect((await events(growing)).filter((event) => event.reason === 'VolumeExpanding').map((event) => event.message).sort()).toEqual(
      [0, 1, 2].map((ordinal) => `Asked for 2Gi on PersistentVolumeClaim data-db-${ordinal} (StorageClass grows allows expansion)`),
    );
    // A volume size is not part of the pod template: nothing restarts.
    expect(deletions.deleted).toEqual([]);
    deletions.stop();

    await eventually(async () => condition(await clusterStatus(fixed), 'VolumeExpansion')?.reason === 'ExpansionNotSupported', timeouts.reconcile, 'VolumeExpansion ExpansionNotSupported');
    expect(condition(await clusterStatus(fixed), 'VolumeExpansion')).toMatchObject({ status: 'False', message: expect.stringContaining('StorageClass fixed does not allow volume expansion') as unknown });
    expect(await sizes(fixed)).toEqual(['1Gi', '1Gi', '1Gi']);
    expect((await events(fixed)).find((event) => event.reason === 'VolumeExpansionNotSupported')?.type).toBe('Warning');
    for (const operator of operators) await operator.controller.stop();
  });
});
