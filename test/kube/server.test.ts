/**
 * Drives the Kubernetes API test server with the real clients our operator and users run:
 * `@kubernetes/client-node` (typed APIs, Watch, informers) and the `kubectl` binary.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type V1ConfigMap,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeTestServer, writeKubeconfig, type ControllerContext, type KubeTestController, type KubeTestServer } from './server.ts';

const execFileAsync = promisify(execFile);

/** Named timeouts for conditions that become true asynchronously (CloudNativePG style). */
const timeouts = { gc: 5_000, watchEvent: 5_000, informerRelist: 10_000 } as const;

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface StatusLike {
  readonly kind?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
  readonly details?: { readonly causes?: readonly { readonly field?: string; readonly message?: string }[] };
}

/** The HTTP code and parsed Status of a call that must fail. */
async function failure(call: Promise<unknown>): Promise<{ code: number; status: StatusLike }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) {
      const body: unknown = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
      return { code: error.code, status: body as StatusLike };
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

type Obj = Record<string, unknown>;
function field(obj: unknown, path: string): unknown {
  let current = obj;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Obj)[part];
  }
  return current;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'phantomclusters.phantomdb.io' },
  spec: {
    group: 'phantomdb.io',
    scope: 'Namespaced',
    names: { plural: 'phantomclusters', singular: 'phantomcluster', kind: 'PhantomCluster', shortNames: ['pc'] },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: {
          status: {},
          scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
        },
        additionalPrinterColumns: [
          { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
          { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['version'],
                properties: {
                  replicas: { type: 'integer', minimum: 1, maximum: 9, default: 3 },
                  version: { type: 'string', pattern: '^v[0-9]+\\.[0-9]+$' },
                  mode: { type: 'string', enum: ['fast', 'safe'] },
                  storage: { 'x-kubernetes-int-or-string': true },
                  tags: { type: 'array', maxItems: 2, items: { type: 'string', minLength: 1 } },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
};

let server: KubeTestServer;
let workDir: string;
let kubeconfigPath: string;
let config: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let custom: CustomObjectsApi;
let namespaceCounter = 0;

async function freshNamespace(): Promise<string> {
  namespaceCounter += 1;
  const name = `test-${namespaceCounter}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

function statefulSet(name: string, labels: Record<string, string> = { app: name }): V1StatefulSet {
  return {
    metadata: { name, labels },
    spec: {
      replicas: 3,
      serviceName: name,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'node', image: 'phantomdb:dev' }] } },
    },
  };
}

beforeAll(async () => {
  server = await startKubeTestServer({ port: 0, host: '127.0.0.1', bookmarkIntervalMs: 0 });
  workDir = await mkdtemp(join(tmpdir(), 'kube-test-'));
  kubeconfigPath = join(workDir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, server.url);
  config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  core = config.makeApiClient(CoreV1Api);
  apps = config.makeApiClient(AppsV1Api);
  custom = config.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('discovery', () => {
  it('lists built-in groups and follows CRDs as they come and go', async () => {
    const groupsOf = async (): Promise<string[]> => {
      const response = await fetch(`${server.url}/apis`);
      expect(response.headers.get('content-type')).toBe('application/json');
      const body = (await response.json()) as { groups: { name: string }[] };
      return body.groups.map((group) => group.name);
    };
    expect(await groupsOf()).toEqual(expect.arrayContaining(['apps', 'policy', 'coordination.k8s.io', 'rbac.authorization.k8s.io', 'apiextensions.k8s.io']));
    expect(await groupsOf()).not.toContain('example.io');
    const widgets = structuredClone(crd);
    widgets.metadata.name = 'widgets.example.io';
    widgets.spec.group = 'example.io';
    widgets.spec.names = { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] };
    await fetch(`${server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', body: JSON.stringify(widgets), headers: { 'Content-Type': 'application/json' } });
    expect(await groupsOf()).toContain('example.io');
    const resources = (await (await fetch(`${server.url}/apis/example.io/v1alpha1`)).json()) as { resources: { name: string; shortNames?: string[] }[] };
    expect(resources.resources.map((resource) => resource.name)).toEqual(['widgets', 'widgets/status', 'widgets/scale']);
    expect(resources.resources[0]?.shortNames).toEqual(['wd']);
    const apps = (await (await fetch(`${server.url}/apis/apps/v1`)).json()) as { resources: { name: string }[] };
    expect(apps.resources.map((resource) => resource.name)).toEqual(expect.arrayContaining(['statefulsets', 'statefulsets/status', 'statefulsets/scale']));
    await fetch(`${server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.io`, { method: 'DELETE' });
    expect(await groupsOf()).not.toContain('example.io');
    expect((await fetch(`${server.url}/apis/example.io/v1alpha1/namespaces/default/widgets`)).status).toBe(404);
  });
});

describe('objects through client-node', () => {
  it('creates, reads and rejects duplicates, missing objects and stale updates with Status bodies', async () => {
    const namespace = await freshNamespace();
    const created = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'settings' }, data: { a: '1' } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    const duplicate = await failure(core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'settings' } } }));
    expect(duplicate.code).toBe(409);
    expect(duplicate.status).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', code: 409, message: 'configmaps "settings" already exists' });
    const missing = await failure(core.readNamespacedConfigMap({ namespace, name: 'absent' }));
    expect(missing.status).toMatchObject({ reason: 'NotFound', code: 404, message: 'configmaps "absent" not found' });

    const first = await core.readNamespacedConfigMap({ namespace, name: 'settings' });
    const second = await core.readNamespacedConfigMap({ namespace, name: 'settings' });
    await core.replaceNamespacedConfigMap({ namespace, name: 'settings', body: { ...first, data: { a: '2' } } });
    const stale = await failure(core.replaceNamespacedConfigMap({ namespace, name: 'settings', body: { ...second, data: { a: '3' } } }));
    expect(stale.code).toBe(409);
    expect(stale.status.reason).toBe('Conflict');
    expect((await core.readNamespacedConfigMap({ namespace, name: 'settings' })).data).toEqual({ a: '2' });

    const generated = await core.createNamespacedConfigMap({ namespace, body: { metadata: { generateName: 'gen-' } } });
    expect(generated.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    const missingNamespace = await failure(core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }));
    expect(missingNamespace.status.message).toBe('namespaces "nowhere" not found');
  });

  it('keeps one increasing resourceVersion across kinds', async () => {
    const namespace = await freshNamespace();
    const a = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'a' } } });
    const b = await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'b' }, stringData: { k: 'v' } } });
    const c = await apps.createNamespacedStatefulSet({ namespace, body: statefulSet('c') });
    const versions = [a, b, c].map((obj) => Number(obj.metadata?.resourceVersion));
    expect(versions[1]).toBeGreaterThan(versions[0] ?? Infinity);
    expect(versions[2]).toBeGreaterThan(versions[1] ?? Infinity);
    expect(b.data).toEqual({ k: Buffer.from('v').toString('base64') });
    const list = await core.listNamespacedConfigMap({ namespace });
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(versions[2] ?? Infinity);
  });

  it('bumps generation on spec changes only and keeps status behind the status subresource', async () => {
    const namespace = await freshNamespace();
    const created = await apps.createNamespacedStatefulSet({ namespace, body: { ...statefulSet('db'), status: { replicas: 7 } } });
    expect(created.metadata?.generation).toBe(1);
    expect(created.status?.replicas).toBeUndefined();
    const labelled = await apps.patchNamespacedStatefulSet({ namespace, name: 'db', body: { metadata: { labels: { app: 'db', tier: 'data' } } } }, mergePatch);
    expect(labelled.metadata?.generation).toBe(1);
    const statusBody = structuredClone(labelled);
    if (statusBody.spec !== undefined) statusBody.spec.replicas = 9;
    statusBody.status = { replicas: 2, readyReplicas: 1 };
    const withStatus = await apps.replaceNamespacedStatefulSetStatus({ namespace, name: 'db', body: statusBody });
    expect(withStatus.status).toMatchObject({ replicas: 2, readyReplicas: 1 });
    expect(withStatus.spec?.replicas).toBe(3);
    expect(withStatus.metadata?.generation).toBe(1);
    const specBody = structuredClone(withStatus);
    if (specBody.spec !== undefined) specBody.spec.replicas = 5;
    specBody.status = { replicas: 99 };
    const replaced = await apps.replaceNamespacedStatefulSet({ namespace, name: 'db', body: specBody });
    expect(replaced.metadata?.generation).toBe(2);
    expect(replaced.status?.replicas).toBe(2);
  });

  it('serves the scale subresource of StatefulSets', async () => {
    const namespace = await freshNamespace();
    await apps.createNamespacedStatefulSet({ namespace, body: statefulSet('db', { app: 'db', role: 'node' }) });
    const scale = await apps.readNamespacedStatefulSetScale({ namespace, name: 'db' });
    expect(scale.spec?.replicas).toBe(3);
    expect(scale.status?.selector).toBe('app=db,role=node');
    await apps.patchNamespacedStatefulSetScale({ namespace, name: 'db', body: { spec: { replicas: 5 } } }, mergePatch);
    const after = await apps.readNamespacedStatefulSet({ namespace, name: 'db' });
    expect(after.spec?.replicas).toBe(5);
    expect(after.metadata?.generation).toBe(2);
    const negative = await failure(apps.replaceNamespacedStatefulSetScale({ namespace, name: 'db', body: { metadata: { name: 'db' }, spec: { replicas: -1 } } }));
    expect(negative.code).toBe(422);
  });

  it('applies merge, JSON and strategic merge patches', async () => {
    const namespace = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'cm', labels: { a: '1', b: '2' } }, data: { x: '1', y: '2' } } });
    const merged = await core.patchNamespacedConfigMap({ namespace, name: 'cm', body: { metadata: { labels: { a: null, c: '3' } }, data: { y: '20' } } }, mergePatch);
    expect(merged.metadata?.labels).toEqual({ b: '2', c: '3' });
    expect(merged.data).toEqual({ x: '1', y: '20' });

    const patched = await core.patchNamespacedConfigMap({ namespace, name: 'cm', body: [{ op: 'test', path: '/data/x', value: '1' }, { op: 'replace', path: '/data/x', value: '10' }, { op: 'add', path: '/data/z~1w', value: 'new' }, { op: 'remove', path: '/data/y' }] }, jsonPatch);
    expect(patched.data).toEqual({ x: '10', 'z/w': 'new' });
    const failedTest = await failure(core.patchNamespacedConfigMap({ namespace, name: 'cm', body: [{ op: 'test', path: '/data/x', value: 'nope' }, { op: 'replace', path: '/data/x', value: 'never' }] }, jsonPatch));
    expect(failedTest.code).toBe(422);
    expect((await core.readNamespacedConfigMap({ namespace, name: 'cm' })).data?.['x']).toBe('10');

    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }] }, { name: 'sidecar', image: 'side:1' }] } },
        },
      },
    });
    const strategic = await apps.patchNamespacedDeployment({ namespace, name: 'web', body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'app:2', env: [{ name: 'B', value: '2' }] }] } } } } }, strategicPatch);
    const containers = strategic.spec?.template.spec?.containers ?? [];
    expect(containers.map((container) => `${container.name}=${container.image ?? ''}`)).toEqual(['app=app:2', 'sidecar=side:1']);
    expect(containers[0]?.env?.map((env) => env.name)).toEqual(['A', 'B']);
    const deleted = await apps.patchNamespacedDeployment({ namespace, name: 'web', body: { spec: { template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } } } }, strategicPatch);
    expect(deleted.spec?.template.spec?.containers.map((container) => container.name)).toEqual(['app']);
    expect(deleted.metadata?.generation).toBe(3);
  });

  it('filters lists with label and field selectors, per namespace and across namespaces', async () => {
    const first = await freshNamespace();
    const second = await freshNamespace();
    const pods: [string, string, Record<string, string>][] = [
      [first, 'a', { app: 'db', tier: 'data' }],
      [first, 'b', { app: 'web' }],
      [second, 'c', { app: 'db', legacy: 'yes' }],
    ];
    for (const [namespace, name, labels] of pods) {
      await core.createNamespacedPod({ namespace, body: { metadata: { name, labels }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
    }
    const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> => {
      const list = await core.listPodForAllNamespaces({ ...(labelSelector === undefined ? {} : { labelSelector }), ...(fieldSelector === undefined ? {} : { fieldSelector }) });
      return list.items.map((pod) => pod.metadata?.name ?? '').filter((name) => ['a', 'b', 'c'].includes(name)).sort();
    };
    expect(await names()).toEqual(['a', 'b', 'c']);
    expect(await names('app=db')).toEqual(['a', 'c']);
    expect(await names('app==db,tier')).toEqual(['a']);
    expect(await names('app!=db')).toEqual(['b']);
    expect(await names('app in (web, db),!legacy')).toEqual(['a', 'b']);
    expect(await names('app notin (db)')).toEqual(['b']);
    expect(await names(undefined, `metadata.namespace=${second}`)).toEqual(['c']);
    expect(await names(undefined, 'metadata.name=b')).toEqual(['b']);
    expect((await core.listNamespacedPod({ namespace: first })).items.map((pod) => pod.metadata?.name)).toEqual(['a', 'b']);
    expect((await core.readNamespacedPod({ namespace: first, name: 'a' })).status?.phase).toBe('Pending');
    const bad = await failure(core.listPodForAllNamespaces({ labelSelector: 'app in db' }));
    expect(bad.code).toBe(400);
  });

  it('pages lists with limit and continue', async () => {
    const namespace = await freshNamespace();
    for (const name of ['a', 'b', 'c', 'd', 'e']) await core.createNamespacedConfigMap({ namespace, body: { metadata: { name } } });
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await core.listNamespacedConfigMap({ namespace, limit: 2, ...(token === undefined ? {} : { _continue: token }) });
      seen.push(...page.items.map((item) => item.metadata?.name ?? ''));
      token = page.metadata?._continue;
      pages += 1;
    } while (token !== undefined && token !== '');
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pages).toBe(3);
  });
});

