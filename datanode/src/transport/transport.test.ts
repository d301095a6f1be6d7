/**
 * RaftTransport end to end: real gRPC over 127.0.0.1 with ephemeral ports.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId } from '../raft/types.ts';
import { protocolVersionMax } from './codec.ts';
import { messageArbitraries } from './messages.test-support.ts';
import { eventually, freePort, startTestNode, timeouts, type TestNode } from './transport.test-support.ts';

const started: TestNode[] = [];
async function node(nodeId: NodeId, addresses: Map<NodeId, string>, options: Parameters<typeof startTestNode>[2] = {}): Promise<TestNode> {
  const testNode = await startTestNode(nodeId, addresses, options);
  started.push(testNode);
  return testNode;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.transport.stop()));
});

/** Messages of every kind from `from` to `to`, spread over `groups` groups, seeded. */
function everyKind(from: NodeId, to: NodeId, groups: number, seed: number): Message[] {
  const messages: Message[] = [];
  for (let groupId = 1; groupId <= groups; groupId++) {
    for (const arbitrary of Object.values(messageArbitraries({ groupId, from, to }))) {
      messages.push(...fc.sample(arbitrary, { numRuns: 1, seed: seed + groupId }));
    }
  }
  return messages;
}

function heartbeats(from: NodeId, to: NodeId, groups: number): Message[] {
  const messages: Message[] = [];
  for (let groupId = 1; groupId <= groups; groupId++) {
    messages.push({ kind: 'Heartbeat', groupId, from, to, term: 3, commit: groupId, context: '', sentTick: 9 });
  }
  return messages;
}

