/**
 * The PhantomDB dashboards: Cluster overview, Replication, Storage, Operator. Every query
 * filters on the dashboard's namespace/cluster/node variables; `cluster` and `namespace` come
 * from the scrape (see docs/observability.md), `node` from the data node itself.
 */
import type { DashboardSpec, PanelSpec, VariableSpec } from './model.ts';

/** The selector every data node query carries. */
const S = 'namespace=~"$namespace", cluster=~"$cluster", node=~"$node"';
const rate = (metric: string, extra = ''): string => `rate(${metric}{${S}${extra === '' ? '' : `, ${extra}`}}[$__rate_interval])`;
const dataNodeJob = 'job="phantomdb-datanode"';

const nodeVariables: readonly VariableSpec[] = [
  { name: 'namespace', label: 'Namespace', metric: 'phantomdb_build_info', label_: 'namespace' },
  { name: 'cluster', label: 'Cluster', metric: 'phantomdb_build_info{namespace=~"$namespace"}', label_: 'cluster' },
  { name: 'node', label: 'Node', metric: 'phantomdb_build_info{namespace=~"$namespace", cluster=~"$cluster"}', label_: 'node' },
];

const quantile = (q: number, metric: string, by: string, extra = ''): string => `histogram_quantile(${q}, sum by (${by}, le) (${rate(`${metric}_bucket`, extra)}))`;

