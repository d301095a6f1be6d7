import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../http/server.ts';
import { startHttpServer } from '../http/server.ts';
import type { RaftStatus } from '../raft/raft.ts';
import { RaftLogEngine } from '../raft/logstore/engine.ts';
import { simpleConfState } from '../raft/types.ts';
import { StorageEngine, WriteBatch } from '../storage/engine.ts';
import { realFs } from '../storage/fs.ts';
import { NodeMetrics, splitMethodPath } from './node-metrics.ts';
import { ScrapeScope } from './mirrored.ts';
import { requestObserver } from './request-hook.ts';
import { singleRangeReport } from './raft-metrics.ts';
import { rangeReportsOf } from './range-report.ts';
import { observeProposal, observeSnapshotReceived } from './sink.ts';
import type { NodeMetricsSources } from './sources.ts';
import { leaderStatus } from './status.test-support.ts';

const status: NodeStatus = leaderStatus;

function raftStatus(progress: [number, { state: 'probe' | 'replicate' | 'snapshot'; recentActive: boolean }][], role: RaftStatus['role'] = 'leader'): RaftStatus {
  return {
    id: 2,
    groupId: 1,
    role,
    term: 7,
    vote: 2,
    leaderId: role === 'leader' ? 2 : 0,
    commit: 120,
    applied: 115,
    lastIndex: 130,
    config: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    leadTransferee: 0,
    quiesced: false,
    progress: new Map(progress.map(([id, p]) => [id, { match: 0, next: 1, inflightMsgs: 0, pendingSnapshot: 0, isLearner: false, ...p }])),
  } as RaftStatus;
}

