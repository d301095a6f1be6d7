/**
 * The generated CRDs: committed files are fresh, schemas are structural, and the test API server
 * (which validates custom objects against `openAPIV3Schema` like kube-apiserver, minus CEL)
 * accepts valid clusters and rejects invalid ones naming the field — through kubectl and client-node.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startKubeTestServer, writeKubeconfig, type KubeTestServer } from '../../../test/kube/server.ts';
import { crdDirectories, staleCrdFiles } from '../../../scripts/gen-crds.ts';
import { generatedCrdFiles, kindDefinitions, openApiSchemaOf } from './crds.ts';
import { structuralSchemaOf, UnstructuralSchemaError, type Json } from './openapi.ts';
import { validateClusterSpec } from './validate.ts';

const execFileAsync = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..', '..', '..');

describe('committed CRDs', () => {
  it('match what the zod schemas generate (run `npm run crds:gen` when this fails)', () => {
    const files = generatedCrdFiles();
    expect(files.size).toBe(3);
    for (const directory of crdDirectories) expect(staleCrdFiles(directory, files)).toEqual([]);
  });
});

/** Every node of a schema, with its path. */
function* schemaNodes(node: Json, path: string): Generator<[string, Record<string, Json>]> {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
  yield [path, node];
  const properties = node['properties'];
  if (typeof properties === 'object' && properties !== null && !Array.isArray(properties)) {
    for (const [name, child] of Object.entries(properties)) yield* schemaNodes(child, `${path}.${name}`);
  }
  const items = node['items'];
  if (items !== undefined) yield* schemaNodes(items, `${path}[]`);
  const additional = node['additionalProperties'];
  if (typeof additional === 'object') yield* schemaNodes(additional, `${path}.*`);
}

describe('structural schemas', () => {
  it('give every node a type or an explicit escape, and use no $ref, oneOf or allOf', () => {
    for (const definition of kindDefinitions) {
      for (const [path, node] of schemaNodes(openApiSchemaOf(definition), definition.kind)) {
        const typed = typeof node['type'] === 'string' || node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
        expect(typed, `${path} has no type`).toBe(true);
        for (const key of ['$ref', '$defs', 'oneOf', 'allOf', 'not', 'const', 'propertyNames', '$schema']) expect(node[key], `${path} has ${key}`).toBeUndefined();
        if (node['anyOf'] !== undefined) expect(node['x-kubernetes-int-or-string'], `${path}: anyOf outside int-or-string`).toBe(true);
        if (Array.isArray(node['type'])) throw new Error(`${path}: type list`);
      }
    }
  });

  it('carry the cross-field rules as CEL with messages', () => {
    const cluster = openApiSchemaOf(kindDefinitions[0] ?? expect.fail('no kinds'));
    const spec = (cluster['properties'] as Record<string, Record<string, Json>>)['spec'];
    expect(spec?.['x-kubernetes-validations']).toEqual(
      expect.arrayContaining([expect.objectContaining({ rule: 'self.replicationFactor <= self.replicas', fieldPath: '.replicationFactor', message: 'spec.replicationFactor must not exceed spec.replicas' })]),
    );
  });

  it('refuse zod constructs the API server cannot express', () => {
    expect(() => structuralSchemaOf(z.object({ either: z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]) }))).toThrow(UnstructuralSchemaError);
    expect(() => structuralSchemaOf(z.object({ many: z.union([z.string(), z.boolean()]) }))).toThrow(/many/);
  });

  it('turn nullable, exclusive bounds, constants and free-form records into their OpenAPI forms', () => {
    const schema = structuralSchemaOf(z.object({ n: z.string().nullable(), ratio: z.number().gt(0), fixed: z.literal('x'), free: z.record(z.string(), z.unknown()) }));
    expect(schema['properties']).toEqual({
      n: { type: 'string', nullable: true },
      ratio: { type: 'number', minimum: 0, exclusiveMinimum: true },
      fixed: { type: 'string', enum: ['x'] },
      free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    });
  });
});

