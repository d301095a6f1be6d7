/**
 * Snapshot data streams (the SnapshotStream RPC). A Raft `Snapshot` message carries only metadata
 * and a reference; the data (SST files of a range) follows on its own stream, on its own
 * connection so that a large transfer does not delay the Raft traffic of every other group.
 *
 * Wire: one SnapshotHeader (cluster, sender, receiver, protocol version, group, snapshot index and
 * term, reference), data chunks of at most snapshotChunkBytesMax bytes, one SnapshotTrailer with
 * the byte count and a CRC-32C of all data. The receiver hands the data to the host as an async
 * iterable (pausing the stream while the host is behind) and acknowledges only after the host
 * accepted it and the trailer matched; if the trailer does not match, the host's iteration throws.
 *
 * The sender paces itself to `bytesPerSecondMax` (after a first chunk sent at once), so that
 * snapshots cannot starve foreground traffic of bandwidth.
 */
import type * as grpc from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../assert.ts';
import type { NodeId } from '../raft/types.ts';
import { crc32c } from '../storage/crc32c.ts';
import type { SnapshotAck, SnapshotAck__Output } from '../../proto/generated/phantomdb/transport/v1/SnapshotAck.ts';
import type { SnapshotChunk, SnapshotChunk__Output } from '../../proto/generated/phantomdb/transport/v1/SnapshotChunk.ts';
import type { SnapshotHeader__Output } from '../../proto/generated/phantomdb/transport/v1/SnapshotHeader.ts';
import type { TransportContext } from './context.ts';
import { TransportError, TransportProtocolError } from './errors.ts';
import { newRaftTransportClient, parseSafeUint } from './grpc-service.ts';

export interface SnapshotSendRequest {
  readonly toNode: NodeId;
  readonly groupId: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** SnapshotMeta.reference: names the snapshot for the receiver's logs and checks. */
  readonly reference: string;
  /** The data, in order; chunks of any size (they are re-cut to snapshotChunkBytesMax). */
  readonly data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Pace the stream to this many bytes per second; unlimited when absent. */
  readonly bytesPerSecondMax?: number;
}

export interface SnapshotSendResult {
  readonly bytesSent: number;
  readonly durationMs: number;
}

export interface IncomingSnapshot {
  readonly fromNode: NodeId;
  readonly groupId: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  readonly reference: string;
  /** The data chunks; iteration throws a TransportError if the stream breaks or fails its checksum. */
  readonly data: AsyncIterable<Uint8Array>;
}

type Stream = grpc.ClientWritableStream<SnapshotChunk>;

/** Streams one snapshot; throws PH_TRANSPORT_UNREACHABLE, PH_TRANSPORT_SNAPSHOT_FAILED or PH_TRANSPORT_CLOSED. */
export async function sendSnapshot(context: TransportContext, request: SnapshotSendRequest, signal: AbortSignal): Promise<SnapshotSendResult> {
  assert(request.toNode !== context.self.nodeId, 'no snapshot to oneself');
  assert(request.bytesPerSecondMax === undefined || request.bytesPerSecondMax > 0, 'bytesPerSecondMax is positive');
  const address = context.resolvePeer(request.toNode);
  if (address === undefined) throw new TransportError('PH_TRANSPORT_UNREACHABLE', `no address for node ${request.toNode}`);
  const client = newRaftTransportClient(address, context.options.frameBytesMax);
  const startedMs = performance.now();
  let stream: Stream | undefined;
  const done = new Promise<SnapshotAck__Output>((resolve, reject) => {
    stream = client.SnapshotStream((error, ack) => {
      if (error !== null) reject(snapshotCallError(error, request.toNode));
      else if (ack === undefined) reject(new TransportError('PH_TRANSPORT_SNAPSHOT_FAILED', 'snapshot stream ended without an acknowledgement'));
      else resolve(ack);
    });
  });
  done.catch(() => undefined);
  assert(stream !== undefined, 'the call was created synchronously');
  const call = stream;
  call.on('error', () => undefined);
  try {
    call.write({
      header: {
        clusterId: context.self.clusterId,
        fromNodeId: context.self.nodeId,
        toNodeId: request.toNode,
        protocolVersion: context.options.protocolVersions.max,
        groupId: request.groupId,
        snapshotIndex: request.snapshotIndex,
        snapshotTerm: request.snapshotTerm,
        reference: request.reference,
      },
    });
    const { totalBytes, crc } = await writeData(context, request, call, done, signal, startedMs);
    call.write({ trailer: { totalBytes, crc32c: crc } });
    call.end();
    const ack = await done;
    if (parseSafeUint(ack.bytesReceived) !== totalBytes) {
      throw new TransportError('PH_TRANSPORT_SNAPSHOT_FAILED', `receiver acknowledged ${ack.bytesReceived} of ${totalBytes} bytes`);
    }
    return { bytesSent: totalBytes, durationMs: performance.now() - startedMs };
  } catch (error) {
    call.cancel();
    if (signal.aborted) throw new TransportError('PH_TRANSPORT_CLOSED', 'transport stopped during a snapshot stream', { cause: error });
    throw error;
  } finally {
    client.close();
  }
}

