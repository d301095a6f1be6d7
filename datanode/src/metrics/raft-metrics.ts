/**
 * Raft, Raft log and range metrics, read at scrape time. Today a node hosts a single range (the
 * whole keyspace, one Raft group), so the range gauges describe that one; when the node hosts
 * many ranges it supplies `sources.ranges()` and the same series count them all.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { mirroredCounter, scrapedGauge, type ScrapeScope, type Total } from './mirrored.ts';
import type { RaftLogStats } from '../raft/logstore/engine.ts';
import { collectInSlices } from './exposition.ts';
import { rangeReportsOf } from './range-report.ts';
import type { NodeMetricsSources, RangeReplicaReport } from './sources.ts';

const roles = ['leader', 'follower', 'candidate', 'pre-candidate'] as const;

/** The node's single range, from its Raft status (for sources without `ranges()`). */
export function singleRangeReport(sources: NodeMetricsSources): RangeReplicaReport[] {
  return rangeReportsOf(sources.raftStatus?.());
}

function registerRaftStateMetrics(registry: Registry, sources: NodeMetricsSources, status: () => ReturnType<NodeMetricsSources['status']>): Counter {
  const registers = [registry];
  const gauge = (name: string, help: string, read: (s: NonNullable<ReturnType<NodeMetricsSources['status']>>) => number): void => {
    scrapedGauge(registry, name, help, [], () => {
      const current = status();
      return current === undefined ? [] : [{ labels: {}, total: read(current) }];
    });
  };
  // These describe the replica the node's status reports: the meta range on a multi-range node.
  gauge('phantomdb_raft_term', 'Current Raft term of this node\'s replica of the (meta) range its status reports (a rising term means elections).', (s) => s.term);
  gauge('phantomdb_raft_commit_index', 'Highest log index known committed (its rate is the commit rate).', (s) => s.commitIndex);
  gauge('phantomdb_raft_applied_index', 'Highest log index applied to the storage engine.', (s) => s.appliedIndex);
  gauge('phantomdb_raft_last_index', 'Last index in this replica\'s log.', (s) => s.lastIndex);
  gauge('phantomdb_raft_apply_lag_entries', 'Committed entries not yet applied on this node.', (s) => Math.max(0, s.commitIndex - s.appliedIndex));
  gauge('phantomdb_raft_leader_known', '1 when this node knows a leader.', (s) => (s.leaderId === 0 ? 0 : 1));
  gauge('phantomdb_raft_voters', 'Voters in the Raft configuration as this node sees it.', (s) => s.voters.length);
  gauge('phantomdb_raft_learners', 'Learners (non-voting replicas catching up) in the Raft configuration.', (s) => s.learners.length);
  scrapedGauge(registry, 'phantomdb_raft_role', '1 for the role this node\'s replica has (leader, follower, candidate, pre-candidate), 0 for the others.', ['role'], () => {
    const current = status();
    return roles.map((r) => ({ labels: { role: r }, total: current?.role === r ? 1 : 0 }));
  });
  scrapedGauge(registry, 'phantomdb_raft_follower_lag_entries', 'On the leader: entries each follower is behind the leader\'s last index.', ['peer'], () => {
    const current = status();
    if (current?.role !== 'leader') return [];
    const lags: Total<'peer'>[] = [];
    for (const peer of current.peers) if (peer.match !== undefined) lags.push({ labels: { peer: String(peer.id) }, total: Math.max(0, current.lastIndex - peer.match) });
    return lags;
  });
  return new Counter({ name: 'phantomdb_raft_leader_changes_total', help: 'Leader or role changes this node\'s range replicas saw (elections, transfers, step-downs), over all ranges.', registers });
}

function registerRaftLogMetrics(registry: Registry, sources: NodeMetricsSources, scope: ScrapeScope): void {
  const stats = scope.shared(() => sources.raftLog?.());
  const mirror = (name: string, help: string, read: (s: RaftLogStats) => number): void => {
    mirroredCounter(registry, name, help, [], () => {
      const current = stats();
      return current === undefined ? [] : [{ labels: {}, total: read(current) }];
    });
  };
  mirror('phantomdb_raft_log_appends_total', 'Writes to the shared Raft log (appends, hard states, snapshots).', (s) => s.appends);
  mirror('phantomdb_raft_log_bytes_written_total', 'Bytes written to the shared Raft log, record headers included.', (s) => s.bytes);
  mirror('phantomdb_raft_log_fsyncs_total', 'fsyncs of the shared Raft log (group commits).', (s) => s.fsyncs);
  mirror('phantomdb_raft_log_fsync_seconds_total', 'Time spent in fsyncs of the shared Raft log.', (s) => s.fsyncTotalMs / 1000);
  scrapedGauge(registry, 'phantomdb_raft_log_size', 'Size of the shared Raft log: kind="segments" (files), "cached_bytes" (entries held in memory), "groups" (Raft groups in it).', ['kind'], () => {
    const current = stats();
    if (current === undefined) return [];
    return [
      { labels: { kind: 'segments' }, total: current.segments },
      { labels: { kind: 'cached_bytes' }, total: current.cachedBytes },
      { labels: { kind: 'groups' }, total: current.liveGroups },
    ];
  });
}

