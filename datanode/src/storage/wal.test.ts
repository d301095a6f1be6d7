import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError, ReadOnlyError, StorageIOError } from './errors.ts';
import { FaultInjectingFs, realFs } from './fs.ts';
import { readRecordLog } from './record-log.ts';
import { WriteAheadLog, replayWal } from './wal.ts';
import { WriteBatch } from './write-batch.ts';

/**
 * Real files underneath, plus: counts of writes and fsyncs, the file size when each fsync
 * started, and (when `holdFsyncs` is set) fsyncs that wait for the test to release them.
 */
class ObservedFs extends FaultInjectingFs {
  writeCalls = 0;
  fsyncCalls = 0;
  readonly sizeAtFsyncStart: number[] = [];
  holdFsyncs = false;
  private readonly heldFsyncs: (() => void)[] = [];
  private readonly startWaiters: { readonly count: number; readonly resolve: () => void }[] = [];

  override writeAllSync(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): void {
    this.writeCalls++;
    super.writeAllSync(fd, buffer, offset, length, position);
  }

  override async fsync(fd: number): Promise<void> {
    this.fsyncCalls++;
    this.sizeAtFsyncStart.push(this.fstatSizeSync(fd));
    for (const waiter of this.startWaiters.filter((w) => w.count <= this.fsyncCalls)) waiter.resolve();
    if (this.holdFsyncs) await new Promise<void>((resolve) => this.heldFsyncs.push(resolve));
    await super.fsync(fd);
  }

  /** Resolves once `count` fsyncs have started. */
  fsyncStarted(count: number): Promise<void> {
    if (this.fsyncCalls >= count) return Promise.resolve();
    return new Promise((resolve) => this.startWaiters.push({ count, resolve }));
  }

  releaseFsync(): void {
    const release = this.heldFsyncs.shift();
    if (release === undefined) throw new Error('no fsync is being held');
    release();
  }
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phantomdb-wal-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function record(label: string): Buffer {
  return Buffer.from(label);
}

function replayLabels(path: string): string[] {
  const labels: string[] = [];
  replayWal(realFs, path, (payload) => labels.push(payload.toString()));
  return labels;
}

/** Lets every queued callback and I/O completion run once (yields the event loop; not a timed sleep). */
function turnEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
  }
  throw new Error('expected a rejection');
}

