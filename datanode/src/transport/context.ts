/**
 * Options, counters, logging and the shared context the transport's parts (peers, inbound
 * handlers, snapshot streams) work with.
 */
import { assert } from '../assert.ts';
import type { NodeId } from '../raft/types.ts';
import { checkBackoffOptions, type BackoffOptions, type Rng } from './backoff.ts';
import { checkCodecLimits, defaultCodecLimits, protocolVersionMax, protocolVersionMin, type CodecLimits } from './codec.ts';
import type { QueueLimits } from './outbound-queue.ts';

export interface ProtocolVersionRange {
  readonly min: number;
  readonly max: number;
}

/** Structured logging: `event` is a stable dotted name, `fields` the details. */
export interface TransportLogger {
  info(event: string, fields: Readonly<Record<string, unknown>>): void;
  warn(event: string, fields: Readonly<Record<string, unknown>>): void;
  error(event: string, fields: Readonly<Record<string, unknown>>): void;
}

/** One JSON line per event on stderr. */
export const stderrLogger: TransportLogger = {
  info: (event, fields) => process.stderr.write(`${JSON.stringify({ level: 'info', event, ...fields })}\n`),
  warn: (event, fields) => process.stderr.write(`${JSON.stringify({ level: 'warn', event, ...fields })}\n`),
  error: (event, fields) => process.stderr.write(`${JSON.stringify({ level: 'error', event, ...fields })}\n`),
};

export interface TransportOptions extends CodecLimits, QueueLimits, BackoffOptions {
  /** How long a Hello may take before the attempt counts as failed. */
  readonly handshakeTimeoutMs: number;
  /** The protocol versions this node offers. Narrower than the codec's only to test upgrades. */
  readonly protocolVersions: ProtocolVersionRange;
  /** Largest data chunk of a snapshot stream (sent and accepted). */
  readonly snapshotChunkBytesMax: number;
  /** Snapshot chunks buffered on the receiver before the stream is paused. */
  readonly snapshotChunksBufferedMax: number;
  /** Jitter source of the reconnect backoff. */
  readonly rng: Rng;
  readonly logger: TransportLogger;
}

export const defaultTransportOptions: TransportOptions = {
  ...defaultCodecLimits,
  queueMessagesMax: 65_536,
  queueBytesMax: 64 * 1024 * 1024,
  backoffBaseMs: 100,
  backoffCapMs: 5_000,
  handshakeTimeoutMs: 5_000,
  protocolVersions: { min: protocolVersionMin, max: protocolVersionMax },
  snapshotChunkBytesMax: 1024 * 1024,
  snapshotChunksBufferedMax: 8,
  rng: { next: () => Math.random() },
  logger: stderrLogger,
};

export function checkTransportOptions(options: TransportOptions): void {
  checkCodecLimits(options);
  checkBackoffOptions(options);
  assert(options.queueBytesMax >= options.frameBytesMax, 'queueBytesMax holds at least one full frame');
  assert(options.queueMessagesMax > 0, 'queueMessagesMax is positive');
  assert(options.handshakeTimeoutMs > 0, 'handshakeTimeoutMs is positive');
  assert(options.protocolVersions.min >= 1, 'protocol versions start at 1');
  assert(options.protocolVersions.min <= options.protocolVersions.max, 'protocol version range is not empty');
  assert(options.snapshotChunkBytesMax > 0, 'snapshotChunkBytesMax is positive');
  assert(options.snapshotChunkBytesMax <= options.frameBytesMax, 'snapshot chunks fit gRPC messages');
  assert(options.snapshotChunksBufferedMax > 0, 'snapshotChunksBufferedMax is positive');
}

/** The highest version both ranges contain, or undefined when they do not overlap. */
export function negotiateProtocolVersion(ours: ProtocolVersionRange, theirs: ProtocolVersionRange): number | undefined {
  const low = Math.max(ours.min, theirs.min);
  const high = Math.min(ours.max, theirs.max);
  return low <= high ? high : undefined;
}

/** Per-peer counters for metrics. Sent/dropped count our outbound side, received their frames to us. */
export interface PeerCounters {
  framesSent: number;
  messagesSent: number;
  bytesSent: number;
  framesReceived: number;
  messagesReceived: number;
  bytesReceived: number;
  /** Dropped to keep the queue within queueMessagesMax / queueBytesMax. */
  droppedQueueFull: number;
  /** Dropped because the peer could not be reached when they were due. */
  droppedUnreachable: number;
  /** Dropped because one message alone exceeded the frame budget. */
  droppedOversized: number;
  connectAttempts: number;
  reconnects: number;
  connectFailures: number;
  /** Our handshakes this peer refused or that we refused (cluster id, version, node id). */
  handshakeRejections: number;
  /** Frames or streams from this peer that broke the protocol. */
  protocolErrors: number;
  unreachableReports: number;
}

export function newPeerCounters(): PeerCounters {
  return {
    framesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    droppedQueueFull: 0,
    droppedUnreachable: 0,
    droppedOversized: 0,
    connectAttempts: 0,
    reconnects: 0,
    connectFailures: 0,
    handshakeRejections: 0,
    protocolErrors: 0,
    unreachableReports: 0,
  };
}

/** A node's binary version and the oldest cluster version it can run, as its handshake carries them. */
export interface PeerVersion {
  readonly binaryVersion: string;
  readonly clusterVersionMin: string;
}

/**
 * Versions in the handshake (the host decides; the transport only carries them): this node's
 * own, why a peer must be refused (its binary cannot run the cluster version this node knows),
 * and what each peer turned out to run. Empty versions (builds before cluster versions) are
 * passed on as they are.
 */
export interface PeerVersionPolicy {
  readonly own: PeerVersion;
  /** A reason to refuse a peer with these versions, or undefined to accept it. */
  refuse(peer: PeerVersion): string | undefined;
  /** A peer's versions, learned from a handshake in either direction. */
  learned(nodeId: NodeId, peer: PeerVersion): void;
}

/** What a Peer needs from the transport that owns it. */
export interface TransportContext {
  readonly self: { readonly nodeId: NodeId; readonly clusterId: string };
  readonly versions?: PeerVersionPolicy;
  readonly options: TransportOptions;
  readonly logger: TransportLogger;
  resolvePeer(nodeId: NodeId): string | undefined;
  reportUnreachable(nodeId: NodeId, groupIds: ReadonlySet<number>): void;
  /** The connection to `nodeId` failed (TransportStartConfig.onConnectionFailed). */
  reportConnectionFailed(nodeId: NodeId): void;
  countHandshakeRejection(): void;
  scheduleFlush(): void;
}
