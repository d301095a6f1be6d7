/**
 * Kind-specific behaviour of built-in kinds on create and update: the few defaults and
 * server-assigned fields that clients of a real cluster rely on (a Service's clusterIP, a
 * Secret's stringData, a Pod's initial phase, a workload's default replicas, a CRD's conditions).
 */
import { childObject, isObject, objectAt, stringAt, type JsonObject } from './json.ts';
import type { ResourceType } from './resources.ts';

export interface BuiltinContext {
  readonly random: () => number;
}

function allocateClusterIp(random: () => number): string {
  const third = Math.floor(random() * 254);
  const fourth = 1 + Math.floor(random() * 253);
  return `10.96.${third}.${fourth}`;
}

function prepareService(obj: JsonObject, context: BuiltinContext): void {
  const spec = objectAt(obj, 'spec');
  if (spec['type'] === undefined) spec['type'] = 'ClusterIP';
  if (spec['clusterIP'] === undefined || spec['clusterIP'] === '') spec['clusterIP'] = allocateClusterIp(context.random);
  spec['clusterIPs'] = [spec['clusterIP']];
  if (spec['sessionAffinity'] === undefined) spec['sessionAffinity'] = 'None';
}

function prepareSecret(obj: JsonObject): void {
  const stringData = childObject(obj, 'stringData');
  if (stringData !== undefined) {
    const data = objectAt(obj, 'data');
    for (const [key, value] of Object.entries(stringData)) {
      if (typeof value === 'string') data[key] = Buffer.from(value, 'utf8').toString('base64');
    }
    delete obj['stringData'];
  }
  if (obj['type'] === undefined) obj['type'] = 'Opaque';
}

function prepareCrd(obj: JsonObject): void {
  const spec = childObject(obj, 'spec');
  const names = childObject(spec, 'names') ?? {};
  const kind = stringAt(names, 'kind') ?? '';
  const acceptedNames: JsonObject = { ...names, singular: stringAt(names, 'singular') ?? kind.toLowerCase(), listKind: stringAt(names, 'listKind') ?? `${kind}List` };
  const versions = Array.isArray(spec?.['versions']) ? spec['versions'] : [];
  const stored = versions.filter(isObject).filter((version) => version['storage'] === true).map((version) => version['name'] ?? '');
  const now = stringAt(childObject(obj, 'metadata'), 'creationTimestamp') ?? '';
  obj['status'] = {
    acceptedNames,
    storedVersions: stored,
    conditions: [
      { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now },
      { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now },
    ],
  };
}

/** Server-side defaults of a built-in kind on create. Mutates `obj`; custom kinds are untouched. */
export function prepareBuiltinCreate(type: ResourceType, obj: JsonObject, context: BuiltinContext): void {
  if (type.custom) return;
  switch (`${type.group}/${type.kind}`) {
    case '/Service':
      prepareService(obj, context);
      break;
    case '/Secret':
      prepareSecret(obj);
      break;
    case '/Pod':
      obj['status'] = { phase: 'Pending' };
      break;
    case '/Namespace':
      obj['status'] = { phase: 'Active' };
      break;
    case 'apps/StatefulSet':
    case 'apps/Deployment':
    case 'apps/ReplicaSet': {
      const spec = objectAt(obj, 'spec');
      if (spec['replicas'] === undefined) spec['replicas'] = 1;
      break;
    }
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      prepareCrd(obj);
      break;
    default:
      break;
  }
}

/** Server-side defaults of a built-in kind on update: fields the server owns survive a PUT. */
export function prepareBuiltinUpdate(type: ResourceType, next: JsonObject, existing: JsonObject): void {
  if (type.custom) return;
  switch (`${type.group}/${type.kind}`) {
    case '/Service': {
      const spec = objectAt(next, 'spec');
      const oldSpec = childObject(existing, 'spec');
      if ((spec['clusterIP'] === undefined || spec['clusterIP'] === '') && oldSpec?.['clusterIP'] !== undefined) {
        spec['clusterIP'] = oldSpec['clusterIP'];
        spec['clusterIPs'] = [oldSpec['clusterIP']];
      }
      if (spec['type'] === undefined) spec['type'] = 'ClusterIP';
      if (spec['sessionAffinity'] === undefined) spec['sessionAffinity'] = 'None';
      break;
    }
    case '/Secret':
      prepareSecret(next);
      break;
    case 'apps/StatefulSet':
    case 'apps/Deployment':
    case 'apps/ReplicaSet': {
      const spec = objectAt(next, 'spec');
      if (spec['replicas'] === undefined) spec['replicas'] = 1;
      break;
    }
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      if (next['status'] === undefined) prepareCrd(next);
      break;
    default:
      break;
  }
}
