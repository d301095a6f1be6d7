/**
 * The in-memory side of the shared Raft log: per group, the snapshot marker, hard state and an
 * index of live entries ((group, index) -> segment, data offset), plus a bounded cache of entry
 * data. Records change it through `applyRecord`, the single replay function used both when a
 * record is written and when segments are read back at open, so the two can never disagree.
 * No I/O happens here.
 */
import { assert } from '../../assert.ts';
import { crc32c } from '../../storage/crc32c.ts';
import { CompactedError, UnavailableError } from '../storage.ts';
import { checkIndex, type EntryKind, type GroupId, type HardState, type SnapshotMeta } from '../types.ts';
import type { DecodedRecord } from './format.ts';

/** The segment number of a placeholder: an entry replay knows of but whose record was in a deleted segment. */
export const placeholderSegment = -1;

/** Where one live entry is, and its data while cached. */
export interface StoredEntry {
  readonly term: number;
  readonly kind: EntryKind;
  readonly segment: number;
  /** File offset of the entry's data within its segment. */
  readonly dataOffset: number;
  readonly dataBytes: number;
  /** CRC32C of the data, checked when the data is read back from the segment. */
  readonly dataCrc: number;
  /** The data while it is cached, else null (read it back from the segment). */
  data: Uint8Array | null;
}

/** A record's content contradicts the state replayed so far (the log is damaged or foreign). */
export class ReplayError extends Error {
  override readonly name = 'ReplayError';
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ReplayError(message);
}

/**
 * Entry data kept in memory, bounded by bytes, evicted oldest-cached first. Evicted or dropped
 * entries stay in the queue until popped; the queue is filtered when such stale slots dominate,
 * so it stays proportional to the cached entries.
 */
export class EntryCache {
  private queue: StoredEntry[] = [];
  private head = 0;
  private cachedEntries = 0;
  private bytes = 0;

  constructor(readonly cacheBytesMax: number) {}

  get cachedBytes(): number {
    return this.bytes;
  }

  add(entry: StoredEntry, data: Uint8Array): void {
    assert(entry.data === null, 'an entry is cached once');
    if (data.byteLength > this.cacheBytesMax) return;
    while (this.bytes + data.byteLength > this.cacheBytesMax) this.evictOldest();
    entry.data = data;
    this.bytes += data.byteLength;
    this.cachedEntries++;
    this.queue.push(entry);
  }

  /** Forgets an entry's data (it was truncated, compacted or its group removed). */
  drop(entry: StoredEntry): void {
    if (entry.data === null) return;
    this.bytes -= entry.data.byteLength;
    this.cachedEntries--;
    entry.data = null;
    this.maybeCompactQueue();
  }

