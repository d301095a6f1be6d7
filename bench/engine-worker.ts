/**
 * One system's run of the storage benchmark, in its own process so that its peak RSS is its own.
 * Usage: engine-worker SYSTEM MODE DIR N — prints one JSON line of rows on stdout.
 * SYSTEM: phantomdb | classic-level | lmdb. MODE: nosync | sync (every write batch fsynced).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { open as openLmdb } from 'lmdb';
import { StorageEngine, WriteBatch } from '../datanode/src/storage/engine.ts';
import { type BenchRow, percentile } from './common.ts';

const [system, mode, baseDir, nArg] = process.argv.slice(2);
const n = Number(nArg ?? 1_000_000);
const sync = mode === 'sync';
const batchSize = 1000;
const valueBytes = 100;
const cacheBytes = 128 * 1024 * 1024;

/** A store as the benchmark drives it: batched writes, point reads, ordered scans and seeks. */
interface Store {
  writeBatch(keys: Buffer[], values: Buffer[]): Promise<void>;
  /** Reads `keys`, returning how many were found. */
  readMany(keys: Buffer[]): Promise<number>;
  scanAll(): Promise<number>;
  /** Seeks to each key and reads the entry there; returns how many seeks found an entry. */
  seekMany(keys: Buffer[]): Promise<number>;
  close(): Promise<void>;
}

async function openStore(dir: string): Promise<Store> {
  if (system === 'phantomdb') {
    const e = await StorageEngine.open(dir, { blockCacheBytes: cacheBytes, syncWritesByDefault: sync });
    return {
      async writeBatch(keys, values) {
        const b = new WriteBatch();
        for (let i = 0; i < keys.length; i++) b.put(keys[i] as Buffer, values[i] as Buffer);
        await e.write(b, { sync });
      },
      async readMany(keys) {
        let found = 0;
        for (const k of keys) if (e.get(k) !== undefined) found++;
        return found;
      },
      async scanAll() {
        const it = e.iterator();
        let count = 0;
        for (it.seekToFirst(); it.valid(); it.next()) {
          it.key();
          it.value();
          count++;
        }
        it.close();
        return count;
      },
      async seekMany(keys) {
        const it = e.iterator();
        let found = 0;
        for (const k of keys) {
          it.seek(k);
          if (it.valid()) {
            it.value();
            found++;
          }
        }
        it.close();
        return found;
      },
      close: () => e.close(),
    };
  }
  if (system === 'classic-level') {
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', cacheSize: cacheBytes });
    await db.open();
    return {
      async writeBatch(keys, values) {
        await db.batch(
          keys.map((key, i) => ({ type: 'put' as const, key, value: values[i] as Buffer })),
          { sync },
        );
      },
      async readMany(keys) {
        // getMany of the whole group: classic-level's fastest read path (one await per 1,000 keys).
        const got = await db.getMany(keys);
        return got.filter((v) => v !== undefined).length;
      },
      async scanAll() {
        let count = 0;
        const it = db.iterator();
        for (;;) {
          const entries = await it.nextv(1000);
          if (entries.length === 0) break;
          count += entries.length;
        }
        await it.close();
        return count;
      },
      async seekMany(keys) {
        const it = db.iterator();
        let found = 0;
        for (const k of keys) {
          it.seek(k);
          if ((await it.next()) !== undefined) found++;
        }
        await it.close();
        return found;
      },
      close: () => db.close(),
    };
  }
  if (system === 'lmdb') {
    const db = openLmdb<Buffer, Buffer>({ path: dir, keyEncoding: 'binary', encoding: 'binary', noSync: !sync, mapSize: 8 * 1024 ** 3 });
    return {
      async writeBatch(keys, values) {
        await db.transaction(() => {
          for (let i = 0; i < keys.length; i++) db.put(keys[i] as Buffer, values[i] as Buffer);
        });
      },
      async readMany(keys) {
        let found = 0;
        for (const k of keys) if (db.getBinaryFast(k) !== undefined) found++;
        return found;
      },
      async scanAll() {
        let count = 0;
        for (const _entry of db.getRange({})) count++;
        return count;
      },
      async seekMany(keys) {
        let found = 0;
        for (const k of keys) {
          for (const _entry of db.getRange({ start: k, limit: 1 })) found++;
        }
        return found;
      },
      close: () => db.close(),
    };
  }
  throw new Error(`unknown system ${system}`);
}

