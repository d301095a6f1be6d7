import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type MergeResult,
  type MergeSpec,
  type TableOutputOptions,
  asBuffer,
  buildTableFromEntries,
  runMerge,
} from './background.ts';
import type { StorageFs } from './fs.ts';
import { JobThread } from './job-thread.ts';
import type { TableMeta } from './sstable/table-builder.ts';

/** Runs the engine's flush and compaction jobs somewhere: on a worker thread or in-thread. */
export interface BackgroundExecutor {
  merge(spec: MergeSpec): Promise<MergeResult>;
  buildTable(path: string, entries: Buffer, table: TableOutputOptions): Promise<TableMeta>;
  close(): Promise<void>;
}

export type JobRequest =
  | { readonly kind: 'merge'; readonly id: number; readonly spec: MergeSpec }
  | { readonly kind: 'build'; readonly id: number; readonly path: string; readonly entries: Buffer; readonly table: TableOutputOptions }
  | { readonly kind: 'stop' };

/** Runs jobs on the engine's own thread, through its file system (used when faults are injected). */
export class InThreadExecutor implements BackgroundExecutor {
  private stopping = false;
  constructor(private readonly fs: StorageFs) {}
  merge(spec: MergeSpec): Promise<MergeResult> {
    return runMerge(this.fs, spec, () => this.stopping);
  }
  buildTable(file: string, entries: Buffer, table: TableOutputOptions): Promise<TableMeta> {
    return buildTableFromEntries(this.fs, file, entries, table);
  }
  async close(): Promise<void> {
    this.stopping = true;
  }
}

/**
 * Starts the storage worker module `moduleBase` (a file of this folder, without extension) as a
 * thread named `name`, from the compiled build or, when running from TypeScript sources, through tsx.
 */
export function startStorageWorker(moduleBase: string, name: string, workerData?: unknown): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsxApi = pathToFileURL(path.join(path.dirname(createRequire(here).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
    const target = new URL(`./${moduleBase}.ts`, here).href;
    const code = `(async () => { const api = await import(${JSON.stringify(tsxApi)}); api.register(); await import(${JSON.stringify(target)}); })()`;
    return new Worker(code, { eval: true, name, workerData });
  }
  return new Worker(new URL(`./${moduleBase}.js`, here), { name, workerData });
}

/**
 * The nice value the flush and compaction thread gives itself (Linux: per thread). Moderate, not
 * the export thread's 10: at 5 a contended core gives it about a quarter of the time a busy client
 * thread (nice 0) gets, so clients get the CPU first while a rebalance's ingests and dropped
 * replicas are compacted, yet flushes and L0 compactions keep draining (the scheduler never
 * starves a niced thread; writers slow down at l0SlowdownTriggerFiles and stop only at
 * l0StopTriggerFiles, far beyond what a few seconds of lag add).
 */
export const backgroundThreadNice = 5;

/** What the flush and compaction thread was started with (`workerData`). */
export interface BackgroundWorkerData {
  readonly nice: number;
}

function startWorker(nice: number): Worker {
  return startStorageWorker('background-worker', 'phantomdb-storage-background', { nice } satisfies BackgroundWorkerData);
}

/**
 * Runs jobs on one worker thread: compaction and flush CPU moves to the second core and can never
 * starve the event loop that serves reads, writes and Raft; the thread lowers its own priority
 * (`backgroundThreadNice`). Jobs run one at a time per worker
 * in arrival order. If the worker dies, pending jobs fail and the next job starts a new one.
 */
export class WorkerExecutor implements BackgroundExecutor {
  private readonly thread: JobThread;

  constructor(nice: number = backgroundThreadNice) {
    this.thread = new JobThread(() => startWorker(nice), 'storage background thread');
  }

  private run<T>(request: (id: number) => JobRequest & { readonly id: number }): Promise<T> {
    return this.thread.run<T>(request);
  }

  async merge(spec: MergeSpec): Promise<MergeResult> {
    const result = await this.run<MergeResult>((id) => ({ kind: 'merge', id, spec }));
    return {
      ...result,
      outputs: result.outputs.map((o) => ({
        ...o,
        smallest: asBuffer(o.smallest),
        largest: asBuffer(o.largest),
        smallestUserKey: asBuffer(o.smallestUserKey),
        largestUserKey: asBuffer(o.largestUserKey),
      })),
    };
  }

  async buildTable(file: string, entries: Buffer, table: TableOutputOptions): Promise<TableMeta> {
    const o = await this.run<TableMeta>((id) => ({ kind: 'build', id, path: file, entries, table }));
    return { ...o, smallest: asBuffer(o.smallest), largest: asBuffer(o.largest), smallestUserKey: asBuffer(o.smallestUserKey), largestUserKey: asBuffer(o.largestUserKey) };
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
