/**
 * The read interface the Raft core uses to reach the host's persisted log, plus an in-memory
 * implementation for tests. The durable shared log engine implements the same interface.
 */
import { assert } from '../assert.ts';
import {
  checkIndex,
  emptyHardState,
  entryBytes,
  simpleConfState,
  type ConfState,
  type Entry,
  type HardState,
  type SnapshotMeta,
} from './types.ts';
import { PhantomError } from '../errors.ts';

/**
 * Expected failures of a Raft log storage. Their codes are stable and in the registry
 * (datanode/src/errors.ts, docs/errors.md); callers branch on `code`.
 */
export abstract class RaftStorageError extends PhantomError {
  abstract override readonly code: 'PH_RAFT_COMPACTED' | 'PH_RAFT_UNAVAILABLE';
}

/** The requested index is at or below the snapshot: its entry (or term) was compacted away. */
export class CompactedError extends RaftStorageError {
  readonly code = 'PH_RAFT_COMPACTED';
  override readonly name = 'CompactedError';
  constructor(readonly index: number) {
    super(`raft log index ${index} is compacted`);
  }
}

/** The requested index is past the end of the log, or the snapshot is not ready yet. */
export class UnavailableError extends RaftStorageError {
  readonly code = 'PH_RAFT_UNAVAILABLE';
  override readonly name = 'UnavailableError';
  constructor(readonly what: string) {
    super(`raft storage: ${what} is unavailable`);
  }
}

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * What the core reads from persisted state. Contract:
 * - The log holds entries firstIndex()..lastIndex(); index firstIndex()-1 is the snapshot's
 *   index, whose term `term()` still answers. An empty log has lastIndex() = firstIndex()-1.
 * - `entries(lo, hi, maxBytes)` returns entries lo..hi-1, stopping once maxBytes is exceeded
 *   but always returning at least one entry when lo < hi. Throws CompactedError when
 *   lo < firstIndex(), UnavailableError when hi > lastIndex()+1.
 * - `term(i)` throws CompactedError below firstIndex()-1 and UnavailableError above lastIndex().
 * - `snapshot()` returns the newest snapshot metadata or throws UnavailableError when one is
 *   being produced (the core then retries later).
 */
export interface RaftStorage {
  initialState(): InitialState;
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): SnapshotMeta;
}

/** Returns the longest prefix of `entries` within `maxBytes` (never fewer than one entry). */
export function limitEntryBytes(entries: readonly Entry[], maxBytes: number): Entry[] {
  let total = 0;
  const out: Entry[] = [];
  for (const entry of entries) {
    total += entryBytes(entry);
    if (out.length > 0 && total > maxBytes) break;
    out.push(entry);
  }
  return out;
}

/**
 * An in-memory RaftStorage. Tests use it as the "disk": only what the host writes here
 * (append, setHardState, applySnapshot) survives a simulated crash.
 */
export class MemoryRaftStorage implements RaftStorage {
  private hardState: HardState = emptyHardState;
  private snapshotMeta: SnapshotMeta;
  /** entries[0] is the entry at snapshotMeta.index + 1. */
  private log: Entry[] = [];

  /**
   * With a non-empty `confState`, bootstraps a new group: a snapshot at index 1, term 1 holds
   * the initial configuration (so that a node added later, whose log is empty, is always
   * initialized by a snapshot carrying the configuration). Without one, the node starts empty
   * and waits for a leader's snapshot.
   */
  constructor(confState: ConfState = simpleConfState([])) {
    const bootstrap = confState.voters.length > 0;
    this.snapshotMeta = { index: bootstrap ? 1 : 0, term: bootstrap ? 1 : 0, confState, reference: bootstrap ? 'bootstrap' : '' };
    if (bootstrap) this.hardState = { term: 1, vote: 0, commit: 1 };
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snapshotMeta.confState };
  }

  firstIndex(): number {
    return this.snapshotMeta.index + 1;
  }

  lastIndex(): number {
    return this.snapshotMeta.index + this.log.length;
  }

  term(index: number): number {
    checkIndex(index, 'index');
    if (index < this.snapshotMeta.index) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(`term of index ${index}`);
    if (index === this.snapshotMeta.index) return this.snapshotMeta.term;
    const entry = this.log[index - this.firstIndex()];
    assert(entry !== undefined, 'entry within bounds exists');
    return entry.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(`entries up to ${hi - 1}`);
    const offset = this.firstIndex();
    return limitEntryBytes(this.log.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): SnapshotMeta {
    return this.snapshotMeta;
  }

  // ---- host-side writes (what the host does with a Ready) ----

  setHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  /** Appends entries, first deleting any persisted entries at or after entries[0].index. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.snapshotMeta.index, 'append below the snapshot');
    assert(first.index <= this.lastIndex() + 1, 'append leaves a gap');
    this.log = this.log.slice(0, first.index - this.firstIndex());
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, 'entries are contiguous');
      this.log.push(entry);
    }
  }

  /** Installs a snapshot received from the leader, discarding the whole log it supersedes. */
  applySnapshot(snapshot: SnapshotMeta): void {
    assert(snapshot.index >= this.snapshotMeta.index, 'snapshot goes backwards');
    let keep: Entry[] = [];
    if (snapshot.index <= this.lastIndex() && this.term(snapshot.index) === snapshot.term) {
      keep = this.log.slice(snapshot.index + 1 - this.firstIndex());
    }
    this.snapshotMeta = snapshot;
    this.log = keep;
    // A snapshot holds committed state only: its index is committed (as RaftLogEngine records).
    if (this.hardState.commit < snapshot.index) this.hardState = { ...this.hardState, commit: snapshot.index };
  }

  /**
   * Records a local snapshot of the applied state at `index` (with the configuration in force
   * there) and drops the log up to it. The caller guarantees index <= applied.
   */
  createSnapshot(index: number, confState: ConfState, reference: string): SnapshotMeta {
    assert(index >= this.snapshotMeta.index, 'snapshot index goes backwards');
    assert(index <= this.lastIndex(), 'snapshot past the end of the log');
    const term = this.term(index);
    this.log = this.log.slice(index + 1 - this.firstIndex());
    this.snapshotMeta = { index, term, confState, reference };
    if (this.hardState.commit < index) this.hardState = { ...this.hardState, commit: index };
    return this.snapshotMeta;
  }

  /** All persisted entries (for test invariants). */
  allEntries(): readonly Entry[] {
    return this.log;
  }
}
