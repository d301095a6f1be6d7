/**
 * What the data node's gRPC services (KV and Membership, Admin) do with every unary request
 * before and after their own handler: refuse a request meant for another cluster, turn the
 * gRPC deadline into the time the handler may take (within limits), and send expected failures
 * back as a gRPC status plus `ph-error-code` (and leader) metadata. Each API keeps its own error
 * class, codes and status table; it describes them to this core through a ServiceErrorMapping.
 */
import * as grpc from '@grpc/grpc-js';
import { requestObserver } from '../metrics/request-hook.ts';
import type { LeaderHint, RpcErrorFactory, RpcMetadataKeys } from './conventions.ts';

/** The deadline limits of a service. */
export interface RequestDeadlineLimits {
  /** Time a call may take when the client set no deadline. */
  readonly requestDeadlineDefaultMs: number;
  /** Longest time a call may take whatever the client asked. */
  readonly requestDeadlineMaxMs: number;
}

/** An API's expected failure: an error with a stable code. */
export interface CodedError<Code extends string> extends Error {
  readonly code: Code;
}

/** How an API's expected failures go on the wire. */
export interface ServiceErrorMapping<Code extends string> {
  isExpected(err: unknown): err is CodedError<Code>;
  readonly statusOf: Readonly<Record<Code, grpc.status>>;
  /** The leader a PH_NOT_LEADER failure names; undefined for every other failure. */
  leaderHintOf(err: CodedError<Code>): LeaderHint | undefined;
}

/** One API's conventions, and what a request is checked against (read at each request). */
export interface UnaryServiceContext<Code extends string> {
  readonly metadataKeys: RpcMetadataKeys;
  readonly newError: RpcErrorFactory<Error>;
  readonly errors: ServiceErrorMapping<Code>;
  /** The cluster this node belongs to, read at each request. */
  clusterId(): string;
  limits(): RequestDeadlineLimits;
  nowMs(): number;
}

interface CallLike {
  getDeadline(): grpc.Deadline;
  readonly metadata: grpc.Metadata;
}

/**
 * The gRPC status of a failure: an expected one with its code (and leader) in metadata, anything
 * else as INTERNAL (a bug, not the client's mistake).
 */
function toServiceError<Code extends string>(err: unknown, keys: RpcMetadataKeys, errors: ServiceErrorMapping<Code>): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (errors.isExpected(err)) {
    metadata.set(keys.errorCode, err.code);
    const leader = errors.leaderHintOf(err);
    if (leader !== undefined) {
      metadata.set(keys.leaderId, String(leader.leaderId));
      metadata.set(keys.leaderAddress, leader.leaderAddress);
    }
    return { code: errors.statusOf[err.code], details: `${err.code}: ${err.message}`, metadata };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.INTERNAL, details: `internal error: ${message}`, metadata };
}

/**
 * The time a request may take: its gRPC deadline, else the default, capped at the maximum.
 * Throws PH_DEADLINE_EXCEEDED when the deadline has already passed.
 */
function requestDeadlineMs(call: CallLike, limits: RequestDeadlineLimits, nowMs: number, newError: RpcErrorFactory<Error>): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return limits.requestDeadlineDefaultMs;
  const left = at - nowMs;
  if (left <= 0) throw newError('PH_DEADLINE_EXCEEDED', 'request arrived after its deadline');
  return Math.min(left, limits.requestDeadlineMaxMs);
}

/** Throws PH_WRONG_CLUSTER when the request names a cluster other than `clusterId` (naming none is fine). */
function checkCluster(call: CallLike, keys: RpcMetadataKeys, clusterId: string, newError: RpcErrorFactory<Error>): void {
  const named = call.metadata.get(keys.clusterId)[0];
  if (named !== undefined && String(named) !== clusterId) {
    throw newError('PH_WRONG_CLUSTER', `request is for cluster ${JSON.stringify(String(named))}, this node belongs to ${JSON.stringify(clusterId)}`);
  }
}

/**
 * Adapts an async handler to grpc-js's callback style: checks the cluster and the deadline
 * first, hands the handler the time it may take, and maps every failure to a status.
 */
/**
 * Response headers a handler may add (sent as the response's initial metadata, so a client
 * reads them with the answer; nothing is sent when none is added).
 */
export class ResponseHeaders {
  private metadata: grpc.Metadata | undefined;

  /** A `-bin` key takes a Buffer (gRPC binary metadata). */
  set(key: string, value: string | Buffer): void {
    (this.metadata ??= new grpc.Metadata()).set(key, value);
  }

  /** The headers added, or undefined when none was. */
  taken(): grpc.Metadata | undefined {
    return this.metadata;
  }
}

export function unaryHandler<Req, Res, Code extends string>(
  context: UnaryServiceContext<Code>,
  handle: (request: Req, deadlineMs: number, metadata: grpc.Metadata, headers: ResponseHeaders) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  const { metadataKeys, newError, errors } = context;
  // Every request runs this: no named closures in it (under tsx each costs a defineProperty).
  const failed = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>, observer: ReturnType<typeof requestObserver>, startedMs: number, err: unknown): void => {
    observer?.requestFinished(call.getPath(), errors.isExpected(err) ? err.code : 'internal', (performance.now() - startedMs) / 1000);
    callback(toServiceError(err, metadataKeys, errors));
  };
  return (call, callback) => {
    // Metrics: one clock read per request when an observer is installed, nothing otherwise.
    const observer = requestObserver();
    const startedMs = observer === undefined ? 0 : performance.now();
    let deadlineMs: number;
    try {
      checkCluster(call, metadataKeys, context.clusterId(), newError);
      deadlineMs = requestDeadlineMs(call, context.limits(), context.nowMs(), newError);
    } catch (err) {
      failed(call, callback, observer, startedMs, err);
      return;
    }
    const headers = new ResponseHeaders();
    handle(call.request, deadlineMs, call.metadata, headers).then(
      (response) => {
        observer?.requestFinished(call.getPath(), 'ok', (performance.now() - startedMs) / 1000);
        const metadata = headers.taken();
        if (metadata !== undefined) call.sendMetadata(metadata);
        callback(null, response);
      },
      (err: unknown) => failed(call, callback, observer, startedMs, err),
    );
  };
}

/**
 * Adapts an async generator to a grpc-js server-streaming handler: checks the cluster first,
 * writes each item as it comes (waiting for the stream to drain, so a slow reader holds the
 * producer back), ends the stream, and maps a failure to a status. No deadline is imposed
 * beyond the client's own: a stream runs as long as it produces.
 */
export function serverStreamHandler<Req, Res, Code extends string>(
  context: UnaryServiceContext<Code>,
  produce: (request: Req, metadata: grpc.Metadata, signal: AbortSignal) => AsyncIterable<Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  const { metadataKeys, newError, errors } = context;
  return (call) => {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort(new Error('the client cancelled the stream')));
    const run = async (): Promise<void> => {
      checkCluster(call, metadataKeys, context.clusterId(), newError);
      for await (const item of produce(call.request, call.metadata, abort.signal)) {
        if (abort.signal.aborted) return;
        if (!call.write(item)) await new Promise<void>((resolve) => call.once('drain', resolve));
      }
      call.end();
    };
    run().catch((err: unknown) => {
      if (abort.signal.aborted) return;
      call.emit('error', toServiceError(err, metadataKeys, errors));
    });
  };
}
