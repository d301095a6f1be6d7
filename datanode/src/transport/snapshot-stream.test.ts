import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId } from '../raft/types.ts';
import { TransportError } from './errors.ts';
import type { IncomingSnapshot } from './snapshot-stream.ts';
import { startTestNode, type TestNode } from './transport.test-support.ts';

const started: TestNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.transport.stop()));
});

function pattern(bytes: number, seed: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 31 + seed) & 0xff;
  return data;
}

async function pairWithSink(consume: (snapshot: IncomingSnapshot) => Promise<void>): Promise<{ a: TestNode; b: TestNode }> {
  const addresses = new Map<NodeId, string>();
  const a = await startTestNode(1, addresses, { snapshotChunkBytesMax: 16 * 1024 });
  const b = await startTestNode(2, addresses, { snapshotChunkBytesMax: 16 * 1024, snapshotChunksBufferedMax: 4, onSnapshot: consume });
  started.push(a, b);
  return { a, b };
}

describe('snapshot streams', () => {
  it('delivers the data in order with its header, and paces to bytesPerSecondMax', async () => {
    const received: { snapshot: IncomingSnapshot; bytes: Buffer }[] = [];
    const { a } = await pairWithSink(async (snapshot) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of snapshot.data) parts.push(chunk);
      received.push({ snapshot, bytes: Buffer.concat(parts) });
    });
    const data = pattern(256 * 1024, 7);
    // Offered in uneven pieces; the sender re-cuts them to 16 KiB chunks.
    const pieces = [data.subarray(0, 1000), data.subarray(1000, 100_000), data.subarray(100_000)];
    const result = await a.transport.sendSnapshot({ toNode: 2, groupId: 42, snapshotIndex: 1000, snapshotTerm: 7, reference: 'ckpt-1000', data: pieces, bytesPerSecondMax: 512 * 1024 });
    expect(result.bytesSent).toBe(data.byteLength);
    // 256 KiB at 512 KiB/s: about 500 ms, less the first chunk that goes out at once.
    expect(result.durationMs).toBeGreaterThanOrEqual(400);
    expect(received).toHaveLength(1);
    expect(received[0]?.snapshot).toMatchObject({ fromNode: 1, groupId: 42, snapshotIndex: 1000, snapshotTerm: 7, reference: 'ckpt-1000' });
    expect(received[0]?.bytes.equals(Buffer.from(data))).toBe(true);
  });

  it('is not slowed down without a bandwidth limit, and waits for a slow consumer (backpressure)', async () => {
    let consumed = 0;
    const { a } = await pairWithSink(async (snapshot) => {
      for await (const chunk of snapshot.data) {
        consumed += chunk.byteLength;
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const data = pattern(2 * 1024 * 1024, 3);
    const result = await a.transport.sendSnapshot({ toNode: 2, groupId: 1, snapshotIndex: 5, snapshotTerm: 1, reference: 'r', data: [data] });
    expect(result.bytesSent).toBe(data.byteLength);
    // The acknowledgement waits for the host, so everything was consumed by then.
    expect(consumed).toBe(data.byteLength);
  });

  it('fails the sender with a typed error when the receiver refuses the snapshot', async () => {
    const { a } = await pairWithSink(async (snapshot) => {
      for await (const chunk of snapshot.data) void chunk;
      throw new Error('disk full');
    });
    const attempt = a.transport.sendSnapshot({ toNode: 2, groupId: 1, snapshotIndex: 5, snapshotTerm: 1, reference: 'r', data: [pattern(1000, 1)] });
    await expect(attempt).rejects.toBeInstanceOf(TransportError);
    await expect(attempt).rejects.toMatchObject({ code: 'PH_TRANSPORT_SNAPSHOT_FAILED' });
  });

  it('reports an unreachable receiver as PH_TRANSPORT_UNREACHABLE', async () => {
    const { a } = await pairWithSink(async () => undefined);
    const attempt = a.transport.sendSnapshot({ toNode: 3, groupId: 1, snapshotIndex: 5, snapshotTerm: 1, reference: 'r', data: [] });
    await expect(attempt).rejects.toMatchObject({ code: 'PH_TRANSPORT_UNREACHABLE' });
  });
});
