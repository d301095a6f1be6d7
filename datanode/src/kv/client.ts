/**
 * A typed client of the replicated KV API. It finds the leader (following NotLeader answers,
 * trying the other endpoints when one is unreachable), retries with capped exponential backoff
 * what is safe to retry, and gives every call an overall deadline.
 *
 * Retry rules: reads are retried on any retriable failure. A write is retried only when it
 * certainly did not take effect (NotLeader, ProposalDropped, Overloaded, Unavailable answered by
 * a node, or no connection to the endpoint to send it on); when its fate is unknown (a timeout, a
 * dropped connection, a node stopping) the call fails with PH_OUTCOME_UNKNOWN or
 * PH_DEADLINE_EXCEEDED, because blindly resending a write that may already have been applied
 * would break linearizability.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import type { KVClient } from '../../proto/generated/phantomdb/kv/v1/KV.ts';
import type { MembershipClient } from '../../proto/generated/phantomdb/kv/v1/Membership.ts';
import { RpcClientCore, isUnreachableStatus, neverSent, readAttemptFailure, reconnectChannelOptions, retryBudgetOf, type Attempt, type RetryBudget, type RetryPolicy, type RpcClientOptions } from '../rpc/client-core.ts';
import type { MemberAddress } from './command.ts';
import { encodeDescriptor, type RangeDescriptor } from './descriptor.ts';
import { KvError, NotLeaderError, isKvErrorCode } from './errors.ts';
import { kvProto, metadataKeys, servedByMetadataKey } from './proto.ts';
import { RangeCache, decodeSpan, rangeAskMetadataKey, rangeMetadataKey } from './range-cache.ts';

/** Endpoints, cluster id and retry budget of a KvClient; what it leaves out is taken from `kvRetryDefaults`. */
export interface KvClientOptions extends RpcClientOptions {
  /** Range spans the client caches at most (default 4096); 0 turns the range cache off (every key goes to the preferred endpoint). */
  readonly rangeCacheEntries?: number;
}

/** Overall deadline 5 s, 2 s per attempt, backoff from 20 ms to 500 ms, at most 20 attempts. */
export const kvRetryDefaults: RetryBudget = { deadlineMs: 5000, attemptDeadlineMs: 2000, backoffInitialMs: 20, backoffMaxMs: 500, attemptsMax: 20 };

export interface CallOptions {
  readonly deadlineMs?: number;
}

/** Options of a read: `at`, an HLC timestamp (packed, hlc.ts encodeTimestamp), reads as of then. */
export interface ReadOptions extends CallOptions {
  readonly at?: bigint;
}

export interface ScanResult {
  readonly rows: readonly { readonly key: Buffer; readonly value: Buffer }[];
  readonly more: boolean;
}

export interface CasResult {
  readonly succeeded: boolean;
  readonly current: Buffer | null;
}

type Bytes = Buffer | string;
const toBuffer = (bytes: Bytes): Buffer => (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);

interface Stubs {
  readonly kv: KVClient;
  readonly membership: MembershipClient;
}

type CallKind = 'read' | 'write' | 'write-idempotent';

export class KvClient {
  private readonly core: RpcClientCore<Stubs, KvError>;
  /** Which endpoint served each range span: a key's request goes straight there (range-cache.ts). */
  private readonly ranges: RangeCache | undefined;

  constructor(options: KvClientOptions) {
    if (options.endpoints.length === 0) throw new KvError('PH_BAD_REQUEST', 'KvClient needs at least one endpoint');
    const rangeCacheEntries = options.rangeCacheEntries ?? 4096;
    this.ranges = rangeCacheEntries > 0 ? new RangeCache(rangeCacheEntries) : undefined;
    this.core = new RpcClientCore({
      endpoints: options.endpoints,
      clusterId: options.clusterId,
      metadataKeys,
      budget: retryBudgetOf(options, kvRetryDefaults),
      connect: connectStubs,
      disconnect: (stubs) => {
        stubs.kv.close();
        stubs.membership.close();
      },
      newError: (code, message) => new KvError(code, message),
      servedByKey: servedByMetadataKey,
    });
  }

  async put(key: Bytes, value: Bytes, options: CallOptions = {}): Promise<void> {
    const keyBytes = toBuffer(key);
    await this.keyCall<unknown>('write', keyBytes, options, (s, m, o, done) => s.kv.Put({ key: keyBytes, value: toBuffer(value) }, m, o, done));
  }

  async get(key: Bytes, options: ReadOptions = {}): Promise<Buffer | null> {
    const request = { key: toBuffer(key), at: String(options.at ?? 0n) };
    const response = await this.keyCall<{ found: boolean; value: Buffer }>('read', request.key, options, (s, m, o, done) => s.kv.Get(request, m, o, done));
    return response.found ? response.value : null;
  }

  /** Deletes a key; answers whether it existed. */
  async delete(key: Bytes, options: CallOptions = {}): Promise<boolean> {
    const keyBytes = toBuffer(key);
    const response = await this.keyCall<{ existed: boolean }>('write', keyBytes, options, (s, m, o, done) => s.kv.Delete({ key: keyBytes }, m, o, done));
    return response.existed;
  }

