/**
 * PhantomCluster (`phantomdb.io/v1alpha1`): a replicated PhantomDB cluster. This zod schema is
 * the single source of truth: `crds/phantomclusters.phantomdb.io.yaml` is generated from it
 * (`npm run crds:gen`) and the operator validates with it (`validateClusterSpec`).
 */
import { z } from 'zod';
import { apiVersion, conditionSchema, dnsLabelSchema, dnsSubdomainSchema, freeFormObject, positiveQuantitySchema, quantitySchema, timestampSchema } from './common.ts';
import { backupDestinationSchema } from './destination.ts';
import { withRules } from './rules.ts';

export const clusterKind = 'PhantomCluster';

/** Longest cluster name: the StatefulSet adds "-<ordinal>" and a 10-character revision hash label. */
export const clusterNameLengthMax = 52;
export const clusterReplicasMax = 256;
const clusterNameMessage = `metadata.name must be a lowercase DNS label of at most ${clusterNameLengthMax} characters (pod and volume names are derived from it)`;

const resourceListSchema = z.record(z.string(), quantitySchema);

export const resourcesSchema = z
  .object({
    requests: resourceListSchema.optional().describe('Minimum resources (cpu, memory) the scheduler reserves for each data node.'),
    limits: resourceListSchema.optional().describe('Maximum resources of each data node.'),
  })
  .describe('Compute resources of each data node container.');

export const storageSchema = withRules(
  z
    .object({
      size: positiveQuantitySchema.describe('Size of each data node\'s volume, e.g. "100Gi". It can grow (where the StorageClass allows expansion), never shrink.'),
      storageClassName: z.string().min(1).max(253).optional().describe('StorageClass of the volumes; the cluster default when empty. Immutable.'),
      reclaimPolicy: z
        .enum(['Retain', 'Delete'])
        .default('Retain')
        .describe('What happens to a volume when its node is removed by scale-in or the cluster is deleted: Retain keeps it, Delete deletes it.'),
    })
    .describe('Persistent storage of each data node (one PersistentVolumeClaim per node).'),
  [
    {
      rule: 'has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)',
      message: 'spec.storage.storageClassName is immutable',
      fieldPath: '.storageClassName',
    },
  ],
);

export const topologySpreadConstraintSchema = z.object({
  maxSkew: z.number().int().min(1).describe('Largest allowed difference in data nodes between two topology domains.'),
  topologyKey: z.string().min(1).max(316).describe('Node label whose values are the domains, e.g. topology.kubernetes.io/zone.'),
  whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']).default('DoNotSchedule'),
  labelSelector: freeFormObject('Pods counted in a domain; the cluster\'s own data nodes when empty.'),
  minDomains: z.number().int().min(1).optional(),
  nodeAffinityPolicy: z.enum(['Honor', 'Ignore']).optional(),
  nodeTaintsPolicy: z.enum(['Honor', 'Ignore']).optional(),
  matchLabelKeys: z.array(z.string()).optional(),
});

export const podDisruptionBudgetSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Create a PodDisruptionBudget for the data nodes.'),
    maxUnavailable: z.number().int().min(1).default(1).describe('Data nodes that voluntary disruptions (drains) may take down at once.'),
  })
  .describe('Protection of the data nodes against voluntary disruptions.');

export const serviceSchema = z
  .object({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).default('ClusterIP').describe('Type of the client Service (ports 5432 and 8080).'),
    annotations: z.record(z.string(), z.string()).optional().describe('Annotations of the client Service, e.g. for a cloud load balancer.'),
    labels: z.record(z.string(), z.string()).optional().describe('Extra labels of the client Service.'),
  })
  .describe('The client Service.');

