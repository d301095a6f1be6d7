import * as path from 'node:path';
import { assert } from '../assert.ts';
import { type TableOutputOptions, encodeEntries } from './background.ts';
import { type BackgroundExecutor, InThreadExecutor, WorkerExecutor } from './background-executor.ts';
import { type CompactionJob, pickCompaction } from './compaction.ts';
import { DbIterator } from './db-iterator.ts';
import {
  ClosedError,
  CorruptionError,
  InvalidArgumentError,
  LockedError,
  ReadOnlyError,
  StorageError,
  StorageIOError,
  WriteStallTimeoutError,
} from './errors.ts';
import { type StorageFs, realFs } from './fs.ts';
import { GlobalSeqIterator } from './global-seq-iterator.ts';
import type { InternalIterator } from './iterator.ts';
import { ValueKind, encodeInternalKey, internalKeyUserKey, maxSequence } from './keys.ts';
import { LevelIterator } from './level-iterator.ts';
import { KeyFilter } from './key-filter.ts';
import { Memtable } from './memtable.ts';
import { MergingIterator } from './merging-iterator.ts';
import { type EngineOptions, type EngineOptionsInput, parseEngineOptions } from './options.ts';
import { RecordLogWriter, readRecordLog } from './record-log.ts';
import { BlockCache } from './sstable/block-cache.ts';
import { TableBuilder, type TableMeta } from './sstable/table-builder.ts';
import { type TableProperties, TableReader } from './sstable/table-reader.ts';
import { type FileMeta, Version, type VersionEdit, decodeEdit, encodeEdit, fileNewestSeq, largestUserKey, smallestUserKey } from './version.ts';
import { WriteAheadLog, replayWal } from './wal.ts';
import { WriteBatch, decodeWriteBatch } from './write-batch.ts';
import { type PinnedTable, type SpanSample, type SpanSource, encodeSpanEntries, encodeSpanEntriesSliced } from './span-export.ts';
import { InThreadSpanExecutor, type SpanExecutor, WorkerSpanExecutor } from './span-executor.ts';

export interface WriteOptions {
  /** fsync the WAL before the promise resolves (default: the engine's `syncWritesByDefault`). */
  readonly sync?: boolean;
  /**
   * For the batch's range deletions: the keys each span held, listed off the event loop by
   * `planRangeDeletion`. A range deletion without a plan for its exact span walks the span here.
   */
  readonly rangeDeletions?: readonly RangeDeletionPlan[];
}

/**
 * The live keys of [start, end) at sequence `seq`, listed on the export thread. A range deletion
 * written with it tombstones these keys plus every key of the span written after `seq` (found in
 * the memtables and the few tables newer than `seq`), which is every key live when it applies.
 */
export interface RangeDeletionPlan {
  readonly start: Buffer;
  readonly end: Buffer;
  readonly seq: number;
  readonly keys: readonly Buffer[];
}

export interface ReadOptions {
  readonly snapshot?: Snapshot;
}

export interface IteratorOptions extends ReadOptions {
  /** Inclusive lower bound of user keys. */
  readonly lowerBound?: Buffer;
  /** Exclusive upper bound of user keys. */
  readonly upperBound?: Buffer;
  /** Add blocks read from files to the block cache (default true; false for one-pass scans such as backup exports). */
  readonly fillCache?: boolean;
}

export interface EngineDeps {
  readonly fs?: StorageFs;
  /** Where the engine reports notable events (torn WAL tails truncated, background errors). */
  readonly log?: (message: string) => void;
}

/** A consistent point in time; reads through it ignore later writes. Release it when done. */
export class Snapshot {
  private released = false;
  constructor(
    readonly seq: number,
    private readonly onRelease: (s: Snapshot) => void,
  ) {}
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

/** See `StorageEngine.pinReadView`. */
export interface EngineReadView {
  /** The visible sequence the view is at: memtable entries above it are not part of it. */
  readonly seq: number;
  /** Table files of the pinned version that may hold keys of the span (every level). */
  readonly tables: readonly { readonly path: string; readonly fileNumber: number; readonly globalSeq?: number }[];
  /** The memtables, newest first, in internal order (they keep taking writes: skip entries above `seq`). */
  readonly memtables: readonly InternalIterator[];
  /** Unpins the tables (idempotent). */
  release(): void;
}

/** A file written by `exportRange`, ready to be ingested by another engine. */
export interface ExportedFile {
  readonly path: string;
  readonly entries: number;
  readonly fileBytes: number;
  readonly smallestKey: Buffer;
  readonly largestKey: Buffer;
}

export interface LevelStats {
  readonly level: number;
  readonly files: number;
  readonly bytes: number;
}

export interface EngineStats {
  readonly userBytesWritten: number;
  readonly walBytesWritten: number;
  readonly flushBytesWritten: number;
  readonly compactionBytesWritten: number;
  readonly compactionBytesRead: number;
  /** (WAL + flush + compaction bytes) / user bytes. */
  readonly writeAmplification: number;
  readonly levels: readonly LevelStats[];
  readonly flushes: number;
  readonly compactions: number;
  readonly trivialMoves: number;
  readonly compactionMsTotal: number;
  readonly stalls: number;
  readonly stallMsTotal: number;
  readonly slowdowns: number;
  readonly memtableBytes: number;
  readonly immutableMemtables: number;
  readonly walSyncs: number;
  readonly walSyncLastMs: number;
  readonly walSyncMaxMs: number;
  readonly blockCache: { readonly hits: number; readonly misses: number; readonly usageBytes: number; readonly capacityBytes: number };
  readonly lastSequence: number;
  readonly openSnapshots: number;
  readonly state: 'open' | 'read-only' | 'closed';
  readonly readOnlyReason?: string;
  readonly mvccVersionsCollected: number;
}

/** A writer's progress through slowdowns and stalls. */
interface RoomWait {
  delayed: boolean;
  stallStart: number | undefined;
}

/** One memtable and the WAL files whose records it holds. */
interface MemtableSlot {
  readonly table: Memtable;
  /** User keys in the table, so reads of absent keys skip the skiplist search. */
  readonly filter: KeyFilter;
  /** WAL file numbers whose records are (partly) in this memtable; the last one is being written. */
  readonly walNumbers: number[];
  wal: WriteAheadLog | undefined;
}

/** An open table with its key range at hand (no allocation on the read path). */
interface OpenTable {
  readonly meta: FileMeta;
  readonly reader: TableReader;
  readonly smallestUser: Buffer;
  readonly largestUser: Buffer;
}

const currentFile = 'CURRENT';
const lockFile = 'LOCK';
const yieldEveryEntries = 4096;
/**
 * Long scans (export, ingest checks) also give the event loop a turn after this many bytes: 4,096
 * entries of 16 KiB values are 64 MiB, far too long for a node that serves clients meanwhile.
 */
const yieldEveryBytes = 256 * 1024;

const fileName = (n: number, ext: 'sst' | 'log'): string => `${String(n).padStart(6, '0')}.${ext}`;
const manifestName = (n: number): string => `MANIFEST-${String(n).padStart(6, '0')}`;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * PhantomDB's LSM storage engine for one data directory.
 *
 * Writes go to a write-ahead log (group-committed fsyncs) and a memtable; full memtables are
 * flushed to level-0 SSTables in the background and leveled compaction merges them down. Reads
 * are synchronous: memtables, then tables newest to oldest, through a shared block cache. The
 * set of live files is recorded in a manifest, so a crash at any point reopens to a consistent
 * state holding every acknowledged synced write.
 */
export class StorageEngine {
  private readonly fs: StorageFs;
  private readonly log: (message: string) => void;
  private readonly cache: BlockCache;
  /** Where flushes and compactions run: a worker thread, or this thread when a custom fs is injected. */
  private readonly executor: BackgroundExecutor;
  /** Where span exports and ingest checks run: the niced export thread, or this thread when a custom fs is injected. */
  private readonly spanExecutor: SpanExecutor;
  private readonly tables = new Map<number, OpenTable>();
  private levelTablesCache: OpenTable[][] = [];
  private levelTablesFor: Version | undefined;
  private version: Version;
  /** Versions pinned by open iterators, with their pin counts. */
  private readonly pinnedVersions = new Map<Version, number>();
  private readonly snapshots = new Set<Snapshot>();
  private readonly compactPointers: (Buffer | undefined)[];
  /** Files being written by flushes and compactions: never deleted as obsolete. */
  private readonly pendingOutputs = new Set<number>();
  /** Files that are inputs of a running compaction. */
  private readonly busyFiles = new Set<number>();
  private active: MemtableSlot;
  private readonly immutables: MemtableSlot[] = [];
  private manifest: RecordLogWriter;
  private manifestNumber: number;
  private manifestChain: Promise<void> = Promise.resolve();
  private nextFileNumber: number;
  private logNumber: number;
  /** The last sequence number assigned. */
  private lastSequence: number;
  /** The last sequence number readers see (writes become visible once durable as asked). */
  private visibleSequence: number;
  private pendingSyncedWrites = 0;
  private publishChain: Promise<void> = Promise.resolve();
  private state: 'open' | 'read-only' | 'closed' = 'open';
  private readOnlyReason: string | undefined;
  private flushLoop: Promise<void> | undefined;
  private compactionLoop: Promise<void> | undefined;
  /** Woken whenever a flush or compaction finishes or the engine fails: stalled writers re-check. */
  private progressWaiters: (() => void)[] = [];
  private mvccGcThreshold: bigint | undefined;
  private counters = {
    userBytes: 0,
    flushBytes: 0,
    compactionBytesWritten: 0,
    compactionBytesRead: 0,
    flushes: 0,
    compactions: 0,
    trivialMoves: 0,
    compactionMs: 0,
    stalls: 0,
    stallMs: 0,
    slowdowns: 0,
    walBytesClosed: 0,
    walSyncsClosed: 0,
    mvccCollected: 0,
  };

