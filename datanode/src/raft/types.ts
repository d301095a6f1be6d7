/**
 * The data types shared by the Raft core and its host: log entries, persistent state,
 * configurations, messages and the Ready batch. Everything here is plain, immutable data.
 *
 * Terms and indexes are JavaScript numbers checked (by assertion) to stay at or below
 * Number.MAX_SAFE_INTEGER; node ids are positive safe integers and 0 means "none".
 */
import { assert } from '../assert.ts';

export type NodeId = number;
export type GroupId = number;
/** The id that means "no node" (no leader known, no vote cast). */
export const noNode: NodeId = 0;

/** Asserts that `value` is usable as a term or index: a non-negative safe integer. */
export function checkIndex(value: number, what: string): number {
  assert(Number.isSafeInteger(value), `${what} must be a safe integer, got ${value}`);
  assert(value >= 0, `${what} must not be negative, got ${value}`);
  return value;
}

export type EntryKind = 'normal' | 'conf-change';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  /** Opaque command for 'normal' entries; an encoded ConfChange for 'conf-change' ones. */
  readonly data: Uint8Array;
}

/** Bytes an entry counts for in message-size and inflight limits (payload plus a fixed overhead). */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 16;
}

/** State that must be durable before any message of the same Ready is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const emptyHardState: HardState = { term: 0, vote: noNode, commit: 0 };

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * A membership configuration. `voters` is the incoming majority; `votersOutgoing` is non-empty
 * only while in a joint configuration (C_old,new). `learnersNext` holds voters of the outgoing
 * majority that become learners when the joint configuration is left.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly learnersNext: readonly NodeId[];
  readonly autoLeave: boolean;
}

export function simpleConfState(voters: readonly NodeId[], learners: readonly NodeId[] = []): ConfState {
  return { voters: [...voters], votersOutgoing: [], learners: [...learners], learnersNext: [], autoLeave: false };
}

/**
 * Metadata of a state-machine snapshot. The snapshot data itself never passes through the core:
 * `reference` names it for the host (for example a checkpoint directory), which streams it.
 */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
  readonly reference: string;
}

export type ConfChangeOp = 'add-voter' | 'add-learner' | 'remove';

export interface SingleConfChange {
  readonly op: ConfChangeOp;
  readonly nodeId: NodeId;
}

/**
 * A membership change. An empty `changes` list leaves a joint configuration. `transition`:
 * - 'auto': a single voter change is applied directly; anything larger goes through a joint
 *   configuration that the leader leaves automatically once it is applied.
 * - 'joint-auto': always joint, left automatically.
 * - 'joint-explicit': always joint, left only by a later empty ConfChange.
 */
export interface ConfChange {
  readonly changes: readonly SingleConfChange[];
  readonly transition: 'auto' | 'joint-auto' | 'joint-explicit';
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state the host may want to observe (not persisted). */
export interface SoftState {
  readonly leaderId: NodeId;
  readonly role: Role;
}

/** A linearizable read point: once `index` is applied locally, the read may be served. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

interface MessageBase {
  readonly groupId: GroupId;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface VoteRequest extends MessageBase {
  readonly kind: 'Vote' | 'PreVote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set when the campaign was started by TimeoutNow: voters ignore leader stickiness. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly kind: 'VoteResponse' | 'PreVoteResponse';
  readonly reject: boolean;
}

export interface AppendRequest extends MessageBase {
  readonly kind: 'Append';
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendResponse extends MessageBase {
  readonly kind: 'AppendResponse';
  readonly reject: boolean;
  /** Accepted: the follower's log matches up to here. Rejected: the prevLogIndex that failed. */
  readonly index: number;
  /** Rejected only: a guess of the last index at which the logs may match, and its term. */
  readonly hintIndex: number;
  readonly hintTerm: number;
}

export interface Heartbeat extends MessageBase {
  readonly kind: 'Heartbeat';
  readonly commit: number;
  /** The leader's newest pending ReadIndex round id (not the caller's context), echoed back; '' when none. */
  readonly context: string;
  /** The leader's tick counter when sent, echoed back to measure the lease. */
  readonly sentTick: number;
  /**
   * Set by a leader that stops heartbeating an idle group (quiescence): a follower whose log is
   * committed up to `commit` stops its election timer until any message (or its host) wakes it.
   */
  readonly quiesce?: boolean;
}

export interface HeartbeatResponse extends MessageBase {
  readonly kind: 'HeartbeatResponse';
  readonly context: string;
  readonly sentTick: number;
}

export interface SnapshotRequest extends MessageBase {
  readonly kind: 'Snapshot';
  readonly snapshot: SnapshotMeta;
}

export interface TimeoutNow extends MessageBase {
  readonly kind: 'TimeoutNow';
}

/** A follower forwarding a read request to its leader. */
export interface ReadIndexRequest extends MessageBase {
  readonly kind: 'ReadIndex';
  readonly context: string;
}

export interface ReadIndexResponse extends MessageBase {
  readonly kind: 'ReadIndexResponse';
  readonly index: number;
  readonly context: string;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageKind = Message['kind'];

/**
 * One batch of work for the host, handled in this order:
 * 1. install `snapshot` (if any), then durably write `entries` (first deleting any persisted
 *    entries at or after entries[0].index) and `hardState`, fsync;
 * 2. send `messages`;
 * 3. apply `committedEntries` to the state machine and serve `readStates` once applied;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly snapshot?: SnapshotMeta;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
}