const overview: DashboardSpec = {
  uid: 'phantomdb-overview',
  title: 'PhantomDB / Cluster overview',
  description: 'Health, nodes, ranges, throughput, latency and capacity of PhantomDB clusters.',
  tags: ['phantomdb'],
  variables: nodeVariables,
  rows: [
    {
      title: 'Health',
      panels: [
        { title: 'Nodes reporting', type: 'stat', width: 6, unit: 'short', description: 'Data nodes whose /metrics Prometheus scraped. Fewer than the cluster\'s replicas: a node is down or unreachable; see the PhantomDBNodeDown runbook.', targets: [{ expr: `count(phantomdb_build_info{${S}})`, legend: 'nodes' }] },
        { title: 'Nodes down', type: 'stat', width: 6, unit: 'short', thresholds: [1, 1], description: 'Scrape targets of data nodes that did not answer the last scrape. Anything above 0: check the pod (kubectl describe, logs) and the PhantomDBNodeDown runbook.', targets: [{ expr: `count(up{${dataNodeJob}, namespace=~"$namespace", cluster=~"$cluster"} == 0) or vector(0)`, legend: 'down' }] },
        { title: 'Unavailable ranges', type: 'stat', width: 6, unit: 'short', thresholds: [1, 1], description: 'Range replicas that know no leader: they cannot serve reads or writes. Above 0 for more than a few seconds means a lost quorum or a partition; see the PhantomDBRangeUnavailable runbook.', targets: [{ expr: `sum(phantomdb_ranges{${S}, state="unavailable"})`, legend: 'unavailable' }] },
        { title: 'Under-replicated ranges', type: 'stat', width: 6, unit: 'short', thresholds: [1, 1], description: 'Ranges whose leader sees a voter not live or not caught up. Normal briefly after a restart; lasting: see the PhantomDBUnderReplicatedRanges runbook.', targets: [{ expr: `sum(phantomdb_ranges{${S}, state="under_replicated"})`, legend: 'under-replicated' }] },
        { title: 'Ranges and leaders per node', width: 12, unit: 'short', description: 'Range replicas (solid) and range leaders (the node serving them) per node. Leaders piled on one node mean unbalanced load; after a restart they move back as the rebalancer runs.', targets: [{ expr: `sum by (node) (phantomdb_ranges{${S}, state="replicas"})`, legend: 'replicas node {{node}}' }, { expr: `sum by (node) (phantomdb_ranges{${S}, state="leader"})`, legend: 'leaders node {{node}}' }] },
        { title: 'Raft term', width: 12, unit: 'short', description: 'The Raft term of each node\'s replica of the meta range (the range its status reports). Each step up is an election; frequent steps mean leader flapping (see PhantomDBLeaderFlapping): look for slow disks, CPU starvation or a flaky network.', targets: [{ expr: `max by (node) (phantomdb_raft_term{${S}})`, legend: 'node {{node}}' }] },
      ],
    },
    {
      title: 'Throughput and latency',
      panels: [
        { title: 'Requests per second', unit: 'ops', description: 'gRPC requests answered per second by API and method. A sudden drop with steady clients means requests are failing or stuck: check the error panel and the node logs.', targets: [{ expr: `sum by (api, method) (${rate('phantomdb_requests_total')})`, legend: '{{api}} {{method}}' }] },
        { title: 'Request errors per second', unit: 'ops', description: 'Requests that failed, by method and error code (0 when none). PH_NOT_LEADER is routine (clients follow the redirect); PH_UNAVAILABLE, PH_DEADLINE_EXCEEDED or internal errors that persist need a look at the Replication dashboard and node logs.', targets: [{ expr: `sum by (method, result) (${rate('phantomdb_requests_total', 'result!="ok"')}) or sum by (method, result) (${rate('phantomdb_requests_total')}) * 0`, legend: '{{method}} {{result}}' }] },
        { title: 'Request latency p99', unit: 's', description: '99th percentile time to answer a request, by method. Writes include a quorum fsync: if it rises, compare with the fsync latency on the Storage dashboard and the leader\'s CPU.', targets: [{ expr: quantile(0.99, 'phantomdb_request_duration_seconds', 'api, method'), legend: '{{api}} {{method}}' }] },
        { title: 'Request latency p50', unit: 's', description: 'Median time to answer a request, by method. A rising median with a flat p99 usually means more load, not a fault.', targets: [{ expr: quantile(0.5, 'phantomdb_request_duration_seconds', 'api, method'), legend: '{{api}} {{method}}' }] },
        { title: 'Raft commits per second', unit: 'ops', description: 'Log entries committed per second over all range replicas of each node (the rate of the summed commit indexes). Nodes holding the same ranges track each other; one far below the others is slow or partitioned.', targets: [{ expr: `sum by (node) (${rate('phantomdb_ranges_commit_index')})`, legend: 'node {{node}}' }] },
        { title: 'HTTP connections', unit: 'short', description: 'Open connections to each node\'s HTTP port (SQL API, admin, scrapes). A steady climb is a client leaking connections.', targets: [{ expr: `sum by (node) (phantomdb_http_connections{${S}})`, legend: 'node {{node}}' }] },
      ],
    },
    {
      title: 'Capacity',
      panels: [
        { title: 'Disk used', unit: 'percentunit', min: 0, max: 1, description: 'Share of the data volume in use per node. Above 80%: grow the volume or add nodes before PhantomDBDiskNearlyFull fires; the storage engine turns read-only when the disk is full.', targets: [{ expr: `1 - sum by (node) (phantomdb_disk_bytes{${S}, kind="available"}) / sum by (node) (phantomdb_disk_bytes{${S}, kind="capacity"})`, legend: 'node {{node}}' }] },
        { title: 'Disk available', unit: 'bytes', description: 'Free bytes on each node\'s data volume. The PhantomDBDiskNearlyFull alert extrapolates this line 24 hours ahead.', targets: [{ expr: `sum by (node) (phantomdb_disk_bytes{${S}, kind="available"})`, legend: 'node {{node}}' }] },
        { title: 'Data size', unit: 'bytes', description: 'Bytes in the storage engine\'s tables (all LSM levels) per node. Nodes of one cluster should be close; one far above the others holds more ranges than its share.', targets: [{ expr: `sum by (node) (phantomdb_storage_level{${S}, kind="bytes"})`, legend: 'node {{node}}' }] },
        { title: 'Heap used', unit: 'bytes', description: 'Node.js heap in use per node. A sawtooth is normal (GC); a floor that keeps rising is a leak: capture a heap snapshot and report it.', targets: [{ expr: `sum by (node) (phantomdb_nodejs_heap_size_used_bytes{${S}})`, legend: 'node {{node}}' }] },
        { title: 'Event loop lag p99', unit: 's', description: 'How late the event loop runs timers (p99). Above ~50 ms delays Raft heartbeats and can cause elections: give the pod more CPU.', targets: [{ expr: `max by (node) (phantomdb_nodejs_eventloop_lag_p99_seconds{${S}})`, legend: 'node {{node}}' }] },
        { title: 'CPU', unit: 'percentunit', description: 'CPU time used per second (1.0 = one core). At the pod\'s CPU limit, latency climbs and elections may follow.', targets: [{ expr: `sum by (node) (${rate('phantomdb_process_cpu_seconds_total')})`, legend: 'node {{node}}' }] },
      ],
    },
  ],
};

