/**
 * The narrow interfaces between the backup code and the data node. The node implements
 * `RangeExporter` (export one range as of a timestamp into SSTables) and `RangeIngester` (take
 * verified SSTables into a range of a new cluster); the backup code does everything else
 * (layout, upload, checksums, verification, chains). `MvccEngineRangeExporter` and
 * `EngineRangeIngester` (engine-adapters.ts) implement them over one StorageEngine.
 */
import type { HlcTimestamp } from '../hlc/hlc.ts';
import type { ExportedFile } from '../storage/engine.ts';

/** A range's span of user keys, [startKey, endKey); an empty endKey means "to the end". */
export interface RangeSpan {
  readonly rangeId: number;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
}

export interface ExportRequest {
  readonly span: RangeSpan;
  /** The backup timestamp: nothing written after it is exported. */
  readonly at: HlcTimestamp;
  /**
   * For an incremental backup, the previous backup's timestamp: only versions written in
   * (since, at] are exported, deletions included. Absent for a full backup, which exports the
   * newest live version of every key at `at`.
   */
  readonly since?: HlcTimestamp;
  /** An empty scratch directory to write the SSTables into. */
  readonly dir: string;
}

export interface RangeExporter {
  /** Writes the range's data for the request as SSTables (sequence 0, ingestible) and lists them. */
  exportRange(request: ExportRequest): Promise<readonly ExportedFile[]>;
}

export interface IngestBatch {
  /** The backup of the chain the files come from (chain order: full first). */
  readonly backupId: string;
  readonly span: RangeSpan;
  /** Local, already size- and checksum-verified, non-overlapping SSTables. */
  readonly paths: readonly string[];
}

export interface RangeIngester {
  ingest(batch: IngestBatch): Promise<void>;
}

/** Time for the bandwidth limiter: injected so that core code never reads the wall clock. */
export interface Timers {
  nowMs(): number;
  sleep(ms: number): Promise<void>;
}

export const systemTimers: Timers = {
  nowMs: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Progress of a backup, a verification or a restore. */
export interface BackupProgress {
  readonly rangesDone: number;
  readonly rangesTotal: number;
  readonly bytesDone: number;
}
