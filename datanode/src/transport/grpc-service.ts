/**
 * The RaftTransport gRPC service definition, loaded from datanode/proto/phantomdb.proto with the
 * same options `npm run proto:gen` uses for the generated types, and the names of the call
 * metadata both sides exchange.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from '../../proto/generated/phantomdb.ts';
import type { RaftTransportClient } from '../../proto/generated/phantomdb/transport/v1/RaftTransport.ts';

export const metadataKeys = {
  clusterId: 'x-phantomdb-cluster-id',
  nodeId: 'x-phantomdb-node-id',
  protocolVersion: 'x-phantomdb-protocol-version',
} as const;

// The proto file sits next to the sources. A bundled build must ship it alongside (or switch to
// protoLoader.fromJSON with an embedded descriptor).
const protoPath = fileURLToPath(new URL('../../proto/phantomdb.proto', import.meta.url));

type Package = ProtoGrpcType['phantomdb']['transport']['v1'];
let loaded: Package | undefined;

/** The service's package (client constructor and service definition), loaded once. */
export function raftTransportPackage(): Package {
  if (loaded === undefined) {
    const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    loaded = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).phantomdb.transport.v1;
  }
  return loaded;
}

/** gRPC wraps each frame in a protobuf message: a tag byte and a length varint of at most 5 bytes. */
export const protobufWrapperBytesMax = 16;

/**
 * Channel options of a client to one peer. Each client gets its own subchannel pool, so a peer's
 * reconnect is governed by our backoff, not by a shared subchannel's own backoff state.
 */
export function clientChannelOptions(frameBytesMax: number): grpc.ChannelOptions {
  return {
    'grpc.max_send_message_length': frameBytesMax + protobufWrapperBytesMax,
    'grpc.max_receive_message_length': frameBytesMax + protobufWrapperBytesMax,
    'grpc.use_local_subchannel_pool': 1,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1_000,
  };
}

export function serverOptions(frameBytesMax: number): grpc.ServerOptions {
  return {
    'grpc.max_send_message_length': frameBytesMax + protobufWrapperBytesMax,
    'grpc.max_receive_message_length': frameBytesMax + protobufWrapperBytesMax,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  };
}

export function newRaftTransportClient(address: string, frameBytesMax: number): RaftTransportClient {
  const Client = raftTransportPackage().RaftTransport;
  return new Client(address, grpc.credentials.createInsecure(), clientChannelOptions(frameBytesMax));
}

/** Parses a uint64 that protobuf delivered as a decimal string; undefined unless a safe integer. */
export function parseSafeUint(value: string): number | undefined {
  if (!/^\d{1,16}$/.test(value)) return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}