const replication: DashboardSpec = {
  uid: 'phantomdb-replication',
  title: 'PhantomDB / Replication',
  description: 'Raft groups, leaders, replica moves, under-replication, the shared Raft log and the Raft transport.',
  tags: ['phantomdb'],
  variables: nodeVariables,
  rows: [
    {
      title: 'Ranges',
      panels: [
        { title: 'Range health', width: 24, unit: 'short', description: 'Ranges by state, counted by their leaders (unavailable: by every replica that knows no leader). Under-replicated or quorum-at-risk for minutes: a node is down or cannot keep up; see the runbooks of the matching alerts.', targets: [{ expr: `sum by (state) (phantomdb_ranges{${S}, state=~"under_replicated|quorum_at_risk|unavailable"})`, legend: '{{state}}' }] },
        { title: 'Leaders per node', unit: 'short', description: 'Range leaders each node holds. Leaders do most of the work; a node with all of them is a hot spot until leader balancing moves some.', targets: [{ expr: `sum by (node) (phantomdb_ranges{${S}, state="leader"})`, legend: 'node {{node}}' }] },
        { title: 'Voters and learners', unit: 'short', description: 'Voters and learners in the Raft configuration as each node sees it. Learners appear while a replica is added (scale-out, rebalance) and should be promoted within minutes.', targets: [{ expr: `max by (node) (phantomdb_raft_voters{${S}})`, legend: 'voters node {{node}}' }, { expr: `max by (node) (phantomdb_raft_learners{${S}})`, legend: 'learners node {{node}}' }] },
        { title: 'Elections', unit: 'short', description: 'Raft elections over all ranges of each node in the interval (the increase of the summed terms), and the leader or role changes its range replicas saw. Bursts during restarts and upgrades are expected; a steady stream is flapping (PhantomDBLeaderFlapping).', targets: [{ expr: `sum by (node) (increase(phantomdb_ranges_term{${S}}[$__rate_interval]))`, legend: 'elections node {{node}}' }, { expr: `sum by (node) (increase(phantomdb_raft_leader_changes_total{${S}}[$__rate_interval]))`, legend: 'leader changes node {{node}}' }] },
        { title: 'Proposals', unit: 'ops', description: 'Writes proposed on each node\'s range replicas per second, by result (ok or an error code). PH_NOT_LEADER right after an election is routine; PH_OVERLOADED or deadline errors mean the leader cannot keep up.', targets: [{ expr: `sum by (node, result) (${rate('phantomdb_raft_proposals_total')})`, legend: '{{result}} node {{node}}' }] },
        { title: 'Proposal latency', unit: 's', description: 'p99 and p50 time from proposing a write on the leader to its commit by a quorum and apply: the replication part of write latency. High with a normal fsync latency: a slow follower network or CPU.', targets: [{ expr: quantile(0.99, 'phantomdb_raft_proposal_duration_seconds', 'node'), legend: 'p99 node {{node}}' }, { expr: quantile(0.5, 'phantomdb_raft_proposal_duration_seconds', 'node'), legend: 'p50 node {{node}}' }] },
        { title: 'Apply lag', unit: 'short', description: 'Committed entries a node has not applied yet. It should stay near 0; a growing lag means the node\'s storage cannot keep up (check write stalls on the Storage dashboard).', targets: [{ expr: `max by (node) (phantomdb_raft_apply_lag_entries{${S}})`, legend: 'node {{node}}' }] },
        { title: 'Follower lag (leader\'s view)', unit: 'short', description: 'Entries each follower is behind the leader\'s log. A follower that stays far behind gets a snapshot; one that never catches up is slow or partitioned.', targets: [{ expr: `max by (node, peer) (phantomdb_raft_follower_lag_entries{${S}})`, legend: 'leader {{node}} → {{peer}}' }] },
        { title: 'Replica moves', unit: 'ops', description: 'Replica moves (rebalance, decommission) finished per second, by result. Failed moves are retried; many failures mean the target nodes are unhealthy.', targets: [{ expr: `sum by (result) (${rate('phantomdb_rebalance_moves_total')})`, legend: '{{result}}' }] },
        { title: 'Rebalance bytes', unit: 'Bps', description: 'Snapshot bytes per second sent to move replicas. High values compete with client traffic for disk and network.', targets: [{ expr: `sum by (node) (${rate('phantomdb_rebalance_bytes_total')})`, legend: 'node {{node}}' }] },
        { title: 'Snapshots', unit: 'ops', description: 'Raft snapshots sent and received per second, by result. Frequent snapshots mean followers fall behind the log\'s compaction point.', targets: [{ expr: `sum by (direction, result) (${rate('phantomdb_raft_snapshots_total')})`, legend: '{{direction}} {{result}}' }] },
        { title: 'Decommission progress', unit: 'short', description: 'Nodes being decommissioned and the replicas they still hold. replicas_remaining should fall to 0; if it stays flat, see the decommission section of the runbooks.', targets: [{ expr: `max by (kind) (phantomdb_decommission{${S}})`, legend: '{{kind}}' }] },
      ],
    },
    {
      title: 'Raft log',
      panels: [
        { title: 'Raft log fsync latency', unit: 's', description: 'p50 and p99 of fsyncs of the shared Raft log (every acknowledged write waits for one on a quorum). p99 above 100 ms fires PhantomDBSlowFsync: the disk is too slow or shared.', targets: [{ expr: quantile(0.99, 'phantomdb_wal_fsync_duration_seconds', 'node', 'log="raft"'), legend: 'p99 node {{node}}' }, { expr: quantile(0.5, 'phantomdb_wal_fsync_duration_seconds', 'node', 'log="raft"'), legend: 'p50 node {{node}}' }] },
        { title: 'Raft log writes', unit: 'Bps', description: 'Bytes per second written to the shared Raft log. It tracks the write load; compare nodes: followers write what the leader writes.', targets: [{ expr: `sum by (node) (${rate('phantomdb_raft_log_bytes_written_total')})`, legend: 'node {{node}}' }] },
        { title: 'Raft log fsyncs', unit: 'ops', description: 'Group-commit fsyncs per second. Many writes share one fsync under load, so this grows slower than the write rate.', targets: [{ expr: `sum by (node) (${rate('phantomdb_raft_log_fsyncs_total')})`, legend: 'node {{node}}' }] },
        { title: 'Raft log segments', unit: 'short', description: 'Segment files of the shared Raft log. It should stay bounded: old segments are deleted once every group has compacted past them. A steady climb means a group is not compacting (a stuck follower holds it back).', targets: [{ expr: `max by (node) (phantomdb_raft_log_size{${S}, kind="segments"})`, legend: 'node {{node}}' }] },
      ],
    },
    {
      title: 'Transport',
      panels: [
        { title: 'Raft messages', unit: 'ops', description: 'Raft messages per second to and from each peer, over all ranges. A peer with no traffic is disconnected.', targets: [{ expr: `sum by (node, peer, direction) (${rate('phantomdb_transport_messages_total')})`, legend: '{{node}} {{direction}} {{peer}}' }] },
        { title: 'Raft traffic', unit: 'Bps', description: 'Raft bytes per second to and from each peer. Snapshots and catch-up show as spikes; a steady high rate to one peer means it keeps falling behind.', targets: [{ expr: `sum by (node, peer, direction) (${rate('phantomdb_transport_bytes_total')})`, legend: '{{node}} {{direction}} {{peer}}' }] },
        { title: 'Dropped messages', unit: 'ops', description: 'Raft messages dropped per second, by reason (Raft retries them; 0 when none). unreachable: the peer is down; queue_full: the peer or network is too slow for the load; oversized: a message above the frame limit.', targets: [{ expr: `sum by (node, peer, reason) (${rate('phantomdb_transport_dropped_messages_total')})`, legend: '{{node}}→{{peer}} {{reason}}' }] },
        { title: 'Peer connections', unit: 'short', description: '1 while a node has a working stream to a peer. 0 for long: the peer is down, or the network between them is cut.', targets: [{ expr: `max by (node, peer) (phantomdb_transport_peer_connected{${S}})`, legend: '{{node}}→{{peer}}' }] },
        { title: 'Send queue', unit: 'short', description: 'Raft messages waiting to be sent to each peer. Near zero normally; a queue that stays high means the peer or the link cannot keep up, and drops (queue_full) follow.', targets: [{ expr: `max by (node, peer) (phantomdb_transport_queue_messages{${S}})`, legend: '{{node}}→{{peer}}' }] },
        { title: 'Reconnects', unit: 'ops', description: 'Reconnections per second to each peer after a stream broke (0 when none). A steady rate means a flaky network or a peer restarting in a loop.', targets: [{ expr: `sum by (node, peer) (${rate('phantomdb_transport_reconnects_total')})`, legend: '{{node}}→{{peer}}' }] },
      ],
    },
  ],
};

