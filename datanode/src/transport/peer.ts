/**
 * The outbound side of one peer: its bounded queue, its gRPC client, the handshake, the frame
 * stream, and reconnection with capped exponential backoff.
 *
 * States: idle (nothing to send, no connection) → connecting (Hello in flight) → ready (Frames
 * stream open) → on any failure: backoff (timer) → connecting again if anything is queued, else
 * idle. stopped is final.
 *
 * On every failure the peer reports the groups that may have lost messages (queued ones, which
 * are dropped, and every group that used the broken stream) through onUnreachable, so the host
 * can call reportUnreachable on those groups' Raft cores, and the failure itself through
 * onConnectionFailed (the node may be down: not said for a full queue).
 */
import type * as grpc from '@grpc/grpc-js';
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { assert } from '../assert.ts';
import type { Message, NodeId } from '../raft/types.ts';
import type { HelloResponse__Output } from '../../proto/generated/phantomdb/transport/v1/HelloResponse.ts';
import type { RaftFrame } from '../../proto/generated/phantomdb/transport/v1/RaftFrame.ts';
import type { RaftTransportClient } from '../../proto/generated/phantomdb/transport/v1/RaftTransport.ts';
import { backoffDelayMs } from './backoff.ts';
import { encodeFrame, frameHeaderBytes, messageEncodedBytes, type FrameHeader } from './codec.ts';
import { metadataKeys, newRaftTransportClient, parseSafeUint } from './grpc-service.ts';
import { OutboundQueue, type QueuedMessage } from './outbound-queue.ts';
import type { PeerCounters, TransportContext } from './context.ts';
import { negotiateProtocolVersion } from './context.ts';

export type PeerState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'stopped';

export class Peer {
  state: PeerState = 'idle';
  readonly queue: OutboundQueue;
  private client: RaftTransportClient | undefined;
  private stream: grpc.ClientWritableStream<RaftFrame> | undefined;
  private streamWritable = true;
  private protocolVersion = 0;
  private attempt = 0;
  private everConnected = false;
  private timer: NodeJS.Timeout | undefined;
  /** Groups whose messages went out on the current stream: at risk if it breaks. */
  private readonly groupsOnStream = new Set<number>();
  /** Groups that lost messages (queue overflow, oversized) and are reported on the next flush. */
  private readonly groupsToReport = new Set<number>();

  constructor(
    readonly nodeId: NodeId,
    private readonly context: TransportContext,
    private readonly counters: PeerCounters,
  ) {
    this.queue = new OutboundQueue(context.options);
  }

  /** Queues messages for this peer (all addressed to it) and makes sure a connection is coming. */
  enqueue(messages: readonly Message[]): void {
    assert(this.state !== 'stopped', 'enqueue on a stopped peer');
    for (const message of messages) {
      assert(message.to === this.nodeId, 'message queued for its destination');
      const dropped = this.queue.push({ message, bytes: messageEncodedBytes(message) });
      for (const item of dropped) {
        this.counters.droppedQueueFull++;
        this.groupsToReport.add(item.message.groupId);
      }
    }
    if (this.state === 'idle') this.connect();
    this.context.scheduleFlush();
  }

