/**
 * The gateway: any node accepts any KV request and routes it to the range holding the key. It
 * looks the key up in its range descriptors (its own replicas' and the meta range's copies),
 * serves the request from its own replica when that replica leads the range, and otherwise
 * forwards it over the KV gRPC API to the node it believes leads the range, marked
 * `ph-forwarded` so that node serves it itself or refuses (never forwards again).
 *
 * Retries, within the request's deadline and `attemptsMax` attempts: PH_NOT_LEADER (follow the
 * named leader), PH_RANGE_MISMATCH (the range split: look the key up again), PH_UNAVAILABLE,
 * PH_OVERLOADED and PH_PROPOSAL_DROPPED (none of them took effect). A forwarded write whose
 * fate is unknown (the connection broke, the deadline passed) is never resent: it fails with
 * PH_OUTCOME_UNKNOWN, as the client library would; one that never left (no connection to its
 * node) is retried elsewhere.
 *
 * A node whose connection failed (the Raft transport's report, or a forward that could not
 * connect or whose connection broke; never a node's own UNAVAILABLE answer) counts as down until it is heard from (Store.peerUnreachable): requests are not
 * forwarded to it while another replica is left, and a request that finds this node's replica
 * following it makes the replica campaign (Store.campaignIfLeaderDown) — the fast path that
 * replaces a quiescent range's dead leader within an election round, not node liveness's 5 s.
 *
 * A scan that crosses range boundaries is split at them and stitched in key order under the
 * request's row and byte limits.
 *
 * A forwarded request's answer carries the serving node's KV address (`ph-served-by`), so the
 * client library sends its next requests to the leader directly instead of paying the extra hop
 * on every one.
 */
import { describeTs } from '../kv/gc.ts';
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import type { KVClient } from '../../proto/generated/phantomdb/kv/v1/KV.ts';
import type { Command } from '../kv/command.ts';
import { containsKey, type RangeDescriptor } from '../kv/descriptor.ts';
import { KvError, NotLeaderError, isKvErrorCode } from '../kv/errors.ts';
import { kvProto, metadataKeys } from '../kv/proto.ts';
import { decodeSpan, rangeAskMetadataKey, rangeMetadataKey, type Span } from '../kv/range-cache.ts';
import { forwardedMetadataKey, type ServedReport } from '../kv/service.ts';
import { rangeMismatch, type ApplyResult, type ScanRow } from '../kv/state-machine.ts';
import type { NodeId } from '../raft/types.ts';
import { connectionFailed, neverSent, readAttemptFailure, reconnectChannelOptions } from '../rpc/client-core.ts';
import type { Replica } from './replica.ts';
import type { Store } from './store.ts';

export interface GatewayHost {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  /** The serving store; throws PH_UNAVAILABLE while starting, stopping or removed. */
  store(): Store;
  /** A node's KV API address ('' when unknown). */
  kvAddressOf(id: NodeId): string;
  /** Opens a KV client to `address` (default: a gRPC channel; tests pass fakes). */
  connect?(address: string): KVClient;
}

/** Most routing attempts per request (each a local try or one forward). */
const attemptsMax = 12;
const backoffMaxMs = 200;

/** Sends one forwarded request; returns grpc-js's call object (its response headers are read). */
type Remote<T> = (stub: KVClient, metadata: grpc.Metadata, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, value?: T) => void) => unknown;

/**
 * Before a read on the leader: a linearizable barrier for the newest versions; for a read at a
 * timestamp, the timestamp is closed in the range (later writes land above it), so the read is
 * repeatable. A timestamp further ahead than the node's clock plus its offset bound is refused:
 * closing it would push the range's writes into the future.
 */
async function readBarrier(replica: Replica, deadlineMs: number, at: bigint | undefined): Promise<void> {
  if (at === undefined) {
    await replica.linearizableBarrier(deadlineMs);
    return;
  }
  const clock = replica.clock;
  const aheadMs = Number(at >> 16n) - clock.now().wallMs;
  if (aheadMs > clock.maxOffsetMs) throw new KvError('PH_BAD_REQUEST', `read timestamp ${at} is ${aheadMs} ms ahead of this node's clock (offset bound ${clock.maxOffsetMs} ms)`);
  const gcThreshold = replica.stateMachine.engine.mvccGcThresholdTs();
  if (gcThreshold !== undefined && at < gcThreshold) {
    throw new KvError('PH_BAD_REQUEST', `read timestamp ${describeTs(at)} is below the garbage-collection threshold ${describeTs(gcThreshold)}: versions that old are gone`);
  }
  await replica.closeTimestamp(at, deadlineMs);
}

