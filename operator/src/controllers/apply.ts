/**
 * Create-or-update of the objects a cluster owns, writing only when what we want differs from
 * what exists. "Differs" means a field we set has another value: fields the API server or other
 * controllers add (defaults, clusterIP, status) do not count, so a settled cluster causes no
 * writes at all.
 */
import type { AppsV1Api, CoreV1Api, KubernetesObject, PolicyV1Api, V1ObjectMeta, V1ConfigMap, V1PodDisruptionBudget, V1Service, V1ServiceAccount, V1StatefulSet, V1StatefulSetSpec } from '@kubernetes/client-node';
import { isNotFound } from '../kube/errors.ts';

/** Whether every field of `desired` has the same value in `actual` (objects recursively; arrays by position and length). */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') {
    if (desired instanceof Date || actual instanceof Date) return new Date(String(desired)).getTime() === new Date(String(actual)).getTime();
    return desired === actual || (typeof desired === 'number' && typeof actual === 'string' && String(desired) === actual);
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || actual.length !== desired.length) return false;
    return desired.every((item, index) => isSubset(item, actual[index]));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const actualRecord = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([key, value]) => isSubset(value, actualRecord[key]));
}

export interface KindClient<T extends KubernetesObject> {
  readonly kind: string;
  read(namespace: string, name: string): Promise<T>;
  create(namespace: string, body: T): Promise<T>;
  replace(namespace: string, name: string, body: T): Promise<T>;
  delete(namespace: string, name: string): Promise<void>;
  /** The object we would PUT: `existing` with what we manage taken from `desired`. */
  merge(existing: T, desired: T): T;
}

/** The parts of an object we manage: everything but apiVersion/kind/status and server-owned metadata. */
function managedView(object: KubernetesObject & Record<string, unknown>): Record<string, unknown> {
  const { apiVersion: _apiVersion, kind: _kind, metadata, status: _status, ...body } = object;
  return { ...body, metadata: { labels: metadata?.labels, annotations: metadata?.annotations, ownerReferences: metadata?.ownerReferences } };
}

function mergeMeta<T extends KubernetesObject>(existing: T, desired: T): V1ObjectMeta {
  return {
    ...existing.metadata,
    labels: { ...existing.metadata?.labels, ...desired.metadata?.labels },
    annotations: { ...existing.metadata?.annotations, ...desired.metadata?.annotations },
    ownerReferences: desired.metadata?.ownerReferences ?? existing.metadata?.ownerReferences ?? [],
  };
}

export type EnsureResult<T> = { readonly action: 'created' | 'updated' | 'unchanged'; readonly object: T };

