/**
 * What the node's metrics read. Every gauge and mirrored counter is computed at scrape time from
 * these stats snapshots, so a request, a write or a Raft step pays nothing for them. The DataNode
 * builds them from its parts (node.ts); a source left out is simply absent (its metrics are not
 * exported). Events (proposals, snapshots, role changes, fsyncs) are not read here: the parts
 * report them to NodeMetrics as they happen (sink.ts).
 */
import type { NodeStatus } from '../http/server.ts';
import type { MemberLifecycles } from '../kv/state-machine.ts';
import type { RaftLogStats } from '../raft/logstore/engine.ts';
import type { RaftStatus } from '../raft/raft.ts';
import type { EngineStats } from '../storage/engine.ts';
import type { TransportStats } from '../transport/transport.ts';

/** One range (Raft group) replica on this node, as the range metrics see it. */
export interface RangeReplicaReport {
  readonly rangeId: number;
  readonly role: string;
  readonly leaderKnown: boolean;
  /** The replica's commit index (summed over ranges, its rate is the node's commit rate). */
  readonly commitIndex: number;
  /** The replica's Raft term (summed over ranges, its increase counts elections). */
  readonly term: number;
  readonly voters: number;
  /** On the leader: voters it heard from recently, itself included. Undefined elsewhere. */
  readonly liveVoters: number | undefined;
  /** On the leader: voters whose log is not being replicated to normally (probing, snapshot). */
  readonly laggingVoters: number | undefined;
  /** Whether the range is quiescent here (idle: no heartbeats, no election timer). */
  readonly quiesced?: boolean;
}

export interface NodeMetricsSources {
  /** The node's status; undefined before the node has started (it must not throw). */
  status(): NodeStatus | undefined;
  raftStatus?(): RaftStatus | undefined;
  storage?(): EngineStats | undefined;
  raftLog?(): RaftLogStats | undefined;
  transport?(): TransportStats | undefined;
  lifecycles?(): MemberLifecycles | undefined;
  /**
   * Every range replica on this node; without it, the node's single range is derived from
   * raftStatus. An iterable (a generator that builds each report as it is pulled) lets a scrape
   * build the reports of thousands of ranges in slices, with the event loop running in between.
   */
  ranges?(): Iterable<RangeReplicaReport>;
  /** The data directory, for disk capacity and free space. */
  readonly dataDir?: string;
}
