/**
 * Backup exports off the node's main thread. One worker thread per node (started on the first
 * export, stopped after a while without any) runs the export jobs (export-job.ts) at a lowered
 * priority (nice, set inside the worker: on Linux it is per thread), so that the main thread —
 * client requests, Raft — gets the CPU first, and the walk, block encoding, SHA-256, fsync and
 * read-back of an export never sit in its event loop. The main thread pins the engine's files,
 * copies the range's memtable part, and paces the job (rate limit, cancellation, progress).
 *
 * `startNicedWorker` is the reusable part: any background job on a lowered-priority thread
 * (e.g. a snapshot build) can start its worker module with it.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { encodeTimestamp } from '../hlc/hlc.ts';
import { deserializeError, type SerializedError } from '../storage/background.ts';
import type { StorageEngine } from '../storage/engine.ts';
import { mvccKeyPrefix } from '../storage/mvcc.ts';
import { encodeMemtableParts, type ExportJob, type ExportJobFile, type OutputPattern } from './export-job.ts';
import type { ExportRequest } from './ports.ts';

export type ExportThreadRequest =
  | { readonly kind: 'export'; readonly id: number; readonly job: ExportJob }
  | { readonly kind: 'grant'; readonly id: number }
  | { readonly kind: 'cancel'; readonly id: number; readonly reason: string };

export type ExportThreadReply =
  | { readonly kind: 'progress'; readonly id: number; readonly bytes: number }
  | { readonly kind: 'done'; readonly id: number; readonly files: ExportJobFile[] }
  | { readonly kind: 'failed'; readonly id: number; readonly error: SerializedError }
  | { readonly kind: 'log'; readonly line: string }
  /** Sent once when the thread starts: its kernel thread id (Linux, else 0) and its nice value. */
  | { readonly kind: 'started'; readonly tid: number; readonly nice: number };

/**
 * Starts `moduleUrl` (a sibling module, given as `new URL('./x.ts', import.meta.url)`) on a worker
 * thread with `workerData`; from TypeScript sources through tsx, compiled as its `.js`. The
 * module is expected to lower its own priority from `workerData.nice` (os.setPriority(0, n)).
 */
