/**
 * The data node's Prometheus metrics (`phantomdb_*`), in a registry of its own. Gauges and
 * mirrored counters are computed at scrape time from the sources' stats; the only work on hot
 * paths is one histogram observation per finished gRPC request and per Raft log fsync. Labels
 * are bounded: API and method names, result codes, Raft roles, LSM levels, peer node ids, drop
 * reasons — never keys or values. Every series carries `node` (this node's id); `cluster` and
 * `namespace` are added by the scrape (see docs/observability.md).
 *
 * Disabled with PHANTOMDB_METRICS=off (the benchmark's `phantomdb-metrics-off` system): then no
 * hook is installed and /metrics answers 404.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildCommit, buildVersion } from './build-info.ts';
import { installRequestObserver, type RequestObserver } from './request-hook.ts';
import { registerRaftMetrics, type RangeEventRecorder } from './raft-metrics.ts';
import { registerStorageMetrics } from './storage-metrics.ts';
import { registerTransportMetrics } from './transport-metrics.ts';
import type { NodeMetricsSources } from './sources.ts';

/** Latency buckets (seconds) for requests: 0.25 ms to 10 s. */
export const requestBuckets = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Latency buckets (seconds) for fsyncs: 50 µs to 5 s. */
export const fsyncBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/** Whether metrics are on for this process (PHANTOMDB_METRICS=off turns them off). */
export function metricsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const setting = (env.PHANTOMDB_METRICS ?? 'on').toLowerCase();
  return !(setting === 'off' || setting === '0' || setting === 'false');
}

/** `/phantomdb.kv.v1.KV/Put` → { api: 'kv', method: 'Put' }; anything else → other/other. */
export function splitMethodPath(path: string): { api: string; method: string } {
  const match = /^\/phantomdb\.([a-z]+)\.v\d+\.([A-Za-z]+)\/([A-Za-z]+)$/.exec(path);
  if (match === null) return { api: 'other', method: 'other' };
  const [, pkg = 'other', service = 'other', method = 'other'] = match;
  return { api: service === 'Membership' ? 'membership' : pkg, method };
}

export interface NodeMetricsOptions {
  readonly nodeId: number;
  readonly clusterId: string;
  /** Node.js process metrics (event loop lag, heap, GC). Default true. */
  readonly processMetrics?: boolean;
}

export class NodeMetrics implements RequestObserver {
  readonly registry = new Registry();
  /** Rebalance moves and snapshots, reported by the node as they finish. */
  readonly rangeEvents: RangeEventRecorder;
  private readonly requests: Counter<'api' | 'method' | 'result'>;
  private readonly requestSeconds: Histogram<'api' | 'method'>;
  private readonly fsyncSeconds: Histogram<'log'>;
  private readonly proposals: Counter<'result'>;
  private readonly proposalSeconds: Histogram;
  private readonly httpConnections: Gauge;
  private openHttpConnections = 0;
  private uninstall: (() => void) | undefined;
  /** Method paths already split, so a request does no regex work after the first of its kind. */
  private readonly methodLabels = new Map<string, { api: string; method: string }>();

  constructor(sources: NodeMetricsSources, options: NodeMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: String(options.nodeId) });
    const info = new Gauge({ name: 'phantomdb_build_info', help: 'Always 1; labels say which build and cluster this node runs.', labelNames: ['version', 'commit', 'nodejs', 'cluster_id'], registers });
    info.set({ version: buildVersion(), commit: buildCommit(), nodejs: process.version, cluster_id: options.clusterId }, 1);
    this.requests = new Counter({ name: 'phantomdb_requests_total', help: 'gRPC requests served, by API (kv, membership, admin), method and result (ok or the PH_* error code).', labelNames: ['api', 'method', 'result'], registers });
    this.requestSeconds = new Histogram({ name: 'phantomdb_request_duration_seconds', help: 'Time from receiving a gRPC request to answering it.', labelNames: ['api', 'method'], buckets: requestBuckets, registers });
    this.fsyncSeconds = new Histogram({ name: 'phantomdb_wal_fsync_duration_seconds', help: 'Duration of each fsync of a write-ahead log (log="raft": the shared Raft log, the write-ahead log of replicated data).', labelNames: ['log'], buckets: fsyncBuckets, registers });
    this.httpConnections = new Gauge({ name: 'phantomdb_http_connections', help: 'Open connections to the HTTP port (SQL API, admin, metrics scrapes).', registers, collect: () => this.httpConnections.set(this.openHttpConnections) });
    this.rangeEvents = registerRaftMetrics(this.registry, sources);
    registerStorageMetrics(this.registry, sources);
    registerTransportMetrics(this.registry, sources);
    this.proposals = new Counter({ name: 'phantomdb_raft_proposals_total', help: 'Raft proposals (writes) to ranges this node leads, by result (ok or the PH_* error code).', labelNames: ['result'], registers });
    this.proposals.inc({ result: 'ok' }, 0);
    this.proposalSeconds = new Histogram({ name: 'phantomdb_raft_proposal_duration_seconds', help: 'Time from proposing a write on the leader to its being committed by a quorum and applied.', buckets: requestBuckets, registers });
    sources.onRaftLogFsync?.((seconds) => this.fsyncSeconds.observe({ log: 'raft' }, seconds));
    sources.onRaftProposal?.((result, seconds) => {
      this.proposals.inc({ result });
      if (result === 'ok') this.proposalSeconds.observe(seconds);
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'phantomdb_' });
  }

  /** Starts receiving the gRPC services' requests (one observer per process). */
  install(): void {
    this.uninstall ??= installRequestObserver(this);
  }

  close(): void {
    this.uninstall?.();
    this.uninstall = undefined;
  }

  requestFinished(path: string, result: string, seconds: number): void {
    let labels = this.methodLabels.get(path);
    if (labels === undefined) {
      labels = splitMethodPath(path);
      if (this.methodLabels.size < 256) this.methodLabels.set(path, labels);
    }
    this.requests.inc({ api: labels.api, method: labels.method, result });
    this.requestSeconds.observe(labels, seconds);
  }

  /** Counts the HTTP server's open connections. */
  httpConnectionOpened(): void {
    this.openHttpConnections++;
  }

  httpConnectionClosed(): void {
    this.openHttpConnections = Math.max(0, this.openHttpConnections - 1);
  }

  /** The Prometheus text exposition of every metric. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