  private constructor(
    readonly dir: string,
    readonly options: EngineOptions,
    deps: EngineDeps,
    recovered: RecoveredState,
  ) {
    this.fs = deps.fs ?? realFs;
    this.log = deps.log ?? (() => {});
    this.cache = recovered.cache;
    this.executor = deps.fs === undefined && options.backgroundThread ? new WorkerExecutor() : new InThreadExecutor(this.fs);
    this.spanExecutor = deps.fs === undefined && options.backgroundThread ? new WorkerSpanExecutor() : new InThreadSpanExecutor(this.fs);
    this.version = recovered.version;
    this.nextFileNumber = recovered.nextFileNumber;
    this.logNumber = recovered.logNumber;
    this.lastSequence = recovered.lastSequence;
    this.visibleSequence = recovered.lastSequence;
    this.compactPointers = this.version.levels.map(() => undefined);
    for (const f of this.version.allFiles()) this.openTable(f);
    this.active = this.newSlot([]);
    this.replayWals(recovered.walNumbers);
    // Start a new WAL for new writes and a fresh manifest holding one snapshot of the version.
    const walNumber = this.newFileNumber();
    this.manifestNumber = this.newFileNumber();
    this.active.walNumbers.push(walNumber);
    this.active.wal = WriteAheadLog.create(this.fs, path.join(dir, fileName(walNumber, 'log')));
    if (recovered.walNumbers.length === 0) this.logNumber = walNumber;
    this.manifest = writeSnapshotManifest(this.fs, dir, this.manifestNumber, this.version, {
      logNumber: this.logNumber,
      nextFileNumber: this.nextFileNumber,
      lastSequence: this.lastSequence,
    });
  }

  /** Makes the fresh manifest durable and points CURRENT at it (the end of recovery). */
  private async installManifest(): Promise<void> {
    await this.manifest.sync();
    setCurrent(this.fs, this.dir, this.manifestNumber);
  }

  /**
   * Replays logged batches into memtables, oldest WAL first. Range deletions expand against the
   * memtables being rebuilt and the tables exactly as when the batch was first applied, because
   * the engine holds the same data in the same order at that point.
   */
  private replayWals(walNumbers: readonly number[]): void {
    for (const walNumber of walNumbers) {
      const walPath = path.join(this.dir, fileName(walNumber, 'log'));
      this.active.walNumbers.push(walNumber);
      const result = replayWal(this.fs, walPath, (payload, offset) => {
        const encoded = Buffer.from(payload);
        const batch = decodeWriteBatch(encoded, { file: walPath, offset });
        this.applyToMemtable(encoded, this.active);
        this.lastSequence = Math.max(this.lastSequence, batch.nextSeq - 1);
        if (this.active.table.approximateBytes >= this.options.memtableBytesMax) {
          this.immutables.push(this.active);
          this.active = this.newSlot([walNumber]);
        }
      });
      if (result.tornBytes > 0) this.log(`WAL ${walPath}: truncated a torn tail of ${result.tornBytes} bytes after ${result.records} records`);
    }
    this.visibleSequence = this.lastSequence;
  }

  /**
   * Opens (creating if needed) the engine in `dir`. Recovery replays the WAL files not yet
   * flushed, truncating a torn final record; mid-log corruption, a damaged manifest or a missing
   * table stops `open` with CorruptionError naming the file and offset.
   */
  static async open(dir: string, options: EngineOptionsInput = {}, deps: EngineDeps = {}): Promise<StorageEngine> {
    const parsed = parseEngineOptions(options);
    const fs = deps.fs ?? realFs;
    const log = deps.log ?? (() => {});
    fs.mkdirSync(dir);
    acquireLock(fs, dir);
    let recovered: RecoveredState;
    try {
      recovered = recover(fs, dir, parsed, log);
    } catch (err) {
      releaseLock(fs, dir);
      throw err;
    }
    const engine = new StorageEngine(dir, parsed, deps, recovered);
    await engine.installManifest();
    engine.deleteObsoleteFiles();
    engine.scheduleBackgroundWork();
    return engine;
  }

  // ---------------------------------------------------------------------------------------
  // Writes

