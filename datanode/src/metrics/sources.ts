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
import { rangeReportsOf } from './range-report.ts';

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
  /** Calls `listener` when a proposal to any range led here ends: 'ok' or the error's code, and its duration. */
  onRaftProposal?(listener: (result: string, seconds: number) => void): void;
  /** Calls `listener` when a Raft snapshot sent to a peer or received from one ends: 'ok' or the error's code. */
  onSnapshot?(listener: (direction: 'sent' | 'received', result: string) => void): void;
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

/** 'ok', an expected failure's PH_* code, or 'error'. */
function resultOf(err: unknown): string {
  const code = field(err, 'code');
  return typeof code === 'string' && /^PH_[A-Z_]{1,40}$/.test(code) ? code : 'error';
}

/**
 * Wraps `target[method]` on this one instance so that every call's outcome and duration reach
 * `listener`: 'ok', or the error's code. The method may throw at once or return a promise; both
 * are reported and passed on unchanged. Returns false when there is no such method.
 */
function tapCalls(target: object, method: string, listener: (result: string, seconds: number) => void): boolean {
  const found = field(target, method);
  if (typeof found !== 'function') return false;
  const original = found as (this: unknown, ...args: unknown[]) => unknown;
  Object.defineProperty(target, method, {
    configurable: true,
    value(this: unknown, ...args: unknown[]): unknown {
      const startedMs = performance.now();
      const seconds = (): number => (performance.now() - startedMs) / 1000;
      let outcome: unknown;
      try {
        outcome = original.apply(this, args);
      } catch (err) {
        listener(resultOf(err), seconds());
        throw err;
      }
      if (outcome instanceof Promise) {
        outcome.then(
          () => listener('ok', seconds()),
          (err: unknown) => listener(resultOf(err), seconds()),
        );
      } else {
        listener('ok', seconds());
      }
      return outcome;
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

/** The first of `candidates` that yields a value. */
function firstOf<T>(candidates: readonly (() => T | undefined)[]): T | undefined {
  for (const candidate of candidates) {
    const value = candidate();
    if (value !== undefined) return value;
  }
  return undefined;
}

/** A replica-like object's Raft status (it has `status()` answering a RaftStatus), or undefined. */
const raftStatusOf = (replica: unknown): RaftStatus | undefined => asserted(callMethod(replica, 'status'), isRaftStatus);

/** A peer is live when the replica heard from it within `livenessMs` (`replica.sinceHeardMs(peer)`). */
function livenessOf(replica: unknown, livenessMs: number | undefined): ((peer: number) => boolean) | undefined {
  const sinceHeard = field(replica, 'sinceHeardMs');
  if (typeof sinceHeard !== 'function' || livenessMs === undefined) return undefined;
  return (peer) => {
    const ms: unknown = (sinceHeard as (this: unknown, p: number) => unknown).call(replica, peer);
    return typeof ms === 'number' && ms <= livenessMs;
  };
}

/** Every range replica the node's store holds (`store.allReplicas()`), as range reports. */
function storeRangeReports(store: unknown, livenessMs: number | undefined): RangeReplicaReport[] | undefined {
  const replicas = callMethod(store, 'allReplicas');
  if (!Array.isArray(replicas)) return undefined;
  const reports: RangeReplicaReport[] = [];
  for (const replica of replicas) reports.push(...rangeReportsOf(raftStatusOf(replica), livenessOf(replica, livenessMs)));
  return reports;
}

/** The node's liveness timeout: one election timeout (config.tickMs × config.electionTimeoutTicks). */
function livenessMsOf(config: unknown): number | undefined {
  const tickMs = field(config, 'tickMs');
  const ticks = field(config, 'electionTimeoutTicks');
  return typeof tickMs === 'number' && typeof ticks === 'number' ? tickMs * ticks : undefined;
}

/**
 * Finds what the metrics read on `source` (the object given to the HTTP server), by shape. It
 * knows the single-range node (replica, stateMachine.engine) and the multi-range one (store with
 * meta() and allReplicas(), kv.engine).
 */
export function probeNodeSources(source: { status(): NodeStatus }): NodeMetricsSources {
  const dataDir = field(field(source, 'config'), 'dataDir');
  const livenessMs = livenessMsOf(field(source, 'config'));
  const store = (): unknown => field(source, 'store');
  const replica = (): unknown => firstOf<unknown>([() => field(source, 'replica'), () => callMethod(store(), 'meta')]);
  // Replicas appear as ranges are created: each is tapped once, when first seen (subscription or scrape).
  const proposalListeners: ((result: string, seconds: number) => void)[] = [];
  const tapped = new WeakSet<object>();
  const tapNewReplicas = (): void => {
    if (proposalListeners.length === 0) return;
    const all = callMethod(store(), 'allReplicas');
    for (const candidate of Array.isArray(all) ? all : [replica()]) {
      if (!isObject(candidate) || tapped.has(candidate)) continue;
      tapped.add(candidate);
      tapCalls(candidate, 'propose', (result, seconds) => {
        for (const listener of proposalListeners) listener(result, seconds);
      });
    }
  };
  const engine = (): unknown => firstOf<unknown>([() => field(field(source, 'kv'), 'engine'), () => field(field(source, 'stateMachine'), 'engine')]);
  return {
    status: () => statusOf(source),
    raftStatus: () => raftStatusOf(replica()),
    ranges: () => {
      tapNewReplicas();
      return storeRangeReports(store(), livenessMs) ?? rangeReportsOf(raftStatusOf(replica()), livenessOf(replica(), livenessMs));
    },
    storage: () => asserted(callMethod(engine(), 'stats'), isEngineStats),
    raftLog: () => asserted(field(field(source, 'logStore'), 'stats'), isRaftLogStats),
    transport: () => asserted(callMethod(field(source, 'transport'), 'stats'), isTransportStats),
    lifecycles: () => firstOf([() => asserted(callMethod(field(source, 'stateMachine'), 'memberLifecycles'), isLifecycles), () => asserted(callMethod(source, 'lifecycles'), isLifecycles)]),
    ...(typeof dataDir === 'string' ? { dataDir } : {}),
    onLeaderChange(listener) {
      const target = replica();
      const subscribe = field(target, 'onRoleChange');
      if (typeof subscribe === 'function') (subscribe as (this: unknown, l: () => void) => void).call(target, listener);
    },
    onRaftProposal(listener) {
      proposalListeners.push(listener);
      tapNewReplicas();
    },
    onRaftLogFsync(listener) {
      tapRaftLogFsync(field(source, 'logStore'), listener);
    },
    onSnapshot(listener) {
      // Sent: the transport the node hands its replicas; received: the handler the transport calls.
      const transport = field(source, 'transport');
      if (isObject(transport)) tapCalls(transport, 'sendSnapshot', (result) => listener('sent', result));
      const handlers = firstOf<unknown>([store, () => field(source, 'replica')]);
      if (isObject(handlers)) tapCalls(handlers, 'onSnapshotData', (result) => listener('received', result));
    },
  };
}
