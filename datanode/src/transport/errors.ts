import { PhantomError } from '../errors.ts';

/**
 * Expected failures of the node-to-node transport. Each carries a stable `code` (registered in
 * datanode/src/errors.ts and documented in docs/errors.md); callers and metrics branch on `code`
 * (and `reason` for the detail), never on message text.
 */
export const transportErrorCodes = {
  PH_TRANSPORT_MALFORMED_FRAME:
    'A peer sent a frame that failed decoding (bad magic, checksum, truncation, overlong or out-of-range field, invalid UTF-8, broken Raft invariant); the connection is dropped.',
  PH_TRANSPORT_UNKNOWN_MESSAGE_KIND: 'A frame held a message kind this node does not know; the connection is dropped.',
  PH_TRANSPORT_LIMIT_EXCEEDED:
    'A frame, count or length exceeded a transport limit (frameBytesMax, messagesPerFrameMax, string or list limits).',
  PH_TRANSPORT_VERSION_MISMATCH: 'A peer speaks no protocol version this node supports.',
  PH_TRANSPORT_CLUSTER_MISMATCH: 'A peer belongs to a different cluster (clusterId differs); it is refused.',
  PH_TRANSPORT_WRONG_NODE: 'A frame was addressed to another node id, or its sender differs from the stream it came on.',
  PH_TRANSPORT_UNREACHABLE: 'A peer could not be reached (no address, connection refused, stream broken).',
  PH_TRANSPORT_SNAPSHOT_FAILED: 'A snapshot stream was refused or broke before its trailer was verified.',
  PH_TRANSPORT_CLOSED: 'The transport was used after stop().',
} as const;

export type TransportErrorCode = keyof typeof transportErrorCodes;

/** Base of the transport's expected failures. */
export class TransportError extends PhantomError {
  override readonly name: string = 'TransportError';
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Bytes from a peer broke the wire protocol. `reason` is a short stable identifier of the
 * check that failed (for example 'bad-magic', 'checksum', 'truncated'), useful as a metric label.
 */
export class TransportProtocolError extends TransportError {
  override readonly name = 'TransportProtocolError';
  constructor(
    code: TransportErrorCode,
    readonly reason: string,
    detail: string,
  ) {
    super(code, `transport protocol error (${reason}): ${detail}`);
  }
}
