/**
 * Desired objects of a cluster: golden YAML (rewrite with UPDATE_GOLDEN=1 after an intended
 * change, and review the diff: a changed pod template restarts every data node of every user)
 * and properties of the pod-template hash.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateCluster, type PhantomCluster } from '../api/index.ts';
import { desiredClusterObjects, desiredObjectList, desiredStatefulSet, podTemplateHash, podTemplateHashAnnotation, canonicalJson, contentHash, selectorString } from './index.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');
const testdata = join(import.meta.dirname, 'testdata');
const propertyRuns = Number(process.env['PROPERTY_RUNS'] ?? 100);

function clusterFrom(manifest: unknown, uid = '6f1c2b7e-0000-4000-8000-000000000001'): PhantomCluster {
  const result = validateCluster(manifest);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return { ...result.value, metadata: { ...result.value.metadata, uid } };
}

function example(file: string): PhantomCluster {
  return clusterFrom(parse(readFileSync(join(repoRoot, 'examples', file), 'utf8')));
}

function minimal(spec: Record<string, unknown> = {}): PhantomCluster {
  return clusterFrom({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'db', namespace: 'ns' }, spec: { version: '1.0.0', storage: { size: '1Gi' }, ...spec } });
}

function expectGolden(name: string, text: string): void {
  const path = join(testdata, name);
  if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(path)) writeFileSync(path, text);
  expect(text, `${path} differs; rerun with UPDATE_GOLDEN=1 if the change is intended`).toBe(readFileSync(path, 'utf8'));
}

function manifests(cluster: PhantomCluster): string {
  return desiredObjectList(desiredClusterObjects(cluster))
    .map((object) => stringify(object, { lineWidth: 0, aliasDuplicateObjects: false }))
    .join('---\n');
}

describe('golden manifests', () => {
  it.each([
    ['cluster-local.yaml', 'local.golden.yaml'],
    ['cluster.yaml', 'production.golden.yaml'],
  ])('%s renders as %s', (source, golden) => {
    expectGolden(golden, manifests(example(source)));
  });
});

describe('desired objects', () => {
  const cluster = example('cluster.yaml');
  const objects = desiredClusterObjects(cluster);
  const list = desiredObjectList(objects);

  it('all carry the recommended labels and a controller owner reference to the cluster', () => {
    expect(list).toHaveLength(6);
    for (const object of list) {
      expect(object.metadata?.labels).toMatchObject({ 'app.kubernetes.io/name': 'phantomdb', 'app.kubernetes.io/instance': 'production', 'app.kubernetes.io/managed-by': 'phantomdb-operator' });
      expect(object.metadata?.ownerReferences).toEqual([{ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', name: 'production', uid: cluster.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      expect(object.metadata?.namespace).toBe('phantomdb');
    }
  });

  it('give peers DNS before readiness and clients the SQL, HTTP and KV ports', () => {
    expect(objects.headlessService.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true, ports: [{ port: 7000 }, { port: 7010 }] });
    expect(objects.clientService.spec?.type).toBe('LoadBalancer');
    expect(objects.clientService.spec?.ports?.map((port) => port.port)).toEqual([5432, 8080, 7010]);
    expect(objects.clientService.metadata?.annotations).toEqual(cluster.spec.service.annotations);
  });

  it('run the data nodes under the operator\'s control, non-root, with probes', () => {
    const spec = objects.statefulSet.spec;
    expect(spec?.updateStrategy).toEqual({ type: 'OnDelete' });
    expect(spec?.podManagementPolicy).toBe('Parallel');
    expect(spec?.serviceName).toBe(objects.headlessService.metadata?.name);
    expect(spec?.volumeClaimTemplates).toHaveLength(1);
    expect(spec?.persistentVolumeClaimRetentionPolicy?.whenDeleted).toBe('Retain');
    const pod = spec?.template.spec;
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    const [container] = pod?.containers ?? [];
    expect(container?.image).toBe('ghcr.io/phantomdb/phantomdb-node:0.1.0');
    expect(container?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container?.env?.find((variable) => variable.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(pod?.topologySpreadConstraints?.[0]?.labelSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'phantomdb', 'app.kubernetes.io/instance': 'production' } });
    expect(objects.podDisruptionBudget?.spec?.maxUnavailable).toBe(1);
    expect(selectorString(cluster)).toBe('app.kubernetes.io/name=phantomdb,app.kubernetes.io/instance=production');
  });

  it('leave out a disabled PodDisruptionBudget and use spec.image when set', () => {
    const custom = desiredClusterObjects(minimal({ podDisruptionBudget: { enabled: false }, image: 'registry.local/pdb:dev' }));
    expect(custom.podDisruptionBudget).toBeUndefined();
    expect(custom.statefulSet.spec?.template.spec?.containers[0]?.image).toBe('registry.local/pdb:dev');
  });

  it('refuse a cluster without a uid', () => {
    const cluster = minimal();
    expect(() => desiredClusterObjects({ ...cluster, metadata: { name: 'db' } })).toThrow(/metadata.uid/);
  });
});

/** A random valid spec (the parts that matter to the template and some that do not). */
const specArbitrary = fc.record(
  {
    replicas: fc.integer({ min: 7, max: 20 }),
    version: fc.constantFrom('1.0.0', '1.1.0', '2.0.0-rc.1'),
    resources: fc.record({ requests: fc.record({ cpu: fc.constantFrom('100m', '2', 4), memory: fc.constantFrom('1Gi', '512Mi') }) }),
    storage: fc.record({ size: fc.constantFrom('1Gi', '10Gi', 5_000_000_000), reclaimPolicy: fc.constantFrom('Retain', 'Delete') }),
    config: fc.record({ logLevel: fc.constantFrom('debug', 'info'), extraSettings: fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.string({ maxLength: 5 })) }, { requiredKeys: [] }),
    nodeSelector: fc.dictionary(fc.constantFrom('disk', 'pool', 'tier'), fc.constantFrom('ssd', 'db')),
    podAnnotations: fc.dictionary(fc.constantFrom('x.io/a', 'x.io/b'), fc.constantFrom('1', '2')),
    service: fc.record({ type: fc.constantFrom('ClusterIP', 'LoadBalancer') }),
    paused: fc.boolean(),
  },
  { requiredKeys: ['version', 'storage'] },
);

