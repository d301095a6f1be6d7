/**
 * Micro-benchmark of the SSTable format: builds a table of ENTRIES (default 1M) entries with
 * 16-byte keys and 100-byte values, then measures random gets/s with a warm block cache and a
 * sequential full scan in entries/s. Run: `npx tsx datanode/src/storage/sstable/bench-sstable.ts`.
 * Randomness is a seeded generator so runs are comparable (SEED=...). With LMDB=1 it also loads
 * the same keys into LMDB and measures its synchronous get on the same probe keys, so the two are
 * compared under the same machine load. Each measurement reports the best and median of ROUNDS
 * rounds, by wall time and by process CPU time (the latter is steadier on a shared machine).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { realFs } from '../fs.ts';
import { ValueKind } from '../keys.ts';
import { BlockCache } from './block-cache.ts';
import { TableBuilder } from './table-builder.ts';
import { TableReader } from './table-reader.ts';

const entries = Number(process.env['ENTRIES'] ?? 1_000_000);
const getsPerRound = Number(process.env['GETS'] ?? 1_000_000);
const seed = Number(process.env['SEED'] ?? 42);
const rounds = Number(process.env['ROUNDS'] ?? 5);
const compareLmdb = process.env['LMDB'] === '1';

/** Runs `round` ROUNDS times; prints best and median ops/s by wall and by CPU time. */
function measure(label: string, operations: number, round: () => void): void {
  const wallRates: number[] = [];
  const cpuRates: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    round();
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    wallRates.push(operations / wallSeconds);
    cpuRates.push(operations / ((cpu.user + cpu.system) / 1e6));
  }
  const best = (rates: number[]): number => Math.round(Math.max(...rates));
  const median = (rates: number[]): number => Math.round([...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)] as number);
  console.log(`${label}: wall best ${best(wallRates)}/s median ${median(wallRates)}/s; cpu best ${best(cpuRates)}/s median ${median(cpuRates)}/s`);
}

function makeRng(start: number): () => number {
  let state = start >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

function keyOf(i: number): Buffer {
  return Buffer.from(`key${String(i).padStart(13, '0')}`, 'latin1');
}

async function main(): Promise<void> {
  const random = makeRng(seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-bench-sstable-'));
  const file = path.join(dir, '000001.sst');
  try {
    const value = Buffer.alloc(100);
    for (let i = 0; i < value.length; i++) value[i] = Math.floor(random() * 256);
    let started = performance.now();
    const builder = new TableBuilder(realFs, file);
    for (let i = 0; i < entries; i++) builder.add(keyOf(i), i + 1, ValueKind.Put, value);
    const meta = builder.finish();
    const seconds = (performance.now() - started) / 1000;
    console.log(`build: ${entries} entries, ${(meta.fileSize / 1048576).toFixed(1)} MiB in ${seconds.toFixed(2)} s (${Math.round(entries / seconds)} entries/s)`);

    const cache = new BlockCache(1024 * 1024 * 1024);
    const reader = TableReader.open(realFs, file, 1, { cache });
    const iterator = reader.iterator();
    started = performance.now();
    let scanned = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) scanned++;
    console.log(`scan (cold cache, reads every block): ${Math.round(scanned / ((performance.now() - started) / 1000))} entries/s`);
    measure('sequential scan (warm cache), entries', entries, () => {
      for (iterator.seekToFirst(); iterator.valid(); iterator.next()) iterator.value();
    });

    const probeKeys: Buffer[] = [];
    for (let i = 0; i < 100_000; i++) probeKeys.push(keyOf(Math.floor(random() * entries)));
    const absentKeys: Buffer[] = [];
    for (let i = 0; i < 100_000; i++) absentKeys.push(Buffer.from(`kez${String(i).padStart(13, '0')}`, 'latin1'));
    let found = 0;
    measure('random get, present keys (warm cache)', getsPerRound, () => {
      for (let i = 0; i < getsPerRound; i++) if (reader.get(probeKeys[i % probeKeys.length] as Buffer, Number.MAX_SAFE_INTEGER) !== undefined) found++;
    });
    if (found !== getsPerRound * rounds) throw new Error(`found ${found} of ${getsPerRound * rounds} present keys`);
    measure('random get, absent keys (bloom)', getsPerRound, () => {
      for (let i = 0; i < getsPerRound; i++) reader.get(absentKeys[i % absentKeys.length] as Buffer, Number.MAX_SAFE_INTEGER);
    });
    if (compareLmdb) await benchLmdb(dir, value, probeKeys);
    const stats = cache.stats();
    console.log(`cache: ${stats.entries} blocks, ${(stats.usageBytes / 1048576).toFixed(1)} MiB, hits ${stats.hits}, misses ${stats.misses}`);
    reader.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The same keys and probes against LMDB's synchronous get, for a comparison under equal load. */
async function benchLmdb(dir: string, value: Buffer, probeKeys: readonly Buffer[]): Promise<void> {
  const { open } = await import('lmdb');
  const db = open({ path: path.join(dir, 'lmdb'), keyEncoding: 'binary', encoding: 'binary', noSync: true });
  await db.transaction(() => {
    for (let i = 0; i < entries; i++) void db.put(keyOf(i), value);
  });
  let found = 0;
  measure('LMDB random get, present keys', getsPerRound, () => {
    for (let i = 0; i < getsPerRound; i++) if (db.get(probeKeys[i % probeKeys.length] as Buffer) !== undefined) found++;
  });
  if (found !== getsPerRound * rounds) throw new Error(`LMDB found ${found} of ${getsPerRound * rounds}`);
  await db.close();
}

await main();