function registerRangeMetrics(registry: Registry, sources: NodeMetricsSources, status: () => ReturnType<NodeMetricsSources['status']>, scope: ScrapeScope): void {
  const registers = [registry];
  // Built once per scrape, in slices (a node may hold thousands of ranges); the gauges share it.
  const reports = scope.shared((): Promise<readonly RangeReplicaReport[]> => collectInSlices(sources.ranges?.() ?? singleRangeReport(sources)));
  const ranges: Gauge<'state'> = new Gauge({
    name: 'phantomdb_ranges',
    help: 'Ranges with a replica on this node, by state as this node sees it: replicas (all), leader (this node leads), under_replicated and quorum_at_risk (counted by the leader), unavailable (no leader known), quiesced (idle, sending no heartbeats).',
    labelNames: ['state'],
    registers,
    async collect() {
      const all = await reports();
      const count = (pick: (r: RangeReplicaReport) => boolean): number => all.filter(pick).length;
      ranges.set({ state: 'replicas' }, all.length);
      ranges.set({ state: 'leader' }, count((r) => r.role === 'leader'));
      ranges.set({ state: 'under_replicated' }, count((r) => r.liveVoters !== undefined && (r.liveVoters < r.voters || (r.laggingVoters ?? 0) > 0)));
      // At risk: losing one more live voter would lose the majority.
      ranges.set({ state: 'quorum_at_risk' }, count((r) => r.liveVoters !== undefined && r.liveVoters - 1 < Math.floor(r.voters / 2) + 1));
      ranges.set({ state: 'unavailable' }, count((r) => !r.leaderKnown));
      ranges.set({ state: 'quiesced' }, count((r) => r.quiesced === true));
    },
  });
  const commits: Gauge = new Gauge({
    name: 'phantomdb_ranges_commit_index',
    help: 'Sum of the commit indexes of the range replicas on this node: its rate is the entries committed per second over all ranges.',
    registers,
    async collect() {
      commits.set((await reports()).reduce((sum, r) => sum + r.commitIndex, 0));
    },
  });
  const terms: Gauge = new Gauge({
    name: 'phantomdb_ranges_term',
    help: 'Sum of the Raft terms of the range replicas on this node: its increase counts the elections of all ranges (PreVote keeps failed campaigns from raising terms).',
    registers,
    async collect() {
      terms.set((await reports()).reduce((sum, r) => sum + r.term, 0));
    },
  });
  const decommission: Gauge<'kind'> = new Gauge({
    name: 'phantomdb_decommission',
    help: 'Decommissioning as recorded in the cluster: kind="nodes_decommissioning" and kind="replicas_remaining" (replicas still held by decommissioning nodes, as this node\'s ranges see them).',
    labelNames: ['kind'],
    registers,
    collect() {
      decommission.reset();
      const lifecycles = sources.lifecycles?.();
      const current = status();
      if (lifecycles === undefined || current === undefined) return;
      const members = new Set([...current.voters, ...current.learners]);
      decommission.set({ kind: 'nodes_decommissioning' }, lifecycles.decommissioning.size);
      decommission.set({ kind: 'replicas_remaining' }, [...lifecycles.decommissioning].filter((id) => members.has(id)).length);
    },
  });
}

/** What the node reports as it happens (moves, snapshots and role changes are rare: a counter each). */
export interface RangeEventRecorder {
  rebalanceMoveFinished(result: 'succeeded' | 'failed', snapshotBytes: number): void;
  snapshotFinished(direction: 'sent' | 'received', result: 'succeeded' | 'failed'): void;
  snapshotBytesSent(bytes: number): void;
  /** Replica copies (AddLearner moves, from their start to their learner caught up) this node's placement driver has running. */
  rebalanceCopiesInFlight(count: number): void;
  leaderChanged(): void;
}

function registerRangeEventMetrics(registry: Registry, leaderChanges: Counter): RangeEventRecorder {
  const registers = [registry];
  const moves = new Counter({ name: 'phantomdb_rebalance_moves_total', help: 'Replica moves (add learner, catch up, promote, remove) this node led, by result.', labelNames: ['result'], registers });
  const moveBytes = new Counter({ name: 'phantomdb_rebalance_bytes_total', help: 'Snapshot bytes sent to move replicas.', registers });
  const snapshots = new Counter({ name: 'phantomdb_raft_snapshots_total', help: 'Raft snapshots sent to and received from peers, by result.', labelNames: ['direction', 'result'], registers });
  const snapshotBytes = new Counter({ name: 'phantomdb_raft_snapshot_sent_bytes_total', help: 'Bytes of Raft snapshot streams this node sent (as paced out by --snapshot-rate-bytes).', registers });
  const copiesInFlight = new Gauge({ name: 'phantomdb_rebalance_copies_in_flight', help: "Replica copies (add learner until caught up) this node's placement driver is running.", registers });
  // Every combination starts at zero so that rates and alerts have a series before the first event.
  for (const result of ['succeeded', 'failed'] as const) {
    moves.inc({ result }, 0);
    for (const direction of ['sent', 'received'] as const) snapshots.inc({ direction, result }, 0);
  }
  return {
    rebalanceMoveFinished(result, snapshotBytes) {
      moves.inc({ result });
      moveBytes.inc(Math.max(0, snapshotBytes));
    },
    snapshotFinished(direction, result) {
      snapshots.inc({ direction, result });
    },
    snapshotBytesSent(bytes) {
      snapshotBytes.inc(Math.max(0, bytes));
    },
    rebalanceCopiesInFlight(count) {
      copiesInFlight.set(count);
    },
    leaderChanged() {
      leaderChanges.inc();
    },
  };
}

export function registerRaftMetrics(registry: Registry, sources: NodeMetricsSources, scope: ScrapeScope): RangeEventRecorder {
  // The node's status and its range reports are built once per scrape, not once per gauge: each
  // is a walk over the node's replicas (and its address book), and a dozen gauges read them.
  const status = scope.shared(() => sources.status());
  const leaderChanges = registerRaftStateMetrics(registry, sources, status);
  registerRaftLogMetrics(registry, sources, scope);
  registerRangeMetrics(registry, sources, status, scope);
  return registerRangeEventMetrics(registry, leaderChanges);
}
