/**
 * The composition of a replicated data node: identity check, storage engine (one for every
 * range), the shared durable Raft log, the Store of range replicas (the meta range, range 1,
 * and the user ranges, each its own Raft group), the gRPC transport, the client gRPC server
 * (KV API through the gateway, which routes each key to its range's leader; Admin API), HTTP
 * health/status, joining a running cluster, the decommission driver, retiring once removed, and
 * graceful shutdown (leaderships handed off first).
 */
import { ingestBackup, parseRestoreSource } from './restore.ts';
import { BackupCoordinator } from './backup-coordinator.ts';
import { gcProtectionsOf, nextGcThreshold } from '../kv/gc.ts';
import { HybridLogicalClock, systemPhysicalClock } from '../hlc/hlc.ts';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { addAdminService } from '../admin/service.ts';
import { startHttpServer, type NodeStatus } from '../http/server.ts';
import { NodeMetrics } from '../metrics/node-metrics.ts';
import { rangeReportsOf } from '../metrics/range-report.ts';
import type { NodeMetricsSources, RangeReplicaReport } from '../metrics/sources.ts';
import { KvClient } from '../kv/client.ts';
import { commandFeatures, commandRefusal, type Command, type MemberAddress } from '../kv/command.ts';
import { KvError } from '../kv/errors.ts';
import { defaultKvLimits, type KvLimits } from '../kv/limits.ts';
import { addKvServices, kvMessageBytesMax, type KvBackend, type ServedReport } from '../kv/service.ts';
import { metaRangeId, type RangeDescriptor } from '../kv/descriptor.ts';
import { KvEngine, KvStateMachine, type ApplyResult, type MemberLifecycles, type ScanRow } from '../kv/state-machine.ts';
import { RaftLogEngine } from '../raft/logstore/index.ts';
import { simpleConfState, type NodeId } from '../raft/types.ts';
import { realFs } from '../storage/fs.ts';
import { NodeAdmin } from './admin-backend.ts';
import { ByteRateLimiter } from './byte-rate-limiter.ts';
import { defaultLoadPacingPolicy, describePacingPeriod, LoadPacer } from './load-pacer.ts';
import type { NodeConfig } from './config.ts';
import { checkOrRecordIdentity } from './identity.ts';
import type { PeerTransport, TransportHandlers } from './interfaces.ts';
import { Gateway } from './gateway.ts';
import type { Replica } from './replica.ts';
import { PlacementHost, livenessRecordMs } from './placement-host.ts';
import { Store } from './store.ts';
import type { PeerVersionPolicy } from '../transport/index.ts';
import { binaryVersion } from '../version/binary.ts';
import { VersionError } from '../version/errors.ts';
import { cannotRun, clusterFeatures, FeatureGates, formatVersion, isVersion, parseVersion, type BinaryVersion } from '../version/version.ts';

/** Reported by NodeInfo and ClusterStatus: this build's version (version/binary.ts). */
export const nodeVersion = binaryVersion().version;
/** How often the leader takes the next decommission step. */
const decommissionPassMs = 200;
/** How often a member whose KV address the meta range lacks asks the meta leader to record it. */
const registerPassMs = 1000;
/** How often the MVCC GC threshold is raised (compactions then drop what fell below it). */
const gcPassMs = 5000;
/**
 * A quiescent follower is woken once its leader's liveness record did not advance for this long:
 * the meta leader rewrites records every livenessRecordMs (2 s; placement-host.ts), so this is two
 * missed writes and a second of slack (a slow proposal or a GC pause does not wake ranges).
 */
const quiesceLeaderSuspectMs = 2 * livenessRecordMs + 1000;

/** The meta range's Raft group: it holds the cluster's members and the range descriptors. */
export const kvGroupId = metaRangeId;

export interface TransportContext {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  /** Where the transport listens (port 0: any; the factory answers the bound port). */
  readonly listen: { readonly host: string; readonly port: number };
  readonly resolvePeer: (nodeId: NodeId) => string | undefined;
  readonly handlers: TransportHandlers;
  readonly log: (line: string) => void;
  /** Binary versions carried and checked in the transport handshake. */
  readonly versions?: PeerVersionPolicy;
}

export type TransportFactory = (context: TransportContext) => Promise<{ transport: PeerTransport; port: number }>;

export interface DataNodeDeps {
  readonly transportFactory: TransportFactory;
  readonly log?: (line: string) => void;
}

const performanceClock = { nowMs: () => performance.now() };

function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/** The host this node's peers dial: --advertise-host, else this machine's name for a wildcard listen address. */
export function advertisedHostOf(config: NodeConfig): string {
  const host = splitHostPort(config.grpcListen).host;
  return config.advertiseHost ?? (host === '0.0.0.0' || host === '[::]' ? os.hostname() : host);
}

/**
 * Refuses to start a node whose binary cannot run the cluster version its data directory
 * records (before anything is changed): PH_CLUSTER_VERSION_UNSUPPORTED naming both versions.
 */
