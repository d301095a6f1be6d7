import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageEngine } from './engine.ts';
import { tempDir } from './testing/tmp.ts';

/** Rounds of kill -9 in CI; set CRASH_ROUNDS for more. */
const rounds = Number(process.env.CRASH_ROUNDS ?? 50);
const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
const child = path.join(import.meta.dirname, 'testing/crash-writer.ts');

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs the writer until it has acknowledged `killAfterAcks` batches, then SIGKILLs it
 * `killDelayMs` later (counting acks rather than time keeps the test meaningful on a loaded
 * machine). Returns the acked batches.
 */
function runAndKill(dir: string, firstBatch: number, killAfterAcks: number, killDelayMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, dir, String(firstBatch)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    let killScheduled = false;
    const scheduleKill = (): void => {
      if (killScheduled) return;
      killScheduled = true;
      setTimeout(() => p.kill('SIGKILL'), killDelayMs);
    };
    let buffered = '';
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready' && killAfterAcks === 0) scheduleKill();
        else if (line.startsWith('ack ')) {
          acked.push(Number(line.slice(4)));
          if (acked.length >= killAfterAcks) scheduleKill();
        }
      }
    });
    p.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`crash writer exited on its own (code ${code}): ${stderr}`));
    });
  });
}

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});

describe(`crash safety under SIGKILL (${rounds} rounds, reproduce with SEED=${seed})`, () => {
  it('keeps every acknowledged synced batch, whole, and always reopens', async () => {
    const t = tempDir('crash');
    cleanups.push(t.cleanup);
    const dir = path.join(t.dir, 'data');
    const random = mulberry32(seed);
    const allAcked = new Set<number>();
    let firstBatch = 0;
    for (let round = 0; round < rounds; round++) {
      const killAfterAcks = Math.floor(random() * 60);
      const killDelayMs = Math.floor(random() * 40);
      const acked = await runAndKill(dir, firstBatch, killAfterAcks, killDelayMs);
      for (const n of acked) allAcked.add(n);
      const engine = await StorageEngine.open(dir);
      try {
        // Group the keys by batch: every batch present must be complete (atomicity).
        const counts = new Map<number, number>();
        const it = engine.iterator({ lowerBound: Buffer.from('b/'), upperBound: Buffer.from('b0') });
        let maxBatch = -1;
        for (it.seekToFirst(); it.valid(); it.next()) {
          const n = Number(it.key().toString().slice(2, 10));
          const valueBatch = Number(it.value().toString().split(':')[0]);
          expect(valueBatch, `value of ${it.key().toString()} (round ${round}, SEED=${seed})`).toBe(n);
          counts.set(n, (counts.get(n) ?? 0) + 1);
          if (n > maxBatch) maxBatch = n;
        }
        it.close();
        for (const [n, c] of counts) expect(c, `batch ${n} is partial after round ${round} (SEED=${seed})`).toBe(20);
        for (const n of allAcked) expect(counts.get(n), `acknowledged batch ${n} lost in round ${round} (SEED=${seed})`).toBe(20);
        firstBatch = Math.max(firstBatch, maxBatch + 1) + 1000;
      } finally {
        await engine.close();
      }
    }
    expect(allAcked.size).toBeGreaterThan(rounds);
  }, 600_000);
});