describe('WriteAheadLog group commit', () => {
  it('covers many concurrent synced appends with far fewer fsyncs', async () => {
    const fs = new ObservedFs();
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(fs, path);
    const appendCount = 200;
    await Promise.all(Array.from({ length: appendCount }, (_, i) => wal.append(record(`r${i}`), true)));
    const stats = wal.stats;
    expect(stats.syncs).toBeGreaterThanOrEqual(1);
    expect(stats.syncs).toBeLessThan(appendCount);
    expect(stats.syncs).toBe(fs.fsyncCalls);
    expect(stats.records).toBe(appendCount);
    expect(stats.syncRequests).toBe(appendCount);
    expect(stats.bytes).toBe(wal.size);
    await wal.close();
    expect(replayLabels(path)).toEqual(Array.from({ length: appendCount }, (_, i) => `r${i}`));
  });

  it('makes appends that arrive during an fsync wait for, and share, the next one', async () => {
    const fs = new ObservedFs();
    fs.holdFsyncs = true;
    const wal = WriteAheadLog.create(fs, join(dir, 'wal'));
    const first = wal.append(record('first'), true);
    await fs.fsyncStarted(1);
    const sizeAfterFirst = wal.size;
    let laterResolved = 0;
    const later = Array.from({ length: 50 }, (_, i) => wal.append(record(`later${i}`), true).then(() => laterResolved++));
    const sizeAfterLater = wal.size;
    expect(fs.fsyncCalls).toBe(1);

    fs.releaseFsync();
    await first;
    await fs.fsyncStarted(2);
    // The first fsync started before the later records were written, so it cannot cover them.
    expect(fs.sizeAtFsyncStart).toEqual([sizeAfterFirst, sizeAfterLater]);
    expect(laterResolved).toBe(0);

    fs.releaseFsync();
    await Promise.all(later);
    expect(laterResolved).toBe(50);
    expect(fs.fsyncCalls).toBe(2);
    expect(wal.stats.syncs).toBe(2);
    await wal.close();
  });

  it('does not fsync for unsynced appends, and an explicit sync covers them', async () => {
    const fs = new ObservedFs();
    const wal = WriteAheadLog.create(fs, join(dir, 'wal'));
    for (let i = 0; i < 20; i++) await wal.append(record(`u${i}`), false);
    expect(fs.fsyncCalls).toBe(0);
    expect(wal.stats.syncs).toBe(0);
    expect(wal.stats.records).toBe(20);
    await wal.sync();
    expect(fs.fsyncCalls).toBe(1);
    expect(fs.sizeAtFsyncStart).toEqual([wal.size]);
    await wal.close();
  });

  it('writes a 116 KB batch with a single write call', async () => {
    const fs = new ObservedFs();
    const wal = WriteAheadLog.create(fs, join(dir, 'wal'));
    const batch = new WriteBatch();
    for (let i = 0; i < 1000; i++) batch.put(Buffer.from(String(i).padStart(16, '0')), Buffer.alloc(100, i & 0xff));
    const encoded = batch.encode(1);
    expect(encoded.length).toBeGreaterThan(116_000);
    const writesBefore = fs.writeCalls;
    await wal.append(encoded, true);
    expect(fs.writeCalls - writesBefore).toBe(1);
    await wal.close();
  });

  it('keeps call order as record order under concurrent writers', async () => {
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(realFs, path);
    const callOrder: string[] = [];
    const writer = async (writerId: number): Promise<void> => {
      for (let i = 0; i < 15; i++) {
        // Interleave writers differently at each step by yielding a varying number of times.
        for (let y = 0; y < (writerId * 7 + i * 3) % 5; y++) await Promise.resolve();
        const label = `w${writerId}-${i}`;
        callOrder.push(label);
        await wal.append(record(label), i % 3 === 0);
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, w) => writer(w)));
    await wal.close();
    const interleaved = callOrder.slice(0, 12).some((label, i) => label !== `w${i}-0`) || callOrder[12] !== 'w0-1';
    expect(interleaved).toBe(true);
    expect(replayLabels(path)).toEqual(callOrder);
  });

  it('records fsync latency from the injected clock', async () => {
    let now = 1000;
    const clock = {
      nowMs: (): number => {
        now += 7;
        return now;
      },
    };
    const wal = WriteAheadLog.create(realFs, join(dir, 'wal'), { clock });
    await wal.append(record('a'), true);
    await wal.append(record('b'), true);
    expect(wal.stats.syncLastMs).toBe(7);
    expect(wal.stats.syncMaxMs).toBe(7);
    expect(wal.stats.syncTotalMs).toBe(14);
    await wal.close();
  });
});

