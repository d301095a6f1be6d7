/**
 * The PhantomBackup and PhantomScheduledBackup controllers against the API test server, with a
 * real S3 API (s3rver). A test runner stands in for the data nodes: it writes real backups of a
 * storage engine with the backup writer, so the controller's verification re-reads real objects.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi, type CoreV1Event } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../../test/s3/local-s3.ts';
import { startKubeTestServer, type KubeTestServer } from '../../../test/kube/server.ts';
import { MvccEngineRangeExporter, readManifest, resolveChain, systemTimers, VolumeBackupStore, writeBackup, type RangeSpan } from '../../../datanode/src/backup/index.ts';
import { encodeTimestamp, parseTimestamp, timestamp } from '../../../datanode/src/hlc/hlc.ts';
import { StorageEngine } from '../../../datanode/src/storage/engine.ts';
import { encodeMvccKey } from '../../../datanode/src/storage/mvcc.ts';
import { backupDestinationSchema, crdOf, kindDefinitions, type PhantomBackupStatus, type PhantomScheduledBackupStatus } from '../api/index.ts';
import { systemClock, type Clock } from '../kube/clock.ts';
import { EventRecorder } from '../kube/events.ts';
import { OperatorMetrics } from '../metrics/metrics.ts';
import { eventually, installCrds, kubeConfigFor, timeouts } from '../kube/testing.ts';
import { type BackupDestinations, type BackupJob, type BackupJobState, type BackupRunner, KubeBackupDestinations, PendingDataNodeBackupRunner } from './backup-runner.ts';
import { createBackupNamespace } from './backup.test-support.ts';
import { PhantomBackupController } from './phantombackup.ts';
import { PhantomScheduledBackupController, scheduledBackupLabel } from './phantomscheduledbackup.ts';

const bucket = 'backups';
const group = { group: 'phantomdb.io', version: 'v1alpha1' } as const;
const spans: RangeSpan[] = [
  { rangeId: 1, startKey: Buffer.alloc(0), endKey: Buffer.from('k200') },
  { rangeId: 2, startKey: Buffer.from('k200'), endKey: Buffer.alloc(0) },
];

let server: KubeTestServer;
let s3: LocalS3;
let workDir: string;
let engine: StorageEngine;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let namespaceCounter = 0;
/** Virtual wall time for the controllers (the schedule tests move it). */
let virtualNowMs = Date.now();
const clock: Clock = { nowMs: () => virtualNowMs, setTimer: (delayMs, callback) => systemClock.setTimer(delayMs, callback) };

/**
 * Stands in for the data nodes: writes a real backup of `engine` to the job's destination.
 * Each backup is at a later HLC timestamp; `corrupt` flips a byte of one uploaded object.
 */
class EngineBackupRunner implements BackupRunner {
  private readonly jobs = new Map<string, BackupJobState>();
  private nextWallMs = 1_000_000;
  corrupt = false;
  started = 0;

  /** `destinations`: how the stand-in reaches the job's destination (the data nodes' view). */
  constructor(private readonly destinations: BackupDestinations = new KubeBackupDestinations(core)) {}

  async start(job: BackupJob): Promise<void> {
    if (this.jobs.has(job.backupId)) return;
    this.started++;
    this.jobs.set(job.backupId, { kind: 'running', rangesDone: 0, rangesTotal: spans.length, bytesDone: 0 });
    this.nextWallMs += 1_000_000;
    const at = timestamp(this.nextWallMs, 0);
    void this.run(job, at).catch((error: unknown) => this.jobs.set(job.backupId, { kind: 'failed', message: error instanceof Error ? error.message : String(error) }));
  }

