/**
 * The three PATCH formats the test server accepts: JSON merge patch (RFC 7386), JSON patch
 * (RFC 6902) and a subset of Kubernetes strategic merge patch for built-in kinds. Each function
 * returns a new document and never mutates its inputs; malformed patches raise 400/422 errors.
 */
import { badRequest, KubeApiError } from './errors.ts';
import { clone, isObject, jsonEqual, removeKey, type JsonObject, type JsonValue } from './json.ts';

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function applyMergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) removeKey(result, key);
    else result[key] = applyMergePatch(result[key] ?? null, value);
  }
  return result;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, forInsert: boolean): number {
  if (forInsert && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new KubeApiError('Invalid', `invalid array index "${token}"`);
  const index = Number(token);
  if (index > length || (!forInsert && index === length)) {
    throw new KubeApiError('Invalid', `array index ${index} out of bounds`);
  }
  return index;
}

function resolve(doc: JsonValue, tokens: readonly string[], path: string): JsonValue {
  let current = doc;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      const next = current[arrayIndex(token, current.length, false)];
      if (next === undefined) throw new KubeApiError('Invalid', `path "${path}" not found`);
      current = next;
    } else if (isObject(current)) {
      const next = current[token];
      if (next === undefined) throw new KubeApiError('Invalid', `doc is missing path: "${path}"`);
      current = next;
    } else {
      throw new KubeApiError('Invalid', `doc is missing path: "${path}"`);
    }
  }
  return current;
}

/** Splits a pointer into its parent container (mutable, inside `doc`) and the last token. */
function parentOf(doc: JsonValue, path: string): { parent: JsonValue; token: string } {
  const tokens = decodePointer(path);
  const token = tokens.pop();
  if (token === undefined) throw new KubeApiError('Invalid', 'operation on the document root is not supported');
  return { parent: resolve(doc, tokens, path), token };
}

function addAt(doc: JsonValue, path: string, value: JsonValue): JsonValue {
  if (path === '') return value;
  const { parent, token } = parentOf(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(token, parent.length, true), 0, value);
  else if (isObject(parent)) parent[token] = value;
  else throw new KubeApiError('Invalid', `doc is missing path: "${path}"`);
  return doc;
}

function removeAt(doc: JsonValue, path: string): JsonValue {
  const { parent, token } = parentOf(doc, path);
  if (Array.isArray(parent)) {
    const removed = parent.splice(arrayIndex(token, parent.length, false), 1)[0];
    if (removed === undefined) throw new KubeApiError('Invalid', `path "${path}" not found`);
    return removed;
  }
  if (isObject(parent) && token in parent) {
    const removed = parent[token] ?? null;
    removeKey(parent, token);
    return removed;
  }
  throw new KubeApiError('Invalid', `unable to remove nonexistent key: ${token}: missing value`);
}

function operationField(op: JsonObject, key: string): string {
  const value = op[key];
  if (typeof value !== 'string') throw badRequest(`json patch operation is missing "${key}"`);
  return value;
}

/** RFC 6902 with add, remove, replace, move, copy and test; a failing test is 422 Invalid. */
export function applyJsonPatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!Array.isArray(patch)) throw badRequest('json patch must be an array of operations');
  let doc = clone(target);
  for (const op of patch) {
    if (!isObject(op)) throw badRequest('json patch operation must be an object');
    const path = operationField(op, 'path');
    const kind = operationField(op, 'op');
    switch (kind) {
      case 'add':
        doc = addAt(doc, path, clone(op['value'] ?? null));
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'replace':
        if (path === '') {
          doc = clone(op['value'] ?? null);
        } else {
          removeAt(doc, path);
          doc = addAt(doc, path, clone(op['value'] ?? null));
        }
        break;
      case 'move': {
        const value = removeAt(doc, operationField(op, 'from'));
        doc = addAt(doc, path, value);
        break;
      }
      case 'copy':
        doc = addAt(doc, path, clone(resolve(doc, decodePointer(operationField(op, 'from')), path)));
        break;
      case 'test':
        if (!jsonEqual(resolve(doc, decodePointer(path), path), op['value'] ?? null)) {
          throw new KubeApiError('Invalid', `the server rejected our request due to an error in our request: testing value ${path} failed`);
        }
        break;
      default:
        throw badRequest(`unsupported json patch operation "${kind}"`);
    }
  }
  return doc;
}

/**
 * Merge keys of lists in built-in kinds, by field name. A list whose field is not here (or whose
 * items are not objects) is replaced as a whole, except primitive lists in `primitiveMergeLists`.
 */
function mergeKeyFor(field: string, items: readonly JsonValue[]): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
    case 'secrets':
      return 'name';
    case 'ports':
      return items.some((item) => isObject(item) && 'containerPort' in item) ? 'containerPort' : 'port';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'hostAliases':
      return 'ip';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    default:
      return undefined;
  }
}

const primitiveMergeLists = new Set(['finalizers']);

function keyOf(item: JsonValue, mergeKey: string): JsonValue | undefined {
  return isObject(item) ? item[mergeKey] : undefined;
}

function mergeObjectList(field: string, original: readonly JsonValue[], patch: readonly JsonValue[]): JsonValue[] {
  const mergeKey = mergeKeyFor(field, [...original, ...patch]);
  if (mergeKey === undefined) return patch.map((item) => clone(item));
  if (patch.some((item) => isObject(item) && item['$patch'] === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item['$patch'] === 'replace')).map((item) => clone(item));
  }
  const result = original.map((item) => clone(item));
  for (const item of patch) {
    const key = keyOf(item, mergeKey);
    const index = result.findIndex((existing) => key !== undefined && jsonEqual(keyOf(existing, mergeKey), key));
    if (isObject(item) && item['$patch'] === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    const existing = index >= 0 ? result[index] : undefined;
    if (existing !== undefined) result[index] = applyStrategicMergePatch(existing, item);
    else result.push(applyStrategicMergePatch(null, item));
  }
  return result;
}

/**
 * Strategic merge patch for built-in kinds: objects merge as in a merge patch; lists with a known
 * merge key merge item by item; `$patch: replace|delete`, `$deleteFromPrimitiveList/<field>` are
 * honoured; `$setElementOrder/<field>` and `$retainKeys` (sent by kubectl apply) are ignored.
 */
export function applyStrategicMergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return clone(patch);
  if (patch['$patch'] === 'replace') {
    const replaced = clone(patch);
    delete replaced['$patch'];
    return replaced;
  }
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value)) {
        result[field] = current.filter((item) => !value.some((removed) => jsonEqual(removed, item)));
      }
      continue;
    }
    const current = result[key];
    if (value === null) removeKey(result, key);
    else if (isObject(value) && value['$patch'] === 'delete') removeKey(result, key);
    else if (Array.isArray(value) && Array.isArray(current) && primitiveMergeLists.has(key)) {
      result[key] = [...current, ...value.filter((item) => !current.some((existing) => jsonEqual(existing, item)))];
    } else if (Array.isArray(value) && Array.isArray(current)) result[key] = mergeObjectList(key, current, value);
    else if (Array.isArray(value)) result[key] = mergeObjectList(key, [], value);
    else result[key] = applyStrategicMergePatch(current ?? null, value);
  }
  return result;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

/** Maps a request's Content-Type to a patch type, or undefined when it is not a patch type. */
export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  switch (mediaType) {
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/json-patch+json':
      return 'json';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
      return 'apply';
    default:
      return undefined;
  }
}