/** Data node settings the operator knows; `extraSettings` passes anything else through as strings. */
export const dataNodeConfigSchema = z
  .object({
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    raft: z
      .object({
        heartbeatIntervalMs: z.number().int().min(10).max(10_000).optional(),
        electionTimeoutMs: z.number().int().min(100).max(60_000).optional(),
        snapshotIntervalEntries: z.number().int().min(1).optional(),
      })
      .optional(),
    storage: z
      .object({
        memtableBytesMax: z.number().int().min(65_536).optional(),
        blockCacheBytes: z.number().int().min(0).optional(),
        compactionBytesPerSecMax: z.number().int().min(0).optional(),
        syncWritesByDefault: z.boolean().optional(),
        verifyChecksums: z.boolean().optional(),
      })
      .optional(),
    sql: z
      .object({
        connectionsMax: z.number().int().min(1).max(100_000).optional(),
        statementTimeoutMs: z.number().int().min(0).optional(),
      })
      .optional(),
    extraSettings: z.record(z.string(), z.string()).optional().describe('Further settings by name, passed to the data node unchanged.'),
  })
  .describe('Data node settings, written to the ConfigMap the nodes read. Changing them restarts the nodes one at a time.');

export const fromBackupSchema = withRules(
  z.object({
    backupName: dnsSubdomainSchema.optional().describe('A PhantomBackup in the namespace of the cluster.'),
    destination: backupDestinationSchema.optional().describe('Where the backup is, when it is not known as a PhantomBackup.'),
    backupId: z.string().min(1).max(128).optional().describe('Backup ID within destination.'),
    upToBackupId: z.string().min(1).max(128).optional().describe('Restore an incremental chain up to and including this backup.'),
  }),
  [
    {
      rule: 'has(self.backupName) != has(self.destination)',
      message: 'spec.bootstrap.fromBackup needs exactly one of backupName or destination',
      check: (value) => ((value.backupName === undefined) === (value.destination === undefined) ? 'spec.bootstrap.fromBackup needs exactly one of backupName or destination' : undefined),
    },
    {
      rule: '!has(self.destination) || has(self.backupId)',
      message: 'spec.bootstrap.fromBackup.backupId is required with destination',
      fieldPath: '.backupId',
      check: (value) => (value.destination !== undefined && value.backupId === undefined ? 'spec.bootstrap.fromBackup.backupId is required with destination' : undefined),
    },
  ],
);

export const bootstrapSchema = withRules(
  z.object({ fromBackup: fromBackupSchema.optional().describe('Start the cluster from a backup instead of empty.') }).describe('How a new cluster gets its first data. Immutable.'),
  [{ rule: 'self == oldSelf', message: 'spec.bootstrap is immutable' }],
);

export const clusterBackupSchema = z
  .object({
    volume: z
      .object({
        claimName: dnsLabelSchema.describe(
          'PersistentVolumeClaim in the namespace of the cluster, mounted into every data node pod at /var/lib/phantomdb-backup, so that PhantomBackups with destination.volume naming this claim can be taken and restored. It must exist before the pods start; with more than one data node it must be ReadWriteMany (every node writes the ranges it leads). Setting or changing it restarts the nodes one at a time.',
        ),
      })
      .optional()
      .describe('A volume that backups of this cluster are written to and restored from.'),
  })
  .describe('Backup settings of the data nodes.');

export const rolloutSchema = z
  .object({
    podReadyTimeoutSeconds: z
      .number()
      .int()
      .min(5)
      .max(86_400)
      .default(600)
      .describe('How long a restarted data node may take to be Ready, rejoined and fully replicated before the rollout pauses (Degraded condition and a Warning event naming the node).'),
  })
  .describe('How changes to the pod template (version, image, config, resources) are rolled out: one node at a time, highest ordinal first.');

