/** Unit tests of the transport's pure parts: backoff, the outbound queue, version negotiation. */
import { describe, expect, it } from 'vitest';
import type { Message } from '../raft/types.ts';
import { backoffDelayMs } from './backoff.ts';
import { negotiateProtocolVersion } from './context.ts';
import { OutboundQueue } from './outbound-queue.ts';
import { seededRng } from './transport.test-support.ts';

describe('backoffDelayMs', () => {
  const options = { backoffBaseMs: 100, backoffCapMs: 5000 };
  it('doubles per attempt up to the cap, with the upper half jittered', () => {
    const low = { next: () => 0 };
    const high = { next: () => 0.999999 };
    expect([0, 1, 2, 3, 6, 7, 100].map((attempt) => backoffDelayMs(attempt, options, low))).toEqual([50, 100, 200, 400, 2500, 2500, 2500]);
    expect([0, 1, 6, 100].map((attempt) => backoffDelayMs(attempt, options, high))).toEqual([100, 200, 5000, 5000]);
  });
  it('spreads peers that failed together', () => {
    const rng = seededRng(1);
    const delays = new Set<number>();
    for (let i = 0; i < 20; i++) delays.add(backoffDelayMs(3, options, rng));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe('OutboundQueue', () => {
  const heartbeat = (groupId: number): Message => ({ kind: 'Heartbeat', groupId, from: 1, to: 2, term: 1, commit: 0, context: '', sentTick: 0 });
  const vote = (groupId: number): Message => ({ kind: 'Vote', groupId, from: 1, to: 2, term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });

  it('drops the oldest non-essential message first, keeping essential ones', () => {
    const queue = new OutboundQueue({ queueMessagesMax: 3, queueBytesMax: 1000 });
    expect(queue.push({ message: vote(1), bytes: 10 })).toEqual([]);
    queue.push({ message: heartbeat(2), bytes: 10 });
    queue.push({ message: heartbeat(3), bytes: 10 });
    expect(queue.push({ message: heartbeat(4), bytes: 10 }).map((d) => d.message.groupId)).toEqual([2]);
    expect(queue.push({ message: vote(5), bytes: 10 }).map((d) => d.message.groupId)).toEqual([3]);
    expect(queue.push({ message: vote(6), bytes: 10 }).map((d) => d.message.groupId)).toEqual([4]);
    // Only essential messages left: the oldest goes, so the bound still holds.
    expect(queue.push({ message: vote(7), bytes: 10 }).map((d) => d.message.groupId)).toEqual([1]);
    expect(queue.takeAll().map((item) => item.message.groupId)).toEqual([5, 6, 7]);
    expect(queue.messages).toBe(0);
    expect(queue.bytes).toBe(0);
  });

  it('bounds bytes, and refuses a message larger than the whole queue', () => {
    const queue = new OutboundQueue({ queueMessagesMax: 100, queueBytesMax: 100 });
    for (let i = 0; i < 5; i++) queue.push({ message: heartbeat(i), bytes: 20 });
    expect(queue.push({ message: heartbeat(9), bytes: 50 }).map((d) => d.message.groupId)).toEqual([0, 1, 2]);
    expect(queue.bytes).toBe(90);
    expect(queue.push({ message: heartbeat(10), bytes: 101 }).map((d) => d.message.groupId)).toEqual([10]);
    expect(queue.messages).toBe(3);
  });

  it('stays consistent under many drops (compaction of its slots)', () => {
    const queue = new OutboundQueue({ queueMessagesMax: 10, queueBytesMax: 1 << 20 });
    let dropped = 0;
    for (let i = 0; i < 5000; i++) dropped += queue.push({ message: i % 7 === 0 ? vote(i) : heartbeat(i), bytes: 1 }).length;
    expect(queue.messages).toBe(10);
    expect(dropped).toBe(4990);
    expect(queue.takeAll()).toHaveLength(10);
  });
});

describe('negotiateProtocolVersion', () => {
  it('picks the highest common version, or none', () => {
    expect(negotiateProtocolVersion({ min: 1, max: 3 }, { min: 2, max: 5 })).toBe(3);
    expect(negotiateProtocolVersion({ min: 1, max: 1 }, { min: 2, max: 3 })).toBeUndefined();
  });
});
