/**
 * Entry point of the backup export thread (export-thread.ts). It lowers its own scheduling
 * priority first: on Linux the nice value is per thread, so only this thread yields the CPU to
 * the node's main thread (clients, Raft) when both want it. Then it runs export jobs, several at
 * once, each paced by the main thread: a job reports every MiB it walks and stops after a few
 * unanswered reports until the main thread grants more (its rate limit, its cancellation).
 */
import { readlinkSync } from 'node:fs';
import { getPriority } from 'node:os';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../assert.ts';
import { serializeError, setThreadNice } from '../storage/background.ts';
import { runExportJob } from './export-job.ts';
import type { ExportThreadReply, ExportThreadRequest } from './export-thread.ts';

const port = parentPort;
assert(port !== null, 'export-worker runs as a worker thread');
const post = (reply: ExportThreadReply): void => port.postMessage(reply);

const nice = (workerData as { nice?: unknown } | null)?.nice;
if (typeof nice === 'number' && nice !== 0) {
  const refused = setThreadNice(nice);
  if (refused !== undefined) post({ kind: 'log', line: `backup export thread: could not set its nice value to ${nice} (${refused}); it runs at the main thread's priority` });
}

/** This thread's kernel id (Linux: /proc/thread-self links to <pid>/task/<tid>; 0 elsewhere). */
function kernelThreadId(): number {
  try {
    return Number(path.basename(readlinkSync('/proc/thread-self'))) || 0;
  } catch {
    return 0;
  }
}
post({ kind: 'started', tid: kernelThreadId(), nice: getPriority(0) });

/** Reports a job may send before it waits for the main thread's answer. */
const unansweredMax = 4;

interface RunningJob {
  unanswered: number;
  cancelled: Error | undefined;
  wake: (() => void) | undefined;
}
const jobs = new Map<number, RunningJob>();

port.on('message', (request: ExportThreadRequest) => {
  if (request.kind === 'grant' || request.kind === 'cancel') {
    const job = jobs.get(request.id);
    if (job === undefined) return;
    if (request.kind === 'grant') job.unanswered--;
    else job.cancelled = new Error(request.reason);
    const wake = job.wake;
    job.wake = undefined;
    wake?.();
    return;
  }
  const job: RunningJob = { unanswered: 0, cancelled: undefined, wake: undefined };
  jobs.set(request.id, job);
  const pace = async (bytes: number): Promise<void> => {
    if (job.cancelled !== undefined) throw job.cancelled;
    job.unanswered++;
    post({ kind: 'progress', id: request.id, bytes });
    while (job.unanswered >= unansweredMax && job.cancelled === undefined) {
      await new Promise<void>((resolve) => {
        job.wake = resolve;
      });
    }
    if (job.cancelled !== undefined) throw job.cancelled;
  };
  const drain = async (): Promise<void> => {
    while (job.unanswered > 0 && job.cancelled === undefined) {
      await new Promise<void>((resolve) => {
        job.wake = resolve;
      });
    }
    if (job.cancelled !== undefined) throw job.cancelled;
  };
  runExportJob(request.job, pace, drain).then(
    (files) => post({ kind: 'done', id: request.id, files }),
    (err: unknown) => post({ kind: 'failed', id: request.id, error: serializeError(err) }),
  ).finally(() => jobs.delete(request.id));
});
