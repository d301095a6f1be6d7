/**
 * Memtable micro-benchmark: `npx tsx datanode/src/storage/bench-memtable.ts [entries] [mode]`.
 * Inserts random 16-byte keys with 100-byte values in batches of 1,000 (as the engine applies
 * write batches), then measures random point reads and a full forward scan. `mode` picks the
 * insert order: `unsorted` (each batch in arrival order), `sorted` (each batch sorted into
 * internal order first, as the engine does for batches without range deletions; the sort is
 * timed separately and added into a total) or `both` (the default). Keys come from a seeded
 * generator so runs are comparable; the seed is printed.
 */
import { performance } from 'node:perf_hooks';
import { ValueKind } from './keys.ts';
import { Memtable } from './memtable.ts';

const keyBytes = 16;
const valueBytes = 100;
const batchEntries = 1000;
const getCount = 1_000_000;
/** Entries inserted into a throwaway table before timing, so the timed inserts run optimised code. */
const warmUpEntries = 50_000;

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

/** Elapsed wall-clock and CPU time, in milliseconds. */
interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** Runs `work` and adds its wall-clock and CPU time to `into`. */
function timeInto<T>(into: Timing, work: () => T): T {
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const result = work();
  into.wallMs += performance.now() - wallStart;
  const cpu = process.cpuUsage(cpuStart);
  into.cpuMs += (cpu.user + cpu.system) / 1000;
  return result;
}

/**
 * Prints a timing by wall clock and by this process's CPU time: on a shared machine the
 * CPU-time rate is the steadier figure (it excludes time spent descheduled).
 */
function report(label: string, count: number, timing: Timing, detail = ''): void {
  const { wallMs, cpuMs } = timing;
  console.log(`${label}: ${rate(count, wallMs)} wall, ${rate(count, cpuMs)} cpu (${wallMs.toFixed(0)} ms) ${detail}`);
}

function measure(label: string, count: number, work: () => string): void {
  const timing = { wallMs: 0, cpuMs: 0 };
  const detail = timeInto(timing, work);
  report(label, count, timing, detail);
}

/** The first six key bytes as a number, to settle most comparisons of a sort without a native call. */
function keyPrefix(key: Buffer): number {
  let prefix = 0;
  for (let i = 0; i < 6; i++) prefix = prefix * 256 + (key[i] ?? 0);
  return prefix;
}

/**
 * Positions `start..end-1` of `keys` in internal order: user key ascending, then sequence
 * descending (entry i has sequence i + 1, so a later position sorts first on a key tie).
 */
function sortedBatchOrder(keys: readonly Buffer[], start: number, end: number): Uint32Array {
  const order = new Uint32Array(end - start);
  const prefixes = new Float64Array(end - start);
  for (let i = 0; i < order.length; i++) {
    order[i] = start + i;
    prefixes[i] = keyPrefix(keys[start + i] ?? Buffer.alloc(0));
  }
  return order.sort((a, b) => {
    const byPrefix = (prefixes[a - start] ?? 0) - (prefixes[b - start] ?? 0);
    if (byPrefix !== 0) return byPrefix;
    return Buffer.compare(keys[a] ?? Buffer.alloc(0), keys[b] ?? Buffer.alloc(0)) || b - a;
  });
}

/** Inserts each batch in arrival order; prints the timing unless `quiet`. */
function insertUnsorted(keys: readonly Buffer[], values: readonly Buffer[], quiet = false): Memtable {
  const table = new Memtable();
  const entries = keys.length;
  const timing = { wallMs: 0, cpuMs: 0 };
  timeInto(timing, () => {
    for (let batchStart = 0; batchStart < entries; batchStart += batchEntries) {
      const batchEnd = Math.min(entries, batchStart + batchEntries);
      for (let i = batchStart; i < batchEnd; i++) {
        table.add(keys[i] ?? Buffer.alloc(0), i + 1, ValueKind.Put, values[i] ?? Buffer.alloc(0));
      }
    }
  });
  if (!quiet) {
    report('insert (unsorted batches)', entries, timing, `(~${(table.approximateBytes / 2 ** 20).toFixed(0)} MiB accounted)`);
  }
  return table;
}

/**
 * Sorts each batch, then inserts it in that order; the sorts and the inserts are timed apart.
 * Prints the timings unless `quiet`.
 */
function insertSorted(keys: readonly Buffer[], values: readonly Buffer[], quiet = false): Memtable {
  const table = new Memtable();
  const entries = keys.length;
  const sortTiming = { wallMs: 0, cpuMs: 0 };
  const insertTiming = { wallMs: 0, cpuMs: 0 };
  for (let batchStart = 0; batchStart < entries; batchStart += batchEntries) {
    const batchEnd = Math.min(entries, batchStart + batchEntries);
    const order = timeInto(sortTiming, () => sortedBatchOrder(keys, batchStart, batchEnd));
    timeInto(insertTiming, () => {
      for (const i of order) table.add(keys[i] ?? Buffer.alloc(0), i + 1, ValueKind.Put, values[i] ?? Buffer.alloc(0));
    });
  }
  if (quiet) return table;
  report('  sort of each batch', entries, sortTiming);
  report('  insert (sorted batches)', entries, insertTiming);
  const total = { wallMs: sortTiming.wallMs + insertTiming.wallMs, cpuMs: sortTiming.cpuMs + insertTiming.cpuMs };
  report('sort + insert (sorted batches)', entries, total);
  return table;
}

function measureReads(table: Memtable, keys: readonly Buffer[], random: () => number): void {
  const entries = keys.length;
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

function main(): void {
  const entries = Number(process.argv[2] ?? 1_000_000);
  const mode = process.argv[3] ?? 'both';
  if (mode !== 'unsorted' && mode !== 'sorted' && mode !== 'both') {
    throw new Error(`bench-memtable: mode must be unsorted, sorted or both, not ${mode}`);
  }
  const seed = Number(process.env['SEED'] ?? 42);
  const random = makeRandom(seed);
  console.log(`memtable bench: ${entries} entries, ${mode} batches of ${batchEntries}, SEED=${seed}`);

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

  // Warm up both insert paths (the 140k-entry runs are short enough for JIT tiers to show).
  const warmUp = Math.min(entries, warmUpEntries);
  insertUnsorted(keys.slice(0, warmUp), values.slice(0, warmUp), true);
  insertSorted(keys.slice(0, warmUp), values.slice(0, warmUp), true);

  if (mode !== 'sorted') measureReads(insertUnsorted(keys, values), keys, random);
  if (mode !== 'unsorted') measureReads(insertSorted(keys, values), keys, random);
}

main();
