/**
 * The data nodes' StatefulSet. The operator, not the StatefulSet controller, decides when pods
 * restart (`updateStrategy: OnDelete`) and in which order membership changes, so:
 *
 * - `podManagementPolicy: Parallel`. With OrderedReady, pod N+1 waits for pod N to be Ready; but
 *   a data node is Ready only once a quorum of its ranges is reachable, so after a full outage
 *   (all pods gone, e.g. a zone restart) pod 0 would wait for pods 1..n that never start: a
 *   deadlock. Ordering of bootstrap (ordinal 0 initializes, others join) lives in the operator
 *   and the node's join retries; scale-in is done by the operator after decommissioning, so the
 *   controller's own ordering buys nothing.
 * - The pod template carries `phantomdb.io/pod-template-hash`, a hash of everything that shapes a
 *   pod (including the ConfigMap content); the operator compares it with each pod's to know which
 *   pods a rollout must still restart. It depends only on the template, never on the operator's
 *   version.
 */
import type { V1Affinity, V1Container, V1EnvVar, V1PersistentVolumeClaim, V1PodTemplateSpec, V1ResourceRequirements, V1StatefulSet, V1Toleration, V1TopologySpreadConstraint } from '@kubernetes/client-node';
import type { PhantomCluster, Quantity } from '../api/index.ts';
import { configFileName, configMountPath, desiredConfigMap } from './configmap.ts';
import { contentHash } from './hash.ts';
import { commonLabels, objectNames, ownedMeta, selectorLabels } from './meta.ts';
import { ports } from './ports.ts';

export const podTemplateHashAnnotation = 'phantomdb.io/pod-template-hash';
export const configHashAnnotation = 'phantomdb.io/config-hash';
export const defaultDataNodeImageRepository = 'ghcr.io/phantomdb/phantomdb-node';
export const dataMountPath = '/var/lib/phantomdb';
export const podInfoMountPath = '/etc/phantomdb/podinfo';
/** Where spec.backup.volume's claim is mounted in every data node pod (volume backup destinations are paths under it). */
export const backupVolumeMountPath = '/var/lib/phantomdb-backup';
/** The pod volume name of spec.backup.volume's claim. */
export const backupVolumeName = 'backup';
/** The user and group of the data node images (see datanode/Dockerfile). */
export const dataNodeUserId = 10001;
/** Time a node gets after SIGTERM to hand off leases and close its files cleanly. */
export const terminationGracePeriodSeconds = 60;

export interface StatefulSetOptions {
  /** Image repository used with `spec.version` when `spec.image` is not set. */
  readonly dataNodeImageRepository?: string;
}

/** The data node image: `spec.image`, or the repository tagged with `spec.version`. */
export function dataNodeImage(cluster: PhantomCluster, options: StatefulSetOptions = {}): string {
  return cluster.spec.image ?? `${options.dataNodeImageRepository ?? defaultDataNodeImageRepository}:${cluster.spec.version}`;
}

function quantities(list: Record<string, Quantity> | undefined): Record<string, string> | undefined {
  if (list === undefined) return undefined;
  return Object.fromEntries(Object.entries(list).map(([name, value]) => [name, String(value)]));
}

function resourceRequirements(cluster: PhantomCluster): V1ResourceRequirements {
  const requirements: V1ResourceRequirements = {};
  const requests = quantities(cluster.spec.resources?.requests);
  const limits = quantities(cluster.spec.resources?.limits);
  if (requests !== undefined) requirements.requests = requests;
  if (limits !== undefined) requirements.limits = limits;
  return requirements;
}

function fieldEnv(name: string, fieldPath: string): V1EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

/**
 * Node identity comes from the pod: its name (`<cluster>-<ordinal>`, stable across restarts, from
 * PHANTOMDB_NODE_NAME), its data directory (which records its node id: ordinal 0 bootstraps as
 * node 1, other new pods get a fresh id from the operator's joinNodes, never the ordinal) and the
 * stable DNS name under the headless Service, which the node advertises to its peers (a pod IP
 * changes on restart). See datanode/src/node/k8s-identity.ts.
 */
