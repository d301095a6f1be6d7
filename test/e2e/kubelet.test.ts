/**
 * The test server's StatefulSet controller, cluster DNS and kubelet with real data node processes,
 * without the operator: hand-written StatefulSets whose pods form a Raft cluster through their pod
 * DNS names, keep their volumes across crashes, deletions and scale-in, and go away with their
 * owner. Runs only against the test server (it checks the test server itself).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../../datanode/src/kv/client.ts';
import { installHostsOverride } from '../../datanode/src/node/hosts-override.ts';
import type { JsonObject } from '../kube/json.ts';
import { installWorkloadControllers, kubeletFinalizer, type WorkloadControllers } from '../kube/kubelet.ts';
import { startKubeTestServer, type KubeTestServer } from '../kube/server.ts';
import { claimsRef, findObject, isPodReady, podsRef, statefulSetsRef } from '../kube/statefulset-controller.ts';
import { eventually, timeouts } from './support.ts';

const namespace = 'default';
let server: KubeTestServer;
let workloads: WorkloadControllers;
let stateDir: string;
const clients: KvClient[] = [];

function field(obj: unknown, path: string): unknown {
  let current = obj;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function pod(name: string): JsonObject | undefined {
  return findObject(server.store, podsRef, namespace, name);
}

function readyPod(name: string): JsonObject | false {
  const found = pod(name);
  return found !== undefined && isPodReady(found) ? found : false;
}

/** A one-replica StatefulSet running data node `nodeId` of the three-node cluster `kv`. */
function kvStatefulSet(nodeId: number, podManagementPolicy = 'Parallel'): JsonObject {
  const name = `kv${nodeId}`;
  const peers = [1, 2, 3].map((id) => `${id}=kv${id}-0.kv.${namespace}.svc:7000`).join(',');
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      serviceName: 'kv',
      podManagementPolicy,
      updateStrategy: { type: 'OnDelete' },
      selector: { matchLabels: { app: 'kv', node: String(nodeId) } },
      template: {
        metadata: { labels: { app: 'kv', node: String(nodeId) } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'phantomdb',
              image: 'phantomdb-node:test',
              args: ['start', '--config', '/etc/phantomdb/node.yaml', '--data-dir', '/var/lib/phantomdb'],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'PHANTOMDB_NODE_ID', value: String(nodeId) },
                { name: 'PHANTOMDB_ADVERTISE_HOST', value: '$(POD_NAME).kv.$(POD_NAMESPACE).svc.cluster.local' },
                { name: 'PHANTOMDB_PEERS', value: peers },
              ],
              ports: [
                { name: 'peer', containerPort: 7000 },
                { name: 'kv', containerPort: 7010 },
                { name: 'http', containerPort: 8080 },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, failureThreshold: 2 },
              volumeMounts: [
                { name: 'data', mountPath: '/var/lib/phantomdb' },
                { name: 'config', mountPath: '/etc/phantomdb' },
              ],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: 'kv-config' } }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  };
}

function kvClient(): KvClient {
  const endpoints = ['kv1-0', 'kv2-0', 'kv3-0'].map((name) => `${String(field(pod(name), 'status.podIP'))}:7010`);
  const client = new KvClient({ endpoints, deadlineMs: timeouts.kvRequest });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'phantomdb-kubelet-e2e-'));
  server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
  workloads = await installWorkloadControllers(server, { stateDir, restartBackoffInitialMs: 200, restartBackoffMaxMs: 2000 });
  // Nodes redirect clients to their advertised (pod DNS) names, which this process resolves too.
  installHostsOverride(workloads.dns.hostsFile);
  server.store.create({ group: '', plural: 'configmaps' }, namespace, { metadata: { name: 'kv-config' }, data: { 'node.yaml': 'clusterId: kv\ntickMs: 50\nelectionTimeoutTicks: 10\n' } });
  server.store.create({ group: '', plural: 'services' }, namespace, { metadata: { name: 'kv' }, spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'kv' }, ports: [{ name: 'peer', port: 7000 }] } });
  for (const nodeId of [1, 2, 3]) server.store.create(statefulSetsRef, namespace, kvStatefulSet(nodeId));
});

