/**
 * A stable content hash of desired objects: the same input gives the same hash on every operator
 * version, platform and key order, so upgrading the operator never restarts data pods whose
 * template did not really change.
 */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level and `undefined` members dropped (as JSON.stringify
 * drops them), so logically equal values serialize identically.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot hash a ${typeof value}`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
}

/** Length of the hex hashes we write to annotations: 64 bits, ample for change detection. */
export const contentHashHexLength = 16;

/** SHA-256 of the canonical JSON of `value`, as 16 hex characters. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, contentHashHexLength);
}