function environment(cluster: PhantomCluster): V1EnvVar[] {
  const names = objectNames(cluster);
  return [
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('POD_IP', 'status.podIP'),
    fieldEnv('NODE_NAME', 'spec.nodeName'),
    // Names the data node's config loader reads (datanode/src/node/config.ts).
    { name: 'PHANTOMDB_CLUSTER_ID', value: cluster.metadata.name },
    { name: 'PHANTOMDB_NODE_NAME', value: '$(POD_NAME)' },
    { name: 'PHANTOMDB_ADVERTISE_HOST', value: `$(POD_NAME).${names.headlessService}.$(POD_NAMESPACE).svc` },
    { name: 'PHANTOMDB_PEER_SERVICE', value: `${names.headlessService}.$(POD_NAMESPACE).svc` },
    { name: 'PHANTOMDB_CONFIG', value: `${configMountPath}/${configFileName}` },
    { name: 'PHANTOMDB_DATA_DIR', value: dataMountPath },
    { name: 'PHANTOMDB_TOPOLOGY_FILE', value: `${podInfoMountPath}/annotations` },
    // A cluster started from a backup: the node that bootstraps it ingests the backup first
    // (datanode/src/node/restore.ts; the Secret is written by controllers/restore.ts).
    ...(cluster.spec.bootstrap?.fromBackup === undefined ? [] : [{ name: 'PHANTOMDB_RESTORE_FROM', valueFrom: { secretKeyRef: { name: names.restoreSecret, key: restoreSecretKey } } }]),
  ];
}

/** The key of the restore Secret that holds the data node's --restore-from JSON. */
export const restoreSecretKey = 'restoreFrom';

function dataNodeContainer(cluster: PhantomCluster, options: StatefulSetOptions): V1Container {
  const container: V1Container = {
    name: 'phantomdb',
    image: dataNodeImage(cluster, options),
    args: ['start', '--config', `${configMountPath}/${configFileName}`, '--data-dir', dataMountPath],
    env: environment(cluster),
    ports: [
      { name: 'sql', containerPort: ports.sql, protocol: 'TCP' },
      { name: 'http', containerPort: ports.http, protocol: 'TCP' },
      { name: 'peer', containerPort: ports.peer, protocol: 'TCP' },
      { name: 'kv', containerPort: ports.kv, protocol: 'TCP' },
    ],
    resources: resourceRequirements(cluster),
    // Startup covers WAL replay after a crash; liveness then only restarts a wedged process.
    startupProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5, failureThreshold: 120, timeoutSeconds: 3 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 6, timeoutSeconds: 5 },
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 3 },
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'data', mountPath: dataMountPath },
      { name: 'config', mountPath: configMountPath, readOnly: true },
      { name: 'podinfo', mountPath: podInfoMountPath, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  if (cluster.spec.imagePullPolicy !== undefined) container.imagePullPolicy = cluster.spec.imagePullPolicy;
  // Only with a backup volume: a cluster without one keeps the template (and hash) it had.
  if (cluster.spec.backup?.volume !== undefined) container.volumeMounts?.push({ name: backupVolumeName, mountPath: backupVolumeMountPath });
  return container;
}

/** Without an affinity from the user, prefer one data node per machine. */
function affinity(cluster: PhantomCluster): V1Affinity {
  // spec.affinity is core/v1 Affinity, validated by the API server as free-form and passed as is.
  if (cluster.spec.affinity !== undefined) return cluster.spec.affinity as V1Affinity;
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels(cluster) } } }],
    },
  };
}

/** The user's spread constraints, counting the cluster's own data nodes when they name no selector. */
function topologySpreadConstraints(cluster: PhantomCluster): V1TopologySpreadConstraint[] | undefined {
  return cluster.spec.topologySpreadConstraints?.map((constraint) => {
    const { labelSelector, ...rest } = constraint;
    return { ...rest, labelSelector: labelSelector ?? { matchLabels: selectorLabels(cluster) } } as V1TopologySpreadConstraint;
  });
}

