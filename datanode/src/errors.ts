/**
 * The registry of PhantomDB's expected-failure codes. Every typed error carries one of these
 * stable codes; callers branch on `code`, never on message text. Each code is documented in
 * docs/errors.md (a test keeps the two in step).
 */
export const errorCodes = {
  PH_CORRUPTION: 'Stored data failed a checksum or format check; the file and offset are named.',
  PH_IO: 'A file system operation failed (for example ENOSPC, EIO).',
  PH_RANGE_MISMATCH: 'A replica was asked for a key its range does not hold (the range split or moved); nothing was written. Retriable with fresh range descriptors.',
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
  PH_BAD_REQUEST: 'A request or command is malformed or names something that does not exist here.',
  PH_DEADLINE_EXCEEDED: 'A request did not finish within its deadline; a write may or may not have taken effect.',
  PH_DECOMMISSION_REFUSED: 'A decommission would leave ranges with fewer replicas than the replication factor.',
  PH_ALREADY_DECOMMISSIONED: 'A recommission named a node that already finished its decommission and left; its id is never reused.',
  PH_IDENTITY_CONFLICT: 'A node was asked to take a node id other than the one its data directory already records.',
  PH_JOIN_REFUSED: 'A node asked to join with an id already used by another node, or the cluster refused it.',
  PH_MEMBERSHIP_CHANGE_IN_PROGRESS: 'Another membership change is still being committed; changes go one at a time.',
  PH_NOT_CAUGHT_UP: 'A learner is not caught up yet, so it cannot be promoted.',
  PH_NOT_LEADER: 'This node is not the leader; the error carries the leader id and address when known.',
  PH_OPERATOR_STOPPING: 'The operator is shutting down or lost its leader lease; the reconcile was abandoned.',
  PH_OUTCOME_UNKNOWN: 'The node failed or lost leadership before a write was acknowledged; it may or may not have been applied.',
  PH_OVERLOADED: 'Too many requests or uncommitted bytes are in flight on this node.',
  PH_PROPOSAL_DROPPED: "A write was replaced by another leader's entry and definitely did not take effect.",
  PH_STATUS_CONFLICT: "The operator's status write raced another writer (HTTP 409).",
  PH_TOO_LARGE: 'A key, value, scan or message exceeds its configured limit.',
  PH_UNAVAILABLE: 'The replica cannot serve right now (no leader, leadership moving, or failed).',
  PH_UNKNOWN_NODE: 'An admin request names a node id the cluster does not know.',
  PH_UNSTRUCTURAL_SCHEMA: 'A CRD schema could not be expressed as a Kubernetes structural schema (a generator bug).',
  PH_WRONG_CLUSTER: 'A request or data directory belongs to a different cluster id.',
  PH_CLOCK_OFFSET_EXCEEDED: "A remote hybrid-logical-clock timestamp was further ahead of this node's clock than the maximum clock offset; it was refused.",
  PH_BACKUP_OBJECT_MISSING: 'An object a backup manifest names is not at the destination; the object key is named.',
  PH_BACKUP_OBJECT_CORRUPT: 'An object of a backup has the wrong size or SHA-256 checksum; the object key is named.',
  PH_BACKUP_OBJECT_EXISTS: 'A backup object written exclusively (a manifest) existed already: another run of the same backup wrote it first.',
  PH_BACKUP_MANIFEST_INVALID: 'A backup manifest is missing, unreadable, of an unknown format version, or fails validation.',
  PH_BACKUP_CHAIN_BROKEN: 'An incremental backup chain does not link up (a parent is missing, belongs to another cluster, or is not older).',
  PH_BACKUP_RUNNER_UNAVAILABLE: 'The operator could not make the data nodes take a backup (no reachable pod, an unmounted volume destination, missing credentials, or the nodes reported a failure).',
  PH_CLUSTER_VERSION_UNSUPPORTED: "This node's binary cannot run the cluster's version (it is newer than the binary, or older than the oldest it supports); both versions are named.",
  PH_FORMAT_UNSUPPORTED: 'Stored or received data is in a format of a newer PhantomDB build than this one (an unknown command op or layout version); it is refused, never misread.',
  PH_UNIMPLEMENTED: 'The node runs an older build that lacks the called admin RPC.',
  PH_FEATURE_NOT_FINALIZED: 'A request needs an on-disk or wire format that a newer cluster version introduces, and the cluster version is not finalized there yet; nothing was written. Both versions are named.',
  PH_FINALIZE_REFUSED: 'FinalizeClusterVersion was refused: some member runs a binary older than the target, is not live, or the target is below the current cluster version; the nodes are named.',
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** Base of every expected PhantomDB error. */
export abstract class PhantomError extends Error {
  abstract readonly code: ErrorCode;
}
