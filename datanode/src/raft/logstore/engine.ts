/**
 * The node's shared Raft log: one segmented, CRC-framed log for every Raft group on the node,
 * with group commit across groups. See README.md in this folder for the design.
 */
import { assert } from '../../assert.ts';
import { PhantomError } from '../../errors.ts';
import { crc32c } from '../../storage/crc32c.ts';
import {
  ClosedError,
  CorruptionError,
  InvalidArgumentError,
  InvalidOptionsError,
  ReadOnlyError,
  StorageIOError,
} from '../../storage/errors.ts';
import type { StorageFs } from '../../storage/fs.ts';
import { RecordLogWriter, readRecordLog, recordBytesMaxLimit, recordHeaderBytes } from '../../storage/record-log.ts';
import type { RaftStorage } from '../storage.ts';
import { checkIndex, type ConfState, type Entry, type GroupId, type HardState, type SnapshotMeta } from '../types.ts';
import { RecordFormatError, decodeRecord, encodeRecord, type LogRecord } from './format.ts';
import { listSegments, segmentPath } from './segments.ts';
import { LogState, ReplayError, type GroupLog, type StoredEntry } from './state.ts';
import { DurableRaftStorage, type GroupLogSource } from './storage-view.ts';

/** A monotonic millisecond clock, injected so tests control fsync latencies. */
export interface LogClock {
  nowMs(): number;
}

const performanceClock: LogClock = { nowMs: () => performance.now() };

export interface RaftLogEngineOptions {
  /** A segment is closed and a new one started once it reaches this size. Default 64 MiB. */
  readonly segmentBytesMax?: number;
  /** Largest record (one group's append) in bytes; larger appends reject with InvalidArgumentError. Default 16 MiB. */
  readonly recordBytesMax?: number;
  /** Entry data kept in memory across all groups; the rest is read back from segments. Default 64 MiB. */
  readonly cacheBytesMax?: number;
  /** Most live groups; createGroup beyond it rejects with InvalidArgumentError. Default 100 000. */
  readonly groupsMax?: number;
  readonly clock?: LogClock;
  /** Called with the duration (ms) of every fsync of the log, after it is counted (metrics). */
  readonly onFsync?: (elapsedMs: number) => void;
}

interface ResolvedOptions {
  readonly segmentBytesMax: number;
  readonly recordBytesMax: number;
  readonly cacheBytesMax: number;
  readonly groupsMax: number;
  readonly clock: LogClock;
  readonly onFsync: ((elapsedMs: number) => void) | undefined;
}

/** Counters for metrics. A snapshot: later activity does not change it. */
export interface RaftLogStats {
  /** Write calls accepted (append, setHardState, applySnapshot, createSnapshot, createGroup, removeGroup). */
  readonly appends: number;
  /** Records written, checkpoints included. */
  readonly records: number;
  /** Bytes written, record headers included. */
  readonly bytes: number;
  /** fsyncs completed (group commits plus the synchronous one at each segment rotation). */
  readonly fsyncs: number;
  readonly fsyncLastMs: number;
  readonly fsyncMaxMs: number;
  readonly fsyncTotalMs: number;
  /** Segment files present. */
  readonly segments: number;
  readonly segmentsDeleted: number;
  readonly liveGroups: number;
  readonly cachedBytes: number;
}

interface SyncWaiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

const mebibyte = 1024 * 1024;

function resolveOptions(options: RaftLogEngineOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    segmentBytesMax: options.segmentBytesMax ?? 64 * mebibyte,
    recordBytesMax: options.recordBytesMax ?? 16 * mebibyte,
    cacheBytesMax: options.cacheBytesMax ?? 64 * mebibyte,
    groupsMax: options.groupsMax ?? 100_000,
    clock: options.clock ?? performanceClock,
    onFsync: options.onFsync,
  };
  const problems: string[] = [];
  const checkRange = (name: string, value: number, min: number, max: number): void => {
    if (!Number.isSafeInteger(value) || value < min || value > max) problems.push(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  };
  checkRange('segmentBytesMax', resolved.segmentBytesMax, 4096, 4 * 1024 * mebibyte);
  checkRange('recordBytesMax', resolved.recordBytesMax, 1024, recordBytesMaxLimit);
  checkRange('cacheBytesMax', resolved.cacheBytesMax, 0, Number.MAX_SAFE_INTEGER);
  checkRange('groupsMax', resolved.groupsMax, 1, 10_000_000);
  if (problems.length > 0) throw new InvalidOptionsError(`raft log options: ${problems.join('; ')}`);
  return resolved;
}

