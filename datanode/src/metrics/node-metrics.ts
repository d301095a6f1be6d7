/**
 * The data node's Prometheus metrics (`phantomdb_*`), in a registry of its own. Gauges and
 * mirrored counters are computed at scrape time from the sources' stats; the only work on hot
 * paths is a count and a histogram observation per finished gRPC request, Raft proposal and Raft
 * log fsync, on series objects held by the caller (hot.ts: no label hashing). Labels
 * are bounded: API and method names, result codes, Raft roles, LSM levels, peer node ids, drop
 * reasons — never keys or values. Every series carries `node` (this node's id); `cluster` and
 * `namespace` are added by the scrape (see docs/observability.md).
 *
 * Disabled with `--metrics off` (or PHANTOMDB_METRICS=off; the benchmark's `phantomdb-metrics-off`
 * system): then the node builds no NodeMetrics, installs no hook, and /metrics answers 404.
 */
import { Gauge, Registry } from 'prom-client';
import { HotCounter, HotHistogram, type HotCounterSeries, type HotHistogramSeries } from './hot.ts';
import { buildCommit } from './build-info.ts';
import { binaryVersion } from '../version/binary.ts';
import { formatVersion, parseVersion } from '../version/version.ts';
import { ExpositionRenderer, scrapeSliceMs } from './exposition.ts';
import { registerProcessMetrics } from './process.ts';
import { ScrapeScope } from './mirrored.ts';
import { installRequestObserver, type RequestObserver } from './request-hook.ts';
import { registerRaftMetrics, type RangeEventRecorder } from './raft-metrics.ts';
import { registerStorageMetrics } from './storage-metrics.ts';
import { registerTransportMetrics } from './transport-metrics.ts';
import type { ReplicaMetricsSink } from './sink.ts';
import type { NodeMetricsSources } from './sources.ts';

/** Latency buckets (seconds) for requests: 0.25 ms to 10 s. */
export const requestBuckets = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Latency buckets (seconds) for fsyncs: 50 µs to 5 s. */
export const fsyncBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/**
 * How often the event-loop delay monitor samples (ms). Every run of its timer wakes the node:
 * prom-client's default 10 ms cost about 3 ms of CPU a second on an idle node, 20 ms ~6 ms/s with
 * timer processing (issue 7, session 8), 100 ms ~1.5 ms/s. Samples are lateness (event-loop.ts),
 * so the rate does not shift the values; 10 a second still give 150-300 per 15-30 s scrape for
 * the p99.
 */
export const eventLoopSampleMs = 100;

/** `/phantomdb.kv.v1.KV/Put` → { api: 'kv', method: 'Put' }; anything else → other/other. */
export function splitMethodPath(path: string): { api: string; method: string } {
  const match = /^\/phantomdb\.([a-z]+)\.v\d+\.([A-Za-z]+)\/([A-Za-z]+)$/.exec(path);
  if (match === null) return { api: 'other', method: 'other' };
  const [, pkg = 'other', service = 'other', method = 'other'] = match;
  return { api: service === 'Membership' ? 'membership' : pkg, method };
}

/** The prefix of the Node.js process metrics' names. */
const processPrefix = 'phantomdb_';

export interface NodeMetricsOptions {
  readonly nodeId: number;
  readonly clusterId: string;
  /** Node.js process metrics (event loop lag, heap, GC). Default true. */
  readonly processMetrics?: boolean;
}

export class NodeMetrics implements RequestObserver, ReplicaMetricsSink {
  readonly registry = new Registry();
  /** Rebalance moves and snapshots, reported by the node as they finish. */
  readonly rangeEvents: RangeEventRecorder;
  private readonly requests: HotCounter;
  private readonly requestSeconds: HotHistogram;
  private readonly proposals: HotCounter;
  /** The series a request path and result feed, found once per kind of request. */
  private readonly requestSeries = new Map<string, { readonly count: HotCounterSeries; readonly seconds: HotHistogramSeries }>();
  private readonly okRequestSeries = new Map<string, { readonly count: HotCounterSeries; readonly seconds: HotHistogramSeries }>();
  private readonly proposalResults = new Map<string, HotCounterSeries>();
  private readonly proposalOk: HotCounterSeries;
  private readonly proposalSeconds: HotHistogramSeries;
  private readonly fsyncSeconds: HotHistogram;
  private raftFsync: HotHistogramSeries | undefined;
  private readonly httpConnections: Gauge;
  private openHttpConnections = 0;
  private uninstall: (() => void) | undefined;
  private stopProcessMetrics: (() => void) | undefined;
  /** Sources are read once per scrape (the scrape's metrics share the reads). */
  private readonly scope = new ScrapeScope();
  private readonly renderer: ExpositionRenderer;

