/**
 * Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for, with the printer
 * columns of a CRD version (`additionalPrinterColumns`) or a few built-in kinds' usual columns.
 */
import { arrayAt, childObject, isObject, stringAt, type JsonObject, type JsonValue } from './json.ts';
import type { PrinterColumn, ResourceType, ServedVersion } from './resources.ts';

type CellFunction = (obj: JsonObject, now: Date) => JsonValue;

interface Column {
  readonly definition: JsonObject;
  readonly cell: CellFunction;
}

/** Evaluates the JSONPath subset used by printer columns: `.a.b`, `[0]`, `[?(@.k=="v")]`. */
export function evaluateJsonPath(obj: JsonValue, path: string): JsonValue | undefined {
  const expression = path.trim().replace(/^\{/, '').replace(/\}$/, '');
  const tokens = expression.match(/\[\?\(@\.[\w.-]+\s*==\s*(?:"[^"]*"|'[^']*')\)\]|\[\d+\]|[^.[\]]+/g) ?? [];
  let current: JsonValue | undefined = obj;
  for (const token of tokens) {
    if (current === undefined) return undefined;
    const filter = /^\[\?\(@\.([\w.-]+)\s*==\s*(?:"([^"]*)"|'([^']*)')\)\]$/.exec(token);
    const index = /^\[(\d+)\]$/.exec(token);
    if (filter !== null) {
      const key = filter[1] ?? '';
      const wanted = filter[2] ?? filter[3] ?? '';
      current = Array.isArray(current) ? current.find((item) => isObject(item) && evaluateJsonPath(item, `.${key}`) === wanted) : undefined;
    } else if (index !== null) {
      current = Array.isArray(current) ? current[Number(index[1])] : undefined;
    } else {
      current = isObject(current) ? current[token] : undefined;
    }
  }
  return current;
}

/** Kubernetes' short human durations: `42s`, `5m12s`, `3h`, `2d4h`. */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  if (seconds < 120) return `${seconds}s`;
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (days < 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  return `${days}d`;
}

function age(value: JsonValue | undefined, now: Date): JsonValue {
  if (typeof value !== 'string') return '<unknown>';
  const time = Date.parse(value);
  return Number.isNaN(time) ? '<unknown>' : humanDuration(now.getTime() - time);
}

function definition(name: string, type: string, description: string, priority = 0, format = ''): JsonObject {
  return { name, type, format, description, priority };
}

const nameColumn: Column = {
  definition: definition('Name', 'string', 'Name must be unique within a namespace.', 0, 'name'),
  cell: (obj) => stringAt(childObject(obj, 'metadata'), 'name') ?? '',
};

const ageColumn: Column = {
  definition: definition('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
  cell: (obj, now) => age(childObject(obj, 'metadata')?.['creationTimestamp'], now),
};

function numberAt(obj: JsonObject, path: string): number {
  const value = evaluateJsonPath(obj, path);
  return typeof value === 'number' ? value : 0;
}

function podReady(obj: JsonObject): JsonValue {
  const statuses = (arrayAt(childObject(obj, 'status'), 'containerStatuses') ?? []).filter(isObject);
  const containers = arrayAt(childObject(obj, 'spec'), 'containers') ?? [];
  return `${statuses.filter((status) => status['ready'] === true).length}/${containers.length}`;
}

function podStatus(obj: JsonObject): JsonValue {
  if (stringAt(childObject(obj, 'metadata'), 'deletionTimestamp') !== undefined) return 'Terminating';
  return stringAt(childObject(obj, 'status'), 'phase') ?? 'Unknown';
}

function servicePorts(obj: JsonObject): JsonValue {
  const ports = (arrayAt(childObject(obj, 'spec'), 'ports') ?? []).filter(isObject);
  if (ports.length === 0) return '<none>';
  return ports.map((port) => `${String(port['port'] ?? '')}/${stringAt(port, 'protocol') ?? 'TCP'}`).join(',');
}

function column(name: string, type: string, cell: CellFunction): Column {
  return { definition: definition(name, type, name), cell };
}

function builtinColumns(type: ResourceType): Column[] {
  switch (`${type.group}/${type.kind}`) {
    case '/Pod':
      return [
        column('Ready', 'string', podReady),
        column('Status', 'string', podStatus),
        column('Restarts', 'string', (obj) => String((arrayAt(childObject(obj, 'status'), 'containerStatuses') ?? []).filter(isObject).reduce((sum, status) => sum + (typeof status['restartCount'] === 'number' ? status['restartCount'] : 0), 0))),
        ageColumn,
      ];
    case 'apps/Deployment':
      return [
        column('Ready', 'string', (obj) => `${numberAt(obj, '.status.readyReplicas')}/${numberAt(obj, '.spec.replicas')}`),
        column('Up-to-date', 'integer', (obj) => numberAt(obj, '.status.updatedReplicas')),
        column('Available', 'integer', (obj) => numberAt(obj, '.status.availableReplicas')),
        ageColumn,
      ];
    case 'apps/StatefulSet':
      return [column('Ready', 'string', (obj) => `${numberAt(obj, '.status.readyReplicas')}/${numberAt(obj, '.spec.replicas')}`), ageColumn];
    case '/Service':
      return [
        column('Type', 'string', (obj) => stringAt(childObject(obj, 'spec'), 'type') ?? 'ClusterIP'),
        column('Cluster-IP', 'string', (obj) => stringAt(childObject(obj, 'spec'), 'clusterIP') ?? '<none>'),
        column('External-IP', 'string', () => '<none>'),
        column('Port(s)', 'string', servicePorts),
        ageColumn,
      ];
    case '/Namespace':
      return [column('Status', 'string', (obj) => stringAt(childObject(obj, 'status'), 'phase') ?? ''), ageColumn];
    case '/ConfigMap':
      return [column('Data', 'integer', (obj) => Object.keys(childObject(obj, 'data') ?? {}).length), ageColumn];
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return [column('Created At', 'date', (obj) => stringAt(childObject(obj, 'metadata'), 'creationTimestamp') ?? '')];
    default:
      return [ageColumn];
  }
}

function printerColumn(printer: PrinterColumn): Column {
  return {
    definition: definition(printer.name, printer.type, printer.description, printer.priority, printer.format ?? ''),
    cell: (obj, now) => {
      const value = evaluateJsonPath(obj, printer.jsonPath);
      if (value === undefined) return null;
      if (printer.type === 'date') return age(value, now);
      if (isObject(value) || Array.isArray(value)) return JSON.stringify(value);
      return value;
    },
  };
}

function columnsOf(type: ResourceType, version: ServedVersion): Column[] {
  if (!type.custom) return [nameColumn, ...builtinColumns(type)];
  if (version.printerColumns.length === 0) return [nameColumn, ageColumn];
  return [nameColumn, ...version.printerColumns.map(printerColumn)];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function rowObject(obj: JsonObject, includeObject: IncludeObject): JsonValue {
  if (includeObject === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: childObject(obj, 'metadata') ?? {} };
}

/** A `meta.k8s.io/v1` Table of `items`, as served for `Accept: application/json;as=Table;...`. */
export function toTable(type: ResourceType, version: ServedVersion, items: readonly JsonObject[], includeObject: IncludeObject, listMetadata: JsonObject, now: Date): JsonObject {
  const columns = columnsOf(type, version);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMetadata,
    columnDefinitions: columns.map((col) => col.definition),
    rows: items.map((obj) => {
      const row: JsonObject = { cells: columns.map((col) => col.cell(obj, now)) };
      if (includeObject !== 'None') row['object'] = rowObject(obj, includeObject);
      return row;
    }),
  };
}

/** True when an Accept header asks for a Table (kubectl's `as=Table;g=meta.k8s.io;v=v1`). */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '')
    .split(',')
    .some((part) => /as=Table/.test(part) && /g=meta\.k8s\.io/.test(part) && /v=v1(\b|;|$)/.test(part));
}