afterAll(async () => {
  for (const client of clients) client.close();
  const pids = ['kv1-0', 'kv2-0', 'kv3-0'].map((name) => workloads.kubelet.processOf(namespace, name)?.pid);
  await server.close();
  for (const pid of pids) if (pid !== undefined) expect(processAlive(pid)).toBe(false);
  await rm(stateDir, { recursive: true, force: true });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('StatefulSet pods as real data node processes', () => {
  it('creates pods with claims, labels, owner references and their own addresses, and they form a cluster through pod DNS', async () => {
    for (const name of ['kv1-0', 'kv2-0', 'kv3-0']) await eventually(() => readyPod(name), timeouts.podReady, `${name} Ready`);
    const first = pod('kv1-0');
    expect(field(first, 'metadata.labels')).toMatchObject({ app: 'kv', node: '1', 'statefulset.kubernetes.io/pod-name': 'kv1-0', 'apps.kubernetes.io/pod-index': '0' });
    expect(field(first, 'metadata.ownerReferences')).toEqual([expect.objectContaining({ kind: 'StatefulSet', name: 'kv1', controller: true })]);
    expect(field(first, 'metadata.finalizers')).toEqual([kubeletFinalizer]);
    expect(field(first, 'spec.subdomain')).toBe('kv');
    expect(field(first, 'status.phase')).toBe('Running');
    const ips = ['kv1-0', 'kv2-0', 'kv3-0'].map((name) => String(field(pod(name), 'status.podIP')));
    expect(new Set(ips).size).toBe(3);
    for (const ip of ips) expect(ip.startsWith(`${workloads.kubelet.podNetwork}.`)).toBe(true);
    expect(field(findObject(server.store, claimsRef, namespace, 'data-kv1-0'), 'status.phase')).toBe('Bound');
    await workloads.dns.flush();
    const hosts = readFileSync(workloads.dns.hostsFile, 'utf8');
    expect(hosts).toContain(`${ips[0] ?? ''} kv1-0.kv.default.svc.cluster.local`);
    expect(hosts).toContain(`${ips[2] ?? ''} kv3-0.kv.default.svc`);

    const client = kvClient();
    await client.put('greeting', 'hello');
    expect((await client.get('greeting'))?.toString()).toBe('hello');
    await eventually(() => field(findObject(server.store, statefulSetsRef, namespace, 'kv1'), 'status.readyReplicas') === 1, timeouts.controllerStatus, 'kv1 status readyReplicas 1');
    expect(field(findObject(server.store, statefulSetsRef, namespace, 'kv1'), 'status')).toMatchObject({ replicas: 1, currentReplicas: 1, updatedReplicas: 1, observedGeneration: 1 });
  });

  it('restarts a killed process, counts the restart and keeps its data', async () => {
    const before = workloads.kubelet.processOf(namespace, 'kv2-0');
    expect(before?.pid).toBeDefined();
    expect(workloads.kubelet.signalPod(namespace, 'kv2-0', 'SIGKILL')).toBe(true);
    await eventually(() => field(pod('kv2-0'), 'status.containerStatuses.0.restartCount') === 1 && readyPod('kv2-0'), timeouts.podRestart, 'kv2-0 restarted and Ready');
    const after = workloads.kubelet.processOf(namespace, 'kv2-0');
    expect(after?.pid).not.toBe(before?.pid);
    expect(after?.ip).toBe(before?.ip);
    expect(field(pod('kv2-0'), 'status.containerStatuses.0.lastState.terminated')).toMatchObject({ exitCode: 137, signal: 9 });
    const client = kvClient();
    expect((await client.get('greeting'))?.toString()).toBe('hello');
    await client.put('after-crash', 'yes');
  });

  it('replaces a deleted pod (OnDelete) on the same volume, after the old process is gone', async () => {
    const oldUid = String(field(pod('kv3-0'), 'metadata.uid'));
    const oldPid = workloads.kubelet.processOf(namespace, 'kv3-0')?.pid;
    const claimUid = String(field(findObject(server.store, claimsRef, namespace, 'data-kv3-0'), 'metadata.uid'));
    const identity = join(stateDir, 'volumes', namespace, `data-kv3-0-${claimUid}`, 'IDENTITY');
    expect(existsSync(identity)).toBe(true);
    const identityBefore = readFileSync(identity, 'utf8');
    server.store.delete(podsRef, namespace, 'kv3-0');
    expect(field(pod('kv3-0'), 'metadata.deletionTimestamp')).toBeDefined();
    const replaced = await eventually(() => {
      const current = readyPod('kv3-0');
      return current !== false && field(current, 'metadata.uid') !== oldUid ? current : false;
    }, timeouts.podRestart, 'kv3-0 replaced and Ready');
    expect(oldPid === undefined || !processAlive(oldPid)).toBe(true);
    expect(field(replaced, 'status.containerStatuses.0.restartCount')).toBe(0);
    expect(readFileSync(identity, 'utf8')).toBe(identityBefore);
    expect((await kvClient().get('after-crash'))?.toString()).toBe('yes');
  });

  it('keeps the claim on scale-in and reuses it on scale-out', async () => {
    const claimUid = field(findObject(server.store, claimsRef, namespace, 'data-kv3-0'), 'metadata.uid');
    const set = findObject(server.store, statefulSetsRef, namespace, 'kv3');
    server.store.update(statefulSetsRef, namespace, 'kv3', { ...set, spec: { ...(set?.['spec'] as JsonObject), replicas: 0 } });
    await eventually(() => pod('kv3-0') === undefined, timeouts.podRestart, 'kv3-0 gone');
    await eventually(() => field(findObject(server.store, statefulSetsRef, namespace, 'kv3'), 'status.replicas') === 0, timeouts.controllerStatus, 'kv3 status replicas 0');
    expect(field(findObject(server.store, claimsRef, namespace, 'data-kv3-0'), 'metadata.uid')).toBe(claimUid);
    await kvClient().put('two-of-three', 'still a quorum');
    const scaled = findObject(server.store, statefulSetsRef, namespace, 'kv3');
    server.store.update(statefulSetsRef, namespace, 'kv3', { ...scaled, spec: { ...(scaled?.['spec'] as JsonObject), replicas: 1 } });
    await eventually(() => readyPod('kv3-0'), timeouts.podRestart, 'kv3-0 back');
    expect(field(findObject(server.store, claimsRef, namespace, 'data-kv3-0'), 'metadata.uid')).toBe(claimUid);
    expect((await kvClient().get('two-of-three'))?.toString()).toBe('still a quorum');
  });

  it('creates OrderedReady pods one at a time and removes everything owned with the StatefulSet', async () => {
    const order: string[] = [];
    const unsubscribe = server.hooks.onChange(podsRef, (event) => {
      const name = String(field(event.object, 'metadata.name'));
      if (!name.startsWith('solo-')) return;
      if (event.type === 'ADDED') order.push(`created ${name}`);
      if (event.type === 'MODIFIED' && isPodReady(event.object) && !order.includes(`ready ${name}`)) order.push(`ready ${name}`);
    });
    const solo: JsonObject = {
      metadata: { name: 'solo' },
      spec: {
        replicas: 2,
        serviceName: 'solo',
        podManagementPolicy: 'OrderedReady',
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
        selector: { matchLabels: { app: 'solo' } },
        template: {
          metadata: { labels: { app: 'solo' } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'phantomdb',
                image: 'phantomdb-node:test',
                args: ['start', '--data-dir', '/data', '--node-id', '1', '--cluster-id', '$(POD_NAME)', '--peers', '1=0.0.0.0:7000'],
                env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
                readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1 },
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    };
    server.store.create(statefulSetsRef, namespace, solo);
    await eventually(() => readyPod('solo-1'), timeouts.podReady * 2, 'solo-1 Ready');
    unsubscribe();
    expect(order.slice(0, 3)).toEqual(['created solo-0', 'ready solo-0', 'created solo-1']);
    const pids = ['solo-0', 'solo-1'].map((name) => workloads.kubelet.processOf(namespace, name)?.pid);
    server.store.delete(statefulSetsRef, namespace, 'solo');
    await eventually(() => pod('solo-0') === undefined && pod('solo-1') === undefined, timeouts.cleanup, 'solo pods collected');
    await eventually(() => findObject(server.store, claimsRef, namespace, 'data-solo-0') === undefined, timeouts.cleanup, 'solo claims collected (whenDeleted: Delete)');
    for (const pid of pids) expect(pid !== undefined && !processAlive(pid)).toBe(true);
  });

  it('marks a pod whose container is not phantomdb-node as Failed and the StatefulSet replaces it', async () => {
    server.store.create(podsRef, namespace, { metadata: { name: 'shell' }, spec: { restartPolicy: 'Never', containers: [{ name: 'sh', image: 'busybox', command: ['sh', '-c', 'true'] }] } });
    const failed = await eventually(() => (field(pod('shell'), 'status.phase') === 'Failed' ? pod('shell') : false), timeouts.controllerStatus, 'shell pod Failed');
    expect(String(field(failed, 'status.message'))).toContain('runs only phantomdb-node');
    server.store.delete(podsRef, namespace, 'shell');
    await eventually(() => pod('shell') === undefined, timeouts.controllerStatus, 'shell pod gone');
  });
});
