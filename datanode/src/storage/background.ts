import * as os from 'node:os';
import { assert } from '../assert.ts';
import { CompactionFilter } from './compaction.ts';
import { CorruptionError, StorageIOError } from './errors.ts';
import type { StorageFs } from './fs.ts';
import { GlobalSeqIterator } from './global-seq-iterator.ts';
import type { InternalIterator } from './iterator.ts';
import { ValueKind } from './keys.ts';
import { MergingIterator } from './merging-iterator.ts';
import { decodeMvccKey, mvccPrefixLength } from './mvcc.ts';
import { TableBuilder, type TableMeta } from './sstable/table-builder.ts';
import { TableReader } from './sstable/table-reader.ts';

/**
 * The CPU-heavy background jobs of the engine — building a table from a frozen memtable and
 * merging tables in a compaction — as plain functions of files in and files out. The engine runs
 * them on a worker thread (so they use the second core and never starve foreground work) or, when
 * it was given a custom file system (tests injecting faults), on its own thread.
 */

export interface TableOutputOptions {
  readonly blockSizeBytes: number;
  readonly restartInterval: number;
  readonly bitsPerKey: number;
}

/** A key range of one file in a level below a compaction's output level. */
export interface DeeperFile {
  readonly smallestUser: Buffer;
  readonly largestUser: Buffer;
}

export interface MergeSpec {
  readonly inputs: readonly { readonly path: string; readonly fileNumber: number; readonly globalSeq?: number }[];
  /** Files of each level below the output level, sorted by key (to know where tombstones can go). */
  readonly deeperLevels: readonly (readonly DeeperFile[])[];
  readonly smallestSnapshot: number;
  /** MVCC version GC threshold; GC is off when absent. */
  readonly mvccGcThreshold?: bigint;
  /** Only keys starting with this byte are MVCC-encoded (absent: every key is). */
  readonly mvccKeyPrefixByte?: number;
  /** An MVCC version whose value is exactly this one byte is a deletion tombstone (absent: none is). */
  readonly mvccTombstoneByte?: number;
  readonly targetFileBytes: number;
  readonly bytesPerSecMax: number;
  readonly table: TableOutputOptions;
  /** Output files reserved by the engine, used in order. */
  readonly outputs: readonly { readonly number: number; readonly path: string }[];
}

export interface OutputTable extends TableMeta {
  readonly number: number;
}

export interface MergeResult {
  readonly outputs: OutputTable[];
  readonly droppedEntries: number;
  readonly collectedVersions: number;
  readonly entriesRead: number;
}

const yieldEveryEntries = 4096;
const emptyValue = Buffer.alloc(0);
const allOnesTimestamp = Buffer.alloc(8, 0xff);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True when no file of the deeper levels holds `userKey`; keys must be asked in ascending order. */
class DeeperLevelsChecker {
  private readonly positions: number[];
  constructor(private readonly levels: readonly (readonly DeeperFile[])[]) {
    this.positions = levels.map(() => 0);
  }

  /** True when no file of a deeper level overlaps [start, end] (a lookup that does not move the cursors). */
  isBaseLevelForSpan(start: Buffer, end: Buffer): boolean {
    for (const files of this.levels) {
      let low = 0;
      let high = files.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (Buffer.compare((files[middle] as DeeperFile).largestUser, start) < 0) low = middle + 1;
        else high = middle;
      }
      const first = files[low];
      if (first !== undefined && Buffer.compare(first.smallestUser, end) <= 0) return false;
    }
    return true;
  }
  isBaseLevelForKey(userKey: Buffer): boolean {
    for (let level = 0; level < this.levels.length; level++) {
      const files = this.levels[level] as readonly DeeperFile[];
      let at = this.positions[level] ?? 0;
      while (at < files.length) {
        const f = files[at] as DeeperFile;
        if (Buffer.compare(userKey, f.largestUser) <= 0) {
          this.positions[level] = at;
          if (Buffer.compare(userKey, f.smallestUser) >= 0) return false;
          break;
        }
        at++;
      }
      this.positions[level] = at;
    }
    return true;
  }
}