  /** Sends everything queued, batched into as few frames as the limits allow. */
  flush(): void {
    if (this.groupsToReport.size > 0) {
      this.context.reportUnreachable(this.nodeId, this.groupsToReport);
      this.groupsToReport.clear();
    }
    const stream = this.stream;
    if (this.state !== 'ready' || stream === undefined || !this.streamWritable) return;
    if (this.queue.messages === 0) return;
    const header: FrameHeader = {
      protocolVersion: this.protocolVersion,
      clusterId: this.context.self.clusterId,
      senderNodeId: this.context.self.nodeId,
      recipientNodeId: this.nodeId,
    };
    const { frameBytesMax, messagesPerFrameMax } = this.context.options;
    const budget = frameBytesMax - frameHeaderBytes(header, messagesPerFrameMax);
    let batch: Message[] = [];
    let batchBytes = 0;
    for (const item of this.queue.takeAll()) {
      if (item.bytes > budget) {
        this.dropOversized(item, budget);
        continue;
      }
      if (batch.length === messagesPerFrameMax || batchBytes + item.bytes > budget) {
        this.writeFrame(stream, header, batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push(item.message);
      batchBytes += item.bytes;
    }
    if (batch.length > 0) this.writeFrame(stream, header, batch);
  }

  stop(): void {
    this.state = 'stopped';
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.closeConnection();
    this.queue.takeAll();
  }

  private writeFrame(stream: grpc.ClientWritableStream<RaftFrame>, header: FrameHeader, messages: Message[]): void {
    const frame = encodeFrame(header, messages, this.context.options);
    for (const message of messages) this.groupsOnStream.add(message.groupId);
    this.counters.framesSent++;
    this.counters.messagesSent += messages.length;
    this.counters.bytesSent += frame.byteLength;
    // Backpressure: once gRPC's buffer is full, stop flushing until it drains; meanwhile the
    // bounded queue absorbs (and if need be drops) new messages.
    if (!stream.write({ frame })) this.streamWritable = false;
  }

  private dropOversized(item: QueuedMessage, budget: number): void {
    this.counters.droppedOversized++;
    this.groupsToReport.add(item.message.groupId);
    this.context.logger.error('transport.message_oversized', {
      peer: this.nodeId,
      groupId: item.message.groupId,
      kind: item.message.kind,
      bytes: item.bytes,
      frameBudgetBytes: budget,
      hint: 'Raft maxMsgBytes must stay well below the transport frameBytesMax',
    });
  }

  private connect(): void {
    assert(this.state === 'idle' || this.state === 'backoff', `connect from ${this.state}`);
    this.state = 'connecting';
    this.counters.connectAttempts++;
    if (this.everConnected || this.attempt > 0) this.counters.reconnects++;
    const address = this.context.resolvePeer(this.nodeId);
    if (address === undefined) {
      this.fail('no-address', 'resolvePeer returned no address', false);
      return;
    }
    const client = newRaftTransportClient(address, this.context.options.frameBytesMax);
    this.client = client;
    const { min, max } = this.context.options.protocolVersions;
    client.Hello(
      {
        clusterId: this.context.self.clusterId,
        nodeId: this.context.self.nodeId,
        protocolVersions: { min, max },
        expectedNodeId: this.nodeId,
        binaryVersion: this.context.versions?.own.binaryVersion ?? '',
        clusterVersionMin: this.context.versions?.own.clusterVersionMin ?? '',
      },
      { deadline: Date.now() + this.context.options.handshakeTimeoutMs },
      (error, response) => {
        if (client !== this.client || this.state !== 'connecting') return;
        if (error !== null || response === undefined) {
          this.fail('connect-failed', error?.details ?? 'no response', false);
          return;
        }
        this.onHelloResponse(client, address, response);
      },
    );
  }

  private onHelloResponse(client: RaftTransportClient, address: string, response: HelloResponse__Output): void {
    const rejection = this.checkHelloResponse(response);
    if (rejection !== undefined) {
      this.counters.handshakeRejections++;
      this.context.countHandshakeRejection();
      this.context.logger.error('transport.handshake_rejected', {
        peer: this.nodeId,
        address,
        reason: rejection.reason,
        detail: rejection.detail,
        ourClusterId: this.context.self.clusterId,
        peerClusterId: response.clusterId,
        ourProtocolVersions: this.context.options.protocolVersions,
        peerProtocolVersions: response.protocolVersions,
      });
      this.fail(rejection.reason, rejection.detail, true);
      return;
    }
    this.protocolVersion = response.protocolVersion;
    const metadata = new Metadata();
    metadata.set(metadataKeys.clusterId, this.context.self.clusterId);
    metadata.set(metadataKeys.nodeId, String(this.context.self.nodeId));
    metadata.set(metadataKeys.protocolVersion, String(this.protocolVersion));
    const stream = client.Frames(metadata, (error) => this.onStreamEnd(stream, error));
    // Errors also arrive through the callback; this listener only keeps them from being "unhandled".
    stream.on('error', () => undefined);
    stream.on('drain', () => {
      if (stream !== this.stream) return;
      this.streamWritable = true;
      this.context.scheduleFlush();
    });
    this.stream = stream;
    this.streamWritable = true;
    this.state = 'ready';
    this.attempt = 0;
    this.everConnected = true;
    this.context.logger.info('transport.peer_connected', { peer: this.nodeId, address, protocolVersion: this.protocolVersion });
    this.context.scheduleFlush();
  }

  private checkHelloResponse(response: HelloResponse__Output): { reason: string; detail: string } | undefined {
    if (!response.accepted) return { reason: response.rejectReason || 'rejected', detail: response.rejectDetail };
    // Check for ourselves too: a peer that accepted us may still be wrong for us.
    if (response.clusterId !== this.context.self.clusterId) {
      return { reason: 'cluster-mismatch', detail: `peer is in cluster '${response.clusterId}', we are in '${this.context.self.clusterId}'` };
    }
    if (parseSafeUint(response.nodeId) !== this.nodeId) {
      return { reason: 'wrong-node', detail: `address of node ${this.nodeId} answered as node ${response.nodeId}` };
    }
    const theirs = response.protocolVersions ?? { min: 0, max: 0 };
    const chosen = negotiateProtocolVersion(this.context.options.protocolVersions, theirs);
    if (chosen === undefined || chosen !== response.protocolVersion) {
      return { reason: 'version-mismatch', detail: `peer speaks ${theirs.min}..${theirs.max} and chose ${response.protocolVersion}` };
    }
    const versions = this.context.versions;
    if (versions === undefined) return undefined;
    const peer = { binaryVersion: response.binaryVersion, clusterVersionMin: response.clusterVersionMin };
    versions.learned(this.nodeId, peer);
    const why = versions.refuse(peer);
    return why === undefined ? undefined : { reason: 'cluster-version-mismatch', detail: `node ${this.nodeId}: ${why}` };
  }

  private onStreamEnd(stream: grpc.ClientWritableStream<RaftFrame>, error: grpc.ServiceError | null): void {
    if (stream !== this.stream || this.state !== 'ready') return;
    const detail = error === null ? 'peer ended the stream' : `${grpcStatus[error.code] ?? error.code}: ${error.details}`;
    this.context.logger.warn('transport.stream_broken', { peer: this.nodeId, detail });
    this.fail('stream-broken', detail, false);
  }

  /**
   * Tears the connection down, drops the queue (stale by the time we could deliver it; Raft
   * re-sends what matters), reports the affected groups, and schedules the next attempt.
   */
  private fail(reason: string, detail: string, rejected: boolean): void {
    this.closeConnection();
    this.counters.connectFailures++;
    const groups = new Set<number>([...this.groupsOnStream, ...this.groupsToReport]);
    this.groupsOnStream.clear();
    this.groupsToReport.clear();
    for (const item of this.queue.takeAll()) {
      this.counters.droppedUnreachable++;
      groups.add(item.message.groupId);
    }
    this.context.reportUnreachable(this.nodeId, groups);
    this.context.reportConnectionFailed(this.nodeId);
    // A refused handshake is a configuration problem that retrying fast will not fix.
    const attempt = rejected ? 64 : this.attempt++;
    const delayMs = backoffDelayMs(attempt, this.context.options, this.context.options.rng);
    if (!rejected) this.context.logger.warn('transport.peer_unreachable', { peer: this.nodeId, reason, detail, retryInMs: delayMs });
    this.state = 'backoff';
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state !== 'backoff') return;
      if (this.queue.messages > 0) this.connect();
      else this.state = 'idle';
    }, delayMs);
  }

  private closeConnection(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream !== undefined) stream.end();
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) client.close();
  }
}
