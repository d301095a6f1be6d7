/**
 * The gRPC KV and Membership services (datanode/proto/kv.proto) on top of a KvBackend (the
 * node's replica). Every request is validated against the limits before anything is proposed;
 * expected failures become a gRPC status plus `ph-error-code` trailing metadata.
 */
import * as grpc from '@grpc/grpc-js';
import type { KVHandlers } from '../../proto/generated/phantomdb/kv/v1/KV.ts';
import type { MembershipHandlers } from '../../proto/generated/phantomdb/kv/v1/Membership.ts';
import { unaryHandler, type ResponseHeaders, type ServiceErrorMapping } from '../rpc/service-core.ts';
import type { Command, MemberAddress } from './command.ts';
import { decodeDescriptor, type RangeDescriptor } from './descriptor.ts';
import { KvError, NotLeaderError, type KvErrorCode } from './errors.ts';
import type { KvLimits } from './limits.ts';
import { kvProto, metadataKeys, servedByMetadataKey } from './proto.ts';
import { encodeSpan, rangeAskMetadataKey, rangeMetadataKey } from './range-cache.ts';
import type { ApplyResult, ScanRow } from './state-machine.ts';

/**
 * Set by a gateway node on a request it forwards to the node holding the range's leader: that
 * node serves it from its own replica or refuses (NotLeader, RangeMismatch), never forwards again.
 */
export const forwardedMetadataKey = 'ph-forwarded';

/** What the gateway tells the client about who served a request (response headers). */
export interface ServedReport {
  /** Another node served the request: its KV address (`ph-served-by`). */
  elsewhere(kvAddress: string): void;
  /**
   * The span of the range that served the request, when the client asked for it
   * (`ph-range-ask`) or the request was served elsewhere (the client's range cache was stale).
   */
  readonly wantsRange: boolean;
  range(start: Uint8Array, end: Uint8Array): void;
}

/** What the service needs from the node (the gateway: it routes each key to its range). */
export interface KvBackend {
  readonly clusterId: string;
  readonly limits: KvLimits;
  /** Proposes a put, delete or compare-and-set at the key's range and waits for commit and apply. */
  write(command: Command, deadlineMs: number, forwarded: boolean, served?: ServedReport): Promise<ApplyResult>;
  /** The value of `key`, read linearizably at its range (or as of the HLC timestamp `at`). */
  get(key: Buffer, deadlineMs: number, forwarded: boolean, served?: ServedReport, at?: bigint): Promise<Buffer | undefined>;
  /** Rows of [start, end) in key order across ranges, linearizable per range (or as of the HLC timestamp `at`). */
  scan(start: Buffer, end: Buffer, rowsMax: number, bytesMax: number, deadlineMs: number, forwarded: boolean, served?: ServedReport, at?: bigint): Promise<{ rows: ScanRow[]; more: boolean }>;
  /** Records range descriptors in the meta range (its leader only). */
  recordRanges(descriptors: readonly RangeDescriptor[], deadlineMs: number): Promise<void>;
  /** Adds a node as a learner (leader only); returns the address book. */
  /** `version`: the joining binary's (absent from builds before cluster versions; then not checked). */
  join(nodeId: number, address: MemberAddress, deadlineMs: number, version?: { readonly binaryVersion: string; readonly clusterVersionMin: string }): Promise<ReadonlyMap<number, MemberAddress>>;
  /** A node's liveness heartbeat (meta leader only): records `record` and keeps `report`. */
  heartbeat(record: Buffer, report: Buffer, deadlineMs: number): Promise<void>;
  /** One replica or lease change of range `rangeId` (its leader only); see kv.proto ChangeReplicas. */
  changeReplicas(rangeId: number, op: string, nodeId: number, deadlineMs: number): Promise<boolean>;
}

const defaultScanRows = 100;

const statusOf: Record<KvErrorCode, grpc.status> = {
  PH_NOT_LEADER: grpc.status.UNAVAILABLE,
  PH_UNAVAILABLE: grpc.status.UNAVAILABLE,
  PH_DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  PH_OUTCOME_UNKNOWN: grpc.status.UNKNOWN,
  PH_PROPOSAL_DROPPED: grpc.status.ABORTED,
  PH_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  PH_BAD_REQUEST: grpc.status.INVALID_ARGUMENT,
  PH_OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  PH_JOIN_REFUSED: grpc.status.FAILED_PRECONDITION,
  PH_WRONG_CLUSTER: grpc.status.FAILED_PRECONDITION,
  PH_RANGE_MISMATCH: grpc.status.UNAVAILABLE,
  PH_CLUSTER_VERSION_UNSUPPORTED: grpc.status.FAILED_PRECONDITION,
  PH_FEATURE_NOT_FINALIZED: grpc.status.FAILED_PRECONDITION,
};