/** The pod template without its hash annotation. */
function podTemplate(cluster: PhantomCluster, options: StatefulSetOptions): V1PodTemplateSpec {
  const names = objectNames(cluster);
  const { spec } = cluster;
  // The file the nodes read, and the user's settings themselves: a setting the node does not take
  // yet (not in the file) still restarts the nodes, as spec.config documents.
  const configHash = contentHash({ file: desiredConfigMap(cluster).data, settings: spec.config });
  const annotations: Record<string, string> = { ...spec.podAnnotations, [configHashAnnotation]: configHash };
  const template: V1PodTemplateSpec = {
    metadata: { labels: { ...spec.podLabels, ...commonLabels(cluster, 'database'), 'app.kubernetes.io/version': spec.version }, annotations },
    spec: {
      serviceAccountName: names.serviceAccount,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: dataNodeUserId,
        runAsGroup: dataNodeUserId,
        fsGroup: dataNodeUserId,
        fsGroupChangePolicy: 'OnRootMismatch',
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [dataNodeContainer(cluster, options)],
      affinity: affinity(cluster),
      volumes: [
        { name: 'config', configMap: { name: names.configMap } },
        // The operator copies the node's topology labels onto the pod as annotations; the
        // downward API keeps this file current, so the node learns its locality without API access.
        { name: 'podinfo', downwardAPI: { items: [{ path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }, { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
      ],
    },
  };
  const podSpec = template.spec;
  if (podSpec === undefined) throw new Error('unreachable: pod spec was just built');
  const spreads = topologySpreadConstraints(cluster);
  if (spreads !== undefined) podSpec.topologySpreadConstraints = spreads;
  if (spec.nodeSelector !== undefined) podSpec.nodeSelector = spec.nodeSelector;
  if (spec.tolerations !== undefined) podSpec.tolerations = spec.tolerations as V1Toleration[];
  if (spec.priorityClassName !== undefined) podSpec.priorityClassName = spec.priorityClassName;
  if (spec.imagePullSecrets !== undefined) podSpec.imagePullSecrets = spec.imagePullSecrets.map((secret) => ({ name: secret.name }));
  if (spec.backup?.volume !== undefined) podSpec.volumes?.push({ name: backupVolumeName, persistentVolumeClaim: { claimName: spec.backup.volume.claimName } });
  return template;
}

/** Hash of a pod template (ignoring its own hash annotation): equal templates, equal hashes. */
export function podTemplateHash(template: V1PodTemplateSpec): string {
  const annotations = Object.fromEntries(Object.entries(template.metadata?.annotations ?? {}).filter(([key]) => key !== podTemplateHashAnnotation));
  return contentHash({ ...template, metadata: { ...template.metadata, annotations } });
}

function volumeClaimTemplate(cluster: PhantomCluster): V1PersistentVolumeClaim {
  const claim: V1PersistentVolumeClaim = {
    metadata: { name: 'data', labels: selectorLabels(cluster) },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: String(cluster.spec.storage.size) } } },
  };
  if (cluster.spec.storage.storageClassName !== undefined && claim.spec !== undefined) claim.spec.storageClassName = cluster.spec.storage.storageClassName;
  return claim;
}

/**
 * The StatefulSet of the data nodes, with `replicas` as given: the controller passes the count it
 * has reached (scale-in lowers it only after decommissioning), not necessarily `spec.replicas`.
 */
export function desiredStatefulSet(cluster: PhantomCluster, replicas: number, options: StatefulSetOptions = {}): V1StatefulSet {
  if (!Number.isInteger(replicas) || replicas < 0) throw new RangeError(`replicas must be a non-negative integer, not ${replicas}`);
  const names = objectNames(cluster);
  const template = podTemplate(cluster, options);
  const hash = podTemplateHash(template);
  const annotated: V1PodTemplateSpec = { ...template, metadata: { ...template.metadata, annotations: { ...template.metadata?.annotations, [podTemplateHashAnnotation]: hash } } };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: ownedMeta(cluster, names.statefulSet, 'database', { annotations: { [podTemplateHashAnnotation]: hash } }),
    spec: {
      replicas,
      serviceName: names.headlessService,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      selector: { matchLabels: selectorLabels(cluster) },
      template: annotated,
      volumeClaimTemplates: [volumeClaimTemplate(cluster)],
      // Scale-in removes a volume itself, after the node is decommissioned, per the reclaim policy.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: cluster.spec.storage.reclaimPolicy, whenScaled: 'Retain' },
      revisionHistoryLimit: 5,
    },
  };
}