/**
 * Merges the input tables into new tables cut near `targetFileBytes` (only between user keys),
 * dropping entries no reader can see, tombstones with nothing below them, and MVCC versions below
 * the GC threshold. Yields to the event loop regularly; `shouldStop` abandons the job.
 */
export async function runMerge(fs: StorageFs, spec: MergeSpec, shouldStop: () => boolean = () => false): Promise<MergeResult> {
  const readers = spec.inputs.map((input) => TableReader.open(fs, input.path, input.fileNumber, { verifyChecksums: true }));
  const outputs: OutputTable[] = [];
  let builder: TableBuilder | undefined;
  let outputIndex = 0;
  try {
    const children: InternalIterator[] = readers.map((r, i) => {
      const g = spec.inputs[i]?.globalSeq;
      return g === undefined ? r.iterator() : new GlobalSeqIterator(r.iterator(), g);
    });
    const merged = new MergingIterator(children);
    const deeper = new DeeperLevelsChecker(spec.deeperLevels);
    const threshold = spec.mvccGcThreshold;
    const filter = new CompactionFilter({
      smallestSnapshot: spec.smallestSnapshot,
      isBaseLevelForKey: (k) => deeper.isBaseLevelForKey(k),
      ...(threshold !== undefined
        ? {
            mvcc: {
              prefixLength: (k: Buffer) => (spec.mvccKeyPrefixByte !== undefined && k[0] !== spec.mvccKeyPrefixByte ? undefined : mvccPrefixLength(k)),
              atOrBelowThreshold: (k: Buffer) => decodeMvccKey(k).ts <= threshold,
              ...(spec.mvccTombstoneByte === undefined
                ? {}
                : {
                    isTombstone: (value: Buffer) => value.length === 1 && value[0] === spec.mvccTombstoneByte,
                    // Every version of the prefix sorts between the prefix and the prefix followed by eight 0xff bytes.
                    noDeeperVersions: (prefix: Buffer) => deeper.isBaseLevelForSpan(prefix, Buffer.concat([prefix, allOnesTimestamp])),
                  }),
            },
          }
        : {}),
    });
    const startedMs = Date.now();
    let written = 0;
    let entriesRead = 0;
    let lastUserKey: Buffer | undefined;
    for (merged.seekToFirst(); merged.valid(); merged.next()) {
      const userKey = merged.userKey();
      const verdict = filter.decide(userKey, merged.seq(), merged.kind(), merged.value());
      if (verdict !== 'drop') {
        const full = builder !== undefined && builder.estimatedFileSizeBytes() >= spec.targetFileBytes;
        // Cut only between user keys, so files of one level never share a key.
        if (full && builder !== undefined && lastUserKey !== undefined && !lastUserKey.equals(userKey) && outputIndex < spec.outputs.length) {
          written += builder.estimatedFileSizeBytes();
          outputs.push({ ...builder.finish(), number: (spec.outputs[outputIndex - 1] as { number: number }).number });
          builder = undefined;
        }
        if (builder === undefined) {
          const out = spec.outputs[outputIndex++];
          assert(out !== undefined, 'the engine reserves enough output files');
          builder = new TableBuilder(fs, out.path, spec.table);
        }
        if (verdict === 'tombstone') builder.add(userKey, merged.seq(), ValueKind.Delete, emptyValue);
        else builder.add(userKey, merged.seq(), merged.kind(), merged.value());
        lastUserKey = userKey;
      }
      if (++entriesRead % yieldEveryEntries === 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (shouldStop()) throw new JobAbandoned();
        if (spec.bytesPerSecMax > 0) {
          const done = written + (builder?.estimatedFileSizeBytes() ?? 0);
          const aheadMs = (done / spec.bytesPerSecMax) * 1000 - (Date.now() - startedMs);
          if (aheadMs > 1) await sleep(Math.min(aheadMs, 1000));
        }
      }
    }
    if (builder !== undefined) {
      outputs.push({ ...builder.finish(), number: (spec.outputs[outputIndex - 1] as { number: number }).number });
      builder = undefined;
    }
    return { outputs, droppedEntries: filter.droppedEntries, collectedVersions: filter.collectedVersions, entriesRead };
  } catch (err) {
    builder?.abandon();
    throw err;
  } finally {
    for (const r of readers) r.close();
  }
}

