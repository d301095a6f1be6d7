/**
 * Backup and restore end to end (issue 6 §4): the operator (operator/src/main.ts) against the
 * Kubernetes API test server whose kubelet runs real data node processes, and a real S3 API
 * (s3rver). A 3-node cluster takes a PhantomBackup to S3 while a client writes; a new cluster
 * with spec.bootstrap.fromBackup naming that backup becomes Available with exactly the data of
 * the backup's timestamp (a full-scan checksum against the source cluster read at that
 * timestamp). A chain of a full and two incremental backups restores into a new cluster equal to
 * the source at the last backup's timestamp; a corrupt object of the chain stops the restoring
 * node with an error naming the object, and that cluster never becomes Available. A schedule
 * with retention keepLast 2 (two earlier backups of it, then its own run at the next minute)
 * leaves exactly 2 backups' objects at the destination. A cluster whose pods mount a volume
 * claim (spec.backup.volume) backs up to it and a new cluster restores from it. On the local target s3rver listens on
 * loopback; in the kind suite (test/e2e/kind/run.sh) on the runner pod's IP.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTimestamp, parseTimestamp } from '../../datanode/src/hlc/hlc.ts';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { startLocalS3, type LocalS3 } from '../s3/local-s3.ts';
import { ensureNamespace, operatorAvailable, startTarget, type E2eTarget } from './target.ts';
import { eventually, timeouts } from './support.ts';

const group = 'phantomdb.io';
const version = 'v1alpha1';
const namespace = 'phantomdb-e2e-backup';
const bucket = 'backups';

let target: E2eTarget;
let s3: LocalS3;
let s3Dir: string;
const clients: KvClient[] = [];

function clusterManifest(name: string, bootstrap: string): string {
  return `apiVersion: phantomdb.io/v1alpha1
kind: PhantomCluster
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: 3
  replicationFactor: 3
  version: ${process.env.PHANTOMDB_E2E_VERSION_A ?? '0.1.0'}
  storage:
    size: 1Gi
    reclaimPolicy: Delete
${bootstrap}`;
}

async function pods(cluster: string): Promise<V1Pod[]> {
  return (await target.core.listNamespacedPod({ namespace })).items.filter((pod) => new RegExp(`^${cluster}-\\d+$`).test(pod.metadata?.name ?? ''));
}

async function available(cluster: string): Promise<boolean> {
  const object = (await target.custom.getNamespacedCustomObject({ group, version, namespace, plural: 'phantomclusters', name: cluster })) as {
    status?: { phase?: string; message?: string; conditions?: { type: string; status: string }[] };
  };
  if (object.status?.phase === 'Failed') throw new Error(`cluster ${cluster} failed: ${object.status.message ?? ''}`);
  return object.status?.conditions?.some((condition) => condition.type === 'Available' && condition.status === 'True') === true;
}

async function kvClient(cluster: string): Promise<KvClient> {
  const endpoints = (await pods(cluster)).filter((pod) => pod.status?.podIP !== undefined).map((pod) => `${pod.status?.podIP ?? ''}:${pod.spec?.containers[0]?.ports?.find((port) => port.name === 'kv')?.containerPort ?? 7010}`);
  const client = new KvClient({ endpoints, clusterId: cluster, deadlineMs: 20_000 });
  clients.push(client);
  return client;
}

/** Every row, newest or as of `at`, by paging through the keyspace; with its checksum. */
async function fullScan(client: KvClient, at?: bigint): Promise<{ rows: number; checksum: string }> {
  const hash = createHash('sha256');
  let rows = 0;
  let cursor = Buffer.alloc(0);
  for (;;) {
    const page = await client.scan(cursor, Buffer.alloc(0), 1000, at === undefined ? {} : { at });
    for (const row of page.rows) hash.update(`${row.key.toString('hex')}=${row.value.toString('hex')}\n`);
    rows += page.rows.length;
    const last = page.rows[page.rows.length - 1];
    if (!page.more || last === undefined) return { rows, checksum: hash.digest('hex') };
    cursor = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

async function logsOf(cluster: string): Promise<string> {
  const parts = await Promise.all((await pods(cluster)).map(async (pod) => `--- ${pod.metadata?.name ?? ''}\n${await target.podLog(namespace, pod.metadata?.name ?? '', 30)}`));
  return parts.join('\n');
}


type BackupStatus = { phase?: string; message?: string; backupTimestamp?: string; backupId?: string; verified?: boolean };

function s3Destination(prefix: string): string {
  return `destination:\n  s3:\n    bucket: ${bucket}\n    prefix: ${prefix}\n    endpoint: ${s3.endpoint}\n    region: ${s3.region}\n    forcePathStyle: true\n    credentials:\n      secretName: s3-creds\n`;
}

/** Creates a PhantomBackup of `cluster` and waits until it finished; answers its status (Completed, else fails with the cluster's logs). */
async function takeBackup(cluster: string, name: string, type: 'Full' | 'Incremental', prefix: string, schedule?: string): Promise<BackupStatus> {
  const labels = schedule === undefined ? '' : `  labels:\n    phantomdb.io/scheduled-backup: ${schedule}\n`;
  const spec = `apiVersion: phantomdb.io/v1alpha1\nkind: PhantomBackup\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n${labels}spec:\n  cluster: ${cluster}\n  type: ${type}\n${s3Destination(prefix).replace(/^/gm, '  ').trimEnd()}\n`;
  const created = await target.kubectl(['apply', '--validate=false', '-f', '-'], spec);
  expect(created.code, created.stderr).toBe(0);
  let status: BackupStatus = {};
  await eventually(
    async () => {
      status = ((await target.custom.getNamespacedCustomObject({ group, version, namespace, plural: 'phantombackups', name })) as { status?: BackupStatus }).status ?? {};
      return status.phase === 'Completed' || status.phase === 'Failed';
    },
    timeouts.clusterAvailable,
    `backup ${name} finished`,
  );
  expect(status.phase, `backup ${name}: ${status.message ?? ''}\n${await logsOf(cluster)}`).toBe('Completed');
  expect(status.verified).toBe(true);
  return status;
}

/** Files s3rver holds under `dir` (its object files end in ._S3rver_object). */
async function objectFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await objectFiles(file)));
    else if (entry.name.endsWith('._S3rver_object')) out.push(file);
  }
  return out.sort();
}

