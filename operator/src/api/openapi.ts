/**
 * Converts zod schemas into Kubernetes *structural* OpenAPI v3 schemas for CRDs.
 *
 * `z.toJSONSchema` emits JSON Schema 2020-12; the API server accepts only a structural subset:
 * every node has a `type` (unless it is marked int-or-string or preserve-unknown-fields), no
 * `$ref`/`$defs`, no `anyOf`/`oneOf`/`allOf` except the int-or-string pattern, `nullable` instead
 * of `type: [X, "null"]`, boolean `exclusiveMinimum`, and `x-kubernetes-*` extensions. Anything
 * the converter cannot express faithfully is a programming error in our schemas and throws, so a
 * schema that would be silently loosened never reaches `crds/`.
 */
import { z } from 'zod';

/** A JSON value, as found in a generated schema. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Thrown when a zod schema uses a construct that has no structural OpenAPI equivalent. */
export class UnstructuralSchemaError extends Error {
  readonly code = 'PH_UNSTRUCTURAL_SCHEMA';
  constructor(readonly path: string, detail: string) {
    super(`${path === '' ? '(root)' : path}: ${detail}`);
    this.name = 'UnstructuralSchemaError';
  }
}

const safeIntegerMax = Number.MAX_SAFE_INTEGER;

/** Keys copied as they are (after their values are converted where they hold schemas). */
const passthroughKeys = new Set([
  'type',
  'description',
  'default',
  'enum',
  'minimum',
  'maximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'required',
  'title',
  'example',
]);

/** JSON Schema keys that carry no meaning for the API server and are dropped. */
const droppedKeys = new Set(['$schema', 'propertyNames', 'id', '$id']);

const disallowedKeys = new Set(['$ref', '$defs', 'definitions', 'oneOf', 'allOf', 'not', 'if', 'then', 'else', 'prefixItems', 'patternProperties']);