  constructor(sources: NodeMetricsSources, options: NodeMetricsOptions) {
    const registers = [this.registry];
    const defaultLabels = { node: String(options.nodeId) };
    this.registry.setDefaultLabels(defaultLabels);
    this.renderer = new ExpositionRenderer(this.registry, defaultLabels);
    const info = new Gauge({ name: 'phantomdb_build_info', help: 'Always 1; labels say which build and cluster this node runs.', labelNames: ['version', 'commit', 'nodejs', 'cluster_id'], registers });
    // The binary version (version/binary.ts) without build metadata: nodes of a mixed-version
    // cluster (during a rolling upgrade) show as different versions.
    info.set({ version: formatVersion(parseVersion(binaryVersion().version)), commit: buildCommit(), nodejs: process.version, cluster_id: options.clusterId }, 1);
    this.requests = new HotCounter(this.registry, 'phantomdb_requests_total', 'gRPC requests served, by API (kv, membership, admin), method and result (ok or the PH_* error code).');
    this.requestSeconds = new HotHistogram(this.registry, 'phantomdb_request_duration_seconds', 'Time from receiving a gRPC request to answering it.', requestBuckets);
    this.fsyncSeconds = new HotHistogram(this.registry, 'phantomdb_wal_fsync_duration_seconds', 'Duration of each fsync of a write-ahead log (log="raft": the shared Raft log, the write-ahead log of replicated data).', fsyncBuckets);
    this.httpConnections = new Gauge({ name: 'phantomdb_http_connections', help: 'Open connections to the HTTP port (SQL API, admin, metrics scrapes).', registers, collect: () => this.httpConnections.set(this.openHttpConnections) });
    this.rangeEvents = registerRaftMetrics(this.registry, sources, this.scope);
    registerStorageMetrics(this.registry, sources, this.scope);
    registerTransportMetrics(this.registry, sources, this.scope);
    this.proposals = new HotCounter(this.registry, 'phantomdb_raft_proposals_total', 'Raft proposals (writes) made on this node\'s range replicas, by result: ok or the PH_* error code (PH_NOT_LEADER where it does not lead the range).');
    this.proposalOk = this.proposals.child({ result: 'ok' });
    this.proposalResults.set('ok', this.proposalOk);
    this.proposalSeconds = new HotHistogram(this.registry, 'phantomdb_raft_proposal_duration_seconds', 'Time from proposing a write on the leader to its being committed by a quorum and applied.', requestBuckets).child();
    if (options.processMetrics !== false) this.stopProcessMetrics = registerProcessMetrics(this.registry, processPrefix, this.scope, eventLoopSampleMs);
  }

  /** Starts receiving the gRPC services' requests (one observer per process). */
  install(): void {
    this.uninstall ??= installRequestObserver(this);
  }

  close(): void {
    this.uninstall?.();
    this.uninstall = undefined;
    this.stopProcessMetrics?.();
    this.stopProcessMetrics = undefined;
  }

  requestFinished(path: string, result: string, seconds: number): void {
    // Most requests succeed: their series are found by the path alone (no key to build per request).
    const ok = result === 'ok';
    const key = ok ? path : `${path} ${result}`;
    const found = ok ? this.okRequestSeries : this.requestSeries;
    let series = found.get(key);
    if (series === undefined) {
      // Paths and results are bounded (registered methods, PH_* codes); splitMethodPath maps
      // anything else to 'other', and the map stops growing past a sane size.
      const { api, method } = splitMethodPath(path);
      series = { count: this.requests.child({ api, method, result }), seconds: this.requestSeconds.child({ api, method }) };
      if (found.size < 1024) found.set(key, series);
    }
    series.count.inc();
    series.seconds.observe(seconds);
  }

  /** A proposal to a range replica on this node ended: 'ok' or the error's code. */
  proposalFinished(result: string, seconds: number): void {
    if (result === 'ok') {
      this.proposalOk.inc();
      this.proposalSeconds.observe(seconds);
      return;
    }
    let series = this.proposalResults.get(result);
    if (series === undefined) {
      series = this.proposals.child({ result });
      // Results are PH_* codes or 'error' (sink.ts), a bounded set.
      this.proposalResults.set(result, series);
    }
    series.inc();
  }

  snapshotFinished(direction: 'sent' | 'received', result: 'succeeded' | 'failed'): void {
    this.rangeEvents.snapshotFinished(direction, result);
  }

  snapshotBytesSent(bytes: number): void {
    this.rangeEvents.snapshotBytesSent(bytes);
  }

  roleChanged(): void {
    this.rangeEvents.leaderChanged();
  }

  /** An fsync of the shared Raft log took `elapsedMs` (RaftLogEngine's onFsync option). */
  raftLogFsync(elapsedMs: number): void {
    (this.raftFsync ??= this.fsyncSeconds.child({ log: 'raft' })).observe(elapsedMs / 1000);
  }

  /** Counts the HTTP server's open connections. */
  httpConnectionOpened(): void {
    this.openHttpConnections++;
  }

  httpConnectionClosed(): void {
    this.openHttpConnections = Math.max(0, this.openHttpConnections - 1);
  }

  /**
   * The Prometheus text exposition of every metric (the same text as `registry.metrics()`),
   * rendered in slices of about `sliceMs` with the event loop running in between.
   */
  async exposition(sliceMs: number = scrapeSliceMs): Promise<string> {
    const end = this.scope.begin();
    try {
      return await this.renderer.render({ sliceMs });
    } finally {
      end();
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
