/**
 * Names the test file when a vitest worker dies in the middle of it. vitest itself only reports
 * "Worker exited unexpectedly", without the file: a SIGTERM/SIGINT delivered to the worker, or a
 * process.exit() with a non-zero code from code under test, is written to stderr here first. The
 * signal is then re-raised with its default action, so nothing about the exit changes.
 */
import { writeSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';

let running: string | undefined;

function report(what: string): void {
  if (running !== undefined) writeSync(2, `\n[worker ${process.pid}] ${what} while running ${running}\n`);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  const onSignal = (): void => {
    report(`received ${signal}`);
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  };
  process.on(signal, onSignal);
}
process.on('exit', (code) => {
  if (code !== 0) report(`exiting with code ${code}`);
});

beforeAll(() => {
  running = expect.getState().testPath;
});
afterAll(() => {
  running = undefined;
});
