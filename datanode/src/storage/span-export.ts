/**
 * Reading a span of the engine on another thread: the engine pins what the span's state at a
 * sequence number is made of — the table files of its current version that overlap the span
 * (pinned: the engine deletes none of them until the pin is released) and a copy of the
 * memtables' entries in the span — and hands that over as plain data (`SpanSource`). A job on
 * the engine's niced export thread then merges it exactly as the engine's own iterator would and
 * writes SSTables; nothing it reads can be changed or deleted by the engine meanwhile.
 *
 * This is the storage-level API for long one-pass reads of a node's data that must not compete
 * with client work for the event loop: a Raft snapshot's export (the leader), the checksum
 * verification of received tables before an ingest (the receiver), and (later) backup exports.
 * The thread lowers its own scheduling priority (nice, per thread on Linux), so on a busy machine
 * the kernel runs the node's client work first.
 */
import * as path from 'node:path';
import { assert } from '../assert.ts';
import type { TableOutputOptions } from './background.ts';
import { DbIterator } from './db-iterator.ts';
import type { StorageFs } from './fs.ts';
import { GlobalSeqIterator } from './global-seq-iterator.ts';
import type { InternalIterator } from './iterator.ts';
import { ValueKind, compareUserKeySeq, maxSequence } from './keys.ts';
import { MergingIterator } from './merging-iterator.ts';
import { TableBuilder } from './sstable/table-builder.ts';
import { TableReader } from './sstable/table-reader.ts';

/** A table file of the pinned version. */
export interface PinnedTable {
  readonly path: string;
  readonly fileNumber: number;
  /** Set for ingested tables: every entry reads with this sequence number. */
  readonly globalSeq?: number;
}

/** What the state of user keys [start, end) at `seq` is made of; plain data (it crosses threads). */
export interface SpanSource {
  readonly start: Buffer;
  readonly end: Buffer;
  readonly seq: number;
  /** Memtable entries of the span with sequence ≤ seq, one buffer per memtable (`encodeSpanEntries`). */
  readonly memtables: readonly Buffer[];
  /** Tables overlapping the span; they stay on disk while the span is pinned. */
  readonly tables: readonly PinnedTable[];
}

export interface SpanExportJob {
  readonly source: SpanSource;
  /** Output directory (must exist); files are named export-NNNNNN.sst. */
  readonly dir: string;
  /** Files are cut once they reach this size. */
  readonly fileBytes: number;
  readonly table: TableOutputOptions;
  /** fsync each finished file (asynchronously); false for scratch files that are read once. */
  readonly sync: boolean;
}

/** A file written by a span export, ready to be ingested by another engine. */
export interface ExportedTable {
  readonly path: string;
  readonly entries: number;
  readonly fileBytes: number;
  readonly smallestKey: Buffer;
  readonly largestKey: Buffer;
}