export class Gateway {
  private readonly stubs = new Map<string, KVClient>();
  /** The leader each range last named (NotLeader answers), for ranges without a replica here. */
  private readonly leaderHints = new Map<number, NodeId>();
  /** Requests forwarded and answered by other nodes (for tests and status). */
  forwardedRequests = 0;

  constructor(private readonly host: GatewayHost) {}

  // ------------------------------------------------------------------ the KV operations

  write(command: Command, deadlineMs: number, forwarded: boolean, served?: ServedReport): Promise<ApplyResult> {
    if (command.op !== 'put' && command.op !== 'delete' && command.op !== 'cas') throw new KvError('PH_BAD_REQUEST', `${command.op} is not a KV write`);
    const key = command.key;
    return this.route<ApplyResult>(key, deadlineMs, forwarded, true, served, {
      reportsRange: true,
      local: async (replica, leftMs) => {
        const result = await replica.propose(command, leftMs);
        if (result.op === 'range-mismatch') throw rangeMismatch(replica.groupId, result.descriptor);
        return result;
      },
      remote: (stub, metadata, options, done) => {
        switch (command.op) {
          case 'put':
            return stub.Put({ key: command.key, value: command.value }, metadata, options, (err) => done(err, { op: 'put' }));
          case 'delete':
            return stub.Delete({ key: command.key }, metadata, options, (err, response) => done(err, { op: 'delete', existed: response?.existed ?? false }));
          case 'cas': {
            const request = command.expected === null ? { key: command.key, expectAbsent: true, value: command.value } : { key: command.key, expected: command.expected, value: command.value };
            return stub.CompareAndSet(request, metadata, options, (err, response) =>
              done(err, { op: 'cas', ok: response?.succeeded ?? false, current: response?.currentPresent === true ? Buffer.from(response.current ?? Buffer.alloc(0)) : null }),
            );
          }
        }
      },
    });
  }

  /** The value of `key`: the newest (linearizable), or as of the HLC timestamp `at`. */
  get(key: Buffer, deadlineMs: number, forwarded: boolean, served?: ServedReport, at?: bigint): Promise<Buffer | undefined> {
    return this.route<Buffer | undefined>(key, deadlineMs, forwarded, false, served, {
      reportsRange: true,
      local: async (replica, leftMs) => {
        await readBarrier(replica, leftMs, at);
        return replica.stateMachine.get(key, at);
      },
      remote: (stub, metadata, options, done) =>
        stub.Get({ key, at: String(at ?? 0n) }, metadata, options, (err, response) => done(err, response?.found === true ? Buffer.from(response.value ?? Buffer.alloc(0)) : undefined)),
    });
  }

  /** Rows of [start, end) in key order across ranges, at most rowsMax rows and about bytesMax bytes. */
  async scan(start: Buffer, end: Buffer, rowsMax: number, bytesMax: number, deadlineMs: number, forwarded: boolean, served?: ServedReport, at?: bigint): Promise<{ rows: ScanRow[]; more: boolean }> {
    const until = performance.now() + deadlineMs;
    if (forwarded) return this.scanOne(start, end, rowsMax, bytesMax, deadlineMs, true, served, at);
    const rows: ScanRow[] = [];
    let bytes = 0;
    let cursor = start;
    for (;;) {
      if (end.byteLength > 0 && Buffer.compare(cursor, end) >= 0) return { rows, more: false };
      const full = rows.length >= rowsMax || bytes >= bytesMax;
      const desc = this.describe(cursor);
      const pieceEnd = desc === undefined || desc.endKey.byteLength === 0 ? end : end.byteLength === 0 || Buffer.compare(desc.endKey, end) < 0 ? desc.endKey : end;
      const leftMs = until - performance.now();
      if (leftMs <= 0) throw new KvError('PH_DEADLINE_EXCEEDED', 'scan did not finish within its deadline');
      // Once the limits are reached, one more row anywhere after the cursor means "more".
      const piece = await this.scanOne(cursor, pieceEnd, full ? 1 : rowsMax - rows.length, full ? 1 : bytesMax - bytes, leftMs, false, served, at);
      if (full) {
        if (piece.rows.length > 0) return { rows, more: true };
      } else {
        for (const row of piece.rows) {
          rows.push(row);
          bytes += row.key.byteLength + row.value.byteLength;
        }
        if (piece.more) return { rows, more: true };
      }
      if (pieceEnd.byteLength === 0 || (end.byteLength > 0 && pieceEnd.equals(end))) return { rows, more: false };
      cursor = pieceEnd;
    }
  }