  /**
   * Applies `batch` atomically. Resolves once the batch is in the WAL (and fsynced when `sync`),
   * at which point it is visible to reads. Rejects with ReadOnlyError after a write failure,
   * WriteStallTimeoutError when background work cannot keep up, ClosedError after close.
   */
  write(batch: WriteBatch, options: WriteOptions = {}): Promise<void> {
    try {
      this.checkWritable();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (batch.count === 0) return Promise.resolve();
    return this.writeWhenRoom(batch, options.sync ?? this.options.syncWritesByDefault, { delayed: false, stallStart: undefined }, options.rangeDeletions);
  }

  /**
   * Appends the batch as soon as there is room. The room check and the append run in the same
   * turn of the event loop, so concurrent writers cannot overrun the limits between them.
   */
  private writeWhenRoom(batch: WriteBatch, sync: boolean, wait: RoomWait, plans?: readonly RangeDeletionPlan[]): Promise<void> {
    let pending: Promise<void> | undefined;
    try {
      pending = this.roomForWrite(wait);
      if (pending === undefined) return this.writeNow(batch, sync, plans);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return pending.then(() => this.writeWhenRoom(batch, sync, wait, plans));
  }

  private writeNow(batch: WriteBatch, sync: boolean, plans?: readonly RangeDeletionPlan[]): Promise<void> {
    this.checkWritable();
    const firstSeq = this.lastSequence + 1;
    assert(firstSeq + batch.count <= maxSequence, 'sequence numbers stay below 2^53');
    // The memtable keeps references, so it gets its own copy of the encoded batch.
    const encoded = Buffer.from(batch.encode(firstSeq));
    const wal = this.active.wal;
    assert(wal !== undefined, 'the active memtable has a WAL');
    const durable = wal.append(encoded, sync);
    if (wal.failed !== null) {
      this.enterReadOnly(`WAL write failed: ${wal.failed.message}`);
      return durable.then(() => {
        throw new ReadOnlyError(this.readOnlyReason ?? 'WAL write failed');
      });
    }
    this.lastSequence = firstSeq + batch.count - 1;
    this.applyToMemtable(encoded, this.active, plans);
    this.counters.userBytes += batch.byteSize;
    const lastSeq = this.lastSequence;
    if (this.active.table.approximateBytes >= this.options.memtableBytesMax) this.rotateMemtable();
    return this.publishWhenDurable(durable, lastSeq, sync);
  }

  /** Convenience: one put. */
  put(key: Buffer, value: Buffer, options: WriteOptions = {}): Promise<void> {
    const b = new WriteBatch();
    b.put(key, value);
    return this.write(b, options);
  }

  /** Convenience: one deletion. */
  del(key: Buffer, options: WriteOptions = {}): Promise<void> {
    const b = new WriteBatch();
    b.del(key);
    return this.write(b, options);
  }

  /** Convenience: deletes every key in [start, end). */
  delRange(start: Buffer, end: Buffer, options: WriteOptions = {}): Promise<void> {
    const b = new WriteBatch();
    b.delRange(start, end);
    return this.write(b, options);
  }

  /**
   * Makes writes visible in sequence order, each only once it is durable as its writer asked.
   * With no synced write in flight, an unsynced write becomes visible at once (no promise hop).
   */
  private publishWhenDurable(durable: Promise<void>, lastSeq: number, sync: boolean): Promise<void> {
    if (!sync && this.pendingSyncedWrites === 0) {
      this.visibleSequence = lastSeq;
      return durable;
    }
    if (sync) this.pendingSyncedWrites++;
    const previous = this.publishChain;
    const mine = Promise.all([previous, durable]).then(
      () => {
        if (sync) this.pendingSyncedWrites--;
        if (lastSeq > this.visibleSequence) this.visibleSequence = lastSeq;
      },
      (err: unknown) => {
        if (sync) this.pendingSyncedWrites--;
        this.enterReadOnly(`WAL sync failed: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      },
    );
    this.publishChain = mine.catch(() => {});
    return mine;
  }

  /**
   * Inserts a batch's ops. A range deletion becomes point deletions of the keys it covers now
   * (so ops go in batch order). Batches of point ops are inserted in key order instead, which
   * lets the memtable's finger search make each insert cheap.
   */
  private applyToMemtable(encoded: Buffer, slot: MemtableSlot, plans?: readonly RangeDeletionPlan[]): void {
    const { table, filter } = slot;
    const batch = decodeWriteBatch(encoded);
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    let hasRangeDelete = false;
    batch.forEach({
      put: (key, value) => {
        keys.push(key);
        values.push(value);
      },
      del: (key) => {
        keys.push(key);
        values.push(tombstoneMarker);
      },
      delRange: () => {
        hasRangeDelete = true;
      },
    });
    for (const key of keys) filter.add(key);
    if (hasRangeDelete) {
      batch.forEach({
        put: (key, value, seq) => table.add(key, seq, ValueKind.Put, value),
        del: (key, seq) => table.add(key, seq, ValueKind.Delete, emptyValue),
        delRange: (start, end, seq) => {
          const plan = plans?.find((candidate) => candidate.start.equals(start) && candidate.end.equals(end));
          const keys = plan === undefined ? this.liveKeysInRange(start, end, seq - 1) : this.plannedKeys(plan, seq - 1);
          for (const key of keys) {
            filter.add(key);
            table.add(key, seq, ValueKind.Delete, emptyValue);
          }
        },
      });
      return;
    }
    for (const i of sortedOrder(keys)) {
      const value = values[i] as Buffer;
      const seq = batch.firstSeq + i;
      if (value === tombstoneMarker) table.add(keys[i] as Buffer, seq, ValueKind.Delete, emptyValue);
      else table.add(keys[i] as Buffer, seq, ValueKind.Put, value);
    }
  }

  /** Keys visible at `seq` in [start, end), including entries not yet published. */
  private liveKeysInRange(start: Buffer, end: Buffer, seq: number): Buffer[] {
    const keys: Buffer[] = [];
    const { iterator, release } = this.internalIterator();
    try {
      const it = new DbIterator(iterator, seq, { lowerBound: start, upperBound: end });
      for (it.seek(start); it.valid(); it.next()) keys.push(Buffer.from(it.key()));
      it.close();
    } finally {
      release();
    }
    return keys;
  }

  /**
   * The keys a range deletion at `upTo + 1` must tombstone, given its plan: the planned keys
   * (live at plan.seq) and every key of the span with an entry in (plan.seq, upTo] — in the
   * memtables or in tables holding entries newer than plan.seq. Keys deleted since are included
   * (one more tombstone is harmless); each key once.
   */
  private plannedKeys(plan: RangeDeletionPlan, upTo: number): Buffer[] {
    const keys = new Map<string, Buffer>();
    for (const key of plan.keys) keys.set(key.toString('latin1'), key);
    const newer: InternalIterator[] = [this.active, ...this.immutables].map((slot) => slot.table.iterator());
    for (const f of this.version.allFiles()) {
      if (fileNewestSeq(f) <= plan.seq) continue;
      if (Buffer.compare(smallestUserKey(f), plan.end) >= 0 || Buffer.compare(largestUserKey(f), plan.start) < 0) continue;
      newer.push(this.tableIterator(f, false));
    }
    for (const it of newer) {
      for (it.seek(plan.start, maxSequence); it.valid() && Buffer.compare(it.userKey(), plan.end) < 0; it.next()) {
        const seq = it.seq();
        if (seq <= plan.seq || seq > upTo) continue;
        const key = it.userKey();
        const name = key.toString('latin1');
        if (!keys.has(name)) keys.set(name, Buffer.from(key));
      }
    }
    return [...keys.values()];
  }

  /**
   * The bytes (keys plus values) of the live keys of [start, end) now, with a sample of keys (the
   * first, then one per `everyEntries`) and the bytes up to each, walked on the export thread.
   */
  async sampleSpan(start: Buffer, end: Buffer, everyEntries: number): Promise<SpanSample> {
    this.checkReadable();
    if (!(Number.isSafeInteger(everyEntries) && everyEntries >= 1)) throw new InvalidArgumentError('sampleSpan needs everyEntries ≥ 1');
    const pinned = await this.pinSpanSliced(start, end);
    try {
      return await this.spanExecutor.sample(pinned.source, everyEntries);
    } finally {
      pinned.release();
    }
  }

  /**
   * Lists the live keys of [start, end) on the export thread, for a range deletion of that span
   * written next (WriteOptions.rangeDeletions): the write then does not walk the span's tables on
   * the event loop (a dropped replica's range is tens of MiB read and checked synchronously).
   */
  async planRangeDeletion(start: Buffer, end: Buffer): Promise<RangeDeletionPlan> {
    this.checkWritable();
    const pinned = await this.pinSpanSliced(start, end);
    try {
      const keys = await this.spanExecutor.liveKeys(pinned.source);
      return { start, end, seq: pinned.source.seq, keys };
    } finally {
      pinned.release();
    }
  }

  private checkWritable(): void {
    if (this.state === 'closed') throw new ClosedError('storage engine');
    if (this.state === 'read-only') throw new ReadOnlyError(this.readOnlyReason ?? 'unknown');
  }

  /**
   * Slows or stalls the writer while flushes or L0 compaction are behind, so memory stays
   * bounded: returns undefined when there is room now, else a promise to wait on before checking
   * again. Throws WriteStallTimeoutError when a writer has stalled too long.
   */
  private roomForWrite(wait: RoomWait): Promise<void> | undefined {
    this.checkWritable();
    const l0Files = this.version.files(0).length;
    const stalled = this.immutables.length >= this.options.immutableMemtablesMax || l0Files >= this.options.l0StopTriggerFiles;
    const now = Date.now();
    if (stalled) {
      if (wait.stallStart === undefined) {
        wait.stallStart = now;
        this.counters.stalls++;
      }
      const remaining = wait.stallStart + this.options.writeStallTimeoutMs - now;
      if (remaining <= 0) {
        this.counters.stallMs += now - wait.stallStart;
        throw new WriteStallTimeoutError(
          `write stalled for ${this.options.writeStallTimeoutMs} ms: ${this.immutables.length} memtables waiting for flush, ${l0Files} L0 files`,
        );
      }
      this.scheduleBackgroundWork();
      return this.waitForProgress(remaining);
    }
    if (!wait.delayed && l0Files >= this.options.l0SlowdownTriggerFiles && this.options.slowdownDelayMs > 0) {
      wait.delayed = true;
      this.counters.slowdowns++;
      return sleep(this.options.slowdownDelayMs);
    }
    if (wait.stallStart !== undefined) {
      this.counters.stallMs += now - wait.stallStart;
      wait.stallStart = undefined;
    }
    return undefined;
  }

  private waitForProgress(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiter = done;
      this.progressWaiters.push(waiter);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private notifyProgress(): void {
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of waiters) w();
  }

  private newSlot(walNumbers: number[]): MemtableSlot {
    // About 150 bytes per entry (100-byte values, 16-byte keys, skiplist overhead) sizes the filter.
    return { table: new Memtable(), filter: new KeyFilter(Math.ceil(this.options.memtableBytesMax / 150)), walNumbers, wal: undefined };
  }

  /** Freezes the active memtable and starts a new one with a new WAL file. */
  private rotateMemtable(): void {
    const old = this.active;
    const walNumber = this.newFileNumber();
    const wal = WriteAheadLog.create(this.fs, path.join(this.dir, fileName(walNumber, 'log')));
    this.active = this.newSlot([walNumber]);
    this.active.wal = wal;
    this.immutables.push(old);
    const oldWal = old.wal;
    old.wal = undefined;
    if (oldWal !== undefined) {
      const stats = oldWal.stats;
      this.counters.walBytesClosed += stats.bytes;
      // Close after in-flight syncs; the file stays until the memtable is flushed.
      void oldWal.close().then(
        () => {
          this.counters.walSyncsClosed += oldWal.stats.syncs;
        },
        () => {},
      );
    }
    this.scheduleBackgroundWork();
  }

  private enterReadOnly(reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'read-only';
    this.readOnlyReason = reason;
    this.log(`storage engine is now read-only: ${reason}`);
    this.notifyProgress();
  }

  // ---------------------------------------------------------------------------------------
  // Reads

  /** The newest value of `key` (at the snapshot, if given), or undefined. Synchronous. */
  get(key: Buffer, options: ReadOptions = {}): Buffer | undefined {
    this.checkReadable();
    const seq = options.snapshot?.seq ?? this.visibleSequence;
    const fromActive = this.active.filter.mayContain(key) ? this.active.table.get(key, seq) : undefined;
    if (fromActive !== undefined) return fromActive.kind === ValueKind.Put ? fromActive.value : undefined;
    for (let i = this.immutables.length - 1; i >= 0; i--) {
      const slot = this.immutables[i] as MemtableSlot;
      const hit = slot.filter.mayContain(key) ? slot.table.get(key, seq) : undefined;
      if (hit !== undefined) return hit.kind === ValueKind.Put ? hit.value : undefined;
    }
    const levels = this.levelTables();
    const l0 = levels[0] as OpenTable[];
    for (let i = 0; i < l0.length; i++) {
      const hit = this.getFromTable(l0[i] as OpenTable, key, seq);
      if (hit === null) return undefined;
      if (hit !== undefined) return hit;
    }
    for (let level = 1; level < levels.length; level++) {
      const tables = levels[level] as OpenTable[];
      // Binary search for the first table whose largest key is >= key.
      let lo = 0;
      let hi = tables.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (Buffer.compare((tables[mid] as OpenTable).largestUser, key) < 0) lo = mid + 1;
        else hi = mid;
      }
      const t = tables[lo];
      if (t === undefined) continue;
      const hit = this.getFromTable(t, key, seq);
      if (hit !== undefined) return hit === null ? undefined : hit;
    }
    return undefined;
  }

  /** The current version's open tables per level, rebuilt only when the version changes. */
  private levelTables(): OpenTable[][] {
    if (this.levelTablesFor !== this.version) {
      this.levelTablesCache = this.version.levels.map((files) =>
        files.map((f) => {
          const t = this.tables.get(f.number);
          assert(t !== undefined, `table ${f.number} is open`);
          return t;
        }),
      );
      this.levelTablesFor = this.version;
    }
    return this.levelTablesCache;
  }

  /** Value found, null for a deletion found, undefined when the table says nothing of the key. */
  private getFromTable(t: OpenTable, key: Buffer, seq: number): Buffer | null | undefined {
    if (Buffer.compare(key, t.smallestUser) < 0 || Buffer.compare(key, t.largestUser) > 0) return undefined;
    const globalSeq = t.meta.globalSeq;
    let entry;
    if (globalSeq !== undefined) {
      if (globalSeq > seq) return undefined;
      entry = t.reader.get(key, maxSequence);
    } else {
      entry = t.reader.get(key, seq);
    }
    if (entry === undefined) return undefined;
    return entry.kind === ValueKind.Put ? entry.value : null;
  }

  /** Values of several keys (same snapshot for all). */
  getMany(keys: readonly Buffer[], options: ReadOptions = {}): (Buffer | undefined)[] {
    const snapshot = options.snapshot ?? this.snapshot();
    try {
      return keys.map((k) => this.get(k, { snapshot }));
    } finally {
      if (options.snapshot === undefined) snapshot.release();
    }
  }

  /**
   * An ordered iterator over user keys (forward and reverse, seek, bounds) at a consistent point
   * in time. It pins the files it reads; call `close()` when done.
   */
  iterator(options: IteratorOptions = {}): DbIterator {
    this.checkReadable();
    const seq = options.snapshot?.seq ?? this.visibleSequence;
    const { iterator, release } = this.internalIterator(options.fillCache ?? true);
    return new DbIterator(iterator, seq, {
      ...(options.lowerBound !== undefined ? { lowerBound: options.lowerBound } : {}),
      ...(options.upperBound !== undefined ? { upperBound: options.upperBound } : {}),
      onClose: release,
    });
  }

  /** Takes a snapshot at the current visible sequence number. */
  snapshot(): Snapshot {
    this.checkReadable();
    const s = new Snapshot(this.visibleSequence, (released) => this.snapshots.delete(released));
    this.snapshots.add(s);
    return s;
  }

  private checkReadable(): void {
    if (this.state === 'closed') throw new ClosedError('storage engine');
  }

  /** Merged internal iterator over memtables and the current version, pinning the version. */
  private internalIterator(fillCache = true): { iterator: InternalIterator; release: () => void } {
    const version = this.version;
    const release = this.pinVersion(version);
    const children: InternalIterator[] = [this.active.table.iterator()];
    for (let i = this.immutables.length - 1; i >= 0; i--) children.push((this.immutables[i] as MemtableSlot).table.iterator());
    for (const f of version.files(0)) children.push(this.tableIterator(f, fillCache));
    for (let level = 1; level < version.levelsMax; level++) {
      const files = version.files(level);
      if (files.length === 0) continue;
      children.push(
        new LevelIterator(
          files.map((f) => ({ smallestUserKey: smallestUserKey(f), largestUserKey: largestUserKey(f), open: () => this.tableIterator(f, fillCache) })),
        ),
      );
    }
    return { iterator: new MergingIterator(children), release };
  }

  /** Keeps every file of `version` on disk until the returned function is called (once or more). */
  private pinVersion(version: Version): () => void {
    this.pinnedVersions.set(version, (this.pinnedVersions.get(version) ?? 0) + 1);
    let released = false;
    return (): void => {
      if (released) return;
      released = true;
      const count = (this.pinnedVersions.get(version) ?? 1) - 1;
      if (count === 0) this.pinnedVersions.delete(version);
      else this.pinnedVersions.set(version, count);
      if (count === 0 && version !== this.version && this.state !== 'closed') this.deleteObsoleteFiles();
    };
  }

  /**
   * Pins the state of user keys [start, end) at the snapshot (default: now) for a reader on
   * another thread (span-export.ts): the current version's tables overlapping the span, which stay
   * on disk until `release()`, and a copy of the memtables' entries of the span. The source reads
   * the same keys and values as `iterator({ lowerBound: start, upperBound: end, snapshot })`.
   */
  pinSpan(start: Buffer, end: Buffer, options: ReadOptions = {}): { readonly source: SpanSource; release(): void } {
    this.checkReadable();
    if (Buffer.compare(start, end) >= 0) throw new InvalidArgumentError('pinSpan needs start < end');
    const seq = options.snapshot?.seq ?? this.visibleSequence;
    const version = this.version;
    const release = this.pinVersion(version);
    const memtables = [this.active, ...[...this.immutables].reverse()].map((slot) => encodeSpanEntries(slot.table.iterator(), start, end, seq));
    const tables = this.tablesOverlapping(version, start, end);
    return { source: { start, end, seq, memtables: memtables.filter((entries) => entries.byteLength > 0), tables }, release };
  }

  /** The tables of `version` that may hold keys of [start, end), as a pinned span lists them. */
  private tablesOverlapping(version: Version, start: Buffer, end: Buffer): PinnedTable[] {
    const tables: PinnedTable[] = [];
    for (const f of version.allFiles()) {
      // Tables are closed intervals of user keys; the span is half-open.
      if (Buffer.compare(smallestUserKey(f), end) >= 0 || Buffer.compare(largestUserKey(f), start) < 0) continue;
      tables.push({ path: path.join(this.dir, fileName(f.number, 'sst')), fileNumber: f.number, ...(f.globalSeq === undefined ? {} : { globalSeq: f.globalSeq }) });
    }
    return tables;
  }

  /**
   * As `pinSpan`, but the memtables' entries of the span are copied in slices of a MiB with the
   * event loop given back in between (`encodeSpanEntriesSliced`): the sequence, the version and
   * the memtables are taken at the call, so the source is the same state `pinSpan` would pin then
   * (writes meanwhile land above its sequence). For the span readers on the export thread
   * (snapshot export, split sampling, range-deletion plans) run during rebalancing, where a
   * range's share of a large memtable copied in one go was a long synchronous slice.
   */
  async pinSpanSliced(start: Buffer, end: Buffer, options: ReadOptions = {}): Promise<{ readonly source: SpanSource; release(): void }> {
    this.checkReadable();
    if (Buffer.compare(start, end) >= 0) throw new InvalidArgumentError('pinSpan needs start < end');
    const seq = options.snapshot?.seq ?? this.visibleSequence;
    const version = this.version;
    const release = this.pinVersion(version);
    const iterators = [this.active, ...[...this.immutables].reverse()].map((slot) => slot.table.iterator());
    const tables = this.tablesOverlapping(version, start, end);
    try {
      const memtables: Buffer[] = [];
      for (const it of iterators) memtables.push(await encodeSpanEntriesSliced(it, start, end, seq));
      return { source: { start, end, seq, memtables: memtables.filter((entries) => entries.byteLength > 0), tables }, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * As `exportRange`, but the merge, the encoding and the fsyncs run on the engine's niced export
   * thread: this thread only pins the span and copies its memtable entries. `sync: false` skips
   * the fsyncs (scratch files read once).
   */
  async exportSpan(start: Buffer, end: Buffer, dir: string, options: ReadOptions & { fileBytes?: number; sync?: boolean } = {}): Promise<ExportedFile[]> {
    this.checkReadable();
    if (Buffer.compare(start, end) >= 0) throw new InvalidArgumentError('exportSpan needs start < end');
    const pinned = await this.pinSpanSliced(start, end, options);
    try {
      this.fs.mkdirSync(dir);
      return await this.spanExecutor.exportSpan({
        source: pinned.source,
        dir,
        fileBytes: options.fileBytes ?? this.options.targetFileBytes,
        table: this.tableOutputOptions(),
        sync: options.sync !== false,
      });
    } finally {
      pinned.release();
    }
  }

  private tableIterator(f: FileMeta, fillCache = true): InternalIterator {
    const t = this.tables.get(f.number);
    assert(t !== undefined, `table ${f.number} is open`);
    const it = t.reader.iterator({ fillCache });
    return f.globalSeq === undefined ? it : new GlobalSeqIterator(it, f.globalSeq);
  }

  // ---------------------------------------------------------------------------------------
  // Background work: flush and compaction

  private scheduleBackgroundWork(): void {
    if (this.state !== 'open') return;
    if (this.flushLoop === undefined && this.immutables.length > 0) {
      this.flushLoop = this.runFlushLoop().finally(() => {
        this.flushLoop = undefined;
        this.notifyProgress();
        this.scheduleBackgroundWork();
      });
    }
    if (this.compactionLoop === undefined && this.pickCompaction() !== undefined) {
      this.compactionLoop = this.runCompactionLoop().finally(() => {
        this.compactionLoop = undefined;
        this.notifyProgress();
      });
    }
  }

  private pickCompaction(force = false): CompactionJob | undefined {
    return pickCompaction(this.version, this.options, this.compactPointers, this.busyFiles, force);
  }

  private async runFlushLoop(): Promise<void> {
    try {
      while (this.state === 'open' && this.immutables.length > 0) {
        await this.flushOne(this.immutables[0] as MemtableSlot);
        this.notifyProgress();
        this.scheduleBackgroundWork();
      }
    } catch (err) {
      this.backgroundError('flush', err);
    }
  }

  private async flushOne(slot: MemtableSlot): Promise<void> {
    const added: { level: number; file: FileMeta }[] = [];
    let number: number | undefined;
    try {
      if (slot.table.count > 0) {
        number = this.newFileNumber();
        // Protected from obsolete-file deletion until the manifest lists it.
        this.pendingOutputs.add(number);
        const entries = encodeEntries(slot.table.iterator());
        const built = await this.executor.buildTable(this.tablePath(number), entries, this.tableOutputOptions());
        const meta = this.installTable(number, built);
        this.counters.flushBytes += meta.fileBytes;
        added.push({ level: 0, file: meta });
      }
      const next = this.immutables[1] ?? this.active;
      const logNumber = Math.min(...next.walNumbers);
      await this.logAndApply({ added, logNumber });
    } finally {
      if (number !== undefined) this.pendingOutputs.delete(number);
    }
    assert(this.immutables[0] === slot, 'memtables flush in order');
    this.immutables.shift();
    this.counters.flushes++;
    this.deleteObsoleteFiles();
  }

  private async runCompactionLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.state !== 'open') return;
        const job = this.pickCompaction();
        if (job === undefined) return;
        await this.runCompaction(job);
        this.notifyProgress();
      }
    } catch (err) {
      this.backgroundError('compaction', err);
    }
  }

  private async runCompaction(job: CompactionJob): Promise<void> {
    const started = Date.now();
    const inputs = [...job.inputs, ...job.nextInputs];
    for (const f of inputs) this.busyFiles.add(f.number);
    try {
      const last = job.inputs[job.inputs.length - 1];
      if (job.level > 0 && last !== undefined) this.compactPointers[job.level] = largestUserKey(last);
      if (job.trivialMove) {
        const f = job.inputs[0] as FileMeta;
        await this.logAndApply({ deleted: [{ level: job.level, number: f.number }], added: [{ level: job.outputLevel, file: f }] });
        this.counters.trivialMoves++;
        return;
      }
      const outputs = await this.mergeInputs(job);
      // (outputs stay in pendingOutputs until the manifest lists them)
      try {
        await this.logAndApply({
          deleted: [
            ...job.inputs.map((f) => ({ level: job.level, number: f.number })),
            ...job.nextInputs.map((f) => ({ level: job.outputLevel, number: f.number })),
          ],
          added: outputs.map((file) => ({ level: job.outputLevel, file })),
        });
      } finally {
        for (const o of outputs) this.pendingOutputs.delete(o.number);
      }
      this.counters.compactions++;
      for (const f of inputs) this.counters.compactionBytesRead += f.fileBytes;
      this.deleteObsoleteFiles();
    } finally {
      for (const f of inputs) this.busyFiles.delete(f.number);
      this.counters.compactionMs += Date.now() - started;
    }
  }

  /**
   * Merges a job's inputs into new tables at the output level on the background executor,
   * dropping what no reader can see. Output file numbers are reserved up front.
   */
  private async mergeInputs(job: CompactionJob): Promise<FileMeta[]> {
    const inputs = [...job.inputs, ...job.nextInputs];
    const inputBytes = inputs.reduce((sum, f) => sum + f.fileBytes, 0);
    const reserved = Array.from({ length: Math.ceil(inputBytes / this.options.targetFileBytes) + 3 }, () => {
      const number = this.newFileNumber();
      this.pendingOutputs.add(number);
      return { number, path: this.tablePath(number) };
    });
    const threshold = this.mvccGcThreshold;
    const deeperLevels = this.version.levels.slice(job.outputLevel + 1).map((files) => files.map((f) => ({ smallestUser: smallestUserKey(f), largestUser: largestUserKey(f) })));
    let result;
    try {
      result = await this.executor.merge({
        inputs: inputs.map((f) => ({ path: this.tablePath(f.number), fileNumber: f.number, ...(f.globalSeq !== undefined ? { globalSeq: f.globalSeq } : {}) })),
        deeperLevels,
        smallestSnapshot: this.smallestSnapshot(),
        ...(this.options.mvccGarbageCollection && threshold !== undefined ? { mvccGcThreshold: threshold } : {}),
        ...(this.options.mvccKeyPrefixByte >= 0 ? { mvccKeyPrefixByte: this.options.mvccKeyPrefixByte } : {}),
        ...(this.options.mvccTombstoneByte >= 0 ? { mvccTombstoneByte: this.options.mvccTombstoneByte } : {}),
        targetFileBytes: this.options.targetFileBytes,
        bytesPerSecMax: this.options.compactionBytesPerSecMax,
        table: this.tableOutputOptions(),
        outputs: reserved,
      });
    } catch (err) {
      for (const r of reserved) this.pendingOutputs.delete(r.number);
      throw err;
    }
    const used = new Set(result.outputs.map((o) => o.number));
    for (const r of reserved) if (!used.has(r.number)) this.pendingOutputs.delete(r.number);
    this.counters.mvccCollected += result.collectedVersions;
    const outputs = result.outputs.map((o) => this.installTable(o.number, o));
    for (const o of outputs) this.counters.compactionBytesWritten += o.fileBytes;
    return outputs;
  }

  private smallestSnapshot(): number {
    let smallest = this.visibleSequence;
    for (const s of this.snapshots) if (s.seq < smallest) smallest = s.seq;
    return smallest;
  }

  private tablePath(number: number): string {
    return path.join(this.dir, fileName(number, 'sst'));
  }

  private tableOutputOptions(): TableOutputOptions {
    return { blockSizeBytes: this.options.blockSizeBytes, restartInterval: this.options.blockRestartInterval, bitsPerKey: this.options.bloomBitsPerKey };
  }

  /** Opens a table a background job finished (and fsynced) and returns its metadata. */
  private installTable(number: number, t: TableMeta): FileMeta {
    const meta: FileMeta = {
      number,
      fileBytes: t.fileSize,
      smallest: t.smallest,
      largest: t.largest,
      minSeq: t.minSeq,
      maxSeq: t.maxSeq,
      entries: t.entries,
    };
    this.openTable(meta);
    return meta;
  }

  private openTable(meta: FileMeta): OpenTable {
    const existing = this.tables.get(meta.number);
    if (existing !== undefined) return existing;
    const reader = TableReader.open(this.fs, path.join(this.dir, fileName(meta.number, 'sst')), meta.number, {
      cache: this.cache,
      verifyChecksums: this.options.verifyChecksums,
    });
    const t: OpenTable = { meta, reader, smallestUser: smallestUserKey(meta), largestUser: largestUserKey(meta) };
    this.tables.set(meta.number, t);
    return t;
  }

  private backgroundError(what: string, err: unknown): void {
    if (this.state === 'closed') return;
    const reason = `${what} failed: ${err instanceof Error ? err.message : String(err)}`;
    this.log(reason);
    if (err instanceof StorageError || isErrno(err)) {
      this.enterReadOnly(reason);
      return;
    }
    // Anything else is a broken invariant: surface it loudly rather than continue.
    this.enterReadOnly(reason);
    queueMicrotask(() => {
      throw err;
    });
  }

  // ---------------------------------------------------------------------------------------
  // Manifest

  private newFileNumber(): number {
    return this.nextFileNumber++;
  }

  /**
   * Appends an edit to the manifest, fsyncs it and installs the new version. Edits are applied
   * one at a time in manifest order.
   */
  private logAndApply(edit: VersionEdit): Promise<void> {
    const run = async (): Promise<void> => {
      this.checkNotFailed();
      const full: VersionEdit = { ...edit, nextFileNumber: this.nextFileNumber, lastSequence: this.lastSequence };
      const next = this.version.apply(full);
      try {
        this.manifest.append(encodeEdit(full));
        await this.manifest.sync();
      } catch (err) {
        this.enterReadOnly(`manifest write failed: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      }
      this.version = next;
      if (full.logNumber !== undefined) this.logNumber = full.logNumber;
      if (this.manifest.size > this.options.manifestBytesMax) await this.rotateManifest();
    };
    const result = this.manifestChain.then(run);
    this.manifestChain = result.catch(() => {});
    return result;
  }

  private checkNotFailed(): void {
    if (this.state === 'closed') throw new ClosedError('storage engine');
    if (this.state === 'read-only') throw new ReadOnlyError(this.readOnlyReason ?? 'unknown');
  }

  /** Starts a new manifest holding one snapshot of the current version, then points CURRENT at it. */
  private async rotateManifest(): Promise<void> {
    const number = this.newFileNumber();
    const writer = writeSnapshotManifest(this.fs, this.dir, number, this.version, {
      logNumber: this.logNumber,
      nextFileNumber: this.nextFileNumber,
      lastSequence: this.lastSequence,
    });
    await writer.sync();
    setCurrent(this.fs, this.dir, number);
    this.manifest.close();
    this.manifest = writer;
    this.manifestNumber = number;
    this.deleteObsoleteFiles();
  }

  /** Deletes tables no version uses, WALs already flushed and old manifests. */
  private deleteObsoleteFiles(): void {
    const live = new Set<number>(this.pendingOutputs);
    for (const f of this.version.allFiles()) live.add(f.number);
    for (const v of this.pinnedVersions.keys()) for (const f of v.allFiles()) live.add(f.number);
    const liveWals = new Set<number>([...this.active.walNumbers, ...this.immutables.flatMap((s) => s.walNumbers)]);
    let names: string[];
    try {
      names = this.fs.readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^(\d+)\.(sst|log)$/.exec(name) ?? /^MANIFEST-(\d+)$/.exec(name);
      if (m === null) continue;
      const number = Number(m[1]);
      const obsolete =
        m[2] === 'sst'
          ? !live.has(number) && number < this.nextFileNumber
          : m[2] === 'log'
            ? !liveWals.has(number) && number < this.logNumber
            : number !== this.manifestNumber && number < this.nextFileNumber;
      if (!obsolete) continue;
      if (m[2] === 'sst') {
        const t = this.tables.get(number);
        if (t !== undefined) {
          t.reader.close();
          this.tables.delete(number);
          this.cache.eraseFile(number);
        }
      }
      try {
        this.fs.unlinkSync(path.join(this.dir, name));
      } catch (err) {
        this.log(`could not delete obsolete file ${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Maintenance, checkpoints, export and ingestion

  /**
   * Makes every write accepted so far durable, however it was written (sync or not): one fsync of
   * the active write-ahead log, joining its group commit. Flushes instead while frozen memtables
   * wait for their flush (their logs were closed with whatever was never synced). Cheaper than
   * `flush`, which writes an L0 table of the whole memtable (every range's recent writes) and so
   * brings the next L0 compaction, a rewrite of L1, closer.
   */
  async syncWrites(): Promise<void> {
    this.checkWritable();
    const wal = this.active.wal;
    if (this.immutables.length > 0 || wal === undefined) {
      await this.flush();
      return;
    }
    try {
      await wal.sync();
    } catch (err) {
      // As a synced write's failure: the unsynced records may be lost, nothing more is accepted.
      this.enterReadOnly(`WAL sync failed: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
  }

  /** Flushes the memtable to an SSTable and waits until every frozen memtable is flushed. */
  async flush(): Promise<void> {
    this.checkWritable();
    if (this.active.table.count > 0) this.rotateMemtable();
    while (this.immutables.length > 0) {
      this.checkWritable();
      this.scheduleBackgroundWork();
      await (this.flushLoop ?? this.waitForProgress(100));
    }
  }

  /** Flushes, then compacts until no level needs work (or every level down to the last, if `full`). */
  async compactAll(full = true): Promise<void> {
    await this.flush();
    while (this.compactionLoop !== undefined) await this.compactionLoop;
    for (;;) {
      this.checkWritable();
      const job = this.pickCompaction(full);
      if (job === undefined || (full && job.outputLevel >= this.version.levelsMax)) break;
      try {
        await this.runCompaction(job);
      } catch (err) {
        this.backgroundError('compaction', err);
        throw err;
      }
      if (full && this.version.levels.slice(0, -1).every((l) => l.length === 0)) break;
    }
  }

  /**
   * Sets the MVCC garbage-collection threshold: compactions may drop versions of a key older
   * than its newest version at or below `ts` (requires `mvccGarbageCollection`). Raising is
   * allowed, lowering is refused (collected versions cannot come back).
   */
  /** The MVCC garbage-collection threshold set so far (undefined: none, nothing collected). */
  mvccGcThresholdTs(): bigint | undefined {
    return this.mvccGcThreshold;
  }

  setMvccGcThreshold(ts: bigint): void {
    if (!this.options.mvccGarbageCollection) throw new InvalidArgumentError('mvccGarbageCollection is not enabled for this engine');
    if (this.mvccGcThreshold !== undefined && ts < this.mvccGcThreshold) {
      throw new InvalidArgumentError(`GC threshold ${ts} is below the current ${this.mvccGcThreshold}`);
    }
    this.mvccGcThreshold = ts;
  }

  /**
   * The data of [lowerBound, upperBound) at the current visible sequence, for a reader on another
   * thread (a backup export): the table files that may hold such keys, pinned (not deleted) until
   * `release`, and iterators over the memtables, which the caller copies out on this thread.
   */
  pinReadView(lowerBound: Buffer, upperBound: Buffer | undefined): EngineReadView {
    this.checkReadable();
    const version = this.version;
    const release = this.pinVersion(version);
    const overlaps = (f: FileMeta): boolean => Buffer.compare(largestUserKey(f), lowerBound) >= 0 && (upperBound === undefined || Buffer.compare(smallestUserKey(f), upperBound) < 0);
    const tables: EngineReadView['tables'][number][] = [];
    for (let level = 0; level < version.levelsMax; level++) {
      for (const f of version.files(level)) {
        if (overlaps(f)) tables.push({ path: path.join(this.dir, fileName(f.number, 'sst')), fileNumber: f.number, ...(f.globalSeq === undefined ? {} : { globalSeq: f.globalSeq }) });
      }
    }
    const memtables: InternalIterator[] = [this.active.table.iterator()];
    for (let i = this.immutables.length - 1; i >= 0; i--) memtables.push((this.immutables[i] as MemtableSlot).table.iterator());
    return { seq: this.visibleSequence, tables, memtables, release };
  }

  /**
   * Writes a consistent checkpoint of the whole engine into `dir` (which must not exist): hard
   * links of the immutable tables plus a fresh manifest. It holds every write that was visible
   * when the call started. The checkpoint opens as an engine of its own.
   */
  async checkpoint(dir: string): Promise<void> {
    this.checkWritable();
    if (this.fs.existsSync(dir)) throw new InvalidArgumentError(`checkpoint directory ${dir} already exists`);
    await this.flush();
    const version = this.version;
    this.pinnedVersions.set(version, (this.pinnedVersions.get(version) ?? 0) + 1);
    try {
      const tmp = `${dir}.tmp-${process.pid}`;
      this.fs.mkdirSync(tmp);
      for (const f of version.allFiles()) {
        const name = fileName(f.number, 'sst');
        this.fs.linkSync(path.join(this.dir, name), path.join(tmp, name));
      }
      const manifestNumber = this.nextFileNumber + 1;
      const writer = writeSnapshotManifest(this.fs, tmp, manifestNumber, version, {
        logNumber: manifestNumber + 1,
        nextFileNumber: manifestNumber + 2,
        lastSequence: this.lastSequence,
      });
      await writer.sync();
      writer.close();
      setCurrent(this.fs, tmp, manifestNumber);
      this.fs.renameSync(tmp, dir);
      this.fs.fsyncDirSync(path.dirname(path.resolve(dir)));
    } finally {
      const count = (this.pinnedVersions.get(version) ?? 1) - 1;
      if (count === 0) this.pinnedVersions.delete(version);
      else this.pinnedVersions.set(version, count);
    }
  }

  /**
   * Exports the live keys of [start, end) (at the snapshot, if given) as SSTables in `dir`, ready
   * for `ingest` by another engine. Files are cut at `targetFileBytes`.
   */
  async exportRange(start: Buffer, end: Buffer, dir: string, options: ReadOptions & { fileBytes?: number } = {}): Promise<ExportedFile[]> {
    this.checkReadable();
    if (Buffer.compare(start, end) >= 0) throw new InvalidArgumentError('exportRange needs start < end');
    this.fs.mkdirSync(dir);
    const fileBytes = options.fileBytes ?? this.options.targetFileBytes;
    const it = this.iterator({ lowerBound: start, upperBound: end, ...(options.snapshot ? { snapshot: options.snapshot } : {}) });
    const files: ExportedFile[] = [];
    let builder: TableBuilder | undefined;
    let builderPath = '';
    let first: Buffer | undefined;
    let last: Buffer | undefined;
    let entries = 0;
    const finish = (): void => {
      if (builder === undefined || first === undefined || last === undefined) return;
      const t = builder.finish();
      files.push({ path: builderPath, entries, fileBytes: t.fileSize, smallestKey: first, largestKey: last });
      builder = undefined;
    };
    try {
      let n = 0;
      let bytesSinceYield = 0;
      for (it.seek(start); it.valid(); it.next()) {
        if (builder !== undefined && builder.estimatedFileSizeBytes() >= fileBytes) finish();
        if (builder === undefined) {
          builderPath = path.join(dir, `export-${String(files.length).padStart(6, '0')}.sst`);
          builder = new TableBuilder(this.fs, builderPath, this.tableOutputOptions());
          first = Buffer.from(it.key());
          entries = 0;
        }
        const value = it.value();
        builder.add(it.key(), 0, ValueKind.Put, value);
        last = Buffer.from(it.key());
        entries++;
        bytesSinceYield += last.byteLength + value.byteLength;
        if (++n % yieldEveryEntries === 0 || bytesSinceYield >= yieldEveryBytes) {
          bytesSinceYield = 0;
          await yieldToEventLoop();
        }
      }
      finish();
    } catch (err) {
      builder?.abandon();
      throw err;
    } finally {
      it.close();
    }
    return files;
  }

  /**
   * Ingests SSTables built by `exportRange` (or a TableBuilder with sequence 0 and one entry per
   * key). Their contents become visible atomically and newer than every earlier write. Each file
   * is checksum-verified first; files must not overlap each other. The files are hard-linked
   * (or copied) in; the originals are left in place.
   */
  async ingest(paths: readonly string[]): Promise<void> {
    this.checkWritable();
    if (paths.length === 0) return;
    const probes: { path: string; props: TableReader['properties']; fileBytes: number }[] = [];
    // Every block checked on the export thread: a snapshot's tables are tens of MiB, and the node
    // serves its clients meanwhile.
    await this.spanExecutor.verifyTables(paths);
    for (const p of paths) {
      const reader = TableReader.open(this.fs, p, -1, { cache: this.cache, verifyChecksums: true });
      try {
        const props = reader.properties;
        if (props.maxSeq !== 0) throw new InvalidArgumentError(`${p}: ingested tables must be built with sequence 0 (found ${props.maxSeq})`);
        probes.push({ path: p, props, fileBytes: reader.fileSize });
      } finally {
        reader.close();
      }
    }
    this.checkWritable();
    probes.sort((a, b) => Buffer.compare(smallestUserKeyOf(a.props), smallestUserKeyOf(b.props)));
    for (let i = 1; i < probes.length; i++) {
      const prev = probes[i - 1];
      const cur = probes[i];
      if (prev !== undefined && cur !== undefined && Buffer.compare(largestUserKeyOf(prev.props), smallestUserKeyOf(cur.props)) >= 0) {
        throw new InvalidArgumentError(`ingested files ${prev.path} and ${cur.path} overlap`);
      }
    }
    // Each file by its own keys: a snapshot's files are its range's local keys and its user keys,
    // far apart, and every other range's keys lie between them.
    if (probes.some((probe) => this.memtablesOverlap(smallestUserKeyOf(probe.props), largestUserKeyOf(probe.props)))) await this.flush();
    this.checkWritable();
    const globalSeq = ++this.lastSequence;
    const added: { level: number; file: FileMeta }[] = [];
    for (const probe of probes) {
      const level = this.ingestLevel(smallestUserKeyOf(probe.props), largestUserKeyOf(probe.props));
      const number = this.newFileNumber();
      this.pendingOutputs.add(number);
      const target = path.join(this.dir, fileName(number, 'sst'));
      linkOrCopy(this.fs, probe.path, target);
      const meta: FileMeta = {
        number,
        fileBytes: probe.fileBytes,
        smallest: encodeInternalKey(smallestUserKeyOf(probe.props), globalSeq, ValueKind.Put),
        largest: encodeInternalKey(largestUserKeyOf(probe.props), globalSeq, ValueKind.Put),
        minSeq: globalSeq,
        maxSeq: globalSeq,
        entries: probe.props.entries,
        globalSeq,
      };
      this.openTable(meta);
      added.push({ level, file: meta });
    }
    try {
      // The links durable before the manifest names them; fsynced off the event loop.
      await this.fsyncDir(this.dir);
      await this.logAndApply({ added, lastSequence: this.lastSequence });
    } finally {
      for (const a of added) this.pendingOutputs.delete(a.file.number);
    }
    if (globalSeq > this.visibleSequence) this.visibleSequence = globalSeq;
    this.scheduleBackgroundWork();
  }

  /** fsyncs a directory (its entries) without blocking the event loop. */
  private async fsyncDir(dir: string): Promise<void> {
    const fd = this.fs.openSync(dir, 'r');
    try {
      await this.fs.fsync(fd);
    } catch (err) {
      throw new StorageIOError('fsync', dir, err);
    } finally {
      this.fs.closeSync(fd);
    }
  }

  private memtablesOverlap(smallest: Buffer, largest: Buffer): boolean {
    for (const slot of [this.active, ...this.immutables]) {
      const it = slot.table.iterator();
      it.seek(smallest, maxSequence);
      if (it.valid() && Buffer.compare(it.userKey(), largest) <= 0) return true;
    }
    return false;
  }

  /**
   * Where ingested tables covering user keys [smallest, largest] go: the deepest level ≥ 1 that
   * no table's key range there overlaps (a level's tables stay disjoint), with no entry of those
   * keys in any level above it (the ingested entries are the newest, so reads must meet them
   * first); L0 when there is no such level.
   *
   * Entries, not key ranges, decide "above": a node's flushes and compactions write tables whose
   * ranges span all its ranges, so a snapshot of a range the node never held falls inside them
   * though they hold none of its keys. Judged by ranges it went to L0 every time, and the next
   * L0 compaction rewrote it with everything in L1 (the receiver copied each MiB moved again).
   */
  private ingestLevel(smallest: Buffer, largest: Buffer): number {
    const v = this.version;
    let target = 0;
    for (let level = 0; level < v.levelsMax; level++) {
      const overlapping = v.overlapping(level, smallest, largest);
      if (level > 0 && overlapping.length === 0) target = level;
      if (overlapping.some((f) => this.tableHoldsKeysIn(f, smallest, largest))) break;
    }
    return target;
  }

  /** Whether table `f` holds an entry (any kind) for a user key in [smallest, largest]: one seek. */
  private tableHoldsKeysIn(f: FileMeta, smallest: Buffer, largest: Buffer): boolean {
    const it = this.tableIterator(f, false);
    it.seek(smallest, maxSequence);
    return it.valid() && Buffer.compare(it.userKey(), largest) <= 0;
  }

  /**
   * About how many bytes the tables hold for user keys [start, end), from their indexes (no data
   * block is read): whole tables inside the span, and the part of a table between the data blocks
   * where the span starts and ends. Counts overwritten versions and tombstones too; the memtables
   * are not counted. Synchronous and cheap: for sizing a range when no walk measured it.
   */
  approximateSpanBytes(start: Buffer, end: Buffer): number {
    this.checkReadable();
    let bytes = 0;
    for (const f of this.version.allFiles()) {
      const smallest = smallestUserKey(f);
      const largest = largestUserKey(f);
      if (Buffer.compare(smallest, end) >= 0 || Buffer.compare(largest, start) < 0) continue;
      if (Buffer.compare(smallest, start) >= 0 && Buffer.compare(largest, end) < 0) {
        bytes += f.fileBytes;
        continue;
      }
      const t = this.tables.get(f.number);
      if (t === undefined) continue;
      bytes += Math.max(0, t.reader.approximateOffsetOf(end) - t.reader.approximateOffsetOf(start));
    }
    return bytes;
  }

  /** Checks every checksum of every live table; returns the problems found (empty when healthy). */
  verify(): CorruptionError[] {
    this.checkReadable();
    const problems: CorruptionError[] = [];
    for (const f of this.version.allFiles()) {
      const t = this.tables.get(f.number);
      if (t === undefined) continue;
      try {
        t.reader.verify();
      } catch (err) {
        if (err instanceof CorruptionError) problems.push(err);
        else throw err;
      }
    }
    return problems;
  }

  stats(): EngineStats {
    const walStats = this.active.wal?.stats;
    const walBytes = this.counters.walBytesClosed + (walStats?.bytes ?? 0);
    const c = this.counters;
    const cacheStats = this.cache.stats();
    return {
      userBytesWritten: c.userBytes,
      walBytesWritten: walBytes,
      flushBytesWritten: c.flushBytes,
      compactionBytesWritten: c.compactionBytesWritten,
      compactionBytesRead: c.compactionBytesRead,
      writeAmplification: c.userBytes === 0 ? 0 : (walBytes + c.flushBytes + c.compactionBytesWritten) / c.userBytes,
      levels: this.version.levels.map((files, level) => ({ level, files: files.length, bytes: this.version.levelBytes(level) })),
      flushes: c.flushes,
      compactions: c.compactions,
      trivialMoves: c.trivialMoves,
      compactionMsTotal: c.compactionMs,
      stalls: c.stalls,
      stallMsTotal: c.stallMs,
      slowdowns: c.slowdowns,
      memtableBytes: this.active.table.approximateBytes + this.immutables.reduce((s, m) => s + m.table.approximateBytes, 0),
      immutableMemtables: this.immutables.length,
      walSyncs: c.walSyncsClosed + (walStats?.syncs ?? 0),
      walSyncLastMs: walStats?.syncLastMs ?? 0,
      walSyncMaxMs: walStats?.syncMaxMs ?? 0,
      blockCache: { hits: cacheStats.hits, misses: cacheStats.misses, usageBytes: cacheStats.usageBytes, capacityBytes: this.options.blockCacheBytes },
      lastSequence: this.visibleSequence,
      openSnapshots: this.snapshots.size,
      state: this.state,
      ...(this.readOnlyReason !== undefined ? { readOnlyReason: this.readOnlyReason } : {}),
      mvccVersionsCollected: c.mvccCollected,
    };
  }

  /** Stops background work, waits for in-flight syncs, closes files and releases the lock. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state;
    this.state = 'closed';
    this.notifyProgress();
    await this.executor.close();
    await this.spanExecutor.close();
    await Promise.allSettled([this.flushLoop, this.compactionLoop, this.publishChain, this.manifestChain]);
    if (this.active.wal !== undefined) await this.active.wal.close().catch(() => {});
    for (const t of this.tables.values()) t.reader.close();
    this.tables.clear();
    this.manifest.close();
    releaseLock(this.fs, this.dir);
    void wasOpen;
  }
}

const emptyValue = Buffer.alloc(0);
/** Stands for "deletion" among a batch's values while it is sorted (compared by identity). */
const tombstoneMarker = Buffer.alloc(0);

/** Key prefix as a number (first 6 bytes), for cheap comparisons before a full one. */
function keyPrefix(key: Buffer): number {
  let p = 0;
  for (let i = 0; i < 6; i++) p = p * 256 + (key[i] ?? 0);
  return p;
}

/**
 * Indexes of `keys` in internal order: key ascending, and for equal keys the later op (higher
 * sequence) first.
 */
function sortedOrder(keys: readonly Buffer[]): Uint32Array {
  const order = new Uint32Array(keys.length);
  const prefixes = new Float64Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    order[i] = i;
    prefixes[i] = keyPrefix(keys[i] as Buffer);
  }
  return order.sort((a, b) => {
    const byPrefix = (prefixes[a] as number) - (prefixes[b] as number);
    if (byPrefix !== 0) return byPrefix;
    return Buffer.compare(keys[a] as Buffer, keys[b] as Buffer) || b - a;
  });
}

const smallestUserKeyOf = (p: TableProperties): Buffer => internalKeyUserKey(p.smallest);
const largestUserKeyOf = (p: TableProperties): Buffer => internalKeyUserKey(p.largest);

function isErrno(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

function linkOrCopy(fs: StorageFs, from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw new StorageIOError('link', to, err);
    const data = fs.readFileSync(from);
    const fd = fs.openSync(to, 'wx');
    try {
      fs.writeAllSync(fd, data, 0, data.length, 0);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

// -----------------------------------------------------------------------------------------
// Locking and recovery

function acquireLock(fs: StorageFs, dir: string): void {
  const lockPath = path.join(dir, lockFile);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      const pid = Buffer.from(String(process.pid));
      fs.writeAllSync(fd, pid, 0, pid.length, 0);
      fs.closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageIOError('lock', lockPath, err);
    }
    const holder = Number(fs.readFileSync(lockPath).toString('utf8'));
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) {
      throw new LockedError(`data directory ${dir} is locked by process ${holder}`);
    }
    if (holder === process.pid) throw new LockedError(`data directory ${dir} is already open in this process`);
    // The holder died without releasing (a crash): take the lock over.
    fs.unlinkSync(lockPath);
  }
  throw new LockedError(`could not lock data directory ${dir}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseLock(fs: StorageFs, dir: string): void {
  try {
    fs.unlinkSync(path.join(dir, lockFile));
  } catch {
    // Already gone: nothing to release.
  }
}

interface RecoveredState {
  cache: BlockCache;
  version: Version;
  nextFileNumber: number;
  logNumber: number;
  lastSequence: number;
  /** WAL files at or above logNumber, oldest first: their records are not in any table yet. */
  walNumbers: number[];
}

function setCurrent(fs: StorageFs, dir: string, manifestNumber: number): void {
  const tmp = path.join(dir, `${currentFile}.tmp`);
  const contents = Buffer.from(`${manifestName(manifestNumber)}\n`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeAllSync(fd, contents, 0, contents.length, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, currentFile));
  fs.fsyncDirSync(dir);
}

function writeSnapshotManifest(
  fs: StorageFs,
  dir: string,
  number: number,
  version: Version,
  fields: { logNumber: number; nextFileNumber: number; lastSequence: number },
): RecordLogWriter {
  const writer = RecordLogWriter.create(fs, path.join(dir, manifestName(number)), { syncDirectory: true });
  const added = version.levels.flatMap((files, level) => files.map((file) => ({ level, file })));
  writer.append(encodeEdit({ snapshot: true, added, ...fields }));
  return writer;
}

/** Reads CURRENT, replays the manifest and the unflushed WALs, and starts a fresh manifest. */
function recover(fs: StorageFs, dir: string, options: EngineOptions, log: (m: string) => void): RecoveredState {
  const cache = new BlockCache(options.blockCacheBytes);
  const currentPath = path.join(dir, currentFile);
  let version = Version.empty(options.levelsMax);
  let nextFileNumber = 2;
  let logNumber = 0;
  let lastSequence = 0;
  if (fs.existsSync(currentPath)) {
    const name = fs.readFileSync(currentPath).toString('utf8').trim();
    if (!/^MANIFEST-\d+$/.test(name)) throw new CorruptionError(currentPath, 0, `CURRENT names no manifest: ${JSON.stringify(name)}`);
    const manifestPath = path.join(dir, name);
    if (!fs.existsSync(manifestPath)) throw new CorruptionError(currentPath, 0, `CURRENT names ${name}, which does not exist`);
    const read = readRecordLog(fs, manifestPath, { truncateTornTail: true });
    if (read.tornBytes > 0) log(`manifest ${manifestPath}: dropped a torn final record of ${read.tornBytes} bytes`);
    read.records.forEach((payload, i) => {
      const edit = decodeEdit(payload, manifestPath, read.payloadOffsets[i] ?? 0);
      if ((edit.added ?? []).some((a) => a.level >= options.levelsMax) || (edit.deleted ?? []).some((d) => d.level >= options.levelsMax)) {
        throw new CorruptionError(manifestPath, read.payloadOffsets[i] ?? 0, `manifest uses more levels than levelsMax ${options.levelsMax}`);
      }
      try {
        version = version.apply(edit);
      } catch (err) {
        throw new CorruptionError(manifestPath, read.payloadOffsets[i] ?? 0, `inconsistent edit: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (edit.logNumber !== undefined) logNumber = edit.logNumber;
      if (edit.nextFileNumber !== undefined) nextFileNumber = Math.max(nextFileNumber, edit.nextFileNumber);
      if (edit.lastSequence !== undefined) lastSequence = Math.max(lastSequence, edit.lastSequence);
    });
    for (const f of version.allFiles()) {
      const p = path.join(dir, fileName(f.number, 'sst'));
      if (!fs.existsSync(p)) throw new CorruptionError(p, 0, `table ${f.number} listed in ${name} is missing`);
    }
  } else {
    const names = fs.readdirSync(dir);
    if (names.some((n) => /^(MANIFEST-\d+|\d+\.sst)$/.test(n))) {
      throw new CorruptionError(currentPath, 0, 'CURRENT is missing but the directory holds tables or manifests');
    }
  }
  const names = fs.readdirSync(dir);
  for (const n of names) {
    const m = /^(\d+)\.(sst|log)$|^MANIFEST-(\d+)$/.exec(n);
    if (m !== null) nextFileNumber = Math.max(nextFileNumber, Number(m[1] ?? m[3]) + 1);
  }
  const walNumbers = names
    .map((n) => /^(\d+)\.log$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((n) => n >= logNumber)
    .sort((a, b) => a - b);
  return { cache, version, nextFileNumber, logNumber, lastSequence, walNumbers };
}

export { WriteBatch } from './write-batch.ts';
export type { DbIterator } from './db-iterator.ts';