const entryHeaderBytes = 17;
/** A synced export fsyncs its file after every this many bytes, not only at the end (TableBuilder.syncWritten). */
const syncEveryBytes = 4 * 1024 * 1024;
const yieldEveryEntries = 4096;
const yieldEveryBytes = 1024 * 1024;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Copies the entries of `it` (an internal iterator, e.g. a memtable's) with user key in
 * [start, end) and sequence ≤ seq, in order: per entry u32 key length, u32 value length,
 * f64 sequence, u8 kind, key, value. Synchronous (it runs while the memtable is pinned by the call).
 */
export function encodeSpanEntries(it: InternalIterator, start: Buffer, end: Buffer, seq: number): Buffer {
  let bytes = 0;
  for (it.seek(start, maxSequence); it.valid() && Buffer.compare(it.userKey(), end) < 0; it.next()) {
    if (it.seq() <= seq) bytes += entryHeaderBytes + it.userKey().length + it.value().length;
  }
  const out = Buffer.allocUnsafe(bytes);
  let pos = 0;
  for (it.seek(start, maxSequence); it.valid() && Buffer.compare(it.userKey(), end) < 0; it.next()) {
    if (it.seq() > seq) continue;
    pos = writeSpanEntry(out, pos, it.userKey(), it.value(), it.seq(), it.kind());
  }
  assert(pos === bytes, 'encoded span entries fill their buffer');
  return out;
}

/** Writes one entry (header, key, value) at `pos` of `out`; returns the position after it. */
function writeSpanEntry(out: Buffer, pos: number, key: Buffer, value: Buffer, seq: number, kind: number): number {
  out.writeUInt32LE(key.length, pos);
  out.writeUInt32LE(value.length, pos + 4);
  out.writeDoubleLE(seq, pos + 8);
  out[pos + 16] = kind;
  let at = pos + entryHeaderBytes;
  at += key.copy(out, at);
  at += value.copy(out, at);
  return at;
}

/** `encodeSpanEntriesSliced` gives the event loop back after copying this many bytes. */
const sliceBytes = 1024 * 1024;
/** ... and after joining this many bytes of its pieces (a plain memory copy, cheaper per byte). */
const joinSliceBytes = 8 * 1024 * 1024;

/**
 * As `encodeSpanEntries`, in slices: it yields to the event loop after every MiB copied (into
 * MiB pieces, joined at the end), so a range's share of a large memtable does not hold up the
 * node's clients for the whole copy. The memtable keeps taking writes meanwhile; they carry
 * sequences above `seq` and are skipped (the iterator of a skiplist memtable stays valid across
 * inserts). One walk of the memtable instead of two (counting, then copying).
 */
export async function encodeSpanEntriesSliced(it: InternalIterator, start: Buffer, end: Buffer, seq: number, yieldToLoop: () => Promise<void> = yieldToEventLoop): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let piece = Buffer.allocUnsafe(0);
  let pos = 0;
  let total = 0;
  let sinceYield = 0;
  for (it.seek(start, maxSequence); it.valid(); it.next()) {
    const key = it.userKey();
    if (Buffer.compare(key, end) >= 0) break;
    if (it.seq() > seq) continue;
    const value = it.value();
    const bytes = entryHeaderBytes + key.length + value.length;
    if (pos + bytes > piece.length) {
      if (pos > 0) pieces.push(piece.subarray(0, pos));
      piece = Buffer.allocUnsafe(Math.max(sliceBytes, bytes));
      pos = 0;
    }
    pos = writeSpanEntry(piece, pos, key, value, it.seq(), it.kind());
    total += bytes;
    sinceYield += bytes;
    if (sinceYield >= sliceBytes) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }
  if (pos > 0) pieces.push(piece.subarray(0, pos));
  // Joined into a buffer of the exact size even when there is one piece (a view of a larger
  // buffer would carry all of it when it is posted to the export thread: structured clone), in
  // slices too: one Buffer.concat of a 32 MiB part held the loop for 20-40 ms.
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  sinceYield = 0;
  for (const part of pieces) {
    at += part.copy(out, at);
    sinceYield += part.byteLength;
    if (sinceYield >= joinSliceBytes && at < total) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }
  assert(at === total, 'the joined span entries fill their buffer');
  return out;
}

/** An internal iterator over `encodeSpanEntries` output (entries in internal order). */
export class EncodedEntriesIterator implements InternalIterator {
  private readonly offsets: number[] = [];
  private position = -1;

  constructor(private readonly data: Buffer) {
    for (let pos = 0; pos < data.length; ) {
      this.offsets.push(pos);
      pos += entryHeaderBytes + data.readUInt32LE(pos) + data.readUInt32LE(pos + 4);
    }
  }

