/**
 * Entry point of the storage engine's export thread (span-executor.ts): first lowers this
 * thread's own scheduling priority, then runs span exports and table verifications and answers
 * each with its result or a serialized error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assert, assertNever } from '../assert.ts';
import { asBuffer, serializeError, setThreadNice } from './background.ts';
import { realFs } from './fs.ts';
import { type SpanSource, runLiveKeys, runSpanExport, runSpanSample, runVerifyTables } from './span-export.ts';
import type { SpanJobRequest, SpanWorkerData } from './span-executor.ts';

const port = parentPort;
assert(port !== null, 'span-worker runs as a worker thread');
const data = workerData as SpanWorkerData;
// Not permitted or not supported: the jobs still run, only without the lower priority.
setThreadNice(data.nice);
let stopping = false;

/** Structured clone turns Buffers into Uint8Arrays; put the views back. */
function reviveSource(source: SpanSource): SpanSource {
  return { ...source, start: asBuffer(source.start), end: asBuffer(source.end), memtables: source.memtables.map(asBuffer) };
}

function runJob(request: Exclude<SpanJobRequest, { kind: 'stop' }>): Promise<unknown> {
  switch (request.kind) {
    case 'export':
      return runSpanExport(realFs, { ...request.job, source: reviveSource(request.job.source) }, () => stopping);
    case 'verify':
      return runVerifyTables(realFs, request.paths);
    case 'keys':
      return runLiveKeys(realFs, reviveSource(request.source));
    case 'sample':
      return runSpanSample(realFs, reviveSource(request.source), request.everyEntries);
    default:
      return assertNever(request, 'span job');
  }
}

port.on('message', (request: SpanJobRequest) => {
  if (request.kind === 'stop') {
    stopping = true;
    return;
  }
  runJob(request).then(
    (result) => port.postMessage({ id: request.id, ok: true, result }),
    (err: unknown) => port.postMessage({ id: request.id, ok: false, error: serializeError(err) }),
  );
});
