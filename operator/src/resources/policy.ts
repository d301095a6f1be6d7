/** PodDisruptionBudget and ServiceAccount of the data nodes. */
import type { V1PodDisruptionBudget, V1ServiceAccount } from '@kubernetes/client-node';
import type { PhantomCluster } from '../api/index.ts';
import { objectNames, ownedMeta, selectorLabels } from './meta.ts';

/**
 * At most `maxUnavailable` (1 unless the replication factor allows more) data nodes taken down
 * by voluntary disruptions such as node drains; undefined when the user disabled it.
 */
export function desiredPodDisruptionBudget(cluster: PhantomCluster): V1PodDisruptionBudget | undefined {
  const budget = cluster.spec.podDisruptionBudget;
  if (!budget.enabled) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMeta(cluster, objectNames(cluster).podDisruptionBudget, 'database'),
    spec: { maxUnavailable: budget.maxUnavailable, selector: { matchLabels: selectorLabels(cluster) } },
  };
}

/** The data nodes' ServiceAccount. They do not call the Kubernetes API, so no token is mounted. */
export function desiredServiceAccount(cluster: PhantomCluster): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: ownedMeta(cluster, objectNames(cluster).serviceAccount, 'database'),
    automountServiceAccountToken: false,
  };
}