  /** Rows with start <= key < end (end empty: to the last key), at most `limit` (0: server default). */
  async scan(start: Bytes, end: Bytes, limit: number, options: ReadOptions = {}): Promise<ScanResult> {
    const request = { start: toBuffer(start), end: toBuffer(end), limit, at: String(options.at ?? 0n) };
    return this.call<ScanResult>('read', options, (s, m, o, done) => s.kv.Scan(request, m, o, done));
  }

  /** Sets `value` iff the key holds `expected` (null: iff it is absent). */
  async compareAndSet(key: Bytes, expected: Bytes | null, value: Bytes, options: CallOptions = {}): Promise<CasResult> {
    const request = expected === null ? { key: toBuffer(key), expectAbsent: true, value: toBuffer(value) } : { key: toBuffer(key), expected: toBuffer(expected), value: toBuffer(value) };
    const response = await this.keyCall<{ succeeded: boolean; currentPresent: boolean; current: Buffer }>('write', request.key, options, (s, m, o, done) =>
      s.kv.CompareAndSet(request, m, o, done),
    );
    return { succeeded: response.succeeded, current: response.currentPresent ? response.current : null };
  }

  /** Asks the cluster to add node `nodeId` (reachable at `address`) as a learner; returns the address book. */
  async join(clusterId: string, nodeId: number, address: MemberAddress, options: CallOptions = {}, version?: { readonly binaryVersion: string; readonly clusterVersionMin: string }): Promise<Map<number, MemberAddress>> {
    const response = await this.call<{ members: { nodeId: string; address: string; kvAddress: string }[] }>('write-idempotent', options, (s, m, o, done) =>
      s.membership.Join({ clusterId, nodeId, address: address.raft, kvAddress: address.kv, binaryVersion: version?.binaryVersion ?? '', clusterVersionMin: version?.clusterVersionMin ?? '' }, m, o, done),
    );
    return new Map(response.members.map((member) => [Number(member.nodeId), { raft: member.address, kv: member.kvAddress }]));
  }

  /** Reports range descriptors to the meta range's leader (node to node). */
  async recordRanges(descriptors: readonly RangeDescriptor[], options: CallOptions = {}): Promise<void> {
    await this.call<unknown>('write-idempotent', options, (s, m, o, done) => s.membership.RecordRanges({ descriptors: descriptors.map(encodeDescriptor) }, m, o, done));
  }

  /** Sends a liveness heartbeat to the meta range's leader (node to node). */
  async heartbeat(record: Buffer, report: Buffer, options: CallOptions = {}): Promise<void> {
    await this.call<unknown>('write-idempotent', options, (s, m, o, done) => s.membership.Heartbeat({ record, report }, m, o, done));
  }

  /**
   * One replica or lease change of a range, run by the range's leader (the placement driver's
   * RangeAdmin). Idempotent: asking for a state that holds answers at once. Answers `done`.
   */
  async changeReplicas(rangeId: number, op: string, nodeId: number, options: CallOptions = {}): Promise<boolean> {
    const response = await this.call<{ done: boolean }>('write-idempotent', options, (s, m, o, done) => s.membership.ChangeReplicas({ rangeId, op, nodeId }, m, o, done));
    return response.done;
  }

  /**
   * Replaces the endpoints (e.g. the nodes that joined a cluster scaling out), keeping connections
   * to those still named: a range whose lease moved to a new node is then sent there directly (its
   * `ph-served-by` address is one of the endpoints), not forwarded by an old node on every request.
   */
  setEndpoints(endpoints: readonly string[]): void {
    if (endpoints.length === 0) throw new KvError('PH_BAD_REQUEST', 'KvClient needs at least one endpoint');
    this.core.setEndpoints(endpoints);
  }

  close(): void {
    this.core.close();
  }

  private call<T>(kind: CallKind, options: CallOptions, attempt: Attempt<Stubs, T>): Promise<T> {
    return this.core.call(retryPolicies[kind], options.deadlineMs, attempt);
  }

  /**
   * A call about one key: first to the endpoint cached for the key's range (an entry is dropped
   * when its endpoint fails or redirects), else as any call; an attempt without a cache entry
   * asks the node for the serving range's span.
   */
  private keyCall<T>(kind: CallKind, key: Buffer, options: CallOptions, attempt: Attempt<Stubs, T>): Promise<T> {
    const ranges = this.ranges;
    if (ranges === undefined) return this.call(kind, options, attempt);
    const route = this.core.preferring(ranges.lookup(key), (address) => ranges.evictIf(key, address));
    return this.core.call(
      retryPolicies[kind],
      options.deadlineMs,
      (stubs, metadata, callOptions, done, address) => {
        if (ranges.lookup(key) === undefined) metadata.set(rangeAskMetadataKey, '1');
        const call = attempt(stubs, metadata, callOptions, done, address);
        // Response headers arrive before the response message.
        if (call instanceof EventEmitter) call.once('metadata', (headers: grpc.Metadata) => this.learnRange(ranges, key, headers, address));
        return call;
      },
      route,
    );
  }