const keyOf = (i: number): Buffer => Buffer.from(String(i).padStart(16, '0'));
let rngState = 0x9e3779b9;
const random = (): number => {
  rngState ^= rngState << 13;
  rngState ^= rngState >>> 17;
  rngState ^= rngState << 5;
  return (rngState >>> 0) / 4294967296;
};
const valueOf = (i: number): Buffer => {
  const v = Buffer.allocUnsafe(valueBytes);
  v.fill(i % 251);
  v.writeUInt32BE(i >>> 0, 0);
  return v;
};

async function timed(workload: string, groups: number, body: (group: number) => Promise<number>, opsPerGroup: number): Promise<BenchRow> {
  const latencies: number[] = [];
  let found = 0;
  const started = performance.now();
  for (let g = 0; g < groups; g++) {
    const t = performance.now();
    found += await body(g);
    latencies.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    workload: sync && workload.startsWith('fill') || sync && workload === 'overwrite' ? `${workload}-sync` : workload,
    system: system ?? 'unknown',
    opsPerSec: Math.round((groups * opsPerGroup) / seconds),
    p50Ms: Number(percentile(latencies, 50).toFixed(3)),
    p99Ms: Number(percentile(latencies, 99).toFixed(3)),
    latencyPer: `group of ${opsPerGroup}`,
    seconds: Number(seconds.toFixed(2)),
    found,
  };
}

async function fill(store: Store, name: string, keyIndex: (i: number) => number): Promise<BenchRow> {
  return timed(
    name,
    n / batchSize,
    async (g) => {
      const keys: Buffer[] = [];
      const values: Buffer[] = [];
      for (let i = g * batchSize; i < (g + 1) * batchSize; i++) {
        const k = keyIndex(i);
        keys.push(keyOf(k));
        values.push(valueOf(k));
      }
      await store.writeBatch(keys, values);
      return batchSize;
    },
    batchSize,
  );
}

const rows: BenchRow[] = [];
const writesOnly = sync;
const dirA = path.join(baseDir ?? '/tmp/phantomdb-bench', `${system}-${mode}-seq`);
const dirB = path.join(baseDir ?? '/tmp/phantomdb-bench', `${system}-${mode}-random`);
fs.rmSync(dirA, { recursive: true, force: true });
fs.rmSync(dirB, { recursive: true, force: true });
fs.mkdirSync(dirA, { recursive: true });
fs.mkdirSync(dirB, { recursive: true });

let store = await openStore(dirA);
rows.push(await fill(store, 'fillseq', (i) => i));
if (!writesOnly) {
  const readGroups = n / batchSize;
  rows.push(
    await timed(
      'readrandom',
      readGroups,
      async () => store.readMany(Array.from({ length: batchSize }, () => keyOf(Math.floor(random() * n)))),
      batchSize,
    ),
  );
  rows.push(await timed('readseq', 1, () => store.scanAll(), n));
  const seeks = Math.min(n, 200_000);
  rows.push(
    await timed(
      'seekrandom',
      seeks / batchSize,
      async () => store.seekMany(Array.from({ length: batchSize }, () => keyOf(Math.floor(random() * n)))),
      batchSize,
    ),
  );
}
await store.close();
store = await openStore(dirB);
rows.push(await fill(store, 'fillrandom', () => Math.floor(random() * n)));
rows.push(await fill(store, 'overwrite', () => Math.floor(random() * n)));
await store.close();
const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
for (const r of rows) (r as { peakRssMiB?: number }).peakRssMiB = peakRssMiB;
fs.rmSync(dirA, { recursive: true, force: true });
fs.rmSync(dirB, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(rows)}\n`);