  private async run(job: BackupJob, at: ReturnType<typeof timestamp>): Promise<void> {
    const opened = await this.destinations.open(job.namespace, job.destination);
    try {
      const parent = job.parentBackupId === undefined ? undefined : await readManifest(opened.store, job.parentBackupId);
      const manifest = await writeBackup({
        store: opened.store,
        exporter: new MvccEngineRangeExporter(engine, { fileBytes: 4096 }),
        spans,
        clusterId: `${job.namespace}/${job.cluster}`,
        backupId: job.backupId,
        backupTimestamp: at,
        ...(parent === undefined ? {} : { parent: { backupId: parent.backupId, backupTimestamp: parseTimestamp(parent.backupTimestamp) } }),
        dataNodeVersion: '0.1.0',
        scratchDir: path.join(workDir, `scratch-${job.backupId}`),
        timers: systemTimers,
        createdAt: new Date().toISOString(),
        onProgress: (progress) => this.jobs.set(job.backupId, { kind: 'running', rangesDone: progress.rangesDone, rangesTotal: progress.rangesTotal, bytesDone: progress.bytesDone }),
      });
      if (this.corrupt) {
        const victim = manifest.ranges[1]?.files[0];
        if (victim !== undefined) {
          const { Readable } = await import('node:stream');
          await opened.store.put(victim.objectKey, Readable.from([Buffer.alloc(victim.sizeBytes, 7)]), victim.sizeBytes);
        }
      }
      this.jobs.set(job.backupId, { kind: 'uploaded', backupTimestamp: manifest.backupTimestamp, ranges: manifest.ranges.length, sizeBytes: manifest.totalBytes });
    } finally {
      opened.close();
    }
  }

  async state(job: BackupJob): Promise<BackupJobState> {
    return this.jobs.get(job.backupId) ?? { kind: 'unknown' };
  }
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'phantomdb-backup-ctl-'));
  server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  const kubeConfig = kubeConfigFor(server.url);
  core = kubeConfig.makeApiClient(CoreV1Api);
  custom = kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(server.url, kindDefinitions.map(crdOf));
  s3 = await startLocalS3(path.join(workDir, 's3'), [bucket]);
  engine = await StorageEngine.open(path.join(workDir, 'engine'), { memtableBytesMax: 256 * 1024, blockCacheBytes: 1024 * 1024 });
  for (let i = 0; i < 400; i++) {
    await engine.put(encodeMvccKey(Buffer.from(`k${String(i).padStart(3, '0')}`), encodeTimestamp(timestamp(1000 + i, 0))), Buffer.from(`value-${i}-${'x'.repeat(40)}`), { sync: false });
  }
}, 60_000);

afterAll(async () => {
  await engine.close();
  await s3.close();
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

async function freshNamespace(): Promise<string> {
  namespaceCounter += 1;
  const namespace = `bk-${namespaceCounter}`;
  await createBackupNamespace(core, custom, namespace, s3.credentials);
  return namespace;
}

function destination(namespace: string): Record<string, unknown> {
  return { s3: { bucket, prefix: `ns/${namespace}`, endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { secretName: 's3-creds' } } };
}

async function createBackup(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({ ...group, plural: 'phantombackups', namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: { name }, spec: { cluster: 'db', destination: destination(namespace), ...spec } } });
}

async function backupStatus(namespace: string, name: string): Promise<PhantomBackupStatus> {
  return ((await custom.getNamespacedCustomObject({ ...group, plural: 'phantombackups', namespace, name })) as { status?: PhantomBackupStatus }).status ?? {};
}

async function settled(namespace: string, name: string): Promise<PhantomBackupStatus> {
  let status: PhantomBackupStatus = {};
  await eventually(
    async () => {
      status = await backupStatus(namespace, name);
      return status.phase === 'Completed' || status.phase === 'Failed';
    },
    timeouts.reconcile * 2,
    `backup ${namespace}/${name} to finish`,
  );
  return status;
}

async function eventsOf(namespace: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace })).items;
}

