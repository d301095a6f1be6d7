/**
 * RaftTransport: node-to-node delivery of Raft messages for all of a node's groups over gRPC.
 *
 * Outbound, `send` groups messages by destination node into per-peer bounded queues; once per
 * event-loop turn every peer's queue is flushed as one frame (more only when a frame limit is
 * reached) on a long-lived client stream. Inbound, each frame is decoded and checked (cluster,
 * recipient, sender) and handed to `onMessages` whole.
 *
 * Heartbeat coalescing: heartbeats and heartbeat responses of all groups between two nodes travel
 * in the same frame, and the codec writes from/to once per frame, so a heartbeat costs about nine
 * bytes on the wire rather than a message per group. A better scheme (CockroachDB's) would send one
 * node-level heartbeat per tick carrying only the groups whose commit index or term changed, and
 * let idle groups quiesce; that needs cooperation from the Raft core and is left for later.
 *
 * Host contract: `onMessages` and `onUnreachable` are called synchronously from I/O callbacks and
 * must only hand the work to the host's Raft loop (enqueue), not do it.
 */
import * as grpc from '@grpc/grpc-js';
import { assert } from '../assert.ts';
import type { Message, NodeId } from '../raft/types.ts';
import type { HelloRequest__Output } from '../../proto/generated/phantomdb/transport/v1/HelloRequest.ts';
import type { HelloResponse } from '../../proto/generated/phantomdb/transport/v1/HelloResponse.ts';
import type { FramesSummary } from '../../proto/generated/phantomdb/transport/v1/FramesSummary.ts';
import type { RaftFrame__Output } from '../../proto/generated/phantomdb/transport/v1/RaftFrame.ts';
import type { SnapshotAck } from '../../proto/generated/phantomdb/transport/v1/SnapshotAck.ts';
import type { SnapshotChunk__Output } from '../../proto/generated/phantomdb/transport/v1/SnapshotChunk.ts';
import type { RaftTransportHandlers } from '../../proto/generated/phantomdb/transport/v1/RaftTransport.ts';
import { decodeFrame } from './codec.ts';
import {
  checkTransportOptions,
  defaultTransportOptions,
  negotiateProtocolVersion,
  newPeerCounters,
  type PeerCounters,
  type PeerVersion,
  type PeerVersionPolicy,
  type TransportContext,
  type TransportLogger,
  type TransportOptions,
} from './context.ts';
import { TransportError, TransportProtocolError, type TransportErrorCode } from './errors.ts';
import { metadataKeys, parseSafeUint, raftTransportPackage, serverOptions } from './grpc-service.ts';
import { Peer, type PeerState } from './peer.ts';
import { receiveSnapshot, sendSnapshot, type IncomingSnapshot, type SnapshotSendRequest, type SnapshotSendResult } from './snapshot-stream.ts';

export interface TransportStartConfig {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  /** Where to listen; port 0 picks a free port (see the returned address). */
  readonly listen: { readonly host: string; readonly port: number };
  /** The gRPC address ("host:port") of a node, or undefined when unknown. */
  resolvePeer(nodeId: NodeId): string | undefined;
  /** A frame's messages, all from `fromNode` to this node, in the order they were sent. */
  onMessages(messages: Message[], fromNode: NodeId): void;
  /** Messages of these groups to `nodeId` may have been lost: call reportUnreachable on their cores. */
  onUnreachable?(nodeId: NodeId, groupIds: readonly number[]): void;
  /**
   * The connection to `nodeId` failed: it could not be opened, its handshake was refused, or
   * the open stream broke (not a full queue). Called on every failed attempt while the node
   * stays unreachable; the host may treat the node as down until it hears from it.
   */
  onConnectionFailed?(nodeId: NodeId): void;
  /** Consumes an incoming snapshot; resolve once stored, reject to refuse it. Without it, snapshots are refused. */
  onSnapshot?(snapshot: IncomingSnapshot): Promise<void>;
  /** Binary versions sent and checked in the handshake; without it, none are checked. */
  readonly versions?: PeerVersionPolicy;
}

export interface PeerStats extends PeerCounters {
  readonly state: PeerState | 'inbound-only';
  readonly queueMessages: number;
  readonly queueBytes: number;
}

export interface TransportStats {
  readonly peers: ReadonlyMap<NodeId, PeerStats>;
  readonly handshakeRejections: number;
  /** Protocol errors by code, including those from connections that never identified a node. */
  readonly protocolErrors: Readonly<Partial<Record<TransportErrorCode, number>>>;
}

