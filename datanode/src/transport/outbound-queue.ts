/**
 * The bounded outbound queue of one peer. Raft tolerates lost messages (it retries appends,
 * re-sends heartbeats every tick, re-runs elections), so when the queue is full the oldest
 * non-essential message is dropped and counted rather than letting memory grow.
 */
import { assert } from '../assert.ts';
import type { Message, MessageKind } from '../raft/types.ts';

export interface QueueLimits {
  /** Most messages waiting for one peer. */
  readonly queueMessagesMax: number;
  /** Most encoded bytes waiting for one peer. */
  readonly queueBytesMax: number;
}

/**
 * Kinds whose loss costs more than a retry tick: elections stall until a timeout, a leader
 * transfer or a snapshot handoff silently fails, a read waits for its own timeout. They are small
 * and rare, so they are kept while bulk traffic (appends, heartbeats, their responses) is dropped.
 */
const essentialKinds: ReadonlySet<MessageKind> = new Set<MessageKind>([
  'Vote',
  'PreVote',
  'VoteResponse',
  'PreVoteResponse',
  'Snapshot',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResponse',
]);

export function isEssential(message: Message): boolean {
  return essentialKinds.has(message.kind);
}

export interface QueuedMessage {
  readonly message: Message;
  /** The message's exact encoded size (codec.messageEncodedBytes). */
  readonly bytes: number;
}

export class OutboundQueue {
  private slots: (QueuedMessage | undefined)[] = [];
  private head = 0;
  /** Everything before this slot (from head) is essential or already dropped. */
  private nonEssentialScan = 0;
  private messageCount = 0;
  private byteCount = 0;

  constructor(private readonly limits: QueueLimits) {
    assert(limits.queueMessagesMax > 0, 'queueMessagesMax is positive');
    assert(limits.queueBytesMax > 0, 'queueBytesMax is positive');
  }

  get messages(): number {
    return this.messageCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /**
   * Appends `item`, first dropping the oldest non-essential messages (or, if only essential ones
   * are left, the oldest ones) until it fits. Returns what was dropped, which may include `item`
   * itself when it alone exceeds queueBytesMax.
   */
  push(item: QueuedMessage): QueuedMessage[] {
    if (item.bytes > this.limits.queueBytesMax) return [item];
    const dropped: QueuedMessage[] = [];
    while (this.messageCount + 1 > this.limits.queueMessagesMax || this.byteCount + item.bytes > this.limits.queueBytesMax) {
      dropped.push(this.dropOne());
    }
    this.slots.push(item);
    this.messageCount++;
    this.byteCount += item.bytes;
    return dropped;
  }

  /** Removes and returns every queued message, oldest first. */
  takeAll(): QueuedMessage[] {
    const taken: QueuedMessage[] = [];
    for (let i = this.head; i < this.slots.length; i++) {
      const slot = this.slots[i];
      if (slot !== undefined) taken.push(slot);
    }
    assert(taken.length === this.messageCount, 'queue count matches its slots');
    this.slots = [];
    this.head = 0;
    this.nonEssentialScan = 0;
    this.messageCount = 0;
    this.byteCount = 0;
    return taken;
  }

  private dropOne(): QueuedMessage {
    assert(this.messageCount > 0, 'a full queue holds something to drop');
    this.nonEssentialScan = Math.max(this.nonEssentialScan, this.head);
    while (this.nonEssentialScan < this.slots.length) {
      const slot = this.slots[this.nonEssentialScan];
      if (slot !== undefined && !isEssential(slot.message)) return this.remove(this.nonEssentialScan);
      this.nonEssentialScan++;
    }
    // Only essential messages are left: the bound still holds, so the oldest one goes.
    while (this.slots[this.head] === undefined) this.head++;
    return this.remove(this.head);
  }

  private remove(position: number): QueuedMessage {
    const slot = this.slots[position];
    assert(slot !== undefined, 'removing an occupied slot');
    this.slots[position] = undefined;
    this.messageCount--;
    this.byteCount -= slot.bytes;
    while (this.head < this.slots.length && this.slots[this.head] === undefined) this.head++;
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.nonEssentialScan = Math.max(0, this.nonEssentialScan - this.head);
      this.head = 0;
    }
    return slot;
  }
}
