/**
 * Process-level test harness: real `phantomdb-node start` processes on loopback, their Raft
 * traffic routed through one FaultProxy per ordered pair of nodes (so a node can be cut off in
 * both directions), named timeouts, and polling instead of sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NodeStatus } from '../../datanode/src/http/server.ts';
import { installHostsOverride } from '../../datanode/src/node/hosts-override.ts';
import { afterEach, onTestFailed } from 'vitest';
import { FaultProxy } from './proxy.ts';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** Every wait in these tests, by name (CloudNativePG style). Generous: 2 shared cores. */
export const timeouts = {
  processStart: 30_000,
  leaderElected: 20_000,
  /**
   * A phase under faults must make progress within this. Once (kill leader + pause a follower of 5,
   * exactly a quorum left) a CI run saw no progress for 20 s before recovery; looser than
   * leaderElected until that stall is understood (see the session notes).
   */
  phaseProgress: 45_000,
  nodeReady: 30_000,
  processExit: 20_000,
  caughtUp: 30_000,
  learnerPromoted: 30_000,
  decommissioned: 30_000,
  snapshotInstalled: 30_000,
} as const;

/**
 * The steps of a long scenario, with their times since it began. If the test fails, they are
 * printed with the tail of every watched node's log: a vitest timeout (the test's own budget
 * spent, every named wait still within its own) otherwise reports nothing about where the time
 * went. Create it inside the test; nodes are watched from `watch` on (their output outlives them).
 */
export class ScenarioSteps {
  private readonly startedMs = performance.now();
  private readonly steps: string[] = [];
  private readonly nodes = new Set<NodeProcess>();

  constructor(private readonly name: string) {
    onTestFailed(() => {
      console.error(this.report());
    });
  }

  watch(...nodes: readonly NodeProcess[]): void {
    for (const node of nodes) this.nodes.add(node);
  }

  step(what: string): void {
    this.steps.push(`${((performance.now() - this.startedMs) / 1000).toFixed(1).padStart(7)} s  ${what}`);
  }

  report(): string {
    const logs = [...this.nodes].map((node) => `----- node ${node.spec.id}${node.running ? '' : ' (not running)'}\n${node.output.slice(-4000)}`).join('\n');
    return `${this.name}: steps until the failure (${((performance.now() - this.startedMs) / 1000).toFixed(1)} s in)\n${this.steps.join('\n')}\n${logs}`;
  }
}

/** What the tests of a file open, closed after each test (see closedAfterEachTest). */
export interface OpenedForTest {
  /** The cluster the test started: its processes are killed and its proxies closed. */
  cluster: TestCluster | undefined;
  /** A load the test runs (test/cluster/workload.ts): stopped and closed first. */
  workload: { stop(): Promise<unknown>; close(): void } | undefined;
  /** Clients (KV, admin) the test opened: closed after the load, before the cluster. */
  readonly clients: { close(): void }[];
}

/**
 * Registers, once per test file, the cleanup every process test needs after each of its tests: the
 * load stopped, the clients closed, then the cluster's processes and proxies. The test sets
 * `cluster` and `workload` and pushes its clients.
 */
export function closedAfterEachTest(): OpenedForTest {
  const opened: OpenedForTest = { cluster: undefined, workload: undefined, clients: [] };
  afterEach(async () => {
    await opened.workload?.stop().catch(() => undefined);
    opened.workload?.close();
    opened.workload = undefined;
    for (const client of opened.clients.splice(0)) client.close();
    await opened.cluster?.close();
    opened.cluster = undefined;
  });
  return opened;
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, intervalMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Retries a write whose outcome was unknown (a node was just killed). Only for idempotent writes: it may apply twice. */
export async function surely(write: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Ports for test nodes come from a block below the kernel's ephemeral range (32768-60999 on
 * Linux) that this process holds alone. A port taken with listen(0) is ephemeral: while a test
 * node is down for a restart, the kernel may hand its port to another process's listen(0) or to
 * any outgoing connection's local end, and the restarted node then fails with EADDRINUSE (or,
 * worse, a client reaches another test's node). Each test process claims a block with a lock
 * file (`<tmp>/phantomdb-test-ports/<block>.lock` holding its pid; a dead owner's lock is taken
 * over), so parallel workers and separate vitest runs never share ports; within a block, ports
 * are handed out in turn and each is checked free first.
 */
const portBlockSize = 500;
const portBlockBase = 10_000;
const portBlocks = 44; // 10000-31999
const portLockDir = path.join(os.tmpdir(), 'phantomdb-test-ports');
let portBlock: number | undefined;
let nextPortOffset = 0;

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function claimPortBlock(): number {
  fs.mkdirSync(portLockDir, { recursive: true });
  const first = (process.pid + Number(process.env.VITEST_POOL_ID ?? 0)) % portBlocks;
  for (let i = 0; i < portBlocks; i++) {
    const block = (first + i) % portBlocks;
    const lock = path.join(portLockDir, `${block}.lock`);
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
    } catch {
      let owner: number;
      try {
        owner = Number(fs.readFileSync(lock, 'utf8'));
      } catch {
        continue;
      }
      if (owner === process.pid || processAlive(owner)) continue;
      try {
        fs.unlinkSync(lock);
        fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      } catch {
        continue;
      }
    }
    process.once('exit', () => {
      try {
        if (fs.readFileSync(lock, 'utf8') === String(process.pid)) fs.unlinkSync(lock);
      } catch {
        // already gone
      }
    });
    return portBlockBase + block * portBlockSize;
  }
  throw new Error(`no free block of test ports: every lock in ${portLockDir} is held by a live process`);
}

