/**
 * `npm run bench:scale` (issue 5 §5): load BENCH_SCALE_BYTES into a 3-node PhantomDB cluster on
 * loopback, measure steady writes at 3 nodes, join 2 more nodes and measure the clients while data
 * moves and the time until the replicas are balanced, then measure steady writes at 5 nodes.
 * Writes bench/results/scale.json and a section of docs/benchmarks.md. Run with --help for the knobs.
 *
 * It measures what the nodes really do: when the node has a rebalance bandwidth flag
 * (--snapshot-rate-bytes, from the placement driver), every node gets BENCH_SCALE_SNAPSHOT_RATE
 * and the copy rate is compared with it; without the flag the benchmark still runs and says the
 * limit is not measurable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AdminClient } from '../datanode/src/admin/client.ts';
import type { ClusterStatus } from '../datanode/src/admin/backend.ts';
import { KvClient } from '../datanode/src/kv/client.ts';
import { nodeBuild, type NodeBuild } from './build.ts';
import { fmt, helpRequested, machineDescription, percentile, processCpuSeconds, repoRoot, updateBenchmarksDoc, UsageError, writeResult, type BenchRow } from './common.ts';

/** The node processes run compiled by tsc, as the image ships them (bench/build.ts); set in main(). */
let build: NodeBuild | undefined;

const help = `npm run bench:scale — PhantomDB scale-out benchmark (issue 5 §5)

Loads data into 3 data nodes, measures steady writes (steady-3), joins 2 nodes with --join and
measures the clients while replicas move (during-rebalance) and the time until every node holds
within ±10% of the mean replica count (ClusterStatus), no range has a learner left (RangeList:
the data was copied) and no user range has more voters than its replication factor (every move
finished), then measures steady writes at 5 nodes
(steady-5). Results: bench/results/scale.json and docs/benchmarks.md.

Environment (sizes accept KiB, MiB, GiB suffixes):
  BENCH_SCALE_BYTES            data loaded before the measurements (default 1GiB)
  BENCH_SCALE_RANGE_MAX_BYTES  --range-max-bytes of the nodes (default 64MiB)
  BENCH_SCALE_LOAD_VALUE_BYTES value size while loading (default 16KiB)
  BENCH_SCALE_CLIENTS          concurrent writers, loading and measuring (default 16)
  BENCH_SECONDS                measured seconds of steady-3 and steady-5 (default 10)
  BENCH_SCALE_BALANCE_TIMEOUT  seconds to wait for balance after the join (default 900)
  BENCH_SCALE_SNAPSHOT_RATE    the nodes' rebalance bandwidth limit, --snapshot-rate-bytes (default 16MiB)
  BENCH_SCALE_WATCH_SECONDS    how often the rebalance watcher polls ClusterStatus and the nodes' /metrics
                               (default 2; the operator polls every few seconds, Prometheus every 15-30 s)
  BENCH_SCALE_SETTLE_SECONDS   before each steady workload, wait at most this long (default 60) for the
                               nodes' background work after the load or the rebalance to die down
  BENCH_NODE_FLAGS             extra Node.js flags of the node processes, space-separated (e.g. --cpu-prof
                               --cpu-prof-dir=/tmp/prof: profiles written when the nodes stop)
  KEEP_BENCH_DIRS=1            keep the nodes' data directories and logs (printed at the end)
  BENCH_FROM_SOURCE=1          run the nodes from source through tsx (default: compiled by tsc, as shipped)
  BENCH_SCALE_RANGE_CACHE=0    the benchmark's client without its range cache (every write to the last
                               node that served one, which forwards most of them): to compare
  BENCH_SCALE_CLIENT_ENDPOINTS=initial  during the rebalance the client keeps only nodes 1-3 as endpoints
                               (default: it is given nodes 4 and 5 too once they started, as a client
                               with service discovery would be; without them every write of a range
                               whose lease moved to a new node is forwarded by an old node): to compare

Measured writes are 256-byte values over the loaded keys (every range). CPU is utime+stime of
every node process (/proc/<pid>/stat) per 1,000 acknowledged writes. Ctrl-C stops the nodes and
removes the temporary directory.`;

const MiB = 1024 * 1024;

function parseSize(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kib|k|mib|m|gib|g)?\s*$/i.exec(raw);
  if (match === null) throw new UsageError(`${name}=${raw}: expected a size such as 16MiB, 1GiB or a byte count`);
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? MiB : unit.startsWith('g') ? 1024 * MiB : 1;
  return Math.round(Number(match[1]) * factor);
}

function parseNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new UsageError(`${name}=${raw}: expected a number ≥ ${min}`);
  return value;
}


interface Settings {
  readonly loadBytes: number;
  readonly rangeMaxBytes: number;
  readonly loadValueBytes: number;
  readonly clients: number;
  readonly seconds: number;
  readonly balanceTimeoutSeconds: number;
  /** --snapshot-rate-bytes of every node: the rebalance bandwidth limit (when the node has the flag). */
  readonly snapshotRateBytes: number;
  /** At most this long, the nodes' background work may settle before a steady workload. */
  readonly settleSeconds: number;
  /** How often the rebalance watcher polls (s): it scrapes every node and asks for the cluster status, work the nodes and the load generator do during the window it judges. */
  readonly watchSeconds: number;
}

