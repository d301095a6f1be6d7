/**
 * Benchmark of the shared Raft log: for 1, 16 and 64 concurrent groups, each group appends one
 * 256-byte entry at a time in a loop and waits for it to be durable before the next. Reports
 * appends/s, fsyncs/s and appends per fsync (the group commit factor).
 *
 *   npx tsx datanode/src/raft/logstore/bench-logstore.ts            (BENCH_SECONDS=3 per case)
 *   BENCH_DIR=/mnt/fast npx tsx ...                                  (where the log lives)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { realFs } from '../../storage/fs.ts';
import { simpleConfState, type Entry } from '../types.ts';
import { RaftLogEngine } from './engine.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const baseDir = process.env.BENCH_DIR ?? tmpdir();
const entryBytes = 256;
const concurrencies = [1, 16, 64];

interface Result {
  readonly groups: number;
  readonly appends: number;
  readonly fsyncs: number;
  readonly elapsedMs: number;
  readonly fsyncAvgMs: number;
  readonly fsyncMaxMs: number;
}

async function runCase(groups: number): Promise<Result> {
  const dir = mkdtempSync(path.join(baseDir, 'phantomdb-bench-raftlog-'));
  try {
    const engine = await RaftLogEngine.open(realFs, path.join(dir, 'log'));
    for (let g = 1; g <= groups; g++) await engine.createGroup(g, simpleConfState([1, 2, 3]));
    const data = new Uint8Array(entryBytes).fill(7);
    const before = engine.stats;
    const startMs = performance.now();
    const deadlineMs = startMs + seconds * 1000;
    let appends = 0;
    await Promise.all(
      Array.from({ length: groups }, async (_, i) => {
        const g = i + 1;
        let index = 2;
        while (performance.now() < deadlineMs) {
          const entry: Entry = { term: 1, index, kind: 'normal', data };
          await engine.append(g, [entry]);
          appends++;
          index++;
          // Compact behind, as a host would after snapshots, so memory and segments stay bounded.
          if (index % 4096 === 0) await engine.createSnapshot(g, index - 1024, simpleConfState([1, 2, 3]), 'bench');
        }
      }),
    );
    const elapsedMs = performance.now() - startMs;
    const after = engine.stats;
    await engine.close();
    const fsyncs = after.fsyncs - before.fsyncs;
    return {
      groups,
      appends,
      fsyncs,
      elapsedMs,
      fsyncAvgMs: (after.fsyncTotalMs - before.fsyncTotalMs) / Math.max(1, fsyncs),
      fsyncMaxMs: after.fsyncMaxMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`shared raft log: ${entryBytes}-byte entries, every append durable, ${seconds}s per case, dir ${baseDir}`);
console.log('groups  appends/s  fsyncs/s  appends/fsync  fsync avg ms  fsync max ms');
for (const groups of concurrencies) {
  const r = await runCase(groups);
  const perSecond = (n: number): string => ((n * 1000) / r.elapsedMs).toFixed(0);
  console.log(
    [
      String(r.groups).padStart(6),
      perSecond(r.appends).padStart(10),
      perSecond(r.fsyncs).padStart(9),
      (r.appends / Math.max(1, r.fsyncs)).toFixed(1).padStart(14),
      r.fsyncAvgMs.toFixed(3).padStart(13),
      r.fsyncMaxMs.toFixed(3).padStart(13),
    ].join(''),
  );
}
