/**
 * The engine's side of a storage worker thread that runs jobs (the flush and compaction thread,
 * the export thread): the thread is started on first use, every job is posted with an id and
 * answered by id, and a `{ kind: 'stop' }` message tells the thread to abandon long jobs before it
 * is terminated. If the thread dies, its pending jobs fail and the next job starts a new one.
 */
import type { Worker } from 'node:worker_threads';
import { type SerializedError, deserializeError } from './background.ts';

/** A job thread's answer to the job `id`: its result (structured-cloned), or the error it threw. */
export type JobReply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: SerializedError };

export class JobThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();

  /** `start` starts the thread; `name` says which thread an exit error is about. */
  constructor(
    private readonly start: () => Worker,
    private readonly name: string,
  ) {}

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = this.start();
    worker.unref();
    worker.on('message', (reply: JobReply) => {
      const waiter = this.pending.get(reply.id);
      if (waiter === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(deserializeError(reply.error));
    });
    const failAll = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => failAll(err));
    worker.on('exit', (code) => failAll(new Error(`${this.name} exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** Posts the job `request(id)` builds and resolves with the thread's result for it. */
  run<T>(request: (id: number) => { readonly id: number }): Promise<T> {
    const worker = this.ensureWorker();
    const message = request(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(message.id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage(message);
    });
  }

  /** Tells the thread to stop, then terminates it (its pending jobs fail). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    worker.postMessage({ kind: 'stop' });
    await worker.terminate();
  }
}
