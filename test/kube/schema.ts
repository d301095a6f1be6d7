/**
 * Structural OpenAPI v3 schemas of CustomResourceDefinitions: defaulting, pruning of unknown
 * fields and validation, in that order, as the real kube-apiserver does. Errors carry the field
 * path and the wording of the real server (`spec.replicas: Invalid value: 0: spec.replicas in
 * body should be greater than or equal to 1`). `x-kubernetes-validations` (CEL) is not evaluated.
 */
import type { FieldCause } from './errors.ts';
import { childObject, clone, isObject, jsonEqual, type JsonObject, type JsonValue } from './json.ts';

const patternCacheSizeMax = 256;
const patternCache = new Map<string, RegExp>();

function compiledPattern(pattern: string): RegExp | undefined {
  let compiled = patternCache.get(pattern);
  if (compiled === undefined) {
    try {
      compiled = new RegExp(pattern, 'u');
    } catch {
      return undefined;
    }
    if (patternCache.size >= patternCacheSizeMax) patternCache.clear();
    patternCache.set(pattern, compiled);
  }
  return compiled;
}

/** How a value is shown after "Invalid value:" (strings quoted, numbers bare). */
function shown(value: JsonValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (isObject(value)) return '"object"';
  if (Array.isArray(value)) return '"array"';
  return String(value);
}