/** The same value with object keys in reverse order at every level. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([key, member]) => [key, reversedKeys(member)]));
}

function hashOf(cluster: PhantomCluster): string {
  const statefulSet = desiredStatefulSet(cluster, cluster.spec.replicas);
  const hash = statefulSet.spec?.template.metadata?.annotations?.[podTemplateHashAnnotation];
  if (hash === undefined) throw new Error('no hash annotation');
  return hash;
}

describe('pod template hash', () => {
  it('is pinned for a known cluster (a change here restarts every user\'s data nodes)', () => {
    expectGolden('local.hash.txt', `${hashOf(example('cluster-local.yaml'))}\n`);
  });

  it('is the hash of the template it annotates', () => {
    const template = desiredStatefulSet(minimal(), 3).spec?.template;
    if (template === undefined) throw new Error('no template');
    expect(podTemplateHash(template)).toBe(template.metadata?.annotations?.[podTemplateHashAnnotation]);
  });

  it('is the same for the same input, whatever its key order or copy', () => {
    fc.assert(
      fc.property(specArbitrary, (spec) => {
        const a = minimal(spec);
        const b = minimal(reversedKeys(structuredClone(spec)) as Record<string, unknown>);
        expect(hashOf(b)).toBe(hashOf(a));
        expect(hashOf(a)).toBe(hashOf(a));
      }),
      { numRuns: propertyRuns },
    );
  });

  it('ignores what does not shape a pod: replicas, service, paused, budget, volume size', () => {
    fc.assert(
      fc.property(specArbitrary, fc.integer({ min: 7, max: 30 }), (spec, replicas) => {
        const base = hashOf(minimal(spec));
        expect(hashOf(minimal({ ...spec, replicas }))).toBe(base);
        expect(hashOf(minimal({ ...spec, service: { type: 'NodePort', annotations: { a: 'b' } } }))).toBe(base);
        expect(hashOf(minimal({ ...spec, paused: !(spec.paused ?? false) }))).toBe(base);
        expect(hashOf(minimal({ ...spec, podDisruptionBudget: { enabled: false } }))).toBe(base);
        // Volumes grow by PVC expansion, not by restarting pods.
        expect(hashOf(minimal({ ...spec, storage: { ...spec.storage, size: '999Gi' } }))).toBe(base);
      }),
      { numRuns: propertyRuns },
    );
  });

  it('changes with the version, image, resources, config and scheduling', () => {
    fc.assert(
      fc.property(specArbitrary, (spec) => {
        const base = hashOf(minimal(spec));
        const changes: Record<string, unknown>[] = [
          { version: '9.9.9' },
          { image: 'example.com/phantomdb:custom' },
          { resources: { requests: { cpu: '7' } } },
          { config: { ...spec.config, logLevel: 'error' } },
          { config: { ...spec.config, extraSettings: { zz: 'new' } } },
          { nodeSelector: { dedicated: 'phantomdb' } },
          { tolerations: [{ key: 'dedicated', operator: 'Exists' }] },
          { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone' }] },
          // Mounting a backup volume is a pod change: it rolls through the normal rollout.
          { backup: { volume: { claimName: 'backups' } } },
        ];
        for (const change of changes) expect(hashOf(minimal({ ...spec, ...change })), JSON.stringify(change)).not.toBe(base);
      }),
      { numRuns: propertyRuns },
    );
  });

  it('canonical JSON sorts keys and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: [{ d: undefined, c: 'x' }] })).toBe('{"a":[{"c":"x"}],"b":1}');
    expect(contentHash({ a: 1, b: 2 })).toBe(contentHash({ b: 2, a: 1 }));
    expect(contentHash({ a: 1 })).toMatch(/^[0-9a-f]{16}$/);
  });
});