async function portIsFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const base = (portBlock ??= claimPortBlock());
  for (let attempt = 0; attempt < portBlockSize; attempt++) {
    const port = base + (nextPortOffset++ % portBlockSize);
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port in ${base}-${base + portBlockSize - 1}`);
}

export interface NodeSpec {
  readonly id: number;
  readonly raftPort: number;
  readonly kvPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly clusterId: string;
  /** --peers or --join arguments. */
  readonly membershipArgs: readonly string[];
  readonly extraArgs: readonly string[];
  /**
   * A hosts file (/etc/hosts format) the node resolves names with (PHANTOMDB_HOSTS_FILE and
   * datanode/src/node/hosts-override.ts), for clusters whose nodes dial each other by name.
   */
  readonly hostsFile?: string;
}

const hostsOverrideModule = path.join(repoRoot, 'datanode/src/node/hosts-override.ts');

export function nodeArgs(spec: NodeSpec): string[] {
  // The benchmarks run the shipped, compiled node (bench/build.ts) through the same harness.
  const compiled = process.env.PHANTOMDB_NODE_MAIN_JS;
  const entry = compiled !== undefined && compiled !== '' && spec.hostsFile === undefined ? [compiled] : ['--import', 'tsx', ...(spec.hostsFile === undefined ? [] : ['--import', hostsOverrideModule]), path.join(repoRoot, 'datanode/src/main.ts')];
  return [
    ...entry,
    'start',
    '--node-id',
    String(spec.id),
    '--cluster-id',
    spec.clusterId,
    '--data-dir',
    spec.dataDir,
    '--grpc-listen',
    `127.0.0.1:${spec.raftPort}`,
    '--kv-listen',
    `127.0.0.1:${spec.kvPort}`,
    '--http-listen',
    `127.0.0.1:${spec.httpPort}`,
    '--tick-ms',
    '50',
    ...spec.membershipArgs,
    ...spec.extraArgs,
  ];
}

/** Runs a node process to completion; for commands expected to exit (bad config and the like). */
export async function runToExit(args: readonly string[], timeoutMs: number = timeouts.processExit): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, output };
}

export class NodeProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<number | null> = Promise.resolve(null);
  output = '';

  constructor(readonly spec: NodeSpec) {}

  get kvAddress(): string {
    return `127.0.0.1:${this.spec.kvPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process; `env` adds variables (e.g. PHANTOMDB_TEST_CRASH_AT) to this run only. */
  start(env: Readonly<Record<string, string>> = {}): void {
    const hosts = this.spec.hostsFile === undefined ? {} : { PHANTOMDB_HOSTS_FILE: this.spec.hostsFile };
    const child = spawn(process.execPath, nodeArgs(this.spec), { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...hosts, ...env } });
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exitPromise = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    this.child = child;
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exitPromise;
  }

  /** SIGTERM and wait for a graceful exit. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeouts.processExit);
    const code = await this.exitPromise;
    clearTimeout(timer);
    return code;
  }

  exited(): Promise<number | null> {
    return this.exitPromise;
  }

  async status(): Promise<NodeStatus | undefined> {
    if (!this.running) return undefined;
    try {
      const response = await fetch(`http://127.0.0.1:${this.spec.httpPort}/status`, { signal: AbortSignal.timeout(1000) });
      return response.ok ? ((await response.json()) as NodeStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  async ready(): Promise<boolean> {
    return (await this.notReadyReason()) === undefined;
  }

  /** undefined when /readyz answers 200; else why not (its reason, or that it does not answer). */
  async notReadyReason(): Promise<string | undefined> {
    if (!this.running) return 'not running';
    try {
      const response = await fetch(`http://127.0.0.1:${this.spec.httpPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return undefined;
      return `/readyz ${response.status}: ${await response.text()}`;
    } catch (err) {
      return `/readyz unreachable: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}

export interface ClusterOptions {
  readonly size: number;
  readonly clusterId?: string;
  readonly extraArgs?: readonly string[];
  /** Node i+1 gets `--locality localities[i]` (e.g. 'region=r1,zone=a'); nodes past the list get none. */
  readonly localities?: readonly string[];
  /**
   * Which node-to-node connections go through the pair's FaultProxy. 'raft' (default): each node
   * dials the others' Raft ports through a proxy of its own (its --peers addresses); KV traffic
   * between nodes (request forwarding, membership and placement calls) goes direct. 'all': every
   * connection between two nodes does. Nodes then advertise names (`node-<id>.phantomdb.test`)
   * that each node resolves through its own hosts file (datanode/src/node/hosts-override.ts) to
   * a loopback address of its own for that peer (127.77.<from>.<to>), where the pair's proxies
   * listen on the peer's Raft and KV ports: cutting a pair cuts every socket between them.
   * Test clients resolve every name to the node itself (127.0.0.1).
   */
  readonly proxied?: 'raft' | 'all';
}

interface NodePorts {
  readonly raft: number;
  readonly kv: number;
  readonly http: number;
}

/** The name a node advertises when every connection is proxied. */
export function nodeHostName(id: number): string {
  return `node-${id}.phantomdb.test`;
}

/** The loopback address at which `from` reaches `to` through their proxies (proxied 'all'). */
function pairHost(from: number, to: number): string {
  if (from < 1 || from > 254 || to < 1 || to > 254) throw new Error(`node ids ${from} and ${to} must be within 1-254 for per-pair loopback addresses`);
  return `127.77.${from}.${to}`;
}

const clientHostsFile = path.join(os.tmpdir(), `phantomdb-test-client-hosts-${process.pid}`);
let clientHostsInstalled = false;

/** Makes this (test) process resolve every node name to 127.0.0.1: clients follow leader redirects by name. */
function installClientHosts(): void {
  if (clientHostsInstalled) return;
  const lines = Array.from({ length: 254 }, (_, i) => `127.0.0.1 ${nodeHostName(i + 1)}`);
  fs.writeFileSync(clientHostsFile, `${lines.join('\n')}\n`);
  process.once('exit', () => fs.rmSync(clientHostsFile, { force: true }));
  installHostsOverride(clientHostsFile);
  clientHostsInstalled = true;
}

function localityArgs(locality: string | undefined): string[] {
  return locality === undefined ? [] : ['--locality', locality];
}

export class TestCluster {
  readonly nodes: NodeProcess[] = [];
  /** proxies.get(`${from}->${to}`): what `from` dials to reach `to`'s Raft port. */
  readonly proxies = new Map<string, FaultProxy>();
  /** With proxied 'all': kvProxies.get(`${from}->${to}`), what `from` dials to reach `to`'s KV port. */
  readonly kvProxies = new Map<string, FaultProxy>();
  /** Ports of every node made here (joiners included), by id. */
  private readonly ports = new Map<number, NodePorts>();

  private constructor(readonly baseDir: string, readonly clusterId: string, readonly proxied: 'raft' | 'all') {}

  static async start(options: ClusterOptions): Promise<TestCluster> {
    const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-cluster-'));
    const cluster = new TestCluster(baseDir, options.clusterId ?? 'test-cluster', options.proxied ?? 'raft');
    const ids = Array.from({ length: options.size }, (_, i) => i + 1);
    for (const id of ids) cluster.ports.set(id, { raft: await freePort(), kv: await freePort(), http: await freePort() });
    if (cluster.proxied === 'all') {
      installClientHosts();
      for (const from of ids) for (const to of ids) if (from !== to) await cluster.startPairProxies(from, to);
      for (const id of ids) cluster.writeHostsFile(id);
    } else {
      for (const from of ids) {
        for (const to of ids) {
          if (from === to) continue;
          cluster.proxies.set(`${from}->${to}`, await FaultProxy.start('127.0.0.1', { host: '127.0.0.1', port: cluster.portsOf(to).raft }));
        }
      }
    }
    for (const id of ids) {
      const own = cluster.portsOf(id);
      const peers = ids.map((peer) => `${peer}=${cluster.raftAddressFrom(id, peer)}`).join(',');
      const node = new NodeProcess({
        ...cluster.nodeSpecBase(id, own),
        membershipArgs: ['--peers', peers],
        extraArgs: [...cluster.advertiseArgs(id), ...(options.extraArgs ?? []), ...localityArgs(options.localities?.[id - 1])],
      });
      cluster.nodes.push(node);
      node.start();
    }
    // Process start-up (loading the TypeScript sources) is not election time: on a loaded 2-core
    // machine five nodes can take many seconds to start serving, so wait for that separately,
    // longer for more nodes (they load their sources at the same time on the same cores).
    await cluster.waitForServing(timeouts.processStart * Math.max(1, options.size / 3));
    await cluster.waitForLeader();
    return cluster;
  }

  private portsOf(id: number): NodePorts {
    const ports = this.ports.get(id);
    if (ports === undefined) throw new Error(`no ports for node ${id}`);
    return ports;
  }

  /** What node `from` dials to reach `to`'s Raft port. */
  private raftAddressFrom(from: number, to: number): string {
    if (this.proxied === 'all') return `${nodeHostName(to)}:${this.portsOf(to).raft}`;
    return from === to ? `127.0.0.1:${this.portsOf(to).raft}` : this.proxy(from, to).address;
  }

  /** The parts of a node's spec that do not depend on how it enters the cluster. */
  private nodeSpecBase(id: number, ports: NodePorts): Omit<NodeSpec, 'membershipArgs' | 'extraArgs'> {
    return {
      id,
      raftPort: ports.raft,
      kvPort: ports.kv,
      httpPort: ports.http,
      dataDir: path.join(this.baseDir, `node-${id}`),
      clusterId: this.clusterId,
      ...(this.proxied === 'all' ? { hostsFile: this.hostsFileOf(id) } : {}),
    };
  }

  /** Proxied 'all': the node advertises its name (peers resolve it to their proxies for it). */
  private advertiseArgs(id: number): string[] {
    return this.proxied === 'all' ? ['--advertise-host', nodeHostName(id)] : [];
  }

  /** Proxied 'all': the Raft and KV proxies through which `from` reaches `to`. */
  private async startPairProxies(from: number, to: number): Promise<void> {
    const host = pairHost(from, to);
    const target = this.portsOf(to);
    this.proxies.set(`${from}->${to}`, await FaultProxy.start(host, { host: '127.0.0.1', port: target.raft }, target.raft));
    this.kvProxies.set(`${from}->${to}`, await FaultProxy.start(host, { host: '127.0.0.1', port: target.kv }, target.kv));
  }

  private hostsFileOf(id: number): string {
    return path.join(this.baseDir, `hosts-${id}`);
  }

  /** Node `id`'s hosts file: itself at 127.0.0.1, every other node at the pair's proxy address. Replaced atomically (the node re-reads it on a new mtime). */
  private writeHostsFile(id: number): void {
    const lines = [...this.ports.keys()].map((peer) => `${peer === id ? '127.0.0.1' : pairHost(id, peer)} ${nodeHostName(peer)}`);
    const file = this.hostsFileOf(id);
    fs.writeFileSync(`${file}.tmp`, `${lines.join('\n')}\n`);
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Waits until every running node answers /status (its process is up and serving). */
  async waitForServing(timeoutMs: number = timeouts.processStart): Promise<void> {
    try {
      await Promise.all(
        this.nodes
          .filter((node) => node.running)
          .map((node) => eventually(`node ${node.spec.id} serving`, timeoutMs, async () => ((await node.status()) === undefined ? undefined : true), 100)),
      );
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${this.logs()}`, { cause: err });
    }
  }

  /** Waits until `node` answers /readyz 200; on timeout the error carries its last reason and every node's log. */
  async waitReady(node: NodeProcess, what = `node ${node.spec.id} ready`, timeoutMs: number = timeouts.nodeReady): Promise<void> {
    let reason: string | undefined;
    try {
      await eventually(what, timeoutMs, async () => ((reason = await node.notReadyReason()) === undefined ? true : undefined));
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nlast reason: ${reason}\nstatuses: ${await this.statusSummary()}\n${this.logs()}`, { cause: err });
    }
  }

  proxy(from: number, to: number): FaultProxy {
    const proxy = this.proxies.get(`${from}->${to}`);
    if (proxy === undefined) throw new Error(`no proxy ${from}->${to}`);
    return proxy;
  }

  node(id: number): NodeProcess {
    const node = this.nodes[id - 1];
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  kvEndpoints(): string[] {
    return this.nodes.map((node) => node.kvAddress);
  }

  /**
   * A new node `id` of this cluster that joins through `joinAddress` (a member's KV address), on
   * fresh ports with its data in `node-<id>` under this cluster's directory, with `--locality
   * locality` when given. It is not started and not one of `nodes`: the caller starts it and
   * kills it (close() does not). With proxied 'all', its connections to and from every node made
   * so far go through new pair proxies (isolate/cut cover it), and it advertises its name.
   */
  async joiner(id: number, joinAddress: string, extraArgs: readonly string[] = [], locality?: string): Promise<NodeProcess> {
    if (this.ports.has(id)) throw new Error(`node ${id} exists already`);
    const ports = { raft: await freePort(), kv: await freePort(), http: await freePort() };
    const others = [...this.ports.keys()];
    this.ports.set(id, ports);
    if (this.proxied === 'all') {
      for (const other of others) {
        await this.startPairProxies(id, other);
        await this.startPairProxies(other, id);
      }
      for (const node of this.ports.keys()) this.writeHostsFile(node);
    }
    return new NodeProcess({
      ...this.nodeSpecBase(id, ports),
      membershipArgs: ['--join', joinAddress],
      extraArgs: [...this.advertiseArgs(id), ...extraArgs, ...localityArgs(locality)],
    });
  }

  /** Waits until a running node is leader and every running node agrees on it. */
  async waitForLeader(timeoutMs: number = timeouts.leaderElected, excluding: readonly number[] = []): Promise<NodeProcess> {
    let seen = '';
    try {
      return await eventually('an agreed leader', timeoutMs, async () => {
        const running = this.nodes.filter((n) => n.running && !excluding.includes(n.spec.id));
        const answers = await Promise.all(running.map(async (n) => ({ id: n.spec.id, status: await n.status() })));
        seen = answers.map(({ id, status }) => (status === undefined ? `node ${id}: no status` : `node ${id}: ${status.role} term ${status.term} leader ${status.leaderId} commit ${status.commitIndex}`)).join('; ');
        const statuses = answers.map((a) => a.status).filter((s) => s !== undefined);
        const leader = statuses.find((s) => s.role === 'leader');
        if (leader === undefined) return undefined;
        if (!statuses.every((s) => s.leaderId === leader.nodeId)) return undefined;
        return this.node(leader.nodeId);
      });
    } catch (err) {
      // What each node last said, and its log: a stalled election must be diagnosable from CI output.
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nlast statuses: ${seen}\n${this.logs()}`, { cause: err });
    }
  }

  /** Cuts node `id` off from every other node in both directions. */
  isolate(id: number): void {
    this.cut([id]);
  }

  heal(id: number): void {
    this.rejoin([id]);
  }

  /**
   * Partitions `side` (node ids) from every other node, in both directions: each pair with one
   * end in `side` has its connections cut and new ones black-holed. Nodes within `side` (and
   * within the rest) still reach each other. With proxied 'raft', only Raft traffic is cut.
   */
  cut(side: readonly number[]): void {
    for (const proxy of this.pairProxiesAcross(side)) proxy.partition();
  }

  /** Undoes cut(side). */
  rejoin(side: readonly number[]): void {
    for (const proxy of this.pairProxiesAcross(side)) proxy.heal();
  }

  private pairProxiesAcross(side: readonly number[]): FaultProxy[] {
    const across: FaultProxy[] = [];
    for (const map of [this.proxies, this.kvProxies]) {
      for (const [key, proxy] of map) {
        const [from, to] = key.split('->').map(Number);
        if (side.includes(from ?? 0) !== side.includes(to ?? 0)) across.push(proxy);
      }
    }
    return across;
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    await Promise.all([...this.proxies.values(), ...this.kvProxies.values()].map((proxy) => proxy.close()));
    if (process.env.KEEP_CLUSTER_DIRS !== '1') fs.rmSync(this.baseDir, { recursive: true, force: true });
  }

  /** Every node's output, for failure reports. */
  /** One line per running node: its role, term, leader and indexes (or why it did not answer). */
  async statusSummary(): Promise<string> {
    const answers = await Promise.all(this.nodes.map(async (n) => ({ id: n.spec.id, running: n.running, status: await n.status() })));
    return answers
      .map(({ id, running, status }) => {
        if (!running) return `node ${id}: not running`;
        if (status === undefined) return `node ${id}: no status`;
        return `node ${id}: ${status.role} term ${status.term} leader ${status.leaderId} commit ${status.commitIndex} applied ${status.appliedIndex}`;
      })
      .join('; ');
  }

  logs(): string {
    return this.nodes.map((node) => `----- node ${node.spec.id}\n${node.output.slice(-4000)}`).join('\n');
  }
}