describe('watch', () => {
  interface Seen {
    readonly type: string;
    readonly name: string;
    readonly code?: number;
  }

  async function startWatch(path: string, query: Record<string, string | boolean>, seen: Seen[]): Promise<{ abort(): void; done: Promise<unknown> }> {
    let finish: (value: unknown) => void = () => undefined;
    const done = new Promise((resolve) => (finish = resolve));
    const controller = await new Watch(config).watch(
      path,
      query,
      (type, object: unknown) => {
        const code = field(object, 'code');
        seen.push({ type, name: String(field(object, 'metadata.name') ?? ''), ...(typeof code === 'number' ? { code } : {}) });
      },
      (error: unknown) => finish(error ?? 'closed'),
    );
    return { abort: () => controller.abort(), done };
  }

  it('replays from a resourceVersion, follows selector transitions and sends bookmarks', async () => {
    const namespace = await freshNamespace();
    const start = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'one', labels: { watch: 'me' } } } });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'two', labels: { watch: 'me' } } } });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'other' } } });
    const seen: Seen[] = [];
    const watch = await startWatch(`/api/v1/namespaces/${namespace}/configmaps`, { resourceVersion: start.metadata?.resourceVersion ?? '', labelSelector: 'watch=me', allowWatchBookmarks: true }, seen);
    await eventually(() => seen.length >= 1, timeouts.watchEvent, 'the replayed ADDED of two');
    expect(seen).toEqual([{ type: 'ADDED', name: 'two' }]);
    await core.patchNamespacedConfigMap({ namespace, name: 'one', body: { data: { k: 'v' } } }, mergePatch);
    await core.patchNamespacedConfigMap({ namespace, name: 'two', body: { metadata: { labels: { watch: null } } } }, mergePatch);
    await core.patchNamespacedConfigMap({ namespace, name: 'other', body: { metadata: { labels: { watch: 'me' } } } }, mergePatch);
    await core.deleteNamespacedConfigMap({ namespace, name: 'one' });
    server.hooks.sendBookmarks();
    await eventually(() => seen.length >= 6, timeouts.watchEvent, 'live events and a bookmark');
    expect(seen.slice(1)).toEqual([
      { type: 'MODIFIED', name: 'one' },
      { type: 'DELETED', name: 'two' },
      { type: 'ADDED', name: 'other' },
      { type: 'DELETED', name: 'one' },
      { type: 'BOOKMARK', name: '' },
    ]);
    watch.abort();
  });

  it('answers a too-old resourceVersion with a 410 ERROR event and starts from the current state without one', async () => {
    const namespace = await freshNamespace();
    const old = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'old' } } });
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'later' } } });
    server.hooks.compactHistory();
    const seen: Seen[] = [];
    const expired = await startWatch(`/api/v1/namespaces/${namespace}/configmaps`, { resourceVersion: old.metadata?.resourceVersion ?? '' }, seen);
    expect(await expired.done).toBe('closed');
    expect(seen).toEqual([{ type: 'ERROR', name: '', code: 410 }]);
    const fresh: Seen[] = [];
    const current = await startWatch(`/api/v1/namespaces/${namespace}/configmaps`, {}, fresh);
    await eventually(() => fresh.length >= 1, timeouts.watchEvent, 'synthetic ADDED');
    expect(fresh).toEqual([{ type: 'ADDED', name: 'old' }]);
    current.abort();
  });

  it('ends a watch after timeoutSeconds', async () => {
    const namespace = await freshNamespace();
    const watch = await startWatch(`/api/v1/namespaces/${namespace}/configmaps`, { timeoutSeconds: '1' }, []);
    expect(await watch.done).toBe('closed');
  }, 10_000);

  it('keeps an informer in sync across dropped watches, re-listing after 410', async () => {
    const namespace = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'before' } } });
    let lists = 0;
    const informer = makeInformer<V1ConfigMap>(config, `/api/v1/namespaces/${namespace}/configmaps`, () => {
      lists += 1;
      return core.listNamespacedConfigMap({ namespace });
    });
    const added: string[] = [];
    const deleted: string[] = [];
    informer.on('add', (obj) => added.push(obj.metadata?.name ?? ''));
    informer.on('delete', (obj) => deleted.push(obj.metadata?.name ?? ''));
    await informer.start();
    await eventually(() => server.hooks.watchCount() > 0, timeouts.watchEvent, 'the informer watch');
    expect(added).toEqual(['before']);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'during' } } });
    await eventually(() => added.includes('during'), timeouts.watchEvent, 'ADDED during');

    // A graceful drop: the informer resumes from its last resourceVersion without re-listing.
    expect(server.hooks.dropWatches()).toBeGreaterThan(0);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-drop' } } });
    await eventually(() => added.includes('after-drop'), timeouts.watchEvent, 'ADDED after a drop');
    expect(lists).toBe(1);

    // A drop with compacted history: the resume gets 410 and the informer lists again.
    // The informer's resourceVersion is that of its last ConfigMap event; a later write elsewhere
    // followed by compaction makes it too old.
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'elsewhere' } } });
    server.hooks.compactHistory();
    server.hooks.dropWatches();
    await core.deleteNamespacedConfigMap({ namespace, name: 'before' });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-compaction' } } });
    await eventually(() => lists >= 2 && added.includes('after-compaction') && deleted.includes('before'), timeouts.informerRelist, 're-list after 410');
    expect(informer.list(namespace).map((obj) => obj.metadata?.name).sort()).toEqual(['after-compaction', 'after-drop', 'during']);
    await informer.stop();
  });
});

