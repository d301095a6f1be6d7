/**
 * The registry of resource types the test server serves: the built-in kinds, and the kinds that
 * CustomResourceDefinitions install while the server runs. Discovery documents are derived from it.
 */
import { arrayAt, childObject, isObject, stringAt, type JsonObject } from './json.ts';

/** Where a kind keeps its replica count and selector, for the `/scale` subresource. */
export interface ScaleSpec {
  readonly specReplicasPath: string;
  readonly statusReplicasPath: string;
  /** Path to a selector: a string for CRDs, or a `metav1.LabelSelector` object for built-ins. */
  readonly labelSelectorPath?: string;
}

export interface PrinterColumn {
  readonly name: string;
  readonly type: string;
  readonly jsonPath: string;
  readonly description: string;
  readonly priority: number;
  readonly format?: string;
}

/** One version of a resource type, as served under `/apis/<group>/<version>`. */
export interface ServedVersion {
  readonly name: string;
  readonly storage: boolean;
  readonly schema?: JsonObject;
  readonly printerColumns: readonly PrinterColumn[];
  readonly statusSubresource: boolean;
  readonly scale?: ScaleSpec;
}

export interface ResourceType {
  readonly group: string;
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly versions: readonly ServedVersion[];
  /** True for kinds installed by a CustomResourceDefinition (no strategic merge patch). */
  readonly custom: boolean;
}

/** Identifies a resource type independent of version: `{ group: 'apps', plural: 'statefulsets' }`. */
export interface ResourceRef {
  readonly group: string;
  readonly plural: string;
}

export function resourceId(ref: ResourceRef): string {
  return ref.group === '' ? ref.plural : `${ref.plural}.${ref.group}`;
}

export function apiVersionOf(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

interface BuiltinOptions {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  readonly status?: boolean;
  readonly scale?: ScaleSpec;
}

const workloadScale: ScaleSpec = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  labelSelectorPath: '.spec.selector',
};

function builtin(options: BuiltinOptions): ResourceType {
  const version: ServedVersion = {
    name: options.version,
    storage: true,
    printerColumns: [],
    statusSubresource: options.status ?? false,
    ...(options.scale === undefined ? {} : { scale: options.scale }),
  };
  return {
    group: options.group,
    plural: options.plural,
    singular: options.kind.toLowerCase(),
    kind: options.kind,
    listKind: `${options.kind}List`,
    namespaced: options.namespaced,
    shortNames: options.shortNames ?? [],
    categories: options.categories ?? [],
    versions: [version],
    custom: false,
  };
}

