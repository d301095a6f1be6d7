/**
 * `npm run bench:raft`: a 3-node PhantomDB cluster and a 3-node etcd 3.4 cluster on loopback,
 * driven by the same load generator (concurrent clients, 16-byte keys, 256-byte values, every
 * write durable; gets linearizable on both): puts/s and p50/p99 at 1, 16 and 64 clients and
 * gets/s at 64 clients. Installs Debian's etcd-server with apt-get when etcd is missing.
 * BENCH_SECONDS (default 5) sets each workload's measured duration; BENCH_REPEAT (default 3) the
 * number of alternating rounds (each row reports the median round and every round's ops/s).
 *
 * The cost of metrics (issue 7 §5): PhantomDB runs twice in the same run, as `phantomdb` (metrics
 * on, every node's /metrics scraped once a second, harsher than Prometheus's usual 15-30 s) and
 * as `phantomdb-metrics-off` (the nodes started with PHANTOMDB_METRICS=off: no request timing,
 * no fsync histogram, no /metrics). The overhead must stay under 3%.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import type { KvClient as KvClientClass } from '../datanode/src/kv/client.ts';
import { nodeBuild } from './build.ts';
import { fmt, helpRequested, machineDescription, percentile, repoRoot, updateBenchmarksDoc, UsageError, writeResult, type BenchRow } from './common.ts';

const help = `Usage: npm run bench:raft [-- --help]

A 3-node PhantomDB cluster (twice: metrics on and off) and a 3-node etcd cluster on loopback,
driven by one load generator: puts/s and p50/p99 at 1, 16 and 64 clients, gets/s at 64.
Writes bench/results/raft.json and the raft section of docs/benchmarks.md.

Environment:
  BENCH_SECONDS=5       measured seconds per workload (after 1 s of warm-up)
  BENCH_REPEAT=3        alternating rounds; each row is the median round
  BENCH_FROM_SOURCE=1   run the nodes and client from source through tsx (default: compiled by tsc)
`;
try {
  if (helpRequested(help)) process.exit(0);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`bench:raft: ${err.message}`);
  process.exit(2);
}

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
/** Rounds of all three systems (BENCH_REPEAT, default 3); each row is the median round. */
const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const warmupSeconds = 1;
const keySpace = 100_000;
const value = Buffer.alloc(256, 0x61);

interface Store {
  put(key: string, value: Buffer): Promise<void>;
  get(key: string): Promise<unknown>;
}

/** The data node and its client library, compiled as the image ships them (bench/build.ts). */
const build = nodeBuild((line) => console.log(line));
const { KvClient } = await build.importDatanode<{ KvClient: typeof KvClientClass }>('kv/client.ts');

const keyOf = (n: number): string => `key-${String(n).padStart(12, '0')}`; // 16 bytes

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs `clients` concurrent loops of `op` for warmup + measured seconds. */
async function drive(clients: number, op: (n: number) => Promise<unknown>): Promise<{ opsPerSec: number; p50Ms: number; p99Ms: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const startAt = performance.now();
  const measureFrom = startAt + warmupSeconds * 1000;
  const endAt = measureFrom + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < endAt) {
        const n = (counter++ * 7919) % keySpace;
        const begin = performance.now();
        try {
          await op(n);
          if (begin >= measureFrom) latencies.push(performance.now() - begin);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { opsPerSec: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors };
}

type System = 'phantomdb' | 'phantomdb-metrics-off' | 'etcd';

async function runWorkloads(system: System, store: Store): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const clients of [1, 16, 64]) {
    const result = await drive(clients, (n) => store.put(keyOf(n), value));
    rows.push({ workload: `put-c${clients}`, system, opsPerSec: Math.round(result.opsPerSec), p50Ms: round(result.p50Ms), p99Ms: round(result.p99Ms), errors: result.errors });
    console.log(`${system} put-c${clients}: ${fmt(result.opsPerSec)}/s p50 ${fmt(result.p50Ms, 2)} ms p99 ${fmt(result.p99Ms, 2)} ms (${result.errors} errors)`);
  }
  const gets = await drive(64, (n) => store.get(keyOf(n)));
  rows.push({ workload: 'get-c64', system, opsPerSec: Math.round(gets.opsPerSec), p50Ms: round(gets.p50Ms), p99Ms: round(gets.p99Ms), errors: gets.errors });
  console.log(`${system} get-c64: ${fmt(gets.opsPerSec)}/s p50 ${fmt(gets.p50Ms, 2)} ms p99 ${fmt(gets.p99Ms, 2)} ms (${gets.errors} errors)`);
  return rows;
}

const round = (n: number): number => Math.round(n * 100) / 100;

function stopAll(children: ChildProcess[]): Promise<void> {
  return Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  ).then(() => undefined);
}

