/**
 * API errors of the Kubernetes API test server. Each is an expected failure with a stable
 * `reason` (the same strings a real kube-apiserver puts into a `Status`), rendered by
 * `statusBody` into the `Status` object that kubectl and client-node read.
 */
import type { JsonObject } from './json.ts';

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'Gone'
  | 'Expired'
  | 'Forbidden'
  | 'NotAcceptable'
  | 'InternalError';

const codeOfReason: Record<StatusReason, number> = {
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  BadRequest: 400,
  MethodNotAllowed: 405,
  UnsupportedMediaType: 415,
  Gone: 410,
  Expired: 410,
  Forbidden: 403,
  NotAcceptable: 406,
  InternalError: 500,
};

/** One failing field of an `Invalid` error, as in `Status.details.causes`. */
export interface FieldCause {
  readonly reason: string;
  readonly message: string;
  readonly field: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly causes?: readonly FieldCause[];
}

export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly code: number;
  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details: StatusDetails = {},
  ) {
    super(message);
    this.code = codeOfReason[reason];
  }
}

/** `<resource>.<group> "<name>" not found` (the group is omitted for the core group). */
export function notFound(group: string, plural: string, name: string): KubeApiError {
  const qualified = group === '' ? plural : `${plural}.${group}`;
  return new KubeApiError('NotFound', `${qualified} "${name}" not found`, { name, group, kind: plural });
}

export function alreadyExists(group: string, plural: string, name: string): KubeApiError {
  const qualified = group === '' ? plural : `${plural}.${group}`;
  return new KubeApiError('AlreadyExists', `${qualified} "${name}" already exists`, { name, group, kind: plural });
}

export function conflict(group: string, plural: string, name: string): KubeApiError {
  const qualified = group === '' ? plural : `${plural}.${group}`;
  return new KubeApiError(
    'Conflict',
    `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group, kind: plural },
  );
}

export function badRequest(message: string): KubeApiError {
  return new KubeApiError('BadRequest', message);
}

/**
 * An `Invalid` error listing every failing field, worded like the real server:
 * `Foo.example.io "x" is invalid: [spec.a: Required value, spec.b: Invalid value: ...]`.
 */
export function invalid(kind: string, group: string, name: string, causes: readonly FieldCause[]): KubeApiError {
  const qualifiedKind = group === '' ? kind : `${kind}.${group}`;
  const parts = causes.map((cause) => `${cause.field}: ${cause.message}`);
  const joined = parts.length === 1 ? (parts[0] ?? '') : `[${parts.join(', ')}]`;
  return new KubeApiError('Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    name,
    group,
    kind,
    causes,
  });
}

/** The `Status` object for an error. */
export function statusBody(error: KubeApiError): JsonObject {
  const details: JsonObject = {};
  if (error.details.name !== undefined) details['name'] = error.details.name;
  if (error.details.group !== undefined) details['group'] = error.details.group;
  if (error.details.kind !== undefined) details['kind'] = error.details.kind;
  if (error.details.causes !== undefined) {
    details['causes'] = error.details.causes.map((cause) => ({ ...cause }));
  }
  const body: JsonObject = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: error.message,
    reason: error.reason,
    code: error.code,
  };
  if (Object.keys(details).length > 0) body['details'] = details;
  return body;
}