  /** A scan of [start, end) within the one range holding `start`. */
  private scanOne(start: Buffer, end: Buffer, rowsMax: number, bytesMax: number, deadlineMs: number, forwarded: boolean, served?: ServedReport, at?: bigint): Promise<{ rows: ScanRow[]; more: boolean }> {
    // A scan may cross ranges: it tells the client who served, not a range span.
    return this.route<{ rows: ScanRow[]; more: boolean }>(start, deadlineMs, forwarded, false, served, {
      reportsRange: false,
      local: async (replica, leftMs) => {
        await readBarrier(replica, leftMs, at);
        return replica.stateMachine.scan(start, end, rowsMax, bytesMax, at);
      },
      remote: (stub, metadata, options, done) =>
        stub.Scan({ start, end, limit: rowsMax, at: String(at ?? 0n) }, metadata, options, (err, response) =>
          done(err, { rows: (response?.rows ?? []).map((row) => ({ key: Buffer.from(row.key ?? Buffer.alloc(0)), value: Buffer.from(row.value ?? Buffer.alloc(0)) })), more: response?.more ?? false }),
        ),
    });
  }

  private describe(key: Buffer): RangeDescriptor | undefined {
    return this.host.store().lookup(key);
  }

  // ------------------------------------------------------------------ routing

