/**
 * A node under hostile or broken input from raw gRPC clients: malformed, misaddressed,
 * wrong-version and oversized frames end the offending stream with a typed error, are counted, and
 * leave the node serving everyone else.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId } from '../raft/types.ts';
import { encodeFrame, protocolVersionMax } from './codec.ts';
import { metadataKeys, newRaftTransportClient } from './grpc-service.ts';
import { eventually, startTestNode, timeouts, type TestNode } from './transport.test-support.ts';

const started: TestNode[] = [];
const clients: { close(): void }[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(started.splice(0).map((n) => n.transport.stop()));
});

const heartbeat = (from: NodeId, to: NodeId, groupId: number): Message => ({ kind: 'Heartbeat', groupId, from, to, term: 1, commit: 0, context: '', sentTick: 1 });

async function pair(options: Parameters<typeof startTestNode>[2] = {}): Promise<{ a: TestNode; b: TestNode; addresses: Map<NodeId, string> }> {
  const addresses = new Map<NodeId, string>();
  const a = await startTestNode(1, addresses, options);
  const b = await startTestNode(2, addresses, options);
  started.push(a, b);
  return { a, b, addresses };
}

function streamMetadata(clusterId = 'cluster-test', nodeId = '9', version = String(protocolVersionMax)): Metadata {
  const metadata = new Metadata();
  metadata.set(metadataKeys.clusterId, clusterId);
  metadata.set(metadataKeys.nodeId, nodeId);
  metadata.set(metadataKeys.protocolVersion, version);
  return metadata;
}

/** Opens a raw Frames stream to `address`, writes `frames`, and resolves with the call's error (if any). */
async function rawFrames(address: string, frames: Uint8Array[], metadata: Metadata, sendLimitBytes = 1 << 24): Promise<ServiceError | null> {
  const client = newRaftTransportClient(address, sendLimitBytes);
  clients.push(client);
  return new Promise((resolve) => {
    const call = client.Frames(metadata, (error) => resolve(error));
    call.on('error', () => undefined);
    for (const frame of frames) call.write({ frame: Buffer.from(frame) });
    call.end();
  });
}

async function stillServes(a: TestNode, b: TestNode, groupId: number): Promise<void> {
  a.transport.send([heartbeat(1, 2, groupId)]);
  await eventually(() => expect(b.receivedMessages().some((m) => m.groupId === groupId)).toBe(true), timeouts.delivery);
}

describe('RaftTransport under hostile input', () => {
  it('ends a stream that sends garbage with INVALID_ARGUMENT and PH_TRANSPORT_MALFORMED_FRAME, and keeps serving', async () => {
    const { a, b } = await pair();
    await stillServes(a, b, 1);
    const error = await rawFrames(`127.0.0.1:${b.port}`, [Buffer.from('definitely not a frame'), Buffer.alloc(3)], streamMetadata());
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toContain('PH_TRANSPORT_MALFORMED_FRAME');
    expect(b.transport.stats().protocolErrors.PH_TRANSPORT_MALFORMED_FRAME).toBe(1);
    expect(b.transport.stats().peers.get(9)?.protocolErrors).toBe(1);
    expect(b.logger.errors('transport.inbound_stream_rejected')).toHaveLength(1);
    await stillServes(a, b, 2);
  });

  it('refuses frames addressed to another node, from another sender, or in an unknown version', async () => {
    const { a, b } = await pair();
    const address = `127.0.0.1:${b.port}`;
    const header = { protocolVersion: protocolVersionMax, clusterId: 'cluster-test', senderNodeId: 9, recipientNodeId: 5 };
    const misaddressed = await rawFrames(address, [encodeFrame(header, [heartbeat(9, 5, 1)])], streamMetadata());
    expect(misaddressed?.details).toContain('PH_TRANSPORT_WRONG_NODE');

    const spoofed = await rawFrames(address, [encodeFrame({ ...header, senderNodeId: 1, recipientNodeId: 2 }, [heartbeat(1, 2, 1)])], streamMetadata());
    expect(spoofed?.details).toContain('PH_TRANSPORT_WRONG_NODE');

    const future = encodeFrame({ ...header, recipientNodeId: 2 }, [heartbeat(9, 2, 1)]);
    future.writeUInt16BE(7, 4);
    const wrongVersion = await rawFrames(address, [future], streamMetadata());
    expect(wrongVersion?.details).toContain('PH_TRANSPORT_VERSION_MISMATCH');

    const otherCluster = await rawFrames(address, [], streamMetadata('cluster-other'));
    expect(otherCluster?.code).toBe(status.FAILED_PRECONDITION);
    expect(otherCluster?.details).toContain('PH_TRANSPORT_CLUSTER_MISMATCH');

    const noMetadata = await rawFrames(address, [], new Metadata());
    expect(noMetadata?.code).toBe(status.FAILED_PRECONDITION);
    expect(b.receivedMessages()).toHaveLength(0);
    await stillServes(a, b, 3);
  });

  it('a frame over frameBytesMax is refused by gRPC before decoding, without harming the node', async () => {
    const frameBytesMax = 64 * 1024;
    const { a, b } = await pair({ frameBytesMax, snapshotChunkBytesMax: 16 * 1024 });
    const error = await rawFrames(`127.0.0.1:${b.port}`, [Buffer.alloc(4 * frameBytesMax)], streamMetadata());
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    await stillServes(a, b, 4);
  });

  it('answers a raw Hello from another version range with a refusal that names both ranges', async () => {
    const { a, b } = await pair();
    const client = newRaftTransportClient(`127.0.0.1:${b.port}`, 1 << 20);
    clients.push(client);
    const response = await new Promise((resolve, reject) => {
      client.Hello({ clusterId: 'cluster-test', nodeId: 9, protocolVersions: { min: 7, max: 9 }, expectedNodeId: 2 }, (error, value) => (error === null ? resolve(value) : reject(error)));
    });
    expect(response).toMatchObject({ accepted: false, rejectReason: 'version-mismatch', protocolVersions: { min: 1, max: protocolVersionMax } });
    expect(b.transport.stats().peers.get(9)?.handshakeRejections).toBe(1);
    await stillServes(a, b, 5);
  });
});