/**
 * The shared Raft log engine. Writes are synchronous writes into the active segment followed by
 * a group-committed fsync: every write call returns a promise that resolves once an fsync that
 * started after its record was written has completed. At most one fsync runs at a time; writes
 * arriving meanwhile (from any group) share the next one.
 *
 * The in-memory view (`storageFor`) reflects a write as soon as it is written, before it is
 * durable; the host awaits the write before acting on it (sending messages, `advance()`).
 *
 * Failure is final: a failed write or fsync rejects the writes it concerned with StorageIOError,
 * writes waiting for a later fsync and every later write reject with ReadOnlyError naming the
 * cause. Reads keep working. Not safe for two engines on one directory (one per node process).
 */
export class RaftLogEngine implements GroupLogSource {
  private readonly state: LogState;
  private active: RecordLogWriter;
  private activeSegment: number;
  /** Segment numbers present on disk, ascending; the last is the active one. */
  private readonly segments: number[];
  /** Writers of older segments, closed once no fsync can be running on them. */
  private retired: RecordLogWriter[] = [];
  private readonly readFds = new Map<number, number>();
  private pendingWaiters: SyncWaiter[] = [];
  private syncLoop: Promise<void> | null = null;
  private failure: StorageIOError | null = null;
  private closing = false;
  private closed = false;
  /** Bytes of the checkpoint that opens the active segment (rotation needs real data beyond it). */
  private activeCheckpointBytes = 0;
  private appends = 0;
  private records = 0;
  private bytes = 0;
  private fsyncs = 0;
  private fsyncLastMs = 0;
  private fsyncMaxMs = 0;
  private fsyncTotalMs = 0;
  private segmentsDeleted = 0;

  private constructor(
    private readonly fs: StorageFs,
    readonly dir: string,
    private readonly options: ResolvedOptions,
    state: LogState,
    segments: number[],
    active: RecordLogWriter,
  ) {
    this.state = state;
    this.segments = segments;
    this.active = active;
    const last = segments[segments.length - 1];
    assert(last !== undefined, 'an open engine has an active segment');
    this.activeSegment = last;
  }

  /**
   * Opens (or creates) the log in `dir`: replays every segment in order, truncates a torn tail of
   * the last one, then starts a fresh segment with a checkpoint of every group and deletes
   * segments nothing needs any more. Throws CorruptionError (naming file and offset) for damage
   * anywhere but the tail of the last segment, StorageIOError for I/O failures,
   * InvalidOptionsError for bad options.
   */
  static async open(fs: StorageFs, dir: string, options: RaftLogEngineOptions = {}): Promise<RaftLogEngine> {
    const resolved = resolveOptions(options);
    try {
      fs.mkdirSync(dir);
    } catch (err) {
      throw new StorageIOError('create directory', dir, err);
    }
    const segments = listSegments(fs, dir);
    const state = new LogState(resolved.cacheBytesMax);
    segments.forEach((segment, i) => {
      // Read with the largest record size any configuration could have written.
      replaySegment(fs, dir, segment, i === segments.length - 1, state, recordBytesMaxLimit);
    });
    const missing = state.missingEntries()[0];
    if (missing !== undefined) {
      throw new CorruptionError(dir, 0, `group ${missing.groupId} needs entry ${missing.index}, whose segment was deleted`);
    }
    const last = segments[segments.length - 1];
    // Replayed records may sit only in the page cache (the previous process died before its
    // fsync); they must be on disk before a later segment can claim them in a checkpoint.
    if (last !== undefined) syncFileNow(fs, segmentPath(dir, last));
    const nextSegment = (last ?? 0) + 1;
    const writer = RecordLogWriter.create(fs, segmentPath(dir, nextSegment), { recordBytesMax: resolved.recordBytesMax });
    const engine = new RaftLogEngine(fs, dir, resolved, state, [...segments, nextSegment], writer);
    engine.writeCheckpoints();
    await engine.requestSync();
    return engine;
  }

  // ---- reads ----

