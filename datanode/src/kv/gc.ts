/**
 * MVCC garbage collection policy: which versions a node's engine may drop. Compaction keeps, per
 * user key, its newest version at or below the engine's GC threshold and every newer one
 * (StorageEngine.setMvccGcThreshold); older versions go. The threshold is `now - gcTtl`, held
 * back to the oldest protected timestamp still in force (a running backup at T needs each key's
 * newest version at or below T; an incremental chain at S needs every version above S).
 *
 * Protections live in the meta range (command.ts 'protect-ts'), so they survive restarts and
 * every node sees the same ones; each has an expiry, so a crashed operator or an abandoned chain
 * does not pin garbage forever. A node that cannot read them (no meta replica here yet) does not
 * raise its threshold at all: it keeps garbage rather than risk dropping protected versions.
 */
import { decodeTimestamp, encodeTimestamp, timestamp, type HlcTimestamp } from '../hlc/hlc.ts';
import type { StoredProtection } from './command.ts';

export interface GcInputs {
  /** The node's clock now. */
  readonly now: HlcTimestamp;
  /** Versions shadowed longer than this are garbage. */
  readonly gcTtlMs: number;
  /** The protected timestamps of the meta range (undefined: not readable on this node). */
  readonly protections: readonly StoredProtection[] | undefined;
  /** Wall-clock ms, for protection expiry. */
  readonly nowMs: number;
  /** The engine's current threshold (it never moves back). */
  readonly current: bigint | undefined;
}

/**
 * The protections a node's GC may go by: its meta range replica's, once that replica holds the
 * meta range's state; undefined (GC stays put) on a node with no meta replica, or one still
 * waiting for its first snapshot (a joining node). Every cluster member holds a meta replica
 * (joining adds a node to the meta range first; placement places user ranges only on the meta
 * range's members; the meta replica is never dropped), so a node holding user data and reading
 * no protections keeps garbage rather than dropping what a backup needs.
 */
export function gcProtectionsOf(meta: { readonly initialized: boolean; protectedTimestamps(): readonly StoredProtection[] } | undefined): readonly StoredProtection[] | undefined {
  return meta?.initialized === true ? meta.protectedTimestamps() : undefined;
}

/** The protections still in force at `nowMs`. */
export function liveProtections(protections: readonly StoredProtection[], nowMs: number): StoredProtection[] {
  return protections.filter((protection) => protection.expiresAtMs > nowMs);
}

/**
 * The GC threshold to set now (a packed HLC timestamp), or undefined when it should stay where
 * it is (protections unknown, or the new threshold is not above the current one).
 */
export function nextGcThreshold(inputs: GcInputs): bigint | undefined {
  if (inputs.protections === undefined) return undefined;
  let threshold = encodeTimestamp(timestamp(Math.max(0, inputs.now.wallMs - inputs.gcTtlMs)));
  for (const protection of liveProtections(inputs.protections, inputs.nowMs)) if (protection.ts < threshold) threshold = protection.ts;
  if (inputs.current !== undefined && threshold <= inputs.current) return undefined;
  return threshold;
}

/** The oldest timestamp a read may ask for on an engine with GC threshold `current`. */
export function oldestReadableTs(current: bigint | undefined): bigint {
  return current ?? 0n;
}

/** Text form of a packed timestamp for errors and logs. */
export function describeTs(ts: bigint): string {
  const hlc = decodeTimestamp(ts);
  return `${hlc.wallMs}.${String(hlc.logical).padStart(5, '0')} (${new Date(hlc.wallMs).toISOString()})`;
}
