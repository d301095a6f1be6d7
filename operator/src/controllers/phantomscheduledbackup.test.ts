/**
 * Retention and suspend of a PhantomScheduledBackup, reconciled directly against the API test
 * server with a volume destination in a temp directory: expired backups are deleted from the
 * destination and then as objects; when the destination cannot be opened nothing is deleted and
 * the schedule says why; a suspended schedule starts nothing.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeTestServer, type KubeTestServer } from '../../../test/kube/server.ts';
import { crdOf, kindDefinitions, type PhantomScheduledBackupStatus } from '../api/index.ts';
import { systemClock } from '../kube/clock.ts';
import { EventRecorder } from '../kube/events.ts';
import { installCrds, kubeConfigFor } from '../kube/testing.ts';
import { VolumeBackupStore } from '../../../datanode/src/backup/index.ts';
import { type BackupDestinations, type DataNodeBackupDeleter, KubeBackupDestinations } from './backup-runner.ts';
import { reconcileScheduledBackup, scheduledBackupLabel, type ScheduledBackupDeps } from './phantomscheduledbackup.ts';

const group = { group: 'phantomdb.io', version: 'v1alpha1' } as const;
let server: KubeTestServer;
let custom: CustomObjectsApi;
let core: CoreV1Api;
let volumeRoot = '';

beforeAll(async () => {
  server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  const kubeConfig = kubeConfigFor(server.url);
  custom = kubeConfig.makeApiClient(CustomObjectsApi);
  core = kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(server.url, kindDefinitions.map(crdOf));
  volumeRoot = await mkdtemp(path.join(tmpdir(), 'phantomdb-retention-'));
});

afterAll(async () => {
  await server.close();
  await rm(volumeRoot, { recursive: true, force: true });
});

/** The operator as deployed: it does not mount the data pods' backup claims. */
const unreachable = (): BackupDestinations => new KubeBackupDestinations(core);

function deps(destinations: BackupDestinations, dataNodes?: DataNodeBackupDeleter): ScheduledBackupDeps {
  return {
    custom,
    events: new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test' }),
    destinations,
    clock: systemClock,
    activePollMs: 50,
    resyncMs: 60_000,
    ...(dataNodes === undefined ? {} : { dataNodes }),
  };
}

/**
 * Creates completed, verified full backups of the 'nightly' schedule of cluster 'db', a day apart,
 * the last one a day ago, in the order given; answers their names (backup ids: `<name>-id`).
 */
