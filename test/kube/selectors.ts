/**
 * Label and field selectors, parsed from the query-string syntax of the Kubernetes API
 * (`app=web,tier!=db,env in (a,b),!legacy`) into predicates over objects.
 */
import { badRequest } from './errors.ts';
import { childObject, isObject, stringAt, type JsonObject } from './json.ts';

type Requirement =
  | { readonly op: 'eq'; readonly key: string; readonly value: string }
  | { readonly op: 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'in'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists'; readonly key: string }
  | { readonly op: 'notexists'; readonly key: string };

const selectorLengthMax = 4096;

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}

function parseValueSet(text: string, selector: string): string[] {
  const match = /^\((.*)\)$/s.exec(text.trim());
  if (match === null) throw badRequest(`unable to parse requirement: found '${text}', expected: '(' in "${selector}"`);
  return (match[1] ?? '')
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

function parseRequirement(text: string, selector: string): Requirement {
  const setMatch = /^([^\s!=()]+)\s+(in|notin)\s+(\(.*\))$/s.exec(text);
  if (setMatch !== null) {
    const key = setMatch[1] ?? '';
    const values = parseValueSet(setMatch[3] ?? '', selector);
    return setMatch[2] === 'in' ? { op: 'in', key, values } : { op: 'notin', key, values };
  }
  const compareMatch = /^([^\s!=()]+)\s*(==|!=|=)\s*([^\s!=()]*)$/.exec(text);
  if (compareMatch !== null) {
    const key = compareMatch[1] ?? '';
    const value = compareMatch[3] ?? '';
    return compareMatch[2] === '!=' ? { op: 'neq', key, value } : { op: 'eq', key, value };
  }
  const existsMatch = /^(!?)\s*([^\s!=()]+)$/.exec(text);
  if (existsMatch !== null) {
    const key = existsMatch[2] ?? '';
    return existsMatch[1] === '!' ? { op: 'notexists', key } : { op: 'exists', key };
  }
  throw badRequest(`unable to parse requirement: "${text}" in selector "${selector}"`);
}

function parseSelector(selector: string): Requirement[] {
  if (selector.length > selectorLengthMax) throw badRequest(`selector longer than ${selectorLengthMax} characters`);
  return splitTopLevel(selector).map((part) => parseRequirement(part, selector));
}

function requirementMatches(requirement: Requirement, values: ReadonlyMap<string, string>): boolean {
  const actual = values.get(requirement.key);
  switch (requirement.op) {
    case 'eq':
      return actual === requirement.value;
    case 'neq':
      return actual !== requirement.value;
    case 'in':
      return actual !== undefined && requirement.values.includes(actual);
    case 'notin':
      return actual === undefined || !requirement.values.includes(actual);
    case 'exists':
      return actual !== undefined;
    case 'notexists':
      return actual === undefined;
  }
}

export type ObjectPredicate = (obj: JsonObject) => boolean;

function labelsOf(obj: JsonObject): Map<string, string> {
  const labels = childObject(childObject(obj, 'metadata'), 'labels');
  const result = new Map<string, string>();
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (typeof value === 'string') result.set(key, value);
  }
  return result;
}

/** A predicate for a `labelSelector` query parameter; an absent or empty selector matches all. */
export function parseLabelSelector(selector: string | undefined): ObjectPredicate {
  const requirements = parseSelector(selector ?? '');
  return (obj) => {
    const labels = labelsOf(obj);
    return requirements.every((requirement) => requirementMatches(requirement, labels));
  };
}

const supportedFields = new Set(['metadata.name', 'metadata.namespace']);

/**
 * A predicate for a `fieldSelector` query parameter. Like the real server, only a fixed set of
 * fields may be used (`metadata.name`, `metadata.namespace`, plus any dotted path to a string
 * for a few well-known fields such as `status.phase` and `spec.nodeName`).
 */
export function parseFieldSelector(selector: string | undefined): ObjectPredicate {
  const requirements = parseSelector(selector ?? '');
  for (const requirement of requirements) {
    if (requirement.op !== 'eq' && requirement.op !== 'neq') {
      throw badRequest(`invalid field selector: operator of "${requirement.key}" not supported`);
    }
    if (!supportedFields.has(requirement.key) && !/^(status\.phase|spec\.nodeName|type|involvedObject\.\w+)$/.test(requirement.key)) {
      throw badRequest(`field label not supported: ${requirement.key}`);
    }
  }
  return (obj) => {
    const values = new Map<string, string>();
    for (const requirement of requirements) {
      const value = fieldValue(obj, requirement.key);
      if (value !== undefined) values.set(requirement.key, value);
      else if (requirement.key === 'metadata.namespace') values.set(requirement.key, '');
    }
    return requirements.every((requirement) => requirementMatches(requirement, values));
  };
}

function fieldValue(obj: JsonObject, path: string): string | undefined {
  let current: JsonObject | undefined = obj;
  const parts = path.split('.');
  const last = parts.pop() ?? '';
  for (const part of parts) {
    const next: unknown = current?.[part];
    current = isObject(next) ? next : undefined;
  }
  return stringAt(current, last);
}

/** Renders a `metav1.LabelSelector` object as the selector string used in a Scale's status. */
export function labelSelectorToString(selector: JsonObject | undefined): string {
  const parts: string[] = [];
  const matchLabels = childObject(selector, 'matchLabels') ?? {};
  for (const key of Object.keys(matchLabels).sort()) {
    const value = matchLabels[key];
    if (typeof value === 'string') parts.push(`${key}=${value}`);
  }
  const expressions = selector?.['matchExpressions'];
  for (const expression of Array.isArray(expressions) ? expressions : []) {
    if (!isObject(expression)) continue;
    const key = stringAt(expression, 'key') ?? '';
    const values = (Array.isArray(expression['values']) ? expression['values'] : []).filter((v) => typeof v === 'string');
    switch (stringAt(expression, 'operator')) {
      case 'In':
        parts.push(`${key} in (${values.join(',')})`);
        break;
      case 'NotIn':
        parts.push(`${key} notin (${values.join(',')})`);
        break;
      case 'Exists':
        parts.push(key);
        break;
      case 'DoesNotExist':
        parts.push(`!${key}`);
        break;
      default:
        break;
    }
  }
  return parts.join(',');
}