async function writeData(
  context: TransportContext,
  request: SnapshotSendRequest,
  call: Stream,
  done: Promise<unknown>,
  signal: AbortSignal,
  startedMs: number,
): Promise<{ totalBytes: number; crc: number }> {
  const chunkBytesMax = context.options.snapshotChunkBytesMax;
  let totalBytes = 0;
  let crc = 0;
  for await (const piece of request.data) {
    for (let offset = 0; offset < piece.byteLength; offset += chunkBytesMax) {
      if (signal.aborted) throw new TransportError('PH_TRANSPORT_CLOSED', 'transport stopped');
      const chunk = piece.subarray(offset, Math.min(piece.byteLength, offset + chunkBytesMax));
      crc = crc32c(chunk, 0, chunk.byteLength, crc);
      totalBytes += chunk.byteLength;
      if (!call.write({ data: chunk })) await Promise.race([new Promise((resolve) => call.once('drain', resolve)), done]);
      if (request.bytesPerSecondMax !== undefined) {
        // Pacing: the bytes written so far may not have left before this moment.
        const dueMs = startedMs + (totalBytes / request.bytesPerSecondMax) * 1000;
        const waitMs = dueMs - performance.now();
        if (waitMs >= 1) await Promise.race([sleep(waitMs, undefined, { signal }), done]);
      }
    }
  }
  return { totalBytes, crc };
}

function snapshotCallError(error: grpc.ServiceError, toNode: NodeId): TransportError {
  const detail = `${grpcStatus[error.code] ?? error.code}: ${error.details}`;
  if (error.code === grpcStatus.UNAVAILABLE) return new TransportError('PH_TRANSPORT_UNREACHABLE', `node ${toNode} unreachable: ${detail}`, { cause: error });
  return new TransportError('PH_TRANSPORT_SNAPSHOT_FAILED', `snapshot to node ${toNode} failed: ${detail}`, { cause: error });
}

