/**
 * Memtable micro-benchmark: `npx tsx datanode/src/storage/bench-memtable.ts [entries]`.
 * Inserts random 16-byte keys with 100-byte values in batches of 1,000 (as the engine applies
 * write batches), then measures random point reads and a full forward scan. Keys come from a
 * seeded generator so runs are comparable; the seed is printed.
 */
import { performance } from 'node:perf_hooks';
import { ValueKind } from './keys.ts';
import { Memtable } from './memtable.ts';

const keyBytes = 16;
const valueBytes = 100;
const batchEntries = 1000;
const getCount = 1_000_000;

/** splitmix32-style generator: fast, seeded, good enough for benchmark keys. */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function randomBlock(bytes: number, random: () => number): Buffer {
  const block = Buffer.allocUnsafe(bytes);
  for (let offset = 0; offset < bytes; offset += 4) block.writeUInt32LE(random(), offset);
  return block;
}

function rate(count: number, ms: number): string {
  return `${Math.round((count / ms) * 1000).toLocaleString('en-US')}/s`;
}

/**
 * Times `work` by wall clock and by this process's CPU time: on a shared machine the CPU-time
 * rate is the steadier figure (it excludes time spent descheduled).
 */
function measure(label: string, count: number, work: () => string): void {
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const detail = work();
  const wallMs = performance.now() - wallStart;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(`${label}: ${rate(count, wallMs)} wall, ${rate(count, cpuMs)} cpu (${wallMs.toFixed(0)} ms) ${detail}`);
}

function main(): void {
  const entries = Number(process.argv[2] ?? 1_000_000);
  const seed = Number(process.env['SEED'] ?? 42);
  const random = makeRandom(seed);
  console.log(`memtable bench: ${entries} entries, SEED=${seed}`);

  // Keys and values are prepared up front (as subarrays of big blocks, like a decoded batch)
  // so that the timed loop measures the memtable only.
  const keyBlock = randomBlock(entries * keyBytes, random);
  const valuePool = randomBlock(1 << 20, random);
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  for (let i = 0; i < entries; i++) {
    keys.push(keyBlock.subarray(i * keyBytes, (i + 1) * keyBytes));
    const valueOffset = (random() % ((1 << 20) - valueBytes)) >>> 0;
    values.push(valuePool.subarray(valueOffset, valueOffset + valueBytes));
  }

  const table = new Memtable();
  measure('insert', entries, () => {
    for (let batchStart = 0; batchStart < entries; batchStart += batchEntries) {
      const batchEnd = Math.min(entries, batchStart + batchEntries);
      for (let i = batchStart; i < batchEnd; i++) {
        table.add(keys[i] ?? Buffer.alloc(0), i + 1, ValueKind.Put, values[i] ?? Buffer.alloc(0));
      }
    }
    return `(~${(table.approximateBytes / 2 ** 20).toFixed(0)} MiB accounted)`;
  });

  measure('get (hits)', getCount, () => {
    let found = 0;
    for (let i = 0; i < getCount; i++) {
      const key = keys[random() % entries];
      if (key !== undefined && table.get(key, entries) !== undefined) found++;
    }
    return `(${found} found)`;
  });

  const iterator = table.iterator();
  measure('forward scan', entries, () => {
    let scanned = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) scanned++;
    return `(${scanned} entries)`;
  });
  measure('reverse scan', entries, () => {
    let scanned = 0;
    for (iterator.seekToLast(); iterator.valid(); iterator.prev()) scanned++;
    return `(${scanned} entries)`;
  });
}

main();
