import type { CoreV1Api, V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { validateCluster } from '../api/validate.ts';
import type { ClusterControllerDeps, ReconcileContext } from './context.ts';
import { annotateLocality, localityAnnotationsPatch } from './locality.ts';

const zone = 'topology.kubernetes.io/zone';
const region = 'topology.kubernetes.io/region';

function node(name: string, labels: Record<string, string>): V1Node {
  return { metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } } };
}

function pod(name: string, nodeName: string | undefined, annotations?: Record<string, string>): V1Pod {
  return { metadata: { name, namespace: 'db', ...(annotations === undefined ? {} : { annotations }) }, spec: { containers: [], ...(nodeName === undefined ? {} : { nodeName }) } };
}

describe('localityAnnotationsPatch', () => {
  it('adds the node\'s topology labels the pod lacks, fixes changed ones, removes ones the node no longer has', () => {
    const keys = [region, zone];
    expect(localityAnnotationsPatch(pod('p', 'n'), node('n', { [region]: 'eu', [zone]: 'eu-1a' }), keys)).toEqual({ [region]: 'eu', [zone]: 'eu-1a' });
    expect(localityAnnotationsPatch(pod('p', 'n', { [region]: 'eu', [zone]: 'eu-1a', other: 'x' }), node('n', { [region]: 'eu', [zone]: 'eu-1a' }), keys)).toBeUndefined();
    expect(localityAnnotationsPatch(pod('p', 'n', { [region]: 'eu', [zone]: 'eu-1a' }), node('n', { [region]: 'eu', [zone]: 'eu-1b' }), keys)).toEqual({ [zone]: 'eu-1b' });
    expect(localityAnnotationsPatch(pod('p', 'n', { [region]: 'eu', [zone]: 'eu-1a' }), node('n', { [region]: 'eu' }), keys)).toEqual({ [zone]: null });
    // Only the configured keys: other node labels never reach the pod.
    expect(localityAnnotationsPatch(pod('p', 'n'), node('n', { [zone]: 'z' }), [zone])).toEqual({ [zone]: 'z' });
  });
});

describe('annotateLocality step', () => {
  it('patches each scheduled pod with its node\'s labels, reads each node once, and skips unscheduled pods and unreadable nodes', async () => {
    const nodes = new Map([
      ['n1', node('n1', { [region]: 'r', [zone]: 'a' })],
      ['n2', node('n2', { [region]: 'r', [zone]: 'b' })],
    ]);
    const reads: string[] = [];
    const patches: { name: string; namespace: string; body: unknown; withOptions: boolean }[] = [];
    const logs: string[] = [];
    const core = {
      readNode: ({ name }: { name: string }) => {
        reads.push(name);
        const found = nodes.get(name);
        return found === undefined ? Promise.reject(new Error(`nodes "${name}" not found`)) : Promise.resolve(found);
      },
      patchNamespacedPod: (request: { name: string; namespace: string; body: unknown }, options?: { middleware?: unknown[] }) => {
        // The content type (a merge patch) travels in the options' middleware.
        patches.push({ ...request, withOptions: options?.middleware !== undefined });
        return Promise.resolve(pod(request.name, undefined));
      },
    } as unknown as CoreV1Api;
    const validatedCluster = validateCluster({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'c', namespace: 'db' }, spec: { replicas: 3, version: '1.2.3', storage: { size: '1Gi' } } });
    if (!validatedCluster.ok) throw new Error(JSON.stringify(validatedCluster.errors));
    const ctx = {
      key: 'db/c',
      namespace: 'db',
      name: 'c',
      cluster: validatedCluster.value,
      deps: { core, log: (line: string) => logs.push(line) } as unknown as ClusterControllerDeps,
      pods: [pod('c-0', 'n1'), pod('c-1', 'n2', { [region]: 'r', [zone]: 'b' }), pod('c-2', 'n1', { [zone]: 'old' }), pod('c-3', undefined), pod('c-4', 'gone')],
    } as unknown as ReconcileContext;
    expect(await annotateLocality(ctx)).toEqual({ kind: 'proceed' });
    expect(reads.sort()).toEqual(['gone', 'n1', 'n2']);
    expect(patches.map((p) => [p.name, p.namespace, p.body, p.withOptions]).sort()).toEqual([
      ['c-0', 'db', { metadata: { annotations: { [region]: 'r', [zone]: 'a' } } }, true],
      ['c-2', 'db', { metadata: { annotations: { [region]: 'r', [zone]: 'a' } } }, true],
    ]);
    expect(logs.some((line) => line.includes('cannot read node gone'))).toBe(true);
  });
});