  private async route<T>(
    key: Buffer,
    deadlineMs: number,
    forwarded: boolean,
    isWrite: boolean,
    served: ServedReport | undefined,
    how: {
      /** Whether the answer names the serving range's span (point requests; the client caches it). */
      readonly reportsRange: boolean;
      local: (replica: Replica, leftMs: number) => Promise<T>;
      remote: Remote<T>;
    },
  ): Promise<T> {
    const until = performance.now() + deadlineMs;
    let lastError: KvError | undefined;
    for (let attempt = 0; ; attempt++) {
      const leftMs = Math.floor(until - performance.now());
      if (leftMs <= 0 || attempt >= attemptsMax) {
        throw lastError ?? new KvError('PH_DEADLINE_EXCEEDED', `request not routed within ${deadlineMs} ms`);
      }
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMaxMs, 5 * 2 ** attempt, Math.max(0, leftMs - 1))));
      const store = this.host.store();
      const desc = store.lookup(key);
      if (desc === undefined) {
        lastError = new KvError('PH_UNAVAILABLE', 'no range of this key is known on this node yet');
        if (forwarded) throw lastError;
        continue;
      }
      const replica = store.replica(desc.rangeId);
      const localDesc = replica?.stateMachine.descriptor();
      if (replica !== undefined && localDesc !== undefined && containsKey(localDesc, key) && replica.serving && replica.role().role === 'leader') {
        try {
          const value = await how.local(replica, Math.max(1, Math.floor(until - performance.now())));
          if (how.reportsRange && served?.wantsRange === true) served.range(localDesc.startKey, localDesc.endKey);
          return value;
        } catch (err) {
          if (err instanceof KvError && (err.code === 'PH_RANGE_MISMATCH' || err.code === 'PH_NOT_LEADER')) {
            lastError = err;
            if (forwarded) throw err;
            continue;
          }
          throw err;
        }
      }
      if (forwarded) {
        // Served here or not at all: the gateway that forwarded will look again.
        if (replica === undefined || localDesc === undefined || !containsKey(localDesc, key)) throw rangeMismatch(desc.rangeId, localDesc);
        // A follower of a leader that is down campaigns, and names no leader (not the dead one).
        if (store.campaignIfLeaderDown(replica)) throw new NotLeaderError(0, '');
        throw replica.notLeader();
      }
      if (replica !== undefined && store.campaignIfLeaderDown(replica)) {
        // The local replica follows a leader whose connection failed: rather than forward to a
        // node that cannot answer (a write's fate would be unknown), it campaigns, and the next
        // attempt finds it leading (or someone else named as leader).
        lastError = new KvError('PH_UNAVAILABLE', `range ${desc.rangeId}: its leader is unreachable from node ${this.host.nodeId}; electing another`);
        continue;
      }
      const usable = (id: NodeId): boolean => id !== 0 && id !== this.host.nodeId && !store.peerDown(id);
      let target = replica?.role().leaderId ?? 0;
      if (!usable(target)) target = this.leaderHints.get(desc.rangeId) ?? 0;
      if (!usable(target)) {
        // Nodes counted down are tried only when no other is left (the count may be stale).
        const others = desc.replicas.map((r) => r.nodeId).filter(usable);
        const candidates = others.length > 0 ? others : desc.replicas.map((r) => r.nodeId).filter((id) => id !== this.host.nodeId);
        target = candidates.length === 0 ? 0 : (candidates[attempt % candidates.length] ?? 0);
      }
      const address = target === 0 ? '' : this.host.kvAddressOf(target);
      if (address === '') {
        // The client library tries the other nodes on a NotLeader without an address.
        lastError = target === 0 ? new KvError('PH_UNAVAILABLE', `range ${desc.rangeId} has no known leader yet`) : new NotLeaderError(target, '');
        continue;
      }
      try {
        const { value, span } = await this.forward(address, how.remote, Math.max(1, Math.floor(until - performance.now())), how.reportsRange && served !== undefined);
        this.forwardedRequests++;
        served?.elsewhere(address);
        if (span !== undefined && served?.wantsRange === true) served.range(span.start, span.end);
        return value;
      } catch (err) {
        const failure = readAttemptFailure(err, metadataKeys);
        const code = failure.phantomCode;
        if (code === 'PH_NOT_LEADER') {
          if (failure.leaderId > 0) this.leaderHints.set(desc.rangeId, failure.leaderId);
          else this.leaderHints.delete(desc.rangeId);
          lastError = new NotLeaderError(0, '');
          continue;
        }
        this.leaderHints.delete(desc.rangeId);
        if (code !== undefined && isKvErrorCode(code)) {
          const error = new KvError(code, failure.details);
          if (error.retriable) {
            lastError = error;
            continue;
          }
          throw error;
        }
        // No PhantomDB code: the node could not be reached or the call broke on the way. Only a
        // failed connection counts the node down; a refused stream or a proxy's 503 is "try again".
        if (connectionFailed(failure)) store.peerUnreachable(target);
        if (failure.status === grpc.status.DEADLINE_EXCEEDED) throw new KvError('PH_DEADLINE_EXCEEDED', `forwarded request to node ${target}: ${failure.details}`);
        // A write that never left (no connection to send it on) is as safe to resend as a read.
        if (isWrite && !neverSent(failure)) throw new KvError('PH_OUTCOME_UNKNOWN', `forwarded write to node ${target} failed: ${failure.details}`);
        lastError = new KvError('PH_UNAVAILABLE', `node ${target} unreachable: ${failure.details}`);
      }
    }
  }

  /** Sends `remote` to `address`; with `askRange`, the answer's span of the serving range (relayed to the client) comes back too. */
  private forward<T>(address: string, remote: Remote<T>, deadlineMs: number, askRange: boolean): Promise<{ value: T; span: Span | undefined }> {
    let stub = this.stubs.get(address);
    if (stub === undefined) {
      stub = this.host.connect?.(address) ?? new (kvProto().KV)(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...reconnectChannelOptions });
      this.stubs.set(address, stub);
    }
    const metadata = new grpc.Metadata();
    metadata.set(metadataKeys.clusterId, this.host.clusterId);
    metadata.set(forwardedMetadataKey, '1');
    if (askRange) metadata.set(rangeAskMetadataKey, '1');
    const client = stub;
    let span: Span | undefined;
    return new Promise((resolve, reject) => {
      const call = remote(client, metadata, { deadline: Date.now() + deadlineMs }, (err, value) => {
        if (err !== null) reject(err);
        else resolve({ value: value as T, span });
      });
      // Response headers arrive before the response message (and so before the callback).
      if (askRange && call instanceof EventEmitter) {
        call.once('metadata', (headers: grpc.Metadata) => {
          const bytes = headers.get(rangeMetadataKey)[0];
          if (Buffer.isBuffer(bytes)) span = decodeSpan(bytes);
        });
      }
    });
  }

  close(): void {
    for (const stub of this.stubs.values()) stub.close();
    this.stubs.clear();
  }
}
