/**
 * Upgrade e2e scenarios (issue 6 §1/§4), in order on one 3-node cluster:
 *
 * 1. Upgrade from version A to B under a client load (writers and readers that retry): zero
 *    failed client operations, zero lost acknowledged writes, the client p99 during the upgrade
 *    printed; the operator is killed right after each journal step of the first node (Drain,
 *    DeletePod, WaitPodReady) and the upgrade still completes exactly once (every pod replaced
 *    once, one UpgradeStarted and one RolloutCompleted).
 * 2. A pod that never becomes Ready (an image that cannot be pulled) pauses the rollout with a
 *    Degraded condition and a Warning event naming the pod; reverting the change recovers.
 *
 * Honesty about "versions": there is one data node binary. Version B differs from A in the pod
 * template (the image tag derived from spec.version and the app.kubernetes.io/version label).
 * Against the local test server the kubelet lets the tag stand for the binary: a pod of tag B
 * runs with the test-only PHANTOMDB_TEST_BINARY_VERSION=B, so the nodes report B in NodeInfo,
 * the cluster runs mixed (A and B binaries) during the rollout, and the operator's last step
 * finalizes the data nodes' cluster version at B (status.dataClusterVersion). What the test
 * proves is the operator's rollout: drain, restart one pod at a time on its volume, wait until
 * it is back and the data fully replicated, and finalize status.clusterVersion (and the data
 * nodes' version) only at the end. The kind suite (test/e2e/kind/run.sh) loads the same image
 * under both tags: there the binaries report the build's own version.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { ensureNamespace, operatorAvailable, startTarget, type E2eTarget } from './target.ts';
import { eventually, GiveUp, ScenarioChain, timeouts } from './support.ts';

const group = 'phantomdb.io';
const version = 'v1alpha1';
const plural = 'phantomclusters';
const namespace = process.env.PHANTOMDB_E2E_UPGRADE_NAMESPACE ?? 'phantomdb-e2e-upgrade';
const clusterName = 'upg';
const versionA = process.env.PHANTOMDB_E2E_VERSION_A ?? '0.1.0';
const versionB = process.env.PHANTOMDB_E2E_VERSION_B ?? '0.2.0';
const kvPort = 7010;
/** The stuck-pod scenario sets this as the time a restarted node has to come back, and waits it out once. */
const podReadyTimeoutSeconds = Math.round(10 * (Number(process.env.PHANTOMDB_E2E_TIMEOUT_SCALE ?? '1') || 1));
/** Time one rollout of 3 nodes may take (drain, restart, rejoin, catch up, per node), operator restarts included. */
const rolloutTimeoutMs = timeouts.scaleOut + 3 * timeouts.operatorRestart;

let target: E2eTarget;
const clients: KvClient[] = [];

interface ClusterStatusView {
  readonly observedGeneration?: number;
  readonly phase?: string;
  readonly clusterVersion?: string;
  readonly dataClusterVersion?: string;
  readonly currentVersion?: string;
  readonly podTemplateHash?: string;
  readonly operation?: { readonly kind: string; readonly step: string };
  readonly nodes?: readonly { readonly pod: string; readonly podVersion?: string; readonly podTemplateHash?: string; readonly version?: string; readonly role?: string }[];
  readonly conditions?: readonly { readonly type: string; readonly status: string; readonly reason?: string; readonly message?: string }[];
}

async function readCluster(): Promise<{ generation: number; status: ClusterStatusView }> {
  const object = (await target.custom.getNamespacedCustomObject({ group, version, namespace, plural, name: clusterName })) as { metadata?: { generation?: number }; status?: ClusterStatusView };
  return { generation: object.metadata?.generation ?? 0, status: object.status ?? {} };
}

function condition(status: ClusterStatusView, type: string): { status: string; reason?: string; message?: string } | undefined {
  return status.conditions?.find((entry) => entry.type === type);
}

async function dataNodePods(): Promise<V1Pod[]> {
  const pods = await target.core.listNamespacedPod({ namespace });
  return pods.items.filter((pod) => new RegExp(`^${clusterName}-\\d+$`).test(pod.metadata?.name ?? '')).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((entry) => entry.type === 'Ready' && entry.status === 'True') === true;
}