/** `name{a="1",b="2"}` as a name and a label map (label order does not matter). */
function parseSeries(series: string): { name: string; labels: Map<string, string> } {
  const brace = series.indexOf('{');
  if (brace < 0) return { name: series, labels: new Map() };
  const labels = new Map<string, string>();
  for (const match of series.slice(brace + 1, -1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels.set(match[1] ?? '', match[2] ?? '');
  return { name: series.slice(0, brace), labels };
}

/** The value of one series in a text exposition, or undefined when it is absent. */
function valueOf(text: string, series: string): number | undefined {
  const wanted = parseSeries(series);
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const at = line.lastIndexOf(' ');
    const found = parseSeries(line.slice(0, at));
    if (found.name !== wanted.name || found.labels.size !== wanted.labels.size) continue;
    if ([...wanted.labels].every(([k, v]) => found.labels.get(k) === v)) return Number(line.slice(at + 1));
  }
  return undefined;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('NodeMetrics', () => {
  it('exports Raft state from the status at scrape time, with the node label', async () => {
    let current = status;
    const metrics = new NodeMetrics({ status: () => current }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    let text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_raft_term{node="2"}')).toBe(7);
    expect(valueOf(text, 'phantomdb_raft_apply_lag_entries{node="2"}')).toBe(5);
    expect(valueOf(text, 'phantomdb_raft_role{role="leader",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_follower_lag_entries{peer="1",node="2"}')).toBe(30);
    expect(text).toMatch(/phantomdb_build_info\{version="[^"]+",commit="[^"]+",nodejs="v\d+[^"]*",cluster_id="c1",node="2"\} 1/);
    current = { ...status, role: 'follower', term: 9, peers: [] };
    text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_raft_term{node="2"}')).toBe(9);
    expect(valueOf(text, 'phantomdb_raft_role{role="leader",node="2"}')).toBe(0);
    expect(text).not.toContain('phantomdb_raft_follower_lag_entries{');
  });

  it('reads the status and the range reports once per scrape, afresh at every scrape', async () => {
    let statusReads = 0;
    let rangeReads = 0;
    let term = 7;
    const sources: NodeMetricsSources = {
      status: () => {
        statusReads++;
        return { ...status, term };
      },
      ranges: () => {
        rangeReads++;
        return rangeReportsOf(raftStatus([[1, { state: 'replicate', recentActive: true }], [3, { state: 'replicate', recentActive: true }]]));
      },
    };
    const metrics = new NodeMetrics(sources, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    // Slices of 0 ms: the scrape yields to the event loop after every family, and still reads once.
    const first = await metrics.exposition(0);
    expect({ statusReads, rangeReads }).toEqual({ statusReads: 1, rangeReads: 1 });
    expect(valueOf(first, 'phantomdb_raft_term{node="2"}')).toBe(7);
    expect(valueOf(first, 'phantomdb_ranges{state="leader",node="2"}')).toBe(1);
    term = 8;
    const second = await metrics.exposition(0);
    expect({ statusReads, rangeReads }).toEqual({ statusReads: 2, rangeReads: 2 });
    expect(valueOf(second, 'phantomdb_raft_term{node="2"}')).toBe(8);
  });

  it('counts requests by API, method and result and observes their latency', async () => {
    const metrics = new NodeMetrics({ status: () => status }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    metrics.install();
    cleanups.push(() => metrics.close());
    requestObserver()?.requestFinished('/phantomdb.kv.v1.KV/Put', 'ok', 0.002);
    requestObserver()?.requestFinished('/phantomdb.kv.v1.KV/Put', 'PH_NOT_LEADER', 0.0001);
    requestObserver()?.requestFinished('/phantomdb.admin.v1.Admin/ClusterStatus', 'ok', 0.02);
    const text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_requests_total{api="kv",method="Put",result="ok",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_requests_total{api="kv",method="Put",result="PH_NOT_LEADER",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_request_duration_seconds_count{api="admin",method="ClusterStatus",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_request_duration_seconds_bucket{le="0.0025",api="kv",method="Put",node="2"}')).toBe(2);
    metrics.close();
    expect(requestObserver()).toBeUndefined();
  });

  it('mirrors the storage engine, Raft log and transport totals as counters', async () => {
    const sources: NodeMetricsSources = {
      status: () => status,
      raftLog: () => ({ appends: 10, records: 12, bytes: 4096, fsyncs: 4, fsyncLastMs: 1, fsyncMaxMs: 3, fsyncTotalMs: 6, segments: 2, segmentsDeleted: 0, liveGroups: 1, cachedBytes: 100 }),
      transport: () => ({
        peers: new Map([[1, { framesSent: 1, messagesSent: 5, bytesSent: 50, framesReceived: 1, messagesReceived: 6, bytesReceived: 60, droppedQueueFull: 2, droppedUnreachable: 0, droppedOversized: 0, connectAttempts: 1, reconnects: 0, connectFailures: 0, handshakeRejections: 0, protocolErrors: 0, unreachableReports: 0, state: 'ready', queueMessages: 3, queueBytes: 30 }]]),
        handshakeRejections: 0,
        protocolErrors: {},
      }),
    };
    const metrics = new NodeMetrics(sources, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    const text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_raft_log_fsyncs_total{node="2"}')).toBe(4);
    expect(valueOf(text, 'phantomdb_raft_log_fsync_seconds_total{node="2"}')).toBe(0.006);
    expect(valueOf(text, 'phantomdb_raft_log_size{kind="segments",node="2"}')).toBe(2);
    expect(valueOf(text, 'phantomdb_transport_messages_total{peer="1",direction="received",node="2"}')).toBe(6);
    expect(valueOf(text, 'phantomdb_transport_frames_total{peer="1",direction="sent",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_transport_dropped_messages_total{peer="1",reason="queue_full",node="2"}')).toBe(2);
    expect(valueOf(text, 'phantomdb_transport_peer_connected{peer="1",node="2"}')).toBe(1);
    expect(text).not.toContain('phantomdb_storage_flushes_total{');
  });

  it('reads a real storage engine and its disk', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-metrics-'));
    const engine = await StorageEngine.open(dir, {});
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    cleanups.push(() => engine.close());
    const batch = new WriteBatch();
    batch.put(Buffer.from('k'), Buffer.from('value'));
    await engine.write(batch, { sync: true });
    const metrics = new NodeMetrics({ status: () => status, storage: () => engine.stats(), dataDir: dir }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    const text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_storage_user_bytes_written_total{node="2"}')).toBeGreaterThan(0);
    expect(valueOf(text, 'phantomdb_storage_wal_syncs_total{node="2"}')).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, 'phantomdb_storage_level{level="0",kind="files",node="2"}')).toBe(0);
    expect(valueOf(text, 'phantomdb_disk_bytes{kind="capacity",node="2"}')).toBeGreaterThan(0);
    expect(valueOf(text, 'phantomdb_disk_bytes{kind="available",node="2"}')).toBeGreaterThan(0);
    // No Raft log or transport among the sources: their series are absent, not zero.
    expect(text).not.toContain('phantomdb_raft_log_fsyncs_total{');
  });

  it('observes every fsync of a real Raft log engine through its onFsync option', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-metrics-raftlog-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const opened: { log?: RaftLogEngine } = {};
    const metrics = new NodeMetrics({ status: () => status, raftLog: () => opened.log?.stats }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    const log = await RaftLogEngine.open(realFs, path.join(dir, 'raft'), { onFsync: (ms) => metrics.raftLogFsync(ms) });
    opened.log = log;
    cleanups.push(() => log.close());
    await log.createGroup(1, simpleConfState([1]));
    await log.append(1, [{ index: 2, term: 1, kind: 'normal', data: new Uint8Array([1]) }]);
    const text = await metrics.exposition();
    const fsyncs = log.stats.fsyncs;
    expect(fsyncs).toBeGreaterThanOrEqual(2);
    expect(valueOf(text, 'phantomdb_wal_fsync_duration_seconds_count{log="raft",node="2"}')).toBe(fsyncs);
    expect(valueOf(text, 'phantomdb_wal_fsync_duration_seconds_bucket{le="+Inf",log="raft",node="2"}')).toBe(fsyncs);
    expect(valueOf(text, 'phantomdb_raft_log_fsyncs_total{node="2"}')).toBe(fsyncs);
  });

  it('buckets fsync durations in seconds', async () => {
    const metrics = new NodeMetrics({ status: () => status }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    metrics.raftLogFsync(3);
    metrics.raftLogFsync(40);
    const text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_wal_fsync_duration_seconds_count{log="raft",node="2"}')).toBe(2);
    expect(valueOf(text, 'phantomdb_wal_fsync_duration_seconds_bucket{le="0.005",log="raft",node="2"}')).toBe(1);
  });
});

describe('single range report', () => {
  it('counts live and lagging voters on the leader only', () => {
    const healthy = singleRangeReport({ status: () => status, raftStatus: () => raftStatus([[1, { state: 'replicate', recentActive: true }], [3, { state: 'replicate', recentActive: true }]]) });
    expect(healthy).toEqual([{ rangeId: 1, role: 'leader', leaderKnown: true, commitIndex: 120, term: 7, voters: 3, liveVoters: 3, laggingVoters: 0, quiesced: false }]);
    const oneDown = singleRangeReport({ status: () => status, raftStatus: () => raftStatus([[1, { state: 'probe', recentActive: false }], [3, { state: 'replicate', recentActive: true }]]) });
    expect(oneDown[0]?.liveVoters).toBe(2);
    expect(oneDown[0]?.laggingVoters).toBe(1);
    const follower = singleRangeReport({ status: () => status, raftStatus: () => raftStatus([], 'follower') });
    expect(follower[0]?.liveVoters).toBeUndefined();
    expect(follower[0]?.leaderKnown).toBe(false);
  });

  it('exports under-replicated and quorum-at-risk ranges from the leader', async () => {
    const metrics = new NodeMetrics(
      { status: () => status, raftStatus: () => raftStatus([[1, { state: 'probe', recentActive: false }], [3, { state: 'replicate', recentActive: true }]]) },
      { nodeId: 2, clusterId: 'c1', processMetrics: false },
    );
    const text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_ranges{state="replicas",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_ranges{state="leader",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_ranges{state="under_replicated",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_ranges{state="quorum_at_risk",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_ranges{state="unavailable",node="2"}')).toBe(0);
  });
});

describe('ranges of a multi-range node', () => {
  it('reports every range of the store, with liveness from the time each peer was last heard from', async () => {
    const leaderOfRange = (groupId: number, heard: Record<number, number>): { status(): RaftStatus; sinceHeardMs(peer: number): number } => ({
      status: () => ({ ...raftStatus([[1, { state: 'replicate', recentActive: false }], [3, { state: 'replicate', recentActive: false }]]), groupId }),
      sinceHeardMs: (peer: number) => heard[peer] ?? Number.POSITIVE_INFINITY,
    });
    const follower = { status: () => ({ ...raftStatus([], 'follower'), groupId: 3, leaderId: 1, quiesced: true }), sinceHeardMs: () => 0 };
    const replicas = [leaderOfRange(1, { 1: 10, 3: 20 }), leaderOfRange(2, { 1: 10, 3: 60_000 }), follower];
    // As the DataNode builds it: every replica of the store, live when heard from within an election timeout.
    const sources: NodeMetricsSources = { status: () => status, ranges: () => replicas.flatMap((r) => rangeReportsOf(r.status(), (peer) => r.sinceHeardMs(peer) <= 1000)) };
    expect([...(sources.ranges?.() ?? [])].map((r) => [r.rangeId, r.role, r.liveVoters])).toEqual([[1, 'leader', 3], [2, 'leader', 2], [3, 'follower', undefined]]);
    const metrics = new NodeMetrics(sources, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    const text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_ranges{state="replicas",node="2"}')).toBe(3);
    expect(valueOf(text, 'phantomdb_ranges{state="leader",node="2"}')).toBe(2);
    expect(valueOf(text, 'phantomdb_ranges{state="under_replicated",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_ranges{state="quorum_at_risk",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_ranges{state="unavailable",node="2"}')).toBe(0);
    expect(valueOf(text, 'phantomdb_ranges{state="quiesced",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_ranges_commit_index{node="2"}')).toBe(360);
    expect(valueOf(text, 'phantomdb_ranges_term{node="2"}')).toBe(21);
  });
});

describe('events reported through the sink', () => {
  it('counts proposals by result and times the successful ones', async () => {
    const metrics = new NodeMetrics({ status: () => status }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    expect(await observeProposal(metrics, () => Promise.resolve(42))).toBe(42);
    await expect(observeProposal(metrics, () => Promise.reject(Object.assign(new Error('late'), { code: 'PH_DEADLINE_EXCEEDED' })))).rejects.toThrow('late');
    expect(() =>
      observeProposal(metrics, () => {
        throw Object.assign(new Error('not leader'), { code: 'PH_NOT_LEADER' });
      }),
    ).toThrow('not leader');
    await expect(observeProposal(metrics, () => Promise.reject(new Error('no code')))).rejects.toThrow('no code');
    const text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_raft_proposals_total{result="ok",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_proposals_total{result="PH_DEADLINE_EXCEEDED",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_proposals_total{result="PH_NOT_LEADER",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_proposals_total{result="error",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_proposal_duration_seconds_count{node="2"}')).toBe(1);
  });

  it('passes proposals through untouched without a sink', async () => {
    expect(await observeProposal(undefined, () => Promise.resolve('same'))).toBe('same');
  });

  it('counts snapshots sent and received by result, and role changes', async () => {
    const metrics = new NodeMetrics({ status: () => status }, { nodeId: 2, clusterId: 'c1', processMetrics: false });
    let text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_raft_snapshots_total{direction="received",result="failed",node="2"}')).toBe(0);
    metrics.snapshotFinished('sent', 'succeeded');
    metrics.snapshotFinished('sent', 'failed');
    await observeSnapshotReceived(metrics, () => Promise.resolve());
    await expect(observeSnapshotReceived(metrics, () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await observeSnapshotReceived(metrics, () => Promise.resolve());
    metrics.roleChanged();
    metrics.roleChanged();
    metrics.snapshotBytesSent(65_536);
    metrics.snapshotBytesSent(1000);
    metrics.rangeEvents.rebalanceCopiesInFlight(2);
    text = await metrics.exposition();
    expect(valueOf(text, 'phantomdb_raft_snapshot_sent_bytes_total{node="2"}')).toBe(66_536);
    expect(valueOf(text, 'phantomdb_rebalance_copies_in_flight{node="2"}')).toBe(2);
    expect(valueOf(text, 'phantomdb_raft_snapshots_total{direction="sent",result="succeeded",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_snapshots_total{direction="sent",result="failed",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_snapshots_total{direction="received",result="succeeded",node="2"}')).toBe(2);
    expect(valueOf(text, 'phantomdb_raft_snapshots_total{direction="received",result="failed",node="2"}')).toBe(1);
    expect(valueOf(text, 'phantomdb_raft_leader_changes_total{node="2"}')).toBe(2);
  });
});

describe('helpers', () => {
  it('splits gRPC method paths into bounded labels', () => {
    expect(splitMethodPath('/phantomdb.kv.v1.KV/Get')).toEqual({ api: 'kv', method: 'Get' });
    expect(splitMethodPath('/phantomdb.kv.v1.Membership/Join')).toEqual({ api: 'membership', method: 'Join' });
    expect(splitMethodPath('/phantomdb.admin.v1.Admin/Drain')).toEqual({ api: 'admin', method: 'Drain' });
    expect(splitMethodPath('/evil/"path')).toEqual({ api: 'other', method: 'other' });
  });

  it('shares a source\'s read within a scrape, reads afresh at the next, and reads every time outside one', () => {
    const scope = new ScrapeScope();
    let reads = 0;
    const read = scope.shared(() => ++reads);
    expect([read(), read()]).toEqual([1, 2]);
    const end = scope.begin();
    expect([read(), read()]).toEqual([3, 3]);
    end();
    const endNext = scope.begin();
    expect([read(), read()]).toEqual([4, 4]);
    endNext();
    endNext();
    expect(read()).toBe(5);
  });
});

describe('/metrics on the HTTP server', () => {
  it('serves the exposition of the metrics it is given, and 404 without', async () => {
    const source = { status: () => status, notReadyReason: () => undefined };
    const metrics = new NodeMetrics({ status: () => status }, { nodeId: 2, clusterId: 'c1' });
    const { server, port } = await startHttpServer('127.0.0.1:0', source, { metrics });
    cleanups.push(() => server.close());
    expect(requestObserver()).toBe(metrics);
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('phantomdb_raft_term{node="2"} 7');
    expect(text).toContain('phantomdb_nodejs_eventloop_lag_seconds');
    expect(valueOf(text, 'phantomdb_http_connections{node="2"}')).toBeGreaterThanOrEqual(1);
    const off = await startHttpServer('127.0.0.1:0', source);
    cleanups.push(() => off.server.close());
    expect((await fetch(`http://127.0.0.1:${off.port}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${off.port}/status`)).status).toBe(200);
  });
});
