/**
 * A range export as a self-contained job that can run on another thread (export-thread.ts):
 * everything it needs crosses as plain data — the table files of a pinned engine version, the
 * range's part of the memtables copied out (`encodeMemtableParts`, on the engine's thread), the
 * sequence and bounds of the view, the timestamps — and it writes, hashes (SHA-256 as the bytes
 * are written), fsyncs and reads back its SSTables itself. The engine's thread then only copies
 * the memtable part and renames the finished files into place.
 */
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { decodeTimestamp } from '../hlc/hlc.ts';
import { DbIterator } from '../storage/db-iterator.ts';
import type { ExportedFile } from '../storage/engine.ts';
import { realFs } from '../storage/fs.ts';
import { GlobalSeqIterator } from '../storage/global-seq-iterator.ts';
import type { InternalIterator } from '../storage/iterator.ts';
import { maxSequence } from '../storage/keys.ts';
import { MergingIterator } from '../storage/merging-iterator.ts';
import { EncodedEntriesIterator } from '../storage/span-export.ts';
import { TableReader } from '../storage/sstable/table-reader.ts';
import { writeVersionFiles } from './engine-adapters.ts';
import { HashingFs } from './hashing-fs.ts';

export interface ExportJob {
  /** Table files of the pinned view (any level; they may overlap). */
  readonly tables: readonly { readonly path: string; readonly fileNumber: number; readonly globalSeq?: number }[];
  /** The memtables' entries of the span at or below `seq`, each in internal order (`encodeMemtableParts`). */
  readonly memtables: readonly Uint8Array[];
  /** The view's sequence: newer entries are not part of it. */
  readonly seq: number;
  /** Engine keys [lowerBound, upperBound); no upperBound: to the end. */
  readonly lowerBound: Uint8Array;
  readonly upperBound?: Uint8Array;
  /** The backup timestamp and, for an incremental, the parent's (encoded HLC timestamps). */
  readonly at: bigint;
  readonly since?: bigint;
  /** A stored version whose first byte is this is a deletion (absent: none is). */
  readonly tombstoneFirstByte?: number;
  /** Files are cut at about this size (absent: the exporter's default). */
  readonly fileBytes?: number;
  /** The index-th file is written at `${prefix}${index, 6 digits}${suffix}`. */
  readonly output: OutputPattern;
  /** fsync every file before it is listed. */
  readonly sync: boolean;
  /** Read every file back once written and check it against the SHA-256 computed while writing. */
  readonly readBack: boolean;
}

export interface OutputPattern {
  readonly prefix: string;
  readonly suffix: string;
}

export function outputPathOf(output: OutputPattern, index: number): string {
  return `${output.prefix}${String(index).padStart(6, '0')}${output.suffix}`;
}

/** A file the job wrote, with the SHA-256 of its bytes (and, if asked, read back and checked). */
export interface ExportJobFile extends ExportedFile {
  readonly sha256: string;
  readonly readBack: boolean;
}

/** Thrown by a job whose file does not read back as written. */
export class ExportReadBackError extends Error {
  override readonly name = 'ExportReadBackError';
}

const readBackChunkBytes = 1024 * 1024;
/**
 * A synced job's files are flushed to disk every this many bytes as they are written (see
 * HashingFs). 4 MiB, as the storage engine's snapshot files: a probe of 4 KiB WAL-like fsyncs
 * beside a 100 MiB/s writer on this shared disk was too noisy to rank 1, 4 or 8 MiB, but every
 * size spread the writer's flushes instead of one burst per 32 MiB file.
 */
export const syncEveryBytes = 4 * 1024 * 1024;
/** Per encoded entry: u32 key length, u32 value length, f64 sequence, u8 kind (storage/span-export.ts encodeSpanEntries, read there by EncodedEntriesIterator). */
const entryHeaderBytes = 17;
/** Copying a memtable part gives the engine's thread back after this many bytes. */
const copyYieldBytes = 1024 * 1024;

/**
 * Copies the entries of [lowerBound, upperBound) at or below `seq` out of each memtable (in
 * internal order) in encodeSpanEntries's format, yielding to the event loop every MiB (the
 * storage engine's pinSpan copies in one go): the memtables keep taking writes meanwhile, and
 * those land above `seq`. Each part is its own ArrayBuffer (transferable).
 */
