/**
 * The Raft log as the core sees it: persisted entries (through RaftStorage) followed by
 * unstable entries that the host has not persisted yet, plus the commit and applied indexes.
 */
import { assert } from '../assert.ts';
import { CompactedError, limitEntryBytes, UnavailableError, type RaftStorage } from './storage.ts';
import { checkIndex, type Entry, type SnapshotMeta } from './types.ts';

/** Entries and snapshot not yet handed to (or not yet acknowledged by) the host's storage. */
class Unstable {
  snapshot: SnapshotMeta | undefined = undefined;
  entries: Entry[] = [];
  /** Index of entries[0] (or where it would be). */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  lastIndex(): number | undefined {
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined) return last.index;
    return this.snapshot?.index;
  }

  term(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.index === index) return this.snapshot.term;
      return undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index === this.offset + this.entries.length) {
      this.entries.push(...entries);
    } else if (first.index <= this.offset) {
      // Replaces everything unstable; the host deletes the persisted suffix when it writes these.
      this.offset = first.index;
      this.entries = [...entries];
    } else {
      this.entries = this.entries.slice(0, first.index - this.offset);
      this.entries.push(...entries);
    }
  }
}

export class RaftLog {
  readonly storage: RaftStorage;
  private unstable: Unstable;
  committed: number;
  applied: number;
  maxApplyBytes: number;

  constructor(storage: RaftStorage, maxApplyBytes: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // Everything up to the snapshot is committed and applied by definition.
    this.committed = first - 1;
    this.applied = first - 1;
    this.maxApplyBytes = maxApplyBytes;
  }

  firstIndex(): number {
    const snapshot = this.unstable.snapshot;
    return snapshot !== undefined ? snapshot.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** The term of entry `index`; throws CompactedError or UnavailableError outside the log. */
  term(index: number): number {
    checkIndex(index, 'index');
    const dummy = this.firstIndex() - 1;
    if (index < dummy) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(`term of index ${index}`);
    return this.unstable.term(index) ?? this.storage.term(index);
  }

  /** The term of entry `index`, or 0 when it is compacted or past the end. */
  termOrZero(index: number): number {
    // Past the end is the common case (a follower checking the new entries of every append):
    // answered without building an UnavailableError (its stack trace) per entry.
    checkIndex(index, 'index');
    if (index > this.lastIndex() || index < this.firstIndex() - 1) return 0;
    try {
      return this.term(index);
    } catch (error) {
      if (error instanceof CompactedError || error instanceof UnavailableError) return 0;
      throw error;
    }
  }

  matchTerm(index: number, term: number): boolean {
    return this.termOrZero(index) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myLastTerm = this.lastTerm();
    return lastTerm > myLastTerm || (lastTerm === myLastTerm && lastIndex >= this.lastIndex());
  }

  /** Entries lo..hi-1 limited to maxBytes (at least one). Throws CompactedError below the log. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `slice: lo ${lo} > hi ${hi}`);
    if (lo === hi) return [];
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    assert(hi <= this.lastIndex() + 1, `slice past the end: ${hi}`);
    const out: Entry[] = [];
    const unstableOffset = this.unstable.offset;
    if (lo < unstableOffset) {
      out.push(...this.storage.entries(lo, Math.min(hi, unstableOffset), maxBytes));
      const last = out[out.length - 1];
      // Storage stopped early because of the byte limit.
      if (last === undefined || last.index < Math.min(hi, unstableOffset) - 1) return out;
    }
    if (hi > unstableOffset) {
      const from = Math.max(lo, unstableOffset);
      out.push(...this.unstable.entries.slice(from - unstableOffset, hi - unstableOffset));
    }
    return limitEntryBytes(out, maxBytes);
  }

  /** The index of the first entry that conflicts with (or extends) the log, or 0. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with its term. Used both by the
   * follower to build a rejection hint and by the leader to skip whole terms.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let probe = Math.min(index, this.lastIndex());
    for (; probe >= this.firstIndex() - 1; probe--) {
      const probeTerm = this.termOrZero(probe);
      if (probeTerm <= term) return { index: probe, term: probeTerm };
    }
    return { index: probe < 0 ? 0 : probe, term: 0 };
  }

  /**
   * Appends a leader's entries after prevIndex/prevTerm if they match. Returns the last index
   * now known to match the leader, or undefined on a mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `conflict at ${conflict} with committed entry (commit ${this.committed})`);
      const first = entries[0];
      assert(first !== undefined, 'a conflict implies entries');
      this.append(entries.slice(conflict - first.index));
    }
    this.commitTo(Math.min(commit, lastNewIndex));
    return lastNewIndex;
  }

  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    assert(first.index - 1 >= this.committed, `append would overwrite committed index ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Commits up to `maxIndex` if that entry is from `term` (Raft §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed, `applied ${index} beyond committed ${this.committed}`);
    assert(index >= this.applied, `applied ${index} goes backwards from ${this.applied}`);
    this.applied = index;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, this.maxApplyBytes);
  }

  /** The last index the host has persisted (and that is still part of this log). */
  stableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
  }

  unstableEntries(): Entry[] {
    return [...this.unstable.entries];
  }

  unstableSnapshot(): SnapshotMeta | undefined {
    return this.unstable.snapshot;
  }

  /** The host persisted entries up to (index, term): they no longer need to be handed out. */
  stableTo(index: number, term: number): void {
    const unstableTerm = this.unstable.term(index);
    if (unstableTerm !== term || index < this.unstable.offset) return;
    this.unstable.entries = this.unstable.entries.slice(index + 1 - this.unstable.offset);
    this.unstable.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstable.snapshot?.index === index) this.unstable.snapshot = undefined;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(snapshot: SnapshotMeta): void {
    this.committed = snapshot.index;
    this.unstable.snapshot = snapshot;
    this.unstable.entries = [];
    this.unstable.offset = snapshot.index + 1;
  }

  /** The latest snapshot known (the unstable one first, then the storage's). */
  snapshot(): SnapshotMeta {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}