describe('WriteAheadLog failures', () => {
  it('rejects the appends a failed fsync covered, then every later append, without retrying', async () => {
    const fs = new ObservedFs();
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(fs, path);
    await wal.append(record('durable'), true);
    fs.failWhen = (operation, target) => (operation === 'fsync' && target === path ? 'EIO' : undefined);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => wal.append(record(`lost${i}`), true)));
    for (const result of results) {
      expect(result.status).toBe('rejected');
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(StorageIOError);
    }
    fs.failWhen = () => undefined;
    for (const sync of [true, false]) {
      const err = await rejectionOf(wal.append(record('after'), sync));
      expect(err).toBeInstanceOf(ReadOnlyError);
      expect((err as ReadOnlyError).reason).toMatch(/fsync .*EIO/);
    }
    expect(await rejectionOf(wal.sync())).toBeInstanceOf(ReadOnlyError);
    expect(wal.failed?.code).toBe('PH_IO');
    expect(fs.fsyncCalls).toBe(2); // the good one and the failed one: never retried
    await wal.close();
  });

  it('rejects appends still waiting for their fsync when the in-flight fsync fails', async () => {
    const fs = new ObservedFs();
    fs.holdFsyncs = true;
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(fs, path);
    const inFlight = wal.append(record('a'), true);
    await fs.fsyncStarted(1);
    const waiting = Array.from({ length: 5 }, (_, i) => wal.append(record(`b${i}`), true));
    fs.failWhen = (operation, target) => (operation === 'fsync' && target === path ? 'EIO' : undefined);
    fs.releaseFsync();
    expect(await rejectionOf(inFlight)).toBeInstanceOf(StorageIOError);
    for (const append of waiting) expect(await rejectionOf(append)).toBeInstanceOf(ReadOnlyError);
    expect(fs.fsyncCalls).toBe(1);
    expect(await rejectionOf(wal.append(record('c'), true))).toBeInstanceOf(ReadOnlyError);
    await wal.close();
  });

  it('on a failed write rejects it, the appends not yet synced and all later appends', async () => {
    const fs = new ObservedFs();
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(fs, path);
    await wal.append(record('kept'), true);
    const waiting = wal.append(record('written-not-synced'), true);
    fs.failWhen = (operation, target) => (operation === 'write' && target === path ? 'ENOSPC' : undefined);
    const failed = wal.append(record('fails'), true);
    fs.failWhen = () => undefined;
    const failure = await rejectionOf(failed);
    expect(failure).toBeInstanceOf(StorageIOError);
    expect(failure.message).toMatch(/ENOSPC/);
    expect(await rejectionOf(waiting)).toBeInstanceOf(ReadOnlyError);
    const later = await rejectionOf(wal.append(record('later'), false));
    expect(later).toBeInstanceOf(ReadOnlyError);
    expect((later as ReadOnlyError).reason).toMatch(/write .*ENOSPC/);
    expect(fs.fsyncCalls).toBe(1);
    await wal.close();
    expect(replayLabels(path)).toEqual(['kept', 'written-not-synced']);
  });

  it('still resolves appends whose fsync was already running when a later write failed', async () => {
    const fs = new ObservedFs();
    fs.holdFsyncs = true;
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(fs, path);
    const inFlight = wal.append(record('a'), true);
    await fs.fsyncStarted(1);
    fs.failWhen = (operation) => (operation === 'write' ? 'EIO' : undefined);
    expect(await rejectionOf(wal.append(record('b'), true))).toBeInstanceOf(StorageIOError);
    fs.failWhen = () => undefined;
    fs.releaseFsync();
    await inFlight;
    expect(fs.fsyncCalls).toBe(1);
    await wal.close();
  });

  it('rejects an oversized payload without failing the WAL', async () => {
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(realFs, path, { recordBytesMax: 100 });
    expect(await rejectionOf(wal.append(Buffer.alloc(101), true))).toBeInstanceOf(InvalidArgumentError);
    await wal.append(Buffer.alloc(100, 1), true);
    expect(wal.failed).toBe(null);
    await wal.close();
    expect(readRecordLog(realFs, path).records).toEqual([Buffer.alloc(100, 1)]);
  });

  it('close waits for the in-flight fsync, then refuses appends', async () => {
    const fs = new ObservedFs();
    fs.holdFsyncs = true;
    const wal = WriteAheadLog.create(fs, join(dir, 'wal'));
    const synced = wal.append(record('a'), true);
    await fs.fsyncStarted(1);
    let closed = false;
    const closing = wal.close().then(() => {
      closed = true;
    });
    await turnEventLoop();
    expect(closed).toBe(false);
    expect(await rejectionOf(wal.append(record('b'), false))).toBeInstanceOf(ClosedError);
    fs.releaseFsync();
    await synced;
    await closing;
    expect(closed).toBe(true);
  });
});

describe('replayWal', () => {
  it('returns exactly the written records after reopening, truncating a torn tail', async () => {
    const path = join(dir, 'wal');
    const wal = WriteAheadLog.create(realFs, path);
    const labels = Array.from({ length: 30 }, (_, i) => `record-${i}-${'x'.repeat(i * 13)}`);
    for (const [i, label] of labels.entries()) await wal.append(record(label), i % 2 === 0);
    const cleanSize = wal.size;
    await wal.close();
    // A crash in the middle of the next record's write.
    appendFileSync(path, Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]));

    const offsets: number[] = [];
    const replayed: string[] = [];
    const result = replayWal(realFs, path, (payload, payloadOffset) => {
      replayed.push(payload.toString());
      offsets.push(payloadOffset);
    });
    expect(replayed).toEqual(labels);
    expect(result).toEqual({ records: 30, validEndOffset: cleanSize, tornBytes: 7 });
    expect(statSync(path).size).toBe(cleanSize);
    expect(offsets[0]).toBe(16);
    expect(replayWal(realFs, path, () => undefined).tornBytes).toBe(0);
  });
});