function startBackupController(namespace: string, runner: BackupRunner, metrics?: OperatorMetrics): PhantomBackupController {
  const kubeConfig = kubeConfigFor(server.url);
  return new PhantomBackupController({ kubeConfig, events: new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test' }), clock, runner, namespaces: [namespace], progressPollMs: 30, log: () => undefined, ...(metrics === undefined ? {} : { metrics }) });
}

function s3Store(namespace: string) {
  return new KubeBackupDestinations(core).open(namespace, backupDestinationSchema.parse(destination(namespace)));
}

describe('PhantomBackupController', () => {
  it('fails a backup with a clear message when no data-node backup runner is available, and writes nothing', async () => {
    const namespace = await freshNamespace();
    const controller = startBackupController(namespace, new PendingDataNodeBackupRunner());
    await controller.start();
    await createBackup(namespace, 'b1', { type: 'Full' });
    const status = await settled(namespace, 'b1');
    await controller.stop();
    expect(status.phase).toBe('Failed');
    expect(status.message).toContain('PH_BACKUP_RUNNER_UNAVAILABLE');
    expect(status.message).toContain('no backup was taken');
    expect(status.verified).toBeUndefined();
    expect((await eventsOf(namespace)).map((event) => event.reason)).toContain('BackupFailed');
    const opened = await s3Store(namespace);
    expect(await opened.store.list('')).toEqual([]);
    opened.close();
  });

  it('takes, verifies and completes a full backup, then an incremental that builds on it', async () => {
    const namespace = await freshNamespace();
    const runner = new EngineBackupRunner();
    const metrics = new OperatorMetrics();
    const controller = startBackupController(namespace, runner, metrics);
    await controller.start();
    await createBackup(namespace, 'full', { type: 'Full' });
    const full = await settled(namespace, 'full');
    expect(full.phase, full.message).toBe('Completed');
    expect(full.verified).toBe(true);
    expect(full.conditions?.find((condition) => condition.type === 'Verified')).toMatchObject({ status: 'True', reason: 'Verified' });
    expect(full.ranges).toBe(2);
    expect(full.rangesDone).toBe(2);
    expect(full.startedAt).toBeDefined();
    expect(full.completedAt).toBeDefined();
    const opened = await s3Store(namespace);
    const manifest = await readManifest(opened.store, full.backupId ?? '');
    expect(full.sizeBytes).toBe(manifest.totalBytes);
    expect(full.backupTimestamp).toBe(manifest.backupTimestamp);

    await createBackup(namespace, 'inc', { type: 'Incremental' });
    const inc = await settled(namespace, 'inc');
    expect(inc.phase, inc.message).toBe('Completed');
    expect(inc.parentBackupId).toBe(full.backupId);
    expect((await resolveChain(opened.store, inc.backupId ?? '')).map((link) => link.backupId)).toEqual([full.backupId, inc.backupId]);
    opened.close();
    expect(runner.started).toBe(2);
    const reasons = (await eventsOf(namespace)).map((event) => event.reason);
    expect(reasons).toEqual(expect.arrayContaining(['BackupStarted', 'BackupCompleted']));
    // What the PhantomDBBackupFailed/Overdue alerts read.
    expect(await metrics.registry.getSingleMetricAsString('phantomdb_operator_backups_total')).toContain(`phantomdb_operator_backups_total{namespace="${namespace}",cluster="db",result="succeeded"} 2`);
    const lastSuccess = await metrics.registry.getSingleMetricAsString('phantomdb_operator_backup_last_success_timestamp_seconds');
    expect(Number(/ (\d+)$/m.exec(lastSuccess)?.[1])).toBe(Math.floor(Date.parse(inc.completedAt ?? '') / 1000));
    await controller.stop();
  });

  it('fails verification naming the corrupted object: never Completed', async () => {
    const namespace = await freshNamespace();
    const runner = new EngineBackupRunner();
    runner.corrupt = true;
    const metrics = new OperatorMetrics();
    const controller = startBackupController(namespace, runner, metrics);
    await controller.start();
    await createBackup(namespace, 'bad', { type: 'Full' });
    const status = await settled(namespace, 'bad');
    await controller.stop();
    expect(status.phase).toBe('Failed');
    expect(status.message).toMatch(/verification failed: backup object bad-[a-z0-9]+\/ranges\/2\/000000\.sst is corrupt/);
    expect(status.conditions?.find((condition) => condition.type === 'Verified')).toMatchObject({ status: 'False', reason: 'VerificationFailed' });
    expect(await metrics.registry.getSingleMetricAsString('phantomdb_operator_backups_total')).toContain(`phantomdb_operator_backups_total{namespace="${namespace}",cluster="db",result="failed"} 1`);
  });

  it('refuses a volume destination its cluster does not mount; one it mounts completes, verified by the data node that wrote it', async () => {
    const namespace = await freshNamespace();
    await custom.createNamespacedCustomObject({
      ...group,
      plural: 'phantomclusters',
      namespace,
      body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'withvol' }, spec: { version: '1.0.0', storage: { size: '1Gi' }, backup: { volume: { claimName: 'backups' } } } },
    });
    // The data nodes reach the claim (here: a directory); the operator does not mount it.
    const volumeRoot = path.join(workDir, `volume-${namespace}`);
    const runner = new EngineBackupRunner(new KubeBackupDestinations(core, { volumeMountOf: (ns, claim) => (ns === namespace && claim === 'backups' ? volumeRoot : undefined) }));
    const controller = startBackupController(namespace, runner);
    await controller.start();
    const volume = { volume: { claimName: 'backups', path: '/nightly' } };
    await createBackup(namespace, 'unmounted', { type: 'Full', destination: volume });
    await createBackup(namespace, 'mounted', { type: 'Full', cluster: 'withvol', destination: volume });
    const refused = await settled(namespace, 'unmounted');
    const done = await settled(namespace, 'mounted');
    await controller.stop();
    expect(refused.phase).toBe('Failed');
    expect(refused.message).toContain(`PhantomCluster ${namespace}/db does not mount volume claim backups (it mounts no backup volume): set spec.backup.volume.claimName: backups`);
    expect(done.phase, done.message).toBe('Completed');
    expect(done.verified).toBe(true);
    expect(done.conditions?.find((condition) => condition.type === 'Verified')).toMatchObject({ status: 'True', reason: 'VerifiedByDataNode' });
    expect(runner.started).toBe(1);
    const manifest = await readManifest(new VolumeBackupStore(path.join(volumeRoot, 'nightly')), done.backupId ?? '');
    expect(done.backupTimestamp).toBe(manifest.backupTimestamp);
    expect(done.sizeBytes).toBe(manifest.totalBytes);
  });

  it('fails an incremental backup that has nothing to build on', async () => {
    const namespace = await freshNamespace();
    const runner = new EngineBackupRunner();
    const controller = startBackupController(namespace, runner);
    await controller.start();
    await createBackup(namespace, 'orphan', { type: 'Incremental' });
    const status = await settled(namespace, 'orphan');
    await controller.stop();
    expect(status.phase).toBe('Failed');
    expect(status.message).toContain('take a Full backup first');
    expect(runner.started).toBe(0);
  });
});

