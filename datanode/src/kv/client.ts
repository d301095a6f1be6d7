/**
 * A typed client of the replicated KV API. It finds the leader (following NotLeader answers,
 * trying the other endpoints when one is unreachable), retries with capped exponential backoff
 * what is safe to retry, and gives every call an overall deadline.
 *
 * Retry rules: reads are retried on any retriable failure. A write is retried only when it
 * certainly did not take effect (NotLeader, ProposalDropped, Overloaded, Unavailable answered by
 * a node); when its fate is unknown (a timeout, a dropped connection, a node stopping) the call
 * fails with PH_OUTCOME_UNKNOWN or PH_DEADLINE_EXCEEDED, because blindly resending a write that
 * may already have been applied would break linearizability.
 */
import * as grpc from '@grpc/grpc-js';
import type { KVClient } from '../../proto/generated/phantomdb/kv/v1/KV.ts';
import type { MembershipClient } from '../../proto/generated/phantomdb/kv/v1/Membership.ts';
import type { MemberAddress } from './command.ts';
import { KvError, NotLeaderError, isKvErrorCode } from './errors.ts';
import { kvProto, metadataKeys } from './proto.ts';

export interface KvClientOptions {
  /** gRPC addresses (host:port) of some cluster members. */
  readonly endpoints: readonly string[];
  /** When set, nodes of another cluster refuse the requests (PH_WRONG_CLUSTER). */
  readonly clusterId?: string;
  /** Overall deadline of one call, retries included. Default 5 s. */
  readonly deadlineMs?: number;
  /** Deadline of one attempt. Default 2 s. */
  readonly attemptDeadlineMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Attempts per call at most. Default 20. */
  readonly attemptsMax?: number;
}

export interface CallOptions {
  readonly deadlineMs?: number;
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

type Attempt<T> = (stubs: Stubs, metadata: grpc.Metadata, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, value?: T) => void) => void;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class KvClient {
  private readonly endpoints: string[];
  private readonly stubs = new Map<string, Stubs>();
  private current = 0;
  private readonly deadlineMs: number;
  private readonly attemptDeadlineMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly attemptsMax: number;
  private closed = false;

  constructor(private readonly options: KvClientOptions) {
    if (options.endpoints.length === 0) throw new KvError('PH_BAD_REQUEST', 'KvClient needs at least one endpoint');
    this.endpoints = [...options.endpoints];
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.attemptDeadlineMs = options.attemptDeadlineMs ?? 2000;
    this.backoffInitialMs = options.backoffInitialMs ?? 20;
    this.backoffMaxMs = options.backoffMaxMs ?? 500;
    this.attemptsMax = options.attemptsMax ?? 20;
  }

  async put(key: Bytes, value: Bytes, options: CallOptions = {}): Promise<void> {
    await this.call<unknown>('write', options, (s, m, o, done) => s.kv.Put({ key: toBuffer(key), value: toBuffer(value) }, m, o, done));
  }

  async get(key: Bytes, options: CallOptions = {}): Promise<Buffer | null> {
    const response = await this.call<{ found: boolean; value: Buffer }>('read', options, (s, m, o, done) => s.kv.Get({ key: toBuffer(key) }, m, o, done));
    return response.found ? response.value : null;
  }

  /** Deletes a key; answers whether it existed. */
  async delete(key: Bytes, options: CallOptions = {}): Promise<boolean> {
    const response = await this.call<{ existed: boolean }>('write', options, (s, m, o, done) => s.kv.Delete({ key: toBuffer(key) }, m, o, done));
    return response.existed;
  }

  /** Rows with start <= key < end (end empty: to the last key), at most `limit` (0: server default). */
  async scan(start: Bytes, end: Bytes, limit: number, options: CallOptions = {}): Promise<ScanResult> {
    const request = { start: toBuffer(start), end: toBuffer(end), limit };
    return this.call<ScanResult>('read', options, (s, m, o, done) => s.kv.Scan(request, m, o, done));
  }

  /** Sets `value` iff the key holds `expected` (null: iff it is absent). */
  async compareAndSet(key: Bytes, expected: Bytes | null, value: Bytes, options: CallOptions = {}): Promise<CasResult> {
    const request = expected === null ? { key: toBuffer(key), expectAbsent: true, value: toBuffer(value) } : { key: toBuffer(key), expected: toBuffer(expected), value: toBuffer(value) };
    const response = await this.call<{ succeeded: boolean; currentPresent: boolean; current: Buffer }>('write', options, (s, m, o, done) =>
      s.kv.CompareAndSet(request, m, o, done),
    );
    return { succeeded: response.succeeded, current: response.currentPresent ? response.current : null };
  }

  /** Asks the cluster to add node `nodeId` (reachable at `address`) as a learner; returns the address book. */
  async join(clusterId: string, nodeId: number, address: MemberAddress, options: CallOptions = {}): Promise<Map<number, MemberAddress>> {
    const response = await this.call<{ members: { nodeId: string; address: string; kvAddress: string }[] }>('write-idempotent', options, (s, m, o, done) =>
      s.membership.Join({ clusterId, nodeId, address: address.raft, kvAddress: address.kv }, m, o, done),
    );
    return new Map(response.members.map((member) => [Number(member.nodeId), { raft: member.address, kv: member.kvAddress }]));
  }

  close(): void {
    this.closed = true;
    for (const stubs of this.stubs.values()) {
      stubs.kv.close();
      stubs.membership.close();
    }
    this.stubs.clear();
  }

  private stubsFor(address: string): Stubs {
    let stubs = this.stubs.get(address);
    if (stubs === undefined) {
      const proto = kvProto();
      const channelOptions = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };
      stubs = {
        kv: new proto.KV(address, grpc.credentials.createInsecure(), channelOptions),
        membership: new proto.Membership(address, grpc.credentials.createInsecure(), channelOptions),
      };
      this.stubs.set(address, stubs);
    }
    return stubs;
  }

  private rotate(): void {
    this.current = (this.current + 1) % this.endpoints.length;
  }

  private useLeader(address: string): void {
    let at = this.endpoints.indexOf(address);
    if (at < 0) {
      this.endpoints.push(address);
      at = this.endpoints.length - 1;
    }
    this.current = at;
  }

  private async call<T>(kind: 'read' | 'write' | 'write-idempotent', options: CallOptions, attempt: Attempt<T>): Promise<T> {
    if (this.closed) throw new KvError('PH_UNAVAILABLE', 'client is closed');
    const deadlineAt = Date.now() + (options.deadlineMs ?? this.deadlineMs);
    let backoffMs = this.backoffInitialMs;
    let lastError: KvError = new KvError('PH_UNAVAILABLE', 'no attempt made');
    for (let attemptNumber = 0; attemptNumber < this.attemptsMax; attemptNumber++) {
      const left = deadlineAt - Date.now();
      if (left <= 0) break;
      const address = this.endpoints[this.current];
      if (address === undefined) throw new KvError('PH_BAD_REQUEST', 'no endpoint');
      const metadata = new grpc.Metadata();
      if (this.options.clusterId !== undefined) metadata.set(metadataKeys.clusterId, this.options.clusterId);
      const callOptions: grpc.CallOptions = { deadline: Date.now() + Math.min(left, this.attemptDeadlineMs) };
      try {
        return await new Promise<T>((resolve, reject) => {
          attempt(this.stubsFor(address), metadata, callOptions, (err, value) => {
            if (err !== null) reject(err);
            else if (value === undefined) reject(new KvError('PH_UNAVAILABLE', 'empty response'));
            else resolve(value);
          });
        });
      } catch (err) {
        const failure = classify(err);
        lastError = failure.error;
        if (failure.error instanceof NotLeaderError && failure.error.leaderAddress !== '' && failure.error.leaderAddress !== address) {
          this.useLeader(failure.error.leaderAddress);
          continue;
        }
        if (failure.kind === 'final') throw failure.error;
        if (failure.kind === 'ambiguous' && kind === 'write') {
          this.rotate();
          throw failure.error;
        }
        this.rotate();
        await sleep(Math.min(backoffMs, Math.max(0, deadlineAt - Date.now())));
        backoffMs = Math.min(backoffMs * 2, this.backoffMaxMs);
      }
    }
    if (kind === 'write' && lastError.code !== 'PH_NOT_LEADER' && lastError.code !== 'PH_PROPOSAL_DROPPED' && lastError.code !== 'PH_OVERLOADED') {
      throw new KvError('PH_OUTCOME_UNKNOWN', `gave up: ${lastError.message}`);
    }
    throw lastError.code === 'PH_DEADLINE_EXCEEDED' ? lastError : new KvError(lastError.code, `gave up after retries: ${lastError.message}`);
  }
}