  valid(): boolean {
    return this.position >= 0 && this.position < this.offsets.length;
  }
  seekToFirst(): void {
    this.position = this.offsets.length > 0 ? 0 : -1;
  }
  seekToLast(): void {
    this.position = this.offsets.length - 1;
  }
  seek(userKey: Buffer, seq: number): void {
    // First entry at or after (userKey, seq) in internal order.
    let low = 0;
    let high = this.offsets.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareUserKeySeq(this.keyAt(middle), this.seqAt(middle), userKey, seq) < 0) low = middle + 1;
      else high = middle;
    }
    this.position = low < this.offsets.length ? low : -1;
  }
  seekForPrev(userKey: Buffer, seq: number): void {
    // Last entry at or before (userKey, seq).
    let low = 0;
    let high = this.offsets.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareUserKeySeq(this.keyAt(middle), this.seqAt(middle), userKey, seq) <= 0) low = middle + 1;
      else high = middle;
    }
    this.position = low - 1;
  }
  next(): void {
    this.position = this.position + 1 < this.offsets.length ? this.position + 1 : -1;
  }
  prev(): void {
    this.position -= 1;
  }
  userKey(): Buffer {
    return this.keyAt(this.position);
  }
  seq(): number {
    return this.seqAt(this.position);
  }
  kind(): ValueKind {
    return this.data[this.at(this.position) + 16] === ValueKind.Put ? ValueKind.Put : ValueKind.Delete;
  }
  value(): Buffer {
    const pos = this.at(this.position);
    const start = pos + entryHeaderBytes + this.data.readUInt32LE(pos);
    return this.data.subarray(start, start + this.data.readUInt32LE(pos + 4));
  }

  private at(index: number): number {
    const pos = this.offsets[index];
    assert(pos !== undefined, 'encoded entries iterator is positioned');
    return pos;
  }
  private keyAt(index: number): Buffer {
    const pos = this.at(index);
    return this.data.subarray(pos + entryHeaderBytes, pos + entryHeaderBytes + this.data.readUInt32LE(pos));
  }
  private seqAt(index: number): number {
    return this.data.readDoubleLE(this.at(index) + 8);
  }
}

/** The live entries of a source's span at its sequence (memtable part and pinned tables merged); `close` closes its tables. */
interface OpenSpan {
  readonly iterator: DbIterator;
  close(): void;
}

/** Opens every pinned table of `source` (checksums verified) and merges them with its memtable part. */
function openSpan(fs: StorageFs, source: SpanSource): OpenSpan {
  const readers: TableReader[] = [];
  const close = (): void => {
    for (const reader of readers) reader.close();
  };
  try {
    const children: InternalIterator[] = source.memtables.map((entries) => new EncodedEntriesIterator(entries));
    for (const table of source.tables) {
      const reader = TableReader.open(fs, table.path, table.fileNumber, { verifyChecksums: true });
      readers.push(reader);
      const it = reader.iterator({ fillCache: false });
      children.push(table.globalSeq === undefined ? it : new GlobalSeqIterator(it, table.globalSeq));
    }
    return { iterator: new DbIterator(new MergingIterator(children), source.seq, { lowerBound: source.start, upperBound: source.end }), close };
  } catch (err) {
    close();
    throw err;
  }
}

/**
 * Writes the live keys of the job's span (the newest version of each at the source's sequence,
 * deletions dropped) as SSTables with sequence 0, cut near `fileBytes`. Runs on any thread; gives
 * its thread's event loop a turn regularly. `shouldStop` abandons the job (the engine is closing).
 */