export async function encodeMemtableParts(memtables: readonly InternalIterator[], seq: number, lowerBound: Buffer, upperBound: Buffer | undefined): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for (const it of memtables) {
    const pieces: Buffer[] = [];
    let total = 0;
    let sinceYield = 0;
    for (it.seek(lowerBound, maxSequence); it.valid(); it.next()) {
      const key = it.userKey();
      if (upperBound !== undefined && Buffer.compare(key, upperBound) >= 0) break;
      if (it.seq() > seq) continue;
      const value = it.value();
      const header = Buffer.allocUnsafe(entryHeaderBytes);
      header.writeUInt32LE(key.length, 0);
      header.writeUInt32LE(value.length, 4);
      header.writeDoubleLE(it.seq(), 8);
      header[16] = it.kind();
      pieces.push(header, key, value);
      const bytes = entryHeaderBytes + key.length + value.length;
      total += bytes;
      sinceYield += bytes;
      if (sinceYield >= copyYieldBytes) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (total === 0) continue;
    // Not from Node's shared pool: the part's ArrayBuffer is transferred to the export thread.
    const part = Buffer.allocUnsafeSlow(total);
    let at = 0;
    for (const piece of pieces) at += piece.copy(part, at);
    parts.push(part);
  }
  return parts;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Reads a file back and answers its SHA-256 and size. */
async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const handle = await open(file, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(readBackChunkBytes);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, bytes);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    await handle.close();
  }
}

/**
 * Runs the job where it is called. `pace` is awaited with the bytes walked every MiB or so (a
 * rate limit and cancellation act there), and `drain` once the walk is over (until every pace
 * report was answered: a late cancellation still fails the job). On failure, the files it
 * wrote are removed.
 */
export async function runExportJob(job: ExportJob, pace: (bytes: number) => Promise<void>, drain: () => Promise<void> = async () => undefined): Promise<ExportJobFile[]> {
  const readers: TableReader[] = [];
  const hashing = new HashingFs(realFs, job.sync ? syncEveryBytes : 0);
  let written = 0;
  try {
    const children: InternalIterator[] = job.memtables.map((part) => new EncodedEntriesIterator(asBuffer(part)));
    for (const table of job.tables) {
      // One pass: checksums of data blocks are checked as they are read, nothing is cached.
      const reader = TableReader.open(realFs, table.path, table.fileNumber, { verifyChecksums: true });
      readers.push(reader);
      const it = reader.iterator({ fillCache: false });
      children.push(table.globalSeq === undefined ? it : new GlobalSeqIterator(it, table.globalSeq));
    }
    const lowerBound = asBuffer(job.lowerBound);
    const upperBound = job.upperBound === undefined ? undefined : asBuffer(job.upperBound);
    const it = new DbIterator(new MergingIterator(children), job.seq, { lowerBound, ...(upperBound === undefined ? {} : { upperBound }) });
    const tombstone = job.tombstoneFirstByte;
    const exported = await writeVersionFiles(
      it,
      lowerBound,
      { at: decodeTimestamp(job.at), ...(job.since === undefined ? {} : { since: decodeTimestamp(job.since) }), dir: '' },
      {
        fs: hashing,
        sync: job.sync,
        pathOf: (_dir, index) => {
          written = Math.max(written, index + 1);
          return outputPathOf(job.output, index);
        },
        pace,
        ...(tombstone === undefined ? {} : { isTombstone: (value: Buffer) => value[0] === tombstone }),
        ...(job.fileBytes === undefined ? {} : { fileBytes: job.fileBytes }),
      },
    );
    it.close();
    await drain();
    const files: ExportJobFile[] = [];
    for (const file of exported) {
      const digest = hashing.digestOf(file.path);
      if (digest === undefined || digest.bytes !== file.fileBytes) throw new ExportReadBackError(`exported file ${file.path}: ${digest?.bytes ?? 'no'} bytes hashed, the table is ${file.fileBytes}`);
      if (job.readBack) {
        const back = await hashFile(file.path);
        if (back.bytes !== file.fileBytes || back.sha256 !== digest.sha256) {
          throw new ExportReadBackError(`exported file ${file.path} reads back as ${back.bytes} bytes with SHA-256 ${back.sha256}; ${file.fileBytes} bytes with ${digest.sha256} were written`);
        }
      }
      files.push({ ...file, sha256: digest.sha256, readBack: job.readBack });
    }
    return files;
  } catch (error) {
    for (let index = 0; index < written; index++) await rm(outputPathOf(job.output, index), { force: true }).catch(() => undefined);
    throw error;
  } finally {
    for (const reader of readers) reader.close();
  }
}