/** Creates `desired` when absent, replaces it when a managed field differs, else leaves it. */
export async function ensureObject<T extends KubernetesObject>(client: KindClient<T>, desired: T): Promise<EnsureResult<T>> {
  const namespace = desired.metadata?.namespace ?? '';
  const name = desired.metadata?.name ?? '';
  let existing: T;
  try {
    existing = await client.read(namespace, name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return { action: 'created', object: await client.create(namespace, desired) };
  }
  // Compare what we would write (immutable fields already carried over from `existing`).
  const next = client.merge(existing, desired);
  if (isSubset(managedView(next as T & Record<string, unknown>), existing)) return { action: 'unchanged', object: existing };
  return { action: 'updated', object: await client.replace(namespace, name, next) };
}

/** Deletes the object if it exists; true when something was deleted. */
export async function deleteIfExists<T extends KubernetesObject>(client: KindClient<T>, namespace: string, name: string): Promise<boolean> {
  try {
    await client.delete(namespace, name);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

export interface KindClients {
  readonly serviceAccount: KindClient<V1ServiceAccount>;
  readonly configMap: KindClient<V1ConfigMap>;
  readonly service: KindClient<V1Service>;
  readonly podDisruptionBudget: KindClient<V1PodDisruptionBudget>;
  readonly statefulSet: KindClient<V1StatefulSet>;
}

export function kindClients(core: CoreV1Api, apps: AppsV1Api, policy: PolicyV1Api): KindClients {
  return {
    serviceAccount: {
      kind: 'ServiceAccount',
      read: (namespace, name) => core.readNamespacedServiceAccount({ namespace, name }),
      create: (namespace, body) => core.createNamespacedServiceAccount({ namespace, body }),
      replace: (namespace, name, body) => core.replaceNamespacedServiceAccount({ namespace, name, body }),
      delete: async (namespace, name) => void (await core.deleteNamespacedServiceAccount({ namespace, name })),
      merge: (existing, desired) => ({ ...existing, metadata: mergeMeta(existing, desired), automountServiceAccountToken: desired.automountServiceAccountToken ?? false }),
    },
    configMap: {
      kind: 'ConfigMap',
      read: (namespace, name) => core.readNamespacedConfigMap({ namespace, name }),
      create: (namespace, body) => core.createNamespacedConfigMap({ namespace, body }),
      replace: (namespace, name, body) => core.replaceNamespacedConfigMap({ namespace, name, body }),
      delete: async (namespace, name) => void (await core.deleteNamespacedConfigMap({ namespace, name })),
      merge: (existing, desired) => ({ ...existing, metadata: mergeMeta(existing, desired), data: desired.data ?? {} }),
    },
    service: {
      kind: 'Service',
      read: (namespace, name) => core.readNamespacedService({ namespace, name }),
      create: (namespace, body) => core.createNamespacedService({ namespace, body }),
      replace: (namespace, name, body) => core.replaceNamespacedService({ namespace, name, body }),
      delete: async (namespace, name) => void (await core.deleteNamespacedService({ namespace, name })),
      // The cluster IP is allocated by the API server and immutable: keep it.
      merge: (existing, desired) => {
        const spec = { ...existing.spec, ...desired.spec };
        if (existing.spec?.clusterIP !== undefined) spec.clusterIP = existing.spec.clusterIP;
        if (existing.spec?.clusterIPs !== undefined) spec.clusterIPs = existing.spec.clusterIPs;
        return { ...existing, metadata: mergeMeta(existing, desired), spec };
      },
    },
    podDisruptionBudget: {
      kind: 'PodDisruptionBudget',
      read: (namespace, name) => policy.readNamespacedPodDisruptionBudget({ namespace, name }),
      create: (namespace, body) => policy.createNamespacedPodDisruptionBudget({ namespace, body }),
      replace: (namespace, name, body) => policy.replaceNamespacedPodDisruptionBudget({ namespace, name, body }),
      delete: async (namespace, name) => void (await policy.deleteNamespacedPodDisruptionBudget({ namespace, name })),
      merge: (existing, desired) => ({ ...existing, metadata: mergeMeta(existing, desired), spec: desired.spec ?? {} }),
    },
    statefulSet: {
      kind: 'StatefulSet',
      read: (namespace, name) => apps.readNamespacedStatefulSet({ namespace, name }),
      create: (namespace, body) => apps.createNamespacedStatefulSet({ namespace, body }),
      replace: (namespace, name, body) => apps.replaceNamespacedStatefulSet({ namespace, name, body }),
      delete: async (namespace, name) => void (await apps.deleteNamespacedStatefulSet({ namespace, name })),
      // Volume claim templates, the selector and the service name are immutable after creation;
      // volume growth is a separate operation on the claims themselves.
      merge: (existing, desired) => {
        if (desired.spec === undefined || existing.spec === undefined) return { ...existing, metadata: mergeMeta(existing, desired) };
        const spec: V1StatefulSetSpec = { ...desired.spec, selector: existing.spec.selector };
        if (existing.spec.serviceName !== undefined) spec.serviceName = existing.spec.serviceName;
        if (existing.spec.podManagementPolicy !== undefined) spec.podManagementPolicy = existing.spec.podManagementPolicy;
        if (existing.spec.volumeClaimTemplates !== undefined) spec.volumeClaimTemplates = existing.spec.volumeClaimTemplates;
        return { ...existing, metadata: mergeMeta(existing, desired), spec };
      },
    },
  };
}