beforeAll(async () => {
  target = await startTarget();
  await ensureNamespace(target, namespace);
  s3Dir = await mkdtemp(join(tmpdir(), 'phantomdb-e2e-s3-'));
  // On a real cluster (kind: this suite runs in a pod) the data pods and the operator reach s3rver
  // at this pod's IP (PHANTOMDB_E2E_POD_IP, the downward API in test/e2e/kind/run.sh).
  const podIp = process.env.PHANTOMDB_E2E_POD_IP;
  s3 = await startLocalS3(s3Dir, [bucket], target.kind === 'external' && podIp !== undefined && podIp !== '' ? { address: '0.0.0.0', advertiseHost: podIp } : {});
  await target.core.createNamespacedSecret({ namespace, body: { metadata: { name: 's3-creds' }, stringData: { accessKeyId: s3.credentials.accessKeyId, secretAccessKey: s3.credentials.secretAccessKey } } });
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await target.close();
  await s3.close();
  await rm(s3Dir, { recursive: true, force: true });
});

const reachableS3 = process.env.PHANTOMDB_E2E_TARGET !== 'external' || (process.env.PHANTOMDB_E2E_POD_IP ?? '') !== '';

describe.skipIf(!operatorAvailable() || !reachableS3)('backup and restore through the operator (needs operator/src/main.ts or an external target with PHANTOMDB_E2E_POD_IP)', () => {
  it('backs a cluster up to S3 under writes and restores it into a new cluster with exactly the data of the backup timestamp', async () => {
    const applied = await target.kubectl(['apply', '--validate=false', '-f', '-'], clusterManifest('src', ''));
    expect(applied.code, applied.stderr).toBe(0);
    await eventually(() => available('src'), timeouts.clusterAvailable, 'cluster src Available');
    const source = await kvClient('src');
    for (let batch = 0; batch < 20; batch++) await Promise.all(Array.from({ length: 10 }, (_, j) => source.put(`key-${String(batch * 10 + j).padStart(4, '0')}`, `value-${batch * 10 + j}`)));

    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await source.put(`key-${String(i % 300).padStart(4, '0')}`, `rewrite-${i}`).catch(() => undefined);
    })();
    const destination = `    destination:\n      s3:\n        bucket: ${bucket}\n        prefix: src\n        endpoint: ${s3.endpoint}\n        region: ${s3.region}\n        forcePathStyle: true\n        credentials:\n          secretName: s3-creds\n`;
    const backup = `apiVersion: phantomdb.io/v1alpha1\nkind: PhantomBackup\nmetadata:\n  name: src-full\n  namespace: ${namespace}\nspec:\n  cluster: src\n  type: Full\n${destination.replace(/^ {2}/gm, '')}`;
    const created = await target.kubectl(['apply', '--validate=false', '-f', '-'], backup);
    expect(created.code, created.stderr).toBe(0);
    let status: { phase?: string; message?: string; backupTimestamp?: string; verified?: boolean } = {};
    try {
      await eventually(
        async () => {
          status = ((await target.custom.getNamespacedCustomObject({ group, version, namespace, plural: 'phantombackups', name: 'src-full' })) as { status?: typeof status }).status ?? {};
          return status.phase === 'Completed' || status.phase === 'Failed';
        },
        timeouts.clusterAvailable,
        'backup src-full finished',
      );
    } finally {
      writing = false;
      await writer;
    }
    expect(status.phase, `${status.message ?? ''}\n${await logsOf('src')}`).toBe('Completed');
    expect(status.verified).toBe(true);
    const at = encodeTimestamp(parseTimestamp(status.backupTimestamp ?? ''));
    const expected = await fullScan(source, at);
    expect(expected.rows).toBeGreaterThanOrEqual(200);

    const restoring = await target.kubectl(['apply', '--validate=false', '-f', '-'], clusterManifest('dst', '  bootstrap:\n    fromBackup:\n      backupName: src-full\n'));
    expect(restoring.code, restoring.stderr).toBe(0);
    try {
      await eventually(() => available('dst'), timeouts.clusterAvailable, 'cluster dst Available');
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${await logsOf('dst')}`, { cause: error });
    }
    const restored = await fullScan(await kvClient('dst'));
    expect(restored.rows).toBe(expected.rows);
    expect(restored.checksum).toBe(expected.checksum);
  }, 400_000);
  it('restores an incremental chain of three equal to the source at the last backup; a corrupt object fails the restore naming it', async () => {
    const applied = await target.kubectl(['apply', '--validate=false', '-f', '-'], clusterManifest('chain', ''));
    expect(applied.code, applied.stderr).toBe(0);
    await eventually(() => available('chain'), timeouts.clusterAvailable, 'cluster chain Available');
    const source = await kvClient('chain');
    const key = (i: number): string => `key-${String(i).padStart(4, '0')}`;
    for (let i = 0; i < 100; i++) await source.put(key(i), `full-${i}`);
    const full = await takeBackup('chain', 'chain-full', 'Full', 'chain');
    // Each incremental: some keys overwritten, some added, some deleted since the previous backup.
    for (let i = 50; i < 130; i++) await source.put(key(i), `inc1-${i}`);
    for (let i = 0; i < 10; i++) await source.delete(key(i));
    const inc1 = await takeBackup('chain', 'chain-inc-1', 'Incremental', 'chain');
    for (let i = 120; i < 160; i++) await source.put(key(i), `inc2-${i}`);
    for (let i = 10; i < 20; i++) await source.delete(key(i));
    const inc2 = await takeBackup('chain', 'chain-inc-2', 'Incremental', 'chain');
    const ats = [full, inc1, inc2].map((status) => encodeTimestamp(parseTimestamp(status.backupTimestamp ?? '')));
    expect(ats[1]).toBeGreaterThan(ats[0] ?? 0n);
    expect(ats[2]).toBeGreaterThan(ats[1] ?? 0n);
    // Writes after the last backup are not part of it.
    await source.put(key(500), 'after the chain');
    const expected = await fullScan(source, ats[2]);
    expect(expected.rows).toBe(140); // keys 20..159
    expect((await fullScan(source, ats[1])).checksum).not.toBe(expected.checksum);

    const restoring = await target.kubectl(['apply', '--validate=false', '-f', '-'], clusterManifest('chain-dst', '  bootstrap:\n    fromBackup:\n      backupName: chain-inc-2\n'));
    expect(restoring.code, restoring.stderr).toBe(0);
    try {
      await eventually(() => available('chain-dst'), timeouts.clusterAvailable, 'cluster chain-dst Available');
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${await logsOf('chain-dst')}`, { cause: error });
    }
    const restored = await fullScan(await kvClient('chain-dst'));
    expect(restored.rows).toBe(expected.rows);
    expect(restored.checksum).toBe(expected.checksum);

    // The chain as the manifests at the destination record it: full ← inc-1 ← inc-2.
    const prefixDir = join(s3Dir, bucket, 'chain');
    const manifestOf = async (status: BackupStatus): Promise<{ type: string; parent?: { backupId: string } }> =>
      JSON.parse(await readFile(join(prefixDir, status.backupId ?? '', 'manifest.json._S3rver_object'), 'utf8')) as { type: string; parent?: { backupId: string } };
    expect(await manifestOf(full)).toMatchObject({ type: 'full' });
    expect(await manifestOf(inc1)).toMatchObject({ type: 'incremental', parent: { backupId: full.backupId } });
    expect(await manifestOf(inc2)).toMatchObject({ type: 'incremental', parent: { backupId: inc1.backupId } });

    // Corrupt one data object of the full backup (same size, one byte flipped).
    const files = (await objectFiles(join(prefixDir, full.backupId ?? 'chain-full'))).filter((file) => !file.includes('manifest.json'));
    const victim = files[0];
    expect(victim, `object files of the full backup under ${prefixDir}`).toBeDefined();
    const objectKey = relative(prefixDir, victim ?? '').split(sep).join('/').replace(/\._S3rver_object$/, '');
    const bytes = await readFile(victim ?? '');
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    await writeFile(victim ?? '', bytes);
    const corrupt = await target.kubectl(['apply', '--validate=false', '-f', '-'], clusterManifest('chain-bad', '  bootstrap:\n    fromBackup:\n      backupName: chain-inc-2\n'));
    expect(corrupt.code, corrupt.stderr).toBe(0);
    let log = '';
    await eventually(
      async () => {
        log = await target.podLog(namespace, 'chain-bad-0', 200).catch(() => '');
        return log.includes(objectKey);
      },
      timeouts.clusterAvailable,
      `pod chain-bad-0 naming the corrupt object ${objectKey}`,
    ).catch(async (error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${await logsOf('chain-bad')}`, { cause: error });
    });
    expect(log).toMatch(/checksum|sha-?256|corrupt/i);
    expect(await available('chain-bad').catch(() => false)).toBe(false);
  }, 500_000);
  it('backs a cluster up to the volume claim every pod mounts and restores a new cluster from that volume with the data of the backup timestamp', async () => {
    // Every data node of the source mounts the claim. On a real cluster (kind) the claim is
    // ReadWriteOnce, so each cluster has one data node there; the test kubelet's claims are
    // directories every pod can share, as ReadWriteMany volumes are.
    const sourceNodes = target.kind === 'local' ? 3 : 1;
    const claim = `apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: backups\n  namespace: ${namespace}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n`;
    const claimed = await target.kubectl(['apply', '--validate=false', '-f', '-'], claim);
    expect(claimed.code, claimed.stderr).toBe(0);
    const withClaim = (name: string, nodes: number, extra: string): string =>
      clusterManifest(name, `  backup:\n    volume:\n      claimName: backups\n${extra}`).replace('replicas: 3\n  replicationFactor: 3', `replicas: ${nodes}\n  replicationFactor: ${nodes}`);
    const applied = await target.kubectl(['apply', '--validate=false', '-f', '-'], withClaim('vol', sourceNodes, ''));
    expect(applied.code, applied.stderr).toBe(0);
    await eventually(() => available('vol'), timeouts.clusterAvailable, 'cluster vol Available');
    const sourcePods = await pods('vol');
    expect(sourcePods).toHaveLength(sourceNodes);
    for (const pod of sourcePods) expect(pod.spec?.volumes?.find((volume) => volume.persistentVolumeClaim?.claimName === 'backups'), pod.metadata?.name).toBeDefined();
    const source = await kvClient('vol');
    for (let i = 0; i < 100; i++) await source.put(`key-${String(i).padStart(3, '0')}`, `value-${i}`);
    const backup = `apiVersion: phantomdb.io/v1alpha1\nkind: PhantomBackup\nmetadata:\n  name: vol-full\n  namespace: ${namespace}\nspec:\n  cluster: vol\n  type: Full\n  destination:\n    volume:\n      claimName: backups\n      path: /vol\n`;
    const created = await target.kubectl(['apply', '--validate=false', '-f', '-'], backup);
    expect(created.code, created.stderr).toBe(0);
    let status: BackupStatus & { conditions?: { type: string; reason?: string }[] } = {};
    await eventually(
      async () => {
        status = ((await target.custom.getNamespacedCustomObject({ group, version, namespace, plural: 'phantombackups', name: 'vol-full' })) as { status?: typeof status }).status ?? {};
        return status.phase === 'Completed' || status.phase === 'Failed';
      },
      timeouts.clusterAvailable,
      'backup vol-full finished',
    );
    expect(status.phase, `${status.message ?? ''}\n${await logsOf('vol')}`).toBe('Completed');
    expect(status.verified).toBe(true);
    expect(status.conditions?.find((condition) => condition.type === 'Verified')?.reason).toBe('VerifiedByDataNode');
    await source.put('key-000', 'after the backup');
    const expected = await fullScan(source, encodeTimestamp(parseTimestamp(status.backupTimestamp ?? '')));
    expect(expected.rows).toBe(100);

    const restoring = await target.kubectl(['apply', '--validate=false', '-f', '-'], withClaim('vol-dst', 1, '  bootstrap:\n    fromBackup:\n      backupName: vol-full\n'));
    expect(restoring.code, restoring.stderr).toBe(0);
    try {
      await eventually(() => available('vol-dst'), timeouts.clusterAvailable, 'cluster vol-dst Available');
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${await logsOf('vol-dst')}`, { cause: error });
    }
    const restored = await fullScan(await kvClient('vol-dst'));
    expect(restored.rows).toBe(expected.rows);
    expect(restored.checksum).toBe(expected.checksum);
  }, 400_000);
  it('a scheduled backup with retention keepLast 2 leaves exactly 2 backups at the destination', async () => {
    const applied = await target.kubectl(['apply', '--validate=false', '-f', '-'], clusterManifest('sched', ''));
    expect(applied.code, applied.stderr).toBe(0);
    await eventually(() => available('sched'), timeouts.clusterAvailable, 'cluster sched Available');
    const source = await kvClient('sched');
    for (let i = 0; i < 50; i++) await source.put(`key-${i}`, `value-${i}`);
    // Two earlier backups of the schedule (its label), then the schedule's own run makes three.
    const first = await takeBackup('sched', 'nightly-a', 'Full', 'sched', 'nightly');
    await source.put('key-0', 'changed');
    const second = await takeBackup('sched', 'nightly-b', 'Full', 'sched', 'nightly');
    const prefixDir = join(s3Dir, bucket, 'sched');
    const manifests = async (): Promise<string[]> =>
      (await objectFiles(prefixDir)).filter((file) => file.endsWith(`manifest.json._S3rver_object`)).map((file) => relative(prefixDir, file).split(sep)[0] ?? '');
    expect(await manifests()).toEqual([first.backupId, second.backupId].sort());
    const schedule = `apiVersion: phantomdb.io/v1alpha1\nkind: PhantomScheduledBackup\nmetadata:\n  name: nightly\n  namespace: ${namespace}\nspec:\n  cluster: sched\n  schedule: "* * * * *"\n  type: Full\n  retention:\n    keepLast: 2\n${s3Destination('sched').replace(/^/gm, '  ').trimEnd()}\n`;
    const created = await target.kubectl(['apply', '--validate=false', '-f', '-'], schedule);
    expect(created.code, created.stderr).toBe(0);
    // The schedule fires at the next minute; its backup completes; retention drops the oldest.
    let status: { lastSuccessfulBackup?: string; lastScheduleTime?: string } = {};
    try {
      await eventually(
        async () => {
          status = ((await target.custom.getNamespacedCustomObject({ group, version, namespace, plural: 'phantomscheduledbackups', name: 'nightly' })) as { status?: typeof status }).status ?? {};
          const sets = await manifests();
          return status.lastSuccessfulBackup !== undefined && sets.length === 2 && !sets.includes(first.backupId ?? '');
        },
        timeouts.clusterAvailable + 60_000,
        'the scheduled backup completed and the oldest expired',
      );
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nschedule status ${JSON.stringify(status)}; manifests ${JSON.stringify(await manifests())}\n${await logsOf('sched')}`, { cause: error });
    }
    const kept = await manifests();
    expect(kept).toHaveLength(2);
    expect(kept).toContain(second.backupId);
    // No object of the expired backup is left, and its PhantomBackup is gone.
    expect((await objectFiles(prefixDir)).filter((file) => relative(prefixDir, file).startsWith(`${first.backupId ?? ''}${sep}`))).toEqual([]);
    const listed = (await target.custom.listNamespacedCustomObject({ group, version, namespace, plural: 'phantombackups', labelSelector: 'phantomdb.io/scheduled-backup=nightly' })) as { items: { metadata: { name: string } }[] };
    expect(listed.items.map((item) => item.metadata.name)).not.toContain('nightly-a');
    expect(listed.items).toHaveLength(2);
  }, 500_000);
});
