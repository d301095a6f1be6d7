/**
 * The leader's view of each follower: how much of the log it has (match), what to send next
 * (next), and how aggressively to send (probe, replicate with a bounded pipeline, or snapshot).
 */
import { assert } from '../assert.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded window of in-flight Append messages, by last index and byte size. */
export class Inflights {
  private readonly items: { index: number; bytes: number }[] = [];
  private totalBytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    assert(maxMessages > 0, 'maxInflightMsgs must be positive');
    assert(maxBytes > 0, 'maxInflightBytes must be positive');
  }

  add(index: number, bytes: number): void {
    const last = this.items[this.items.length - 1];
    assert(last === undefined || last.index < index, 'inflight indexes increase');
    assert(!this.full(), 'adding to a full inflight window');
    this.items.push({ index, bytes });
    this.totalBytes += bytes;
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let count = 0;
    for (const item of this.items) {
      if (item.index > index) break;
      this.totalBytes -= item.bytes;
      count++;
    }
    this.items.splice(0, count);
  }

  /** Frees the oldest message: used when a heartbeat response shows the follower is alive. */
  freeFirstOne(): void {
    const first = this.items.shift();
    if (first !== undefined) this.totalBytes -= first.bytes;
  }

  full(): boolean {
    return this.items.length >= this.maxMessages || this.totalBytes >= this.maxBytes;
  }

  count(): number {
    return this.items.length;
  }

  bytes(): number {
    return this.totalBytes;
  }

  reset(): void {
    this.items.length = 0;
    this.totalBytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an Append is outstanding, wait for its answer or a heartbeat response. */
  probeSent = false;
  /** Index of the snapshot being sent, in snapshot state. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Highest leader tick echoed back by this peer in a heartbeat response (for leases). */
  leaseAckTick = -1;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records an acknowledgment up to `index`; returns whether match advanced. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** Optimistically advances `next` after sending entries up to `lastIndex` (replicate state). */
  sentEntries(lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflights.add(lastIndex, bytes);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /**
   * Handles a rejection of an Append whose prevLogIndex was `rejected`, given the index the
   * leader computed from the follower's hint. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending more Appends must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