export function checkClusterVersion(config: NodeConfig, clusterVersion: string | undefined, binary: BinaryVersion = binaryVersion()): void {
  if (clusterVersion === undefined) return;
  const why = cannotRun(binary, clusterVersion);
  if (why === undefined) return;
  throw new VersionError(
    'PH_CLUSTER_VERSION_UNSUPPORTED',
    `node ${config.nodeId} (data directory ${config.dataDir}) runs binary ${binary.version}, which cannot run cluster ${JSON.stringify(config.clusterId)} at cluster version ${clusterVersion}: ${why}; refusing to start (nothing was changed)`,
  );
}

export function bindGrpc(server: grpc.Server, listen: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, port) => (err === null ? resolve(port) : reject(err)));
  });
}

export class DataNode implements KvBackend {
  readonly clusterId: string;
  readonly limits: KvLimits;
  private store: Store | undefined;
  private readonly gateway: Gateway;
  private transport: PeerTransport | undefined;
  private httpServer: FastifyInstance | undefined;
  private readonly grpcServer: grpc.Server;
  private address: MemberAddress = { raft: '', kv: '' };
  private httpPort = 0;
  private stopping: Promise<void> | undefined;
  private readonly log: (line: string) => void;
  /** The address book a join answered, until the replicated one arrives with a snapshot. */
  private joinedMembers = new Map<NodeId, MemberAddress>();
  private admin: NodeAdmin | undefined;
  /** Liveness heartbeats (every node) and the placement driver (on the meta range's leader). */
  private placementHost: PlacementHost | undefined;
  private decommissionTimer: NodeJS.Timeout | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  /** Backups coordinated here and range exports served here (from open on). */
  private backups: BackupCoordinator | undefined;
  private registerTimer: NodeJS.Timeout | undefined;
  private registering = false;
  /** Set once this node's id is recorded as removed: it stops serving for good. */
  private retired: Promise<void> | undefined;
  /** The node's Prometheus metrics (served on /metrics); undefined with --metrics off. */
  readonly metrics: NodeMetrics | undefined;
  /** The node's hybrid logical clock: stamps writes of ranges led here, picks backup timestamps. */
  readonly hlc: HybridLogicalClock;
  /** Load-aware pacing (load-pacer.ts) of this node's snapshot streams, both ways, and of the copies its placement driver starts (undefined with --snapshot-pace-delay-ms 0). */
  private readonly snapshotPacer: LoadPacer | undefined;
  /** This binary's version and the cluster versions it runs. */
  readonly binary: BinaryVersion = binaryVersion();
  /** Peers' binary versions, as their transport handshakes told. */
  private readonly peerVersions = new Map<NodeId, BinaryVersion>();
  /**
   * Feature gates against the cluster version this node knows: code that writes a new on-disk or
   * wire format asks `features.enabled(...)` first (version/version.ts, clusterFeatures); every
   * replica refuses a command whose op is not enabled yet (kv/command.ts commandFeatures). A node
   * without a meta replica does not know the cluster version and assumes the oldest it runs, so
   * it never writes a format too early (it may write a new one late).
   */
  readonly features = new FeatureGates(() => this.clusterVersion ?? this.binary.clusterVersionMin, clusterFeatures);

  private constructor(
    readonly config: NodeConfig,
    private readonly kv: KvEngine,
    private readonly logStore: RaftLogEngine,
    private readonly deps: DataNodeDeps,
  ) {
    this.clusterId = config.clusterId;
    this.limits = {
      ...defaultKvLimits,
      keyBytesMax: config.keyBytesMax,
      valueBytesMax: config.valueBytesMax,
      scanRowsMax: config.scanRowsMax,
      proposalsInFlightMax: config.proposalsInFlightMax,
      requestDeadlineMaxMs: config.requestDeadlineMaxMs,
    };
    // PHANTOMDB_LOG_TIME=1 stamps each line with the wall-clock time (benchmarks read phases from the logs).
    const stamped = process.env.PHANTOMDB_LOG_TIME === '1';
    this.log = deps.log ?? ((line) => console.log(`${stamped ? `${new Date().toISOString()} ` : ''}[node ${config.nodeId}] ${line}`));
    this.hlc = new HybridLogicalClock(systemPhysicalClock, { maxOffsetMs: config.maxClockOffsetMs });
    if (config.snapshotPaceDelayMs > 0) {
      const policy = { ...defaultLoadPacingPolicy, delayHighMs: config.snapshotPaceDelayMs, floorFraction: config.snapshotPaceFloor };
      this.snapshotPacer = new LoadPacer({
        policy,
        // One line when the copies reach the floor and one when they are back at the full rate.
        onChange: (share, delayMs) => {
          if (share === policy.floorFraction || share === 1) this.log(`snapshot pacing: event-loop delay p99 ${delayMs.toFixed(1)} ms, snapshot streams and copy starts at ${Math.round(share * 100)}% of --snapshot-rate-bytes`);
        },
        onIdle: (period) => this.log(describePacingPeriod(period)),
      });
    }
    const messageBytesMax = kvMessageBytesMax(this.limits);
    // No channelz (nothing serves it): it costs counters and timestamps on every call.
    this.grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': Math.max(messageBytesMax, 20 * 1024 * 1024), 'grpc.max_send_message_length': 64 * 1024 * 1024, 'grpc.enable_channelz': 0 });
    this.gateway = new Gateway({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      store: () => this.activeStore,
      kvAddressOf: (id) => this.addressBook().get(id)?.kv ?? '',
    });
    this.metrics = config.metrics === 'on' ? new NodeMetrics(this.metricsSources(), { nodeId: config.nodeId, clusterId: config.clusterId }) : undefined;
  }