/** Keys first in this order in the output, so generated YAML reads top-down; the rest follow sorted. */
const keyOrder = ['description', 'type', 'format', 'nullable', 'enum', 'default', 'minimum', 'exclusiveMinimum', 'maximum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'anyOf', 'properties', 'required', 'items', 'additionalProperties'];

function ordered(node: JsonObject): JsonObject {
  const rank = (key: string): number => {
    const index = keyOrder.indexOf(key);
    return index === -1 ? keyOrder.length : index;
  };
  const keys = Object.keys(node).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const out: JsonObject = {};
  for (const key of keys) {
    const value = node[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * Converts `schema` (a zod schema) into the `openAPIV3Schema` of a CRD version. The input side
 * of the schema is used, so fields with defaults are optional, as a user writes them.
 */
export function structuralSchemaOf(schema: z.ZodType): JsonObject {
  const jsonSchema: unknown = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw', reused: 'inline', cycles: 'throw' });
  if (!isJsonObject(jsonSchema)) throw new UnstructuralSchemaError('', 'zod produced a non-object JSON schema');
  return convertNode(jsonSchema, '');
}

/** Converts one node of a JSON Schema into its structural OpenAPI form. */
export function convertNode(node: JsonObject, path: string): JsonObject {
  for (const key of Object.keys(node)) {
    if (disallowedKeys.has(key)) throw new UnstructuralSchemaError(path, `"${key}" cannot be expressed in a structural schema`);
  }
  if (node['x-kubernetes-int-or-string'] === true) return intOrString(node, path);
  if (Array.isArray(node['anyOf'])) throw new UnstructuralSchemaError(path, 'unions (anyOf) are only allowed as int-or-string quantities; model alternatives as optional fields with a CEL rule');
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (droppedKeys.has(key)) continue;
    if (key === 'const') out['enum'] = [value];
    else if (key === 'properties') out['properties'] = convertProperties(value, path);
    else if (key === 'items') out['items'] = convertItems(value, path);
    else if (key === 'additionalProperties') convertAdditional(value, path, out);
    else if (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') convertExclusive(key, value, out);
    else if (key.startsWith('x-kubernetes-')) out[key] = value;
    else if (passthroughKeys.has(key)) out[key] = value;
    else throw new UnstructuralSchemaError(path, `unsupported JSON Schema keyword "${key}"`);
  }
  normalizeType(out, path);
  return ordered(out);
}

function convertProperties(value: Json, path: string): JsonObject {
  if (!isJsonObject(value)) throw new UnstructuralSchemaError(path, 'properties must be an object');
  const result: JsonObject = {};
  for (const [name, child] of Object.entries(value)) {
    if (!isJsonObject(child)) throw new UnstructuralSchemaError(childPath(path, name), 'property schema must be an object');
    result[name] = convertNode(child, childPath(path, name));
  }
  return result;
}

function convertItems(value: Json, path: string): JsonObject {
  if (!isJsonObject(value)) throw new UnstructuralSchemaError(`${path}[]`, 'tuple items are not structural');
  return convertNode(value, `${path}[]`);
}

/**
 * `additionalProperties: false` is what Kubernetes pruning already does, so it is dropped;
 * `{}` (a record of unknown) becomes preserve-unknown-fields; a typed map keeps its value schema.
 */
function convertAdditional(value: Json, path: string, out: JsonObject): void {
  if (value === false) return;
  if (value === true || (isJsonObject(value) && Object.keys(value).length === 0)) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
    return;
  }
  if (!isJsonObject(value)) throw new UnstructuralSchemaError(path, 'additionalProperties must be a schema');
  out['additionalProperties'] = convertNode(value, childPath(path, '*'));
}

/** JSON Schema 2020-12 has numeric exclusive bounds; OpenAPI v3.0 has a bound plus a boolean. */
function convertExclusive(key: 'exclusiveMinimum' | 'exclusiveMaximum', value: Json, out: JsonObject): void {
  if (typeof value !== 'number') {
    out[key] = value;
    return;
  }
  out[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = value;
  out[key] = true;
}

/** The quantity pattern Kubernetes itself uses (controller-gen output for resource.Quantity). */
function intOrString(node: JsonObject, path: string): JsonObject {
  const out: JsonObject = { anyOf: [{ type: 'integer' }, { type: 'string' }] };
  const branches = Array.isArray(node['anyOf']) ? node['anyOf'] : [];
  for (const branch of branches) {
    if (!isJsonObject(branch)) throw new UnstructuralSchemaError(path, 'int-or-string branch must be a schema');
    if (branch['type'] === 'string' && typeof branch['pattern'] === 'string') out['pattern'] = branch['pattern'];
  }
  for (const key of ['description', 'default']) {
    const value = node[key];
    if (value !== undefined) out[key] = value;
  }
  for (const [key, value] of Object.entries(node)) if (key.startsWith('x-kubernetes-')) out[key] = value;
  return ordered(out);
}

/**
 * Fixes `type`: `[X, "null"]` becomes `X` + `nullable`; number enums of integers and safe-integer
 * bounds become `integer` without the ±2^53 bounds zod adds; an untyped node must preserve
 * unknown fields to be structural.
 */
function normalizeType(out: JsonObject, path: string): void {
  const type = out['type'];
  if (Array.isArray(type)) {
    const nonNull = type.filter((entry) => entry !== 'null');
    const [only] = nonNull;
    if (nonNull.length !== 1 || only === undefined) throw new UnstructuralSchemaError(path, `multiple types ${JSON.stringify(type)} are not structural`);
    out['type'] = only;
    if (nonNull.length !== type.length) out['nullable'] = true;
  }
  const enumValues = out['enum'];
  if (out['type'] === 'number' && Array.isArray(enumValues) && enumValues.every((value) => typeof value === 'number' && Number.isInteger(value))) {
    out['type'] = 'integer';
  }
  if (out['type'] === undefined && Array.isArray(enumValues)) {
    const kinds = new Set(enumValues.map((value) => typeof value));
    const [kind] = [...kinds];
    if (kinds.size === 1 && (kind === 'string' || kind === 'boolean')) out['type'] = kind;
  }
  if (out['maximum'] === safeIntegerMax) delete out['maximum'];
  if (out['minimum'] === -safeIntegerMax) delete out['minimum'];
  if (typeof out['format'] === 'string') delete out['pattern'];
  if (out['type'] === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    if (Object.keys(out).some((key) => key !== 'description' && key !== 'default' && !key.startsWith('x-kubernetes-'))) {
      throw new UnstructuralSchemaError(path, 'a schema without a type must be free-form');
    }
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
}