async function completedScheduledBackups(namespace: string, destination: Record<string, unknown>, names: readonly string[]): Promise<readonly string[]> {
  for (const [index, name] of names.entries()) {
    const created = (await custom.createNamespacedCustomObject({
      ...group,
      plural: 'phantombackups',
      namespace,
      body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: { name, labels: { [scheduledBackupLabel]: 'nightly' } }, spec: { cluster: 'db', destination, type: 'Full' } },
    })) as Record<string, unknown>;
    const status = { phase: 'Completed', backupId: `${name}-id`, completedAt: new Date(Date.now() - (names.length - index) * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'), verified: true };
    await custom.replaceNamespacedCustomObjectStatus({ ...group, plural: 'phantombackups', namespace, name, body: { ...created, status } });
  }
  return names;
}

async function backupNames(namespace: string): Promise<string[]> {
  const list = (await custom.listNamespacedCustomObject({ ...group, plural: 'phantombackups', namespace })) as { items: { metadata: { name: string } }[] };
  return list.items.map((item) => item.metadata.name).sort();
}

describe('PhantomScheduledBackup retention and suspend', () => {
  it('deletes expired backups from the destination and then their objects, but nothing while the destination is unreachable; starts nothing while suspended', async () => {
    const namespace = 'retention-1';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const destination = { volume: { claimName: 'backups', path: '/phantom' } };
    await custom.createNamespacedCustomObject({
      ...group,
      plural: 'phantomscheduledbackups',
      namespace,
      body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomScheduledBackup', metadata: { name: 'nightly' }, spec: { cluster: 'db', schedule: '* * * * *', destination, retention: { keepLast: 1 }, suspend: true } },
    });
    // Three completed full backups, a day apart, each with objects at the destination.
    for (const name of await completedScheduledBackups(namespace, destination, ['nightly-a', 'nightly-b', 'nightly-c'])) {
      await mkdir(path.join(volumeRoot, 'phantom', `${name}-id`, 'ranges', '1'), { recursive: true });
      await writeFile(path.join(volumeRoot, 'phantom', `${name}-id`, 'manifest.json'), '{}');
      await writeFile(path.join(volumeRoot, 'phantom', `${name}-id`, 'ranges', '1', '000000.sst'), 'data');
    }

    await reconcileScheduledBackup(deps(unreachable()), `${namespace}/nightly`);
    let status = ((await custom.getNamespacedCustomObject({ ...group, plural: 'phantomscheduledbackups', namespace, name: 'nightly' })) as { status?: PhantomScheduledBackupStatus }).status ?? {};
    expect(status.conditions?.find((condition) => condition.type === 'RetentionFailed')).toMatchObject({ status: 'True', reason: 'DeleteFailed' });
    expect(status.conditions?.find((condition) => condition.type === 'RetentionFailed')?.message).toContain(
      'cannot open the destination to delete expired backups nightly-a, nightly-b (kept): volume claim retention-1/backups is mounted by the data node pods, not by the operator',
    );
    expect(await backupNames(namespace)).toEqual(['nightly-a', 'nightly-b', 'nightly-c']);
    expect((await readdir(path.join(volumeRoot, 'phantom'))).sort()).toEqual(['nightly-a-id', 'nightly-b-id', 'nightly-c-id']);

    const reachable = new KubeBackupDestinations(core, { volumeMountOf: (ns, claim) => (ns === namespace && claim === 'backups' ? volumeRoot : undefined) });
    await reconcileScheduledBackup(deps(reachable), `${namespace}/nightly`);
    status = ((await custom.getNamespacedCustomObject({ ...group, plural: 'phantomscheduledbackups', namespace, name: 'nightly' })) as { status?: PhantomScheduledBackupStatus }).status ?? {};
    expect(status.conditions?.find((condition) => condition.type === 'RetentionFailed')).toMatchObject({ status: 'False' });
    expect(await backupNames(namespace)).toEqual(['nightly-c']);
    // Only the kept backup remains, without empty folders left behind.
    expect(await readdir(path.join(volumeRoot, 'phantom'))).toEqual(['nightly-c-id']);
    const remaining: string[] = [];
    for (const entry of await readdir(path.join(volumeRoot, 'phantom'), { recursive: true, withFileTypes: true })) if (entry.isFile()) remaining.push(path.relative(path.join(volumeRoot, 'phantom'), path.join(entry.parentPath, entry.name)));
    expect(remaining.sort()).toEqual(['nightly-c-id/manifest.json', 'nightly-c-id/ranges/1/000000.sst']);
    // Suspended: every minute is due, yet nothing was started.
    expect(status.activeBackup).toBeUndefined();
    expect(status.lastScheduleTime).toBeUndefined();
    const reasons = (await core.listNamespacedEvent({ namespace })).items.map((event) => event.reason);
    expect(reasons).toEqual(expect.arrayContaining(['RetentionFailed', 'BackupExpired']));
    expect(reasons).not.toContain('BackupScheduled');
  });
  it('deletes expired backups on a volume the operator does not mount through the data nodes', async () => {
    const namespace = 'retention-2';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const destination = { volume: { claimName: 'backups', path: '/phantom' } };
    const claimDir = path.join(volumeRoot, namespace);
    await custom.createNamespacedCustomObject({
      ...group,
      plural: 'phantomscheduledbackups',
      namespace,
      body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomScheduledBackup', metadata: { name: 'nightly' }, spec: { cluster: 'db', schedule: '* * * * *', destination, retention: { keepLast: 1 }, suspend: true } },
    });
    for (const name of await completedScheduledBackups(namespace, destination, ['nightly-a', 'nightly-b'])) {
      await mkdir(path.join(claimDir, 'phantom', `${name}-id`), { recursive: true });
      await writeFile(path.join(claimDir, 'phantom', `${name}-id`, 'manifest.json'), '{}');
    }
    // Stands in for the data nodes: they reach the claim (here a directory) and delete there.
    const calls: string[] = [];
    const dataNodes: DataNodeBackupDeleter = {
      deleteBackup: async (ns, cluster, target, backupId) => {
        calls.push(`${ns}/${cluster} ${target.volume?.claimName ?? ''}${target.volume?.path ?? ''} ${backupId}`);
        const store = new VolumeBackupStore(path.join(claimDir, target.volume?.path ?? ''));
        const keys = await store.list(`${backupId}/`);
        await store.delete(keys);
        return keys.length;
      },
    };
    await reconcileScheduledBackup(deps(new KubeBackupDestinations(core), dataNodes), `${namespace}/nightly`);
    const status = ((await custom.getNamespacedCustomObject({ ...group, plural: 'phantomscheduledbackups', namespace, name: 'nightly' })) as { status?: PhantomScheduledBackupStatus }).status ?? {};
    expect(status.conditions?.find((condition) => condition.type === 'RetentionFailed')).toMatchObject({ status: 'False' });
    expect(calls).toEqual(['retention-2/db backups/phantom nightly-a-id']);
    expect(await backupNames(namespace)).toEqual(['nightly-b']);
    expect(await readdir(path.join(claimDir, 'phantom'))).toEqual(['nightly-b-id']);
    const messages = (await core.listNamespacedEvent({ namespace })).items.filter((event) => event.reason === 'BackupExpired').map((event) => event.message);
    expect(messages).toEqual(['deleted backup nightly-a (nightly-a-id) from volume claim backups (through the data nodes) by the retention policy']);
  });
});