type Failure = { readonly kind: 'retry' | 'ambiguous' | 'final'; readonly error: KvError };

/** Sorts a failed attempt: safe to retry, of unknown effect, or final. */
function classify(err: unknown): Failure {
  if (err instanceof KvError) return { kind: err.retriable ? 'retry' : 'final', error: err };
  const serviceError = err as Partial<grpc.ServiceError>;
  const code = serviceError.metadata?.get(metadataKeys.errorCode)[0];
  const details = serviceError.details ?? (err instanceof Error ? err.message : String(err));
  if (typeof code === 'string' && isKvErrorCode(code)) {
    if (code === 'PH_NOT_LEADER') {
      const leaderId = Number(serviceError.metadata?.get(metadataKeys.leaderId)[0] ?? 0);
      const leaderAddress = String(serviceError.metadata?.get(metadataKeys.leaderAddress)[0] ?? '');
      return { kind: 'retry', error: new NotLeaderError(leaderId, leaderAddress) };
    }
    const error = new KvError(code, details);
    if (code === 'PH_DEADLINE_EXCEEDED' || code === 'PH_OUTCOME_UNKNOWN') return { kind: 'ambiguous', error };
    return { kind: error.retriable ? 'retry' : 'final', error };
  }
  // No PhantomDB code: the transport failed (connection refused or dropped, deadline), so the
  // request may or may not have reached a node.
  if (serviceError.code === grpc.status.DEADLINE_EXCEEDED) return { kind: 'ambiguous', error: new KvError('PH_DEADLINE_EXCEEDED', details) };
  if (serviceError.code === grpc.status.UNAVAILABLE || serviceError.code === grpc.status.CANCELLED || serviceError.code === grpc.status.UNKNOWN || serviceError.code === grpc.status.INTERNAL) {
    return { kind: 'ambiguous', error: new KvError('PH_OUTCOME_UNKNOWN', `unreachable: ${details}`) };
  }
  if (serviceError.code === grpc.status.RESOURCE_EXHAUSTED) return { kind: 'final', error: new KvError('PH_TOO_LARGE', details) };
  return { kind: 'final', error: new KvError('PH_BAD_REQUEST', details) };
}
