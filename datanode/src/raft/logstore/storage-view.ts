/**
 * One group's view of the shared log, implementing the Raft core's RaftStorage read interface
 * with exactly MemoryRaftStorage's behaviour (errors, bounds, maxBytes limiting).
 */
import { assert } from '../../assert.ts';
import { CompactedError, UnavailableError, type InitialState, type RaftStorage } from '../storage.ts';
import type { Entry, GroupId, SnapshotMeta } from '../types.ts';
import type { GroupLog, StoredEntry } from './state.ts';

/** What a view needs from the engine: the group's current log and a way to read evicted data. */
export interface GroupLogSource {
  /** The group's log; throws InvalidArgumentError when the group does not exist (any more). */
  groupLog(groupId: GroupId): GroupLog;
  /** An entry's data: from the cache, else read back from its segment and checked. */
  entryData(entry: StoredEntry): Uint8Array;
}

/** Bytes an entry counts for in `maxBytes`, as `entryBytes` in types.ts (payload plus 16). */
function storedEntryBytes(entry: StoredEntry): number {
  return entry.dataBytes + 16;
}

export class DurableRaftStorage implements RaftStorage {
  constructor(
    private readonly source: GroupLogSource,
    readonly groupId: GroupId,
  ) {}

  initialState(): InitialState {
    const group = this.source.groupLog(this.groupId);
    return { hardState: group.hardState, confState: group.snapshot.confState };
  }

  firstIndex(): number {
    return this.source.groupLog(this.groupId).firstIndex();
  }

  lastIndex(): number {
    return this.source.groupLog(this.groupId).lastIndex();
  }

  term(index: number): number {
    return this.source.groupLog(this.groupId).term(index);
  }

  /** Entries lo..hi-1 within maxBytes (at least one); reads evicted data back from disk. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    const group = this.source.groupLog(this.groupId);
    if (lo < group.firstIndex()) throw new CompactedError(lo);
    if (hi > group.lastIndex() + 1) throw new UnavailableError(`entries up to ${hi - 1}`);
    const out: Entry[] = [];
    let total = 0;
    for (let index = lo; index < hi; index++) {
      const stored = group.stored(index);
      total += storedEntryBytes(stored);
      if (out.length > 0 && total > maxBytes) break;
      out.push({ term: stored.term, index, kind: stored.kind, data: this.source.entryData(stored) });
    }
    return out;
  }

  snapshot(): SnapshotMeta {
    return this.source.groupLog(this.groupId).snapshot;
  }
}
