// The job thread plumbing shared by the flush/compaction and export threads: answers by id, a
// job's error comes back as an error, a thread that dies fails its pending jobs and the next job
// starts a new thread, and close stops it.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { JobThread } from './job-thread.ts';

/** A thread that doubles `value` (slowly when asked), fails on 'fail', exits on 'die' and counts its starts. */
const script = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  if (m.kind === 'stop') return;
  if (m.kind === 'die') process.exit(3);
  if (m.kind === 'fail') { parentPort.postMessage({ id: m.id, ok: false, error: { name: 'Error', message: 'job failed: ' + m.value } }); return; }
  setTimeout(() => parentPort.postMessage({ id: m.id, ok: true, result: m.value * 2 }), m.delayMs ?? 0);
});
`;

const threads: JobThread[] = [];
afterEach(async () => {
  for (const thread of threads.splice(0)) await thread.close();
});

function newThread(): { thread: JobThread; starts: () => number } {
  let starts = 0;
  const thread = new JobThread(() => {
    starts++;
    return new Worker(script, { eval: true });
  }, 'test job thread');
  threads.push(thread);
  return { thread, starts: () => starts };
}

describe('JobThread', () => {
  it('answers each job by its id, also out of order, and starts its thread once', async () => {
    const { thread, starts } = newThread();
    const slow = thread.run<number>((id) => ({ id, kind: 'double', value: 1, delayMs: 50 }));
    const fast = thread.run<number>((id) => ({ id, kind: 'double', value: 2 }));
    expect(await Promise.all([slow, fast])).toEqual([2, 4]);
    await expect(thread.run((id) => ({ id, kind: 'fail', value: 7 }))).rejects.toThrow('job failed: 7');
    expect(starts()).toBe(1);
  });

  it('fails the pending jobs of a thread that dies, and starts a new one for the next job', async () => {
    const { thread, starts } = newThread();
    const pending = thread.run((id) => ({ id, kind: 'double', value: 1, delayMs: 10_000 }));
    const died = thread.run((id) => ({ id, kind: 'die' }));
    await expect(pending).rejects.toThrow('test job thread exited with code 3');
    await expect(died).rejects.toThrow('exited');
    expect(await thread.run<number>((id) => ({ id, kind: 'double', value: 5 }))).toBe(10);
    expect(starts()).toBe(2);
  });

  it('close fails what is pending and a later job starts the thread again', async () => {
    const { thread, starts } = newThread();
    const pending = thread.run((id) => ({ id, kind: 'double', value: 1, delayMs: 10_000 }));
    await thread.close();
    await expect(pending).rejects.toThrow();
    expect(await thread.run<number>((id) => ({ id, kind: 'double', value: 3 }))).toBe(6);
    expect(starts()).toBe(2);
  });
});