const clusterSpecFields = z.object({
  replicas: z.number().int().min(1).max(clusterReplicasMax).default(3).describe('Number of data nodes.'),
  replicationFactor: z
    .literal([1, 3, 5, 7], { error: 'spec.replicationFactor must be 1, 3, 5 or 7: an odd number of replicas keeps a majority through a failure' })
    .default(3)
    .describe('Replicas of each range. Odd, at most spec.replicas.'),
  version: z
    .string()
    .regex(/^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$/, { error: 'spec.version must be a version such as "1.2.3"' })
    .describe('PhantomDB version of the data nodes; it selects the image tag unless spec.image is set.'),
  image: z.string().min(1).max(512).optional().describe('Full image reference of the data nodes, overriding the one derived from spec.version.'),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  imagePullSecrets: z.array(z.object({ name: dnsSubdomainSchema })).optional(),
  resources: resourcesSchema.optional(),
  storage: storageSchema,
  affinity: freeFormObject('Kubernetes affinity of the data node pods (core/v1 Affinity).'),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  tolerations: z.array(z.record(z.string(), z.unknown())).optional().describe('Kubernetes tolerations (core/v1 Toleration) of the data node pods.'),
  topologySpreadConstraints: z.array(topologySpreadConstraintSchema).max(8).optional().describe('How data nodes spread over zones and hosts.'),
  topologyKeys: z
    .array(z.string().min(1).max(316))
    .max(8)
    .default(['topology.kubernetes.io/region', 'topology.kubernetes.io/zone'])
    .describe('Node labels, outermost first, that tell the data nodes their locality so replicas spread across them.'),
  priorityClassName: z.string().min(1).max(253).optional(),
  podAnnotations: z.record(z.string(), z.string()).optional().describe('Extra annotations of the data node pods.'),
  podLabels: z.record(z.string(), z.string()).optional().describe('Extra labels of the data node pods.'),
  podDisruptionBudget: podDisruptionBudgetSchema.prefault({}),
  service: serviceSchema.prefault({}),
  config: dataNodeConfigSchema.prefault({}),
  rollout: rolloutSchema.prefault({}),
  paused: z.boolean().default(false).describe('Stop all changes the operator makes to the cluster (status is still updated).'),
  bootstrap: bootstrapSchema.optional(),
  backup: clusterBackupSchema.optional(),
});

export const clusterSpecSchema = withRules(clusterSpecFields.describe('Desired state of a PhantomDB cluster.'), [
  {
    rule: 'self.replicationFactor <= self.replicas',
    message: 'spec.replicationFactor must not exceed spec.replicas',
    messageExpression: "'spec.replicationFactor (' + string(self.replicationFactor) + ') must not exceed spec.replicas (' + string(self.replicas) + ')'",
    fieldPath: '.replicationFactor',
    check: (spec) => (spec.replicationFactor > spec.replicas ? `spec.replicationFactor (${spec.replicationFactor}) must not exceed spec.replicas (${spec.replicas})` : undefined),
  },
  {
    rule: '!self.podDisruptionBudget.enabled || self.podDisruptionBudget.maxUnavailable == 1 || self.podDisruptionBudget.maxUnavailable * 2 < self.replicationFactor',
    message: 'spec.podDisruptionBudget.maxUnavailable must leave a majority of every range up',
    messageExpression:
      "'spec.podDisruptionBudget.maxUnavailable (' + string(self.podDisruptionBudget.maxUnavailable) + ') must be 1 or less than half of spec.replicationFactor (' + string(self.replicationFactor) + ')'",
    fieldPath: '.podDisruptionBudget.maxUnavailable',
    check: (spec) => {
      const { enabled, maxUnavailable } = spec.podDisruptionBudget;
      if (!enabled || maxUnavailable === 1 || maxUnavailable * 2 < spec.replicationFactor) return undefined;
      return `spec.podDisruptionBudget.maxUnavailable (${maxUnavailable}) must be 1 or less than half of spec.replicationFactor (${spec.replicationFactor})`;
    },
  },
]);
export type PhantomClusterSpec = z.output<typeof clusterSpecSchema>;
export type PhantomClusterSpecInput = z.input<typeof clusterSpecSchema>;

/** Condition types the operator sets on a cluster. */
export const clusterConditionTypes = ['Available', 'Progressing', 'Degraded', 'ScalingUp', 'ScalingDown', 'Rebalancing', 'Upgrading', 'VolumeExpansion'] as const;
export type ClusterConditionType = (typeof clusterConditionTypes)[number];

export const clusterPhaseSchema = z.enum(['Pending', 'Bootstrapping', 'Running', 'Scaling', 'Upgrading', 'Degraded', 'Paused', 'Failed']);
export type ClusterPhase = z.output<typeof clusterPhaseSchema>;

