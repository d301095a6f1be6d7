/**
 * Every Kubernetes permission the operator needs, in ONE place. The Helm chart's ClusterRole and
 * Role are checked against this list by a test (both ways: nothing missing, nothing extra), so a
 * new API call in a controller starts here.
 */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface OperatorPermission {
  readonly apiGroup: string;
  /** Plural resource, with `/subresource` where it applies. */
  readonly resource: string;
  readonly verbs: readonly Verb[];
  /**
   * `cluster`: in every namespace the operator watches (ClusterRole). `operator-namespace`: only
   * where the operator runs (Role), e.g. its leader election Lease.
   */
  readonly scope: 'cluster' | 'operator-namespace';
  /** Why the operator needs it. */
  readonly reason: string;
}

const read: readonly Verb[] = ['get', 'list', 'watch'];
const manage: readonly Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

export const operatorPermissions: readonly OperatorPermission[] = [
  { apiGroup: 'phantomdb.io', resource: 'phantomclusters', verbs: [...read, 'update', 'patch'], scope: 'cluster', reason: 'reconcile clusters; add and remove finalizers' },
  { apiGroup: 'phantomdb.io', resource: 'phantomclusters/status', verbs: ['get', 'update', 'patch'], scope: 'cluster', reason: 'report status and the operation journal' },
  { apiGroup: 'phantomdb.io', resource: 'phantomclusters/scale', verbs: ['get', 'update', 'patch'], scope: 'cluster', reason: 'the scale subresource (autoscalers, kubectl scale)' },
  { apiGroup: 'phantomdb.io', resource: 'phantomclusters/finalizers', verbs: ['update'], scope: 'cluster', reason: 'owner references with blockOwnerDeletion to a cluster' },
  { apiGroup: 'phantomdb.io', resource: 'phantombackups', verbs: [...read, 'create', 'update', 'patch', 'delete'], scope: 'cluster', reason: 'run backups; scheduled backups create them and retention deletes them' },
  { apiGroup: 'phantomdb.io', resource: 'phantombackups/status', verbs: ['get', 'update', 'patch'], scope: 'cluster', reason: 'report backup progress' },
  { apiGroup: 'phantomdb.io', resource: 'phantombackups/finalizers', verbs: ['update'], scope: 'cluster', reason: 'owner references to backups' },
  { apiGroup: 'phantomdb.io', resource: 'phantomscheduledbackups', verbs: [...read, 'update', 'patch'], scope: 'cluster', reason: 'run schedules; finalizers' },
  { apiGroup: 'phantomdb.io', resource: 'phantomscheduledbackups/status', verbs: ['get', 'update', 'patch'], scope: 'cluster', reason: 'last and next schedule times' },
  { apiGroup: 'phantomdb.io', resource: 'phantomscheduledbackups/finalizers', verbs: ['update'], scope: 'cluster', reason: 'owner references from the backups a schedule creates' },
  { apiGroup: 'apps', resource: 'statefulsets', verbs: manage, scope: 'cluster', reason: 'the data nodes' },
  { apiGroup: '', resource: 'services', verbs: manage, scope: 'cluster', reason: 'headless and client Services' },
  { apiGroup: '', resource: 'configmaps', verbs: manage, scope: 'cluster', reason: 'data node configuration' },
  { apiGroup: '', resource: 'serviceaccounts', verbs: manage, scope: 'cluster', reason: 'the data nodes\' ServiceAccount' },
  { apiGroup: 'policy', resource: 'poddisruptionbudgets', verbs: manage, scope: 'cluster', reason: 'at most one data node down' },
  { apiGroup: '', resource: 'pods', verbs: [...read, 'patch', 'delete'], scope: 'cluster', reason: 'watch readiness; annotate locality; delete a pod to roll it (OnDelete)' },
  { apiGroup: '', resource: 'persistentvolumeclaims', verbs: [...read, 'patch', 'delete'], scope: 'cluster', reason: 'expand volumes; delete them after scale-in per the reclaim policy' },
  { apiGroup: '', resource: 'secrets', verbs: ['get', 'create'], scope: 'cluster', reason: 'object store credentials of backups; the backup a new cluster starts from' },
  { apiGroup: '', resource: 'nodes', verbs: read, scope: 'cluster', reason: 'topology labels of the machines the data nodes run on' },
  { apiGroup: 'storage.k8s.io', resource: 'storageclasses', verbs: ['get', 'list'], scope: 'cluster', reason: 'whether a StorageClass allows volume expansion (spec.storage.size increases)' },
  { apiGroup: '', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', reason: 'events for every decision a user should see' },
  { apiGroup: 'events.k8s.io', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', reason: 'events through the events.k8s.io API' },
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'], scope: 'operator-namespace', reason: 'leader election between operator replicas' },
];

/** One permission as `(group, resource, verb, scope)` tuples, for coverage checks. */
export function permissionTuples(permissions: readonly OperatorPermission[] = operatorPermissions): string[] {
  return permissions.flatMap((permission) => permission.verbs.map((verb) => `${permission.scope} ${permission.apiGroup === '' ? 'core' : permission.apiGroup} ${permission.resource} ${verb}`));
}
