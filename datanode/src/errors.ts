/**
 * The registry of PhantomDB's expected-failure codes. Every typed error carries one of these
 * stable codes; callers branch on `code`, never on message text. Each code is documented in
 * docs/errors.md (a test keeps the two in step).
 */
export const errorCodes = {
  PH_CORRUPTION: 'Stored data failed a checksum or format check; the file and offset are named.',
  PH_IO: 'A file system operation failed (for example ENOSPC, EIO).',
  PH_READ_ONLY: 'The storage engine stopped accepting writes after an earlier write or sync failure.',
  PH_CLOSED: 'The storage engine (or another component) was used after close.',
  PH_INVALID_OPTIONS: 'Options or configuration failed validation; the message names each bad field.',
  PH_INVALID_ARGUMENT: 'A caller passed an argument that is out of range or malformed.',
  PH_LOCKED: 'Another process holds the data directory lock.',
  PH_WRITE_STALL_TIMEOUT: 'A write waited longer than its allowed stall time for flushes or compactions.',
  PH_RAFT_COMPACTED: 'A Raft log index was asked for that is already compacted into a snapshot.',
  PH_TRANSPORT_MALFORMED_FRAME: 'A peer sent a frame that failed decoding (bad magic, checksum, truncation, overlong or out-of-range field, invalid UTF-8, broken Raft invariant); the connection is dropped.',
  PH_TRANSPORT_UNKNOWN_MESSAGE_KIND: 'A frame held a message kind this node does not know; the connection is dropped.',
  PH_TRANSPORT_LIMIT_EXCEEDED: 'A frame, count or length exceeded a transport limit (frameBytesMax, messagesPerFrameMax, string or list limits).',
  PH_TRANSPORT_VERSION_MISMATCH: 'A peer speaks no protocol version this node supports.',
  PH_TRANSPORT_CLUSTER_MISMATCH: 'A peer belongs to a different cluster (clusterId differs); it is refused.',
  PH_TRANSPORT_WRONG_NODE: 'A frame was addressed to another node id, or its sender differs from the stream it came on.',
  PH_TRANSPORT_UNREACHABLE: 'A peer could not be reached (no address, connection refused, stream broken).',
  PH_TRANSPORT_SNAPSHOT_FAILED: 'A snapshot stream was refused or broke before its trailer was verified.',
  PH_TRANSPORT_CLOSED: 'The transport was used after stop().',
  PH_RAFT_UNAVAILABLE: 'A Raft log index past the end of the log, or a snapshot not ready yet, was asked for.',
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** Base of every expected PhantomDB error. */
export abstract class PhantomError extends Error {
  abstract readonly code: ErrorCode;
}
