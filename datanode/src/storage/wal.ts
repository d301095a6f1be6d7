import { assert } from '../assert.ts';
import { ClosedError, ReadOnlyError, StorageIOError } from './errors.ts';
import type { StorageFs } from './fs.ts';
import { RecordLogWriter, readRecordLog, type RecordLogReadResult } from './record-log.ts';

/** A monotonic millisecond clock, injected so tests and simulations control fsync latencies. */
export interface WalClock {
  nowMs(): number;
}

const performanceClock: WalClock = { nowMs: () => performance.now() };

export interface WalOptions {
  /** Largest record payload; see RecordLogWriter. Default 64 MiB. */
  readonly recordBytesMax?: number;
  /** fsync the directory after creating the file (so synced records cannot lose their file). Default true. */
  readonly syncDirectory?: boolean;
  readonly clock?: WalClock;
}

/** Counters for the engine's metrics. A snapshot: later activity does not change it. */
export interface WalStats {
  /** Records written. */
  readonly records: number;
  /** Bytes written, record headers included. */
  readonly bytes: number;
  /** Appends (and `sync()` calls) that asked for durability. */
  readonly syncRequests: number;
  /** fsyncs completed successfully; with group commit this is well below `syncRequests`. */
  readonly syncs: number;
  readonly syncLastMs: number;
  readonly syncMaxMs: number;
  readonly syncTotalMs: number;
}

interface SyncWaiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * The write-ahead log of one memtable, with group commit.
 *
 * `append` writes its record synchronously, so the order of records in the file is the order of
 * calls. A synced append resolves only after an fsync that started after its record was written.
 * At most one fsync runs at a time; sync requests arriving meanwhile wait together and share the
 * next one, so N concurrent writers cost about two fsyncs rather than N.
 *
 * A failed write or fsync is final: the appends it concerned reject with StorageIOError, appends
 * still waiting for a later fsync reject with ReadOnlyError (their fsync never runs), and so does
 * every later append. An fsync is never retried after failing.
 */
export class WriteAheadLog {
  private readonly writer: RecordLogWriter;
  private readonly clock: WalClock;
  /** Waiters not yet covered by a started fsync. */
  private pendingWaiters: SyncWaiter[] = [];
  /** The running group-commit loop, or null when idle. */
  private syncLoop: Promise<void> | null = null;
  private failure: StorageIOError | null = null;
  private closing = false;
  private records = 0;
  private syncRequests = 0;
  private syncs = 0;
  private syncLastMs = 0;
  private syncMaxMs = 0;
  private syncTotalMs = 0;

  private constructor(writer: RecordLogWriter, clock: WalClock) {
    this.writer = writer;
    this.clock = clock;
  }

  /** Creates a new WAL file at `path` (which must not exist). Throws StorageIOError on failure. */
  static create(fs: StorageFs, path: string, options: WalOptions = {}): WriteAheadLog {
    const writer = RecordLogWriter.create(fs, path, {
      ...(options.recordBytesMax === undefined ? {} : { recordBytesMax: options.recordBytesMax }),
      syncDirectory: options.syncDirectory ?? true,
    });
    return new WriteAheadLog(writer, options.clock ?? performanceClock);
  }

  get path(): string {
    return this.writer.path;
  }

  /** Bytes in the file, for rotation decisions. */
  get size(): number {
    return this.writer.size;
  }

  /** The failure that made this WAL read-only, or null while it is healthy. */
  get failed(): StorageIOError | null {
    return this.failure;
  }

  get stats(): WalStats {
    return {
      records: this.records,
      bytes: this.writer.size,
      syncRequests: this.syncRequests,
      syncs: this.syncs,
      syncLastMs: this.syncLastMs,
      syncMaxMs: this.syncMaxMs,
      syncTotalMs: this.syncTotalMs,
    };
  }

  /**
   * Writes `payload` as one record now, then resolves at once (sync false) or once an fsync
   * started after the write has completed (sync true). Rejects with InvalidArgumentError for an
   * oversized payload (nothing written, the WAL stays usable), StorageIOError when the write or
   * its fsync fails, ReadOnlyError after an earlier failure, ClosedError after `close()`.
   */
  append(payload: Buffer, sync: boolean): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    try {
      this.writer.append(payload);
    } catch (err) {
      if (err instanceof StorageIOError) this.enterFailed(err);
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.records++;
    if (!sync) return Promise.resolve();
    return this.requestSync();
  }

