/**
 * JSON value types and small helpers shared by the Kubernetes API test server. Objects in the
 * store are plain JSON values; every helper here is pure and never mutates its input unless
 * its name says so.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** True for a JSON object (not an array, not null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep copy of a JSON value, so the store never shares structure with callers. */
export function clone<T extends JsonValue>(value: T): T {
  return structuredClone(value);
}

/** Structural equality of two JSON values (key order does not matter). */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => jsonEqual(item, b[index]));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keysA = Object.keys(a);
    if (keysA.length !== Object.keys(b).length) return false;
    return keysA.every((key) => key in b && jsonEqual(a[key], b[key]));
  }
  return false;
}

/** The object at `obj[key]`, or a fresh empty object stored there when absent. Mutates `obj`. */
export function objectAt(obj: JsonObject, key: string): JsonObject {
  const existing = obj[key];
  if (isObject(existing)) return existing;
  const created: JsonObject = {};
  obj[key] = created;
  return created;
}

/** `obj[key]` when it is a string. */
export function stringAt(obj: JsonObject | undefined, key: string): string | undefined {
  const value = obj?.[key];
  return typeof value === 'string' ? value : undefined;
}

/** `obj[key]` when it is an object. */
export function childObject(obj: JsonObject | undefined, key: string): JsonObject | undefined {
  const value = obj?.[key];
  return isObject(value) ? value : undefined;
}

/** `obj[key]` when it is an array. */
export function arrayAt(obj: JsonObject | undefined, key: string): JsonValue[] | undefined {
  const value = obj?.[key];
  return Array.isArray(value) ? value : undefined;
}

/** Reads a dotted path such as `.spec.replicas` (leading dot optional). */
export function getPath(obj: JsonValue, path: string): JsonValue | undefined {
  let current: JsonValue | undefined = obj;
  for (const part of path.replace(/^\./, '').split('.')) {
    if (part === '') continue;
    if (!isObject(current)) return undefined;
    current = current[part];
  }
  return current;
}

/** Writes a dotted path, creating objects on the way. Mutates `obj`. */
export function setPath(obj: JsonObject, path: string, value: JsonValue): void {
  const parts = path.replace(/^\./, '').split('.').filter((part) => part !== '');
  const last = parts.pop();
  if (last === undefined) return;
  let current = obj;
  for (const part of parts) current = objectAt(current, part);
  current[last] = value;
}

/** Parses JSON text, returning undefined instead of throwing on malformed input. */
export function parseJson(text: string): JsonValue | undefined {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}

/** Removes `obj[key]`. Mutates `obj`. */
export function removeKey(obj: JsonObject, key: string): void {
  Reflect.deleteProperty(obj, key);
}
