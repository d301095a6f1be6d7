/**
 * What the node's metrics read, and where they find it. Every gauge and mirrored counter is
 * computed at scrape time from these stats snapshots, so a request, a write or a Raft step pays
 * nothing for them.
 *
 * `probeNodeSources` finds the sources on the object the HTTP server is given (the DataNode) by
 * shape, checked at run time, so the metrics work before the node wires them explicitly; a
 * source it cannot find is simply absent (its metrics are not exported). When the node builds
 * NodeMetricsSources itself (see docs/observability.md, "Wiring"), the probe goes away.
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
  readonly voters: number;
  /** On the leader: voters it heard from recently, itself included. Undefined elsewhere. */
  readonly liveVoters: number | undefined;
  /** On the leader: voters whose log is not being replicated to normally (probing, snapshot). */
  readonly laggingVoters: number | undefined;
}

export interface NodeMetricsSources {
  /** The node's status; throws or returns undefined before the node has started. */
  status(): NodeStatus | undefined;
  raftStatus?(): RaftStatus | undefined;
  storage?(): EngineStats | undefined;
  raftLog?(): RaftLogStats | undefined;
  transport?(): TransportStats | undefined;
  lifecycles?(): MemberLifecycles | undefined;
  /** Every range replica on this node; without it, the node's single range is derived from raftStatus. */
  ranges?(): readonly RangeReplicaReport[];
  /** The data directory, for disk capacity and free space. */
  readonly dataDir?: string;
  /** Calls `listener` at every leader change this node sees. */
  onLeaderChange?(listener: () => void): void;
  /** Calls `listener` with the duration of every Raft log fsync. */
  onRaftLogFsync?(listener: (seconds: number) => void): void;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** `target.name()` when it is a method, else undefined (and undefined when it throws). */
function callMethod(target: unknown, name: string): unknown {
  const method = field(target, name);
  if (typeof method !== 'function') return undefined;
  try {
    return (method as (this: unknown) => unknown).call(target);
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

function isEngineStats(value: unknown): value is EngineStats {
  return isObject(value) && typeof field(value, 'writeAmplification') === 'number' && Array.isArray(field(value, 'levels')) && isObject(field(value, 'blockCache'));
}

function isRaftLogStats(value: unknown): value is RaftLogStats {
  return isObject(value) && typeof field(value, 'fsyncs') === 'number' && typeof field(value, 'fsyncTotalMs') === 'number' && typeof field(value, 'segments') === 'number';
}

function isTransportStats(value: unknown): value is TransportStats {
  return isObject(value) && field(value, 'peers') instanceof Map;
}

function isRaftStatus(value: unknown): value is RaftStatus {
  return isObject(value) && typeof field(value, 'term') === 'number' && field(value, 'progress') instanceof Map && isObject(field(value, 'config'));
}

function isLifecycles(value: unknown): value is MemberLifecycles {
  return isObject(value) && field(value, 'decommissioning') instanceof Set && field(value, 'removed') instanceof Set;
}

const asserted = <T>(value: unknown, guard: (v: unknown) => v is T): T | undefined => (guard(value) ? value : undefined);

/**
 * Wraps the Raft log engine's fsync accounting on this one instance so every fsync duration also
 * reaches `listener`. Returns false when the engine does not have the expected shape.
 */
function tapRaftLogFsync(logStore: unknown, listener: (seconds: number) => void): boolean {
  const record = field(logStore, 'recordFsync');
  if (!isObject(logStore) || typeof record !== 'function') return false;
  const original = record as (this: unknown, elapsedMs: number) => void;
  Object.defineProperty(logStore, 'recordFsync', {
    configurable: true,
    value(this: unknown, elapsedMs: number): void {
      original.call(this, elapsedMs);
      listener(elapsedMs / 1000);
    },
  });
  return true;
}

/** A StatusSource's status, or undefined while it cannot answer. */
function statusOf(source: { status(): NodeStatus }): NodeStatus | undefined {
  try {
    return source.status();
  } catch {
    return undefined;
  }
}

/** Finds what the metrics read on `source` (the object given to the HTTP server), by shape. */
export function probeNodeSources(source: { status(): NodeStatus }): NodeMetricsSources {
  const stateMachine = (): unknown => field(source, 'stateMachine');
  const dataDir = field(field(source, 'config'), 'dataDir');
  const replica = field(source, 'replica');
  return {
    status: () => statusOf(source),
    raftStatus: () => asserted(callMethod(field(source, 'replica'), 'status'), isRaftStatus),
    storage: () => asserted(callMethod(field(stateMachine(), 'engine'), 'stats'), isEngineStats),
    raftLog: () => asserted(field(field(source, 'logStore'), 'stats'), isRaftLogStats),
    transport: () => asserted(callMethod(field(source, 'transport'), 'stats'), isTransportStats),
    lifecycles: () => asserted(callMethod(stateMachine(), 'memberLifecycles'), isLifecycles),
    ...(typeof dataDir === 'string' ? { dataDir } : {}),
    onLeaderChange(listener) {
      const subscribe = field(replica, 'onRoleChange');
      if (typeof subscribe === 'function') (subscribe as (this: unknown, l: () => void) => void).call(replica, listener);
    },
    onRaftLogFsync(listener) {
      tapRaftLogFsync(field(source, 'logStore'), listener);
    },
  };
}