/** Available, observed, settled (no operation) with 3 Ready pods on the StatefulSet's template. */
async function settled(): Promise<ClusterStatusView | undefined> {
  for (const pod of await dataNodePods()) {
    const last = pod.status?.containerStatuses?.[0]?.lastState?.terminated;
    if ((pod.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2 && last?.exitCode === 2) throw new GiveUp(`data node ${pod.metadata?.name ?? ''} keeps exiting with code 2:\n${await target.podLog(namespace, pod.metadata?.name ?? '', 12)}`);
  }
  const { generation, status } = await readCluster();
  if (status.observedGeneration !== generation || status.operation !== undefined || condition(status, 'Available')?.status !== 'True' || status.phase !== 'Running') return undefined;
  const pods = await dataNodePods();
  return pods.length === 3 && pods.every(podReady) ? status : undefined;
}

/** KV endpoints by pod DNS name: a replaced pod comes back with another IP, the same name. */
function kvClient(): KvClient {
  const endpoints = [0, 1, 2].map((ordinal) => `${clusterName}-${ordinal}.${clusterName}-nodes.${namespace}.svc:${kvPort}`);
  const client = new KvClient({ endpoints, deadlineMs: timeouts.kvRequest });
  clients.push(client);
  return client;
}

/** Pod uids seen per pod name while running: a pod replaced once shows two. */
function watchPodUids(): { stop(): Promise<Map<string, string[]>> } {
  const uids = new Map<string, string[]>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        for (const pod of await dataNodePods()) {
          const name = pod.metadata?.name ?? '';
          const uid = pod.metadata?.uid ?? '';
          const seen = uids.get(name) ?? [];
          if (!seen.includes(uid)) uids.set(name, [...seen, uid]);
        }
      } catch {
        // A busy API server: look again.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return uids;
    },
  };
}

interface LoadResult {
  readonly acknowledged: Map<string, string>;
  readonly failed: string[];
  readonly latenciesMs: number[];
  readonly retried: number;
  readonly reads: number;
}

/**
 * Writers putting unique keys and readers reading acknowledged ones, each operation retried (a
 * put of the same key and value is idempotent) for up to `operationBudgetMs`; an operation that
 * still fails, or a read that returns another value, is a failed client operation.
 */
function startLoad(client: KvClient, writers: number, readers: number, operationBudgetMs = 60_000): { completed(): number; stop(): Promise<LoadResult> } {
  const acknowledged = new Map<string, string>();
  const keys: string[] = [];
  const failed: string[] = [];
  const latenciesMs: number[] = [];
  let retried = 0;
  let reads = 0;
  let running = true;
  const withRetries = async (what: string, operation: () => Promise<boolean>): Promise<void> => {
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        if (await operation()) break;
        failed.push(`${what}: wrong value`);
        return;
      } catch (error) {
        if (performance.now() - started > operationBudgetMs) {
          failed.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
          return;
        }
        if (attempt === 0) retried += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 1000)));
      }
    }
    latenciesMs.push(performance.now() - started);
  };
  const writerLoops = Array.from({ length: writers }, async (_, writer) => {
    for (let sequence = 0; running; sequence++) {
      const key = `upgrade/${writer}/${String(sequence).padStart(6, '0')}`;
      const value = `w${writer}s${sequence}`;
      await withRetries(`put ${key}`, async () => {
        await client.put(key, value);
        return true;
      });
      if (!failed.some((entry) => entry.startsWith(`put ${key}:`))) {
        acknowledged.set(key, value);
        keys.push(key);
      }
    }
  });
  const readerLoops = Array.from({ length: readers }, async (_, reader) => {
    for (let round = 0; running; round++) {
      const key = keys[(round * 7919 + reader) % Math.max(1, keys.length)];
      if (key === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      reads += 1;
      await withRetries(`get ${key}`, async () => (await client.get(key))?.toString() === acknowledged.get(key));
    }
  });
  return {
    completed: () => latenciesMs.length,
    async stop() {
      running = false;
      await Promise.all([...writerLoops, ...readerLoops]);
      return { acknowledged, failed, latenciesMs, retried, reads };
    },
  };
}

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function fullScan(client: KvClient): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  let start = Buffer.alloc(0);
  const end = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  for (let page = 0; page < 10_000; page++) {
    const result = await client.scan(start, end, 1000);
    for (const row of result.rows) rows.set(row.key.toString('utf8'), row.value.toString('utf8'));
    const last = result.rows[result.rows.length - 1];
    if (!result.more || last === undefined) return rows;
    start = Buffer.concat([last.key, Buffer.from([0])]);
  }
  throw new Error('full scan did not end after 10,000 pages');
}