/** Chunks handed from the gRPC stream to the host, with a bound the stream is paused at. */
class ChunkChannel implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  onConsumed: (() => void) | undefined;

  get buffered(): number {
    return this.chunks.length;
  }

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: Error): void {
    this.error ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    while (true) {
      if (this.error !== undefined) throw this.error;
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.onConsumed?.();
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

function checkSnapshotHeader(context: TransportContext, header: SnapshotHeader__Output): NodeId {
  if (header.clusterId !== context.self.clusterId) {
    throw new TransportProtocolError('PH_TRANSPORT_CLUSTER_MISMATCH', 'cluster-mismatch', `snapshot from cluster '${header.clusterId}'`);
  }
  if (parseSafeUint(header.toNodeId) !== context.self.nodeId) {
    throw new TransportProtocolError('PH_TRANSPORT_WRONG_NODE', 'wrong-recipient', `snapshot for node ${header.toNodeId} arrived at ${context.self.nodeId}`);
  }
  const from = parseSafeUint(header.fromNodeId);
  if (from === undefined || from === 0 || from === context.self.nodeId) {
    throw new TransportProtocolError('PH_TRANSPORT_WRONG_NODE', 'bad-node-id', `snapshot from node id '${header.fromNodeId}'`);
  }
  const { min, max } = context.options.protocolVersions;
  if (header.protocolVersion < min || header.protocolVersion > max) {
    throw new TransportProtocolError('PH_TRANSPORT_VERSION_MISMATCH', 'version', `snapshot stream uses protocol version ${header.protocolVersion}`);
  }
  return from;
}

function headerNumber(value: string, what: string): number {
  const parsed = parseSafeUint(value);
  if (parsed === undefined) throw new TransportProtocolError('PH_TRANSPORT_MALFORMED_FRAME', 'varint-range', `${what} '${value}' is not a safe integer`);
  return parsed;
}

/** Serves one SnapshotStream call (see the file comment for the protocol). */
export function receiveSnapshot(
  context: TransportContext,
  call: grpc.ServerReadableStream<SnapshotChunk__Output, SnapshotAck>,
  callback: grpc.sendUnaryData<SnapshotAck>,
  onSnapshot: ((snapshot: IncomingSnapshot) => Promise<void>) | undefined,
  countError: (error: TransportError, nodeId: NodeId | undefined) => void,
): void {
  const channel = new ChunkChannel();
  channel.onConsumed = () => {
    if (channel.buffered < context.options.snapshotChunksBufferedMax) call.resume();
  };
  let fromNode: NodeId | undefined;
  let totalBytes = 0;
  let crc = 0;
  let verified = false;
  let finished = false;
  const finish = (error: Error | undefined): void => {
    if (finished) return;
    finished = true;
    if (error === undefined) {
      callback(null, { bytesReceived: totalBytes });
      return;
    }
    channel.fail(error);
    if (error instanceof TransportError) countError(error, fromNode);
    context.logger.error('transport.snapshot_rejected', { peer: fromNode ?? 'unknown', error: error.message });
    const code = error instanceof TransportError && error.code === 'PH_TRANSPORT_MALFORMED_FRAME' ? grpcStatus.INVALID_ARGUMENT : grpcStatus.FAILED_PRECONDITION;
    callback({ code, details: error.message });
  };
  const onChunk = (chunk: SnapshotChunk__Output): void => {
    if (chunk.part === 'header' && chunk.header !== undefined && chunk.header !== null && fromNode === undefined) {
      fromNode = checkSnapshotHeader(context, chunk.header);
      if (onSnapshot === undefined) throw new TransportError('PH_TRANSPORT_SNAPSHOT_FAILED', 'this node accepts no snapshots');
      const header = chunk.header;
      const snapshot: IncomingSnapshot = {
        fromNode,
        groupId: headerNumber(header.groupId, 'group id'),
        snapshotIndex: headerNumber(header.snapshotIndex, 'snapshot index'),
        snapshotTerm: headerNumber(header.snapshotTerm, 'snapshot term'),
        reference: header.reference,
        data: channel,
      };
      onSnapshot(snapshot).then(
        () => finish(verified ? undefined : new TransportError('PH_TRANSPORT_SNAPSHOT_FAILED', 'host finished before the snapshot stream did')),
        (error: unknown) => finish(error instanceof Error ? error : new TransportError('PH_TRANSPORT_SNAPSHOT_FAILED', String(error))),
      );
    } else if (chunk.part === 'data' && chunk.data !== undefined && fromNode !== undefined && !verified) {
      if (chunk.data.byteLength > context.options.snapshotChunkBytesMax) {
        throw new TransportProtocolError('PH_TRANSPORT_LIMIT_EXCEEDED', 'chunk-limit', `snapshot chunk of ${chunk.data.byteLength} bytes`);
      }
      crc = crc32c(chunk.data, 0, chunk.data.byteLength, crc);
      totalBytes += chunk.data.byteLength;
      channel.push(chunk.data);
      if (channel.buffered >= context.options.snapshotChunksBufferedMax) call.pause();
    } else if (chunk.part === 'trailer' && chunk.trailer !== undefined && chunk.trailer !== null && fromNode !== undefined && !verified) {
      if (parseSafeUint(chunk.trailer.totalBytes) !== totalBytes || chunk.trailer.crc32c !== crc) {
        throw new TransportProtocolError('PH_TRANSPORT_MALFORMED_FRAME', 'checksum', `snapshot data of ${totalBytes} bytes does not match its trailer`);
      }
      verified = true;
      channel.end();
    } else {
      throw new TransportProtocolError('PH_TRANSPORT_MALFORMED_FRAME', 'bad-sequence', `unexpected snapshot stream part '${chunk.part ?? 'none'}'`);
    }
  };
  call.on('data', (chunk: SnapshotChunk__Output) => {
    if (finished) return;
    try {
      onChunk(chunk);
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      finish(error);
    }
  });
  call.on('end', () => {
    if (!verified) finish(new TransportProtocolError('PH_TRANSPORT_MALFORMED_FRAME', 'truncated', 'snapshot stream ended before its trailer'));
  });
  call.on('error', () => {
    channel.fail(new TransportError('PH_TRANSPORT_SNAPSHOT_FAILED', 'sender went away during the snapshot stream'));
    finished = true;
  });
}