function settingsFromEnv(): Settings {
  const settings: Settings = {
    loadBytes: parseSize('BENCH_SCALE_BYTES', 1024 * MiB),
    rangeMaxBytes: parseSize('BENCH_SCALE_RANGE_MAX_BYTES', 64 * MiB),
    loadValueBytes: parseSize('BENCH_SCALE_LOAD_VALUE_BYTES', 16 * 1024),
    clients: Math.round(parseNumber('BENCH_SCALE_CLIENTS', 16, 1)),
    seconds: parseNumber('BENCH_SECONDS', 10, 1),
    balanceTimeoutSeconds: parseNumber('BENCH_SCALE_BALANCE_TIMEOUT', 900, 1),
    snapshotRateBytes: parseSize('BENCH_SCALE_SNAPSHOT_RATE', 16 * MiB),
    settleSeconds: parseNumber('BENCH_SCALE_SETTLE_SECONDS', 60, 0),
    watchSeconds: parseNumber('BENCH_SCALE_WATCH_SECONDS', 2, 0.1),
  };
  if (settings.rangeMaxBytes < 1024) throw new UsageError('BENCH_SCALE_RANGE_MAX_BYTES must be at least 1KiB (the node refuses less)');
  if (settings.loadValueBytes < 1 || settings.loadValueBytes > MiB) throw new UsageError('BENCH_SCALE_LOAD_VALUE_BYTES must be between 1 byte and 1MiB (the node default value limit)');
  if (settings.loadBytes < settings.loadValueBytes) throw new UsageError('BENCH_SCALE_BYTES must be at least one load value');
  return settings;
}

// ---------------------------------------------------------------------------------------------
// Processes, cleanup

interface BenchNode {
  readonly id: number;
  readonly raftPort: number;
  readonly kvPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  readonly child: ChildProcess;
}

const clusterId = 'bench-scale';
const nodes: BenchNode[] = [];
let baseDir: string | undefined;
const startedAtMs = performance.now();

function progress(line: string): void {
  console.log(`[${((performance.now() - startedAtMs) / 1000).toFixed(1).padStart(7)} s] ${line}`);
}

/** Ports already handed out: the kernel may offer a closed one again. */
const portsHandedOut = new Set<number>();

async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (address === null || typeof address === 'string') throw new Error('no free port');
    if (portsHandedOut.has(address.port)) continue;
    portsHandedOut.add(address.port);
    return address.port;
  }
  throw new Error('no unused port after 100 attempts');
}

/** BENCH_NODE_FLAGS: extra Node.js flags for the node processes (e.g. --cpu-prof --cpu-prof-dir=DIR; NODE_OPTIONS refuses --cpu-prof). */
function nodeFlags(): string[] {
  return (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
}

const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** Flags every node gets besides its own (the rebalance bandwidth limit, once known). */
const commonNodeArgs: string[] = [];

async function startNode(id: number, membershipArgs: readonly string[], rangeMaxBytes: number, raftPortChosen?: number): Promise<BenchNode> {
  if (baseDir === undefined) throw new Error('no base directory');
  const dataDir = path.join(baseDir, `node-${id}`);
  const logFile = path.join(baseDir, `node-${id}.log`);
  const raftPort = raftPortChosen ?? (await freePort());
  const [kvPort, httpPort] = [await freePort(), await freePort()];
  const log = fs.openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [...nodeFlags(), ...(build?.nodeArgs ?? []), 'start', '--node-id', String(id), '--cluster-id', clusterId, '--data-dir', dataDir,
      '--grpc-listen', `127.0.0.1:${raftPort}`, '--kv-listen', `127.0.0.1:${kvPort}`, '--http-listen', `127.0.0.1:${httpPort}`,
      '--range-max-bytes', String(rangeMaxBytes), ...commonNodeArgs, ...membershipArgs],
    // Stamped log lines: a rebalance's phases (copy started, snapshot sent, installed, promoted) can be timed from them.
    { cwd: repoRoot, stdio: ['ignore', log, log], env: { ...process.env, PHANTOMDB_LOG_TIME: '1' } },
  );
  fs.closeSync(log);
  const node: BenchNode = { id, raftPort, kvPort, httpPort, dataDir, logFile, child };
  nodes.push(node);
  child.once('exit', (code, signal) => {
    if (!stopping) progress(`node ${id} exited unexpectedly (code ${code}, signal ${signal}); its log: ${logFile}\n${logTail(node)}`);
  });
  return node;
}

function logTail(node: BenchNode): string {
  try {
    const text = fs.readFileSync(node.logFile, 'utf8');
    return text.slice(-3000);
  } catch {
    return '(no log)';
  }
}

let stopping = false;

