/**
 * Micro-benchmark of the SSTable format: builds a table of ENTRIES (default 1M) entries with
 * 16-byte keys and 100-byte values, then measures random gets/s with a warm block cache and a
 * sequential full scan in entries/s. Run: `npx tsx datanode/src/storage/sstable/bench-sstable.ts`.
 * Randomness is a seeded generator so runs are comparable (SEED=...).
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
const getsPerRound = Number(process.env['GETS'] ?? 2_000_000);
const seed = Number(process.env['SEED'] ?? 42);

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

function main(): void {
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
    let seconds = (performance.now() - started) / 1000;
    console.log(`build: ${entries} entries, ${(meta.fileSize / 1048576).toFixed(1)} MiB in ${seconds.toFixed(2)} s (${Math.round(entries / seconds)} entries/s)`);

    const cache = new BlockCache(1024 * 1024 * 1024);
    const reader = TableReader.open(realFs, file, 1, { cache });
    const iterator = reader.iterator();
    for (let round = 0; round < 2; round++) {
      started = performance.now();
      let scanned = 0;
      for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
        iterator.value();
        scanned++;
      }
      seconds = (performance.now() - started) / 1000;
      console.log(`scan ${round === 0 ? 'cold cache' : 'warm cache'}: ${scanned} entries in ${seconds.toFixed(2)} s (${Math.round(scanned / seconds)} entries/s)`);
    }

    const probeKeys: Buffer[] = [];
    for (let i = 0; i < 100_000; i++) probeKeys.push(keyOf(Math.floor(random() * entries)));
    const absentKeys: Buffer[] = [];
    for (let i = 0; i < 100_000; i++) absentKeys.push(Buffer.from(`kez${String(i).padStart(13, '0')}`, 'latin1'));
    for (const [label, keys] of [['random gets (present keys)', probeKeys], ['random gets (absent keys)', absentKeys]] as const) {
      for (let round = 0; round < 3; round++) {
        started = performance.now();
        let found = 0;
        for (let i = 0; i < getsPerRound; i++) {
          const result = reader.get(keys[i % keys.length] as Buffer, Number.MAX_SAFE_INTEGER);
          if (result !== undefined) found++;
        }
        seconds = (performance.now() - started) / 1000;
        console.log(`${label} round ${round}: ${Math.round(getsPerRound / seconds)} gets/s (found ${found}/${getsPerRound})`);
      }
    }
    const stats = cache.stats();
    console.log(`cache: ${stats.entries} blocks, ${(stats.usageBytes / 1048576).toFixed(1)} MiB, hits ${stats.hits}, misses ${stats.misses}`);
    reader.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
