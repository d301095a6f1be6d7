/**
 * Where span exports and table verifications run (see span-export.ts): on the engine's export
 * thread — a worker thread that lowers its own scheduling priority, so that client work on the
 * node's event loop and on other processes gets the CPU first — or, when the engine was given a
 * custom file system (tests injecting faults), on the engine's own thread.
 */
import { asBuffer } from './background.ts';
import { startStorageWorker } from './background-executor.ts';
import type { StorageFs } from './fs.ts';
import { JobThread } from './job-thread.ts';
import { type ExportedTable, type SpanExportJob, type SpanSample, type SpanSource, runLiveKeys, runSpanExport, runSpanSample, runVerifyTables } from './span-export.ts';

/**
 * The nice value the export thread gives itself (Linux: per thread). At 10 a busy client thread
 * (nice 0) gets about nine tenths of a contended core; the export still progresses on an idle one.
 */
export const exportThreadNice = 10;

export interface SpanExecutor {
  exportSpan(job: SpanExportJob): Promise<ExportedTable[]>;
  verifyTables(paths: readonly string[]): Promise<void>;
  liveKeys(source: SpanSource): Promise<Buffer[]>;
  sample(source: SpanSource, everyEntries: number): Promise<SpanSample>;
  close(): Promise<void>;
}

export type SpanJobRequest =
  | { readonly kind: 'export'; readonly id: number; readonly job: SpanExportJob }
  | { readonly kind: 'verify'; readonly id: number; readonly paths: readonly string[] }
  | { readonly kind: 'keys'; readonly id: number; readonly source: SpanSource }
  | { readonly kind: 'sample'; readonly id: number; readonly source: SpanSource; readonly everyEntries: number }
  | { readonly kind: 'stop' };

/** What the export thread was started with (`workerData`). */
export interface SpanWorkerData {
  readonly nice: number;
}

/** Runs the jobs on the calling thread, through the engine's file system. */
export class InThreadSpanExecutor implements SpanExecutor {
  private stopping = false;
  constructor(private readonly fs: StorageFs) {}
  exportSpan(job: SpanExportJob): Promise<ExportedTable[]> {
    return runSpanExport(this.fs, job, () => this.stopping);
  }
  verifyTables(paths: readonly string[]): Promise<void> {
    return runVerifyTables(this.fs, paths);
  }
  liveKeys(source: SpanSource): Promise<Buffer[]> {
    return runLiveKeys(this.fs, source);
  }
  sample(source: SpanSource, everyEntries: number): Promise<SpanSample> {
    return runSpanSample(this.fs, source, everyEntries);
  }
  async close(): Promise<void> {
    this.stopping = true;
  }
}

/**
 * Runs the jobs on one niced worker thread, started on first use. Jobs interleave on it (each
 * yields regularly). If the thread dies, its pending jobs fail and the next job starts a new one.
 */
export class WorkerSpanExecutor implements SpanExecutor {
  private readonly thread: JobThread;

  constructor(nice: number = exportThreadNice) {
    this.thread = new JobThread(() => startStorageWorker('span-worker', 'phantomdb-storage-export', { nice } satisfies SpanWorkerData), 'storage export thread');
  }

  private run<T>(request: (id: number) => SpanJobRequest & { readonly id: number }): Promise<T> {
    return this.thread.run<T>(request);
  }

  async exportSpan(job: SpanExportJob): Promise<ExportedTable[]> {
    const files = await this.run<ExportedTable[]>((id) => ({ kind: 'export', id, job }));
    return files.map((file) => ({ ...file, smallestKey: asBuffer(file.smallestKey), largestKey: asBuffer(file.largestKey) }));
  }

  async verifyTables(paths: readonly string[]): Promise<void> {
    await this.run<unknown>((id) => ({ kind: 'verify', id, paths }));
  }

  async liveKeys(source: SpanSource): Promise<Buffer[]> {
    const keys = await this.run<Uint8Array[]>((id) => ({ kind: 'keys', id, source }));
    return keys.map(asBuffer);
  }

  async sample(source: SpanSource, everyEntries: number): Promise<SpanSample> {
    const result = await this.run<SpanSample>((id) => ({ kind: 'sample', id, source, everyEntries }));
    return { bytes: result.bytes, samples: result.samples.map((entry) => ({ key: asBuffer(entry.key), bytesThrough: entry.bytesThrough })) };
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
