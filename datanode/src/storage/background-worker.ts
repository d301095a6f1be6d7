/**
 * Entry point of the storage engine's background thread: first lowers this thread's own scheduling
 * priority, then runs flush and compaction jobs sent by `WorkerExecutor` and answers each with its
 * result or a serialized error.
 */
import * as os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../assert.ts';
import { type MergeSpec, asBuffer, buildTableFromEntries, runMerge, setThreadNice, serializeError } from './background.ts';
import { realFs } from './fs.ts';
import type { BackgroundWorkerData, JobRequest } from './background-executor.ts';

const port = parentPort;
assert(port !== null, 'background-worker runs as a worker thread');
const data = workerData as BackgroundWorkerData | undefined;
// Never less nice than it started (a process run niced keeps its compactions below it). Not
// permitted or not supported: the jobs still run, only without the lower priority.
if (data !== undefined) setThreadNice(Math.max(os.getPriority(0), data.nice));
let stopping = false;

/** Structured clone turns Buffers into Uint8Arrays; put the views back. */
function reviveSpec(spec: MergeSpec): MergeSpec {
  return {
    ...spec,
    deeperLevels: spec.deeperLevels.map((files) => files.map((f) => ({ smallestUser: asBuffer(f.smallestUser), largestUser: asBuffer(f.largestUser) }))),
  };
}

port.on('message', (request: JobRequest) => {
  if (request.kind === 'stop') {
    stopping = true;
    return;
  }
  const job =
    request.kind === 'merge'
      ? runMerge(realFs, reviveSpec(request.spec), () => stopping)
      : buildTableFromEntries(realFs, request.path, asBuffer(request.entries), request.table);
  job.then(
    (result) => port.postMessage({ id: request.id, ok: true, result }),
    (err: unknown) => port.postMessage({ id: request.id, ok: false, error: serializeError(err) }),
  );
});
