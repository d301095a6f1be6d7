import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realFs } from '../../storage/fs.ts';
import { tempDir } from '../../storage/testing/tmp.ts';
import { RaftLogEngine } from './engine.ts';
import { makeEntry } from './logstore.test-support.ts';

/** SIGKILL rounds; LOGSTORE_CRASH_ROUNDS for more. */
const rounds = Number(process.env.LOGSTORE_CRASH_ROUNDS ?? 20);
const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
const groups = 32;
const child = path.join(import.meta.dirname, 'testing/crash-writer.ts');

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Ack {
  readonly groupId: number;
  readonly index: number;
  readonly term: number;
}

/** Runs the writer until `killAfterMs` after it is ready, then SIGKILLs it. Returns the acked entries. */
function runAndKill(dir: string, killAfterMs: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, dir, String(groups)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: Ack[] = [];
    let buffered = '';
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready') {
          setTimeout(() => p.kill('SIGKILL'), killAfterMs);
          continue;
        }
        const [, g, first, last, term] = line.split(' ').map(Number);
        if (g === undefined || first === undefined || last === undefined || term === undefined) continue;
        for (let index = first; index <= last; index++) acked.push({ groupId: g, index, term });
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
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe(`shared Raft log under SIGKILL (${rounds} rounds, reproduce with SEED=${seed})`, () => {
  it('keeps every acknowledged entry and always reopens', async () => {
    const t = tempDir('raftlog-crash');
    cleanups.push(t.cleanup);
    const dir = path.join(t.dir, 'log');
    const random = mulberry32(seed);
    /** The newest acknowledged term per (group, index): a later conflicting rewrite may raise it. */
    const acked = new Map<string, Ack>();
    let totalAcks = 0;
    for (let round = 0; round < rounds; round++) {
      const killAfterMs = Math.floor(random() * 300);
      for (const ack of await runAndKill(dir, killAfterMs)) {
        totalAcks++;
        const key = `${ack.groupId}/${ack.index}`;
        const known = acked.get(key);
        if (known === undefined || known.term <= ack.term) acked.set(key, ack);
      }
      const engine = await RaftLogEngine.open(realFs, dir);
      try {
        for (const ack of acked.values()) {
          const what = `acked entry ${ack.groupId}/${ack.index} term ${ack.term} (round ${round}, SEED=${seed})`;
          const storage = engine.storageFor(ack.groupId);
          if (ack.index < storage.firstIndex()) continue; // compacted into a snapshot
          expect(ack.index, what).toBeLessThanOrEqual(storage.lastIndex());
          const [entry] = storage.entries(ack.index, ack.index + 1, Number.MAX_SAFE_INTEGER);
          expect(entry?.term, what).toBeGreaterThanOrEqual(ack.term);
          // The data must be exactly what the writer made for that (group, index, term).
          const expected = makeEntry(ack.groupId, ack.index, entry?.term ?? 0, entry?.data.byteLength ?? 0);
          expect(Buffer.from(entry?.data ?? []).equals(Buffer.from(expected.data)), what).toBe(true);
        }
      } finally {
        await engine.close();
      }
    }
    expect(totalAcks).toBeGreaterThan(rounds);
  });
});