describe('PhantomScheduledBackupController', () => {
  const tenMinutesMs = 600_000;

  async function scheduleStatus(namespace: string): Promise<PhantomScheduledBackupStatus> {
    return ((await custom.getNamespacedCustomObject({ ...group, plural: 'phantomscheduledbackups', namespace, name: 'nightly' })) as { status?: PhantomScheduledBackupStatus }).status ?? {};
  }

  async function scheduledBackups(namespace: string): Promise<{ name: string; type: string; phase: string | undefined }[]> {
    const list = (await custom.listNamespacedCustomObject({ ...group, plural: 'phantombackups', namespace })) as { items: { metadata: { name: string; labels?: Record<string, string> }; spec: { type: string }; status?: PhantomBackupStatus }[] };
    return list.items.filter((item) => item.metadata.labels?.[scheduledBackupLabel] === 'nightly').map((item) => ({ name: item.metadata.name, type: item.spec.type, phase: item.status?.phase })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Moves virtual time to just after the next ten-minute mark and waits for that run to settle. */
  async function runOnce(namespace: string, controller: PhantomScheduledBackupController, stepMs = tenMinutesMs): Promise<void> {
    const before = (await scheduleStatus(namespace)).lastScheduleTime;
    virtualNowMs = Math.floor(virtualNowMs / tenMinutesMs) * tenMinutesMs + stepMs + 30_000;
    controller.queue.add(`${namespace}/nightly`);
    await eventually(
      async () => {
        const status = await scheduleStatus(namespace);
        return status.lastScheduleTime !== before && status.activeBackup === undefined && status.lastSuccessfulBackup !== undefined;
      },
      timeouts.reconcile * 2,
      'the scheduled backup to run and settle',
    );
  }

  it('runs on schedule, alternates full and incremental, keeps the last 2 and deletes the rest from the destination, and catches up once after downtime', async () => {
    const namespace = await freshNamespace();
    virtualNowMs = Math.ceil(Date.now() / tenMinutesMs) * tenMinutesMs - 60_000;
    const runner = new EngineBackupRunner();
    const backupController = startBackupController(namespace, runner);
    const kubeConfig = kubeConfigFor(server.url);
    const scheduleMetrics = new OperatorMetrics();
    const scheduler = new PhantomScheduledBackupController({ kubeConfig, events: new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test' }), clock, namespaces: [namespace], activePollMs: 30, resyncMs: 60_000, log: () => undefined, metrics: scheduleMetrics });
    await backupController.start();
    await scheduler.start();
    await custom.createNamespacedCustomObject({
      ...group,
      plural: 'phantomscheduledbackups',
      namespace,
      body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomScheduledBackup', metadata: { name: 'nightly' }, spec: { cluster: 'db', schedule: '*/10 * * * *', destination: destination(namespace), type: 'Incremental', fullEvery: 2, retention: { keepLast: 2 } } },
    });
    // Before the first due time nothing runs, and the next time is on the status.
    await eventually(async () => (await scheduleStatus(namespace)).nextScheduleTime !== undefined, timeouts.reconcile, 'nextScheduleTime');
    expect(await scheduledBackups(namespace)).toEqual([]);
    expect(await scheduleMetrics.registry.getSingleMetricAsString('phantomdb_operator_backup_schedule_interval_seconds')).toContain(`{namespace="${namespace}",cluster="db"} 600`);

    const types: string[] = [];
    for (let run = 0; run < 4; run++) {
      await runOnce(namespace, scheduler);
      const all = await scheduledBackups(namespace);
      const newest = all[all.length - 1];
      types.push(newest?.type ?? '?');
      expect(newest?.phase).toBe('Completed');
    }
    expect(types).toEqual(['Full', 'Incremental', 'Full', 'Incremental']);
    // keepLast 2: the newest chain (full + incremental) is kept, the older chain deleted, objects included.
    await eventually(async () => (await scheduledBackups(namespace)).length === 2, timeouts.reconcile, 'retention to delete the older chain');
    const kept = await scheduledBackups(namespace);
    const opened = await s3Store(namespace);
    const manifests = (await opened.store.list('')).filter((key) => key.endsWith('/manifest.json'));
    expect(manifests.length).toBe(2);
    const keptIds = await Promise.all(kept.map(async (item) => (await backupStatus(namespace, item.name)).backupId));
    expect(manifests.map((key) => key.split('/')[0]).sort()).toEqual([...keptIds].sort());
    opened.close();

    // Operator "down" for an hour: one catch-up backup, not six.
    await scheduler.stop();
    const before = (await scheduledBackups(namespace)).length;
    const restarted = new PhantomScheduledBackupController({ kubeConfig, events: new EventRecorder(core, { component: 'phantomdb-operator', instance: 'test' }), clock, namespaces: [namespace], activePollMs: 30, resyncMs: 60_000, log: () => undefined });
    await restarted.start();
    await runOnce(namespace, restarted, 6 * tenMinutesMs);
    const names = (await scheduledBackups(namespace)).map((item) => item.name);
    // Exactly one new backup (a Full one: the chain had reached fullEvery). Retention keeps all
    // three: the newest two are the new full and the previous incremental, which needs its full.
    expect(names.length).toBe(before + 1);
    expect(runner.started).toBe(5);
    const catchUp = (await eventsOf(namespace)).find((event) => event.reason === 'BackupScheduled' && event.message?.includes('catching up') === true);
    expect(catchUp?.message).toContain('5 earlier due times were missed');
    await restarted.stop();
    await backupController.stop();
  }, 120_000);
});