describe('deletion', () => {
  it('waits for finalizers and sets deletionTimestamp', async () => {
    const namespace = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'held', finalizers: ['phantomdb.io/drain'] } } });
    await core.deleteNamespacedConfigMap({ namespace, name: 'held' });
    const held = await core.readNamespacedConfigMap({ namespace, name: 'held' });
    expect(held.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    const addFinalizer = await failure(core.patchNamespacedConfigMap({ namespace, name: 'held', body: { metadata: { finalizers: ['phantomdb.io/drain', 'other'] } } }, mergePatch));
    expect(addFinalizer.code).toBe(403);
    await core.patchNamespacedConfigMap({ namespace, name: 'held', body: { metadata: { finalizers: null } } }, mergePatch);
    expect((await failure(core.readNamespacedConfigMap({ namespace, name: 'held' }))).code).toBe(404);
  });

  it('collects dependents of deleted owners (background, orphan, foreground)', async () => {
    const namespace = await freshNamespace();
    const makeOwner = async (name: string): Promise<{ apiVersion: string; kind: string; name: string; uid: string }> => {
      const owner = await apps.createNamespacedStatefulSet({ namespace, body: statefulSet(name) });
      return { apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: owner.metadata?.uid ?? '' };
    };
    const makeDependent = async (name: string, owners: { apiVersion: string; kind: string; name: string; uid: string }[], finalizers: string[] = []): Promise<void> => {
      await core.createNamespacedPod({ namespace, body: { metadata: { name, ownerReferences: owners, finalizers }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
    };
    const exists = async (name: string): Promise<boolean> => (await core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` })).items.length > 0;

    const background = await makeOwner('background');
    const other = await makeOwner('other');
    await makeDependent('bg-0', [background]);
    await makeDependent('bg-shared', [background, other]);
    await apps.deleteNamespacedStatefulSet({ namespace, name: 'background' });
    await eventually(async () => !(await exists('bg-0')), timeouts.gc, 'GC of bg-0');
    const shared = await core.readNamespacedPod({ namespace, name: 'bg-shared' });
    expect(shared.metadata?.ownerReferences?.map((ref) => ref.name)).toEqual(['other']);

    const orphaning = await makeOwner('orphaning');
    await makeDependent('orphan-0', [orphaning]);
    await apps.deleteNamespacedStatefulSet({ namespace, name: 'orphaning', propagationPolicy: 'Orphan' });
    await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace, fieldSelector: 'metadata.name=orphaning' })).items.length === 0, timeouts.gc, 'orphaning owner gone');
    expect((await core.readNamespacedPod({ namespace, name: 'orphan-0' })).metadata?.ownerReferences ?? []).toEqual([]);

    const foreground = await makeOwner('foreground');
    await makeDependent('fg-0', [foreground], ['phantomdb.io/hold']);
    await apps.deleteNamespacedStatefulSet({ namespace, name: 'foreground', propagationPolicy: 'Foreground' });
    await eventually(async () => (await core.readNamespacedPod({ namespace, name: 'fg-0' })).metadata?.deletionTimestamp !== undefined, timeouts.gc, 'dependent deleting');
    const waiting = await apps.readNamespacedStatefulSet({ namespace, name: 'foreground' });
    expect(waiting.metadata?.finalizers).toContain('foregroundDeletion');
    await core.patchNamespacedPod({ namespace, name: 'fg-0', body: { metadata: { finalizers: null } } }, mergePatch);
    await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace, fieldSelector: 'metadata.name=foreground' })).items.length === 0, timeouts.gc, 'foreground owner gone');
  });

  it('empties a namespace before removing it', async () => {
    const namespace = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'content' } } });
    await core.deleteNamespace({ name: namespace });
    await eventually(async () => (await core.listNamespace()).items.every((ns) => ns.metadata?.name !== namespace), timeouts.gc, 'namespace removal');
    expect((await failure(core.readNamespacedConfigMap({ namespace, name: 'content' }))).code).toBe(404);
  });
});

describe('custom resources', () => {
  beforeAll(async () => {
    const response = await fetch(`${server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', body: JSON.stringify(crd), headers: { 'Content-Type': 'application/json' } });
    expect(response.status).toBe(201);
  });

  const group = 'phantomdb.io';
  const version = 'v1alpha1';
  const plural = 'phantomclusters';

  it('validates against the schema, listing every failing field path like a real server', async () => {
    const namespace = await freshNamespace();
    const result = await failure(
      custom.createNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'bad' }, spec: { replicas: 0, mode: 'turbo', storage: true, tags: ['a', 'b', ''] } },
      }),
    );
    expect(result.code).toBe(422);
    expect(result.status.reason).toBe('Invalid');
    const causes = (result.status.details?.causes ?? []).map((cause) => `${cause.field ?? ''}: ${cause.message ?? ''}`).sort();
    expect(causes).toEqual([
      'spec.mode: Unsupported value: "turbo": supported values: "fast", "safe"',
      'spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1',
      'spec.storage: Invalid value: true: spec.storage in body must be of type integer,string: "boolean"',
      'spec.tags: Too many: 3: must have at most 2 items',
      'spec.tags[2]: Invalid value: "": spec.tags[2] in body should be at least 1 chars long',
      'spec.version: Required value',
    ]);
    expect(result.status.message).toMatch(/^PhantomCluster\.phantomdb\.io "bad" is invalid: \[/);
  });

  it('defaults and prunes, and keeps spec and status apart through the status subresource', async () => {
    const namespace = await freshNamespace();
    const created = (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'demo' }, spec: { version: 'v1.2', storage: '10Gi', unknown: 1, extra: { kept: true } }, status: { phase: 'ignored' } },
    })) as Obj;
    expect(field(created, 'spec')).toEqual({ version: 'v1.2', replicas: 3, storage: '10Gi', extra: { kept: true } });
    expect(field(created, 'status')).toBeUndefined();
    expect(field(created, 'metadata.generation')).toBe(1);

    const withStatus = (await custom.patchNamespacedCustomObjectStatus({ group, version, namespace, plural, name: 'demo', body: { status: { phase: 'Running', replicas: 3, selector: 'app=demo' }, spec: { replicas: 9 } } }, mergePatch)) as Obj;
    expect(field(withStatus, 'status.phase')).toBe('Running');
    expect(field(withStatus, 'spec.replicas')).toBe(3);
    expect(field(withStatus, 'metadata.generation')).toBe(1);

    const specChange = (await custom.patchNamespacedCustomObject({ group, version, namespace, plural, name: 'demo', body: { spec: { replicas: 5 }, status: { phase: 'Hacked' } } }, mergePatch)) as Obj;
    expect(field(specChange, 'metadata.generation')).toBe(2);
    expect(field(specChange, 'status.phase')).toBe('Running');

    const scale = (await custom.getNamespacedCustomObjectScale({ group, version, namespace, plural, name: 'demo' })) as Obj;
    expect(field(scale, 'spec.replicas')).toBe(5);
    expect(field(scale, 'status')).toEqual({ replicas: 3, selector: 'app=demo' });
    await custom.patchNamespacedCustomObjectScale({ group, version, namespace, plural, name: 'demo', body: { spec: { replicas: 7 } } }, mergePatch);
    const scaled = (await custom.getNamespacedCustomObject({ group, version, namespace, plural, name: 'demo' })) as Obj;
    expect(field(scaled, 'spec.replicas')).toBe(7);
    const tooMany = await failure(custom.patchNamespacedCustomObjectScale({ group, version, namespace, plural, name: 'demo', body: { spec: { replicas: 10 } } }, mergePatch));
    expect(tooMany.status.details?.causes?.[0]).toMatchObject({ field: 'spec.replicas', message: 'Invalid value: 10: spec.replicas in body should be less than or equal to 9' });

    const strategic = await failure(custom.patchNamespacedCustomObject({ group, version, namespace, plural, name: 'demo', body: { spec: { replicas: 4 } } }, strategicPatch));
    expect(strategic.code).toBe(415);
  });
});

