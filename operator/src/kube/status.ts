/**
 * Status writes that happen only when the status really changed (STYLE.md: writing status on
 * every pass makes hot loops: each write is a watch event that triggers another reconcile). The
 * comparison is a deep one on canonical JSON, so key order and undefined members do not count.
 * Writes go through the `/status` subresource with the resourceVersion that was read, so a
 * concurrent change is never overwritten silently.
 */
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { canonicalJson } from '../resources/index.ts';
import { isConflict } from './errors.ts';

export interface CustomResourceRef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace: string;
  readonly name: string;
}

export interface ObjectWithStatus {
  readonly metadata: { readonly resourceVersion?: string | undefined } & Record<string, unknown>;
  readonly status?: unknown;
  readonly [key: string]: unknown;
}

/** Deep equality of two JSON values, ignoring key order and undefined members. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

export type StatusWriteResult = { readonly written: false } | { readonly written: true; readonly object: ObjectWithStatus };

export class StatusConflictError extends Error {
  readonly code = 'PH_STATUS_CONFLICT';
  override readonly name = 'StatusConflictError';
}

/**
 * Writes `status` to the object when it differs from `current.status`. On a conflict (the object
 * changed since it was read) it throws StatusConflictError: the caller re-reads and reconciles
 * again rather than writing a status computed from an older object.
 */
export async function writeStatusIfChanged(api: CustomObjectsApi, ref: CustomResourceRef, current: ObjectWithStatus, status: unknown): Promise<StatusWriteResult> {
  if (jsonEqual(current.status, status)) return { written: false };
  const body = { ...current, status };
  try {
    const written: unknown = await api.replaceNamespacedCustomObjectStatus({ ...ref, body });
    return { written: true, object: written as ObjectWithStatus };
  } catch (error) {
    if (isConflict(error)) throw new StatusConflictError(`${ref.namespace}/${ref.name} changed since it was read`);
    throw error;
  }
}