  /** The RaftStorage view of one group for the Raft core. The group must exist when it is used. */
  storageFor(groupId: GroupId): RaftStorage {
    this.groupLog(groupId);
    return new DurableRaftStorage(this, groupId);
  }

  /** The live groups, ascending (a restarting node starts one Raft node per group). */
  groupIds(): GroupId[] {
    return [...this.state.groups.keys()].sort((a, b) => a - b);
  }

  hasGroup(groupId: GroupId): boolean {
    return this.state.groups.has(groupId);
  }

  /** The group's persisted hard state. */
  hardState(groupId: GroupId): HardState {
    return this.groupLog(groupId).hardState;
  }

  /** @internal For views: throws InvalidArgumentError for an unknown group. */
  groupLog(groupId: GroupId): GroupLog {
    const group = this.state.groups.get(groupId);
    if (group === undefined) throw new InvalidArgumentError(`raft log ${this.dir}: group ${groupId} does not exist`);
    return group;
  }

  /** @internal For views: an entry's data from the cache or its segment (checked against its CRC). */
  entryData(entry: StoredEntry): Uint8Array {
    if (entry.data !== null) return entry.data;
    if (this.closed) throw new ClosedError(`raft log ${this.dir}`);
    const path = segmentPath(this.dir, entry.segment);
    const data = Buffer.allocUnsafe(entry.dataBytes);
    try {
      const fd = this.readFd(entry.segment);
      let filled = 0;
      while (filled < entry.dataBytes) {
        const n = this.fs.readSync(fd, data, filled, entry.dataBytes - filled, entry.dataOffset + filled);
        if (n === 0) break;
        filled += n;
      }
      if (filled < entry.dataBytes) throw new Error(`short read: ${filled} of ${entry.dataBytes} bytes`);
    } catch (err) {
      throw new StorageIOError('read', path, err);
    }
    if (crc32c(data) !== entry.dataCrc) throw new CorruptionError(path, entry.dataOffset, 'entry data failed its checksum on read-back');
    return data;
  }

  get stats(): RaftLogStats {
    return {
      appends: this.appends,
      records: this.records,
      bytes: this.bytes,
      fsyncs: this.fsyncs,
      fsyncLastMs: this.fsyncLastMs,
      fsyncMaxMs: this.fsyncMaxMs,
      fsyncTotalMs: this.fsyncTotalMs,
      segments: this.segments.length,
      segmentsDeleted: this.segmentsDeleted,
      liveGroups: this.state.groups.size,
      cachedBytes: this.state.cache.cachedBytes,
    };
  }

  /** The failure that made the engine read-only, or null while healthy. */
  get failed(): StorageIOError | null {
    return this.failure;
  }

  // ---- writes: each resolves once durable ----

  /**
   * Creates a group like `new MemoryRaftStorage(confState)`: with voters, a bootstrap snapshot
   * at index 1, term 1 carrying `confState` and hard state {term 1, commit 1}; without, an empty
   * log awaiting a leader's snapshot. Rejects with InvalidArgumentError when the group exists or
   * `groupsMax` groups are live.
   */
  createGroup(groupId: GroupId, confState: ConfState): Promise<void> {
    return this.submit(() => {
      checkIndex(groupId, 'groupId');
      if (this.state.groups.has(groupId)) throw new InvalidArgumentError(`raft log ${this.dir}: group ${groupId} already exists`);
      if (this.state.groups.size >= this.options.groupsMax) {
        throw new InvalidArgumentError(`raft log ${this.dir}: groupsMax ${this.options.groupsMax} groups are live`);
      }
      const bootstrap = confState.voters.length > 0;
      const snapshot: SnapshotMeta = { index: bootstrap ? 1 : 0, term: bootstrap ? 1 : 0, confState, reference: bootstrap ? 'bootstrap' : '' };
      const hardState: HardState = bootstrap ? { term: 1, vote: 0, commit: 1 } : { term: 0, vote: 0, commit: 0 };
      return { kind: 'create', groupId, snapshot, hardState };
    });
  }