describe('controller hooks', () => {
  /**
   * A minimal StatefulSet controller, as a later "kubelet" would plug in: listeners only enqueue,
   * reconcile re-reads the store, creates missing pods with owner references and marks them Running.
   */
  function sampleStatefulSetController(): KubeTestController & { reconciles: number } {
    const statefulsets = { group: 'apps', plural: 'statefulsets' };
    const pods = { group: '', plural: 'pods' };
    const queue = new Set<string>();
    let unsubscribe = (): void => undefined;
    let context: ControllerContext | undefined;
    const controller = {
      name: 'sample-statefulset',
      reconciles: 0,
      start(started: ControllerContext): void {
        context = started;
        unsubscribe = started.store.subscribe(statefulsets, (event) => {
          queue.add(`${String(field(event.object, 'metadata.namespace'))}/${String(field(event.object, 'metadata.name'))}`);
          setImmediate(drain);
        });
      },
      stop(): void {
        unsubscribe();
        queue.clear();
      },
    };
    const drain = (): void => {
      for (const key of [...queue]) {
        queue.delete(key);
        const [namespace = '', name = ''] = key.split('/');
        if (context === undefined) return;
        controller.reconciles += 1;
        const set = context.store.list(statefulsets, namespace).find((item) => field(item, 'metadata.name') === name);
        if (set === undefined || field(set, 'metadata.deletionTimestamp') !== undefined) continue;
        const replicas = Number(field(set, 'spec.replicas'));
        const owner = { apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: String(field(set, 'metadata.uid')), controller: true };
        for (let ordinal = 0; ordinal < replicas; ordinal++) {
          const podName = `${name}-${ordinal}`;
          if (context.store.list(pods, namespace).some((pod) => field(pod, 'metadata.name') === podName)) continue;
          const pod = context.store.create(pods, namespace, { metadata: { name: podName, ownerReferences: [owner] }, spec: { containers: [{ name: 'node', image: 'phantomdb:dev' }] } });
          context.store.update(pods, namespace, podName, { ...pod, status: { phase: 'Running' } }, { subresource: 'status' });
        }
      }
    };
    return controller;
  }

  it('runs a registered controller against the in-process store and stops it on close', async () => {
    const local = await startKubeTestServer({ port: 0, bookmarkIntervalMs: 0 });
    const controller = sampleStatefulSetController();
    await local.hooks.registerController(controller);
    const changes: string[] = [];
    const unsubscribe = local.hooks.onChange({ group: '', plural: 'pods' }, (event) => changes.push(`${event.type} ${String(field(event.object, 'metadata.name'))}`));
    const localConfig = new KubeConfig();
    const localKubeconfig = join(workDir, 'local-kubeconfig');
    await writeKubeconfig(localKubeconfig, local.url);
    localConfig.loadFromFile(localKubeconfig);
    const localApps = localConfig.makeApiClient(AppsV1Api);
    const localCore = localConfig.makeApiClient(CoreV1Api);
    await localApps.createNamespacedStatefulSet({ namespace: 'default', body: statefulSet('db') });
    await eventually(async () => (await localCore.listNamespacedPod({ namespace: 'default', fieldSelector: 'status.phase=Running' })).items.length === 3, timeouts.gc, 'three running pods');
    expect(changes).toEqual(['ADDED db-0', 'MODIFIED db-0', 'ADDED db-1', 'MODIFIED db-1', 'ADDED db-2', 'MODIFIED db-2']);
    await localApps.deleteNamespacedStatefulSet({ namespace: 'default', name: 'db' });
    await eventually(async () => (await localCore.listNamespacedPod({ namespace: 'default' })).items.length === 0, timeouts.gc, 'pods collected with their StatefulSet');
    unsubscribe();
    await local.close();
    expect(controller.reconciles).toBeGreaterThan(0);
  });
});

