/**
 * The CustomResourceDefinitions of the PhantomDB kinds, built from the zod schemas. Pure: the
 * generator (`scripts/gen-crds.ts`) writes them to `crds/` and to the Helm chart, and a test
 * regenerates them in memory to prove the committed files are not stale.
 */
import { stringify } from 'yaml';
import type { z } from 'zod';
import { phantomBackupSchema, phantomScheduledBackupSchema } from './backup.ts';
import { phantomClusterSchema } from './cluster.ts';
import { apiGroup, apiVersionName } from './common.ts';
import { structuralSchemaOf, type Json, type JsonObject } from './openapi.ts';

interface PrinterColumn {
  readonly name: string;
  readonly type: 'integer' | 'number' | 'string' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

/** What differs between the kinds; everything else is the same for all of them. */
export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly schema: z.ZodType;
  readonly printerColumns: readonly PrinterColumn[];
  readonly scale?: { readonly specReplicasPath: string; readonly statusReplicasPath: string; readonly labelSelectorPath: string };
}

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const kindDefinitions: readonly KindDefinition[] = [
  {
    kind: 'PhantomCluster',
    plural: 'phantomclusters',
    singular: 'phantomcluster',
    shortNames: ['pc'],
    schema: phantomClusterSchema,
    printerColumns: [
      { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'Desired data nodes' },
      { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready data nodes' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Rebalancing', type: 'string', jsonPath: '.status.conditions[?(@.type=="Rebalancing")].status', description: 'Whether the data nodes are moving replicas to balance them (see the Rebalancing condition)' },
      { name: 'Version', type: 'string', jsonPath: '.status.currentVersion', description: 'Version every data node runs' },
      { name: 'Cluster-Version', type: 'string', jsonPath: '.status.clusterVersion', description: 'Version the cluster is finalized at', priority: 1 },
      { name: 'Operation', type: 'string', jsonPath: '.status.operation.kind', priority: 1 },
      { name: 'Step', type: 'string', jsonPath: '.status.operation.step', priority: 1 },
      age,
    ],
    scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.readyReplicas', labelSelectorPath: '.status.selector' },
  },
  {
    kind: 'PhantomBackup',
    plural: 'phantombackups',
    singular: 'phantombackup',
    shortNames: ['pbk'],
    schema: phantomBackupSchema,
    printerColumns: [
      { name: 'Cluster', type: 'string', jsonPath: '.spec.cluster' },
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Ranges', type: 'integer', jsonPath: '.status.ranges' },
      { name: 'Done', type: 'integer', jsonPath: '.status.rangesDone', description: 'Ranges exported so far' },
      { name: 'Bytes-Done', type: 'integer', jsonPath: '.status.bytesDone', description: 'Bytes uploaded so far', priority: 1 },
      { name: 'Size', type: 'integer', jsonPath: '.status.sizeBytes', description: 'Bytes in the backup' },
      { name: 'Verified', type: 'boolean', jsonPath: '.status.verified', description: 'Every object was re-read and matched its checksum' },
      { name: 'Started', type: 'date', jsonPath: '.status.startedAt' },
      { name: 'Completed', type: 'date', jsonPath: '.status.completedAt' },
      { name: 'Backup ID', type: 'string', jsonPath: '.status.backupId', priority: 1 },
      { name: 'Timestamp', type: 'string', jsonPath: '.status.backupTimestamp', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
    ],
  },
  {
    kind: 'PhantomScheduledBackup',
    plural: 'phantomscheduledbackups',
    singular: 'phantomscheduledbackup',
    shortNames: ['psb'],
    schema: phantomScheduledBackupSchema,
    printerColumns: [
      { name: 'Cluster', type: 'string', jsonPath: '.spec.cluster' },
      { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Suspend', type: 'boolean', jsonPath: '.spec.suspend' },
      { name: 'Last Schedule', type: 'date', jsonPath: '.status.lastScheduleTime' },
      { name: 'Last Successful', type: 'string', jsonPath: '.status.lastSuccessfulBackup' },
      age,
    ],
  },
];

/**
 * The `openAPIV3Schema` of a kind: the converted zod schema with `apiVersion`, `kind` and
 * `metadata` reduced to what the API server allows a CRD to say about them.
 */
export function openApiSchemaOf(definition: KindDefinition): JsonObject {
  const schema = structuralSchemaOf(definition.schema);
  const properties = schema['properties'];
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) throw new Error(`${definition.kind}: schema has no properties`);
  properties['apiVersion'] = { description: 'APIVersion defines the versioned schema of this representation of an object.', type: 'string' };
  properties['kind'] = { description: 'Kind is a string value representing the REST resource this object represents.', type: 'string' };
  properties['metadata'] = { type: 'object' };
  const required = schema['required'];
  const keptRequired = Array.isArray(required) ? required.filter((name) => name !== 'apiVersion' && name !== 'kind' && name !== 'metadata') : [];
  const out: JsonObject = { description: `${definition.kind} (${apiGroup}/${apiVersionName}).`, ...schema };
  if (keptRequired.length > 0) out['required'] = keptRequired;
  else delete out['required'];
  return out;
}

/** The CustomResourceDefinition of a kind, as a plain object. */
export function crdOf(definition: KindDefinition): JsonObject {
  const subresources: JsonObject = { status: {} };
  if (definition.scale !== undefined) subresources['scale'] = { ...definition.scale };
  const columns: Json[] = definition.printerColumns.map((column) => ({ ...column }));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${definition.plural}.${apiGroup}`,
      labels: { 'app.kubernetes.io/name': 'phantomdb-operator', 'app.kubernetes.io/part-of': 'phantomdb' },
    },
    spec: {
      group: apiGroup,
      scope: 'Namespaced',
      names: { kind: definition.kind, listKind: `${definition.kind}List`, plural: definition.plural, singular: definition.singular, shortNames: [...definition.shortNames], categories: ['phantomdb'] },
      versions: [
        {
          name: apiVersionName,
          served: true,
          storage: true,
          subresources,
          additionalPrinterColumns: columns,
          schema: { openAPIV3Schema: openApiSchemaOf(definition) },
        },
      ],
    },
  };
}

/** Name of the file a kind's CRD is written to (in `crds/` and the chart's `crds/`). */
export function crdFileName(definition: KindDefinition): string {
  return `${definition.plural}.${apiGroup}.yaml`;
}

/** The YAML text of a CRD file: a header that says it is generated, then the document. */
export function crdYaml(definition: KindDefinition): string {
  const header = '# Generated by `npm run crds:gen` from operator/src/api (zod schemas). Do not edit by hand.\n';
  return header + stringify(crdOf(definition), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Every CRD file by name. */
export function generatedCrdFiles(): Map<string, string> {
  return new Map(kindDefinitions.map((definition) => [crdFileName(definition), crdYaml(definition)]));
}
