/**
 * Validation the operator runs on what users wrote, with messages that name the field
 * (`spec.replicationFactor (3) must not exceed spec.replicas (1)`). The API server rejects most of
 * this already through the CRD; the operator checks again because CEL rules are skipped by API
 * servers without CEL (and by the project's test server), and reports failures on the status.
 */
import type { z } from 'zod';
import { phantomBackupSchema, phantomScheduledBackupSchema, type PhantomBackup, type PhantomScheduledBackup } from './backup.ts';
import { clusterSpecSchema, phantomClusterSchema, type PhantomCluster, type PhantomClusterSpec } from './cluster.ts';
import { quantityToNumber } from './common.ts';

export interface FieldError {
  /** Dotted path from the object's root, e.g. `spec.storage.size` or `spec.tolerations[0]`. */
  readonly path: string;
  /** A sentence a user understands, starting with the path. */
  readonly message: string;
}

export type ValidationResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly FieldError[] };

/** `['spec', 'tolerations', 0, 'key']` → `spec.tolerations[0].key`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let path = '';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else path += path === '' ? String(segment) : `.${String(segment)}`;
  }
  return path;
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' && value !== null ? (Array.isArray(value) ? 'an array' : 'an object') : String(value);
}

/** A user-facing sentence for one zod issue; custom messages that already name a field are kept. */
function describeIssue(issue: z.core.$ZodIssue, path: string): string {
  if (/^(spec|metadata|status)\./.test(issue.message)) return issue.message;
  const subject = path === '' ? 'the object' : path;
  if (issue.code === 'custom' || (issue.code === 'invalid_format' && issue.format === 'regex')) return `${subject} ${issue.message}${given(issue.input)}`;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `${subject} is required` : `${subject} must be ${article(issue.expected)} ${issue.expected}, not ${shown(issue.input)}`;
    case 'too_small':
      return issue.origin === 'array' ? `${subject} must have at least ${String(issue.minimum)} items` : issue.origin === 'string' ? `${subject} must be at least ${String(issue.minimum)} characters long` : `${subject} must be at least ${String(issue.minimum)}${given(issue.input)}`;
    case 'too_big':
      return issue.origin === 'array' ? `${subject} must have at most ${String(issue.maximum)} items` : issue.origin === 'string' ? `${subject} must be at most ${String(issue.maximum)} characters long` : `${subject} must be at most ${String(issue.maximum)}${given(issue.input)}`;
    case 'invalid_union': {
      // The branch that got furthest (not a plain type mismatch) says what was wrong.
      const branch = issue.errors.find((issues) => issues.every((inner) => inner.code !== 'invalid_type'));
      const inner = branch?.[0];
      return inner === undefined ? `${subject} has an invalid value${given(issue.input)}` : describeIssue(inner, path);
    }
    case 'invalid_format':
      return `${subject} ${issue.message}${given(issue.input)}`;
    case 'invalid_value':
      return `${subject} must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}${given(issue.input)}`;
    default:
      return `${subject} ${issue.message}${given(issue.input)}`;
  }
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

function given(input: unknown): string {
  return input === undefined ? '' : ` (got ${shown(input)})`;
}

function validate<T>(schema: z.ZodType<T>, value: unknown, root: readonly string[]): ValidationResult<T> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  const errors = result.error.issues.map((issue) => {
    const path = formatPath([...root, ...issue.path]);
    return { path, message: describeIssue(issue, path) };
  });
  return { ok: false, errors };
}

/**
 * Validates a PhantomCluster `spec` (as found in the object, before or after the API server's
 * defaulting) and returns it with defaults applied, or every problem with its `spec.` path.
 */
export function validateClusterSpec(spec: unknown): ValidationResult<PhantomClusterSpec> {
  return validate(clusterSpecSchema, spec, ['spec']);
}

/** Validates a whole PhantomCluster object (apiVersion, kind, metadata.name, spec, status). */
export function validateCluster(object: unknown): ValidationResult<PhantomCluster> {
  return validate(phantomClusterSchema, object, []);
}

/** Validates a whole PhantomBackup object. */
export function validateBackup(object: unknown): ValidationResult<PhantomBackup> {
  return validate(phantomBackupSchema, object, []);
}

/** Validates a whole PhantomScheduledBackup object. */
export function validateScheduledBackup(object: unknown): ValidationResult<PhantomScheduledBackup> {
  return validate(phantomScheduledBackupSchema, object, []);
}

/**
 * The transition rules of a spec update (immutable fields, volumes that must not shrink), which
 * the CRD expresses with `oldSelf` where CEL can. Both specs must already be valid.
 */
export function validateClusterSpecChange(previous: PhantomClusterSpec, next: PhantomClusterSpec): readonly FieldError[] {
  const errors: FieldError[] = [];
  if (previous.storage.storageClassName !== next.storage.storageClassName) {
    errors.push({ path: 'spec.storage.storageClassName', message: 'spec.storage.storageClassName is immutable' });
  }
  const previousBytes = quantityToNumber(previous.storage.size);
  const nextBytes = quantityToNumber(next.storage.size);
  if (nextBytes < previousBytes) {
    errors.push({ path: 'spec.storage.size', message: `spec.storage.size cannot shrink from ${String(previous.storage.size)} to ${String(next.storage.size)}` });
  }
  if (JSON.stringify(previous.bootstrap) !== JSON.stringify(next.bootstrap)) {
    errors.push({ path: 'spec.bootstrap', message: 'spec.bootstrap is immutable' });
  }
  return errors;
}
