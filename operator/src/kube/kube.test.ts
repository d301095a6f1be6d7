/**
 * The operator's Kubernetes machinery against the API test server over real HTTP: informers
 * that survive dropped watches, 410 Gone and failing lists; status writes only on change;
 * deduplicated events; leader election between two candidates.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type V1ConfigMap, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeTestServer, type KubeTestServer } from '../../../test/kube/server.ts';
import { crdOf, kindDefinitions } from '../../src/api/index.ts';
import { ManualClock } from './clock.ts';
import { EventRecorder } from './events.ts';
import { RestartingInformer } from './informer.ts';
import { LeaderElector } from './leader-election.ts';
import { StatusConflictError, writeStatusIfChanged } from './status.ts';
import { eventually, kubeConfigFor, timeouts } from './testing.ts';

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
let namespaceCounter = 0;

async function freshNamespace(): Promise<string> {
  namespaceCounter += 1;
  const name = `kube-${namespaceCounter}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

beforeAll(async () => {
  api = await startTestApi();
  core = api.kubeConfig.makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await api.close();
});

describe('RestartingInformer', () => {
  it('keeps its cache in sync across abrupt drops (restart) and 410 Gone (re-list)', async () => {
    const namespace = await freshNamespace();
    const informer = new RestartingInformer<V1ConfigMap>({
      kubeConfig: api.kubeConfig,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      list: () => core.listNamespacedConfigMap({ namespace }),
      restartBackoffInitialMs: 20,
      restartBackoffMaxMs: 100,
    });
    const seen: string[] = [];
    informer.on('add', (object) => seen.push(`add ${object.metadata?.name ?? ''}`));
    informer.on('delete', (object) => seen.push(`delete ${object.metadata?.name ?? ''}`));
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'before' } } });
    await informer.start();
    expect(informer.hasSynced).toBe(true);
    expect(informer.list(namespace).map((object) => object.metadata?.name)).toEqual(['before']);

    // An abrupt drop ends client-node's ListWatch with an error; the wrapper restarts it.
    await eventually(() => api.server.hooks.watchCount() > 0, timeouts.watchEvent, 'the watch');
    api.server.hooks.dropWatches({ abrupt: true });
    await eventually(() => informer.restarts >= 1, timeouts.informerRestart, 'a restart after the abrupt drop');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-abrupt' } } });
    await eventually(() => seen.includes('add after-abrupt'), timeouts.watchEvent, 'an event after the restart');

    // Compacted history: resuming gets 410 Gone and the informer lists again, noticing the delete.
    const listsBefore = informer.lists;
    await core.deleteNamespacedConfigMap({ name: 'before', namespace });
    await eventually(() => seen.includes('delete before'), timeouts.watchEvent, 'the delete');
    // A write elsewhere moves the global resourceVersion past the informer's, then history goes.
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'elsewhere-' } } });
    api.server.hooks.dropWatches({ abrupt: true });
    api.server.hooks.compactHistory();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-410' } } });
    await eventually(() => informer.lists > listsBefore && informer.get('after-410', namespace) !== undefined, timeouts.informerRestart, 're-list after 410').catch((error: unknown) => {
      throw new Error(`${String(error)}; lists ${informer.lists} (before ${listsBefore}), restarts ${informer.restarts}, seen ${seen.join(', ')}, watches ${api.server.hooks.watchCount()}`);
    });
    expect(informer.list(namespace).map((object) => object.metadata?.name).sort()).toEqual(['after-410', 'after-abrupt']);
    await informer.stop();
  });

  it('restarts with capped exponential backoff while the list keeps failing', async () => {
    const namespace = await freshNamespace();
    const clock = new ManualClock();
    let failuresLeft = 4;
    const delays: number[] = [];
    const informer = new RestartingInformer<V1ConfigMap>({
      kubeConfig: api.kubeConfig,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      list: () => (failuresLeft-- > 0 ? Promise.reject(new Error('API server unavailable')) : core.listNamespacedConfigMap({ namespace })),
      clock,
      random: () => 1,
      restartBackoffInitialMs: 100,
      restartBackoffMaxMs: 300,
      onError: (_error, restartInMs) => delays.push(restartInMs),
    });
    const started = informer.start();
    for (let round = 0; round < 4; round++) {
      await eventually(() => delays.length > round, timeouts.watchEvent, `failure ${round + 1}`);
      clock.advance(1000);
    }
    await started;
    expect(delays).toEqual([100, 200, 300, 300]);
    expect(informer.restarts).toBe(4);
    expect(informer.hasSynced).toBe(true);
    await informer.stop();
  });
});

describe('writeStatusIfChanged', () => {
  it('writes through /status only when the status differs, and reports conflicts', async () => {
    const namespace = await freshNamespace();
    const custom = api.kubeConfig.makeApiClient(CustomObjectsApi);
    const definition = kindDefinitions[0];
    if (definition === undefined) throw new Error('no kinds');
    await fetch(`${api.server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(crdOf(definition)) }).then(async (response) => {
      if (!response.ok && response.status !== 409) throw new Error(`CRD: ${response.status} ${await response.text()}`);
    });
    const ref = { group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters', namespace, name: 'db' };
    await custom.createNamespacedCustomObject({ ...ref, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'db' }, spec: { version: '1.0.0', storage: { size: '1Gi' } } } });
    const read = async (): Promise<{ metadata: { resourceVersion?: string } & Record<string, unknown>; status?: unknown }> => (await custom.getNamespacedCustomObject(ref)) as { metadata: { resourceVersion?: string } & Record<string, unknown>; status?: unknown };
    let writes = 0;
    const unsubscribe = api.server.hooks.onChange({ group: 'phantomdb.io', plural: 'phantomclusters' }, () => (writes += 1));
    const first = await writeStatusIfChanged(custom, ref, await read(), { phase: 'Pending', replicas: 0 });
    expect(first.written).toBe(true);
    // Same content, other key order: no write.
    expect((await writeStatusIfChanged(custom, ref, await read(), { replicas: 0, phase: 'Pending' })).written).toBe(false);
    expect(writes).toBe(1);
    const stale = await read();
    await writeStatusIfChanged(custom, ref, await read(), { phase: 'Running', replicas: 3 });
    await expect(writeStatusIfChanged(custom, ref, stale, { phase: 'Degraded' })).rejects.toBeInstanceOf(StatusConflictError);
    expect((await read()).status).toEqual({ phase: 'Running', replicas: 3 });
    unsubscribe();
  });
});

describe('EventRecorder', () => {
  it('folds repeats into one Event with a count, and records distinct ones apart', async () => {
    const namespace = await freshNamespace();
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const recorder = new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test', clock });
    const involved = { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', namespace, name: 'db', uid: 'u1' };
    await recorder.record(involved, 'Warning', 'ScaleInRefused', 'replicationFactor 3 needs 3 nodes');
    clock.advance(5000);
    await recorder.record(involved, 'Warning', 'ScaleInRefused', 'replicationFactor 3 needs 3 nodes');
    await recorder.record(involved, 'Warning', 'ScaleInRefused', 'replicationFactor 3 needs 3 nodes');
    await recorder.record(involved, 'Normal', 'ScalingUp', 'raising replicas to 5');
    const events = (await core.listNamespacedEvent({ namespace })).items;
    expect(events).toHaveLength(2);
    const refused = events.find((event) => event.reason === 'ScaleInRefused');
    expect(refused).toMatchObject({ type: 'Warning', count: 3, message: 'replicationFactor 3 needs 3 nodes', involvedObject: { kind: 'PhantomCluster', name: 'db', uid: 'u1' }, source: { component: 'phantomdb-operator' } });
    expect(new Date(refused?.lastTimestamp ?? 0).getTime() - new Date(refused?.firstTimestamp ?? 0).getTime()).toBe(5000);
  });
});

describe('LeaderElector', () => {
  function candidate(namespace: string, identity: string, log: string[], timing = { leaseDurationMs: 900, renewDeadlineMs: 600, retryPeriodMs: 100 }): LeaderElector {
    return new LeaderElector({
      api: api.kubeConfig.makeApiClient(CoordinationV1Api),
      namespace,
      leaseName: 'phantomdb-operator-leader',
      identity,
      ...timing,
      onStartedLeading: () => log.push(`${identity} started`),
      onStoppedLeading: () => log.push(`${identity} stopped`),
    });
  }

  it('lets one of two candidates lead, fails over when the leader stops renewing, and hands over on release', async () => {
    const namespace = await freshNamespace();
    const log: string[] = [];
    const a = candidate(namespace, 'a', log);
    const b = candidate(namespace, 'b', log);
    a.start();
    await eventually(() => a.isLeader, timeouts.leaderFailover, 'a to lead');
    b.start();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(b.isLeader).toBe(false);
    // a crashes: no release; b waits for the lease to expire, then leads.
    const crashedAt = Date.now();
    await a.stop({ release: false });
    await eventually(() => b.isLeader, timeouts.leaderFailover, 'b to take over');
    expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(500);
    const lease = await api.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'phantomdb-operator-leader', namespace });
    expect(lease.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // b releases on a clean shutdown; a new candidate c takes over well within the lease duration.
    const c = candidate(namespace, 'c', log);
    c.start();
    const releasedAt = Date.now();
    await b.stop();
    await eventually(() => c.isLeader, timeouts.leaderFailover, 'c to take over after the release');
    expect(Date.now() - releasedAt).toBeLessThan(900);
    await c.stop();
    expect(log).toEqual(['a started', 'a stopped', 'b started', 'b stopped', 'c started', 'c stopped']);
  });

  it('stops leading when another holder takes the lease, and judges expiry by its own clock', async () => {
    const namespace = await freshNamespace();
    const clock = new ManualClock();
    const log: string[] = [];
    const coordination = api.kubeConfig.makeApiClient(CoordinationV1Api);
    const make = (identity: string): LeaderElector =>
      new LeaderElector({ api: coordination, namespace, leaseName: 'l', identity, clock, leaseDurationMs: 10_000, renewDeadlineMs: 8_000, retryPeriodMs: 1_000, onStartedLeading: () => log.push(`${identity} started`), onStoppedLeading: () => log.push(`${identity} stopped`) });
    const a = make('a');
    const b = make('b');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(9_000);
    // b saw the record 9 s ago and it has not changed: not yet expired.
    expect(await b.tryAcquireOrRenew()).toBe(false);
    // a renews; b sees the changed record 9 s later and restarts its count from then.
    expect(await a.tryAcquireOrRenew()).toBe(true);
    clock.advance(9_000);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(9_500);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(1_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(await a.tryAcquireOrRenew()).toBe(false);
  });

  it('a running leader loses leadership as soon as it sees another holder', async () => {
    const namespace = await freshNamespace();
    const log: string[] = [];
    const a = candidate(namespace, 'a', log);
    a.start();
    await eventually(() => a.isLeader, timeouts.leaderFailover, 'a to lead');
    const coordination = api.kubeConfig.makeApiClient(CoordinationV1Api);
    const lease = await coordination.readNamespacedLease({ name: 'phantomdb-operator-leader', namespace });
    await coordination.replaceNamespacedLease({ name: 'phantomdb-operator-leader', namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', renewTime: new Date() } } });
    await eventually(() => !a.isLeader, timeouts.leaderFailover, 'a to step down');
    expect(log).toEqual(['a started', 'a stopped']);
    await a.stop();
  });
});