/** The built-in kinds: enough of Kubernetes for the operator, kubectl and the e2e harness. */
export function builtinResourceTypes(): ResourceType[] {
  const all = ['all'];
  return [
    builtin({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], status: true }),
    builtin({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], status: true }),
    builtin({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], categories: all, status: true }),
    builtin({ group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], categories: all, status: true }),
    builtin({ group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep'] }),
    builtin({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] }),
    builtin({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }),
    builtin({ group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'] }),
    builtin({ group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'] }),
    builtin({ group: '', version: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true, shortNames: ['pvc'], status: true }),
    builtin({ group: '', version: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', namespaced: false, shortNames: ['pv'], status: true }),
    builtin({ group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', namespaced: true, shortNames: ['sts'], categories: all, status: true, scale: workloadScale }),
    builtin({ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], categories: all, status: true, scale: workloadScale }),
    builtin({ group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true, shortNames: ['rs'], categories: all, status: true, scale: workloadScale }),
    builtin({ group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false, shortNames: ['sc'] }),
    builtin({ group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, shortNames: ['pdb'], status: true }),
    builtin({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true }),
    builtin({ group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'] }),
    builtin({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true }),
    builtin({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true }),
    builtin({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false }),
    builtin({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false }),
    builtin({ group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false, shortNames: ['crd', 'crds'], status: true }),
  ];
}

function stringList(value: JsonObject | undefined, key: string): string[] {
  return (arrayAt(value, key) ?? []).filter((item): item is string => typeof item === 'string');
}

function printerColumnsOf(version: JsonObject): PrinterColumn[] {
  const columns: PrinterColumn[] = [];
  for (const column of arrayAt(version, 'additionalPrinterColumns') ?? []) {
    if (!isObject(column)) continue;
    const format = stringAt(column, 'format');
    const priority = column['priority'];
    columns.push({
      name: stringAt(column, 'name') ?? '',
      type: stringAt(column, 'type') ?? 'string',
      jsonPath: stringAt(column, 'jsonPath') ?? '',
      description: stringAt(column, 'description') ?? '',
      priority: typeof priority === 'number' ? priority : 0,
      ...(format === undefined ? {} : { format }),
    });
  }
  return columns;
}

function scaleOf(subresources: JsonObject | undefined): ScaleSpec | undefined {
  const scale = childObject(subresources, 'scale');
  if (scale === undefined) return undefined;
  const labelSelectorPath = stringAt(scale, 'labelSelectorPath');
  return {
    specReplicasPath: stringAt(scale, 'specReplicasPath') ?? '.spec.replicas',
    statusReplicasPath: stringAt(scale, 'statusReplicasPath') ?? '.status.replicas',
    ...(labelSelectorPath === undefined ? {} : { labelSelectorPath }),
  };
}

function servedVersionOf(version: JsonObject): ServedVersion {
  const subresources = childObject(version, 'subresources');
  const schema = childObject(childObject(version, 'schema'), 'openAPIV3Schema');
  const scale = scaleOf(subresources);
  return {
    name: stringAt(version, 'name') ?? '',
    storage: version['storage'] === true,
    printerColumns: printerColumnsOf(version),
    statusSubresource: childObject(subresources, 'status') !== undefined,
    ...(schema === undefined ? {} : { schema }),
    ...(scale === undefined ? {} : { scale }),
  };
}

/** The resource type a CustomResourceDefinition object installs (served versions only). */
export function resourceTypeOfCrd(crd: JsonObject): ResourceType {
  const spec = childObject(crd, 'spec');
  const names = childObject(spec, 'names');
  const kind = stringAt(names, 'kind') ?? '';
  const versions = (arrayAt(spec, 'versions') ?? []).filter(isObject).filter((version) => version['served'] !== false);
  return {
    group: stringAt(spec, 'group') ?? '',
    plural: stringAt(names, 'plural') ?? '',
    singular: stringAt(names, 'singular') ?? kind.toLowerCase(),
    kind,
    listKind: stringAt(names, 'listKind') ?? `${kind}List`,
    namespaced: stringAt(spec, 'scope') !== 'Cluster',
    shortNames: stringList(names, 'shortNames'),
    categories: stringList(names, 'categories'),
    versions: versions.map(servedVersionOf),
    custom: true,
  };
}

/** The resource types currently installed, looked up by group/version and plural (or kind). */
export class ResourceRegistry {
  private readonly types = new Map<string, ResourceType>();

  constructor(initial: readonly ResourceType[]) {
    for (const type of initial) this.install(type);
  }

  install(type: ResourceType): void {
    this.types.set(resourceId(type), type);
  }

  uninstall(ref: ResourceRef): void {
    this.types.delete(resourceId(ref));
  }

  get(ref: ResourceRef): ResourceType | undefined {
    return this.types.get(resourceId(ref));
  }

  /** The type and version served at `/apis/<group>/<version>/<plural>`, if any. */
  lookup(group: string, version: string, plural: string): { type: ResourceType; version: ServedVersion } | undefined {
    const type = this.types.get(resourceId({ group, plural }));
    const served = type?.versions.find((candidate) => candidate.name === version);
    return type === undefined || served === undefined ? undefined : { type, version: served };
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Group name → served version names, the preferred (storage) version first. */
  groups(): Map<string, string[]> {
    const result = new Map<string, string[]>();
    for (const type of this.types.values()) {
      const versions = result.get(type.group) ?? [];
      const ordered = [...type.versions].sort((a, b) => Number(b.storage) - Number(a.storage));
      for (const version of ordered) if (!versions.includes(version.name)) versions.push(version.name);
      result.set(type.group, versions);
    }
    return result;
  }
}
