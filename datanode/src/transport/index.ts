/** The public surface of the node-to-node transport. */
export { RaftTransport } from './transport.ts';
export type { PeerStats, TransportStartConfig, TransportStats } from './transport.ts';
export { defaultTransportOptions, stderrLogger } from './context.ts';
export type { PeerVersion, PeerVersionPolicy, ProtocolVersionRange, TransportLogger, TransportOptions } from './context.ts';
export type { IncomingSnapshot, SnapshotSendRequest, SnapshotSendResult } from './snapshot-stream.ts';
export { TransportError, TransportProtocolError, transportErrorCodes } from './errors.ts';
export type { TransportErrorCode } from './errors.ts';
export { decodeFrame, encodeFrame, defaultCodecLimits, messageEncodedBytes, protocolVersionMax, protocolVersionMin } from './codec.ts';
export type { CodecLimits, Frame, FrameHeader } from './codec.ts';