  /** What the metrics read at scrape time, from this node's parts (each absent until it exists). */
  private metricsSources(): NodeMetricsSources {
    const livenessMs = this.config.tickMs * this.config.electionTimeoutTicks;
    return {
      status: () => (this.metaReplica === undefined ? undefined : this.status()),
      storage: () => this.kv.engine.stats(),
      raftLog: () => this.logStore.stats,
      transport: () => this.transport?.stats?.(),
      lifecycles: () => (this.metaState === undefined ? undefined : this.lifecycles()),
      // Every range replica of the Store, each report built as the scrape pulls it (in slices); a
      // peer is live when heard from within an election timeout or, in a quiescent range (no
      // heartbeats), when its node liveness record keeps advancing.
      ranges: () => this.rangeReports(livenessMs),
      dataDir: this.config.dataDir,
    };
  }

  private *rangeReports(livenessMs: number): Generator<RangeReplicaReport> {
    for (const replica of this.store?.allReplicas() ?? []) {
      yield* rangeReportsOf(replica.status(), (peer) => replica.sinceHeardMs(peer) <= livenessMs || (replica.quiesced && this.store?.nodeRecentlyLive(peer) === true));
    }
  }

  /** Opens the data directory (checking its identity), starts serving, and joins if asked. */
  static async start(config: NodeConfig, deps: DataNodeDeps): Promise<DataNode> {
    checkOrRecordIdentity(config.dataDir, { clusterId: config.clusterId, nodeId: config.nodeId });
    const kv = await KvEngine.open(path.join(config.dataDir, 'kv'));
    try {
      checkClusterVersion(config, new KvStateMachine(kv.engine, metaRangeId).clusterVersion());
    } catch (err) {
      await kv.close();
      throw err;
    }
    // The node (and its metrics) is built once the log is open; fsyncs before that are not observed.
    const built: { node?: DataNode } = {};
    const onFsync = (elapsedMs: number): void => built.node?.metrics?.raftLogFsync(elapsedMs);
    let logStore: RaftLogEngine;
    try {
      logStore = await RaftLogEngine.open(realFs, path.join(config.dataDir, 'raft'), config.metrics === 'on' ? { onFsync } : {});
    } catch (err) {
      await kv.close();
      throw err;
    }
    const node = new DataNode(config, kv, logStore, deps);
    built.node = node;
    try {
      await node.open();
    } catch (err) {
      await node.stop();
      throw err;
    }
    return node;
  }

