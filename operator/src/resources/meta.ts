/**
 * Names, labels and owner references shared by every object built for a PhantomCluster.
 */
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { apiVersion, clusterKind, type PhantomCluster } from '../api/index.ts';

/** The label keys and values of the data node pods that never change over a cluster's life. */
export function selectorLabels(cluster: PhantomCluster): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'phantomdb',
    'app.kubernetes.io/instance': cluster.metadata.name,
  };
}

/** The label selector of the data node pods as a string (for `status.selector` and the scale subresource). */
export function selectorString(cluster: PhantomCluster): string {
  return Object.entries(selectorLabels(cluster))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** Recommended labels (`app.kubernetes.io/*`) of an object of `component`. */
export function commonLabels(cluster: PhantomCluster, component: string): Record<string, string> {
  return {
    ...selectorLabels(cluster),
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'phantomdb',
    'app.kubernetes.io/managed-by': 'phantomdb-operator',
  };
}

/** Names of the objects of a cluster; the StatefulSet's pods are `<name>-<ordinal>`. */
export function objectNames(cluster: PhantomCluster): {
  readonly statefulSet: string;
  readonly headlessService: string;
  readonly clientService: string;
  readonly configMap: string;
  readonly serviceAccount: string;
  readonly podDisruptionBudget: string;
  /** The Secret with the backup a new cluster starts from (spec.bootstrap.fromBackup only). */
  readonly restoreSecret: string;
} {
  const name = cluster.metadata.name;
  return {
    statefulSet: name,
    headlessService: `${name}-nodes`,
    clientService: name,
    configMap: `${name}-config`,
    serviceAccount: `${name}-node`,
    podDisruptionBudget: name,
    restoreSecret: `${name}-restore`,
  };
}

/**
 * The controller owner reference to the cluster: deleting the cluster deletes every object that
 * carries it. The cluster must have been read from the API server (it needs its uid).
 */
export function ownerReference(cluster: PhantomCluster): V1OwnerReference {
  const uid = cluster.metadata.uid;
  if (uid === undefined || uid === '') throw new Error(`PhantomCluster ${cluster.metadata.name} has no metadata.uid: build desired objects from a cluster read from the API server`);
  return { apiVersion, kind: clusterKind, name: cluster.metadata.name, uid, controller: true, blockOwnerDeletion: true };
}

/** Metadata of an object owned by the cluster. */
export function ownedMeta(cluster: PhantomCluster, name: string, component: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): V1ObjectMeta {
  const meta: V1ObjectMeta = { name };
  if (cluster.metadata.namespace !== undefined) meta.namespace = cluster.metadata.namespace;
  meta.labels = { ...extra.labels, ...commonLabels(cluster, component) };
  meta.ownerReferences = [ownerReference(cluster)];
  if (extra.annotations !== undefined && Object.keys(extra.annotations).length > 0) meta.annotations = { ...extra.annotations };
  return meta;
}