async function eventCount(reason: string): Promise<number> {
  const events = await target.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${clusterName}` });
  return events.items.filter((event) => event.reason === reason).reduce((sum, event) => sum + (event.count ?? 1), 0);
}

async function patchSpec(patch: Record<string, unknown>): Promise<void> {
  const result = await target.kubectl(['patch', '-n', namespace, `${plural}.${group}/${clusterName}`, '--type=merge', '-p', JSON.stringify({ spec: patch })]);
  expect(result.code, result.stderr).toBe(0);
}

const manifest = `apiVersion: phantomdb.io/v1alpha1
kind: PhantomCluster
metadata:
  name: ${clusterName}
  namespace: ${namespace}
spec:
  replicas: 3
  replicationFactor: 3
  version: ${versionA}
  storage:
    size: 1Gi
    reclaimPolicy: Delete
`;

beforeAll(async () => {
  target = await startTarget();
  await ensureNamespace(target, namespace);
});

afterAll(async () => {
  for (const client of clients) client.close();
  if (target.kind === 'external') await target.kubectl(['delete', 'namespace', namespace, '--wait=false']);
  await target.close();
});

describe.skipIf(!operatorAvailable())('upgrading a PhantomCluster (needs operator/src/main.ts)', () => {
  const chain = new ScenarioChain();

  it(`creates a 3-node cluster at ${versionA} with its cluster version finalized`, chain.step(async () => {
    const applied = await target.kubectl(['apply', '--validate=false', '-f', '-'], manifest);
    expect(applied.code, applied.stderr).toBe(0);
    const status = await eventually(settled, timeouts.clusterAvailable, 'cluster settled with 3 ready nodes');
    await eventually(async () => (await readCluster()).status.clusterVersion === versionA, timeouts.controllerStatus, `clusterVersion ${versionA}`);
    expect(status.nodes?.map((node) => node.podVersion)).toEqual([versionA, versionA, versionA]);
    await kvClient().put('before-upgrade', 'A');
  }));

  it(`upgrades ${versionA} → ${versionB} under client load with the operator killed at each step: no failed operation, no lost write, exactly once`, chain.step(async () => {
    const before = await readCluster();
    const uids = watchPodUids();
    const load = startLoad(kvClient(), 3, 1);
    // A baseline on the settled cluster first, to compare the p99 during the upgrade with.
    await eventually(() => load.completed() >= 1000, timeouts.clusterAvailable, '1000 client operations before the upgrade');
    const baselineCount = load.completed();
    const killer = target.killOperatorAtJournal(namespace, clusterName, (operation) => (operation.details['ordinal'] === 2 ? `${String(operation.details['ordinal'])}/${operation.step}` : undefined));
    const startedAt = performance.now();
    await patchSpec({ version: versionB });
    await eventually(async () => (await readCluster()).status.operation?.kind === 'RollingUpgrade', timeouts.controllerStatus + timeouts.operatorRestart, 'the rolling upgrade to start');
    const clusterVersionsDuring = new Set<string | undefined>();
    const done = await eventually(async () => {
      const { status } = await readCluster();
      if (status.operation !== undefined) clusterVersionsDuring.add(status.clusterVersion);
      return status.clusterVersion === versionB ? settled() : undefined;
    }, rolloutTimeoutMs, `the upgrade to ${versionB} to complete`);
    const upgradeSeconds = (performance.now() - startedAt) / 1000;
    const killedAt = await killer.stop();
    const result = await load.stop();
    const replaced = await uids.stop();

    // Operations completed after the patch until the load stopped (the upgrade and a little after).
    const during = result.latenciesMs.slice(baselineCount);
    const baseline = result.latenciesMs.slice(0, baselineCount);
    const p50 = percentile(during, 0.5);
    const p99 = percentile(during, 0.99);
    process.stdout.write(
      `upgrade ${versionA} -> ${versionB}: ${upgradeSeconds.toFixed(1)} s; client ops ${result.latenciesMs.length} (${result.reads} reads), retried ${result.retried}, failed ${result.failed.length}; ` +
        `during the upgrade p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms (${during.length} ops); ` +
        `before it p99 ${percentile(baseline, 0.99).toFixed(1)} ms (${baseline.length} ops); operator killed at ${killedAt.join(', ')}\n`,
    );
    expect(result.failed).toEqual([]);
    expect(result.acknowledged.size).toBeGreaterThan(20);
    expect(Number.isFinite(p99)).toBe(true);
    const rows = await fullScan(kvClient());
    const lost = [...result.acknowledged].filter(([key, value]) => rows.get(key) !== value).map(([key]) => key);
    expect(lost).toEqual([]);
    expect(rows.get('before-upgrade')).toBe('A');

    if (target.kind === 'local') expect(killedAt).toEqual(['2/Drain', '2/DeletePod', '2/WaitPodReady']);
    // Exactly once: every pod replaced once (two incarnations seen), one start, one completion.
    expect([...replaced.keys()].sort()).toEqual([`${clusterName}-0`, `${clusterName}-1`, `${clusterName}-2`]);
    for (const [pod, seen] of replaced) expect(seen, `incarnations of ${pod}`).toHaveLength(2);
    // The kill right after the first journal write can take the start event with it (the event
    // follows the journal write); it is never repeated. The completion is recorded once.
    expect(await eventCount('UpgradeStarted')).toBeLessThanOrEqual(1);
    expect(await eventCount('RolloutCompleted')).toBe(1);
    // The cluster version moved only when every node ran B.
    expect([...clusterVersionsDuring]).toEqual([versionA]);
    expect(done.nodes?.map((node) => node.podVersion)).toEqual([versionB, versionB, versionB]);
    expect(new Set(done.nodes?.map((node) => node.podTemplateHash))).toEqual(new Set([done.podTemplateHash]));
    expect(done.podTemplateHash).not.toBe(before.status.podTemplateHash);
    expect(done.currentVersion).toBe(versionB);
    if (target.kind === 'local') {
      // The tag stood for the binary: every node runs B, and the data nodes finalized at B.
      expect(done.nodes?.map((node) => node.version)).toEqual([versionB, versionB, versionB]);
      expect(done.dataClusterVersion).toBe(versionB);
    }
  }), rolloutTimeoutMs + timeouts.clusterAvailable);

  it('pauses on a pod that never becomes Ready (Degraded, a Warning naming it), and reverting recovers', chain.step(async () => {
    const before = await readCluster();
    const uids = watchPodUids();
    // rollout settings are not part of the pod template: only the image restarts anything.
    await patchSpec({ image: 'phantomdb.local/phantomdb-node:0.0.0-nonexistent', rollout: { podReadyTimeoutSeconds } });
    const paused = await eventually(async () => {
      const { status } = await readCluster();
      return condition(status, 'Degraded')?.reason === 'RolloutPaused' ? status : undefined;
    }, timeouts.scaleOut + podReadyTimeoutSeconds * 1000, 'the rollout to pause');
    expect(condition(paused, 'Degraded')?.message).toContain(`pod ${clusterName}-2`);
    expect(condition(paused, 'Degraded')?.message).toMatch(/ImagePullBackOff|ErrImagePull/);
    const events = await target.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${clusterName}` });
    const warning = events.items.find((event) => event.reason === 'RolloutPaused');
    expect(warning?.type).toBe('Warning');
    expect(warning?.message).toContain(`${clusterName}-2`);
    // The other two nodes keep serving.
    const client = kvClient();
    await client.put('during-pause', 'ok');
    expect((await client.get('before-upgrade'))?.toString()).toBe('A');

    await patchSpec({ image: null });
    const recovered = await eventually(settled, rolloutTimeoutMs, 'the cluster recovered after the revert');
    const replaced = await uids.stop();
    expect(recovered.podTemplateHash).toBe(before.status.podTemplateHash);
    expect(recovered.clusterVersion).toBe(versionB);
    expect(condition(recovered, 'Degraded')?.status).toBe('False');
    // Only the stuck pod was replaced (twice: to the bad image, then back).
    expect(replaced.get(`${clusterName}-2`)?.length).toBe(3);
    expect(replaced.get(`${clusterName}-1`)?.length).toBe(1);
    expect(replaced.get(`${clusterName}-0`)?.length).toBe(1);
    expect((await kvClient().get('during-pause'))?.toString()).toBe('ok');
  }), rolloutTimeoutMs + timeouts.scaleOut + podReadyTimeoutSeconds * 1000);
});
