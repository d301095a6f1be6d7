/**
 * Backup and restore end to end (issue 6 §4): the operator (operator/src/main.ts) against the
 * Kubernetes API test server whose kubelet runs real data node processes, and a real S3 API
 * (s3rver). A 3-node cluster takes a PhantomBackup to S3 while a client writes; a new cluster
 * with spec.bootstrap.fromBackup naming that backup becomes Available with exactly the data of
 * the backup's timestamp (a full-scan checksum against the source cluster read at that
 * timestamp). Local target only: s3rver listens on this machine's loopback.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  version: 0.1.0
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

beforeAll(async () => {
  target = await startTarget();
  await ensureNamespace(target, namespace);
  s3Dir = await mkdtemp(join(tmpdir(), 'phantomdb-e2e-s3-'));
  s3 = await startLocalS3(s3Dir, [bucket]);
  await target.core.createNamespacedSecret({ namespace, body: { metadata: { name: 's3-creds' }, stringData: { accessKeyId: s3.credentials.accessKeyId, secretAccessKey: s3.credentials.secretAccessKey } } });
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await target.close();
  await s3.close();
  await rm(s3Dir, { recursive: true, force: true });
});

describe.skipIf(!operatorAvailable() || process.env.PHANTOMDB_E2E_TARGET === 'external')('backup and restore through the operator (needs operator/src/main.ts, a local target)', () => {
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
});
