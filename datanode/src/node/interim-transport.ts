/**
 * A minimal PeerTransport over the RaftTransport gRPC service (datanode/proto/phantomdb.proto)
 * and the frame codec, used until the full transport (datanode/src/transport/) lands: one
 * client stream of frames per peer, re-opened on failure, a bounded queue per peer (Raft
 * tolerates dropped messages), and snapshots as a SnapshotStream whose first data chunk is the
 * codec frame holding the Snapshot message itself.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from '../../proto/generated/phantomdb.ts';
import type { RaftFrame__Output } from '../../proto/generated/phantomdb/transport/v1/RaftFrame.ts';
import type { RaftTransportClient, RaftTransportHandlers } from '../../proto/generated/phantomdb/transport/v1/RaftTransport.ts';
import type { SnapshotChunk, SnapshotChunk__Output } from '../../proto/generated/phantomdb/transport/v1/SnapshotChunk.ts';
import type { Message, NodeId, SnapshotRequest } from '../raft/types.ts';
import { decodeFrame, encodeFrame, protocolVersionMax } from '../transport/codec.ts';
import type { PeerTransport } from './interfaces.ts';
import type { TransportContext } from './node.ts';

const protoPath = fileURLToPath(new URL('../../proto/phantomdb.proto', import.meta.url));
const queueMessagesMax = 10_000;
const frameMessagesMax = 1024;

function loadPackage(): ProtoGrpcType['phantomdb']['transport']['v1'] {
  const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  return (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).phantomdb.transport.v1;
}

interface PeerChannel {
  address: string;
  client: RaftTransportClient;
  stream: grpc.ClientWritableStream<{ frame: Buffer }> | undefined;
}

export function createInterimTransport(context: TransportContext): PeerTransport {
  const pkg = loadPackage();
  const peers = new Map<NodeId, PeerChannel>();
  const { clusterId, nodeId, handlers } = context;

  const serverHandlers: RaftTransportHandlers = {
    Hello: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: 'interim transport: no Hello' }),
    Frames: (call, callback) => {
      call.on('data', (chunk: RaftFrame__Output) => {
        let frame;
        try {
          frame = decodeFrame(chunk.frame);
        } catch (err) {
          call.destroy(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (frame.header.clusterId !== clusterId || frame.header.recipientNodeId !== nodeId) {
          context.log(`refusing frames from node ${frame.header.senderNodeId} of cluster ${frame.header.clusterId} for node ${frame.header.recipientNodeId}`);
          callback({ code: grpc.status.FAILED_PRECONDITION, details: `cluster-mismatch: this is node ${nodeId} of cluster ${clusterId}` });
          return;
        }
        handlers.onMessages(frame.messages);
      });
      call.on('end', () => callback(null, { framesReceived: '0' }));
      call.on('error', () => undefined);
    },
    SnapshotStream: (call, callback) => {
      const chunks: Buffer[] = [];
      let message: SnapshotRequest | undefined;
      let ended = false;
      let wake: (() => void) | undefined;
      const data = (async function* () {
        for (;;) {
          const next = chunks.shift();
          if (next !== undefined) yield next;
          else if (ended) return;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      })();
      let started = false;
      call.on('data', (chunk: SnapshotChunk__Output) => {
        if (chunk.data === undefined) return;
        if (message === undefined) {
          const frame = decodeFrame(chunk.data);
          const first = frame.messages[0];
          if (frame.header.clusterId !== clusterId || first?.kind !== 'Snapshot') {
            call.destroy(new Error('bad snapshot stream'));
            return;
          }
          message = first;
          return;
        }
        chunks.push(chunk.data);
        wake?.();
        if (!started) {
          started = true;
          const snapshotMessage = message;
          handlers.onSnapshot(snapshotMessage, data).then(
            () => callback(null, { bytesReceived: '0' }),
            (err: unknown) => callback({ code: grpc.status.ABORTED, details: err instanceof Error ? err.message : String(err) }),
          );
        }
      });
      call.on('end', () => {
        ended = true;
        wake?.();
      });
      call.on('error', () => {
        ended = true;
        wake?.();
      });
    },
  };
  context.server.addService(pkg.RaftTransport.service, serverHandlers);

  const channelFor = (peer: NodeId): PeerChannel | undefined => peers.get(peer);

  const openStream = (peer: NodeId, channel: PeerChannel): grpc.ClientWritableStream<{ frame: Buffer }> => {
    const stream = channel.client.Frames((err) => {
      if (channel.stream === stream) channel.stream = undefined;
      if (err !== null) handlers.onUnreachable(peer);
    });
    stream.on('error', () => {
      if (channel.stream === stream) channel.stream = undefined;
    });
    channel.stream = stream;
    return stream;
  };

  const encode = (to: NodeId, messages: readonly Message[]): Buffer =>
    encodeFrame({ protocolVersion: protocolVersionMax, clusterId, senderNodeId: nodeId, recipientNodeId: to }, messages);

  return {
    setPeerAddress(peer, address) {
      const existing = peers.get(peer);
      if (existing?.address === address) return;
      existing?.client.close();
      peers.set(peer, {
        address,
        client: new pkg.RaftTransport(address, grpc.credentials.createInsecure(), {
          'grpc.max_send_message_length': 64 * 1024 * 1024,
          'grpc.initial_reconnect_backoff_ms': 50,
          'grpc.max_reconnect_backoff_ms': 500,
        }),
        stream: undefined,
      });
    },
    send(messages) {
      const byPeer = new Map<NodeId, Message[]>();
      for (const message of messages) {
        const list = byPeer.get(message.to) ?? [];
        if (list.length < queueMessagesMax) list.push(message);
        byPeer.set(message.to, list);
      }
      for (const [peer, list] of byPeer) {
        const channel = channelFor(peer);
        if (channel === undefined) {
          handlers.onUnreachable(peer);
          continue;
        }
        const stream = channel.stream ?? openStream(peer, channel);
        for (let i = 0; i < list.length; i += frameMessagesMax) stream.write({ frame: encode(peer, list.slice(i, i + frameMessagesMax)) });
      }
    },
    async sendSnapshot(message, data) {
      const channel = channelFor(message.to);
      if (channel === undefined) throw new Error(`no address for node ${message.to}`);
      await new Promise<void>((resolve, reject) => {
        const call = channel.client.SnapshotStream((err) => (err === null ? resolve() : reject(new Error(err.details))));
        const pump = async (): Promise<void> => {
          call.write({ data: encode(message.to, [message]) } satisfies SnapshotChunk);
          for await (const chunk of data) {
            if (!call.write({ data: Buffer.from(chunk) } satisfies SnapshotChunk)) await new Promise((r) => call.once('drain', r));
          }
          call.end();
        };
        pump().catch((err: unknown) => {
          call.cancel();
          reject(err instanceof Error ? err : new Error(String(err)));
        });
      });
    },
    close() {
      for (const channel of peers.values()) {
        channel.stream?.end();
        channel.client.close();
      }
      peers.clear();
      return Promise.resolve();
    },
  };
}