describe('RaftTransport', () => {
  it('three nodes exchange messages of every kind for many groups, in order', async () => {
    const addresses = new Map<NodeId, string>();
    const nodes = [await node(1, addresses), await node(2, addresses), await node(3, addresses)];
    const expected = new Map<string, Message[]>();
    for (const sender of nodes) {
      const outgoing: Message[] = [];
      for (const receiver of nodes) {
        if (receiver === sender) continue;
        const messages = everyKind(sender.nodeId, receiver.nodeId, 50, sender.nodeId * 1000 + receiver.nodeId);
        expected.set(`${sender.nodeId}->${receiver.nodeId}`, messages);
        outgoing.push(...messages);
      }
      sender.transport.send(outgoing);
    }
    await eventually(() => {
      for (const receiver of nodes) {
        for (const sender of nodes) {
          if (sender === receiver) continue;
          expect(receiver.receivedMessages(sender.nodeId)).toEqual(expected.get(`${sender.nodeId}->${receiver.nodeId}`));
        }
      }
    }, timeouts.delivery);
    const stats = nodes[0]?.transport.stats().peers.get(2);
    expect(stats?.messagesSent).toBe(50 * 12);
    expect(stats?.messagesReceived).toBe(50 * 12);
    expect(stats?.droppedQueueFull).toBe(0);
  });

  it('batches a tick of messages to one peer into one frame, coalescing heartbeats of all groups', async () => {
    const addresses = new Map<NodeId, string>();
    const a = await node(1, addresses);
    const b = await node(2, addresses);
    // Connect first, so the batch below is not the one that waits for the handshake.
    a.transport.send(heartbeats(1, 2, 1));
    await eventually(() => expect(b.receivedMessages()).toHaveLength(1), timeouts.delivery);
    const before = a.transport.stats().peers.get(2)?.framesSent ?? 0;
    a.transport.send(heartbeats(1, 2, 2000));
    a.transport.send(everyKind(1, 2, 10, 5));
    await eventually(() => expect(b.receivedMessages()).toHaveLength(1 + 2000 + 120), timeouts.delivery);
    expect((a.transport.stats().peers.get(2)?.framesSent ?? 0) - before).toBe(1);
    expect(b.received.length).toBe(2);
  });

  it('reports a down peer unreachable, then reaches it after it starts (reconnect with backoff)', async () => {
    const addresses = new Map<NodeId, string>();
    const a = await node(1, addresses);
    const port = await freePort();
    addresses.set(2, `127.0.0.1:${port}`);
    a.transport.send(heartbeats(1, 2, 3));
    await eventually(() => expect(a.unreachable.some((u) => u.nodeId === 2 && u.groupIds.length === 3)).toBe(true), timeouts.reconnect);
    expect(a.transport.stats().peers.get(2)?.droppedUnreachable).toBeGreaterThanOrEqual(3);
    // The failed connection itself is told too (the host counts the node down).
    expect(a.connectionFailures).toContain(2);

    const b = await node(2, addresses, { port });
    // Like a Raft leader, keep heartbeating until the peer answers.
    await eventually(() => {
      a.transport.send(heartbeats(1, 2, 1));
      expect(b.receivedMessages().length).toBeGreaterThan(0);
    }, timeouts.reconnect);
    const stats = a.transport.stats().peers.get(2);
    expect(stats?.reconnects).toBeGreaterThanOrEqual(1);
    expect(stats?.connectFailures).toBeGreaterThanOrEqual(1);
    expect(stats?.state).toBe('ready');
  });

  it('rejects a peer of another cluster with a clear error and keeps serving others', async () => {
    const addresses = new Map<NodeId, string>();
    const a = await node(1, addresses);
    const b = await node(2, addresses);
    const stranger = await node(3, addresses, { clusterId: 'cluster-other' });
    a.transport.send([...heartbeats(1, 3, 2), ...heartbeats(1, 2, 2)]);
    await eventually(() => {
      expect(a.logger.errors('transport.handshake_rejected').some((e) => e.fields['reason'] === 'cluster-mismatch')).toBe(true);
      expect(stranger.logger.errors('transport.handshake_refused').some((e) => e.fields['reason'] === 'cluster-mismatch')).toBe(true);
    }, timeouts.rejection);
    expect(a.transport.stats().handshakeRejections).toBeGreaterThanOrEqual(1);
    expect(a.transport.stats().peers.get(3)?.handshakeRejections).toBeGreaterThanOrEqual(1);
    expect(stranger.transport.stats().handshakeRejections).toBeGreaterThanOrEqual(1);
    await eventually(() => expect(a.unreachable.some((u) => u.nodeId === 3)).toBe(true), timeouts.rejection);
    expect(stranger.receivedMessages()).toHaveLength(0);
    await eventually(() => expect(b.receivedMessages()).toHaveLength(2), timeouts.delivery);
  });

  it('rejects a peer with an incompatible protocol version with a clear error', async () => {
    const addresses = new Map<NodeId, string>();
    const a = await node(1, addresses);
    const b = await node(2, addresses);
    const future = await node(3, addresses, { protocolVersions: { min: protocolVersionMax + 1, max: protocolVersionMax + 2 } });
    a.transport.send([...heartbeats(1, 3, 1), ...heartbeats(1, 2, 1)]);
    await eventually(() => {
      expect(a.logger.errors('transport.handshake_rejected').some((e) => e.fields['reason'] === 'version-mismatch')).toBe(true);
      expect(future.logger.errors('transport.handshake_refused').some((e) => e.fields['reason'] === 'version-mismatch')).toBe(true);
    }, timeouts.rejection);
    expect(future.receivedMessages()).toHaveLength(0);
    await eventually(() => expect(b.receivedMessages()).toHaveLength(1), timeouts.delivery);
  });

  it('drops and counts the oldest non-essential messages when a peer queue is full', async () => {
    const addresses = new Map<NodeId, string>();
    const a = await node(1, addresses, { queueMessagesMax: 10 });
    const b = await node(2, addresses);
    const vote: Message = { kind: 'Vote', groupId: 999, from: 1, to: 2, term: 4, lastLogIndex: 1, lastLogTerm: 1, transfer: false };
    a.transport.send([vote, ...heartbeats(1, 2, 100)]);
    await eventually(() => expect(b.receivedMessages()).toHaveLength(10), timeouts.delivery);
    const received = b.receivedMessages();
    expect(received[0]).toEqual(vote);
    // The newest nine heartbeats survive.
    expect(received.slice(1).map((m) => m.groupId)).toEqual([92, 93, 94, 95, 96, 97, 98, 99, 100]);
    expect(a.transport.stats().peers.get(2)?.droppedQueueFull).toBe(91);
    // The groups that lost messages were reported, so their leaders can probe.
    await eventually(() => expect(a.unreachable.flatMap((u) => u.groupIds)).toContain(1), timeouts.delivery);
    // A full queue is no failed connection: the peer is not reported down.
    expect(a.connectionFailures).toEqual([]);
  });

  it('reports the connection failure when a connected peer goes away (its stream breaks)', async () => {
    const addresses = new Map<NodeId, string>();
    const a = await node(1, addresses);
    const b = await node(2, addresses);
    a.transport.send(heartbeats(1, 2, 2));
    await eventually(() => expect(b.receivedMessages()).toHaveLength(2), timeouts.delivery);
    expect(a.connectionFailures).toEqual([]);
    await b.transport.stop();
    await eventually(() => expect(a.connectionFailures).toContain(2), timeouts.reconnect);
  });

  it('drops (and logs) a single message larger than a frame, and delivers the rest', async () => {
    const addresses = new Map<NodeId, string>();
    const frameBytesMax = 64 * 1024;
    const a = await node(1, addresses, { frameBytesMax, snapshotChunkBytesMax: 16 * 1024 });
    const b = await node(2, addresses, { frameBytesMax, snapshotChunkBytesMax: 16 * 1024 });
    const huge: Message = {
      kind: 'Append', groupId: 5, from: 1, to: 2, term: 2, prevLogIndex: 0, prevLogTerm: 0, commit: 0,
      entries: [{ term: 2, index: 1, kind: 'normal', data: new Uint8Array(frameBytesMax) }],
    };
    a.transport.send([huge, ...heartbeats(1, 2, 3)]);
    await eventually(() => expect(b.receivedMessages()).toHaveLength(3), timeouts.delivery);
    expect(a.transport.stats().peers.get(2)?.droppedOversized).toBe(1);
    expect(a.logger.errors('transport.message_oversized')).toHaveLength(1);
  });

  it('stop() releases every handle: sockets, timers, servers', async () => {
    const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
    const addresses = new Map<NodeId, string>();
    const a = await startTestNode(1, addresses);
    const b = await startTestNode(2, addresses);
    addresses.set(3, `127.0.0.1:${await freePort()}`);
    a.transport.send([...heartbeats(1, 2, 5), ...heartbeats(1, 3, 5)]);
    b.transport.send(heartbeats(2, 1, 5));
    await eventually(() => expect(b.receivedMessages()).toHaveLength(5), timeouts.delivery);
    await eventually(() => expect(a.unreachable.length).toBeGreaterThan(0), timeouts.delivery);
    await a.transport.stop();
    await b.transport.stop();
    await eventually(() => expect(process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length).toBeLessThanOrEqual(baseline), timeouts.delivery);
    // A stopped transport ignores sends.
    a.transport.send(heartbeats(1, 2, 1));
  });
});