  /**
   * Appends `entries` (contiguous, starting at most one past the last index and above the
   * snapshot) and/or sets `hardState`, in one record. Entries at or after entries[0].index are
   * replaced (the conflicting suffix is truncated by the same record).
   */
  append(groupId: GroupId, entries: readonly Entry[], hardState?: HardState): Promise<void> {
    return this.submit(() => {
      const group = this.groupLog(groupId);
      checkAppend(group, entries);
      if (hardState !== undefined) checkHardState(hardState);
      const record: LogRecord = { kind: 'append', groupId, hardState: hardState ?? null, entries: [...entries] };
      return record;
    });
  }

  setHardState(groupId: GroupId, hardState: HardState): Promise<void> {
    return this.append(groupId, [], hardState);
  }

  /**
   * Installs a snapshot received from the leader (as MemoryRaftStorage.applySnapshot): entries
   * after it survive only when our log has the snapshot's index with the snapshot's term.
   */
  applySnapshot(groupId: GroupId, snapshot: SnapshotMeta): Promise<void> {
    return this.submit(() => {
      const group = this.groupLog(groupId);
      checkIndex(snapshot.index, 'snapshot index');
      checkIndex(snapshot.term, 'snapshot term');
      assert(snapshot.index >= group.snapshot.index, 'snapshot goes backwards');
      const keepEntries = snapshot.index <= group.lastIndex() && group.term(snapshot.index) === snapshot.term;
      return { kind: 'snapshot', groupId, snapshot, keepEntries };
    });
  }

  /**
   * Records a local snapshot of the applied state at `index` and compacts the log up to it (as
   * MemoryRaftStorage.createSnapshot); this is the log compaction call. Resolves to the snapshot.
   */
  async createSnapshot(groupId: GroupId, index: number, confState: ConfState, reference: string): Promise<SnapshotMeta> {
    let snapshot: SnapshotMeta | undefined;
    await this.submit(() => {
      const group = this.groupLog(groupId);
      assert(index >= group.snapshot.index, 'snapshot index goes backwards');
      assert(index <= group.lastIndex(), 'snapshot past the end of the log');
      snapshot = { index, term: group.term(index), confState, reference };
      return { kind: 'snapshot', groupId, snapshot, keepEntries: true };
    });
    assert(snapshot !== undefined, 'a written snapshot has metadata');
    return snapshot;
  }

  /** Removes a group and its log; its segments become garbage once no other group needs them. */
  removeGroup(groupId: GroupId): Promise<void> {
    return this.submit(() => {
      this.groupLog(groupId);
      return { kind: 'remove', groupId };
    });
  }