export class RaftTransport {
  readonly options: TransportOptions;
  private config: TransportStartConfig | undefined;
  private server: grpc.Server | undefined;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly counters = new Map<NodeId, PeerCounters>();
  private readonly protocolErrors: Partial<Record<TransportErrorCode, number>> = {};
  private readonly outboundSnapshots = new Set<AbortController>();
  private handshakeRejections = 0;
  private flushScheduled: NodeJS.Immediate | undefined;
  private stopped = false;
  private context: TransportContext | undefined;

  constructor(options: Partial<TransportOptions> = {}) {
    this.options = { ...defaultTransportOptions, ...options };
    checkTransportOptions(this.options);
  }

  private get logger(): TransportLogger {
    return this.options.logger;
  }

  /** Starts listening. Resolves with the bound address once the server accepts connections. */
  async start(config: TransportStartConfig): Promise<{ host: string; port: number }> {
    assert(this.config === undefined, 'start() is called once');
    assert(!this.stopped, 'a stopped transport does not restart');
    assert(Number.isSafeInteger(config.nodeId), 'node id is a safe integer');
    assert(config.nodeId > 0, 'node id is positive');
    this.config = config;
    this.context = this.newContext(config);
    const server = new grpc.Server(serverOptions(this.options.frameBytesMax));
    const handlers: RaftTransportHandlers = {
      Hello: (call, callback) => callback(null, this.answerHello(call.request)),
      Frames: (call, callback) => this.receiveFrames(call, callback),
      SnapshotStream: (call, callback) => this.receiveSnapshotStream(call, callback),
    };
    server.addService(raftTransportPackage().RaftTransport.service, handlers);
    this.server = server;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${config.listen.host}:${config.listen.port}`, grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
        if (error === null) resolve(boundPort);
        else reject(new TransportError('PH_TRANSPORT_UNREACHABLE', `cannot listen on ${config.listen.host}:${config.listen.port}: ${error.message}`, { cause: error }));
      });
    });
    this.logger.info('transport.listening', { nodeId: config.nodeId, clusterId: config.clusterId, host: config.listen.host, port });
    return { host: config.listen.host, port };
  }

  /**
   * Queues messages for delivery and returns at once. Messages go out, batched per destination,
   * on the next turn of the event loop; delivery is best effort (see onUnreachable).
   */
  send(messages: readonly Message[]): void {
    const context = this.context;
    assert(context !== undefined, 'send() after start()');
    if (this.stopped) return;
    const byDestination = new Map<NodeId, Message[]>();
    for (const message of messages) {
      assert(message.from === context.self.nodeId, `sending a message from ${message.from} on node ${context.self.nodeId}`);
      assert(message.to !== context.self.nodeId, 'a node never sends to itself over the network');
      let batch = byDestination.get(message.to);
      if (batch === undefined) {
        batch = [];
        byDestination.set(message.to, batch);
      }
      batch.push(message);
    }
    for (const [nodeId, batch] of byDestination) this.peer(context, nodeId).enqueue(batch);
  }

  /** Streams a snapshot's data to a node; see snapshot-stream.ts for the protocol and the rate limit. */
  async sendSnapshot(request: SnapshotSendRequest): Promise<SnapshotSendResult> {
    const context = this.context;
    assert(context !== undefined, 'sendSnapshot() after start()');
    if (this.stopped) throw new TransportError('PH_TRANSPORT_CLOSED', 'transport is stopped');
    const abort = new AbortController();
    this.outboundSnapshots.add(abort);
    try {
      return await sendSnapshot(context, request, abort.signal);
    } finally {
      this.outboundSnapshots.delete(abort);
    }
  }

  stats(): TransportStats {
    const peers = new Map<NodeId, PeerStats>();
    for (const [nodeId, counters] of this.counters) {
      const peer = this.peers.get(nodeId);
      peers.set(nodeId, {
        ...counters,
        state: peer?.state ?? 'inbound-only',
        queueMessages: peer?.queue.messages ?? 0,
        queueBytes: peer?.queue.bytes ?? 0,
      });
    }
    return { peers, handshakeRejections: this.handshakeRejections, protocolErrors: { ...this.protocolErrors } };
  }

  /** Closes every stream, client, timer and the server. Queued messages are discarded. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    for (const peer of this.peers.values()) peer.stop();
    for (const abort of this.outboundSnapshots) abort.abort();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      // Peers' streams into us are long-lived, so waiting for them to finish would never end.
      server.forceShutdown();
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.logger.info('transport.stopped', { nodeId: this.config?.nodeId });
  }

  private newContext(config: TransportStartConfig): TransportContext {
    return {
      self: { nodeId: config.nodeId, clusterId: config.clusterId },
      ...(config.versions === undefined ? {} : { versions: config.versions }),
      options: this.options,
      logger: this.options.logger,
      resolvePeer: (nodeId) => config.resolvePeer(nodeId),
      reportUnreachable: (nodeId, groupIds) => {
        if (groupIds.size === 0 || this.stopped) return;
        this.countersOf(nodeId).unreachableReports++;
        config.onUnreachable?.(nodeId, [...groupIds].sort((a, b) => a - b));
      },
      reportConnectionFailed: (nodeId) => {
        if (!this.stopped) config.onConnectionFailed?.(nodeId);
      },
      countHandshakeRejection: () => {
        this.handshakeRejections++;
      },
      scheduleFlush: () => {
        if (this.flushScheduled !== undefined || this.stopped) return;
        this.flushScheduled = setImmediate(() => {
          this.flushScheduled = undefined;
          for (const peer of this.peers.values()) peer.flush();
        });
      },
    };
  }

  private peer(context: TransportContext, nodeId: NodeId): Peer {
    let peer = this.peers.get(nodeId);
    if (peer === undefined) {
      peer = new Peer(nodeId, context, this.countersOf(nodeId));
      this.peers.set(nodeId, peer);
    }
    return peer;
  }

  private countersOf(nodeId: NodeId): PeerCounters {
    let counters = this.counters.get(nodeId);
    if (counters === undefined) {
      counters = newPeerCounters();
      this.counters.set(nodeId, counters);
    }
    return counters;
  }

  private countProtocolError(error: TransportError, nodeId: NodeId | undefined): void {
    this.protocolErrors[error.code] = (this.protocolErrors[error.code] ?? 0) + 1;
    if (nodeId !== undefined) this.countersOf(nodeId).protocolErrors++;
  }

  // -------------------------------------------------------------------------------------------
  // Inbound.

  private answerHello(request: HelloRequest__Output): HelloResponse {
    const config = this.config;
    assert(config !== undefined, 'serving after start()');
    const ours = this.options.protocolVersions;
    const own = config.versions?.own;
    const base = { clusterId: config.clusterId, nodeId: config.nodeId, protocolVersions: { min: ours.min, max: ours.max }, binaryVersion: own?.binaryVersion ?? '', clusterVersionMin: own?.clusterVersionMin ?? '' };
    const theirs = request.protocolVersions ?? { min: 0, max: 0 };
    const peerNodeId = parseSafeUint(request.nodeId);
    const expected = parseSafeUint(request.expectedNodeId);
    const chosen = negotiateProtocolVersion(ours, theirs);
    let rejection: { reason: string; detail: string } | undefined;
    if (request.clusterId !== config.clusterId) {
      rejection = { reason: 'cluster-mismatch', detail: `caller is in cluster '${request.clusterId}', this node is in '${config.clusterId}'` };
    } else if (peerNodeId === undefined || peerNodeId === 0 || peerNodeId === config.nodeId) {
      rejection = { reason: 'bad-node-id', detail: `caller node id '${request.nodeId}' is not a valid peer id` };
    } else if (expected !== undefined && expected !== 0 && expected !== config.nodeId) {
      rejection = { reason: 'wrong-node', detail: `caller expected node ${expected}, this is node ${config.nodeId}` };
    } else if (chosen === undefined) {
      rejection = { reason: 'version-mismatch', detail: `caller speaks ${theirs.min}..${theirs.max}, this node ${ours.min}..${ours.max}` };
    } else {
      rejection = this.checkPeerVersion(config, peerNodeId, { binaryVersion: request.binaryVersion, clusterVersionMin: request.clusterVersionMin });
    }
    if (rejection === undefined) return { ...base, accepted: true, protocolVersion: chosen ?? 0 };
    this.handshakeRejections++;
    if (peerNodeId !== undefined && peerNodeId !== 0) this.countersOf(peerNodeId).handshakeRejections++;
    this.logger.error('transport.handshake_refused', {
      reason: rejection.reason,
      detail: rejection.detail,
      callerNodeId: request.nodeId,
      callerClusterId: request.clusterId,
      callerProtocolVersions: theirs,
    });
    return { ...base, accepted: false, rejectReason: rejection.reason, rejectDetail: rejection.detail, protocolVersion: 0 };
  }

  /** Records the caller's binary version and refuses a caller that cannot run the cluster version. */
  private checkPeerVersion(config: TransportStartConfig, peerNodeId: NodeId, peer: PeerVersion): { reason: string; detail: string } | undefined {
    if (config.versions === undefined) return undefined;
    config.versions.learned(peerNodeId, peer);
    const why = config.versions.refuse(peer);
    return why === undefined ? undefined : { reason: 'cluster-version-mismatch', detail: `node ${peerNodeId}: ${why}` };
  }

  /** Checks the stream's metadata; returns the caller's node id or throws a TransportError. */
  private checkStreamMetadata(metadata: grpc.Metadata): NodeId {
    const config = this.config;
    assert(config !== undefined, 'serving after start()');
    const text = (key: string): string => {
      const value = metadata.get(key)[0];
      return typeof value === 'string' ? value : '';
    };
    const clusterId = text(metadataKeys.clusterId);
    if (clusterId !== config.clusterId) {
      throw new TransportProtocolError('PH_TRANSPORT_CLUSTER_MISMATCH', 'cluster-mismatch', `stream from cluster '${clusterId}', this node is in '${config.clusterId}'`);
    }
    const nodeId = parseSafeUint(text(metadataKeys.nodeId));
    if (nodeId === undefined || nodeId === 0 || nodeId === config.nodeId) {
      throw new TransportProtocolError('PH_TRANSPORT_WRONG_NODE', 'bad-node-id', `stream from node id '${text(metadataKeys.nodeId)}'`);
    }
    const version = parseSafeUint(text(metadataKeys.protocolVersion));
    if (version === undefined || version < this.options.protocolVersions.min || version > this.options.protocolVersions.max) {
      throw new TransportProtocolError('PH_TRANSPORT_VERSION_MISMATCH', 'version', `stream uses protocol version '${text(metadataKeys.protocolVersion)}'`);
    }
    return nodeId;
  }

  private receiveFrames(call: grpc.ServerReadableStream<RaftFrame__Output, FramesSummary>, callback: grpc.sendUnaryData<FramesSummary>): void {
    let finished = false;
    let framesReceived = 0;
    let peerNodeId: NodeId | undefined;
    const finish = (error: TransportError | undefined): void => {
      if (finished) return;
      finished = true;
      if (error === undefined) {
        callback(null, { framesReceived });
        return;
      }
      this.countProtocolError(error, peerNodeId);
      this.logger.error('transport.inbound_stream_rejected', { peer: peerNodeId ?? 'unknown', code: error.code, error: error.message });
      const code = error.code === 'PH_TRANSPORT_LIMIT_EXCEEDED' ? grpc.status.RESOURCE_EXHAUSTED : error.code === 'PH_TRANSPORT_MALFORMED_FRAME' || error.code === 'PH_TRANSPORT_UNKNOWN_MESSAGE_KIND' ? grpc.status.INVALID_ARGUMENT : grpc.status.FAILED_PRECONDITION;
      callback({ code, details: `${error.code}: ${error.message}` });
    };
    try {
      peerNodeId = this.checkStreamMetadata(call.metadata);
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      finish(error);
      return;
    }
    const sender = peerNodeId;
    call.on('data', (chunk: RaftFrame__Output) => {
      if (finished || this.stopped) return;
      try {
        this.receiveFrame(sender, chunk.frame);
        framesReceived++;
      } catch (error) {
        if (!(error instanceof TransportError)) throw error;
        finish(error);
      }
    });
    call.on('end', () => finish(undefined));
    // The caller went away (cancelled, connection lost): nothing to answer.
    call.on('error', () => {
      finished = true;
    });
  }

  private receiveFrame(sender: NodeId, bytes: Uint8Array): void {
    const config = this.config;
    assert(config !== undefined, 'serving after start()');
    const frame = decodeFrame(bytes, this.options);
    if (frame.header.clusterId !== config.clusterId) {
      throw new TransportProtocolError('PH_TRANSPORT_CLUSTER_MISMATCH', 'cluster-mismatch', `frame from cluster '${frame.header.clusterId}'`);
    }
    if (frame.header.recipientNodeId !== config.nodeId) {
      throw new TransportProtocolError('PH_TRANSPORT_WRONG_NODE', 'wrong-recipient', `frame for node ${frame.header.recipientNodeId} arrived at node ${config.nodeId}`);
    }
    if (frame.header.senderNodeId !== sender) {
      throw new TransportProtocolError('PH_TRANSPORT_WRONG_NODE', 'wrong-sender', `frame from node ${frame.header.senderNodeId} on the stream of node ${sender}`);
    }
    const counters = this.countersOf(sender);
    counters.framesReceived++;
    counters.messagesReceived += frame.messages.length;
    counters.bytesReceived += bytes.byteLength;
    if (frame.messages.length > 0) config.onMessages(frame.messages, sender);
  }

  private receiveSnapshotStream(call: grpc.ServerReadableStream<SnapshotChunk__Output, SnapshotAck>, callback: grpc.sendUnaryData<SnapshotAck>): void {
    const context = this.context;
    const config = this.config;
    assert(context !== undefined, 'serving after start()');
    assert(config !== undefined, 'serving after start()');
    receiveSnapshot(context, call, callback, config.onSnapshot, (error, nodeId) => this.countProtocolError(error, nodeId));
  }
}