  private async open(): Promise<void> {
    const { config } = this;
    const store = new Store({
      nodeId: config.nodeId,
      dataDir: config.dataDir,
      kv: this.kv,
      logStore: this.logStore,
      replica: {
        nodeId: config.nodeId,
        logStore: this.logStore,
        tickMs: config.tickMs,
        raft: {
          electionTimeoutTicks: config.electionTimeoutTicks,
          heartbeatTimeoutTicks: config.heartbeatTimeoutTicks,
          readOnlyOption: config.readMode === 'lease' ? 'lease-based' : 'safe',
          checkQuorum: true,
          preVote: true,
          // Busy ranges: an Append since the last heartbeat stands in for it (read-index mode only).
          skipHeartbeatAfterAppend: true,
          // A lone write: one Append and one answer per follower, not a second pair to announce
          // the commit (followers learn it from the next Append or Heartbeat).
          commitWithNextMessage: true,
        },
        limits: this.limits,
        clock: performanceClock,
        compactionEntries: config.compactionEntries,
        addressOf: (id) => this.addressBook().get(id)?.kv ?? '',
        // A replica that cannot persist or apply leaves this node in an unknown state: stop it (the
        // graceful shutdown path hands leadership off first).
        onFatal: () => {
          process.exitCode = 1;
          process.kill(process.pid, 'SIGTERM');
        },
        refuseCommand: (command) => commandRefusal(command, this.features, commandFeatures),
        snapshotRate: new ByteRateLimiter({ bytesPerSecond: config.snapshotRateBytes, ...(this.snapshotPacer === undefined ? {} : { pacer: this.snapshotPacer }) }),
        // With load-aware pacing, a node also reads what it receives at its share of the rate: a
        // new node taking copies from several senders at once (and leases) yields to its clients too.
        ...(this.snapshotPacer === undefined ? {} : { snapshotReceiveRate: new ByteRateLimiter({ bytesPerSecond: config.snapshotRateBytes, pacer: this.snapshotPacer }) }),
        log: this.log,
        ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
        hlc: this.hlc,
      },
      knownPeer: (id) => this.addressBook().has(id),
      promotable: (id) => !this.lifecycles().decommissioning.has(id) && !this.lifecycles().removed.has(id),
      rangeMaxBytes: config.rangeMaxBytes,
      placement: true,
      // Idle user ranges stop heartbeating after an election timeout; their followers are woken
      // when the leader's liveness record (rewritten every second) stalls for 3 s.
      quiesce: { idleTicks: config.electionTimeoutTicks, leaderSuspectMs: quiesceLeaderSuspectMs },
      pushDescriptors: (descriptors) => this.pushDescriptors(descriptors),
      log: this.log,
    });
    // A new cluster starts at this binary's version (every initial voter writes the same record),
    // written before the descriptors so that a crash in between cannot leave a versionless meta range.
    const recordClusterVersion = (): Promise<void> => new KvStateMachine(this.kv.engine, metaRangeId).bootstrapClusterVersion(formatVersion(parseVersion(this.binary.version)));
    if (!this.logStore.hasGroup(metaRangeId)) {
      if (config.peers !== undefined) {
        await recordClusterVersion();
        await this.bootstrapRanges(store, config.peers.map((p) => p.id));
      } else if (config.join !== undefined) {
        // Uninitialised: the meta range's leader adds this node, then sends a snapshot.
        await this.logStore.createGroup(metaRangeId, simpleConfState([]));
      } else {
        throw new KvError('PH_BAD_REQUEST', `data directory ${config.dataDir} is new: give --peers (to start a cluster) or --join (to join one)`);
      }
    }
    const pending = store.pendingBootstrapVoters();
    if (pending !== undefined) {
      await recordClusterVersion();
      await this.bootstrapRanges(store, pending);
    }
    await store.open();
    this.store = store;
    const meta = store.meta();
    if (meta === undefined) throw new KvError('PH_BAD_REQUEST', `data directory ${config.dataDir} has no meta range group`);
    meta.stateMachine.onLifecyclesChanged((lifecycles) => this.onLifecycles(lifecycles));
    meta.stateMachine.onClusterVersionChanged((version) => this.onClusterVersion(version));
    this.placementHost = new PlacementHost({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      dataDir: config.dataDir,
      replicationFactor: config.replicationFactor,
      locality: config.locality,
      ...(process.env.PHANTOMDB_TOPOLOGY_FILE === undefined ? {} : { topologyFile: process.env.PHANTOMDB_TOPOLOGY_FILE }),
      rebalanceConcurrency: config.rebalanceConcurrency,
      snapshotRateBytes: config.snapshotRateBytes,
      deadNodeReplaceMs: config.deadNodeReplaceMs,
      store: () => this.store,
      lifecycles: () => this.lifecycles(),
      addressBook: () => this.addressBook(),
      stopped: () => this.stopping !== undefined || this.retired !== undefined,
      ...(this.metrics === undefined ? {} : { events: this.metrics.rangeEvents }),
      // The driver (on the meta leader) starts copies at this node's pacer share: on a loaded
      // cluster the copies of all senders together slow down, not only each sender's own.
      ...(this.snapshotPacer === undefined ? {} : { copyRateShare: () => this.snapshotPacer?.fraction() ?? 1 }),
      log: this.log,
    });
    addKvServices(this.grpcServer, this);
    this.backups = new BackupCoordinator({
      clusterId: config.clusterId,
      nodeId: config.nodeId,
      dataNodeVersion: nodeVersion,
      hlc: this.hlc,
      scratchDir: path.join(config.dataDir, 'backup-scratch'),
      backupRateBytes: config.backupRateBytes,
      backupConcurrency: config.backupConcurrency,
      backupExportNice: config.backupExportNice,
      store: () => this.store,
      kvAddressOf: (id) => this.addressBook().get(id)?.kv ?? '',
      nowMs: () => Date.now(),
      log: this.log,
    });
    const admin = this.createAdmin();
    this.admin = admin;
    addAdminService(this.grpcServer, admin, { requestDeadlineDefaultMs: 5_000, requestDeadlineMaxMs: config.requestDeadlineMaxMs });
    const kvPort = await bindGrpc(this.grpcServer, config.kvListen);
    const raftListen = splitHostPort(config.grpcListen);
    const { transport, port: raftPort } = await this.deps.transportFactory({
      clusterId: config.clusterId,
      nodeId: config.nodeId,
      listen: raftListen,
      resolvePeer: (id) => {
        const raft = this.addressBook().get(id)?.raft;
        return raft === undefined || raft === '' ? undefined : raft;
      },
      handlers: store,
      log: this.log,
      versions: this.peerVersionPolicy(),
    });
    this.transport = transport;
    const advertisedHost = advertisedHostOf(config);
    this.address = { raft: `${advertisedHost}:${raftPort}`, kv: `${advertisedHost}:${kvPort}` };
    const placementHost = this.placementHost;
    meta.onRoleChange((state) => {
      this.log(`meta range: role ${state.role}, leader ${state.leaderId}`);
      if (state.role === 'leader') this.recordMissingAddresses();
      placementHost.onMetaRole(state.role === 'leader');
    });
    store.start(transport);
    placementHost.start();
    this.decommissionTimer = setInterval(() => admin.advanceDecommissions(), decommissionPassMs);
    this.registerTimer = setInterval(() => void this.registerKvAddress(), registerPassMs);
    this.gcTimer = setInterval(() => this.raiseGcThreshold(), gcPassMs);
    this.onLifecycles(this.lifecycles());
    const http = await startHttpServer(config.httpListen, this, this.metrics === undefined ? {} : { metrics: this.metrics });
    this.httpServer = http.server;
    this.httpPort = http.port;
    this.log(`serving: raft ${this.address.raft}, kv ${this.address.kv}, http port ${http.port}, data ${config.dataDir}`);
    const metaConfig = meta.status().config;
    if (config.join !== undefined && this.retired === undefined && metaConfig.voters.length === 0 && metaConfig.learners.length === 0) {
      void this.joinCluster(config.join);
    }
  }

