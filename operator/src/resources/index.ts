/**
 * Desired Kubernetes objects of a PhantomCluster, built by pure functions: same cluster in, same
 * objects out, no I/O. The controllers compare them with what exists and apply the difference.
 */
import type { V1ConfigMap, V1PodDisruptionBudget, V1Service, V1ServiceAccount, V1StatefulSet } from '@kubernetes/client-node';
import type { PhantomCluster } from '../api/index.ts';
import { desiredConfigMap } from './configmap.ts';
import { desiredPodDisruptionBudget, desiredServiceAccount } from './policy.ts';
import { desiredClientService, desiredHeadlessService } from './services.ts';
import { desiredStatefulSet, type StatefulSetOptions } from './statefulset.ts';

export * from './configmap.ts';
export * from './hash.ts';
export * from './meta.ts';
export * from './policy.ts';
export * from './ports.ts';
export * from './rbac.ts';
export * from './services.ts';
export * from './statefulset.ts';

export interface DesiredClusterObjects {
  readonly serviceAccount: V1ServiceAccount;
  readonly headlessService: V1Service;
  readonly clientService: V1Service;
  readonly configMap: V1ConfigMap;
  readonly statefulSet: V1StatefulSet;
  /** Absent when `spec.podDisruptionBudget.enabled` is false (an existing one should be deleted). */
  readonly podDisruptionBudget: V1PodDisruptionBudget | undefined;
}

/**
 * Every object of a cluster. `replicas` is the StatefulSet size the controller wants now
 * (defaults to `spec.replicas`). The cluster must carry `metadata.uid` (owner references).
 */
export function desiredClusterObjects(cluster: PhantomCluster, replicas: number = cluster.spec.replicas, options: StatefulSetOptions = {}): DesiredClusterObjects {
  return {
    serviceAccount: desiredServiceAccount(cluster),
    headlessService: desiredHeadlessService(cluster),
    clientService: desiredClientService(cluster),
    configMap: desiredConfigMap(cluster),
    statefulSet: desiredStatefulSet(cluster, replicas, options),
    podDisruptionBudget: desiredPodDisruptionBudget(cluster),
  };
}

/** The objects in the order they should be applied (dependencies first). */
export function desiredObjectList(objects: DesiredClusterObjects): readonly (V1ServiceAccount | V1Service | V1ConfigMap | V1StatefulSet | V1PodDisruptionBudget)[] {
  const list = [objects.serviceAccount, objects.configMap, objects.headlessService, objects.clientService, objects.statefulSet];
  return objects.podDisruptionBudget === undefined ? list : [...list, objects.podDisruptionBudget];
}