  /** Makes everything written so far durable (joins the group commit). */
  sync(): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    return this.requestSync();
  }

  /**
   * Stops accepting writes, waits for requested fsyncs, closes every file. Writes already
   * acknowledged stay durable; nothing unacknowledged is pending after the wait.
   */
  async close(): Promise<void> {
    this.closing = true;
    while (this.syncLoop !== null) await this.syncLoop;
    this.closeRetired();
    this.active.close();
    for (const fd of this.readFds.values()) this.fs.closeSync(fd);
    this.readFds.clear();
    this.closed = true;
  }

  // ---- write path ----

  /**
   * Builds a record (validation throws inside `build`), writes it, applies it to the in-memory
   * state and joins the group commit. Typed errors reject; assertion failures throw.
   */
  private submit(build: () => LogRecord): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    try {
      this.writeRecord(build());
    } catch (err) {
      if (err instanceof PhantomError) return Promise.reject(err);
      throw err;
    }
    this.appends++;
    return this.requestSync();
  }

  private writeRecord(record: LogRecord): void {
    const encoded = encodeRecord(record);
    if (encoded.payload.length > this.options.recordBytesMax) {
      throw new InvalidArgumentError(`raft log record of ${encoded.payload.length} bytes for group ${record.groupId} exceeds recordBytesMax ${this.options.recordBytesMax}`);
    }
    if (this.segmentFull()) this.rotate();
    const offset = this.appendToActive(encoded.payload);
    try {
      this.state.applyRecord({ record, dataPositions: encoded.dataPositions }, this.activeSegment, offset + recordHeaderBytes, false);
    } catch (err) {
      assert(!(err instanceof ReplayError), `a validated record failed to apply: ${String(err)}`);
      throw err;
    }
  }

  private appendToActive(payload: Buffer): number {
    let offset: number;
    try {
      offset = this.active.append(payload);
    } catch (err) {
      if (err instanceof StorageIOError) this.enterFailed(err);
      throw err;
    }
    this.records++;
    this.bytes += recordHeaderBytes + payload.length;
    return offset;
  }

  /**
   * The active segment is full at `segmentBytesMax`, but only once at least half of it is more
   * than its opening checkpoint: with very many groups the checkpoint alone could otherwise fill
   * every new segment and each write would rotate again.
   */
  private segmentFull(): boolean {
    return this.active.size >= this.options.segmentBytesMax && this.active.size >= 2 * this.activeCheckpointBytes;
  }

  /**
   * Starts the next segment. The old one is fsynced first, synchronously (once per segment), so
   * that a segment is never followed by a newer one while its own tail could still be lost: only
   * the last segment may ever end torn. The new segment opens with a checkpoint of every group.
   */
  private rotate(): void {
    const old = this.active;
    const startMs = this.options.clock.nowMs();
    try {
      syncFileNow(this.fs, old.path);
    } catch (err) {
      if (err instanceof StorageIOError) this.enterFailed(err);
      throw err;
    }
    this.recordFsync(this.options.clock.nowMs() - startMs);
    const next = this.activeSegment + 1;
    try {
      this.active = RecordLogWriter.create(this.fs, segmentPath(this.dir, next), { recordBytesMax: this.options.recordBytesMax });
    } catch (err) {
      if (err instanceof StorageIOError) this.enterFailed(err);
      throw err;
    }
    this.activeSegment = next;
    this.segments.push(next);
    if (this.syncLoop === null) old.close();
    else this.retired.push(old);
    this.writeCheckpoints();
  }

  private writeCheckpoints(): void {
    const startBytes = this.active.size;
    for (const group of this.state.groups.values()) {
      const record: LogRecord = { kind: 'checkpoint', groupId: group.groupId, snapshot: group.snapshot, hardState: group.hardState, lastIndex: group.lastIndex() };
      this.appendToActive(encodeRecord(record).payload);
    }
    this.activeCheckpointBytes = this.active.size - startBytes;
  }

  private refusal(): Error | null {
    if (this.failure !== null) return new ReadOnlyError(`raft log ${this.dir}: ${this.failure.message}`);
    if (this.closing) return new ClosedError(`raft log ${this.dir}`);
    return null;
  }

  private requestSync(): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => {
      this.pendingWaiters.push({ resolve, reject });
    });
    this.syncLoop ??= this.runSyncLoop();
    return promise;
  }

  /**
   * Group commit: one fsync of the active segment at a time, covering every write made before it
   * started. Segments found obsolete at the start of a round are deleted after it succeeds: the
   * records that made them obsolete (and the checkpoints that repeat their state) are then durable.
   */
  private async runSyncLoop(): Promise<void> {
    // Start after the event loop's check phase, not after this microtask: every socket read in the
    // same poll phase (Raft messages from each peer, client requests) is in the first fsync, not
    // only the writes of the callback that asked for it. A group commit that starts at once covers
    // one peer's frame; with more nodes each log sees fewer writes per frame, so fsyncs per write
    // grew with the node count. Every later round waits the same way: the completion of an fsync
    // is one callback of a poll phase, and the socket reads after it in that phase (Raft messages
    // that arrived during the fsync) belong in the next one, not in the one after it.
    while (this.pendingWaiters.length > 0 && this.failure === null) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.failure !== null) break;
      const covered = this.pendingWaiters;
      this.pendingWaiters = [];
      const writer = this.active;
      const obsolete = this.obsoleteSegments();
      const startMs = this.options.clock.nowMs();
      try {
        await writer.sync();
      } catch (err) {
        const failure = err instanceof StorageIOError ? err : new StorageIOError('fsync', writer.path, err);
        this.enterFailed(failure);
        for (const waiter of covered) waiter.reject(failure);
        break;
      }
      this.recordFsync(this.options.clock.nowMs() - startMs);
      this.closeRetired();
      for (const waiter of covered) waiter.resolve();
      this.deleteSegments(obsolete);
    }
    this.closeRetired();
    assert(this.failure !== null || this.pendingWaiters.length === 0, 'a healthy log leaves no waiter behind');
    this.syncLoop = null;
  }

  /** The oldest segments (never the active one) holding no live entry. */
  private obsoleteSegments(): number[] {
    const obsolete: number[] = [];
    for (const segment of this.segments) {
      if (segment === this.activeSegment || this.state.liveEntriesIn(segment) > 0) break;
      obsolete.push(segment);
    }
    return obsolete;
  }

  /** Deletes segments oldest first, syncing the directory after each so the survivors stay contiguous. */
  private deleteSegments(obsolete: readonly number[]): void {
    for (const segment of obsolete) {
      if (this.failure !== null || this.closing) return;
      assert(this.segments[0] === segment, 'segments are deleted oldest first');
      const fd = this.readFds.get(segment);
      const path = segmentPath(this.dir, segment);
      try {
        if (fd !== undefined) {
          this.readFds.delete(segment);
          this.fs.closeSync(fd);
        }
        this.fs.unlinkSync(path);
        this.fs.fsyncDirSync(this.dir);
      } catch (err) {
        this.enterFailed(new StorageIOError('delete segment', path, err));
        return;
      }
      this.segments.shift();
      this.segmentsDeleted++;
    }
  }

  private closeRetired(): void {
    for (const writer of this.retired.splice(0)) writer.close();
  }

  private readFd(segment: number): number {
    let fd = this.readFds.get(segment);
    if (fd === undefined) {
      fd = this.fs.openSync(segmentPath(this.dir, segment), 'r');
      this.readFds.set(segment, fd);
    }
    return fd;
  }

  /** Enters the failed state and rejects waiters whose fsync has not started: it never will. */
  private enterFailed(failure: StorageIOError): void {
    this.failure ??= failure;
    const stranded = this.pendingWaiters;
    this.pendingWaiters = [];
    const refusal = new ReadOnlyError(`raft log ${this.dir}: ${this.failure.message}`);
    for (const waiter of stranded) waiter.reject(refusal);
  }

  private recordFsync(elapsedMs: number): void {
    this.fsyncs++;
    this.fsyncLastMs = elapsedMs;
    this.fsyncTotalMs += elapsedMs;
    if (elapsedMs > this.fsyncMaxMs) this.fsyncMaxMs = elapsedMs;
    this.options.onFsync?.(elapsedMs);
  }
}

