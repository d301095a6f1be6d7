/**
 * `RangeExporter` and `RangeIngester` over one StorageEngine whose keys are MVCC-encoded
 * (storage/mvcc.ts: user key + HLC timestamp, newest version first). The data node will use
 * them per range replica once its KV layer writes versioned keys; tests use them directly.
 *
 * Incremental backups are defined by the MVCC timestamps, not by engine sequence numbers:
 * sequence numbers are local to one replica (another replica, or the same one after a snapshot
 * or a restore, numbers the same writes differently), while a version's timestamp is the same
 * on every replica. So:
 *   - a full backup at T exports, for each user key, its newest version with ts <= T (skipped
 *     when that version is a deletion), as an MVCC key at that ts;
 *   - an incremental backup (S, T] exports every version with S < ts <= T, deletions included.
 * A restore ingests the full backup and then each incremental; reading at T afterwards sees
 * exactly the data as of T. Versions newer than T (written while the backup ran) are never
 * exported. The node must keep versions newer than S from garbage collection until the
 * incremental is taken (a protected timestamp: issue 6 §2).
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { encodeTimestamp } from '../hlc/hlc.ts';
import type { ExportedFile, StorageEngine } from '../storage/engine.ts';
import { realFs, type StorageFs } from '../storage/fs.ts';
import { ValueKind } from '../storage/keys.ts';
import { decodeMvccKey, mvccKeyPrefix } from '../storage/mvcc.ts';
import { TableBuilder } from '../storage/sstable/table-builder.ts';
import type { ExportRequest, IngestBatch, RangeExporter, RangeIngester } from './ports.ts';

export interface MvccExporterOptions {
  /** Files are cut at about this size (default 32 MiB). */
  readonly fileBytes?: number;
  /** Whether a stored value is a deletion marker (default: none is). */
  readonly isTombstone?: (value: Buffer) => boolean;
  /** The file system the SSTables are written through (default the real one). */
  readonly fs?: StorageFs;
  /** fsync each file before it is listed (default false: scratch files read once and deleted). */
  readonly sync?: boolean;
  /** The path of the index-th file (default `<dir>/<index, 6 digits>.sst`). */
  readonly pathOf?: (dir: string, index: number) => string;
  /**
   * Awaited at every yield with the bytes walked since the last one: a rate limit paces the
   * export itself, and an aborted signal stops it there.
   */
  readonly pace?: (bytes: number) => Promise<void>;
}

const defaultFileBytes = 32 * 1024 * 1024;
/**
 * The export yields to the event loop after walking this many bytes or this long, whichever
 * comes first: a key count alone (4096 entries) walked 64 MiB of 16 KiB values in one turn,
 * stalling the node's event loop for hundreds of milliseconds.
 */
export const exportYieldBytes = 1024 * 1024;
export const exportYieldMs = 4;

/** Exports MVCC versions of one range from a StorageEngine as ingestible SSTables. */
export class MvccEngineRangeExporter implements RangeExporter {
  constructor(
    private readonly engine: StorageEngine,
    private readonly options: MvccExporterOptions = {},
  ) {}

  async exportRange(request: ExportRequest): Promise<readonly ExportedFile[]> {
    mkdirSync(request.dir, { recursive: true });
    const snapshot = this.engine.snapshot();
    const upperBound = request.span.endKey.length === 0 ? undefined : mvccKeyPrefix(request.span.endKey);
    const lowerBound = mvccKeyPrefix(request.span.startKey);
    // One pass over the whole range: leave the block cache to what clients read.
    const it = this.engine.iterator({ snapshot, lowerBound, ...(upperBound === undefined ? {} : { upperBound }), fillCache: false });
    try {
      return await writeVersionFiles(it, lowerBound, request, this.options);
    } finally {
      it.close();
      snapshot.release();
    }
  }
}

/**
 * The export's walk, over any iterator of MVCC-encoded keys from `lowerBound` (bounded above by
 * the iterator): writes the versions the request selects as SSTables and lists them. Shared by
 * the in-thread exporter above and the export thread (export-job.ts).
 */
export async function writeVersionFiles(it: VersionSource, lowerBound: Buffer, request: Pick<ExportRequest, 'at' | 'since' | 'dir'>, options: MvccExporterOptions): Promise<ExportedFile[]> {
  const at = encodeTimestamp(request.at);
  const since = request.since === undefined ? undefined : encodeTimestamp(request.since);
  const isTombstone = options.isTombstone ?? (() => false);
  const fileBytes = options.fileBytes ?? defaultFileBytes;
  const files: ExportedFile[] = [];
  let builder: TableBuilder | undefined;
  let first: Buffer | undefined;
  let last: Buffer | undefined;
  let entries = 0;
  const finish = async (): Promise<void> => {
    if (builder === undefined || first === undefined || last === undefined) return;
    const finishing = builder;
    builder = undefined;
    const meta = await finishing.finishAsync({ sync: options.sync ?? false });
    files.push({ path: finishing.path, entries, fileBytes: meta.fileSize, smallestKey: first, largestKey: last });
  };
  try {
    let previousUserKey: Buffer | undefined;
    let seen = 0;
    let bytesSinceYield = 0;
    let turnStartMs = performance.now();
    for (it.seek(lowerBound); it.valid(); it.next()) {
      if (bytesSinceYield >= exportYieldBytes || (++seen % 64 === 0 && performance.now() - turnStartMs >= exportYieldMs)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (options.pace !== undefined) await options.pace(bytesSinceYield);
        bytesSinceYield = 0;
        turnStartMs = performance.now();
      }
      const encoded = it.key();
      const { key, ts } = decodeMvccKey(encoded);
      if (ts > at) continue;
      if (since !== undefined) {
        if (ts <= since) continue;
      } else {
        // Full: only the newest version at or below `at` of each key.
        if (previousUserKey !== undefined && previousUserKey.equals(key)) continue;
        previousUserKey = key;
        if (isTombstone(it.value())) continue;
      }
      if (builder !== undefined && builder.estimatedFileSizeBytes() >= fileBytes) await finish();
      if (builder === undefined) {
        builder = new TableBuilder(options.fs ?? realFs, options.pathOf?.(request.dir, files.length) ?? path.join(request.dir, `${String(files.length).padStart(6, '0')}.sst`));
        first = Buffer.from(encoded);
        entries = 0;
      }
      const value = it.value();
      builder.add(encoded, 0, ValueKind.Put, value);
      bytesSinceYield += encoded.length + value.length;
      last = Buffer.from(encoded);
      entries++;
    }
    await finish();
    if (options.pace !== undefined && bytesSinceYield > 0) await options.pace(bytesSinceYield);
  } catch (error) {
    builder?.abandon();
    throw error;
  }
  return files;
}

/** What the export walks: user-visible entries in key order (a DbIterator). */
export interface VersionSource {
  seek(key: Buffer): void;
  valid(): boolean;
  next(): void;
  key(): Buffer;
  value(): Buffer;
}

/** Ingests verified backup files into a StorageEngine (one ingest per range of each backup). */
export class EngineRangeIngester implements RangeIngester {
  constructor(private readonly engine: StorageEngine) {}

  async ingest(batch: IngestBatch): Promise<void> {
    await this.engine.ingest(batch.paths);
  }
}