const kvServiceErrors: ServiceErrorMapping<KvErrorCode> = {
  isExpected: (err): err is KvError => err instanceof KvError,
  statusOf,
  leaderHintOf: (err) => (err instanceof NotLeaderError ? err : undefined),
};

function checkKey(key: Buffer, limits: KvLimits, field = 'key'): void {
  if (key.byteLength === 0) throw new KvError('PH_BAD_REQUEST', `${field} must not be empty`);
  if (key.byteLength > limits.keyBytesMax) throw new KvError('PH_TOO_LARGE', `${field} of ${key.byteLength} bytes exceeds keyBytesMax ${limits.keyBytesMax}`);
}

function checkValue(value: Buffer, limits: KvLimits, field = 'value'): void {
  if (value.byteLength > limits.valueBytesMax) throw new KvError('PH_TOO_LARGE', `${field} of ${value.byteLength} bytes exceeds valueBytesMax ${limits.valueBytesMax}`);
}

/** The read timestamp of a request (uint64 as a decimal string; '0' or absent: the newest versions). */
function readTimestamp(at: string | undefined): [] | [bigint] {
  if (at === undefined || at === '' || at === '0') return [];
  if (!/^[0-9]{1,20}$/.test(at)) throw new KvError('PH_BAD_REQUEST', `read timestamp ${JSON.stringify(at)} is not an unsigned integer`);
  return [BigInt(at)];
}

/** Adapts an async handler to grpc-js's callback style: cluster and deadline checks, errors mapped. */
function unary<Req, Res>(backend: KvBackend, handle: (request: Req, deadlineMs: number, forwarded: boolean, served: ServedReport) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return unaryHandler(
    {
      metadataKeys,
      newError: (code, message) => new KvError(code, message),
      errors: kvServiceErrors,
      clusterId: () => backend.clusterId,
      limits: () => backend.limits,
      nowMs: () => Date.now(),
    },
    (request: Req, deadlineMs, metadata, headers) => handle(request, deadlineMs, metadata.get(forwardedMetadataKey)[0] === '1', new HeaderReport(headers, metadata.get(rangeAskMetadataKey)[0] === '1')),
  );
}

/** A ServedReport writing the response headers; a range is sent once, and only when asked or served elsewhere. */
class HeaderReport implements ServedReport {
  private servedElsewhere = false;
  private rangeSent = false;

  constructor(
    private readonly headers: ResponseHeaders,
    private readonly asked: boolean,
  ) {}

  get wantsRange(): boolean {
    return !this.rangeSent && (this.asked || this.servedElsewhere);
  }

  elsewhere(kvAddress: string): void {
    this.servedElsewhere = true;
    this.headers.set(servedByMetadataKey, kvAddress);
  }

  range(start: Uint8Array, end: Uint8Array): void {
    if (!this.wantsRange) return;
    const encoded = encodeSpan(start, end);
    if (encoded === undefined) return;
    this.rangeSent = true;
    this.headers.set(rangeMetadataKey, encoded);
  }
}

export function kvHandlers(backend: KvBackend): KVHandlers {
  const { limits } = backend;
  return {
    Put: unary(backend, async (request, deadlineMs, forwarded, served) => {
      checkKey(request.key, limits);
      checkValue(request.value, limits);
      await backend.write({ op: 'put', key: request.key, value: request.value }, deadlineMs, forwarded, served);
      return {};
    }),
    Get: unary(backend, async (request, deadlineMs, forwarded, served) => {
      checkKey(request.key, limits);
      const value = await backend.get(request.key, deadlineMs, forwarded, served, ...readTimestamp(request.at));
      return value === undefined ? { found: false } : { found: true, value };
    }),
    Delete: unary(backend, async (request, deadlineMs, forwarded, served) => {
      checkKey(request.key, limits);
      const result = await backend.write({ op: 'delete', key: request.key }, deadlineMs, forwarded, served);
      return { existed: result.op === 'delete' && result.existed };
    }),
    Scan: unary(backend, async (request, deadlineMs, forwarded, served) => {
      if (request.start.byteLength > limits.keyBytesMax) checkKey(request.start, limits, 'start');
      if (request.end.byteLength > limits.keyBytesMax) checkKey(request.end, limits, 'end');
      const rowsMax = request.limit === 0 ? defaultScanRows : request.limit;
      if (rowsMax > limits.scanRowsMax) throw new KvError('PH_TOO_LARGE', `limit ${rowsMax} exceeds scanRowsMax ${limits.scanRowsMax}`);
      return backend.scan(request.start, request.end, rowsMax, limits.scanBytesMax, deadlineMs, forwarded, served, ...readTimestamp(request.at));
    }),
    CompareAndSet: unary(backend, async (request, deadlineMs, forwarded, served) => {
      checkKey(request.key, limits);
      checkValue(request.value, limits);
      checkValue(request.expected, limits, 'expected');
      const expected = request.expectAbsent ? null : request.expected;
      const result = await backend.write({ op: 'cas', key: request.key, expected, value: request.value }, deadlineMs, forwarded, served);
      if (result.op !== 'cas') throw new KvError('PH_BAD_REQUEST', 'unexpected apply result');
      return result.current === null ? { succeeded: result.ok, currentPresent: false } : { succeeded: result.ok, currentPresent: true, current: result.current };
    }),
  };
}