export async function runSpanExport(fs: StorageFs, job: SpanExportJob, shouldStop: () => boolean = () => false): Promise<ExportedTable[]> {
  const { source } = job;
  const span = openSpan(fs, source);
  const files: ExportedTable[] = [];
  let builder: TableBuilder | undefined;
  try {
    const it = span.iterator;
    let builderPath = '';
    let first: Buffer | undefined;
    let last: Buffer | undefined;
    let entries = 0;
    let n = 0;
    let bytesSinceYield = 0;
    let syncedBytes = 0;
    const finish = async (): Promise<void> => {
      if (builder === undefined || first === undefined || last === undefined) return;
      const done = builder;
      builder = undefined;
      const meta = await done.finishAsync({ sync: job.sync });
      files.push({ path: builderPath, entries, fileBytes: meta.fileSize, smallestKey: first, largestKey: last });
    };
    for (it.seek(source.start); it.valid(); it.next()) {
      if (builder !== undefined && builder.estimatedFileSizeBytes() >= job.fileBytes) await finish();
      if (builder === undefined) {
        builderPath = path.join(job.dir, `export-${String(files.length).padStart(6, '0')}.sst`);
        builder = new TableBuilder(fs, builderPath, job.table);
        first = Buffer.from(it.key());
        entries = 0;
        syncedBytes = 0;
      } else if (job.sync && builder.estimatedFileSizeBytes() - syncedBytes >= syncEveryBytes) {
        syncedBytes = builder.estimatedFileSizeBytes();
        await builder.syncWritten();
      }
      const key = it.key();
      const value = it.value();
      builder.add(key, 0, ValueKind.Put, value);
      last = Buffer.from(key);
      entries++;
      bytesSinceYield += key.byteLength + value.byteLength;
      if (++n % yieldEveryEntries === 0 || bytesSinceYield >= yieldEveryBytes) {
        bytesSinceYield = 0;
        await yieldToEventLoop();
        if (shouldStop()) throw new Error('span export abandoned: the engine is closing');
      }
    }
    await finish();
    it.close();
    return files;
  } catch (err) {
    builder?.abandon();
    throw err;
  } finally {
    span.close();
  }
}

/** The bytes (keys plus values) of a span's live keys, with every `everyEntries`-th key and the bytes up to it. */
export interface SpanSample {
  readonly bytes: number;
  readonly samples: readonly { readonly key: Buffer; readonly bytesThrough: number }[];
}

/** Walks the source's live keys: their total bytes and a key sample (the first key, then one per `everyEntries`). */
export async function runSpanSample(fs: StorageFs, source: SpanSource, everyEntries: number): Promise<SpanSample> {
  const span = openSpan(fs, source);
  try {
    const it = span.iterator;
    const samples: { key: Buffer; bytesThrough: number }[] = [];
    let bytes = 0;
    let n = 0;
    let bytesSinceYield = 0;
    for (it.seek(source.start); it.valid(); it.next()) {
      const entryBytes = it.key().byteLength + it.value().byteLength;
      bytes += entryBytes;
      if (n % everyEntries === 0) samples.push({ key: Buffer.from(it.key()), bytesThrough: bytes });
      bytesSinceYield += entryBytes;
      if (++n % yieldEveryEntries === 0 || bytesSinceYield >= yieldEveryBytes) {
        bytesSinceYield = 0;
        await yieldToEventLoop();
      }
    }
    it.close();
    return { bytes, samples };
  } finally {
    span.close();
  }
}

/** The live user keys of the source's span at its sequence, in order. Runs on any thread; yields regularly. */
export async function runLiveKeys(fs: StorageFs, source: SpanSource): Promise<Buffer[]> {
  const span = openSpan(fs, source);
  try {
    const it = span.iterator;
    const keys: Buffer[] = [];
    let bytesSinceYield = 0;
    for (it.seek(source.start); it.valid(); it.next()) {
      const key = Buffer.from(it.key());
      keys.push(key);
      bytesSinceYield += key.byteLength + it.value().byteLength;
      if (keys.length % yieldEveryEntries === 0 || bytesSinceYield >= yieldEveryBytes) {
        bytesSinceYield = 0;
        await yieldToEventLoop();
      }
    }
    it.close();
    return keys;
  } finally {
    span.close();
  }
}

/**
 * Reads every block of each table and checks every checksum (CorruptionError names the first bad
 * block). Runs on any thread; yields between blocks.
 */
export async function runVerifyTables(fs: StorageFs, paths: readonly string[]): Promise<void> {
  for (const file of paths) {
    const reader = TableReader.open(fs, file, -1, { verifyChecksums: true });
    try {
      let bytesSinceYield = 0;
      for (const blockBytes of reader.verifyBlocks()) {
        bytesSinceYield += blockBytes;
        if (bytesSinceYield >= yieldEveryBytes) {
          bytesSinceYield = 0;
          await yieldToEventLoop();
        }
      }
    } finally {
      reader.close();
    }
  }
}