/** Thrown inside a job that was told to stop (the engine is closing). */
export class JobAbandoned extends Error {
  override readonly name = 'JobAbandoned';
}

/**
 * Encodes a frozen memtable's entries, in order, for `buildTableFromEntries` on another thread:
 * per entry u32 key length, u32 value length, f64 sequence, u8 kind, key, value.
 */
export function encodeEntries(it: InternalIterator): Buffer {
  let bytes = 0;
  let count = 0;
  for (it.seekToFirst(); it.valid(); it.next()) {
    bytes += 17 + it.userKey().length + it.value().length;
    count++;
  }
  const out = Buffer.allocUnsafe(bytes);
  let pos = 0;
  for (it.seekToFirst(); it.valid(); it.next()) {
    const k = it.userKey();
    const v = it.value();
    out.writeUInt32LE(k.length, pos);
    out.writeUInt32LE(v.length, pos + 4);
    out.writeDoubleLE(it.seq(), pos + 8);
    out[pos + 16] = it.kind();
    pos += 17;
    k.copy(out, pos);
    pos += k.length;
    v.copy(out, pos);
    pos += v.length;
  }
  assert(pos === bytes, 'encoded size matches');
  void count;
  return out;
}

/** Builds (and fsyncs) one table from `encodeEntries` output. */
export async function buildTableFromEntries(fs: StorageFs, path: string, entries: Buffer, table: TableOutputOptions): Promise<TableMeta> {
  const builder = new TableBuilder(fs, path, table);
  try {
    let pos = 0;
    let n = 0;
    while (pos < entries.length) {
      const keyLength = entries.readUInt32LE(pos);
      const valueLength = entries.readUInt32LE(pos + 4);
      const seq = entries.readDoubleLE(pos + 8);
      const kind = entries[pos + 16] === ValueKind.Put ? ValueKind.Put : ValueKind.Delete;
      pos += 17;
      const key = entries.subarray(pos, pos + keyLength);
      pos += keyLength;
      const value = entries.subarray(pos, pos + valueLength);
      pos += valueLength;
      builder.add(key, seq, kind, value);
      if (++n % (yieldEveryEntries * 4) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return await builder.finishAsync();
  } catch (err) {
    builder.abandon();
    throw err;
  }
}

/**
 * Sets the calling worker thread's nice value. On Linux the nice value is per thread and pid 0 is
 * the calling thread: only this worker yields the CPU, not the event loop. Returns why it could
 * not (not permitted, not supported), or undefined.
 */
export function setThreadNice(nice: number): string | undefined {
  try {
    os.setPriority(0, nice);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** An error as it crosses a thread boundary. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly file?: string;
  readonly offset?: number;
  readonly detail?: string;
  readonly operation?: string;
  readonly errno?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof CorruptionError) return { name: err.name, message: err.message, file: err.file, offset: err.offset, detail: err.detail };
  if (err instanceof StorageIOError) {
    const cause = err.cause as { code?: unknown } | undefined;
    return {
      name: err.name,
      message: err.message,
      file: err.file,
      operation: err.operation,
      ...(typeof cause?.code === 'string' ? { errno: cause.code } : {}),
    };
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/** Rebuilds the typed error on the engine's side, so callers see the same classes either way. */
export function deserializeError(e: SerializedError): Error {
  if (e.name === 'CorruptionError' && e.file !== undefined && e.offset !== undefined) return new CorruptionError(e.file, e.offset, e.detail ?? e.message);
  if (e.name === 'StorageIOError' && e.file !== undefined) {
    const cause = Object.assign(new Error(e.message), e.errno === undefined ? {} : { code: e.errno });
    return new StorageIOError(e.operation ?? 'io', e.file, cause);
  }
  if (e.name === 'JobAbandoned') return new JobAbandoned(e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/** Puts Buffer views back on Uint8Arrays that crossed a thread boundary (structured clone). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