export function membershipHandlers(backend: KvBackend): MembershipHandlers {
  return {
    Join: unary(backend, async (request, deadlineMs) => {
      if (request.clusterId !== backend.clusterId) {
        throw new KvError('PH_WRONG_CLUSTER', `join for cluster ${JSON.stringify(request.clusterId)} refused by a node of cluster ${JSON.stringify(backend.clusterId)}`);
      }
      const nodeId = Number(request.nodeId);
      if (!Number.isSafeInteger(nodeId) || nodeId <= 0) throw new KvError('PH_BAD_REQUEST', `node id ${request.nodeId} is not a positive integer`);
      for (const address of [request.address, request.kvAddress]) {
        if (!/^[^\s:]+:\d{1,5}$/.test(address)) throw new KvError('PH_BAD_REQUEST', `address ${JSON.stringify(address)} is not host:port`);
      }
      const version = request.binaryVersion === '' ? undefined : { binaryVersion: request.binaryVersion, clusterVersionMin: request.clusterVersionMin };
      const members = await backend.join(nodeId, { raft: request.address, kv: request.kvAddress }, deadlineMs, version);
      return { members: [...members].map(([id, address]) => ({ nodeId: String(id), address: address.raft, kvAddress: address.kv })) };
    }),
    RecordRanges: unary(backend, async (request: { descriptors: Buffer[] }, deadlineMs) => {
      let descriptors: RangeDescriptor[];
      try {
        descriptors = request.descriptors.map((bytes) => decodeDescriptor(bytes));
      } catch (err) {
        throw new KvError('PH_BAD_REQUEST', `malformed range descriptor: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (descriptors.length > 10_000) throw new KvError('PH_TOO_LARGE', `${descriptors.length} descriptors in one call (limit 10000)`);
      await backend.recordRanges(descriptors, deadlineMs);
      return {};
    }),
    Heartbeat: unary(backend, async (request: { record: Buffer; report: Buffer }, deadlineMs) => {
      if (request.record.byteLength > 4096 || request.report.byteLength > 1024 * 1024) throw new KvError('PH_TOO_LARGE', 'heartbeat record or report too large');
      await backend.heartbeat(request.record, request.report, deadlineMs);
      return {};
    }),
    ChangeReplicas: unary(backend, async (request: { rangeId: string; op: string; nodeId: string }, deadlineMs) => {
      const rangeId = Number(request.rangeId);
      const nodeId = Number(request.nodeId);
      if (!Number.isSafeInteger(rangeId) || rangeId <= 0 || !Number.isSafeInteger(nodeId) || nodeId <= 0) throw new KvError('PH_BAD_REQUEST', 'range id and node id must be positive integers');
      return { done: await backend.changeReplicas(rangeId, request.op, nodeId, deadlineMs) };
    }),
  };
}

/** Registers the KV and Membership services on `server`. */
export function addKvServices(server: grpc.Server, backend: KvBackend): void {
  const proto = kvProto();
  server.addService(proto.KV.service, kvHandlers(backend));
  server.addService(proto.Membership.service, membershipHandlers(backend));
}

/** The largest gRPC message a KV server must accept (a CAS with both values at the limit). */
export function kvMessageBytesMax(limits: KvLimits): number {
  return limits.keyBytesMax + 2 * limits.valueBytesMax + 64 * 1024;
}
