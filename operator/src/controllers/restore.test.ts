/**
 * A PhantomCluster that asks to start from a backup, while the data node cannot ingest one yet:
 * the operator must refuse it visibly and create nothing, never start it empty.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeTestServer, type KubeTestServer } from '../../../test/kube/server.ts';
import { crdOf, kindDefinitions, type PhantomClusterStatus } from '../api/index.ts';
import { systemClock } from '../kube/clock.ts';
import { isNotFound } from '../kube/errors.ts';
import { EventRecorder } from '../kube/events.ts';
import { eventually, kubeConfigFor, timeouts } from '../kube/testing.ts';
import { FakeDataCluster, fakePodAddress } from './fake-data-cluster.ts';
import { PhantomClusterController } from './phantomcluster.ts';

let server: KubeTestServer;
const group = { group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters' } as const;

beforeAll(async () => {
  server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  for (const definition of kindDefinitions) {
    const response = await fetch(`${server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(crdOf(definition)) });
    if (!response.ok) throw new Error(`CRD ${definition.kind}: ${response.status}`);
  }
});

afterAll(async () => {
  await server.close();
});

describe('spec.bootstrap.fromBackup before the data node can restore', () => {
  it('fails the cluster with a clear message and creates no StatefulSet; a plain cluster in the same namespace still starts', async () => {
    const kubeConfig = kubeConfigFor(server.url);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const namespace = 'restore-1';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const controller = new PhantomClusterController({
      kubeConfig,
      admin: new FakeDataCluster(),
      events: new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test' }),
      clock: systemClock,
      namespaces: [namespace],
      podAddress: fakePodAddress,
      timings: { progressPollMs: 40, podPollMs: 25, refusedRetryMs: 300, healthPollMs: 60_000 },
      log: () => undefined,
    });
    await controller.start();
    const spec = { version: '1.0.0', storage: { size: '1Gi' } };
    await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'restored' }, spec: { ...spec, bootstrap: { fromBackup: { backupName: 'nightly-1' } } } } });
    await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'plain' }, spec } });
    let status: PhantomClusterStatus = {};
    await eventually(
      async () => {
        status = ((await custom.getNamespacedCustomObject({ ...group, namespace, name: 'restored' })) as { status?: PhantomClusterStatus }).status ?? {};
        return status.phase === 'Failed';
      },
      timeouts.reconcile,
      'the restoring cluster to fail',
    );
    await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace })).items.some((sts) => sts.metadata?.name === 'plain'), timeouts.reconcile, 'the plain cluster StatefulSet');
    await controller.stop();
    expect(status.message).toContain('cannot start this cluster from PhantomBackup nightly-1');
    expect(status.message).toContain('PH_BACKUP_RUNNER_UNAVAILABLE');
    expect(status.conditions?.find((condition) => condition.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RestoreUnavailable' });
    const missing = await apps.readNamespacedStatefulSet({ namespace, name: 'restored' }).then(
      () => false,
      (error: unknown) => isNotFound(error),
    );
    expect(missing).toBe(true);
    expect((await core.listNamespacedEvent({ namespace })).items.map((event) => event.reason)).toContain('RestoreUnavailable');
  });
});