export const nodeStatusSchema = z.object({
  pod: z.string().min(1).describe('Pod of the data node.'),
  ordinal: z.number().int().min(0).describe('StatefulSet ordinal of the pod.'),
  id: z.string().max(32).optional().describe('Node ID the cluster assigned when the node joined.'),
  role: z.enum(['Bootstrap', 'Joining', 'Member', 'Draining', 'Decommissioning', 'Decommissioned']).describe('Membership of the node in the cluster.'),
  health: z.enum(['Healthy', 'Unhealthy', 'Unreachable', 'Unknown']),
  version: z.string().max(64).optional().describe('Version the data node process reports (admin NodeInfo).'),
  podVersion: z.string().max(64).optional().describe('spec.version the node\'s pod was created from (its app.kubernetes.io/version label).'),
  podTemplateHash: z.string().max(64).optional().describe('Pod template hash of the node\'s pod; equal to status.podTemplateHash once the node is rolled.'),
  locality: z.string().max(512).optional().describe('Topology of the node, e.g. "region=eu-west-1,zone=eu-west-1a".'),
  ranges: z.number().int().min(0).optional().describe('Range replicas on the node.'),
  leases: z.number().int().min(0).optional().describe('Range leases held by the node.'),
});
export type NodeStatus = z.output<typeof nodeStatusSchema>;

export const operationKindSchema = z.enum(['ScaleOut', 'ScaleIn', 'RollingUpgrade', 'Restart', 'VolumeExpansion', 'Restore']);
export type OperationKind = z.output<typeof operationKindSchema>;

export const operationSchema = z
  .object({
    kind: operationKindSchema,
    step: z.string().min(1).max(128).describe('The step reached; a restarted operator resumes here.'),
    startedAt: timestampSchema,
    stepStartedAt: timestampSchema.optional(),
    generation: z.number().int().min(0).optional().describe('The .metadata.generation that started the operation.'),
    details: z.record(z.string(), z.unknown()).optional().describe('What the step needs to resume (nodes to remove, versions, progress).'),
  })
  .describe('Journal of the disruptive operation in progress (one at a time per cluster).');
export type ClusterOperation = z.output<typeof operationSchema>;

export const clusterStatusSchema = z
  .object({
    observedGeneration: z.number().int().min(0).optional(),
    phase: clusterPhaseSchema.optional(),
    message: z.string().max(4096).optional().describe('A summary of the phase for people.'),
    conditions: z.array(conditionSchema).max(32).optional().meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    replicas: z.number().int().min(0).optional().describe('Data node pods that exist.'),
    readyReplicas: z.number().int().min(0).optional().describe('Data node pods that are ready.'),
    selector: z.string().optional().describe('Label selector of the data node pods (for the scale subresource).'),
    currentVersion: z.string().optional().describe('Version every data node runs; during an upgrade, the version being left.'),
    clusterVersion: z
      .string()
      .max(64)
      .optional()
      .describe('The version the whole cluster has been finalized at: set only after every data node runs it (a rollout completed); features of a new version may rely on it.'),
    dataClusterVersion: z
      .string()
      .max(64)
      .optional()
      .describe("The data nodes' own cluster version (their replicated record), as FinalizeClusterVersion set it at the end of the last upgrade."),
    clusterId: z.string().max(64).optional(),
    podTemplateHash: z.string().max(64).optional().describe('Hash of the pod template every node has been rolled to (set when a rollout completes).'),
    nodes: z.array(nodeStatusSchema).max(clusterReplicasMax).optional().meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['pod'] }),
    operation: operationSchema.optional(),
  })
  .describe('Observed state of a PhantomDB cluster, written by the operator.');
export type PhantomClusterStatus = z.output<typeof clusterStatusSchema>;

/** The metadata fields the operator reads; the API server owns the rest. */
export const objectMetaSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const phantomClusterSchema = withRules(
  z.object({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(clusterKind),
    metadata: objectMetaSchema,
    spec: clusterSpecSchema,
    status: clusterStatusSchema.optional(),
  }),
  [
    {
      rule: `self.metadata.name.size() <= ${clusterNameLengthMax} && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')`,
      message: clusterNameMessage,
      fieldPath: '.metadata.name',
      check: (cluster) => (cluster.metadata.name.length <= clusterNameLengthMax && dnsLabelSchema.safeParse(cluster.metadata.name).success ? undefined : clusterNameMessage),
    },
  ],
);
export type PhantomCluster = z.output<typeof phantomClusterSchema>;
export type PhantomClusterInput = z.input<typeof phantomClusterSchema>;
