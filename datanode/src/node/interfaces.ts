/**
 * The seams between the replica host and what it drives: the durable Raft log and the
 * node-to-node transport. The production implementations are the shared log engine
 * (raft/logstore) and the gRPC transport (transport/); tests may use the in-memory ones.
 */
import type { RaftStorage } from '../raft/storage.ts';
import type { ConfState, Entry, GroupId, HardState, Message, NodeId, SnapshotMeta, SnapshotRequest } from '../raft/types.ts';
import type { TransportStats } from '../transport/transport.ts';

/** Identifies a snapshot's data stream: the Snapshot message itself follows over send(). */
export interface SnapshotDataHeader {
  readonly fromNode: NodeId;
  readonly groupId: GroupId;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
}

/** The node's durable Raft log for all groups. Every write resolves once it is on disk. */
export interface LogStore {
  storageFor(groupId: GroupId): RaftStorage;
  hasGroup(groupId: GroupId): boolean;
  /** Every group the log holds, in id order. */
  groupIds(): GroupId[];
  /** Drops a group and its log. */
  removeGroup(groupId: GroupId): Promise<void>;
  /** Creates a group; a non-empty `confState` bootstraps it (snapshot at index 1, term 1). */
  createGroup(groupId: GroupId, confState: ConfState): Promise<void>;
  append(groupId: GroupId, entries: readonly Entry[], hardState?: HardState): Promise<void>;
  applySnapshot(groupId: GroupId, snapshot: SnapshotMeta): Promise<void>;
  createSnapshot(groupId: GroupId, index: number, confState: ConfState, reference: string): Promise<SnapshotMeta>;
  close(): Promise<void>;
}

/** What the transport delivers to the node. */
export interface TransportHandlers {
  onMessages(messages: readonly Message[]): void;
  onUnreachable(peer: NodeId): void;
  /** The connection to `peer` failed (not a full queue): it may be down. */
  onPeerDown?(peer: NodeId): void;
  /**
   * A leader streams a snapshot's data: `data` yields its chunks; resolve once it is stored,
   * reject to refuse it. The leader then sends the Snapshot message itself.
   */
  onSnapshotData(header: SnapshotDataHeader, data: AsyncIterable<Uint8Array>): Promise<void>;
}

/** Node-to-node delivery of Raft messages and snapshot streams. */
export interface PeerTransport {
  /** Best effort, in order per peer; failures are reported through onUnreachable. */
  send(messages: readonly Message[]): void;
  /** Streams a snapshot's data, then sends `message`; resolves once both are done, rejects on failure. */
  sendSnapshot(message: SnapshotRequest, data: AsyncIterable<Uint8Array>): Promise<void>;
  close(): Promise<void>;
  /** Per-peer counters for metrics (the gRPC transport has them; in-memory test transports need not). */
  stats?(): TransportStats;
}