describe('CRDs on the test API server', () => {
  let server: KubeTestServer;
  let workDir: string;
  let kubeconfigPath: string;
  let custom: CustomObjectsApi;

  async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const { stdout, stderr } = await execFileAsync('kubectl', ['--kubeconfig', kubeconfigPath, '--cache-dir', join(workDir, 'cache'), ...args], { timeout: 30_000 });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string; code?: number };
      return { stdout: failed.stdout ?? '', stderr: failed.stderr ?? '', code: failed.code ?? 1 };
    }
  }

  async function applyCluster(name: string, spec: Record<string, unknown>): Promise<{ stdout: string; stderr: string; code: number }> {
    const file = join(workDir, `${name}.yaml`);
    await writeFile(file, stringify({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name, namespace: 'default' }, spec }));
    return kubectl('apply', '--validate=false', '-f', file);
  }

  beforeAll(async () => {
    server = await startKubeTestServer({ bookmarkIntervalMs: 0 });
    workDir = await mkdtemp(join(tmpdir(), 'phantomdb-crds-'));
    kubeconfigPath = join(workDir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, server.url);
    const config = new KubeConfig();
    config.loadFromFile(kubeconfigPath);
    custom = config.makeApiClient(CustomObjectsApi);
    const applied = await kubectl('apply', '--validate=false', '-f', join(repoRoot, 'crds'));
    expect(applied.stderr).toBe('');
  });

  afterAll(async () => {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('applies the local example, defaults it, and shows the printer columns', async () => {
    expect((await kubectl('apply', '--validate=false', '-f', join(repoRoot, 'examples', 'cluster-local.yaml'))).stdout).toContain('phantomcluster.phantomdb.io/local created');
    const stored = parse((await kubectl('get', 'pc', 'local', '-o', 'yaml')).stdout) as { spec: Record<string, unknown> };
    expect(stored.spec).toMatchObject({ replicationFactor: 3, paused: false, service: { type: 'ClusterIP' }, podDisruptionBudget: { enabled: true, maxUnavailable: 1 } });
    expect(validateClusterSpec(stored.spec).ok).toBe(true);
    const table = await kubectl('get', 'pc');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+REPLICAS\s+READY\s+PHASE\s+REBALANCING\s+VERSION\s+AGE/);
    expect((await kubectl('scale', 'pc/local', '--replicas=5')).stdout).toContain('scaled');
    expect((await kubectl('get', 'pc', 'local', '-o', 'jsonpath={.spec.replicas}')).stdout).toBe('5');
  });

  it('applies the production example', async () => {
    const manifest = parse(await readFile(join(repoRoot, 'examples', 'cluster.yaml'), 'utf8')) as { spec: Record<string, unknown> };
    const result = await applyCluster('production', manifest.spec);
    expect(result.stderr).toBe('');
    const stored = JSON.parse((await kubectl('get', 'pc', 'production', '-o', 'json')).stdout) as { spec: { affinity?: unknown; service?: unknown } };
    expect(stored.spec.affinity).toEqual(manifest.spec['affinity']);
    expect(stored.spec.service).toEqual(manifest.spec['service']);
  });

  it.each([
    ['replicas below one', { replicas: 0, version: '1.0.0', storage: { size: '1Gi' } }, 'spec.replicas'],
    ['an even replication factor', { replicas: 5, replicationFactor: 4, version: '1.0.0', storage: { size: '1Gi' } }, 'spec.replicationFactor'],
    ['a malformed size', { version: '1.0.0', storage: { size: 'big' } }, 'spec.storage.size'],
    ['a missing version', { storage: { size: '1Gi' } }, 'spec.version'],
    ['an unknown service type', { version: '1.0.0', storage: { size: '1Gi' }, service: { type: 'Ingress' } }, 'spec.service.type'],
    ['an unknown reclaim policy', { version: '1.0.0', storage: { size: '1Gi', reclaimPolicy: 'Recycle' } }, 'spec.storage.reclaimPolicy'],
  ])('kubectl is told about %s with the field path', async (_what, spec, path) => {
    const result = await kubectl('apply', '--validate=false', '-f', await writeSpec(spec));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(path);
  });

  async function writeSpec(spec: Record<string, unknown>): Promise<string> {
    const file = join(workDir, 'invalid.yaml');
    await writeFile(file, stringify({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'invalid', namespace: 'default' }, spec }));
    return file;
  }

  it('client-node gets a 422 whose causes name the fields', async () => {
    let caught: unknown;
    try {
      await custom.createNamespacedCustomObject({
        group: 'phantomdb.io',
        version: 'v1alpha1',
        namespace: 'default',
        plural: 'phantomclusters',
        body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'bad' }, spec: { replicas: 0, version: 'x', storage: {} } },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ApiException);
    const failure = caught as ApiException<unknown>;
    expect(failure.code).toBe(422);
    const body = (typeof failure.body === 'string' ? JSON.parse(failure.body) : failure.body) as { details?: { causes?: { field?: string }[] } };
    expect(body.details?.causes?.map((cause) => cause.field).sort()).toEqual(['spec.replicas', 'spec.storage.size', 'spec.version']);
  });

  it('leaves the CEL-only rules to the operator, which names the field', async () => {
    // The test server skips CEL (as an API server with CEL disabled would): the operator's
    // validation is what catches a replication factor above the replicas.
    const result = await applyCluster('tiny', { replicas: 1, version: '1.0.0', storage: { size: '1Gi' } });
    expect(result.code).toBe(0);
    const stored = JSON.parse((await kubectl('get', 'pc', 'tiny', '-o', 'json')).stdout) as { spec: unknown };
    const validation = validateClusterSpec(stored.spec);
    expect(validation.ok ? [] : validation.errors).toEqual([{ path: 'spec.replicationFactor', message: 'spec.replicationFactor (3) must not exceed spec.replicas (1)' }]);
  });

  it('serves the backup kinds with their short names and rejects a backup without a cluster', async () => {
    const file = join(workDir, 'backup.yaml');
    await writeFile(file, stringify({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: { name: 'b1', namespace: 'default' }, spec: { cluster: 'local', destination: { volume: { claimName: 'backups' } } } }));
    expect((await kubectl('apply', '--validate=false', '-f', file)).stdout).toContain('phantombackup.phantomdb.io/b1 created');
    expect((await kubectl('get', 'pbk')).stdout.split('\n')[0]).toMatch(/^NAME\s+CLUSTER\s+TYPE\s+PHASE\s+RANGES\s+DONE\s+SIZE\s+VERIFIED\s+STARTED\s+COMPLETED/);
    await writeFile(file, stringify({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: { name: 'b2', namespace: 'default' }, spec: { destination: { volume: { claimName: 'backups' } } } }));
    expect((await kubectl('apply', '--validate=false', '-f', file)).stderr).toContain('spec.cluster');
    await writeFile(file, stringify({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomScheduledBackup', metadata: { name: 's1', namespace: 'default' }, spec: { cluster: 'local', schedule: '0 3 * * *', destination: { volume: { claimName: 'backups' } }, retention: { keepLast: 2 } } }));
    expect((await kubectl('apply', '--validate=false', '-f', file)).stdout).toContain('created');
    expect((await kubectl('get', 'psb', 's1', '-o', 'jsonpath={.spec.type}')).stdout).toBe('Full');
  });
});