  private evictOldest(): void {
    const entry = this.queue[this.head];
    assert(entry !== undefined, 'cache bytes are accounted to queued entries');
    this.queue[this.head] = placeholderEntry;
    this.head++;
    if (entry.data !== null) {
      this.bytes -= entry.data.byteLength;
      this.cachedEntries--;
      entry.data = null;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private maybeCompactQueue(): void {
    const queued = this.queue.length - this.head;
    if (queued < 1024 || queued <= this.cachedEntries * 2) return;
    this.queue = this.queue.slice(this.head).filter((entry) => entry.data !== null);
    this.head = 0;
  }
}

const placeholderEntry: StoredEntry = { term: 0, kind: 'normal', segment: placeholderSegment, dataOffset: 0, dataBytes: 0, dataCrc: 0, data: null };

/** One group's persisted log as the engine knows it. entries[0] is at snapshot.index + 1. */
export class GroupLog {
  entries: StoredEntry[] = [];

  constructor(
    readonly groupId: GroupId,
    public snapshot: SnapshotMeta,
    public hardState: HardState,
  ) {}

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  /** The term at `index`, with RaftStorage's errors (as MemoryRaftStorage). */
  term(index: number): number {
    checkIndex(index, 'index');
    if (index < this.snapshot.index) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(`term of index ${index}`);
    if (index === this.snapshot.index) return this.snapshot.term;
    return this.stored(index).term;
  }

  stored(index: number): StoredEntry {
    const entry = this.entries[index - this.firstIndex()];
    assert(entry !== undefined, `group ${this.groupId}: entry ${index} within bounds exists`);
    return entry;
  }
}

/** Every group's log, the entry cache and how many live entries each segment holds. */
export class LogState {
  readonly groups = new Map<GroupId, GroupLog>();
  readonly cache: EntryCache;
  /** Live entries per segment number; a segment at zero holds nothing any group still needs but state a later checkpoint repeats. */
  private readonly liveEntriesBySegment = new Map<number, number>();

  constructor(cacheBytesMax: number) {
    this.cache = new EntryCache(cacheBytesMax);
  }

  liveEntriesIn(segment: number): number {
    return this.liveEntriesBySegment.get(segment) ?? 0;
  }

  /**
   * Applies one record found (or just written) at `payloadOffset` of `segment`. Entry data are
   * copied into the cache when `copyData` (replay reads views of a whole segment's buffer).
   * Throws ReplayError when the record contradicts the state.
   */
  applyRecord(decoded: DecodedRecord, segment: number, payloadOffset: number, copyData: boolean): void {
    const record = decoded.record;
    switch (record.kind) {
      case 'create': {
        check(!this.groups.has(record.groupId), `group ${record.groupId} is created twice`);
        this.groups.set(record.groupId, new GroupLog(record.groupId, record.snapshot, record.hardState));
        return;
      }
      case 'append': {
        const group = this.group(record.groupId);
        const first = record.entries[0];
        if (first !== undefined) {
          check(first.index > group.snapshot.index, `group ${group.groupId}: append at ${first.index} is at or below the snapshot ${group.snapshot.index}`);
          check(first.index <= group.lastIndex() + 1, `group ${group.groupId}: append at ${first.index} leaves a gap after ${group.lastIndex()}`);
          this.dropEntries(group.entries.splice(first.index - group.firstIndex()));
          record.entries.forEach((entry, i) => {
            const position = decoded.dataPositions[i];
            assert(position !== undefined, 'every entry has a data position');
            const stored: StoredEntry = {
              term: entry.term,
              kind: entry.kind,
              segment,
              dataOffset: payloadOffset + position,
              dataBytes: entry.data.byteLength,
              dataCrc: crc32c(entry.data),
              data: null,
            };
            group.entries.push(stored);
            this.liveEntriesBySegment.set(segment, this.liveEntriesIn(segment) + 1);
            this.cache.add(stored, copyData ? new Uint8Array(entry.data) : entry.data);
          });
        }
        if (record.hardState !== null) group.hardState = record.hardState;
        return;
      }
      case 'snapshot': {
        const group = this.group(record.groupId);
        const snapshot = record.snapshot;
        check(snapshot.index >= group.snapshot.index, `group ${group.groupId}: snapshot ${snapshot.index} goes backwards from ${group.snapshot.index}`);
        if (record.keepEntries) {
          check(snapshot.index <= group.lastIndex(), `group ${group.groupId}: snapshot ${snapshot.index} keeps entries but is past the log end ${group.lastIndex()}`);
          this.dropEntries(group.entries.splice(0, snapshot.index - group.snapshot.index));
        } else {
          this.dropEntries(group.entries.splice(0));
        }
        group.snapshot = snapshot;
        // A snapshot holds committed state only, so its index is committed: the durable commit
        // index moves with it. The host persists a commit-only hard state change lazily, and
        // otherwise a crash right after installing a snapshot left a commit index below the
        // snapshot, which the Raft core (rightly) refuses to start from.
        if (group.hardState.commit < snapshot.index) group.hardState = { ...group.hardState, commit: snapshot.index };
        return;
      }
      case 'checkpoint':
        this.applyCheckpoint(record.groupId, record.snapshot, record.hardState, record.lastIndex);
        return;
      case 'remove': {
        const group = this.group(record.groupId);
        this.dropEntries(group.entries.splice(0));
        this.groups.delete(record.groupId);
        return;
      }
    }
  }

  /**
   * A checkpoint repeats a known group's state (and must agree with it), or introduces a group
   * whose earlier records were in deleted segments: its entries up to `lastIndex` become
   * placeholders, which later records must drop before replay ends.
   */
  private applyCheckpoint(groupId: GroupId, snapshot: SnapshotMeta, hardState: HardState, lastIndex: number): void {
    check(lastIndex >= snapshot.index, `group ${groupId}: checkpoint last index ${lastIndex} is below its snapshot ${snapshot.index}`);
    const known = this.groups.get(groupId);
    if (known !== undefined) {
      check(known.snapshot.index === snapshot.index, `group ${groupId}: checkpoint snapshot ${snapshot.index} disagrees with ${known.snapshot.index}`);
      check(known.lastIndex() === lastIndex, `group ${groupId}: checkpoint last index ${lastIndex} disagrees with ${known.lastIndex()}`);
      known.hardState = hardState;
      return;
    }
    const group = new GroupLog(groupId, snapshot, hardState);
    for (let index = snapshot.index + 1; index <= lastIndex; index++) group.entries.push({ ...placeholderEntry });
    this.groups.set(groupId, group);
  }

  /** Groups (and the first index) still holding placeholders: entries whose segment is gone. */
  missingEntries(): { groupId: GroupId; index: number }[] {
    const missing: { groupId: GroupId; index: number }[] = [];
    for (const group of this.groups.values()) {
      const at = group.entries.findIndex((entry) => entry.segment === placeholderSegment);
      if (at !== -1) missing.push({ groupId: group.groupId, index: group.firstIndex() + at });
    }
    return missing;
  }

  private group(groupId: GroupId): GroupLog {
    const group = this.groups.get(groupId);
    check(group !== undefined, `group ${groupId} does not exist`);
    return group;
  }

  private dropEntries(dropped: readonly StoredEntry[]): void {
    for (const entry of dropped) {
      this.cache.drop(entry);
      if (entry.segment === placeholderSegment) continue;
      const live = this.liveEntriesIn(entry.segment) - 1;
      assert(live >= 0, `segment ${entry.segment} live entry count goes negative`);
      if (live === 0) this.liveEntriesBySegment.delete(entry.segment);
      else this.liveEntriesBySegment.set(entry.segment, live);
    }
  }
}