/** GETs every node's /metrics once a second until stopped, as a (busy) Prometheus would. */
function scrapeEverySecond(httpPorts: readonly number[]): () => Promise<number> {
  let scrapes = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(httpPorts.map(async (port) => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        if (response?.ok === true) {
          await response.text();
          scrapes++;
        }
      }));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return scrapes;
  };
}

async function benchPhantomDb(baseDir: string, metrics: boolean): Promise<BenchRow[]> {
  const system: System = metrics ? 'phantomdb' : 'phantomdb-metrics-off';
  const nodes = await Promise.all([1, 2, 3].map(async (id) => ({ id, raft: await freePort(), kv: await freePort(), http: await freePort() })));
  const peers = nodes.map((n) => `${n.id}=127.0.0.1:${n.raft}`).join(',');
  const children = nodes.map((n) =>
    spawn(
      process.execPath,
      [...build.nodeArgs, 'start', '--node-id', String(n.id), '--cluster-id', 'bench', '--data-dir', path.join(baseDir, `${system}-${n.id}`),
        '--grpc-listen', `127.0.0.1:${n.raft}`, '--kv-listen', `127.0.0.1:${n.kv}`, '--http-listen', `127.0.0.1:${n.http}`, '--peers', peers],
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PHANTOMDB_METRICS: metrics ? 'on' : 'off' } },
    ),
  );
  const client = new KvClient({ endpoints: nodes.map((n) => `127.0.0.1:${n.kv}`), clusterId: 'bench', deadlineMs: 10_000 });
  try {
    await waitFor('a PhantomDB leader', 60_000, async () => {
      await client.put('bench-ready', 'yes', { deadlineMs: 2000 });
      return true;
    });
    const stopScraping = metrics ? scrapeEverySecond(nodes.map((n) => n.http)) : async () => 0;
    const rows = await runWorkloads(system, { put: (key, v) => client.put(key, v), get: (key) => client.get(key) });
    const scrapes = await stopScraping();
    if (metrics) console.log(`phantomdb: ${scrapes} /metrics scrapes during the run`);
    return rows;
  } finally {
    client.close();
    await stopAll(children);
  }
}