function typeName(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(type: string, value: JsonValue): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

class SchemaWalk {
  readonly causes: FieldCause[] = [];

  private invalid(path: string, value: JsonValue, detail: string): void {
    this.causes.push({ reason: 'FieldValueInvalid', field: path, message: `Invalid value: ${shown(value)}: ${path} in body ${detail}` });
  }

  /** Defaults, prunes and validates `value` at `path`; returns the (possibly new) value. */
  visit(value: JsonValue, schema: JsonObject, path: string): JsonValue {
    if (value === null) {
      if (schema['nullable'] === true) return value;
      const type = schema['type'];
      if (typeof type === 'string') {
        this.causes.push({ reason: 'FieldValueTypeInvalid', field: path, message: `Invalid value: "null": ${path} in body must be of type ${type}: "null"` });
      }
      return value;
    }
    if (!this.checkType(value, schema, path)) return value;
    this.checkEnum(value, schema, path);
    if (typeof value === 'number') this.checkNumber(value, schema, path);
    else if (typeof value === 'string') this.checkString(value, schema, path);
    else if (Array.isArray(value)) return this.visitArray(value, schema, path);
    else if (isObject(value)) return this.visitObject(value, schema, path);
    return value;
  }

  private checkType(value: JsonValue, schema: JsonObject, path: string): boolean {
    if (schema['x-kubernetes-int-or-string'] === true) {
      if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))) return true;
      this.causes.push({ reason: 'FieldValueTypeInvalid', field: path, message: `Invalid value: ${shown(value)}: ${path} in body must be of type integer,string: "${typeName(value)}"` });
      return false;
    }
    const type = schema['type'];
    if (typeof type !== 'string' || typeMatches(type, value)) return true;
    this.causes.push({ reason: 'FieldValueTypeInvalid', field: path, message: `Invalid value: "${typeName(value)}": ${path} in body must be of type ${type}: "${typeName(value)}"` });
    return false;
  }

  private checkEnum(value: JsonValue, schema: JsonObject, path: string): void {
    const allowed = schema['enum'];
    if (!Array.isArray(allowed) || allowed.some((option) => jsonEqual(option, value))) return;
    const supported = allowed.map((option) => JSON.stringify(option)).join(', ');
    this.causes.push({ reason: 'FieldValueNotSupported', field: path, message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported}` });
  }

  private checkNumber(value: number, schema: JsonObject, path: string): void {
    const minimum = schema['minimum'];
    if (typeof minimum === 'number') {
      if (schema['exclusiveMinimum'] === true && value <= minimum) this.invalid(path, value, `should be greater than ${minimum}`);
      else if (value < minimum) this.invalid(path, value, `should be greater than or equal to ${minimum}`);
    }
    const maximum = schema['maximum'];
    if (typeof maximum === 'number') {
      if (schema['exclusiveMaximum'] === true && value >= maximum) this.invalid(path, value, `should be less than ${maximum}`);
      else if (value > maximum) this.invalid(path, value, `should be less than or equal to ${maximum}`);
    }
    const multipleOf = schema['multipleOf'];
    if (typeof multipleOf === 'number' && multipleOf > 0 && value % multipleOf !== 0) {
      this.invalid(path, value, `should be a multiple of ${multipleOf}`);
    }
  }

  private checkString(value: string, schema: JsonObject, path: string): void {
    const length = [...value].length;
    const maxLength = schema['maxLength'];
    if (typeof maxLength === 'number' && length > maxLength) {
      this.causes.push({ reason: 'FieldValueTooLong', field: path, message: `Too long: may not be longer than ${maxLength}` });
    }
    const minLength = schema['minLength'];
    if (typeof minLength === 'number' && length < minLength) this.invalid(path, value, `should be at least ${minLength} chars long`);
    const pattern = schema['pattern'];
    if (typeof pattern === 'string' && compiledPattern(pattern)?.test(value) === false) {
      this.invalid(path, value, `should match '${pattern}'`);
    }
  }

  private visitArray(value: JsonValue[], schema: JsonObject, path: string): JsonValue {
    const maxItems = schema['maxItems'];
    if (typeof maxItems === 'number' && value.length > maxItems) {
      this.causes.push({ reason: 'FieldValueTooMany', field: path, message: `Too many: ${value.length}: must have at most ${maxItems} items` });
    }
    const minItems = schema['minItems'];
    if (typeof minItems === 'number' && value.length < minItems) this.invalid(path, value.length, `should have at least ${minItems} items`);
    const itemSchema = childObject(schema, 'items');
    const result = itemSchema === undefined ? value : value.map((item, index) => this.visit(item, itemSchema, `${path}[${index}]`));
    if (schema['x-kubernetes-list-type'] === 'set') {
      result.forEach((item, index) => {
        if (result.findIndex((other) => jsonEqual(other, item)) !== index) {
          this.causes.push({ reason: 'FieldValueDuplicate', field: `${path}[${index}]`, message: `Duplicate value: ${JSON.stringify(item)}` });
        }
      });
    }
    return result;
  }

  private visitObject(value: JsonObject, schema: JsonObject, path: string): JsonValue {
    const properties = childObject(schema, 'properties');
    const additional = schema['additionalProperties'];
    const preserveUnknown = schema['x-kubernetes-preserve-unknown-fields'] === true;
    const embedded = schema['x-kubernetes-embedded-resource'] === true;
    const result: JsonObject = {};
    for (const [key, propertySchema] of Object.entries(properties ?? {})) {
      if (!(key in value) && isObject(propertySchema) && propertySchema['default'] !== undefined) {
        result[key] = clone(propertySchema['default']);
      }
    }
    for (const [key, child] of Object.entries(value)) {
      const childPath = path === '' ? key : `${path}.${key}`;
      const propertySchema = properties?.[key];
      if (isObject(propertySchema)) result[key] = this.visit(child, propertySchema, childPath);
      else if (isObject(additional)) result[key] = this.visit(child, additional, childPath);
      else if (additional === true || preserveUnknown || properties === undefined) result[key] = child;
      else if (embedded && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) result[key] = child;
      // Any other field is unknown to the schema and pruned, as the real server does.
    }
    for (const [key, propertySchema] of Object.entries(properties ?? {})) {
      if (key in result && isObject(propertySchema) && !(key in value)) {
        result[key] = this.visit(result[key] ?? null, propertySchema, path === '' ? key : `${path}.${key}`);
      }
    }
    this.checkRequired(result, schema, path);
    this.checkPropertyCounts(result, schema, path);
    return result;
  }

  private checkRequired(value: JsonObject, schema: JsonObject, path: string): void {
    const required = schema['required'];
    for (const key of Array.isArray(required) ? required : []) {
      if (typeof key === 'string' && !(key in value)) {
        const field = path === '' ? key : `${path}.${key}`;
        this.causes.push({ reason: 'FieldValueRequired', field, message: 'Required value' });
      }
    }
  }

  private checkPropertyCounts(value: JsonObject, schema: JsonObject, path: string): void {
    const count = Object.keys(value).length;
    const maxProperties = schema['maxProperties'];
    if (typeof maxProperties === 'number' && count > maxProperties) {
      this.causes.push({ reason: 'FieldValueTooMany', field: path, message: `Too many: ${count}: must have at most ${maxProperties} items` });
    }
    const minProperties = schema['minProperties'];
    if (typeof minProperties === 'number' && count < minProperties) this.invalid(path, count, `should have at least ${minProperties} properties`);
  }
}

export interface SchemaResult {
  /** The object after defaulting and pruning. */
  readonly object: JsonObject;
  /** Every failing field; empty when the object is valid. */
  readonly causes: readonly FieldCause[];
}

/**
 * Applies a CRD version's `openAPIV3Schema` to a custom object. `apiVersion`, `kind` and
 * `metadata` are never pruned nor validated by the schema (the server validates metadata itself).
 */
export function applySchema(object: JsonObject, schema: JsonObject): SchemaResult {
  const walk = new SchemaWalk();
  const { apiVersion, kind, metadata, ...rest } = object;
  const processed = walk.visit(rest, schema, '');
  const head: JsonObject = {};
  if (apiVersion !== undefined) head['apiVersion'] = apiVersion;
  if (kind !== undefined) head['kind'] = kind;
  if (metadata !== undefined) head['metadata'] = metadata;
  return { object: { ...head, ...(isObject(processed) ? processed : {}) }, causes: walk.causes };
}