  /** Makes every record written so far durable (joins the group commit). */
  sync(): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    return this.requestSync();
  }

  /**
   * Stops accepting appends, waits for in-flight and already requested fsyncs, then closes the
   * file. Records appended without sync and never synced are not made durable by closing.
   */
  async close(): Promise<void> {
    this.closing = true;
    while (this.syncLoop !== null) await this.syncLoop;
    this.writer.close();
  }

  private refusal(): Error | null {
    if (this.failure !== null) return new ReadOnlyError(`WAL ${this.path}: ${this.failure.message}`);
    if (this.closing) return new ClosedError(`WAL ${this.path}`);
    return null;
  }

  private requestSync(): Promise<void> {
    this.syncRequests++;
    const promise = new Promise<void>((resolve, reject) => {
      this.pendingWaiters.push({ resolve, reject });
    });
    this.syncLoop ??= this.runSyncLoop();
    return promise;
  }

  /**
   * Runs fsyncs while requests are pending, one at a time. Each fsync covers every waiter that
   * was pending when it started (their records were all written before it started).
   */
  private async runSyncLoop(): Promise<void> {
    // Yield once so that appends made in the same turn share the first fsync.
    await Promise.resolve();
    while (this.pendingWaiters.length > 0 && this.failure === null) {
      const covered = this.pendingWaiters;
      this.pendingWaiters = [];
      const startMs = this.clock.nowMs();
      try {
        await this.writer.sync();
      } catch (err) {
        const failure = err instanceof StorageIOError ? err : new StorageIOError('fsync', this.path, err);
        this.enterFailed(failure);
        for (const waiter of covered) waiter.reject(failure);
        break;
      }
      this.recordSyncLatency(this.clock.nowMs() - startMs);
      for (const waiter of covered) waiter.resolve();
    }
    assert(this.failure !== null || this.pendingWaiters.length === 0, 'a healthy WAL leaves no waiter behind');
    this.syncLoop = null;
  }

  /** Enters the failed state and rejects waiters whose fsync has not started: it never will. */
  private enterFailed(failure: StorageIOError): void {
    this.failure ??= failure;
    const stranded = this.pendingWaiters;
    this.pendingWaiters = [];
    const refusal = new ReadOnlyError(`WAL ${this.path}: ${this.failure.message}`);
    for (const waiter of stranded) waiter.reject(refusal);
  }

  private recordSyncLatency(elapsedMs: number): void {
    this.syncs++;
    this.syncLastMs = elapsedMs;
    this.syncTotalMs += elapsedMs;
    if (elapsedMs > this.syncMaxMs) this.syncMaxMs = elapsedMs;
  }
}

export interface WalReplayResult {
  readonly records: number;
  /** The end of the last valid record (the file's size after truncation). */
  readonly validEndOffset: number;
  /** Bytes of torn tail that were truncated away; the engine logs a non-zero value. */
  readonly tornBytes: number;
}

/**
 * Reads a WAL after a restart and calls `onRecord` for each record in order, with the file offset
 * of the payload (for reporting a payload that decodes badly). A torn tail is truncated away
 * (and the truncation synced) before any callback runs; mid-log corruption throws CorruptionError.
 * Payloads are views of one buffer holding the whole file.
 */
export function replayWal(
  fs: StorageFs,
  path: string,
  onRecord: (payload: Buffer, payloadOffset: number) => void,
  options: { readonly recordBytesMax?: number } = {},
): WalReplayResult {
  const read: RecordLogReadResult = readRecordLog(fs, path, { ...options, truncateTornTail: true });
  for (let i = 0; i < read.records.length; i++) {
    const payload = read.records[i];
    const payloadOffset = read.payloadOffsets[i];
    assert(payload !== undefined, 'record index in range');
    assert(payloadOffset !== undefined, 'payload offset index in range');
    onRecord(payload, payloadOffset);
  }
  return { records: read.records.length, validEndOffset: read.validEndOffset, tornBytes: read.tornBytes };
}
