/**
 * A PhantomCluster that asks to start from a backup: one that cannot be restored (not found, on
 * a volume claim the cluster does not mount) is refused visibly with nothing created, never
 * started empty; one on S3, or on the volume claim the cluster mounts, gets the restore Secret
 * (the data node's --restore-from, credentials included) that its StatefulSet passes to the pods.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeTestServer, type KubeTestServer } from '../../../test/kube/server.ts';
import { crdOf, kindDefinitions, type PhantomClusterStatus } from '../api/index.ts';
import { systemClock } from '../kube/clock.ts';
import { isNotFound } from '../kube/errors.ts';
import { EventRecorder } from '../kube/events.ts';
import { eventually, installCrds, kubeConfigFor, timeouts } from '../kube/testing.ts';
import { FakeDataCluster, fakePodAddress } from './fake-data-cluster.ts';
import { PhantomClusterController } from './phantomcluster.ts';

let server: KubeTestServer;
const group = { group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters' } as const;

beforeAll(async () => {
  server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  await installCrds(server.url, kindDefinitions.map(crdOf));
});

afterAll(async () => {
  await server.close();
});

/**
 * Creates the namespace, runs `prepare` in it (objects the controller must find on its first
 * pass), then starts a controller that watches only that namespace against a fake data cluster.
 * The caller stops the controller.
 */
async function startController(namespace: string, prepare?: (core: CoreV1Api) => Promise<void>) {
  const kubeConfig = kubeConfigFor(server.url);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await prepare?.(core);
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
  return { core, apps, custom, controller };
}

/** Waits until the PhantomCluster `name` reports phase Failed, and returns that status. */
async function waitForFailed(custom: CustomObjectsApi, namespace: string, name: string): Promise<PhantomClusterStatus> {
  let status: PhantomClusterStatus = {};
  await eventually(
    async () => {
      status = ((await custom.getNamespacedCustomObject({ ...group, namespace, name })) as { status?: PhantomClusterStatus }).status ?? {};
      return status.phase === 'Failed';
    },
    timeouts.reconcile,
    `PhantomCluster ${namespace}/${name} to fail`,
  );
  return status;
}

describe('spec.bootstrap.fromBackup', () => {
  it('fails the cluster with a clear message and creates no StatefulSet; a plain cluster in the same namespace still starts', async () => {
    const namespace = 'restore-1';
    const { core, apps, custom, controller } = await startController(namespace);
    const spec = { version: '1.0.0', storage: { size: '1Gi' } };
    await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'restored' }, spec: { ...spec, bootstrap: { fromBackup: { backupName: 'nightly-1' } } } } });
    await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'plain' }, spec } });
    const status = await waitForFailed(custom, namespace, 'restored');
    await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace })).items.some((sts) => sts.metadata?.name === 'plain'), timeouts.reconcile, 'the plain cluster StatefulSet');
    await controller.stop();
    expect(status.message).toContain('cannot start this cluster from PhantomBackup nightly-1');
    expect(status.message).toContain('PhantomBackup restore-1/nightly-1 does not exist');
    expect(status.message).toContain('nothing was created');
    expect(status.conditions?.find((condition) => condition.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RestoreUnavailable' });
    const missing = await apps.readNamespacedStatefulSet({ namespace, name: 'restored' }).then(
      () => false,
      (error: unknown) => isNotFound(error),
    );
    expect(missing).toBe(true);
    expect((await core.listNamespacedEvent({ namespace })).items.map((event) => event.reason)).toContain('RestoreUnavailable');
  });

  it('writes the restore Secret for a backup on S3 or on the volume the cluster mounts and passes it to the pods; refuses a volume the cluster does not mount', async () => {
    const namespace = 'restore-2';
    const { core, apps, custom, controller } = await startController(namespace, async (core) => {
      await core.createNamespacedSecret({ namespace, body: { metadata: { name: 's3-creds' }, stringData: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' } } });
    });
    const spec = { version: '1.0.0', storage: { size: '1Gi' } };
    const s3 = { bucket: 'backups', prefix: 'prod', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', forcePathStyle: true, credentials: { secretName: 's3-creds' } };
    await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'from-s3' }, spec: { ...spec, bootstrap: { fromBackup: { destination: { s3 }, backupId: 'full-1', upToBackupId: 'inc-2' } } } } });
    await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'from-volume' }, spec: { ...spec, bootstrap: { fromBackup: { destination: { volume: { claimName: 'backups' } }, backupId: 'full-1' } } } } });
    await custom.createNamespacedCustomObject({
      ...group,
      namespace,
      body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'from-mounted' }, spec: { ...spec, backup: { volume: { claimName: 'backups' } }, bootstrap: { fromBackup: { destination: { volume: { claimName: 'backups', path: '/nightly' } }, backupId: 'full-1' } } } },
    });
    await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace })).items.some((sts) => sts.metadata?.name === 'from-s3'), timeouts.reconcile, 'the S3-restored cluster StatefulSet');
    await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace })).items.some((sts) => sts.metadata?.name === 'from-mounted'), timeouts.reconcile, 'the volume-restored cluster StatefulSet');
    const volumeStatus = await waitForFailed(custom, namespace, 'from-volume');
    await controller.stop();
    const secret = await core.readNamespacedSecret({ namespace, name: 'from-s3-restore' });
    const source = JSON.parse(Buffer.from(secret.data?.restoreFrom ?? '', 'base64').toString('utf8')) as unknown;
    expect(source).toEqual({ backupId: 'inc-2', s3: { bucket: 'backups', prefix: 'prod', region: 'eu-west-1', forcePathStyle: true, endpoint: 'http://127.0.0.1:9000', accessKeyId: 'AKID', secretAccessKey: 'SECRET' } });
    expect(secret.metadata?.ownerReferences?.[0]?.name).toBe('from-s3');
    const sts = await apps.readNamespacedStatefulSet({ namespace, name: 'from-s3' });
    const env = sts.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.find((entry) => entry.name === 'PHANTOMDB_RESTORE_FROM')?.valueFrom?.secretKeyRef).toEqual({ name: 'from-s3-restore', key: 'restoreFrom' });
    expect(volumeStatus.message).toContain('PhantomCluster restore-2/from-volume does not mount volume claim backups (it mounts no backup volume): set spec.backup.volume.claimName: backups');
    const mountedSecret = await core.readNamespacedSecret({ namespace, name: 'from-mounted-restore' });
    expect(JSON.parse(Buffer.from(mountedSecret.data?.restoreFrom ?? '', 'base64').toString('utf8'))).toEqual({ backupId: 'full-1', volume: { path: '/var/lib/phantomdb-backup/nightly' } });
    const mountedPod = (await apps.readNamespacedStatefulSet({ namespace, name: 'from-mounted' })).spec?.template.spec;
    expect(mountedPod?.volumes?.find((volume) => volume.name === 'backup')?.persistentVolumeClaim).toEqual({ claimName: 'backups' });
    expect(mountedPod?.containers[0]?.volumeMounts?.find((mount) => mount.name === 'backup')?.mountPath).toBe('/var/lib/phantomdb-backup');
    const volumeSts = await apps.readNamespacedStatefulSet({ namespace, name: 'from-volume' }).then(
      () => true,
      (error: unknown) => !isNotFound(error),
    );
    expect(volumeSts).toBe(false);
  });
});