async function stopNodes(): Promise<void> {
  stopping = true;
  await Promise.all(
    nodes.map(
      (node) =>
        new Promise<void>((resolve) => {
          if (!running(node.child)) {
            resolve();
            return;
          }
          node.child.once('exit', () => resolve());
          node.child.kill('SIGTERM');
          setTimeout(() => node.child.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  );
}

function removeBaseDir(): void {
  if (baseDir === undefined) return;
  if (process.env.KEEP_BENCH_DIRS === '1') {
    console.log(`kept data directories and node logs in ${baseDir}`);
    return;
  }
  fs.rmSync(baseDir, { recursive: true, force: true });
}

/** Stays installed: Ctrl-C reaches this process again through npm and tsx relaying it. */
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) return;
  console.error(`\n${signal}: stopping the nodes and removing ${baseDir ?? 'the temporary directory'}`);
  stopping = true;
  const exits = nodes
    .filter((node) => running(node.child))
    .map((node) => {
      const exited = new Promise<void>((resolve) => node.child.once('exit', () => resolve()));
      node.child.kill('SIGKILL');
      return exited;
    });
  // The directory is removed only once no node can write into it any more.
  const bound = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
  void Promise.race([Promise.all(exits), bound]).then(() => {
    try {
      removeBaseDir();
    } catch (err) {
      console.error(`could not remove ${baseDir ?? ''}: ${err instanceof Error ? err.message : String(err)}`);
    }
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------
// Measurements

const cpuOfNodes = (group: readonly BenchNode[]): number => group.reduce((sum, node) => sum + processCpuSeconds(node.child.pid), 0);

function dirBytes(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(file);
    else {
      try {
        total += fs.statSync(file).size;
      } catch {
        // removed between listing and stat (compaction): not counted
      }
    }
  }
  return total;
}

/** Throws with the node's log when a node process is gone: its numbers would mean nothing. */
function assertNodesRunning(during: string): void {
  const dead = nodes.find((node) => !running(node.child));
  if (dead !== undefined) throw new Error(`node ${dead.id} exited during ${during}; its log (${dead.logFile}):\n${logTail(dead)}`);
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    const dead = nodes.find((node) => !running(node.child));
    if (dead !== undefined) throw new Error(`node ${dead.id} exited while waiting for ${what}; its log (${dead.logFile}):\n${logTail(dead)}`);
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError === '' ? '' : ` (last error: ${lastError})`}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface DriveResult {
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly latencies: number[];
  readonly firstError: string;
  /**
   * Event-loop delay of this process (the load generator) while it drove: p99 and max in ms. A
   * stall here (e.g. the rebalance watcher parsing /metrics) adds to every latency it measures.
   */
  readonly generatorDelayMs: { readonly p99: number; readonly max: number };
}

/** `clients` concurrent loops of `op` until `until()` says stop (checked before every op). */
async function drive(clients: number, until: () => boolean, op: (n: number) => Promise<unknown>): Promise<DriveResult> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  let firstError = '';
  const begin = performance.now();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!until()) {
        const n = counter++;
        const t0 = performance.now();
        try {
          await op(n);
          latencies.push(performance.now() - t0);
        } catch (err) {
          errors++;
          if (firstError === '') firstError = err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  delay.disable();
  const generatorDelayMs = { p99: round2(delay.percentile(99) / 1e6), max: round2(delay.max / 1e6) };
  return { ops: latencies.length, errors, seconds: (performance.now() - begin) / 1000, latencies, firstError, generatorDelayMs };
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

interface Loaded {
  readonly keys: number;
  readonly bytes: number;
  readonly seconds: number;
}

const keyOf = (index: number): string => `k-${String(index).padStart(10, '0')}`;

/** Loads `bytes` as `valueBytes` values under keys spread over the key space (a permutation of indexes). */
async function load(client: KvClient, admin: AdminClient, settings: Settings): Promise<Loaded> {
  let keys = Math.ceil(settings.loadBytes / settings.loadValueBytes);
  if (keys % 7919 === 0) keys++;
  const value = Buffer.alloc(settings.loadValueBytes, 0x62);
  let next = 0;
  let done = 0;
  const begin = performance.now();
  let lastReport = begin;
  let reporting = false;
  const report = async (): Promise<void> => {
    if (reporting) return;
    reporting = true;
    const ranges = await admin.clusterStatus({ deadlineMs: 3000 }).then((s) => String(s.ranges), () => '?');
    const elapsed = (performance.now() - begin) / 1000;
    progress(`loading: ${fmt((done * settings.loadValueBytes) / MiB, 1)} of ${fmt((keys * settings.loadValueBytes) / MiB, 1)} MiB (${fmt((done * settings.loadValueBytes) / MiB / Math.max(0.001, elapsed), 2)} MiB/s), ${ranges} user ranges`);
    reporting = false;
  };
  await Promise.all(
    Array.from({ length: settings.clients }, async () => {
      while (next < keys) {
        const index = (next++ * 7919) % keys;
        // A load write must land: retry it (a put is idempotent) rather than load less than asked.
        for (let attempt = 1; ; attempt++) {
          assertNodesRunning('loading');
          try {
            await client.put(keyOf(index), value, { deadlineMs: 30_000 });
            break;
          } catch (err) {
            if (attempt >= 5) throw new Error(`loading key ${keyOf(index)} failed ${attempt} times: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
          }
        }
        done++;
        if (performance.now() - lastReport > 5000) {
          lastReport = performance.now();
          void report();
        }
      }
    }),
  );
  await report();
  return { keys, bytes: keys * settings.loadValueBytes, seconds: (performance.now() - begin) / 1000 };
}

interface Steady {
  readonly row: BenchRow;
  readonly cpuSeconds: number;
}

const measuredValue = Buffer.alloc(256, 0x61);

/** Node CPU per node and second below which a group counts as idle (measured: 0.02-0.04 on a settled node). */
const settledCpuPerNode = 0.05;

/**
 * Waits (at most `settings.settleSeconds`) until the nodes' background work after loading or a
 * rebalance (compactions, log truncation, replica cleanup) has died down: their CPU over 2 s
 * windows without clients is at the idle level, or stopped falling. Otherwise that work, a cost
 * of the load or the move, would be counted against the steady writes measured next.
 */
async function settle(group: readonly BenchNode[], settings: Settings): Promise<{ seconds: number; cpuSecondsPerSecond: number }> {
  const begin = performance.now();
  let previous = Number.POSITIVE_INFINITY;
  for (;;) {
    const before = cpuOfNodes(group);
    const at = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rate = (cpuOfNodes(group) - before) / ((performance.now() - at) / 1000);
    const seconds = (performance.now() - begin) / 1000;
    if (rate <= settledCpuPerNode * group.length || rate >= 0.85 * previous || seconds >= settings.settleSeconds) return { seconds: round2(seconds), cpuSecondsPerSecond: round2(rate) };
    previous = rate;
  }
}

/** The nodes settle (settle()), 3 s idle (the nodes' CPU without clients), 1 s of warm-up, then `seconds` measured, CPU of every node process over the measured part. */
async function steady(workload: string, client: KvClient, group: readonly BenchNode[], keys: number, settings: Settings): Promise<Steady> {
  const settled = await settle(group, settings);
  progress(`${workload}: settled after ${fmt(settled.seconds, 1)} s (nodes' CPU without clients ${fmt(settled.cpuSecondsPerSecond, 2)} CPU s/s)`);
  const raftFsyncs = (): Promise<number> => metricSumWhere('phantomdb_wal_fsync_duration_seconds_count', { log: 'raft' });
  const idleFsyncsBefore = await raftFsyncs();
  const idleCpuBefore = cpuOfNodes(group);
  const idleBegin = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const idleCpuSecondsPerSecond = round2((cpuOfNodes(group) - idleCpuBefore) / ((performance.now() - idleBegin) / 1000));
  const idleFsyncsPerSecond = round2(((await raftFsyncs()) - idleFsyncsBefore) / ((performance.now() - idleBegin) / 1000));
  const put = (n: number): Promise<void> => client.put(keyOf((n * 104_729) % keys), measuredValue);
  const warmEnd = performance.now() + 1000;
  await drive(settings.clients, () => performance.now() >= warmEnd, put);
  const putsBefore = await kvPutsServed();
  const countersBefore = await Promise.all(perWriteCounters.map(([metric, labels]) => metricSumWhere(metric, labels)));
  const cpuBefore = cpuOfNodes(group);
  const end = performance.now() + settings.seconds * 1000;
  const result = await drive(settings.clients, () => performance.now() >= end, put);
  const cpu = cpuOfNodes(group) - cpuBefore;
  const puts = (await kvPutsServed()) - putsBefore;
  const countersAfter = await Promise.all(perWriteCounters.map(([metric, labels]) => metricSumWhere(metric, labels)));
  // What the nodes did per 1,000 writes (counts do not depend on how loaded the machine is).
  const per1kWrites = Object.fromEntries(perWriteCounters.map(([metric, labels], i) => [`${metric}${Object.keys(labels).length === 0 ? '' : JSON.stringify(labels)}`, result.ops === 0 ? null : round2((((countersAfter[i] ?? 0) - (countersBefore[i] ?? 0)) / result.ops) * 1000)]));
  assertNodesRunning(workload);
  progress(`${workload} per 1,000 writes: ${Object.entries(per1kWrites).map(([metric, value]) => `${metric.replace(/^phantomdb_/, '')} ${value ?? '—'}`).join(', ')}`);
  // 1 when every write went straight to its range's leader; 2 when every one was forwarded.
  const kvRequestsPerWrite = result.ops + result.errors === 0 ? null : round2(puts / (result.ops + result.errors));
  const row = rowOf(workload, result, cpu, { kvRequestsPerWrite, settleSeconds: settled.seconds, idleCpuSecondsPerSecond, idleFsyncsPerSecond, per1kWrites });
  progress(`${workload}: ${fmt(row.opsPerSec)} writes/s, p50 ${fmt(row.p50Ms ?? 0, 2)} ms, p99 ${fmt(row.p99Ms ?? 0, 2)} ms, ${fmt(cpu, 2)} CPU s (${fmt(Number(row.cpuSecondsPer1kWrites), 3)} per 1,000 writes), ${kvRequestsPerWrite ?? '—'} KV requests per write, idle ${fmt(idleCpuSecondsPerSecond, 2)} CPU s/s and ${fmt(idleFsyncsPerSecond, 1)} Raft log fsyncs/s, load generator's event-loop delay p99 ${fmt(result.generatorDelayMs.p99, 1)} ms, ${result.errors} errors${result.firstError === '' ? '' : ` (first: ${result.firstError})`}`);
  return { row, cpuSeconds: cpu };
}

function rowOf(workload: string, result: DriveResult, cpu: number, extra: Record<string, unknown> = {}): BenchRow {
  return {
    workload,
    system: 'phantomdb',
    opsPerSec: Math.round(result.ops / Math.max(0.001, result.seconds)),
    p50Ms: round2(percentile(result.latencies, 50)),
    p99Ms: round2(percentile(result.latencies, 99)),
    cpuSecondsPer1kWrites: result.ops === 0 ? null : Math.round((cpu / result.ops) * 1000 * 1000) / 1000,
    writes: result.ops,
    errors: result.errors,
    seconds: round2(result.seconds),
    generatorEventLoopDelayP99Ms: result.generatorDelayMs.p99,
    generatorEventLoopDelayMaxMs: result.generatorDelayMs.max,
    ...extra,
  };
}

/** Every node of `expected` reported, each within ±10% of the mean replica count. */
/** BENCH_SCALE_RANGE_CACHE=0: the client without its range cache (for comparisons). */
const rangeCacheOption = process.env.BENCH_SCALE_RANGE_CACHE === '0' ? { rangeCacheEntries: 0 } : {};

/** The nodes' --replication-factor (their default): user ranges hold this many voters once moves finish. */
const replicationFactor = 3;

function balanced(status: ClusterStatus, expected: readonly number[]): boolean {
  const counts = expected.map((id) => status.nodes.find((node) => node.nodeId === id)?.replicas);
  if (counts.some((count) => count === undefined)) return false;
  const values = counts as number[];
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  // Within 10% of the mean, rounded outwards to whole replicas (the planner's and the operator's
  // band): 29 replicas on 5 nodes cannot all be within 5.8 ± 0.58.
  return mean > 0 && values.every((count) => count >= Math.floor(0.9 * mean) && count <= Math.ceil(1.1 * mean));
}

const replicaSummary = (status: ClusterStatus): string => status.nodes.map((node) => `n${node.nodeId} ${node.membership.toLowerCase()} ${node.replicas}r/${node.leases}l`).join(', ');

/** The sum of an unlabelled (but for `node`) metric over every node's /metrics (a node that does not answer counts 0). */
async function metricSum(name: string): Promise<number> {
  const pattern = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm');
  const values = await Promise.all(
    nodes.map(async (node) => {
      try {
        const response = await fetch(`http://127.0.0.1:${node.httpPort}/metrics`, { signal: AbortSignal.timeout(3000) });
        if (!response.ok) return 0;
        const match = pattern.exec(await response.text());
        return match === null ? 0 : Number(match[1]);
      } catch {
        return 0;
      }
    }),
  );
  return values.reduce((a, b) => a + b, 0);
}

/** The sum over every node's /metrics of the series of `name` whose labels include all of `labels`. */
async function metricSumWhere(name: string, labels: Readonly<Record<string, string>>): Promise<number> {
  const wanted = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  const values = await Promise.all(
    nodes.map(async (node) => {
      try {
        const response = await fetch(`http://127.0.0.1:${node.httpPort}/metrics`, { signal: AbortSignal.timeout(3000) });
        if (!response.ok) return 0;
        let sum = 0;
        for (const line of (await response.text()).split('\n')) {
          if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
          const labelText = line.startsWith(`${name}{`) ? line.slice(name.length + 1, line.lastIndexOf('}')) : '';
          if (wanted.every((pair) => labelText.includes(pair))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
        return sum;
      } catch {
        return 0;
      }
    }),
  );
  return values.reduce((a, b) => a + b, 0);
}

/** Counters of every node reported per 1,000 measured writes in the steady rows. */
const perWriteCounters: readonly (readonly [string, Readonly<Record<string, string>>])[] = [
  ['phantomdb_raft_log_fsyncs_total', {}],
  ['phantomdb_raft_log_appends_total', {}],
  ['phantomdb_transport_messages_total', { direction: 'sent' }],
  ['phantomdb_transport_bytes_total', { direction: 'sent' }],
  ['phantomdb_transport_frames_total', { direction: 'sent' }],
  ['phantomdb_storage_compaction_seconds_total', {}],
  ['phantomdb_storage_flushes_total', {}],
  ['phantomdb_requests_total', {}],
];

/** KV Put requests the nodes answered (a forwarded write counts on both nodes it passed through). */
const kvPutsServed = (): Promise<number> => metricSumWhere('phantomdb_requests_total', { api: 'kv', method: 'Put' });

/**
 * When replica copies were running (phantomdb_rebalance_copies_in_flight of the nodes, sampled by
 * the balance watcher): the sampled time with at least one copy in flight, and the first and last
 * sample that saw one. Resolution: one watcher pass (about half a second).
 */
class CopyWindow {
  inFlightMs = 0;
  firstSeenMs: number | undefined;
  lastSeenMs: number | undefined;
  private lastSample: { atMs: number; copies: number } | undefined;

  sample(atMs: number, copies: number): void {
    if (this.lastSample !== undefined && this.lastSample.copies > 0) this.inFlightMs += atMs - this.lastSample.atMs;
    if (copies > 0) {
      this.firstSeenMs ??= atMs;
      this.lastSeenMs = atMs;
    }
    this.lastSample = { atMs, copies };
  }
}

/** The node's own flag for a rebalance bandwidth limit, if its usage text names one. */
async function bandwidthFlag(): Promise<string | undefined> {
  const { startUsage } = await import('../datanode/src/node/start.ts');
  return /--[a-z-]*(?:bandwidth|bytes-per-sec|snapshot-rate|rebalance-rate)[a-z-]*/.exec(startUsage)?.[0];
}

interface Rebalance {
  readonly row: BenchRow;
  readonly balancedAfterSeconds: number | null;
  readonly bytesMoved: number;
}

/** Joins nodes 4 and 5 and drives the clients until the replicas are balanced (or the wait ends). */
async function joinAndRebalance(client: KvClient, admin: AdminClient, keys: number, settings: Settings, flag: string | undefined): Promise<Rebalance> {
  const first = nodes[0];
  if (first === undefined) throw new Error('no nodes');
  const put = (n: number): Promise<void> => client.put(keyOf((n * 104_729) % keys), measuredValue);
  const before = cpuOfNodes(nodes.slice(0, 3));
  const oldNodeDataDirBytesAtJoin = dirBytes(first.dataDir);
  const snapshotBytesBefore = await metricSum('phantomdb_raft_snapshot_sent_bytes_total');
  const copies = new CopyWindow();
  const joinedAt = performance.now();
  const putsBefore = await kvPutsServed();
  const joining = [await startNode(4, ['--join', `127.0.0.1:${first.kvPort}`], settings.rangeMaxBytes), await startNode(5, ['--join', `127.0.0.1:${first.kvPort}`], settings.rangeMaxBytes)];
  // The client learns the joined nodes' addresses (steady-5's client has all five), so that a range
  // whose lease moves to a new node is written there directly rather than through an old node.
  const clientLearnsNodes = process.env.BENCH_SCALE_CLIENT_ENDPOINTS !== 'initial';
  if (clientLearnsNodes) client.setEndpoints(nodes.map((n) => `127.0.0.1:${n.kvPort}`));
  progress(`joining nodes 4 and 5 (--join 127.0.0.1:${first.kvPort}); driving ${settings.clients} writers until balanced (at most ${settings.balanceTimeoutSeconds} s)`);
  let balancedAt: number | undefined;
  let countsBalancedAt: number | undefined;
  let learnersLeft: number | undefined;
  let movesFinishing: number | undefined;
  let lastStatus: ClusterStatus | undefined;
  const deadline = joinedAt + settings.balanceTimeoutSeconds * 1000;
  let stop = false;
  const watcher = (async () => {
    let lastReport = 0;
    while (!stop) {
      copies.sample(performance.now(), await metricSum('phantomdb_rebalance_copies_in_flight'));
      const status = await admin.clusterStatus({ deadlineMs: 5000 }).catch(() => undefined);
      if (status !== undefined) {
        lastStatus = status;
        if (balanced(status, [1, 2, 3, 4, 5])) {
          countsBalancedAt ??= performance.now();
          // A replica counts in ClusterStatus as soon as it is a member, before its snapshot
          // arrived; a learner is promoted only once caught up, so the data has moved when no
          // range still has a learner.
          const ranges = await admin.rangeList({ deadlineMs: 5000 }).catch(() => undefined);
          if (ranges !== undefined) {
            learnersLeft = ranges.reduce((sum, range) => sum + range.replicas.filter((replica) => !replica.voter).length, 0);
            // A move promotes the new replica before it removes the old one: a user range with
            // more voters than the replication factor is still moving.
            movesFinishing = ranges.filter((range) => !range.meta && range.replicas.filter((replica) => replica.voter).length > replicationFactor).length;
            if (learnersLeft === 0 && movesFinishing === 0) {
              balancedAt = performance.now();
              stop = true;
              break;
            }
          }
        }
      }
      const dead = nodes.find((node) => !running(node.child));
      if (dead !== undefined) {
        stop = true;
        throw new Error(`node ${dead.id} exited during the rebalance; its log (${dead.logFile}):\n${logTail(dead)}`);
      }
      if (performance.now() > deadline) {
        stop = true;
        break;
      }
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        const moved = joining.reduce((sum, node) => sum + dirBytes(node.dataDir), 0);
        progress(`rebalancing: ${status === undefined ? 'no ClusterStatus answer' : replicaSummary(status)}${learnersLeft === undefined ? '' : `; ${learnersLeft} learner replicas not caught up`}${movesFinishing === undefined || movesFinishing === 0 ? '' : `; ${movesFinishing} ranges with a voter still to remove`}; new nodes hold ${fmt(moved / MiB, 1)} MiB`);
      }
      // Polled every 2 s by default (was 0.5 s): each poll scrapes every node's /metrics (parsed
      // here, in the load generator) and builds a ClusterStatus on the meta leader — load on the
      // very processes whose latency this window judges, four times what the operator adds.
      await new Promise((resolve) => setTimeout(resolve, settings.watchSeconds * 1000));
    }
  })();
  const [result] = await Promise.all([drive(settings.clients, () => stop, put), watcher]);
  const newNodesDataDirBytes = joining.reduce((sum, node) => sum + dirBytes(node.dataDir), 0);
  // The placement driver counts the snapshot bytes of its moves; until it runs, nothing counts
  // snapshot bytes (the transport's byte counters leave snapshot streams out): the joining nodes'
  // data directories are the measure then.
  // Bytes moved: what the snapshot streams really carried (paced by --snapshot-rate-bytes); the
  // driver's own count (range sizes as their leaders estimate them) is kept beside it.
  const snapshotBytesSent = (await metricSum('phantomdb_raft_snapshot_sent_bytes_total')) - snapshotBytesBefore;
  const driverBytes = await metricSum('phantomdb_rebalance_bytes_total');
  const bytesMoved = snapshotBytesSent > 0 ? snapshotBytesSent : driverBytes > 0 ? driverBytes : newNodesDataDirBytes;
  const bytesMovedSource =
    snapshotBytesSent > 0
      ? 'phantomdb_raft_snapshot_sent_bytes_total of every node since the join (bytes the snapshot streams carried)'
      : driverBytes > 0
        ? 'phantomdb_rebalance_bytes_total of every node (range sizes of the replica moves, as estimated by their leaders)'
        : "growth of the joining nodes' data directories (no snapshot byte counter): includes their WAL and Raft log besides the data, and their share of the writes made meanwhile";
  const finalRanges = await admin.rangeList({ deadlineMs: 5000 }).catch(() => undefined);
  const voterCounts = (finalRanges ?? []).filter((range) => !range.meta).map((range) => range.replicas.filter((replica) => replica.voter).length);
  const votersPerUserRange = voterCounts.length === 0 ? null : Math.min(...voterCounts) === Math.max(...voterCounts) ? String(voterCounts[0]) : `${Math.min(...voterCounts)}–${Math.max(...voterCounts)}`;
  const cpu = cpuOfNodes(nodes) - before;
  const seconds = ((balancedAt ?? performance.now()) - joinedAt) / 1000;
  const balancedAfterSeconds = balancedAt === undefined ? null : round2(seconds);
  const copiesInFlightSeconds = copies.inFlightMs / 1000;
  const rateOver = (windowSeconds: number | null): number | null => (windowSeconds === null || windowSeconds <= 0 ? null : round2(bytesMoved / MiB / windowSeconds));
  const puts = (await kvPutsServed()) - putsBefore;
  // 1 when every write went straight to its range's leader; 2 when every one was forwarded.
  const kvRequestsPerWrite = result.ops + result.errors === 0 ? null : round2(puts / (result.ops + result.errors));
  const row = rowOf('during-rebalance', result, cpu, {
    kvRequestsPerWrite,
    clientEndpoints: clientLearnsNodes ? 'nodes 1-5 once 4 and 5 started' : 'nodes 1-3',
    balancedAfterSeconds,
    replicaCountsBalancedAfterSeconds: countsBalancedAt === undefined ? null : round2((countsBalancedAt - joinedAt) / 1000),
    learnerReplicasLeft: learnersLeft ?? null,
    votersPerUserRange,
    balanceWaitSeconds: settings.balanceTimeoutSeconds,
    watchSeconds: settings.watchSeconds,
    // The target's measure: bytes moved over the whole time from the join until balanced.
    rebalanceMiBps: round2(bytesMoved / MiB / Math.max(0.001, seconds)),
    // The same bytes over the time copies were in flight (sampled), and from the first copy seen to the last.
    rebalanceMiBpsWhileCopying: rateOver(copiesInFlightSeconds),
    copiesInFlightSeconds: round2(copiesInFlightSeconds),
    firstCopyAfterSeconds: copies.firstSeenMs === undefined ? null : round2((copies.firstSeenMs - joinedAt) / 1000),
    lastCopyAfterSeconds: copies.lastSeenMs === undefined ? null : round2((copies.lastSeenMs - joinedAt) / 1000),
    bytesMoved,
    bytesMovedSource,
    driverEstimatedBytes: driverBytes,
    newNodesDataDirBytes,
    newNodesDataDirPerByteMoved: bytesMoved > 0 ? round2(newNodesDataDirBytes / bytesMoved) : null,
    oldNodeDataDirBytesAtJoin,
    bandwidthLimitMiBps: flag === undefined ? null : round2(settings.snapshotRateBytes / MiB),
    bandwidthLimitNote:
      flag === undefined
        ? 'the data node has no flag to limit rebalance/snapshot bandwidth (snapshot streams can pace themselves, but nothing configures it)'
        : `every node started with ${flag} ${settings.snapshotRateBytes}`,
    replicasAfter: lastStatus === undefined ? null : Object.fromEntries(lastStatus.nodes.map((node) => [String(node.nodeId), { membership: node.membership, replicas: node.replicas, leases: node.leases }])),
  });
  progress(
    `during-rebalance: ${balancedAfterSeconds === null ? `NOT balanced within ${settings.balanceTimeoutSeconds} s` : `balanced after ${fmt(seconds, 1)} s`}; ${fmt(bytesMoved / MiB, 1)} MiB moved (${fmt(Number(row.rebalanceMiBps), 2)} MiB/s from the join, ${row.rebalanceMiBpsWhileCopying === null ? '—' : fmt(Number(row.rebalanceMiBpsWhileCopying), 2)} MiB/s over the ${fmt(copiesInFlightSeconds, 1)} s copies were in flight; first copy seen after ${row.firstCopyAfterSeconds === null ? '—' : `${fmt(Number(row.firstCopyAfterSeconds), 1)} s`}); new nodes' data dirs hold ${fmt(newNodesDataDirBytes / MiB, 1)} MiB; clients ${fmt(row.opsPerSec)} writes/s, p50 ${fmt(row.p50Ms ?? 0, 2)} ms, p99 ${fmt(row.p99Ms ?? 0, 2)} ms, ${kvRequestsPerWrite ?? '—'} KV requests per write (client endpoints: ${String(row.clientEndpoints)}) (load generator's event-loop delay p99 ${fmt(result.generatorDelayMs.p99, 1)} ms), ${result.errors} errors; ${lastStatus === undefined ? '' : replicaSummary(lastStatus)}`,
  );
  return { row, balancedAfterSeconds, bytesMoved };
}

// ---------------------------------------------------------------------------------------------
// Report

function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}

function table(rows: readonly BenchRow[], settings: Settings, loaded: Loaded, leaderSpread: string): string {
  const find = (workload: string): BenchRow | undefined => rows.find((r) => r.workload === workload);
  const s3 = find('steady-3');
  const rb = find('during-rebalance');
  const s5 = find('steady-5');
  const lines = [
    '## Scale-out: 3 → 5 data nodes (issue 5 §5)',
    '',
    `Machine: ${machineDescription()}. ${fmt(loaded.bytes / MiB, 0)} MiB loaded (${fmt(loaded.keys)} keys of ${fmt(settings.loadValueBytes / 1024, 0)} KiB in ${fmt(loaded.seconds, 0)} s) into 3 nodes with --range-max-bytes ${fmt(settings.rangeMaxBytes / MiB, 1)} MiB (${leaderSpread}); ${settings.clients} concurrent writers of 256-byte values over the loaded keys, ${settings.seconds} s per steady workload after 1 s of warm-up. CPU is utime+stime of every node process. All nodes and the load generator share the machine's cores, so throughput cannot grow with more nodes.`,
    '',
    '| workload | writes/s | p50 ms | p99 ms | CPU s per 1,000 writes | notes |',
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const row of [s3, rb, s5]) {
    if (row === undefined) continue;
    const cpu = typeof row.cpuSecondsPer1kWrites === 'number' ? fmt(row.cpuSecondsPer1kWrites, 3) : '—';
    let notes = `${String(row.errors)} errors`;
    if (row.workload === 'during-rebalance') {
      const after = row.balancedAfterSeconds;
      notes += `; ${typeof after === 'number' ? `balanced after ${fmt(after, 1)} s` : `not balanced within ${String(row.balanceWaitSeconds)} s`}, ${fmt(Number(row.bytesMoved) / MiB, 1)} MiB moved at ${fmt(Number(row.rebalanceMiBps), 2)} MiB/s; ${String(row.kvRequestsPerWrite ?? '—')} KV requests per write (client endpoints: ${String(row.clientEndpoints ?? '—')})`;
    }
    lines.push(`| ${row.workload} | ${fmt(row.opsPerSec)} | ${fmt(row.p50Ms ?? 0, 2)} | ${fmt(row.p99Ms ?? 0, 2)} | ${cpu} | ${notes} |`);
  }
  lines.push('', 'Targets:', '');
  const limit = rb?.bandwidthLimitMiBps;
  if (rb !== undefined && typeof limit === 'number' && limit > 0) {
    const share = Number(rb.rebalanceMiBps) / limit;
    lines.push(
      `- Rebalance copies at ≥ 50% of the configured bandwidth limit: ${fmt(Number(rb.rebalanceMiBps), 2)} MiB/s of ${fmt(limit, 2)} MiB/s = ${fmt(share * 100, 0)}% — ${verdict(share >= 0.5)}. Judged from the join until balanced (the new nodes' start, the first copy after ${typeof rb.firstCopyAfterSeconds === 'number' ? `${fmt(rb.firstCopyAfterSeconds, 1)} s` : '—'}, and the promotions and removals after the last copy included); over the ${fmt(Number(rb.copiesInFlightSeconds), 1)} s copies were in flight it is ${typeof rb.rebalanceMiBpsWhileCopying === 'number' ? `${fmt(rb.rebalanceMiBpsWhileCopying, 2)} MiB/s (${fmt((rb.rebalanceMiBpsWhileCopying / limit) * 100, 0)}%)` : '—'}. Bytes: ${String(rb.bytesMovedSource)}; the joining nodes' data directories then held ${typeof rb.newNodesDataDirPerByteMoved === 'number' ? `${fmt(rb.newNodesDataDirPerByteMoved, 2)}×` : '—'} the bytes moved.`,
    );
  } else lines.push(`- Rebalance copies at ≥ 50% of the configured bandwidth limit: not measurable yet — ${String(rb?.bandwidthLimitNote ?? 'no during-rebalance row')}. Measured copy rate: ${rb === undefined ? '—' : `${fmt(Number(rb.rebalanceMiBps), 2)} MiB/s`} (${String(rb?.bytesMovedSource ?? '')}; ${rb === undefined ? '' : `${fmt(Number(rb.bytesMoved) / MiB, 1)} MiB in all, while one of the first 3 nodes held ${fmt(Number(rb.oldNodeDataDirBytesAtJoin) / MiB, 1)} MiB on disk at the join`}).`);
  if (rb !== undefined && s3 !== undefined && (s3.p99Ms ?? 0) > 0) {
    const ratio = (rb.p99Ms ?? 0) / (s3.p99Ms ?? 1);
    lines.push(`- Client p99 during rebalance ≤ 2× the p99 before it: ${fmt(rb.p99Ms ?? 0, 2)} ms vs ${fmt(s3.p99Ms ?? 0, 2)} ms = ${fmt(ratio, 2)}× — ${verdict(ratio <= 2)}.`);
  } else {
    lines.push('- Client p99 during rebalance ≤ 2× the p99 before it: not measurable (no writes measured).');
  }
  if (s3 !== undefined && s5 !== undefined && typeof s3.cpuSecondsPer1kWrites === 'number' && typeof s5.cpuSecondsPer1kWrites === 'number' && s3.cpuSecondsPer1kWrites > 0) {
    const ratio = s5.cpuSecondsPer1kWrites / s3.cpuSecondsPer1kWrites;
    lines.push(`- CPU seconds of all node processes per 1,000 writes at 5 nodes ≤ 1.1× that at 3 nodes: ${fmt(s5.cpuSecondsPer1kWrites, 3)} vs ${fmt(s3.cpuSecondsPer1kWrites, 3)} = ${fmt(ratio, 2)}× — ${verdict(ratio <= 1.1)}${typeof rb?.votersPerUserRange === 'string' && rb.votersPerUserRange !== '3' ? ` (user ranges had ${rb.votersPerUserRange} voters at the end: moves were still finishing)` : ''}.`);
  } else {
    lines.push('- CPU per 1,000 writes at 5 nodes ≤ 1.1× that at 3 nodes: not measurable (no writes measured).');
  }
  const votersNote = typeof rb?.votersPerUserRange === 'string' ? `after the join: ${rb.votersPerUserRange} voters per user range` : 'voters per range after the join unknown';
  const countsNote = typeof rb?.replicaCountsBalancedAfterSeconds === 'number' ? `here after ${fmt(rb.replicaCountsBalancedAfterSeconds, 1)} s` : 'not reached here';
  lines.push(
    '',
    `What moves: the placement driver on the meta range's leader moves a share of the user ranges' replicas to the new nodes (learner, snapshot, promote, remove; ${votersNote}); the meta range is on every node. "Balanced" is ClusterStatus reporting every node within 10% of the mean replica count (rounded outwards to whole replicas, the planner's band) and RangeList showing no learner replica left (a learner is promoted only once caught up, so its data has arrived) and no user range with more voters than the replication factor (a move promotes before it removes: it is still finishing); ClusterStatus alone counts a replica as soon as it is a member (${countsNote}). Details per node (membership, replicas, leases) are in bench/results/scale.json.`,
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (helpRequested(help)) return 0;
  build = nodeBuild(progress);
  const settings = settingsFromEnv();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-bench-scale-'));
  progress(`settings: load ${fmt(settings.loadBytes / MiB, 1)} MiB as ${fmt(settings.loadValueBytes)}-byte values, --range-max-bytes ${fmt(settings.rangeMaxBytes / MiB, 1)} MiB, ${settings.clients} clients, ${settings.seconds} s per steady workload; nodes in ${baseDir}`);
  let client: KvClient | undefined;
  let admin: AdminClient | undefined;
  try {
    const flag = await bandwidthFlag();
    if (flag !== undefined) commonNodeArgs.push(flag, String(settings.snapshotRateBytes));
    const ids = [1, 2, 3];
    // Raft ports are chosen first so that --peers can name them.
    const raftPorts: number[] = [];
    for (const _ of ids) raftPorts.push(await freePort());
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${String(raftPorts[i])}`).join(',');
    for (const [i, id] of ids.entries()) await startNode(id, ['--peers', peers], settings.rangeMaxBytes, raftPorts[i]);
    client = new KvClient({ endpoints: nodes.map((n) => `127.0.0.1:${n.kvPort}`), clusterId, deadlineMs: 10_000, ...rangeCacheOption });
    admin = new AdminClient({ endpoints: nodes.map((n) => `127.0.0.1:${n.kvPort}`), clusterId });
    const kv = client;
    progress('waiting for the 3 nodes to elect leaders and accept writes');
    await waitFor('the 3-node cluster to accept a write', 120_000, async () => {
      await kv.put('bench-ready', 'yes', { deadlineMs: 3000 });
      return true;
    });
    const loaded = await load(client, admin, settings);
    const afterLoad = await admin.clusterStatus();
    const leaderSpread = `${afterLoad.ranges} user ranges after loading; leases ${afterLoad.nodes.map((n) => `n${n.nodeId} ${n.leases}`).join(', ')}`;
    progress(`loaded ${fmt(loaded.bytes / MiB, 1)} MiB in ${fmt(loaded.seconds, 1)} s; ${leaderSpread}`);

    const steady3 = await steady('steady-3', client, nodes.slice(0, 3), loaded.keys, settings);
    const rebalance = await joinAndRebalance(client, admin, loaded.keys, settings, flag);
    // The clients of steady-5 spread their requests over all five nodes, as steady-3's over three.
    client.close();
    client = new KvClient({ endpoints: nodes.map((n) => `127.0.0.1:${n.kvPort}`), clusterId, deadlineMs: 10_000, ...rangeCacheOption });
    const steady5 = await steady('steady-5', client, nodes, loaded.keys, settings);

    const rows = [{ ...steady3.row, ranges: afterLoad.ranges }, rebalance.row, steady5.row];
    const file = writeResult('scale', {
      machine: machineDescription(),
      build: build.kind,
      startedAt: new Date(Date.now() - (performance.now() - startedAtMs)).toISOString(),
      loadBytes: loaded.bytes,
      loadKeys: loaded.keys,
      loadSeconds: round2(loaded.seconds),
      loadValueBytes: settings.loadValueBytes,
      rangeMaxBytes: settings.rangeMaxBytes,
      clients: settings.clients,
      seconds: settings.seconds,
      rows,
    });
    updateBenchmarksDoc('scale', table(rows, settings, loaded, leaderSpread));
    progress(`wrote ${file} and docs/benchmarks.md`);
    return 0;
  } finally {
    client?.close();
    admin?.close();
    await stopNodes();
    removeBaseDir();
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`bench:scale: ${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(`bench:scale failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  }
}