  /**
   * Caches the range span an answer names, for the node that served it (when this client can
   * reach it). An answer naming another node but no span (a server from before range spans)
   * drops the key's entry for the node called: it forwards that range now.
   */
  private learnRange(ranges: RangeCache, key: Buffer, headers: grpc.Metadata, address: string): void {
    const named = headers.get(servedByMetadataKey)[0];
    const servedBy = typeof named === 'string' && named !== '' ? named : address;
    const bytes = headers.get(rangeMetadataKey)[0];
    const span = Buffer.isBuffer(bytes) ? decodeSpan(bytes) : undefined;
    if (span === undefined) {
      if (servedBy !== address) ranges.evictIf(key, address);
      return;
    }
    // An address the client was not given may not be reachable from it (a pod behind a service).
    if (servedBy === address || this.core.knows(servedBy)) ranges.insert(span, servedBy);
    else ranges.evictIf(key, address);
  }

  /** Range spans cached (for tests and diagnostics). */
  get cachedRanges(): number {
    return this.ranges?.size ?? 0;
  }
}

function connectStubs(address: string): Stubs {
  const proto = kvProto();
  const channelOptions = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...reconnectChannelOptions };
  return {
    kv: new proto.KV(address, grpc.credentials.createInsecure(), channelOptions),
    membership: new proto.Membership(address, grpc.credentials.createInsecure(), channelOptions),
  };
}

/**
 * The retry rules of one kind of call. A write of unknown fate fails at once (and the next call
 * starts at another endpoint); when the budget is spent, a write that may have been applied
 * reports PH_OUTCOME_UNKNOWN.
 */
function retryPolicy(kind: CallKind): RetryPolicy<KvError> {
  return {
    judge(err) {
      const failure = classify(err);
      const leaderAddress = failure.error instanceof NotLeaderError ? failure.error.leaderAddress : '';
      if (failure.kind === 'final') return { error: failure.error, leaderAddress, next: 'fail' };
      if (failure.kind === 'ambiguous' && kind === 'write') return { error: failure.error, leaderAddress, next: 'fail-after-moving-on' };
      return { error: failure.error, leaderAddress, next: 'retry' };
    },
    noAttemptError: () => new KvError('PH_UNAVAILABLE', 'no attempt made'),
    exhausted(lastError) {
      if (kind === 'write' && lastError.code !== 'PH_NOT_LEADER' && lastError.code !== 'PH_PROPOSAL_DROPPED' && lastError.code !== 'PH_OVERLOADED') {
        return new KvError('PH_OUTCOME_UNKNOWN', `gave up: ${lastError.message}`);
      }
      return lastError.code === 'PH_DEADLINE_EXCEEDED' ? lastError : new KvError(lastError.code, `gave up after retries: ${lastError.message}`);
    },
  };
}

const retryPolicies: Readonly<Record<CallKind, RetryPolicy<KvError>>> = {
  read: retryPolicy('read'),
  write: retryPolicy('write'),
  'write-idempotent': retryPolicy('write-idempotent'),
};

type Failure = { readonly kind: 'retry' | 'ambiguous' | 'final'; readonly error: KvError };

/** Sorts a failed attempt: safe to retry, of unknown effect, or final. */
function classify(err: unknown): Failure {
  if (err instanceof KvError) return { kind: err.retriable ? 'retry' : 'final', error: err };
  const failure = readAttemptFailure(err, metadataKeys);
  const code = failure.phantomCode;
  if (code !== undefined && isKvErrorCode(code)) {
    if (code === 'PH_NOT_LEADER') return { kind: 'retry', error: new NotLeaderError(failure.leaderId, failure.leaderAddress) };
    const error = new KvError(code, failure.details);
    if (code === 'PH_DEADLINE_EXCEEDED' || code === 'PH_OUTCOME_UNKNOWN') return { kind: 'ambiguous', error };
    return { kind: error.retriable ? 'retry' : 'final', error };
  }
  // No PhantomDB code: the transport failed (connection refused or dropped, deadline), so the
  // request may or may not have reached a node.
  if (failure.status === grpc.status.DEADLINE_EXCEEDED) return { kind: 'ambiguous', error: new KvError('PH_DEADLINE_EXCEEDED', failure.details) };
  // No connection to send it on: it never left, so even a write is retried (at another endpoint).
  if (neverSent(failure)) return { kind: 'retry', error: new KvError('PH_UNAVAILABLE', `unreachable: ${failure.details}`) };
  if (isUnreachableStatus(failure.status)) return { kind: 'ambiguous', error: new KvError('PH_OUTCOME_UNKNOWN', `unreachable: ${failure.details}`) };
  if (failure.status === grpc.status.RESOURCE_EXHAUSTED) return { kind: 'final', error: new KvError('PH_TOO_LARGE', failure.details) };
  return { kind: 'final', error: new KvError('PH_BAD_REQUEST', failure.details) };
}