  /**
   * Bootstraps the ranges of a new cluster, first ingesting the backup it starts from (if any).
   * A crash before the bootstrap repeats the restore: ingesting the same versions again is
   * harmless. Only a bootstrapping node restores; nodes that join get the data by snapshots.
   */
  private async bootstrapRanges(store: Store, voters: readonly NodeId[]): Promise<void> {
    if (this.config.restoreFrom !== undefined) await ingestBackup(this.kv, parseRestoreSource(this.config.restoreFrom), this.config.dataDir, this.log);
    await store.bootstrap(voters);
  }

  /**
   * Raises the engine's MVCC GC threshold to now - gcTtl, held back to the oldest protected
   * timestamp in force (kv/gc.ts); not at all while the meta range is not readable here.
   */
  private raiseGcThreshold(): void {
    const meta = this.metaState;
    const engine = this.kv.engine;
    const next = nextGcThreshold({
      now: this.hlc.now(),
      gcTtlMs: this.config.gcTtlMs,
      protections: gcProtectionsOf(meta),
      nowMs: Date.now(),
      current: engine.mvccGcThresholdTs(),
    });
    if (next !== undefined) engine.setMvccGcThreshold(next);
  }

  /** The meta range's replica (it exists from open on: bootstrapped, or uninitialised until a snapshot). */
  private get metaReplica(): Replica | undefined {
    return this.store?.meta();
  }

  private get metaState(): KvStateMachine | undefined {
    return this.store?.metaStateMachine();
  }

  private lifecycles(): MemberLifecycles {
    return this.metaState?.memberLifecycles() ?? { decommissioning: new Set(), removed: new Set() };
  }

  private createAdmin(): NodeAdmin {
    const { config } = this;
    return new NodeAdmin({
      clusterId: config.clusterId,
      nodeId: config.nodeId,
      replicationFactor: config.replicationFactor,
      livenessTimeoutMs: config.tickMs * config.electionTimeoutTicks,
      version: nodeVersion,
      replica: () => this.activeReplica,
      replicaIfStarted: () => this.metaReplica,
      store: () => this.store,
      placement: () => this.placementHost,
      addressBook: () => this.addressBook(),
      lifecycles: () => this.lifecycles(),
      appliedIndex: () => this.metaState?.appliedIndex() ?? 0,
      log: this.log,
      backups: () => this.backups,
      binary: this.binary,
      clusterVersion: () => this.metaState?.clusterVersion(),
      peerVersion: (id) => this.peerVersions.get(id),
    });
  }

  /** The cluster version as of the meta range's applied index (undefined before this node has it). */
  get clusterVersion(): string | undefined {
    return this.metaState?.clusterVersion();
  }

  /**
   * The handshake's version check: a peer whose binary cannot run the cluster version this node
   * knows is refused (it could not read what the cluster writes), and every peer's version is
   * remembered for ClusterStatus and FinalizeClusterVersion.
   */
  private peerVersionPolicy(): PeerVersionPolicy {
    return {
      own: { binaryVersion: this.binary.version, clusterVersionMin: this.binary.clusterVersionMin },
      refuse: (peer) => {
        const clusterVersion = this.clusterVersion;
        if (clusterVersion === undefined) return undefined;
        // A peer that reports no binary version is a build from before cluster versions: key
        // layout 2 and unstamped writes, which this cluster's nodes can neither decode nor be
        // decoded by (docs/operations.md, "Which version introduced what").
        if (peer.binaryVersion === '') return `it reports no binary version (a build from before cluster versions, whose formats cannot be mixed with cluster version ${clusterVersion})`;
        if (!isVersion(peer.binaryVersion)) return `binary version ${JSON.stringify(peer.binaryVersion)} is not a version`;
        return cannotRun({ version: peer.binaryVersion, clusterVersionMin: isVersion(peer.clusterVersionMin) ? peer.clusterVersionMin : peer.binaryVersion }, clusterVersion);
      },
      learned: (nodeId, peer) => {
        if (isVersion(peer.binaryVersion)) this.peerVersions.set(nodeId, { version: peer.binaryVersion, clusterVersionMin: isVersion(peer.clusterVersionMin) ? peer.clusterVersionMin : peer.binaryVersion });
      },
    };
  }

  /**
   * The replicated cluster version moved past what this binary runs (it was finalized while this
   * node was away, or by a mistake): it must not apply what the cluster writes next. It stops.
   */
  private onClusterVersion(version: string): void {
    const why = cannotRun(this.binary, version);
    if (why === undefined) return;
    this.log(`FATAL PH_CLUSTER_VERSION_UNSUPPORTED: node ${this.config.nodeId} (binary ${this.binary.version}): ${why}; stopping`);
    process.exitCode = 1;
    process.kill(process.pid, 'SIGTERM');
  }