function checkAppend(group: GroupLog, entries: readonly Entry[]): void {
  const first = entries[0];
  if (first === undefined) return;
  assert(first.index > group.snapshot.index, 'append below the snapshot');
  assert(first.index <= group.lastIndex() + 1, 'append leaves a gap');
  entries.forEach((entry, i) => {
    checkIndex(entry.term, 'entry term');
    assert(entry.index === first.index + i, 'entries are contiguous');
  });
}

function checkHardState(hardState: HardState): void {
  checkIndex(hardState.term, 'hard state term');
  checkIndex(hardState.vote, 'hard state vote');
  checkIndex(hardState.commit, 'hard state commit');
}

/** fdatasyncs a file through a separate descriptor (fsync is per file, not per descriptor). */
function syncFileNow(fs: StorageFs, path: string): void {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw new StorageIOError('open', path, err);
  }
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    throw new StorageIOError('fsync', path, err);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replays one segment into `state`. Only the last segment may end in a torn record (which is
 * truncated away); damage anywhere else, a malformed payload, or a record contradicting the
 * replayed state is a CorruptionError naming the file and the record's offset.
 */
function replaySegment(fs: StorageFs, dir: string, segment: number, isLast: boolean, state: LogState, recordBytesMax: number): void {
  const path = segmentPath(dir, segment);
  const result = readRecordLog(fs, path, { truncateTornTail: isLast, recordBytesMax });
  if (!isLast && result.tornBytes > 0) {
    throw new CorruptionError(path, result.validEndOffset, `damaged record at the end of a segment that is not the last (${result.tornBytes} bytes)`);
  }
  result.records.forEach((payload, i) => {
    const payloadOffset = result.payloadOffsets[i];
    assert(payloadOffset !== undefined, 'every record has an offset');
    const recordOffset = payloadOffset - recordHeaderBytes;
    try {
      state.applyRecord(decodeRecord(payload), segment, payloadOffset, true);
    } catch (err) {
      if (err instanceof RecordFormatError || err instanceof ReplayError) throw new CorruptionError(path, recordOffset, err.message);
      throw err;
    }
  });
}