export function startNicedWorker(moduleUrl: URL, name: string, workerData: { readonly nice: number }): Worker {
  if (moduleUrl.href.endsWith('.ts')) {
    const tsxApi = pathToFileURL(path.join(path.dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
    const code = `(async () => { const api = await import(${JSON.stringify(tsxApi)}); api.register(); await import(${JSON.stringify(moduleUrl.href)}); })()`;
    return new Worker(code, { eval: true, name, workerData });
  }
  return new Worker(moduleUrl, { name, workerData });
}

/** The worker module next to this one, as source or compiled. */
function exportWorkerUrl(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './export-worker.ts' : './export-worker.js', import.meta.url);
}

export interface ExportThreadOptions {
  /** The worker thread's nice value (0-19; higher yields more). */
  readonly nice: number;
  /** The worker stops after this long without a job (default 30 s). */
  readonly idleMs?: number;
  readonly log?: (line: string) => void;
}

/**
 * Default nice value of the export thread. At 10 the kernel gives a busy main thread about 90% of
 * a core they share (weights 1024 : 110) and lets a waking main thread preempt the export at
 * once, so clients barely see it; yet the export keeps a share when the node is busy, so a
 * backup still finishes at its target rate under client load (at 19 it would get 1.5%).
 */
export const exportThreadNiceDefault = 10;

interface PendingJob {
  readonly resolve: (files: ExportJobFile[]) => void;
  readonly reject: (error: Error) => void;
  readonly pace: (bytes: number) => Promise<void>;
}

export class ExportThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, PendingJob>();
  private idleTimer: NodeJS.Timeout | undefined;
  /** Workers started so far (a test and the log can tell a reused thread from a new one). */
  started = 0;
  /** What the running worker said of itself: its kernel thread id (0 off Linux) and nice value. */
  kernelThread: { readonly tid: number; readonly nice: number } | undefined;

  constructor(private readonly options: ExportThreadOptions) {}

  /** The worker's thread id while it runs (undefined when stopped). */
  get threadId(): number | undefined {
    return this.worker?.threadId;
  }

  private ensureWorker(): Worker {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.worker !== undefined) return this.worker;
    const worker = startNicedWorker(exportWorkerUrl(), 'phantomdb-backup-export', { nice: this.options.nice });
    this.started++;
    worker.unref();
    const failAll = (error: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
    };
    worker.on('message', (reply: ExportThreadReply) => this.onReply(worker, reply));
    worker.on('error', (error) => failAll(error));
    worker.on('exit', (code) => failAll(new Error(`backup export thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private onReply(worker: Worker, reply: ExportThreadReply): void {
    if (reply.kind === 'log') {
      this.options.log?.(reply.line);
      return;
    }
    if (reply.kind === 'started') {
      this.kernelThread = { tid: reply.tid, nice: reply.nice };
      return;
    }
    const job = this.pending.get(reply.id);
    if (job === undefined) return;
    if (reply.kind === 'progress') {
      job.pace(reply.bytes).then(
        () => worker.postMessage({ kind: 'grant', id: reply.id } satisfies ExportThreadRequest),
        (error: unknown) => worker.postMessage({ kind: 'cancel', id: reply.id, reason: error instanceof Error ? error.message : String(error) } satisfies ExportThreadRequest),
      );
      return;
    }
    this.pending.delete(reply.id);
    if (reply.kind === 'done') job.resolve(reply.files.map(reviveFile));
    else job.reject(deserializeError(reply.error));
    if (this.pending.size === 0) this.armIdle();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.pending.size === 0) void this.close();
    }, this.options.idleMs ?? 30_000);
    this.idleTimer.unref();
  }

  /** Runs a job on the thread; `pace` answers each progress report (a rejection cancels the job). */
  run(job: ExportJob, pace: (bytes: number) => Promise<void>): Promise<ExportJobFile[]> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<ExportJobFile[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, pace });
      const transfer = job.memtables.map((part) => part.buffer as ArrayBuffer);
      worker.postMessage({ kind: 'export', id, job } satisfies ExportThreadRequest, transfer);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    this.kernelThread = undefined;
    for (const job of this.pending.values()) job.reject(new Error('the backup export thread was stopped'));
    this.pending.clear();
    if (worker !== undefined) await worker.terminate();
  }
}

function reviveFile(file: ExportJobFile): ExportJobFile {
  const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));
  return { ...file, smallestKey: asBuffer(file.smallestKey), largestKey: asBuffer(file.largestKey) };
}

export interface ThreadExportOptions {
  /** A stored version whose first byte is this is a deletion. */
  readonly tombstoneFirstByte?: number;
  readonly fileBytes?: number;
  readonly output: OutputPattern;
  readonly sync: boolean;
  readonly readBack: boolean;
  readonly pace: (bytes: number) => Promise<void>;
}

/**
 * Exports a range of an MVCC engine (as MvccEngineRangeExporter does) on the export thread: pins
 * the engine's current files and copies the span's memtable part here, then lets the thread
 * walk, write and check the files; unpins when it is done.
 */
export async function exportOnThread(thread: ExportThread, engine: StorageEngine, request: ExportRequest, options: ThreadExportOptions): Promise<ExportJobFile[]> {
  const lowerBound = mvccKeyPrefix(request.span.startKey);
  const upperBound = request.span.endKey.length === 0 ? undefined : mvccKeyPrefix(request.span.endKey);
  const view = engine.pinReadView(lowerBound, upperBound);
  try {
    const memtables = await encodeMemtableParts(view.memtables, view.seq, lowerBound, upperBound);
    const job: ExportJob = {
      tables: view.tables,
      memtables,
      seq: view.seq,
      lowerBound,
      ...(upperBound === undefined ? {} : { upperBound }),
      at: encodeTimestamp(request.at),
      ...(request.since === undefined ? {} : { since: encodeTimestamp(request.since) }),
      ...(options.tombstoneFirstByte === undefined ? {} : { tombstoneFirstByte: options.tombstoneFirstByte }),
      ...(options.fileBytes === undefined ? {} : { fileBytes: options.fileBytes }),
      output: options.output,
      sync: options.sync,
      readBack: options.readBack,
    };
    return await thread.run(job, options.pace);
  } finally {
    view.release();
  }
}