  /** Once this node's id is recorded as removed, its replica stops for good (never reused). */
  private onLifecycles(lifecycles: MemberLifecycles): void {
    if (!lifecycles.removed.has(this.config.nodeId) || this.retired !== undefined) return;
    // Called from inside the replica's apply: stop it on a later turn, not under its lock.
    this.retired = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.retire());
  }

  private async retire(): Promise<void> {
    this.log('this node was removed from the cluster: its replica stops; KV and admin calls answer PH_UNAVAILABLE');
    clearInterval(this.decommissionTimer);
    clearInterval(this.gcTimer);
    clearInterval(this.registerTimer);
    await this.placementHost?.stop();
    await this.store?.stop();
    await this.transport?.close();
    await this.kv.flush().catch(() => undefined);
  }

  /**
   * The replicated address book (or, until it arrives, the one a join answered), with the Raft
   * addresses given by --peers taking precedence (the operator's word: they may point at
   * proxies or other network paths from this node), plus this node.
   */
  addressBook(): Map<NodeId, MemberAddress> {
    const book = new Map<NodeId, MemberAddress>();
    for (const [id, address] of this.joinedMembers) book.set(id, address);
    for (const [id, address] of this.metaState?.memberAddresses() ?? []) book.set(id, address);
    for (const peer of this.config.peers ?? []) book.set(peer.id, { raft: peer.address, kv: book.get(peer.id)?.kv ?? '' });
    if (this.address.raft !== '') book.set(this.config.nodeId, this.address);
    return book;
  }

  /** A new leader records the addresses it knows from flags, so that nodes joining later learn them. */
  private recordMissingAddresses(): void {
    const replicated = this.metaState?.memberAddresses() ?? new Map<NodeId, MemberAddress>();
    const missing = new Map<NodeId, MemberAddress>();
    for (const [id, address] of this.addressBook()) {
      const known = replicated.get(id);
      const stale = known === undefined || (id === this.config.nodeId && (known.raft !== address.raft || known.kv !== address.kv));
      if (stale) missing.set(id, address);
    }
    if (missing.size === 0) return;
    const meta = this.metaReplica;
    if (meta === undefined) return;
    meta.propose({ op: 'members', members: missing }, 5000).catch((err: unknown) => {
      this.log(`could not record member addresses: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  /**
   * Gateways forward requests to a range's leader at its KV address, so every member makes sure
   * the meta range records it: through the Membership Join call, sent to members whose KV
   * address is known (a meta leader records its own), which redirect to the meta leader.
   */
  private async registerKvAddress(): Promise<void> {
    const meta = this.metaReplica;
    if (this.registering || meta === undefined || !meta.serving || this.retired !== undefined || this.stopping !== undefined) return;
    if (meta.role().role === 'leader') return; // recordMissingAddresses
    const known = this.metaState?.memberAddresses().get(this.config.nodeId);
    if (known === undefined || known.kv !== '') return;
    const endpoints = [...this.addressBook()].filter(([id, address]) => id !== this.config.nodeId && address.kv !== '').map(([, address]) => address.kv);
    if (endpoints.length === 0) return;
    this.registering = true;
    const client = new KvClient({ endpoints, clusterId: this.clusterId, deadlineMs: 3000, backoffMaxMs: 200 });
    try {
      await client.join(this.clusterId, this.config.nodeId, this.address);
      this.log(`recorded this node's KV address ${this.address.kv} in the meta range`);
    } catch (err) {
      this.log(`could not record this node's KV address yet: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      client.close();
      this.registering = false;
    }
  }

  private async joinCluster(seed: string): Promise<void> {
    const client = new KvClient({ endpoints: [seed], clusterId: this.clusterId, deadlineMs: 10_000, backoffMaxMs: 1000 });
    try {
      for (let attempt = 1; this.stopping === undefined; attempt++) {
        try {
          const members = await client.join(this.clusterId, this.config.nodeId, this.address, {}, { binaryVersion: this.binary.version, clusterVersionMin: this.binary.clusterVersionMin });
          this.joinedMembers = members;
          this.log(`joined cluster ${this.clusterId} through ${seed} as a learner; ${members.size} members`);
          return;
        } catch (err) {
          const code = err instanceof KvError ? err.code : '';
          this.log(`join attempt ${attempt} through ${seed} failed: ${code === '' ? '' : `${code}: `}${err instanceof Error ? err.message : String(err)}`);
          if (code === 'PH_JOIN_REFUSED' || code === 'PH_WRONG_CLUSTER' || code === 'PH_BAD_REQUEST' || code === 'PH_CLUSTER_VERSION_UNSUPPORTED') {
            this.log('join refused; stopping');
            process.exitCode = 1;
            process.kill(process.pid, 'SIGTERM');
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * attempt)));
        }
      }
    } finally {
      client.close();
    }
  }

  // ------------------------------------------------------------------ KvBackend

  private get activeStore(): Store {
    if (this.retired !== undefined) throw new KvError('PH_UNAVAILABLE', `node ${this.config.nodeId} was removed from the cluster`);
    if (this.store === undefined || this.stopping !== undefined) throw new KvError('PH_UNAVAILABLE', 'node is not serving');
    return this.store;
  }

  /** The meta range's replica, while serving. */
  private get activeReplica(): Replica {
    const meta = this.activeStore.meta();
    if (meta === undefined) throw new KvError('PH_UNAVAILABLE', 'node is not serving');
    return meta;
  }

  write(command: Command, deadlineMs: number, forwarded = false, served?: ServedReport): Promise<ApplyResult> {
    return this.gateway.write(command, deadlineMs, forwarded, served);
  }

  get(key: Buffer, deadlineMs: number, forwarded = false, served?: ServedReport, at?: bigint): Promise<Buffer | undefined> {
    return this.gateway.get(key, deadlineMs, forwarded, served, at);
  }

  scan(start: Buffer, end: Buffer, rowsMax: number, bytesMax: number, deadlineMs: number, forwarded = false, served?: ServedReport, at?: bigint): Promise<{ rows: ScanRow[]; more: boolean }> {
    return this.gateway.scan(start, end, rowsMax, bytesMax, deadlineMs, forwarded, served, at);
  }

  /** Requests this node forwarded to other nodes (tests). */
  get forwardedRequests(): number {
    return this.gateway.forwardedRequests;
  }

  /** The store of range replicas (tests and status). */
  get ranges(): Store | undefined {
    return this.store;
  }

  async join(nodeId: number, address: MemberAddress, deadlineMs: number, version?: { readonly binaryVersion: string; readonly clusterVersionMin: string }): Promise<ReadonlyMap<number, MemberAddress>> {
    const replica = this.activeReplica;
    if (replica.role().role !== 'leader') throw replica.notLeader();
    const clusterVersion = this.clusterVersion;
    if (version !== undefined && clusterVersion !== undefined) {
      const binary = { version: version.binaryVersion, clusterVersionMin: isVersion(version.clusterVersionMin) ? version.clusterVersionMin : version.binaryVersion };
      const why = isVersion(binary.version) ? cannotRun(binary, clusterVersion) : `binary version ${JSON.stringify(binary.version)} is not a version`;
      if (why !== undefined) throw new KvError('PH_CLUSTER_VERSION_UNSUPPORTED', `node ${nodeId} (binary ${binary.version}) cannot join cluster ${this.clusterId}: ${why}`);
    }
    if (this.lifecycles().removed.has(nodeId)) {
      throw new KvError('PH_JOIN_REFUSED', `node id ${nodeId} was removed from the cluster; node ids are never reused`);
    }
    const config = replica.status().config;
    const known = this.metaState?.memberAddresses().get(nodeId);
    const isMember = config.voters.includes(nodeId) || config.learners.includes(nodeId) || config.votersOutgoing.includes(nodeId);
    if (isMember && known !== undefined && known.kv === '' && address.kv !== '') {
      // A member registering its KV address (the gateways forward to it); its Raft address stays
      // as recorded (--peers may route it through another path).
      await replica.propose({ op: 'members', members: new Map([[nodeId, { raft: known.raft, kv: address.kv }]]) }, deadlineMs);
      return this.addressBook();
    }
    if (known !== undefined && known.raft !== address.raft) {
      throw new KvError('PH_JOIN_REFUSED', `node id ${nodeId} is already used by ${known.raft}; node ids are never reused`);
    }
    if (isMember) return this.addressBook();
    if (known === undefined) await replica.propose({ op: 'members', members: new Map([[nodeId, address]]) }, deadlineMs);
    this.log(`adding node ${nodeId} (${address.raft}) as a learner`);
    await replica.proposeConfChange({ changes: [{ op: 'add-learner', nodeId }], transition: 'auto' }, deadlineMs);
    return this.addressBook();
  }

  async recordRanges(descriptors: readonly RangeDescriptor[], deadlineMs: number): Promise<void> {
    const replica = this.activeReplica;
    if (replica.role().role !== 'leader') throw replica.notLeader();
    const copies = replica.stateMachine.rangeDescriptors();
    const news = descriptors.filter((desc) => desc.rangeId !== metaRangeId && (copies.get(desc.rangeId)?.generation ?? -1) <= desc.generation);
    if (news.length > 0) await replica.propose({ op: 'meta-descriptors', descriptors: news }, deadlineMs);
  }

  async heartbeat(record: Buffer, report: Buffer, deadlineMs: number): Promise<void> {
    const host = this.placementHost;
    if (this.activeStore !== this.store || host === undefined) throw new KvError('PH_UNAVAILABLE', 'node is not serving');
    await host.heartbeat(record, report, deadlineMs);
  }

  async changeReplicas(rangeId: number, op: string, nodeId: number, deadlineMs: number): Promise<boolean> {
    return this.activeStore.changeReplicas(rangeId, op, nodeId, deadlineMs);
  }

  /** The placement host (tests and the admin backend). */
  get placement(): PlacementHost | undefined {
    return this.placementHost;
  }

  /** A range leader's report to the meta leader, through any member with a known KV address. */
  private async pushDescriptors(descriptors: readonly RangeDescriptor[]): Promise<void> {
    const meta = this.metaReplica;
    const leader = meta?.role().leaderId ?? 0;
    const book = this.addressBook();
    const first = book.get(leader)?.kv ?? '';
    const endpoints = [first, ...[...book].filter(([id, a]) => id !== this.config.nodeId && a.kv !== '' && a.kv !== first).map(([, a]) => a.kv)].filter((e) => e !== '');
    if (endpoints.length === 0) return;
    const client = new KvClient({ endpoints, clusterId: this.clusterId, deadlineMs: 3000, backoffMaxMs: 200 });
    try {
      await client.recordRanges(descriptors);
    } finally {
      client.close();
    }
  }

  // ------------------------------------------------------------------ status

  status(): NodeStatus {
    const replica = this.metaReplica;
    if (replica === undefined) throw new KvError('PH_UNAVAILABLE', 'not started');
    const raft = replica.status();
    const book = this.addressBook();
    const members = [...raft.config.voters, ...raft.config.learners.map((id) => -id)];
    return {
      nodeId: this.config.nodeId,
      clusterId: this.clusterId,
      address: this.address.kv,
      raftAddress: this.address.raft,
      role: raft.role,
      term: raft.term,
      leaderId: raft.leaderId,
      leaderAddress: raft.leaderId === 0 ? '' : (book.get(raft.leaderId)?.kv ?? ''),
      // Log positions are summed over the node's ranges (each its own log), so they grow with
      // every write the node applies; role, term, leader and members are the meta range's.
      ...this.logTotals(),
      voters: raft.config.voters,
      learners: raft.config.learners,
      version: this.binary.version,
      clusterVersionMin: this.binary.clusterVersionMin,
      clusterVersion: this.clusterVersion ?? '',
      peers: members
        .filter((signed) => Math.abs(signed) !== this.config.nodeId)
        .map((signed) => {
          const id = Math.abs(signed);
          const progress = raft.progress.get(id);
          const version = this.peerVersions.get(id)?.version;
          return {
            id,
            address: book.get(id)?.kv ?? '',
            raftAddress: book.get(id)?.raft ?? '',
            learner: signed < 0,
            ...(progress === undefined ? {} : { match: progress.match, state: progress.state }),
            ...(version === undefined ? {} : { version }),
          };
        }),
    };
  }

  private logTotals(): { commitIndex: number; appliedIndex: number; lastIndex: number } {
    const totals = { commitIndex: 0, appliedIndex: 0, lastIndex: 0 };
    for (const replica of this.store?.allReplicas() ?? []) {
      const raft = replica.status();
      totals.commitIndex += raft.commit;
      totals.appliedIndex += Math.max(raft.applied, replica.stateMachine.appliedIndex());
      totals.lastIndex += raft.lastIndex;
    }
    return totals;
  }

  notReadyReason(): string | undefined {
    if (this.stopping !== undefined) return 'shutting down';
    if (this.retired !== undefined) return 'removed from the cluster';
    const replica = this.metaReplica;
    if (replica === undefined) return 'starting';
    const raft = replica.status();
    if (raft.leaderId === 0) return 'no leader known';
    if (!raft.config.voters.includes(this.config.nodeId) && !raft.config.learners.includes(this.config.nodeId)) return 'not a member yet';
    const applied = Math.max(raft.applied, this.metaState?.appliedIndex() ?? 0);
    if (raft.commit - applied > this.config.readyLagEntriesMax) return `applied index ${applied} lags commit ${raft.commit}`;
    return undefined;
  }

  get addresses(): MemberAddress {
    return this.address;
  }

  get httpListenPort(): number {
    return this.httpPort;
  }

  // ------------------------------------------------------------------ shutdown

  /** Hands leadership to the most caught-up voter, stops serving, flushes and closes. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.snapshotPacer?.stop();
    clearInterval(this.decommissionTimer);
    clearInterval(this.gcTimer);
    clearInterval(this.registerTimer);
    await this.retired;
    await this.placementHost?.stop();
    const led = (this.store?.allReplicas() ?? []).filter((replica) => replica.serving && replica.role().role === 'leader');
    await Promise.all(led.map((replica) => this.handOffLeadership(replica)));
    await this.httpServer?.close();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, 2000);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.gateway.close();
    this.backups?.close();
    await this.store?.stop();
    await this.transport?.close();
    await this.kv.flush().catch(() => undefined);
    await this.logStore.close();
    await this.kv.close();
    this.log('stopped');
  }

  private async handOffLeadership(replica: Replica): Promise<void> {
    const raft = replica.status();
    let target: NodeId = 0;
    let best = -1;
    for (const [id, progress] of raft.progress) {
      if (id === this.config.nodeId || !raft.config.voters.includes(id) || !progress.recentActive) continue;
      if (progress.match > best) {
        best = progress.match;
        target = id;
      }
    }
    if (target === 0) return;
    this.log(`range ${replica.groupId}: transferring leadership to node ${target}`);
    const moved = await replica.transferLeadership(target, Math.max(1000, this.config.tickMs * this.config.electionTimeoutTicks * 2));
    this.log(moved ? `range ${replica.groupId}: leadership moved to node ${target}` : `range ${replica.groupId}: leadership transfer did not finish; stopping anyway`);
  }
}