const storage: DashboardSpec = {
  uid: 'phantomdb-storage',
  title: 'PhantomDB / Storage',
  description: 'The LSM storage engine: write-ahead logs, flushes and compactions, levels, block cache.',
  tags: ['phantomdb'],
  variables: nodeVariables,
  rows: [
    {
      title: 'Write-ahead logs',
      panels: [
        { title: 'fsync latency p99', unit: 's', description: 'p99 duration of write-ahead log fsyncs (log="raft": the shared Raft log, the write-ahead log of replicated data). Above 100 ms: a slow or overloaded disk; move to faster storage.', targets: [{ expr: quantile(0.99, 'phantomdb_wal_fsync_duration_seconds', 'node, log'), legend: '{{log}} node {{node}}' }] },
        { title: 'Mean fsync latency', unit: 's', description: 'Average Raft log fsync time in the interval (time spent / fsyncs). Cross-checks the histogram.', targets: [{ expr: `sum by (node) (${rate('phantomdb_raft_log_fsync_seconds_total')}) / sum by (node) (${rate('phantomdb_raft_log_fsyncs_total')})`, legend: 'node {{node}}' }] },
        { title: 'Engine WAL writes', unit: 'Bps', description: 'Bytes per second written to the storage engine\'s own WAL (node-local state; replicated data is protected by the Raft log).', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_wal_bytes_written_total')})`, legend: 'node {{node}}' }] },
        { title: 'Engine WAL syncs', unit: 'ops', description: 'fsyncs of the storage engine\'s WAL per second.', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_wal_syncs_total')})`, legend: 'node {{node}}' }] },
      ],
    },
    {
      title: 'Flushes and compactions',
      panels: [
        { title: 'Flushes and compactions', unit: 'ops', description: 'Memtable flushes and compactions per second. Compactions should follow flushes; if they fall behind, level 0 grows and writes slow down.', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_flushes_total')})`, legend: 'flushes node {{node}}' }, { expr: `sum by (node) (${rate('phantomdb_storage_compactions_total')})`, legend: 'compactions node {{node}}' }] },
        { title: 'Compaction I/O', unit: 'Bps', description: 'Bytes per second read and written by compactions. Heavy compaction I/O competes with client reads and writes.', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_compaction_bytes_written_total')})`, legend: 'written node {{node}}' }, { expr: `sum by (node) (${rate('phantomdb_storage_compaction_bytes_read_total')})`, legend: 'read node {{node}}' }] },
        { title: 'Time compacting', unit: 'percentunit', description: 'Share of time spent compacting. Near 100% for long: compaction cannot keep up with the write rate; expect write stalls.', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_compaction_seconds_total')})`, legend: 'node {{node}}' }] },
        { title: 'Write amplification', unit: 'none', description: 'Bytes written to disk per byte written by users since the engine opened. Typical LSM values are 5–30; a sharp rise means compactions rewrite the same data repeatedly.', targets: [{ expr: `max by (node) (phantomdb_storage_write_amplification{${S}})`, legend: 'node {{node}}' }] },
        { title: 'Write stalls', unit: 'percentunit', description: 'Share of time writes were stalled waiting for flushes or compactions. Any sustained value fires PhantomDBWriteStalls: the disk is too slow for the write rate.', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_write_stall_seconds_total')})`, legend: 'stalled node {{node}}' }] },
        { title: 'Stalls and slowdowns', unit: 'ops', description: 'Writes stalled or slowed down per second, to let compaction catch up.', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_write_stalls_total')})`, legend: 'stalls node {{node}}' }, { expr: `sum by (node) (${rate('phantomdb_storage_write_slowdowns_total')})`, legend: 'slowdowns node {{node}}' }] },
        { title: 'Memtables', unit: 'bytes', description: 'Bytes in memtables (active and waiting to be flushed). Many immutable memtables waiting means flushes are slow.', targets: [{ expr: `sum by (node) (phantomdb_storage_memtable_bytes{${S}})`, legend: 'node {{node}}' }] },
        { title: 'Immutable memtables', unit: 'short', description: 'Memtables waiting to be flushed. More than 2 for long is a disk that cannot keep up.', targets: [{ expr: `max by (node) (phantomdb_storage_immutable_memtables{${S}})`, legend: 'node {{node}}' }] },
      ],
    },
    {
      title: 'Levels',
      panels: [
        { title: 'Bytes per level', unit: 'bytes', stack: true, description: 'Table bytes in each LSM level, summed over the selected nodes. Most data should sit in the deepest level; a large level 0 means compaction lags.', targets: [{ expr: `sum by (level) (phantomdb_storage_level{${S}, kind="bytes"})`, legend: 'L{{level}}' }] },
        { title: 'Files per level', unit: 'short', description: 'Table files in each level. Level 0 above ~8 files slows reads and triggers slowdowns.', targets: [{ expr: `sum by (level) (phantomdb_storage_level{${S}, kind="files"})`, legend: 'L{{level}}' }] },
      ],
    },
    {
      title: 'Cache and state',
      panels: [
        { title: 'Block cache hit ratio', unit: 'percentunit', min: 0, max: 1, description: 'Share of block lookups served from memory (empty while reads are all served by memtables). Low with a read-heavy load: give the node more memory for the cache.', targets: [{ expr: `sum by (node) (${rate('phantomdb_storage_block_cache_hits_total')}) / (sum by (node) (${rate('phantomdb_storage_block_cache_hits_total')}) + sum by (node) (${rate('phantomdb_storage_block_cache_misses_total')}))`, legend: 'node {{node}}' }] },
        { title: 'Block cache usage', unit: 'bytes', description: 'Bytes held in the block cache and its capacity.', targets: [{ expr: `sum by (node) (phantomdb_storage_block_cache_usage_bytes{${S}})`, legend: 'used node {{node}}' }, { expr: `sum by (node) (phantomdb_storage_block_cache_capacity_bytes{${S}})`, legend: 'capacity node {{node}}' }] },
        { title: 'Open snapshots', unit: 'short', description: 'Engine snapshots held open (Raft snapshots being sent, backups, long reads). They pin old data; many for long keep disk space from being reclaimed.', targets: [{ expr: `max by (node) (phantomdb_storage_open_snapshots{${S}})`, legend: 'node {{node}}' }] },
        { title: 'Read-only engines', unit: 'short', description: '1 when a node\'s engine refused further writes after an I/O error (disk full, failed fsync). Fires PhantomDBStorageReadOnly; the node needs a restart after the disk is fixed.', targets: [{ expr: `max by (node) (phantomdb_storage_read_only{${S}})`, legend: 'node {{node}}' }] },
      ],
    },
  ],
};

const O = 'namespace=~"$namespace", cluster=~"$cluster"';

const operatorPanels: readonly PanelSpec[] = [
  { title: 'Reconciles per second', unit: 'ops', description: 'Reconciles by controller and result. error that persists fires PhantomDBOperatorReconcileErrors: read the operator log and the cluster\'s events.', targets: [{ expr: 'sum by (controller, result) (rate(phantomdb_operator_reconcile_total[$__rate_interval]))', legend: '{{controller}} {{result}}' }] },
  { title: 'Reconcile duration p99', unit: 's', description: 'p99 time of one reconcile. Seconds or more: the Kubernetes API or the data nodes\' admin API answer slowly.', targets: [{ expr: 'histogram_quantile(0.99, sum by (controller, le) (rate(phantomdb_operator_reconcile_duration_seconds_bucket[$__rate_interval])))', legend: '{{controller}}' }] },
  { title: 'Work queue depth', unit: 'short', description: 'Keys waiting for a reconcile (ready and delayed). It should drain to 0 between changes; a growing queue means reconciles are too slow or keep failing.', targets: [{ expr: 'sum by (controller) (phantomdb_operator_workqueue_depth)', legend: '{{controller}}' }] },
  { title: 'Leader', unit: 'short', description: '1 on the operator replica that holds the leader lease. Exactly one should be 1; none for minutes means no cluster is reconciled.', targets: [{ expr: 'max by (instance) (phantomdb_operator_leader)', legend: '{{instance}}' }] },
];

const operator: DashboardSpec = {
  uid: 'phantomdb-operator',
  title: 'PhantomDB / Operator',
  description: 'The PhantomDB operator: clusters, reconciles, day-2 operations and backups.',
  tags: ['phantomdb'],
  variables: [
    { name: 'namespace', label: 'Namespace', metric: 'phantomdb_operator_backup_last_success_timestamp_seconds', label_: 'namespace' },
    { name: 'cluster', label: 'Cluster', metric: 'phantomdb_operator_backup_last_success_timestamp_seconds{namespace=~"$namespace"}', label_: 'cluster' },
    { name: 'node', label: 'Node', metric: 'phantomdb_build_info{namespace=~"$namespace", cluster=~"$cluster"}', label_: 'node' },
  ],
  rows: [
    {
      title: 'Clusters',
      panels: [
        { title: 'Clusters by phase', unit: 'short', description: 'PhantomClusters by phase in the selected namespaces. Degraded or Failed for long fires PhantomDBClusterDegraded: kubectl describe pc shows the conditions.', targets: [{ expr: 'sum by (phase) (phantomdb_operator_clusters{namespace=~"$namespace"})', legend: '{{phase}}' }] },
        { title: 'Data nodes reporting', unit: 'short', description: 'Data nodes of each cluster that Prometheus scrapes. Compare with the cluster\'s replicas.', targets: [{ expr: `count by (namespace, cluster) (phantomdb_build_info{${O}, node=~"$node"})`, legend: '{{namespace}}/{{cluster}}' }] },
      ],
    },
    { title: 'Reconciles', panels: operatorPanels },
    {
      title: 'Operations',
      panels: [
        { title: 'Operations finished (24 h)', unit: 'short', description: 'Day-2 operations (scale out/in, upgrade, backup, restore) that finished in the last 24 hours, by kind and result. Failed ones are in the cluster\'s status and events.', targets: [{ expr: 'sum by (kind, result) (increase(phantomdb_operator_operation_duration_seconds_count[24h]))', legend: '{{kind}} {{result}}' }] },
        { title: 'Operation duration p90', unit: 's', description: 'p90 of how long operations took over 24 hours, by kind (empty until one finished). Scale-ins and upgrades wait for data to move: their time grows with the data per node.', targets: [{ expr: 'histogram_quantile(0.9, sum by (kind, le) (rate(phantomdb_operator_operation_duration_seconds_bucket[24h])))', legend: '{{kind}}' }] },
      ],
    },
    {
      title: 'Backups',
      panels: [
        { title: 'Last successful backup', type: 'stat', unit: 'dateTimeFromNow', valueText: { '0': 'never' }, description: 'When each cluster\'s last backup succeeded ("never" when it has none). Older than twice the schedule fires PhantomDBBackupOverdue.', targets: [{ expr: `max by (namespace, cluster) (phantomdb_operator_backup_last_success_timestamp_seconds{${O}}) * 1000`, legend: '{{namespace}}/{{cluster}}', instant: true }] },
        { title: 'Backups (24 h)', unit: 'short', description: 'Backups finished in the last 24 hours by cluster and result. Any failure fires PhantomDBBackupFailed: the PhantomBackup\'s status says why.', targets: [{ expr: `sum by (cluster, result) (increase(phantomdb_operator_backups_total{${O}}[24h]))`, legend: '{{cluster}} {{result}}' }] },
        { title: 'Backup schedule interval', unit: 's', description: 'Interval of each cluster\'s scheduled backups (0: no schedule). A cluster without a schedule has no backups unless someone takes them by hand.', targets: [{ expr: `max by (namespace, cluster) (phantomdb_operator_backup_schedule_interval_seconds{${O}})`, legend: '{{namespace}}/{{cluster}}' }] },
        { title: 'Operator CPU and heap', unit: 'short', description: 'Operator CPU (cores) and heap (MiB). A growing heap across days is a leak: restart it and report it.', targets: [{ expr: 'sum by (instance) (rate(phantomdb_operator_process_cpu_seconds_total[$__rate_interval]))', legend: 'CPU {{instance}}' }, { expr: 'sum by (instance) (phantomdb_operator_nodejs_heap_size_used_bytes) / 1048576', legend: 'heap MiB {{instance}}' }] },
      ],
    },
  ],
};

export const dashboards: readonly DashboardSpec[] = [overview, replication, storage, operator];
