import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type MergeResult,
  type MergeSpec,
  type SerializedError,
  type TableOutputOptions,
  asBuffer,
  buildTableFromEntries,
  deserializeError,
  runMerge,
} from './background.ts';
import type { StorageFs } from './fs.ts';
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

type JobReply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: SerializedError };

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
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly nice: number = backgroundThreadNice) {}

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = startWorker(this.nice);
    worker.unref();
    worker.on('message', (reply: JobReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(deserializeError(reply.error));
    });
    const failAll = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => failAll(err));
    worker.on('exit', (code) => failAll(new Error(`storage background thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private run<T>(request: JobRequest): Promise<T> {
    const worker = this.ensureWorker();
    return new Promise<T>((resolve, reject) => {
      if (request.kind !== 'stop') this.pending.set(request.id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage(request);
    });
  }

  async merge(spec: MergeSpec): Promise<MergeResult> {
    const result = await this.run<MergeResult>({ kind: 'merge', id: this.nextId++, spec });
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
    const o = await this.run<TableMeta>({ kind: 'build', id: this.nextId++, path: file, entries, table });
    return { ...o, smallest: asBuffer(o.smallest), largest: asBuffer(o.largest), smallestUserKey: asBuffer(o.smallestUserKey), largestUserKey: asBuffer(o.largestUserKey) };
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    worker.postMessage({ kind: 'stop' } satisfies JobRequest);
    await worker.terminate();
  }
}