function ensureEtcd(): string {
  const installed = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((file) => fs.existsSync(file));
  if (installed !== undefined) return installed;
  console.log('etcd not found: installing Debian etcd-server with apt-get');
  execFileSync('apt-get', ['update'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', 'etcd-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return '/usr/bin/etcd';
}

async function benchEtcd(baseDir: string): Promise<BenchRow[]> {
  const etcd = ensureEtcd();
  const members = await Promise.all([1, 2, 3].map(async (id) => ({ name: `e${id}`, client: await freePort(), peer: await freePort() })));
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const children = members.map((m) =>
    spawn(
      etcd,
      ['--name', m.name, '--data-dir', path.join(baseDir, `etcd-${m.name}`), '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new', '--initial-cluster-token', 'bench', '--log-level', 'error', '--logger', 'zap'],
      { stdio: ['ignore', 'ignore', 'inherit'], env: os.arch() === 'x64' ? process.env : { ...process.env, ETCD_UNSUPPORTED_ARCH: os.arch() } },
    ),
  );
  const client = new Etcd3({ hosts: members.map((m) => `http://127.0.0.1:${m.client}`) });
  try {
    await waitFor('an etcd leader', 60_000, async () => {
      await client.put('bench-ready').value('yes');
      return true;
    });
    return await runWorkloads('etcd', {
      put: async (key, v) => {
        await client.put(key).value(v);
      },
      get: (key) => client.get(key).buffer(),
    });
  } finally {
    client.close();
    await stopAll(children);
  }
}

/** Per workload and system, the round with the median throughput, with every round's throughput. */
function medianRows(rounds: readonly (readonly BenchRow[])[]): BenchRow[] {
  const groups = new Map<string, BenchRow[]>();
  for (const rows of rounds) {
    for (const row of rows) {
      const key = `${row.workload}\u0000${row.system}`;
      const group = groups.get(key) ?? [];
      group.push(row);
      groups.set(key, group);
    }
  }
  return [...groups.values()].map((group) => {
    const sorted = [...group].sort((a, b) => a.opsPerSec - b.opsPerSec);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    if (median === undefined) throw new Error('empty group');
    return { ...median, roundsOpsPerSec: group.map((row) => Math.round(row.opsPerSec)) };
  });
}

function table(rows: readonly BenchRow[]): string {
  const find = (workload: string, system: string): BenchRow | undefined => rows.find((r) => r.workload === workload && r.system === system);
  const lines = [
    `## Raft: replicated writes and linearizable reads (3 nodes on loopback) vs etcd ${execFileSync('/usr/bin/etcd', ['--version']).toString().split('\n')[0]?.replace('etcd Version: ', '') ?? ''}`,
    '',
    `Machine: ${machineDescription()}. ${seconds} s per workload after ${warmupSeconds} s warm-up, median of ${repeat} rounds alternating the order of the systems; one client process drives both systems with the same loop (16-byte keys, 256-byte values, every write fsynced by a quorum before it is acknowledged; gets linearizable on both). Numbers are noisy on a shared 2-core machine: all three nodes, the load generator and other work share the cores. PhantomDB nodes and client run ${build.kind === 'compiled (tsc)' ? 'compiled by tsc, as the image ships them' : 'from source through tsx (BENCH_FROM_SOURCE=1)'}.`,
    '',
    '| workload | PhantomDB ops/s | p50 ms | p99 ms | etcd ops/s | p50 ms | p99 ms | PhantomDB / etcd |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const workload of ['put-c1', 'put-c16', 'put-c64', 'get-c64']) {
    const p = find(workload, 'phantomdb');
    const e = find(workload, 'etcd');
    if (p === undefined || e === undefined) continue;
    lines.push(`| ${workload} | ${fmt(p.opsPerSec)} | ${fmt(p.p50Ms ?? 0, 2)} | ${fmt(p.p99Ms ?? 0, 2)} | ${fmt(e.opsPerSec)} | ${fmt(e.p50Ms ?? 0, 2)} | ${fmt(e.p99Ms ?? 0, 2)} | ${fmt(p.opsPerSec / Math.max(1, e.opsPerSec), 2)}× |`);
  }
  const p64 = find('put-c64', 'phantomdb');
  const e64 = find('put-c64', 'etcd');
  if (p64 !== undefined && e64 !== undefined) {
    const throughputMet = p64.opsPerSec >= e64.opsPerSec;
    const latencyMet = (p64.p99Ms ?? Infinity) <= 1.5 * (e64.p99Ms ?? 0);
    lines.push(
      '',
      `Target (put-c64: throughput ≥ 1.0× etcd and p99 ≤ 1.5× etcd's): throughput ${fmt(p64.opsPerSec / Math.max(1, e64.opsPerSec), 2)}× — ${throughputMet ? 'met' : 'NOT met'}; p99 ${fmt((p64.p99Ms ?? 0) / Math.max(0.001, e64.p99Ms ?? 0), 2)}× — ${latencyMet ? 'met' : 'NOT met'}.`,
    );
  }
  lines.push('', '### Cost of metrics (same run: metrics on and scraped every second, vs PHANTOMDB_METRICS=off)', '', '| workload | metrics on ops/s | metrics off ops/s | overhead |', '|---|---:|---:|---:|');
  for (const workload of ['put-c1', 'put-c16', 'put-c64', 'get-c64']) {
    const on = find(workload, 'phantomdb');
    const off = find(workload, 'phantomdb-metrics-off');
    if (on === undefined || off === undefined) continue;
    lines.push(`| ${workload} | ${fmt(on.opsPerSec)} | ${fmt(off.opsPerSec)} | ${fmt((1 - on.opsPerSec / Math.max(1, off.opsPerSec)) * 100, 1)}% |`);
  }
  const on64 = find('put-c64', 'phantomdb');
  const off64 = find('put-c64', 'phantomdb-metrics-off');
  if (on64 !== undefined && off64 !== undefined) {
    const overhead = (1 - on64.opsPerSec / Math.max(1, off64.opsPerSec)) * 100;
    lines.push('', `Target (put-c64 throughput with metrics within 3% of without): ${fmt(overhead, 1)}% — ${overhead < 3 ? 'met' : 'NOT met'}. Median of ${repeat} alternating rounds; rounds on a shared machine can still differ by more than 3% (see roundsOpsPerSec in bench/results/raft.json).`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-bench-raft-'));
  try {
    // Rounds alternate the order of the systems so that drift on a shared machine (other work,
    // page cache, thermal) does not favour one; each row reports the median round.
    const rounds: BenchRow[][] = [];
    for (let round = 0; round < repeat; round++) {
      console.log(`round ${round + 1} of ${repeat}`);
      const order = round % 2 === 0 ? [true, false] : [false, true];
      const roundDir = path.join(baseDir, `round-${round}`);
      fs.mkdirSync(roundDir);
      const rows: BenchRow[] = [];
      for (const metrics of order) rows.push(...(await benchPhantomDb(roundDir, metrics)));
      rows.push(...(await benchEtcd(roundDir)));
      rounds.push(rows);
      fs.rmSync(roundDir, { recursive: true, force: true });
    }
    const rows = medianRows(rounds);
    const file = writeResult('raft', { machine: machineDescription(), build: build.kind, startedAt: new Date().toISOString(), seconds, rounds: repeat, rows });
    updateBenchmarksDoc('raft', table(rows));
    console.log(`wrote ${file} and docs/benchmarks.md`);
  } finally {
    fs.rmSync(baseDir, { recursive: true, force: true });
  }
}

await main();
