/**
 * The PhantomBackup controller with the data-node backup runner: the API test server, a real
 * 3-node data cluster (phantomdb-node processes) and a real S3 API (s3rver). The data nodes take
 * the backup (the meta range's leader coordinates, every range's leader exports as of one
 * timestamp, straight to S3); the controller follows its progress, re-reads every object and
 * completes it. Also: how data node progress maps to the controller's job states.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../../../test/cluster/harness.ts';
import { startKubeTestServer, type KubeTestServer } from '../../../test/kube/server.ts';
import { type LocalS3, startLocalS3 } from '../../../test/s3/local-s3.ts';
import { AdminClient } from '../../../datanode/src/admin/index.ts';
import { readManifest } from '../../../datanode/src/backup/index.ts';
import { KvClient } from '../../../datanode/src/kv/client.ts';
import { GrpcAdminConnector } from '../admin-client/index.ts';
import { backupDestinationSchema, crdOf, kindDefinitions, type PhantomBackupStatus } from '../api/index.ts';
import { systemClock } from '../kube/clock.ts';
import { EventRecorder } from '../kube/events.ts';
import { eventually, installCrds, kubeConfigFor } from '../kube/testing.ts';
import { DataNodeBackupRunner, KubeBackupDestinations, jobStateOf, readS3Credentials } from './backup-runner.ts';
import { createBackupNamespace } from './backup.test-support.ts';
import { PhantomBackupController } from './phantombackup.ts';

const bucket = 'backups';
const group = { group: 'phantomdb.io', version: 'v1alpha1' } as const;
const namespace = 'bk-nodes';
/** A backup of a small cluster by real nodes on a loaded 2-core machine. */
const backupSettledMs = 90_000;

let server: KubeTestServer;
let s3: LocalS3;
let workDir: string;
let cluster: TestCluster;
let core: CoreV1Api;
let custom: CustomObjectsApi;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'phantomdb-backup-nodes-'));
  server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  const kubeConfig = kubeConfigFor(server.url);
  core = kubeConfig.makeApiClient(CoreV1Api);
  custom = kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(server.url, kindDefinitions.map(crdOf));
  s3 = await startLocalS3(path.join(workDir, 's3'), [bucket]);
  // The data cluster id is the PhantomCluster's name, as the operator names it.
  cluster = await TestCluster.start({ size: 3, clusterId: 'db', extraArgs: ['--range-max-bytes', String(32 * 1024)] });
}, 120_000);

afterAll(async () => {
  await cluster.close();
  await s3.close();
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('DataNodeBackupRunner', () => {
  it('has a real 3-node cluster take a backup to S3 that the controller verifies and completes', async () => {
    const client = new KvClient({ endpoints: cluster.kvEndpoints(), clusterId: 'db' });
    for (let batch = 0; batch < 20; batch++) await Promise.all(Array.from({ length: 10 }, (_, j) => client.put(`k${String(batch * 10 + j).padStart(4, '0')}`, `value-${batch * 10 + j}-${'y'.repeat(300)}`)));
    client.close();
    // The data splits into several ranges (a size check runs every few seconds): wait for it, so
    // that the backup is taken across ranges.
    const nodes = new AdminClient({ endpoints: cluster.kvEndpoints(), clusterId: 'db' });
    try {
      await eventually(async () => (await nodes.rangeList()).filter((range) => !range.meta).length > 1, 60_000, 'the keyspace split into several ranges');
    } finally {
      nodes.close();
    }
    await createBackupNamespace(core, custom, namespace, s3.credentials);
    const admin = new GrpcAdminConnector();
    const runner = new DataNodeBackupRunner({ admin, endpointsOf: () => Promise.resolve(cluster.kvEndpoints()), s3CredentialsOf: (ns, destination) => readS3Credentials(core, ns, destination) });
    const controller = new PhantomBackupController({
      kubeConfig: kubeConfigFor(server.url),
      events: new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test' }),
      clock: systemClock,
      runner,
      namespaces: [namespace],
      progressPollMs: 100,
      log: () => undefined,
    });
    await controller.start();
    const destination = { s3: { bucket, prefix: 'db', endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { secretName: 's3-creds' } } };
    await custom.createNamespacedCustomObject({ ...group, plural: 'phantombackups', namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: { name: 'nightly' }, spec: { cluster: 'db', type: 'Full', destination } } });
    let status: PhantomBackupStatus = {};
    try {
      await eventually(
        async () => {
          status = ((await custom.getNamespacedCustomObject({ ...group, plural: 'phantombackups', namespace, name: 'nightly' })) as { status?: PhantomBackupStatus }).status ?? {};
          return status.phase === 'Completed' || status.phase === 'Failed';
        },
        backupSettledMs,
        'backup nightly to finish',
      );
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; last status ${JSON.stringify(status)}\n${await cluster.statusSummary()}\n${cluster.logs()}`, { cause: err });
    } finally {
      await controller.stop();
      admin.close();
    }
    expect(status.phase, `${status.message ?? ''}\n${cluster.logs()}`).toBe('Completed');
    expect(status.verified).toBe(true);
    expect(status.ranges).toBeGreaterThan(1);
    expect(status.rangesDone).toBe(status.ranges);
    const opened = await new KubeBackupDestinations(core).open(namespace, backupDestinationSchema.parse(destination));
    try {
      const manifest = await readManifest(opened.store, status.backupId ?? '');
      expect(manifest.clusterId).toBe('db');
      expect(status.backupTimestamp).toBe(manifest.backupTimestamp);
      expect(status.sizeBytes).toBe(manifest.totalBytes);
      expect(manifest.ranges.reduce((sum, range) => sum + range.files.reduce((s, file) => s + file.entries, 0), 0)).toBe(200);
    } finally {
      opened.close();
    }
  }, 150_000);

  it('maps data node progress to job states, and refuses volume destinations the data nodes do not mount', async () => {
    const base = { backupId: 'b', backupTimestamp: '', rangesDone: 1, rangesTotal: 3, bytesDone: 10, totalBytes: 0, verified: false, message: '' };
    expect(jobStateOf({ ...base, phase: 'RUNNING' })).toEqual({ kind: 'running', rangesDone: 1, rangesTotal: 3, bytesDone: 10 });
    expect(jobStateOf({ ...base, phase: 'COMPLETED', backupTimestamp: '5.00001', totalBytes: 99 })).toEqual({ kind: 'uploaded', backupTimestamp: '5.00001', ranges: 3, sizeBytes: 99 });
    expect(jobStateOf({ ...base, phase: 'FAILED', message: 'disk full' })).toEqual({ kind: 'failed', message: 'disk full' });
    expect(jobStateOf({ ...base, phase: 'UNKNOWN' })).toEqual({ kind: 'unknown' });
    const admin = new GrpcAdminConnector();
    const runner = new DataNodeBackupRunner({ admin, endpointsOf: () => Promise.resolve(['127.0.0.1:1']), s3CredentialsOf: () => Promise.resolve(undefined) });
    const job = { namespace, cluster: 'db', backupName: 'v', backupId: 'v-1', type: 'Full' as const, destination: backupDestinationSchema.parse({ volume: { claimName: 'backups' } }) };
    await expect(runner.start(job)).rejects.toThrow(/cannot check the data pods' mounts/);
    admin.close();
  });
});
