/**
 * Protected timestamps: how backups keep MVCC garbage collection away from versions they still
 * need. A full backup at T needs each key's newest version at or below T; an incremental backup
 * (S, T] needs every version above S. The storage engine's GC keeps, per key, the newest version
 * at or below its threshold and everything above it (StorageEngine.setMvccGcThreshold), so a GC
 * threshold at or below every protected timestamp keeps all of that.
 *
 * A backup protects its timestamp while it runs; a chain protects its latest backup's timestamp
 * until the next incremental is taken (or the chain ends). Protections may expire, so a chain
 * that was abandoned does not hold garbage forever.
 *
 * This registry is pure and in memory. The KV layer must persist protections through Raft (one
 * record per protection) so that every replica's GC honours them after restarts; it then feeds
 * `gcThreshold` to each engine.
 */
import { compareTimestamps, formatTimestamp, type HlcTimestamp } from '../hlc/hlc.ts';
import { InvalidArgumentError } from '../storage/errors.ts';

export interface Protection {
  readonly id: string;
  readonly ts: HlcTimestamp;
  /** Why (for status and logs), e.g. "backup nightly-202611260300 running". */
  readonly reason: string;
  /** When the protection lapses by itself (ms, the same clock as `nowMs`); absent: until released. */
  readonly expiresAtMs?: number;
}

/** Protections are few (one per running backup and per chain); refuse runaway growth. */
export const protectionsMax = 10_000;

export class ProtectedTimestamps {
  private readonly protections = new Map<string, Protection>();

  /** Adds or replaces the protection `id`. */
  protect(protection: Protection): void {
    if (!this.protections.has(protection.id) && this.protections.size >= protectionsMax) {
      throw new InvalidArgumentError(`too many protected timestamps (${protectionsMax}); release finished backups`);
    }
    this.protections.set(protection.id, protection);
  }

  /** Removes a protection; releasing an unknown id does nothing. */
  release(id: string): void {
    this.protections.delete(id);
  }

  /** The protections still in force at `nowMs`, oldest timestamp first. Expired ones are dropped. */
  live(nowMs: number): Protection[] {
    for (const [id, protection] of this.protections) {
      if (protection.expiresAtMs !== undefined && protection.expiresAtMs <= nowMs) this.protections.delete(id);
    }
    return [...this.protections.values()].sort((a, b) => compareTimestamps(a.ts, b.ts));
  }

  /** The highest GC threshold allowed: `desired`, held back to the oldest live protection. */
  gcThreshold(desired: HlcTimestamp, nowMs: number): HlcTimestamp {
    const oldest = this.live(nowMs)[0];
    return oldest !== undefined && compareTimestamps(oldest.ts, desired) < 0 ? oldest.ts : desired;
  }

  /** One line per live protection, for status pages and logs. */
  describe(nowMs: number): string[] {
    return this.live(nowMs).map((protection) => `${protection.id} at ${formatTimestamp(protection.ts)}: ${protection.reason}`);
  }
}