describe('kubectl', () => {
  async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const { stdout, stderr } = await execFileAsync('kubectl', ['--kubeconfig', kubeconfigPath, '--cache-dir', join(workDir, 'kubectl-cache'), ...args], { timeout: 30_000 });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string; code?: number };
      return { stdout: failed.stdout ?? '', stderr: failed.stderr ?? '', code: typeof failed.code === 'number' ? failed.code : 1 };
    }
  }

  it('applies, gets, scales, selects and deletes a Deployment', async () => {
    const namespace = await freshNamespace();
    const manifest = join(workDir, 'deployment.json');
    const labels = { app: 'web' };
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace, labels }, spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } } } };
    await writeFile(manifest, JSON.stringify(deployment));
    expect((await kubectl('apply', '--validate=false', '-f', manifest)).stdout).toContain('deployment.apps/web created');
    expect((await kubectl('apply', '--validate=false', '-f', manifest)).stdout).toContain('deployment.apps/web unchanged');
    deployment.spec.template.spec.containers[0] = { name: 'web', image: 'nginx:1.26' };
    await writeFile(manifest, JSON.stringify(deployment));
    expect((await kubectl('apply', '--validate=false', '-f', manifest)).stdout).toContain('deployment.apps/web configured');
    const scaled = await kubectl('-n', namespace, 'scale', 'deployment/web', '--replicas=4');
    expect(scaled.stdout).toContain('deployment.apps/web scaled');
    const json = JSON.parse((await kubectl('-n', namespace, 'get', 'deploy', 'web', '-o', 'json')).stdout) as Obj;
    expect(field(json, 'spec.replicas')).toBe(4);
    expect(field(json, 'metadata.generation')).toBe(3);
    expect(field(json, 'spec.template.spec.containers')).toEqual([{ name: 'web', image: 'nginx:1.26' }]);
    const table = await kubectl('-n', namespace, 'get', 'deployments', '-l', 'app in (web)');
    expect(table.stdout).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+0\/4\s+0\s+0\s+\d+s\n$/);
    expect((await kubectl('-n', namespace, 'get', 'deployments', '-l', 'app!=web')).stderr).toContain('No resources found');
    expect((await kubectl('-n', namespace, 'delete', 'deployment', 'web')).stdout).toContain('deployment.apps "web" deleted');
    expect((await failure(apps.readNamespacedDeployment({ namespace, name: 'web' }))).code).toBe(404);
  });

  it('applies a CRD and a custom resource, prints its columns, scales it and reports schema errors', async () => {
    const namespace = await freshNamespace();
    const widgets = structuredClone(crd);
    widgets.metadata.name = 'gadgets.example.io';
    widgets.spec.group = 'example.io';
    widgets.spec.names = { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', shortNames: ['gd'] };
    const crdFile = join(workDir, 'gadgets-crd.json');
    await writeFile(crdFile, JSON.stringify(widgets));
    expect((await kubectl('apply', '--validate=false', '-f', crdFile)).stdout).toContain('customresourcedefinition.apiextensions.k8s.io/gadgets.example.io created');
    const resource = join(workDir, 'gadget.json');
    await writeFile(resource, JSON.stringify({ apiVersion: 'example.io/v1alpha1', kind: 'Gadget', metadata: { name: 'g1', namespace, labels: { size: 'big' } }, spec: { version: 'v1.0', replicas: 2 } }));
    expect((await kubectl('apply', '--validate=false', '-f', resource)).stdout).toContain('gadget.example.io/g1 created');
    await custom.patchNamespacedCustomObjectStatus({ group: 'example.io', version: 'v1alpha1', namespace, plural: 'gadgets', name: 'g1', body: { status: { phase: 'Ready' } } }, mergePatch);
    expect((await kubectl('-n', namespace, 'scale', 'gd', 'g1', '--replicas=3')).stdout).toContain('gadget.example.io/g1 scaled');
    const table = await kubectl('-n', namespace, 'get', 'gadgets', '-l', 'size=big');
    expect(table.stdout).toMatch(/^NAME\s+REPLICAS\s+PHASE\ng1\s+3\s+Ready\n$/);
    await writeFile(resource, JSON.stringify({ apiVersion: 'example.io/v1alpha1', kind: 'Gadget', metadata: { name: 'g1', namespace }, spec: { version: 'latest', replicas: 0 } }));
    const rejected = await kubectl('apply', '--validate=false', '-f', resource);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toContain('spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1');
    expect(rejected.stderr).toContain(`spec.version: Invalid value: "latest": spec.version in body should match '^v[0-9]+\\.[0-9]+$'`);
    expect((await kubectl('-n', namespace, 'delete', 'gd', 'g1')).stdout).toContain('gadget.example.io "g1" deleted');
    expect((await kubectl('-n', namespace, 'get', 'gadgets', '-o', 'json')).stdout).toContain('"items": []');
  });
});
