/**
 * Child process of the crash test: writes synced batches from several concurrent writers into
 * the engine at argv[2] and prints `ack N` once batch N is acknowledged. The parent kills it
 * with SIGKILL at a random moment. Small memtables make flushes and compactions frequent, so
 * kills land in the middle of them too.
 */
import { StorageEngine, WriteBatch } from '../engine.ts';

const dir = process.argv[2];
const firstBatch = Number(process.argv[3] ?? '0');
if (dir === undefined) throw new Error('usage: crash-writer DIR FIRST_BATCH');

const engine = await StorageEngine.open(dir, {
  memtableBytesMax: 64 * 1024,
  targetFileBytes: 32 * 1024,
  levelBaseBytes: 128 * 1024,
  l0CompactionTriggerFiles: 2,
});
process.stdout.write('ready\n');
let next = firstBatch;
const writers = 4;
async function writer(): Promise<void> {
  for (;;) {
    const n = next++;
    const b = new WriteBatch();
    for (let j = 0; j < 20; j++) b.put(Buffer.from(`b/${String(n).padStart(8, '0')}/${String(j).padStart(2, '0')}`), Buffer.from(`${n}:${'v'.repeat(60)}`));
    if (n % 7 === 0 && n > 10) b.delRange(Buffer.from(`d/${String(n - 10).padStart(8, '0')}`), Buffer.from(`d/${String(n - 9).padStart(8, '0')}`));
    b.put(Buffer.from(`d/${String(n).padStart(8, '0')}`), Buffer.from(String(n)));
    await engine.write(b, { sync: n % 3 !== 0 });
    if (n % 3 !== 0) process.stdout.write(`ack ${n}\n`);
  }
}
await Promise.all(Array.from({ length: writers }, writer));
